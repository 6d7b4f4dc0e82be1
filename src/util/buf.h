/*
 * buf: one growable byte buffer with invariants and a ceiling (git strbuf, curl dynbuf,
 * OpenSSH sshbuf), plus a bounds-checked little-endian reader for parsers.
 *
 * Invariants: after BUF_INIT or buf_init(), `data` is never NULL and data[len] == 0
 * (so a buffer of text is a C string). If `max` is non-zero, growth beyond it fails
 * with DRK_ETOOBIG instead of allocating. Writers that cannot fail (max == 0) abort on
 * OOM through xalloc. All integers in drkit's formats are little-endian.
 */
#ifndef DRK_UTIL_BUF_H
#define DRK_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    unsigned char *data;
    size_t len;
    size_t cap; /* 0 while data points at the shared empty string */
    size_t max; /* 0: no ceiling */
};

extern unsigned char buf_empty_[1];
#define BUF_INIT            \
    {                       \
        buf_empty_, 0, 0, 0 \
    }

void buf_init(struct buf *b, size_t hint);
void buf_release(struct buf *b);        /* free and reset to BUF_INIT (max kept) */
void buf_release_secure(struct buf *b); /* zero the bytes, then release */
void buf_reset(struct buf *b);          /* len = 0, keep memory */
/* Make room for `extra` more bytes; DRK_ETOOBIG if that passes b->max. */
int buf_grow(struct buf *b, size_t extra);
/* Set len (<= cap) after writing into data directly; keeps the NUL terminator. */
void buf_setlen(struct buf *b, size_t len);
/* Pointer to `n` writable bytes at the end; call buf_setlen(b, b->len + used) after. */
unsigned char *buf_reserve(struct buf *b, size_t n);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, int c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
void buf_swap(struct buf *a, struct buf *b);
/* Hand the bytes to the caller (who frees them); b becomes empty. */
void *buf_detach(struct buf *b, size_t *len_out);
char *buf_cstr(struct buf *b); /* data as char* */

static inline void
le_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t
le_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void
le_put64(unsigned char *p, uint64_t v)
{
    le_put32(p, (uint32_t)v);
    le_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t
le_get64(const unsigned char *p)
{
    return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

/*
 * rd: a bounds-checked reader over bytes it does not own. Errors are sticky: once a
 * read would pass the end, `err` is set, every later read yields zeros and NULL, and the
 * parser checks rd_ok() once at the end (or wherever a value steers allocation).
 */
struct rd {
    const unsigned char *p;
    size_t len;
    size_t pos;
    int err;
};

static inline void
rd_init(struct rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

static inline int
rd_ok(const struct rd *r)
{
    return !r->err;
}

static inline size_t
rd_left(const struct rd *r)
{
    return r->err ? 0 : r->len - r->pos;
}

const unsigned char *rd_bytes(struct rd *r, size_t n); /* NULL (and err) if short */
uint8_t rd_u8(struct rd *r);
uint16_t rd_u16(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* Copy n bytes out; zero-fills and sets err when short. */
void rd_copy(struct rd *r, void *dst, size_t n);

#endif
