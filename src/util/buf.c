/* buf: growable buffer and bounds-checked reader. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "err.h"
#include "xalloc.h"
#include "banned.h"

unsigned char buf_empty_[1];

void
buf_init(struct buf *b, size_t hint)
{
    b->data = buf_empty_;
    b->len = b->cap = b->max = 0;
    if (hint)
        (void)buf_grow(b, hint);
}

void
buf_release(struct buf *b)
{
    size_t max = b->max;
    if (b->cap)
        free(b->data);
    b->data = buf_empty_;
    b->len = b->cap = 0;
    b->max = max;
}

void
buf_release_secure(struct buf *b)
{
    if (b->cap)
        sodium_memzero(b->data, b->cap);
    buf_release(b);
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

int
buf_grow(struct buf *b, size_t extra)
{
    size_t need, ncap;

    if (extra > (size_t)-1 - b->len - 1)
        return drk_err_set(DRK_ETOOBIG, "buffer size overflow");
    need = b->len + extra + 1;
    if (b->max && need - 1 > b->max)
        return drk_err_set(DRK_ETOOBIG, "object of %zu bytes passes the limit of %zu bytes",
                           b->len + extra, b->max);
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap < ((size_t)1 << 62) ? ncap * 2 : need;
    if (b->cap == 0) {
        b->data = xmalloc(ncap);
        b->data[0] = '\0';
    } else {
        b->data = xrealloc(b->data, ncap);
    }
    b->cap = ncap;
    return 0;
}

void
buf_setlen(struct buf *b, size_t len)
{
    if (b->cap == 0) {
        /* only len 0 is possible on the shared empty buffer */
        b->len = 0;
        return;
    }
    if (len >= b->cap)
        abort();
    b->len = len;
    b->data[len] = '\0';
}

unsigned char *
buf_reserve(struct buf *b, size_t n)
{
    if (buf_grow(b, n) != 0)
        return NULL;
    return b->data + b->len;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
    int r;
    if (n == 0)
        return 0;
    if ((r = buf_grow(b, n)) != 0)
        return r;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, int c)
{
    unsigned char ch = (unsigned char)c;
    return buf_add(b, &ch, 1);
}

int
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, r;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return drk_err_set(DRK_EINTERNAL, "bad format string");
    if ((r = buf_grow(b, (size_t)n)) != 0)
        return r;
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return r;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
    return buf_add(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
    unsigned char p[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    return buf_add(b, p, 2);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
    unsigned char p[4];
    le_put32(p, v);
    return buf_add(b, p, 4);
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
    unsigned char p[8];
    le_put64(p, v);
    return buf_add(b, p, 8);
}

void
buf_swap(struct buf *a, struct buf *b)
{
    struct buf t = *a;
    *a = *b;
    *b = t;
}

void *
buf_detach(struct buf *b, size_t *len_out)
{
    void *p;
    if (len_out)
        *len_out = b->len;
    if (b->cap == 0)
        p = xcalloc(1, 1);
    else
        p = b->data;
    b->data = buf_empty_;
    b->len = b->cap = 0;
    return p;
}

char *
buf_cstr(struct buf *b)
{
    return (char *)b->data;
}

const unsigned char *
rd_bytes(struct rd *r, size_t n)
{
    const unsigned char *p;
    if (r->err || n > r->len - r->pos) {
        r->err = 1;
        return NULL;
    }
    p = r->p + r->pos;
    r->pos += n;
    return p;
}

uint8_t
rd_u8(struct rd *r)
{
    const unsigned char *p = rd_bytes(r, 1);
    return p ? p[0] : 0;
}

uint16_t
rd_u16(struct rd *r)
{
    const unsigned char *p = rd_bytes(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t
rd_u32(struct rd *r)
{
    const unsigned char *p = rd_bytes(r, 4);
    return p ? le_get32(p) : 0;
}

uint64_t
rd_u64(struct rd *r)
{
    const unsigned char *p = rd_bytes(r, 8);
    return p ? le_get64(p) : 0;
}

void
rd_copy(struct rd *r, void *dst, size_t n)
{
    const unsigned char *p = rd_bytes(r, n);
    if (p)
        memcpy(dst, p, n);
    else if (n)
        memset(dst, 0, n);
}
