/*
 * fuzz_index: idx_add_file (src/repo/index.c) into a fresh index. An accepted file yields only
 * plausible locations (type, length, raw length) in packs the index knows; a rejected one is
 * DRK_ECORRUPT and does not count as a loaded file. Not checked: that a blob lies inside the
 * size recorded for its pack, which does not hold when a file lists one pack twice with
 * different sizes (see fuzz/README.md, known findings).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "repo/index.h"
#include "util/err.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_blob(void *arg, const struct blob_id *id, const struct idx_loc *loc)
{
    struct idx *x = arg;
    struct idx_loc again;
    uint64_t pack_size;

    if (idx_pack_size(x, &loc->pack, &pack_size) != 0)
        abort();
    if (loc->type > BLOB_TREE || loc->length < 41 || loc->raw_length > BLOB_MAX_RAW)
        abort();
    if (idx_lookup(x, id, &again) != 0 || !idx_has(x, id))
        abort();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct idx *x = idx_new();
    int r = idx_add_file(x, data, size, "fuzz");

    if (r == 0) {
        if (idx_file_count(x) != 1 || idx_foreach_blob(x, check_blob, x) != 0)
            abort();
    } else if (r != DRK_ECORRUPT || idx_file_count(x) != 0) {
        abort();
    }
    idx_free(x);
    return 0;
}
