/*
 * cdc: content-defined chunking, FastCDC style (gear hash with normalized chunking).
 *
 * Boundaries depend only on content, so an insertion in the middle of a file changes
 * only the chunks around it and the rest deduplicate. The gear table is derived from a
 * secret seed (the repository's chunker key), so chunk sizes leak nothing about content
 * to someone without the key. Pure computation: no I/O, no allocation.
 */
#ifndef DRK_CHUNK_CDC_H
#define DRK_CHUNK_CDC_H

#include <stddef.h>
#include <stdint.h>

#define CDC_SEED_LEN 32

struct cdc_params {
    uint32_t min;      /* no cut before this many bytes */
    uint32_t avg_bits; /* target average size is 2^avg_bits */
    uint32_t max;      /* always cut here */
};

/* drkit's defaults: 256 KiB min, 1 MiB average, 4 MiB max */
#define CDC_DEFAULT_MIN      (256u * 1024)
#define CDC_DEFAULT_AVG_BITS 20u
#define CDC_DEFAULT_MAX      (4u * 1024 * 1024)

struct cdc {
    uint64_t gear[256];
    uint64_t mask_small; /* harder to match: used before the average size */
    uint64_t mask_large; /* easier to match: used after it */
    size_t min, avg, max;
};

/* 0, or -1 if the parameters are out of range (min < max, avg in (min, max)). */
int cdc_init(struct cdc *c, const unsigned char seed[CDC_SEED_LEN], const struct cdc_params *p);
int cdc_params_valid(const struct cdc_params *p);

/*
 * Length of the next chunk at the start of data[0..len). With eof false the caller must
 * offer at least c->max bytes (or all that remains); when fewer are offered and no cut
 * is found, returns 0 ("give me more"). With eof true, the rest is the last chunk.
 */
size_t cdc_next(const struct cdc *c, const unsigned char *data, size_t len, int eof);

#endif
