/*
 * storage: backend dispatch. Retries of transient errors live here so every backend gets
 * the same policy (exponential backoff within a time budget); the local backend never
 * reports a retryable error, so for it these wrappers are a straight call.
 */
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/cache.h"
#include "util/err.h"
#include "util/log.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define RETRY_MAX_TRIES 6
#define RETRY_FIRST_MS  200

bool
stor_is_remote(const char *location)
{
    return strstr(location, "://") != NULL && !str_starts_with(location, "file://");
}

int
stor_open_params(struct stor **out, const char *location, const struct stor_params *p)
{
    static const struct stor_params none = { .path_style = -1 };
    const struct stor_ops *ops = &stor_local_ops;
    const char *path = location;
    struct stor *s;
    void *be;
    int r;

    if (!p)
        p = &none;
    if (str_starts_with(location, "file://"))
        path = location + 7;
    else if (str_starts_with(location, "s3://"))
        ops = &stor_s3_ops;
    else if (str_starts_with(location, "sftp://") || str_starts_with(location, "ftp://") ||
             str_starts_with(location, "ftps://"))
        ops = &stor_xfer_ops;
    else if (strstr(location, "://"))
        return drk_err_set(DRK_EUSAGE,
                           "unsupported repository location '%s' (a directory, file://, s3://, "
                           "sftp://, ftp:// or ftps://)",
                           location);
    if (!*path)
        return drk_err_set(DRK_EUSAGE, "empty repository location");
    if ((r = ops->open(&be, path, p)) != 0)
        return r;
    s = xcalloc(1, sizeof(*s));
    s->ops = ops;
    s->be = be;
    s->location = xstrdup(path);
    if (ops != &stor_local_ops && p->cache_dir && *p->cache_dir)
        s->cache_root = xstrdup(p->cache_dir);
    *out = s;
    return 0;
}

int
stor_open(struct stor **out, const char *location)
{
    return stor_open_params(out, location, NULL);
}

void
stor_close(struct stor *s)
{
    if (!s)
        return;
    s->ops->close(s->be);
    cache_close(s->cache);
    free(s->cache_root);
    free(s->location);
    free(s);
}

static void
backoff_sleep(int attempt)
{
    long ms = (long)RETRY_FIRST_MS << attempt;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Run op until it succeeds, fails permanently, or the tries are used up. */
#define WITH_RETRY(s, what, call)                                                       \
    do {                                                                                \
        int r_;                                                                         \
        for (int attempt_ = 0;; attempt_++) {                                           \
            r_ = (call);                                                                \
            if (r_ == 0 || !drk_err_retryable(r_) || attempt_ + 1 >= RETRY_MAX_TRIES)   \
                break;                                                                  \
            log_detail("retrying %s on '%s' (%s)", what, (s)->location, drk_err_msg()); \
            backoff_sleep(attempt_);                                                    \
        }                                                                               \
        return r_;                                                                      \
    } while (0)

int
stor_create(struct stor *s, const char *const *dirs)
{
    return s->ops->create(s->be, dirs);
}

int
stor_put(struct stor *s, const char *key, const void *data, size_t len, unsigned flags)
{
    WITH_RETRY(s, "put", s->ops->put(s->be, key, data, len, flags));
}

static int
get_uncached(struct stor *s, const char *key, struct buf *out, size_t max)
{
    WITH_RETRY(s, "get", s->ops->get(s->be, key, out, max));
}

/* index files and snapshots: small, content-addressed, read by every command */
static bool
cache_wants(const struct stor *s, const char *key)
{
    return s->cache && cache_key_addressed(key) && strncmp(key, "data/", 5) != 0;
}

int
stor_get(struct stor *s, const char *key, struct buf *out, size_t max)
{
    int r;
    if (cache_wants(s, key) && cache_get(s->cache, key, out) == 0) {
        if (!max || out->len <= max)
            return 0;
        buf_reset(out);
    }
    r = get_uncached(s, key, out, max);
    if (r == 0 && cache_wants(s, key))
        cache_put(s->cache, key, out->data, out->len);
    return r;
}

void
stor_cache_attach(struct stor *s, const char *name)
{
    char *dir;
    if (!s->cache_root || s->cache)
        return;
    dir = xasprintf("%s/%s", s->cache_root, name);
    s->cache = cache_open(dir); /* NULL (no cache) if the directory cannot be made */
    free(dir);
}

int
stor_get_range_whole(struct stor *s, const char *key, uint64_t off, size_t len, void *dst)
{
    struct buf b = BUF_INIT;
    uint64_t size;
    int r;
    if (!s->cache || !cache_key_addressed(key))
        return stor_get_range(s, key, off, len, dst);
    if (cache_get_range(s->cache, key, off, len, dst) == 0)
        return 0;
    if (stor_stat(s, key, &size) != 0 || size > (64u << 20) || off + len > size) {
        drk_err_clear();
        return stor_get_range(s, key, off, len, dst);
    }
    if ((r = get_uncached(s, key, &b, (size_t)size)) == 0) {
        cache_put(s->cache, key, b.data, b.len);
        if (cache_get_range(s->cache, key, off, len, dst) != 0) /* not cacheable or damaged */
            r = stor_get_range(s, key, off, len, dst);
    }
    buf_release(&b);
    return r;
}

int
stor_get_range(struct stor *s, const char *key, uint64_t off, size_t len, void *dst)
{
    WITH_RETRY(s, "get", s->ops->get_range(s->be, key, off, len, dst));
}

struct list_tap {
    stor_list_cb cb;
    void *arg;
    VEC(char *) names;
};

static int
tap(void *arg, const char *name, uint64_t size)
{
    struct list_tap *t = arg;
    vec_push(&t->names, xstrdup(name));
    return t->cb(t->arg, name, size);
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
stor_list(struct stor *s, const char *dir, stor_list_cb cb, void *arg)
{
    struct list_tap t = { cb, arg, VEC_INIT };
    int r;
    if (!s->cache || (strcmp(dir, "index") != 0 && strcmp(dir, "snapshots") != 0))
        return s->ops->list(s->be, dir, cb, arg);
    /* a complete listing of index/ or snapshots/ tells which cached copies are gone */
    r = s->ops->list(s->be, dir, tap, &t);
    if (r == 0) {
        if (t.names.n > 1) /* names.v is NULL when empty, which qsort must not get */
            qsort(t.names.v, t.names.n, sizeof(*t.names.v), cmp_name);
        cache_prune_dir(s->cache, dir, t.names.v, t.names.n);
    }
    for (size_t i = 0; i < t.names.n; i++)
        free(t.names.v[i]);
    vec_free(&t.names);
    return r;
}

int
stor_del(struct stor *s, const char *key)
{
    if (s->cache)
        cache_del(s->cache, key);
    WITH_RETRY(s, "delete", s->ops->del(s->be, key));
}

int
stor_stat(struct stor *s, const char *key, uint64_t *size)
{
    WITH_RETRY(s, "stat", s->ops->stat(s->be, key, size));
}

int
stor_tmp_open(struct stor *s, struct stor_tmp *out, unsigned flags)
{
    return s->ops->tmp_open(s->be, out, flags);
}

int
stor_tmp_commit(struct stor *s, struct stor_tmp *tmp, const char *key)
{
    return s->ops->tmp_commit(s->be, tmp, key);
}

void
stor_tmp_discard(struct stor *s, struct stor_tmp *tmp)
{
    s->ops->tmp_discard(s->be, tmp);
}

int
stor_sync(struct stor *s)
{
    return s->ops->sync ? s->ops->sync(s->be) : 0;
}

int
stor_lock_hold(struct stor *s, const char *key, int *handle)
{
    *handle = -1;
    return s->ops->lock_hold ? s->ops->lock_hold(s->be, key, handle) : 0;
}

void
stor_lock_drop(struct stor *s, int handle)
{
    if (handle >= 0 && s->ops->lock_drop)
        s->ops->lock_drop(s->be, handle);
}

int
stor_lock_held(struct stor *s, const char *key)
{
    return s->ops->lock_held ? s->ops->lock_held(s->be, key) : 2;
}
