/*
 * fuzz_sealed: sealed_open (src/repo/sealed.c) with a fixed key, for every kind of sealed
 * object (config, index, snapshot). The first byte picks the mode:
 *
 *   even: the rest is a sealed file, opened as is;
 *   odd:  the rest is the encrypted body (1 byte compression || payload), which this target
 *         seals under a valid header, so the decompression behind the tag is fuzzed too.
 *
 * What opens must seal and open again to the same plaintext.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "repo/format.h"
#include "repo/sealed.h"
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
open_and_check(const unsigned char *key, char kind, const unsigned char *p, size_t len)
{
    struct buf plain = BUF_INIT, again = BUF_INIT, back = BUF_INIT;
    int r = sealed_open(&plain, key, kind, p, len, "fuzz");

    if (r == 0) {
        if (sealed_seal(&again, key, kind, plain.data, plain.len) != 0 ||
            sealed_open(&back, key, kind, again.data, again.len, "again") != 0 ||
            back.len != plain.len || memcmp(back.data, plain.data, plain.len) != 0)
            abort();
    } else if (r != DRK_ECORRUPT && r != DRK_EFOREIGN && r != DRK_EVERSION) {
        abort();
    }
    buf_release(&plain);
    buf_release(&again);
    buf_release(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char kinds[] = { OBJ_CONFIG, OBJ_INDEX, OBJ_SNAPSHOT };
    unsigned char key[AEAD_KEY_LEN];

    if (size < 1)
        return 0;
    fuzz_key(key);
    for (size_t k = 0; k < sizeof(kinds); k++) {
        if ((data[0] & 1) == 0) {
            unsigned char *copy = xmalloc(size - 1 ? size - 1 : 1);
            memcpy(copy, data + 1, size - 1);
            open_and_check(key, kinds[k], copy, size - 1);
            free(copy);
        } else {
            size_t blen = size - 1, len = SEALED_HEADER_LEN + blen + AEAD_OVERHEAD;
            unsigned char *obj = xmalloc(len);
            memcpy(obj, SEALED_MAGIC, 4);
            obj[4] = (unsigned char)kinds[k];
            obj[5] = REPO_FORMAT_VERSION;
            obj[6] = obj[7] = 0;
            aead_seal(obj + SEALED_HEADER_LEN, data + 1, blen, obj, SEALED_HEADER_LEN, key);
            open_and_check(key, kinds[k], obj, len);
            free(obj);
        }
    }
    return 0;
}
