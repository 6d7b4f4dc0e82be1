/* dwrite: aligned buffering for O_DIRECT writers. */
#include "dwrite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "banned.h"

void
dwrite_init(struct dwrite *w, int fd, bool direct, size_t cap, const char *what)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->direct = direct;
    w->what = what;
    if (direct) {
        w->cap = cap;
        w->owns_buf = true;
        if (posix_memalign((void **)&w->buf, DWRITE_ALIGN, cap) != 0)
            abort();
    }
}

void
dwrite_init_buf(struct dwrite *w, int fd, bool direct, unsigned char *buf, size_t cap,
                const char *what)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->direct = direct;
    w->what = what;
    w->buf = buf;
    w->cap = cap;
}

int
dwrite_write(struct dwrite *w, const void *p, size_t n)
{
    const unsigned char *c = p;
    int r;
    w->total += n;
    if (!w->direct) {
        r = fs_write_all(w->fd, p, n, w->what);
        if (r == 0)
            w->off += n;
        return r;
    }
    while (n) {
        size_t take = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, c, take);
        w->len += take;
        c += take;
        n -= take;
        if (w->len == w->cap) {
            if ((r = fs_pwrite_all(w->fd, w->buf, w->cap, w->off, w->what)) != 0)
                return r;
            w->off += w->cap;
            w->len = 0;
        }
    }
    return 0;
}

int
dwrite_finish(struct dwrite *w)
{
    size_t padded;
    int r;
    if (!w->direct || w->len == 0)
        return 0;
    padded = (w->len + DWRITE_ALIGN - 1) / DWRITE_ALIGN * DWRITE_ALIGN;
    memset(w->buf + w->len, 0, padded - w->len);
    if ((r = fs_pwrite_all(w->fd, w->buf, padded, w->off, w->what)) != 0)
        return r;
    w->off += w->len;
    w->len = 0;
    if (ftruncate(w->fd, (off_t)w->off) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot set the size of '%s'", w->what);
    return 0;
}

void
dwrite_release(struct dwrite *w)
{
    if (w->owns_buf)
        free(w->buf);
    w->buf = NULL;
}
