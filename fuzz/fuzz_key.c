/*
 * fuzz_key: key_parse (src/repo/key.c), the JSON of keys/<id> files, on arbitrary bytes.
 * A key file that parses has sane KDF parameters to hand to Argon2id (positive, as
 * key_parse promises); one that does not fails with DRK_ECORRUPT or DRK_EVERSION.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "repo/key.h"
#include "util/err.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t ops = 0, mem = 0;
    unsigned char salt[16], *wrapped = NULL;
    size_t wrapped_len = 0;
    int r = key_parse(data, size, &ops, &mem, salt, &wrapped, &wrapped_len);

    if (r == 0) {
        if (ops == 0 || mem == 0 || !wrapped)
            abort();
        free(wrapped);
    } else if (r != DRK_ECORRUPT && r != DRK_EVERSION) {
        abort();
    }
    return 0;
}
