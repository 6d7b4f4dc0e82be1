/*
 * dwrite: sequential writing to a file descriptor that may be opened with O_DIRECT.
 * Direct I/O needs block-aligned memory, offsets and lengths: bytes gather in an aligned
 * buffer and go out in whole buffers; the tail is padded to a block and the file is then
 * cut back to its real length. Without O_DIRECT the bytes are written as they come.
 */
#ifndef DRK_UTIL_DWRITE_H
#define DRK_UTIL_DWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DWRITE_ALIGN 4096

struct dwrite {
    int fd;
    bool direct;
    unsigned char *buf; /* DWRITE_ALIGN-aligned, cap bytes (direct only) */
    size_t len, cap;
    uint64_t off;   /* bytes handed to the kernel so far */
    uint64_t total; /* bytes written by the caller */
    const char *what;
    bool owns_buf;
};

/* cap: buffer size for direct mode (a multiple of DWRITE_ALIGN). */
void dwrite_init(struct dwrite *w, int fd, bool direct, size_t cap, const char *what);
/* The same with a caller's aligned buffer (reused across files; not freed). */
void dwrite_init_buf(struct dwrite *w, int fd, bool direct, unsigned char *buf, size_t cap,
                     const char *what);
int dwrite_write(struct dwrite *w, const void *p, size_t n);
/* Write the tail (padded) and set the file's length to what was written. */
int dwrite_finish(struct dwrite *w);
void dwrite_release(struct dwrite *w);

#endif
