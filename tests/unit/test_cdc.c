/* test_cdc: content-defined chunking (src/chunk/cdc.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "chunk/cdc.h"
#include "crypto/mac.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MIB (1024u * 1024)

static const struct cdc_params defaults = { CDC_DEFAULT_MIN, CDC_DEFAULT_AVG_BITS,
                                            CDC_DEFAULT_MAX };

static void
fill_random(unsigned char *p, size_t n, uint32_t seed)
{
    unsigned char s[randombytes_SEEDBYTES] = { 0 };
    memcpy(s, &seed, sizeof(seed));
    randombytes_buf_deterministic(p, n, s);
}

static void
make_seed(unsigned char seed[CDC_SEED_LEN], uint32_t n)
{
    fill_random(seed, CDC_SEED_LEN, 0x5eed0000u + n);
}

static void
init_cdc(struct cdc *c, uint32_t seed_no, const struct cdc_params *p)
{
    unsigned char seed[CDC_SEED_LEN];
    make_seed(seed, seed_no);
    assert_int_equal(cdc_init(c, seed, p), 0);
}

/* Cut all of data (given whole, eof) into chunks; lengths go to *out (caller frees). */
static size_t
chunk_all(const struct cdc *c, const unsigned char *data, size_t len, size_t **out)
{
    size_t n = 0, cap = 64, pos = 0;
    size_t *v = xmalloc(cap * sizeof(*v));
    while (pos < len) {
        size_t k = cdc_next(c, data + pos, len - pos, 1);
        assert_true(k > 0 && k <= len - pos);
        if (n == cap) {
            cap *= 2;
            v = xreallocarray(v, cap, sizeof(*v));
        }
        v[n++] = k;
        pos += k;
    }
    *out = v;
    return n;
}

/* Same, offering a sliding window of at most 2 * max bytes as saver.c does. */
static size_t
chunk_streaming(const struct cdc *c, const unsigned char *data, size_t len, size_t **out)
{
    size_t n = 0, cap = 64, pos = 0;
    size_t *v = xmalloc(cap * sizeof(*v));
    while (pos < len) {
        size_t avail = len - pos, offer = avail < 2 * c->max ? avail : 2 * c->max;
        int eof = offer == avail;
        size_t k = cdc_next(c, data + pos, offer, eof);
        assert_true(k > 0 && k <= offer);
        if (n == cap) {
            cap *= 2;
            v = xreallocarray(v, cap, sizeof(*v));
        }
        v[n++] = k;
        pos += k;
    }
    *out = v;
    return n;
}

static void
test_cdc__deterministic_for_a_seed(void **state)
{
    const size_t len = 16 * MIB;
    unsigned char *data = xmalloc(len);
    struct cdc a, b;
    size_t *ca, *cb, *cs, na, nb, ns;

    fill_random(data, len, 1);
    init_cdc(&a, 1, &defaults);
    init_cdc(&b, 1, &defaults);
    assert_memory_equal(a.gear, b.gear, sizeof(a.gear));
    na = chunk_all(&a, data, len, &ca);
    nb = chunk_all(&b, data, len, &cb);
    assert_int_equal(na, nb);
    assert_memory_equal(ca, cb, na * sizeof(*ca));
    /* and the same when the data arrives through a window */
    ns = chunk_streaming(&a, data, len, &cs);
    assert_int_equal(na, ns);
    assert_memory_equal(ca, cs, na * sizeof(*ca));
    free(ca);
    free(cb);
    free(cs);
    free(data);
}

static void
test_cdc__different_seeds_differ(void **state)
{
    const size_t len = 16 * MIB;
    unsigned char *data = xmalloc(len);
    struct cdc a, b;
    size_t *ca, *cb, na, nb, pa = 0, pb = 0, common = 0, ia = 0, ib = 0;

    fill_random(data, len, 2);
    init_cdc(&a, 1, &defaults);
    init_cdc(&b, 2, &defaults);
    assert_memory_not_equal(a.gear, b.gear, sizeof(a.gear));
    na = chunk_all(&a, data, len, &ca);
    nb = chunk_all(&b, data, len, &cb);
    /* count cut positions the two share: only the end (and rare coincidences) */
    while (ia < na && ib < nb) {
        if (pa + ca[ia] == pb + cb[ib]) {
            common++;
            pa += ca[ia++];
            pb += cb[ib++];
        } else if (pa + ca[ia] < pb + cb[ib]) {
            pa += ca[ia++];
        } else {
            pb += cb[ib++];
        }
    }
    assert_true(common <= 2);
    free(ca);
    free(cb);
    free(data);
}

static void
test_cdc__chunks_within_min_max(void **state)
{
    static const struct cdc_params params[] = {
        { CDC_DEFAULT_MIN, CDC_DEFAULT_AVG_BITS, CDC_DEFAULT_MAX },
        { 4096, 13, 16384 },
        { 8192, 16, 131072 },
        { 65536, 17, 131073 },
    };
    const size_t len = 24 * MIB + 12345;
    unsigned char *data = xmalloc(len);

    fill_random(data, len, 3);
    for (size_t p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
        struct cdc c;
        size_t *v, n;
        init_cdc(&c, 3, &params[p]);
        n = chunk_all(&c, data, len, &v);
        assert_true(n > 1);
        for (size_t i = 0; i + 1 < n; i++) {
            if (v[i] < params[p].min || v[i] > params[p].max)
                fail_msg("params %zu: chunk %zu of %zu has %zu bytes", p, i, n, v[i]);
        }
        assert_true(v[n - 1] <= params[p].max);
        free(v);
    }
    free(data);
}

static void
test_cdc__short_offer_without_eof_asks_for_more(void **state)
{
    const size_t len = CDC_DEFAULT_MAX + 1;
    unsigned char *data = xcalloc(1, len);
    unsigned char *rnd = xmalloc(len);
    struct cdc c;
    size_t full;

    init_cdc(&c, 4, &defaults);
    /* nothing to cut in zeros below max: 0 means "give me more" */
    assert_int_equal(cdc_next(&c, data, 0, 0), 0);
    assert_int_equal(cdc_next(&c, data, 1, 0), 0);
    assert_int_equal(cdc_next(&c, data, c.min, 0), 0);
    assert_int_equal(cdc_next(&c, data, c.min + 1, 0), 0);
    assert_int_equal(cdc_next(&c, data, c.max - 1, 0), 0);
    /* max bytes offered: always a cut, at max */
    assert_int_equal(cdc_next(&c, data, c.max, 0), c.max);
    assert_int_equal(cdc_next(&c, data, c.max + 1, 0), c.max);
    /* with eof the rest is the last chunk */
    assert_int_equal(cdc_next(&c, data, 0, 1), 0);
    assert_int_equal(cdc_next(&c, data, 1, 1), 1);
    assert_int_equal(cdc_next(&c, data, c.min, 1), c.min);
    assert_int_equal(cdc_next(&c, data, c.max - 1, 1), c.max - 1);

    /* random data: a short offer either asks for more or finds the same cut as a long one */
    for (uint32_t s = 0; s < 16; s++) {
        fill_random(rnd, len, 100 + s);
        full = cdc_next(&c, rnd, len, 0);
        assert_true(full > c.min && full <= c.max);
        for (size_t offer = c.min; offer < c.max; offer += 65536 + s) {
            size_t k = cdc_next(&c, rnd, offer, 0);
            if (k != 0 && k != full)
                fail_msg("offer %zu gave %zu, the whole buffer %zu", offer, k, full);
            if (k == 0 && full <= offer)
                fail_msg("offer %zu asked for more although the cut %zu is inside", offer, full);
        }
    }
    free(rnd);
    free(data);
}

static void
test_cdc__average_size_of_random_data(void **state)
{
    const size_t len = 64 * MIB;
    unsigned char *data = xmalloc(len);
    struct cdc c;
    size_t *v, n;
    double avg;

    fill_random(data, len, 5);
    for (uint32_t s = 0; s < 2; s++) {
        init_cdc(&c, 10 + s, &defaults);
        n = chunk_all(&c, data, len, &v);
        avg = (double)len / (double)n;
        if (avg < 0.8 * MIB || avg > 1.4 * MIB)
            fail_msg("average chunk %.0f bytes over %zu chunks", avg, n);
        free(v);
    }
    free(data);
}

static int
cmp_digest(const void *a, const void *b)
{
    return memcmp(a, b, SHA256_LEN);
}

/* Hash every chunk; the sorted digests go to *out (n * SHA256_LEN bytes). */
static size_t
chunk_ids(const struct cdc *c, const unsigned char *data, size_t len, unsigned char **out)
{
    size_t *v, n = chunk_all(c, data, len, &v), pos = 0;
    unsigned char *ids = xmalloc(n * SHA256_LEN);
    for (size_t i = 0; i < n; i++) {
        sha256(data + pos, v[i], ids + i * SHA256_LEN);
        pos += v[i];
    }
    qsort(ids, n, SHA256_LEN, cmp_digest);
    free(v);
    *out = ids;
    return n;
}

/* How many of a's ids are not in b (both sorted). */
static size_t
ids_missing(const unsigned char *a, size_t na, const unsigned char *b, size_t nb)
{
    size_t missing = 0;
    for (size_t i = 0; i < na; i++)
        if (!bsearch(a + i * SHA256_LEN, b, nb, SHA256_LEN, cmp_digest))
            missing++;
    return missing;
}

static void
test_cdc__insertion_changes_few_chunks(void **state)
{
    const size_t len = 64 * MIB, ins = MIB, at = 32 * MIB + 4321;
    unsigned char *before = xmalloc(len), *after = xmalloc(len + ins), *ib, *ia;
    struct cdc c;
    size_t nb, na, gone, added;

    fill_random(before, len, 6);
    memcpy(after, before, at);
    fill_random(after + at, ins, 7);
    memcpy(after + at + ins, before + at, len - at);
    init_cdc(&c, 6, &defaults);
    nb = chunk_ids(&c, before, len, &ib);
    na = chunk_ids(&c, after, len + ins, &ia);
    gone = ids_missing(ib, nb, ia, na);
    added = ids_missing(ia, na, ib, nb);
    print_message("%zu chunks before, %zu after: %zu gone, %zu new\n", nb, na, gone, added);
    assert_true(gone <= 4);
    assert_true(added <= 4); /* the inserted MiB itself is about one chunk */
    free(ib);
    free(ia);
    free(before);
    free(after);
}

static void
test_cdc__zeros_give_max_chunks(void **state)
{
    const size_t len = 3 * CDC_DEFAULT_MAX + 1000;
    unsigned char *zero = xcalloc(1, len);
    struct cdc c;
    size_t *v, n;

    for (uint32_t s = 0; s < 4; s++) {
        init_cdc(&c, 20 + s, &defaults);
        n = chunk_all(&c, zero, len, &v);
        assert_int_equal(n, 4);
        assert_int_equal(v[0], CDC_DEFAULT_MAX);
        assert_int_equal(v[1], CDC_DEFAULT_MAX);
        assert_int_equal(v[2], CDC_DEFAULT_MAX);
        assert_int_equal(v[3], 1000);
        free(v);
    }
    free(zero);
}

static void
test_cdc__params_valid(void **state)
{
    static const struct cdc_params good[] = {
        { CDC_DEFAULT_MIN, CDC_DEFAULT_AVG_BITS, CDC_DEFAULT_MAX },
        { 4096, 13, 8193 },
        { 100000, 17, 200000 },
        { 1u << 24, 25, 64u << 20 }, /* the largest */
    };
    static const struct cdc_params bad[] = {
        { 0, 0, 0 },
        { 4095, 13, 16384 },               /* min below 4 KiB */
        { 8192, 13, 16384 },               /* min == avg */
        { 9000, 13, 16384 },               /* min > avg */
        { 4096, 13, 8192 },                /* max == avg */
        { 4096, 13, 8000 },                /* max < avg */
        { 4096, 11, 65536 },               /* avg_bits too small */
        { 4096, 12, 65536 },               /* avg 4 KiB leaves no room above min */
        { 4096, 27, 1u << 28 },            /* avg_bits too large */
        { 4096, 64, UINT32_MAX },          /* would shift out of range */
        { 4096, UINT32_MAX, UINT32_MAX },  /* would shift out of range */
        { 1u << 20, 22, (64u << 20) + 1 }, /* max above 64 MiB */
        { 4096, 20, UINT32_MAX },          /* max far too large */
        { UINT32_MAX, 20, UINT32_MAX },
    };
    unsigned char seed[CDC_SEED_LEN] = { 0 };
    struct cdc c;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!cdc_params_valid(&good[i]))
            fail_msg("good params %zu rejected", i);
        assert_int_equal(cdc_init(&c, seed, &good[i]), 0);
        assert_int_equal(c.min, good[i].min);
        assert_int_equal(c.max, good[i].max);
        assert_int_equal(c.avg, (size_t)1 << good[i].avg_bits);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cdc_params_valid(&bad[i]))
            fail_msg("bad params %zu accepted", i);
        assert_int_equal(cdc_init(&c, seed, &bad[i]), -1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cdc__deterministic_for_a_seed),
        cmocka_unit_test(test_cdc__different_seeds_differ),
        cmocka_unit_test(test_cdc__chunks_within_min_max),
        cmocka_unit_test(test_cdc__short_offer_without_eof_asks_for_more),
        cmocka_unit_test(test_cdc__average_size_of_random_data),
        cmocka_unit_test(test_cdc__insertion_changes_few_chunks),
        cmocka_unit_test(test_cdc__zeros_give_max_chunks),
        cmocka_unit_test(test_cdc__params_valid),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
