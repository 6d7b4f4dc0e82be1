/* cache: verified local copies of a remote repository's index, snapshots and tree packs. */
#include "storage/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct stor_cache {
    char *dir;
    pthread_mutex_t mu;
    /* packs hashed once in this process: a big pack is not hashed on every range read */
    VEC(char *) verified;
};

static bool
is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

bool
cache_key_addressed(const char *key)
{
    const char *base = strrchr(key, '/');
    if (!base)
        return false;
    if (strncmp(key, "index/", 6) && strncmp(key, "snapshots/", 10) && strncmp(key, "data/", 5))
        return false;
    return is_hex64(base + 1);
}

static char *
path_of(struct stor_cache *c, const char *key)
{
    return xasprintf("%s/%s", c->dir, key);
}

static bool
sha256_matches(const void *data, size_t len, const char *key)
{
    unsigned char md[32];
    char hex[65];
    unsigned int mdlen = 0;
    const char *base = strrchr(key, '/') + 1;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return false;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return !strcmp(hex, base);
}

int
cache_get(struct stor_cache *c, const char *key, struct buf *out)
{
    char *path = path_of(c, key);
    int r = fs_read_file(path, out, (size_t)1 << 30);
    if (r) {
        free(path);
        drk_err_clear();
        return DRK_ENOTFOUND;
    }
    if (cache_key_addressed(key) && !sha256_matches(out->data, out->len, key)) {
        unlink(path); /* damaged: fetch it again */
        free(path);
        buf_reset(out);
        return DRK_ENOTFOUND;
    }
    free(path);
    return 0;
}

/* mkdir -p of the directory path is in */
static void
make_parents(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (fs_mkdir_p(dir, 0700) != 0)
            drk_err_clear();
    }
    free(dir);
}

void
cache_put(struct stor_cache *c, const char *key, const void *data, size_t len)
{
    char *path = path_of(c, key);
    make_parents(path);
    if (fs_write_file_atomic(path, data, len, 0600) != 0)
        drk_err_clear(); /* a full cache disk slows things down, nothing more */
    free(path);
}

static bool
verified_once(struct stor_cache *c, const char *key, const char *path)
{
    struct buf b = BUF_INIT;
    bool ok = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->verified.n && !ok; i++)
        ok = !strcmp(c->verified.v[i], key);
    pthread_mutex_unlock(&c->mu);
    if (ok)
        return true;
    if (fs_read_file(path, &b, (size_t)1 << 30) == 0 && sha256_matches(b.data, b.len, key)) {
        ok = true;
        pthread_mutex_lock(&c->mu);
        vec_push(&c->verified, xstrdup(key));
        pthread_mutex_unlock(&c->mu);
    } else {
        unlink(path);
    }
    drk_err_clear();
    buf_release(&b);
    return ok;
}

int
cache_get_range(struct stor_cache *c, const char *key, uint64_t off, size_t len, void *dst)
{
    char *path = path_of(c, key);
    int fd = -1, r = DRK_ENOTFOUND;
    ssize_t got;
    if (access(path, R_OK) != 0 || !verified_once(c, key, path))
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        goto out;
    got = pread(fd, dst, len, (off_t)off);
    if (got == (ssize_t)len)
        r = 0;
    close(fd);
out:
    free(path);
    return r;
}

void
cache_del(struct stor_cache *c, const char *key)
{
    char *path = path_of(c, key);
    unlink(path);
    free(path);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void
cache_prune_dir(struct stor_cache *c, const char *dir, char *const *names, size_t n)
{
    char *path = xasprintf("%s/%s", c->dir, dir);
    DIR *d = opendir(path);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)) != NULL) {
            const char *name = e->d_name;
            if (name[0] == '.' || (n && bsearch(&name, names, n, sizeof(*names), cmp_str)))
                continue;
            {
                char *victim = xasprintf("%s/%s", path, name);
                unlink(victim);
                free(victim);
            }
        }
        closedir(d);
    }
    free(path);
}

struct stor_cache *
cache_open(const char *dir)
{
    struct stor_cache *c;
    if (fs_mkdir_p(dir, 0700) != 0) {
        drk_err_clear();
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->dir = xstrdup(dir);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void
cache_close(struct stor_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->verified.n; i++)
        free(c->verified.v[i]);
    vec_free(&c->verified);
    pthread_mutex_destroy(&c->mu);
    free(c->dir);
    free(c);
}
