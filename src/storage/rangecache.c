/* rangecache: staged whole copies of packs read range after range. */
#include "storage/rangecache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/remote.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SLOTS      8           /* packs kept whole at once */
#define SEEN       32          /* packs remembered as read by range once */
#define OBJECT_MAX (64u << 20) /* larger objects are always read by range */

struct slot {
    char *key; /* NULL: free */
    int fd;    /* -1 while loading, or for an object too large to hold */
    uint64_t size, last_use;
    unsigned refs;
    bool loading, stale;
};

struct rangecache {
    const struct stor_params *params;
    rangecache_fetch_fn fetch;
    void *be;
    pthread_mutex_t mu;
    pthread_cond_t loaded;
    struct slot slots[SLOTS];
    char *seen[SEEN]; /* a ring */
    unsigned seen_next;
    uint64_t tick;
};

struct rangecache *
rangecache_new(const struct stor_params *p, rangecache_fetch_fn fetch, void *be)
{
    struct rangecache *rc = xcalloc(1, sizeof(*rc));
    rc->params = p;
    rc->fetch = fetch;
    rc->be = be;
    pthread_mutex_init(&rc->mu, NULL);
    pthread_cond_init(&rc->loaded, NULL);
    for (int i = 0; i < SLOTS; i++)
        rc->slots[i].fd = -1;
    return rc;
}

static void
drop(struct slot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->key);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

void
rangecache_free(struct rangecache *rc)
{
    if (!rc)
        return;
    for (int i = 0; i < SLOTS; i++)
        drop(&rc->slots[i]);
    for (int i = 0; i < SEEN; i++)
        free(rc->seen[i]);
    pthread_cond_destroy(&rc->loaded);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
}

/* caller holds mu */
static int
find(struct rangecache *rc, const char *key)
{
    for (int i = 0; i < SLOTS; i++)
        if (rc->slots[i].key && !rc->slots[i].stale && !strcmp(rc->slots[i].key, key))
            return i;
    return -1;
}

/* Was key read by range before? Remembers it if not. Caller holds mu. */
static bool
seen_before(struct rangecache *rc, const char *key)
{
    for (int i = 0; i < SEEN; i++)
        if (rc->seen[i] && !strcmp(rc->seen[i], key))
            return true;
    free(rc->seen[rc->seen_next]);
    rc->seen[rc->seen_next] = xstrdup(key);
    rc->seen_next = (rc->seen_next + 1) % SEEN;
    return false;
}

/* A free slot, or the least recently used idle one; -1 if all are busy. Caller holds mu. */
static int
claim(struct rangecache *rc)
{
    int lru = -1;
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &rc->slots[i];
        if (!s->key)
            return i;
        if (!s->refs && !s->loading && (lru < 0 || s->last_use < rc->slots[lru].last_use))
            lru = i;
    }
    if (lru >= 0)
        drop(&rc->slots[lru]);
    return lru;
}

static int
pread_exact(int fd, uint64_t size, const char *key, uint64_t off, size_t len, void *dst)
{
    size_t done = 0;
    if (off > size || len > size - off)
        return drk_err_set(DRK_ECORRUPT,
                           "'%s' is shorter than expected: %llu bytes, %zu wanted at "
                           "offset %llu",
                           key, (unsigned long long)size, len, (unsigned long long)off);
    while (done < len) {
        ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return drk_err_errno(DRK_EIO, n < 0 ? errno : EIO, "cannot read a staged copy of '%s'",
                                 key);
        done += (size_t)n;
    }
    return 0;
}

int
rangecache_read(struct rangecache *rc, const char *key, uint64_t off, size_t len, void *dst)
{
    struct stor_tmp tmp;
    struct slot *s;
    uint64_t size = 0;
    int i, r, fd;

    if (strncmp(key, "data/", 5) != 0)
        return 1;
    pthread_mutex_lock(&rc->mu);
    while ((i = find(rc, key)) >= 0 && rc->slots[i].loading)
        pthread_cond_wait(&rc->loaded, &rc->mu);
    if (i >= 0) {
        s = &rc->slots[i];
        if (s->fd < 0) { /* too large to hold */
            pthread_mutex_unlock(&rc->mu);
            return 1;
        }
        s->refs++;
        s->last_use = ++rc->tick;
        fd = s->fd;
        size = s->size;
        pthread_mutex_unlock(&rc->mu);
        r = pread_exact(fd, size, key, off, len, dst);
        pthread_mutex_lock(&rc->mu);
        if (--s->refs == 0 && s->stale)
            drop(s);
        pthread_mutex_unlock(&rc->mu);
        return r;
    }
    if (!seen_before(rc, key) || (i = claim(rc)) < 0) {
        pthread_mutex_unlock(&rc->mu);
        return 1;
    }
    s = &rc->slots[i];
    s->key = xstrdup(key);
    s->loading = true;
    pthread_mutex_unlock(&rc->mu);

    if ((r = remote_stage_open(rc->params, &tmp)) == 0)
        r = rc->fetch(rc->be, key, tmp.fd, OBJECT_MAX, &size);
    pthread_mutex_lock(&rc->mu);
    s->loading = false;
    s->last_use = ++rc->tick;
    if (r == 0) {
        s->fd = tmp.fd;
        s->size = size;
    } else {
        if (tmp.fd >= 0)
            remote_stage_discard(&tmp);
        if (r != DRK_ETOOBIG) /* too big: the slot remembers to read it by range */
            drop(s);
    }
    pthread_cond_broadcast(&rc->loaded);
    pthread_mutex_unlock(&rc->mu);
    if (r == DRK_ETOOBIG)
        return 1;
    if (r)
        return r;
    return rangecache_read(rc, key, off, len, dst);
}

void
rangecache_forget(struct rangecache *rc, const char *key)
{
    pthread_mutex_lock(&rc->mu);
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &rc->slots[i];
        if (s->key && !strcmp(s->key, key)) {
            if (s->refs || s->loading)
                s->stale = true;
            else
                drop(s);
        }
    }
    pthread_mutex_unlock(&rc->mu);
}
