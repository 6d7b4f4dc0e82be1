/*
 * cdc: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking level 2.
 *
 * The gear hash h = (h << 1) + gear[byte] has a 64-byte memory: bit k depends on the
 * last k+1 bytes, so the masks test the top bits, which see the whole window. Hashing
 * starts at `min` (cut-point skipping), so a chunk costs nothing for its first min bytes.
 */
#include "chunk/cdc.h"

#include <string.h>

#include <sodium.h>

#include "util/banned.h"

int
cdc_params_valid(const struct cdc_params *p)
{
    size_t avg;
    if (p->avg_bits < 12 || p->avg_bits > 26)
        return 0;
    avg = (size_t)1 << p->avg_bits;
    return p->min >= 4096 && p->min < avg && avg < p->max && p->max <= (64u << 20);
}

static uint64_t
top_mask(unsigned bits)
{
    return bits >= 64 ? ~0ULL : ((1ULL << bits) - 1) << (64 - bits);
}

int
cdc_init(struct cdc *c, const unsigned char seed[CDC_SEED_LEN], const struct cdc_params *p)
{
    static const unsigned char nonce[crypto_stream_chacha20_NONCEBYTES] = { 'g', 'e', 'a', 'r' };
    unsigned char table[256 * 8];

    if (!cdc_params_valid(p))
        return -1;
    crypto_stream_chacha20(table, sizeof(table), nonce, seed);
    for (int i = 0; i < 256; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++)
            v |= (uint64_t)table[i * 8 + k] << (8 * k);
        c->gear[i] = v;
    }
    sodium_memzero(table, sizeof(table));
    c->min = p->min;
    c->avg = (size_t)1 << p->avg_bits;
    c->max = p->max;
    c->mask_small = top_mask(p->avg_bits + 2);
    c->mask_large = top_mask(p->avg_bits - 2);
    return 0;
}

size_t
cdc_next(const struct cdc *c, const unsigned char *data, size_t len, int eof)
{
    const uint64_t *gear = c->gear;
    uint64_t h = 0;
    size_t n, normal, i;

    if (len <= c->min)
        return eof ? len : 0;
    n = len < c->max ? len : c->max;
    normal = c->avg < n ? c->avg : n;
    for (i = c->min; i < normal; i++) {
        h = (h << 1) + gear[data[i]];
        if (!(h & c->mask_small))
            return i + 1;
    }
    for (; i < n; i++) {
        h = (h << 1) + gear[data[i]];
        if (!(h & c->mask_large))
            return i + 1;
    }
    if (n == c->max)
        return n;
    return eof ? len : 0;
}
