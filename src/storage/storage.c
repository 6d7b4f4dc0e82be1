/*
 * storage: backend dispatch. Retries of transient errors live here so every backend gets
 * the same policy (exponential backoff within a time budget); the local backend never
 * reports a retryable error, so for it these wrappers are a straight call.
 */
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define RETRY_MAX_TRIES 6
#define RETRY_FIRST_MS  200

int
stor_open(struct stor **out, const char *location)
{
    const struct stor_ops *ops = &stor_local_ops;
    const char *path = location;
    struct stor *s;
    void *be;
    int r;

    if (str_starts_with(location, "file://"))
        path = location + 7;
    else if (strstr(location, "://"))
        return drk_err_set(DRK_EUSAGE, "unsupported repository location '%s'", location);
    if (!*path)
        return drk_err_set(DRK_EUSAGE, "empty repository location");
    if ((r = ops->open(&be, path)) != 0)
        return r;
    s = xcalloc(1, sizeof(*s));
    s->ops = ops;
    s->be = be;
    s->location = xstrdup(path);
    *out = s;
    return 0;
}

void
stor_close(struct stor *s)
{
    if (!s)
        return;
    s->ops->close(s->be);
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

int
stor_get(struct stor *s, const char *key, struct buf *out, size_t max)
{
    WITH_RETRY(s, "get", s->ops->get(s->be, key, out, max));
}

int
stor_get_range(struct stor *s, const char *key, uint64_t off, size_t len, void *dst)
{
    WITH_RETRY(s, "get", s->ops->get_range(s->be, key, off, len, dst));
}

int
stor_list(struct stor *s, const char *dir, stor_list_cb cb, void *arg)
{
    return s->ops->list(s->be, dir, cb, arg);
}

int
stor_del(struct stor *s, const char *key)
{
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
