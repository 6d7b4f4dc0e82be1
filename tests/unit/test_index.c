/* test_index: the in-memory blob index and index file encoding (src/repo/index.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/index.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A well-spread id from a number (the index hashes on the first 8 bytes). */
static void
make_id(struct blob_id *id, uint64_t n, uint8_t tag)
{
    uint64_t x = n * 0x9e3779b97f4a7c15ULL + tag;
    for (int i = 0; i < ID_LEN; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 32;
        id->b[i] = (unsigned char)x;
    }
    id->b[ID_LEN - 1] = tag;
}

/* An id whose first 8 bytes (its hash) are given; the rest makes it unique. */
static void
make_colliding_id(struct blob_id *id, uint64_t home, uint64_t n)
{
    make_id(id, n, 0xc0);
    memcpy(id->b, &home, sizeof(home));
}

static void
make_entry(struct pack_entry *e, uint64_t n, uint32_t offset, uint8_t tag)
{
    make_id(&e->id, n, tag);
    e->type = (uint8_t)(n % 2);
    e->offset = offset;
    e->length = 41 + (uint32_t)(n % 1000);
    e->raw_length = (uint32_t)(n * 3);
}

/* n entries laid out one after the other from offset 8; returns the pack size. */
static uint64_t
make_entries(struct pack_entry *v, size_t n, uint64_t first, uint8_t tag)
{
    uint32_t off = 8;
    for (size_t i = 0; i < n; i++) {
        make_entry(&v[i], first + i, off, tag);
        off += v[i].length;
    }
    return (uint64_t)off + 100;
}

static void
assert_loc(struct idx *x, const struct pack_entry *e, const struct blob_id *pack)
{
    struct idx_loc loc;
    assert_int_equal(idx_lookup(x, &e->id, &loc), 0);
    assert_memory_equal(loc.pack.b, pack->b, ID_LEN);
    assert_int_equal(loc.offset, e->offset);
    assert_int_equal(loc.length, e->length);
    assert_int_equal(loc.raw_length, e->raw_length);
    assert_int_equal(loc.type, e->type);
}

static void
test_index__claim_semantics(void **state)
{
    struct idx *x = idx_new();
    struct blob_id a, b, pack;
    struct idx_loc loc;
    struct pack_entry e;

    make_id(&a, 1, 0);
    make_id(&b, 2, 0);
    make_id(&pack, 3, 0xee);
    assert_false(idx_has(x, &a));
    assert_int_equal(idx_lookup(x, &a, &loc), DRK_ENOTFOUND);

    /* the first claim wins; claimed-but-uncommitted is "has" but not "lookup" */
    assert_true(idx_claim(x, &a, BLOB_DATA));
    assert_false(idx_claim(x, &a, BLOB_DATA));
    assert_false(idx_claim(x, &a, BLOB_TREE));
    assert_true(idx_has(x, &a));
    assert_int_equal(idx_lookup(x, &a, &loc), DRK_ENOTFOUND);
    assert_int_equal(idx_blob_count(x), 1);

    /* unclaim gives it back */
    idx_unclaim(x, &a);
    assert_false(idx_has(x, &a));
    assert_int_equal(idx_blob_count(x), 0);
    assert_true(idx_claim(x, &a, BLOB_DATA));
    /* unclaiming an unknown id does nothing */
    idx_unclaim(x, &b);
    assert_true(idx_has(x, &a));
    assert_false(idx_has(x, &b));

    /* commit: the claim becomes a location */
    e.id = a;
    e.type = BLOB_DATA;
    e.offset = 8;
    e.length = 100;
    e.raw_length = 60;
    idx_add_pack(x, &pack, 1000, &e, 1);
    assert_loc(x, &e, &pack);
    assert_true(idx_has(x, &a));
    assert_false(idx_claim(x, &a, BLOB_DATA));
    /* a committed blob cannot be unclaimed */
    idx_unclaim(x, &a);
    assert_loc(x, &e, &pack);
    assert_int_equal(idx_blob_count(x), 1);
    assert_int_equal(idx_pack_count(x), 1);

    /* a pack may bring blobs nobody claimed */
    e.id = b;
    e.type = BLOB_TREE;
    idx_add_pack(x, &pack, 1000, &e, 1);
    assert_loc(x, &e, &pack);
    assert_int_equal(idx_pack_count(x), 1); /* the same pack id is interned once */
    idx_free(x);
    idx_free(NULL);
}

static void
test_index__duplicates_keep_first_location(void **state)
{
    struct idx *x = idx_new();
    struct blob_id p1, p2;
    struct pack_entry e1[3], e2[3];
    uint64_t size;

    make_id(&p1, 1, 0xee);
    make_id(&p2, 2, 0xee);
    make_entries(e1, 3, 100, 0);
    make_entries(e2, 3, 100, 0); /* the same blobs ... */
    for (int i = 0; i < 3; i++)
        e2[i].offset += 1000; /* ... somewhere else */
    idx_add_pack(x, &p1, 5000, e1, 3);
    idx_add_pack(x, &p2, 6000, e2, 3);
    for (int i = 0; i < 3; i++)
        assert_loc(x, &e1[i], &p1);
    assert_int_equal(idx_blob_count(x), 3);
    assert_int_equal(idx_pack_count(x), 2);
    assert_int_equal(idx_pack_size(x, &p1, &size), 0);
    assert_int_equal(size, 5000);
    assert_int_equal(idx_pack_size(x, &p2, &size), 0);
    assert_int_equal(size, 6000);
    make_id(&p2, 3, 0xee);
    assert_int_equal(idx_pack_size(x, &p2, &size), DRK_ENOTFOUND);
    idx_free(x);
}

struct count_ctx {
    size_t n, bad;
    uint64_t offsets;
};

static int
count_blob(void *arg, const struct blob_id *id, const struct idx_loc *loc)
{
    struct count_ctx *c = arg;
    c->n++;
    c->offsets += loc->offset;
    if (loc->length < 41)
        c->bad++;
    (void)id;
    return 0;
}

static int
stop_at_ten(void *arg, const struct blob_id *id, const struct idx_loc *loc)
{
    size_t *n = arg;
    (void)id;
    (void)loc;
    return ++*n == 10 ? 42 : 0;
}

static void
test_index__growth_100k_blobs_2k_packs(void **state)
{
    enum { NPACKS = 2000, PER = 50 };
    struct idx *x = idx_new();
    struct pack_entry *e = xcalloc(PER, sizeof(*e));
    struct count_ctx cc = { 0, 0, 0 };
    uint64_t want_offsets = 0;
    size_t stopped = 0;

    for (uint64_t p = 0; p < NPACKS; p++) {
        struct blob_id pack;
        uint64_t size = make_entries(e, PER, p * PER, 0);
        make_id(&pack, p, 0xee);
        /* claim half of them first, as a backup would */
        for (size_t i = 0; i < PER; i += 2)
            assert_true(idx_claim(x, &e[i].id, e[i].type));
        idx_add_pack(x, &pack, size, e, PER);
        for (size_t i = 0; i < PER; i++)
            want_offsets += e[i].offset;
    }
    assert_int_equal(idx_blob_count(x), NPACKS * PER);
    assert_int_equal(idx_pack_count(x), NPACKS);
    for (uint64_t p = 0; p < NPACKS; p++) {
        struct blob_id pack, got;
        uint64_t size = make_entries(e, PER, p * PER, 0), gsize;
        make_id(&pack, p, 0xee);
        for (size_t i = 0; i < PER; i++)
            assert_loc(x, &e[i], &pack);
        assert_int_equal(idx_pack_size(x, &pack, &gsize), 0);
        assert_int_equal(gsize, size);
        idx_pack_at(x, p, &got, &gsize);
        assert_memory_equal(got.b, pack.b, ID_LEN);
        assert_int_equal(gsize, size);
    }
    /* ids never added are absent */
    for (uint64_t n = 0; n < 1000; n++) {
        struct blob_id id;
        struct idx_loc loc;
        make_id(&id, n, 1);
        assert_false(idx_has(x, &id));
        assert_int_equal(idx_lookup(x, &id, &loc), DRK_ENOTFOUND);
    }
    assert_int_equal(idx_foreach_blob(x, count_blob, &cc), 0);
    assert_int_equal(cc.n, NPACKS * PER);
    assert_int_equal(cc.bad, 0);
    assert_true(cc.offsets == want_offsets);
    assert_int_equal(idx_foreach_blob(x, stop_at_ten, &stopped), 42);
    assert_int_equal(stopped, 10);
    free(e);
    idx_free(x);
}

/* Two packs of three blobs, superseding two older files. */
static void
encode_sample(struct buf *out, struct idx_pack_rec packs[2], struct pack_entry e[6])
{
    struct blob_id sup[2];
    make_id(&sup[0], 900, 0xaa);
    make_id(&sup[1], 901, 0xaa);
    for (int p = 0; p < 2; p++) {
        make_id(&packs[p].id, (uint64_t)p, 0xee);
        packs[p].entries = &e[p * 3];
        packs[p].n = 3;
        packs[p].size = make_entries(&e[p * 3], 3, (uint64_t)p * 3, 0);
    }
    assert_int_equal(idx_encode(out, packs, 2, sup, 2), 0);
}

static void
test_index__encode_add_file_round_trip(void **state)
{
    struct idx_pack_rec packs[2];
    struct pack_entry e[6];
    struct buf enc = BUF_INIT;
    struct idx *x = idx_new();
    uint64_t size;

    encode_sample(&enc, packs, e);
    assert_int_equal(enc.len, 4 + 4 + 2 * ID_LEN + 4 + 2 * (ID_LEN + 8 + 4 + 3 * PACK_ENTRY_LEN));
    assert_int_equal(idx_file_count(x), 0);
    assert_int_equal(idx_add_file(x, enc.data, enc.len, "f1"), 0);
    assert_int_equal(idx_file_count(x), 1);
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < 3; i++)
            assert_loc(x, &e[p * 3 + i], &packs[p].id);
        assert_int_equal(idx_pack_size(x, &packs[p].id, &size), 0);
        assert_int_equal(size, packs[p].size);
    }
    assert_int_equal(idx_blob_count(x), 6);
    /* the same file again changes nothing but the file count */
    assert_int_equal(idx_add_file(x, enc.data, enc.len, "f1"), 0);
    assert_int_equal(idx_blob_count(x), 6);
    assert_int_equal(idx_pack_count(x), 2);

    /* an empty index file */
    assert_int_equal(idx_encode(&enc, NULL, 0, NULL, 0), 0);
    assert_int_equal(enc.len, 12);
    assert_int_equal(idx_add_file(x, enc.data, enc.len, "empty"), 0);
    assert_int_equal(idx_file_count(x), 3);
    idx_free(x);
    buf_release(&enc);
}

static void
expect_add_file_fails(const void *p, size_t len, const char *what)
{
    struct idx *x = idx_new();
    int r = idx_add_file(x, p, len, "test");
    if (r != DRK_ECORRUPT)
        fail_msg("%s: idx_add_file gave %s, want ECORRUPT", what, drk_err_name(r));
    assert_int_equal(idx_file_count(x), 0);
    idx_free(x);
}

static void
test_index__add_file_rejects_truncation(void **state)
{
    struct idx_pack_rec packs[2];
    struct pack_entry e[6];
    struct buf enc = BUF_INIT;

    encode_sample(&enc, packs, e);
    for (size_t len = 0; len < enc.len; len++) {
        unsigned char *p = xmalloc(len ? len : 1);
        char what[48];
        memcpy(p, enc.data, len);
        snprintf(what, sizeof(what), "truncated to %zu of %zu", len, enc.len);
        expect_add_file_fails(p, len, what);
        free(p);
    }
    /* trailing bytes */
    assert_int_equal(buf_addch(&enc, 0), 0);
    expect_add_file_fails(enc.data, enc.len, "a trailing byte");
    buf_release(&enc);
}

static void
test_index__add_file_rejects_impossible_entries(void **state)
{
    struct idx_pack_rec packs[2];
    struct pack_entry e[6];
    struct buf enc = BUF_INIT;
    const size_t first_entry = 4 + 4 + 2 * ID_LEN + 4 + ID_LEN + 8 + 4;
    const size_t size_at = first_entry - 12;
    unsigned char *p;
    struct pack_entry pe;

    encode_sample(&enc, packs, e);
    p = enc.data;
    pack_entry_decode(&pe, p + first_entry);
    assert_memory_equal(pe.id.b, e[0].id.b, ID_LEN);

    /* type > 1 */
    for (unsigned t = 2; t < 256; t += 50) {
        p[first_entry] = (unsigned char)t;
        expect_add_file_fails(p, enc.len, "type");
    }
    p[first_entry] = e[0].type;
    /* offset + length past the pack's size */
    le_put32(p + first_entry + 4, (uint32_t)packs[0].size - e[0].length + 1);
    expect_add_file_fails(p, enc.len, "offset + length > size");
    le_put32(p + first_entry + 4, UINT32_MAX);
    expect_add_file_fails(p, enc.len, "offset near 4 GiB");
    le_put32(p + first_entry + 4, e[0].offset);
    le_put32(p + first_entry + 8, UINT32_MAX);
    expect_add_file_fails(p, enc.len, "length near 4 GiB");
    le_put32(p + first_entry + 8, 40);
    expect_add_file_fails(p, enc.len, "shorter than nonce + tag + 1");
    le_put32(p + first_entry + 8, e[0].length);
    le_put32(p + first_entry + 12, BLOB_MAX_RAW + 1);
    expect_add_file_fails(p, enc.len, "raw length");
    le_put32(p + first_entry + 12, e[0].raw_length);
    /* a pack size smaller than its last blob's end */
    le_put64(p + size_at, e[2].offset + e[2].length - 1);
    expect_add_file_fails(p, enc.len, "pack size");
    le_put64(p + size_at, packs[0].size);
    /* counts beyond the bytes there are */
    le_put32(p + 4, 3);
    expect_add_file_fails(p, enc.len, "superseded count");
    le_put32(p + 4, UINT32_MAX);
    expect_add_file_fails(p, enc.len, "superseded count huge");
    le_put32(p + 4, 2);
    le_put32(p + 8 + 2 * ID_LEN, 3);
    expect_add_file_fails(p, enc.len, "pack count");
    le_put32(p + 8 + 2 * ID_LEN, UINT32_MAX);
    expect_add_file_fails(p, enc.len, "pack count huge");
    le_put32(p + 8 + 2 * ID_LEN, 2);
    le_put32(p + first_entry - 4, 4);
    expect_add_file_fails(p, enc.len, "blob count");
    le_put32(p + first_entry - 4, PACK_MAX_BLOBS + 1);
    expect_add_file_fails(p, enc.len, "blob count huge");
    le_put32(p + first_entry - 4, 3);
    /* unknown version */
    le_put32(p, 2);
    expect_add_file_fails(p, enc.len, "version 2");
    le_put32(p, 1);
    {
        struct idx *x = idx_new();
        assert_int_equal(idx_add_file(x, p, enc.len, "restored"), 0);
        idx_free(x);
    }
    buf_release(&enc);
}

/* Regression (fixed): src/repo/index.c idx_add_file adds the packs it has parsed before it finds
 * damage further on: an index file whose second pack record is bad is reported DRK_ECORRUPT (and
 * idx_load lists it as damaged and "skipped"), yet the first pack's blobs are already in the
 * index. Expected: a rejected file adds nothing. */
static void
test_index__rejected_file_adds_nothing(void **state)
{
    struct idx_pack_rec packs[2];
    struct pack_entry e[6];
    struct buf enc = BUF_INIT;
    struct idx *x = idx_new();
    struct idx_loc loc;

    encode_sample(&enc, packs, e);
    enc.data[enc.len - PACK_ENTRY_LEN] = 7; /* the last entry's type */
    assert_int_equal(idx_add_file(x, enc.data, enc.len, "bad"), DRK_ECORRUPT);
    assert_int_equal(idx_lookup(x, &e[0].id, &loc), DRK_ENOTFOUND);
    assert_int_equal(idx_blob_count(x), 0);
    assert_int_equal(idx_pack_count(x), 0);
    idx_free(x);
    buf_release(&enc);
}

/*
 * Regression (fixed): src/repo/index.c idx_add_file checks each entry against the size of the pack
 * record it sits in, but intern_pack keeps the size of the first record of a pack id. A file (or
 * two files) listing one pack twice, first with size 0 and then with a large size and blobs, is
 * accepted, and the index then holds blobs lying beyond the recorded pack size (idx_pack_size
 * gives 0). Found by fuzz/fuzz_index.c. Expected: DRK_ECORRUPT for a pack recorded with two
 * different sizes (or entries checked against the size that is kept).
 */
static void
test_index__pack_listed_twice_with_other_size(void **state)
{
    struct pack_entry e[2];
    struct idx_pack_rec packs[2];
    struct buf enc = BUF_INIT;
    struct idx *x = idx_new();

    make_id(&packs[0].id, 1, 0xee);
    packs[0].size = 0;
    packs[0].entries = NULL;
    packs[0].n = 0;
    packs[1].id = packs[0].id;
    packs[1].entries = e;
    packs[1].n = 2;
    packs[1].size = make_entries(e, 2, 0, 0);
    assert_int_equal(idx_encode(&enc, packs, 2, NULL, 0), 0);
    assert_int_equal(idx_add_file(x, enc.data, enc.len, "twice"), DRK_ECORRUPT);
    idx_free(x);
    buf_release(&enc);
}

static void
test_index__unclaim_keeps_probe_chains(void **state)
{
    /* Long runs of ids with the same home slot, some homes near the end of the table so the
     * runs wrap around to slot 0; unclaim some and look up all the others. The table starts
     * with 1024 slots and stays there below 70% load. */
    enum { PER_HOME = 60, NHOMES = 5 };
    static const uint64_t homes[NHOMES] = { 5, 6, 500, 1020, 1023 };
    struct idx *x = idx_new();
    struct blob_id ids[NHOMES * PER_HOME], pack;
    bool gone[NHOMES * PER_HOME] = { false };
    struct pack_entry e;
    size_t n = 0, left;

    make_id(&pack, 1, 0xee);
    for (size_t k = 0; k < PER_HOME; k++)
        for (size_t h = 0; h < NHOMES; h++, n++) {
            make_colliding_id(&ids[n], homes[h] + ((uint64_t)k << 40), n);
            assert_true(idx_claim(x, &ids[n], BLOB_DATA));
        }
    /* commit every fifth, so some entries in the chains are not claims */
    memset(&e, 0, sizeof(e));
    e.offset = 8;
    e.length = 100;
    for (size_t i = 0; i < n; i += 5) {
        e.id = ids[i];
        idx_add_pack(x, &pack, 1000, &e, 1);
    }
    left = n;
    /* unclaim in a scattered order, checking everything after each round */
    for (size_t round = 0; round < 4; round++) {
        for (size_t i = round; i < n; i += 3 + round) {
            if (i % 5 == 0 || gone[i])
                continue;
            idx_unclaim(x, &ids[i]);
            gone[i] = true;
            left--;
        }
        assert_int_equal(idx_blob_count(x), left);
        for (size_t i = 0; i < n; i++) {
            struct idx_loc loc;
            if (idx_has(x, &ids[i]) == gone[i])
                fail_msg("round %zu: id %zu has=%d, gone=%d", round, i, !gone[i], gone[i]);
            if (i % 5 == 0)
                assert_int_equal(idx_lookup(x, &ids[i], &loc), 0);
        }
    }
    /* unclaimed ids can be claimed again, the others cannot */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(idx_claim(x, &ids[i], BLOB_DATA), gone[i]);
    assert_int_equal(idx_blob_count(x), n);
    idx_free(x);
}

static void
test_index__pack_entry_codec(void **state)
{
    struct pack_entry a, b;
    unsigned char raw[PACK_ENTRY_LEN];

    make_id(&a.id, 5, 1);
    a.type = BLOB_TREE;
    a.offset = 0x01020304;
    a.length = 0xa0b0c0d0;
    a.raw_length = 0x11223344;
    pack_entry_encode(raw, &a);
    assert_int_equal(raw[0], BLOB_TREE);
    assert_int_equal(raw[1] | raw[2] | raw[3], 0);
    assert_int_equal(raw[4], 0x04); /* little-endian */
    assert_int_equal(raw[7], 0x01);
    assert_memory_equal(raw + 16, a.id.b, ID_LEN);
    pack_entry_decode(&b, raw);
    assert_int_equal(b.type, a.type);
    assert_int_equal(b.offset, a.offset);
    assert_int_equal(b.length, a.length);
    assert_int_equal(b.raw_length, a.raw_length);
    assert_memory_equal(b.id.b, a.id.b, ID_LEN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index__claim_semantics),
        cmocka_unit_test(test_index__duplicates_keep_first_location),
        cmocka_unit_test(test_index__growth_100k_blobs_2k_packs),
        cmocka_unit_test(test_index__encode_add_file_round_trip),
        cmocka_unit_test(test_index__add_file_rejects_truncation),
        cmocka_unit_test(test_index__add_file_rejects_impossible_entries),
        cmocka_unit_test(test_index__unclaim_keeps_probe_chains),
        cmocka_unit_test(test_index__pack_entry_codec),
        cmocka_unit_test(test_index__rejected_file_adds_nothing),
        cmocka_unit_test(test_index__pack_listed_twice_with_other_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
