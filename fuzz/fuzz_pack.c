/*
 * fuzz_pack: pack_parse (src/repo/pack.c) with a fixed key. The first byte picks the mode:
 *
 *   even: the rest is a whole pack file, parsed as is (magic, trailer, header length and the
 *         header's authentication are what the fuzzer can reach);
 *   odd:  bytes 1-2 are a little-endian blob area length and the rest is the plaintext of a
 *         pack header, which this target seals with the key, so the entry checks behind the
 *         authentication are fuzzed too.
 *
 * Whatever parses must list entries that tile the blob area exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "repo/format.h"
#include "repo/pack.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key every fuzz target and fuzz/gen_corpus.c use: byte i is 0xa5 ^ i. */
static void
fuzz_key(unsigned char key[AEAD_KEY_LEN])
{
    for (int i = 0; i < AEAD_KEY_LEN; i++)
        key[i] = (unsigned char)(0xa5 ^ i);
}

static void
parse_and_check(const unsigned char *p, size_t len, const unsigned char *key)
{
    struct pack_entry *e = NULL;
    size_t n = 0;
    int r = pack_parse(p, len, key, &e, &n, "fuzz");

    if (r == 0) {
        uint64_t next = PACK_MAGIC_LEN, hlen = le_get32(p + len - PACK_TRAILER_LEN);
        for (size_t i = 0; i < n; i++) {
            if (e[i].offset != next || e[i].type > BLOB_TREE || e[i].length <= AEAD_OVERHEAD)
                abort();
            next += e[i].length;
        }
        if (next != len - PACK_TRAILER_LEN - hlen)
            abort();
    } else if (r != DRK_ECORRUPT || e != NULL || n != 0) {
        abort();
    }
    free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char key[AEAD_KEY_LEN];
    struct buf pack = BUF_INIT;
    unsigned char *sealed, trailer[PACK_TRAILER_LEN];
    size_t area, plen;

    if (size < 1)
        return 0;
    fuzz_key(key);
    if ((data[0] & 1) == 0) {
        /* an exact-size copy, so reads past the end are caught */
        unsigned char *copy = xmalloc(size - 1 ? size - 1 : 1);
        memcpy(copy, data + 1, size - 1);
        parse_and_check(copy, size - 1, key);
        free(copy);
        return 0;
    }
    if (size < 3)
        return 0;
    area = (size_t)data[1] | (size_t)data[2] << 8;
    plen = size - 3;
    sealed = xmalloc(plen + AEAD_OVERHEAD);
    aead_seal(sealed, data + 3, plen, (const unsigned char *)PACK_HEADER_AD, 4, key);
    buf_add(&pack, PACK_MAGIC, PACK_MAGIC_LEN);
    memset(buf_reserve(&pack, area), 0x5a, area);
    buf_setlen(&pack, pack.len + area);
    buf_add(&pack, sealed, plen + AEAD_OVERHEAD);
    le_put32(trailer, (uint32_t)(plen + AEAD_OVERHEAD));
    memcpy(trailer + 4, PACK_TRAILER_MAGIC, 4);
    buf_add(&pack, trailer, sizeof(trailer));
    parse_and_check(pack.data, pack.len, key);
    buf_release(&pack);
    free(sealed);
    return 0;
}
