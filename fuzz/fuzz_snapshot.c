/*
 * fuzz_snapshot: snap_decode (src/repo/snapshot.c) on arbitrary bytes. A snapshot that
 * decodes must encode, and decode again to the same description; one that does not decode
 * fails with DRK_ECORRUPT or DRK_EVERSION.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/snapshot.h"
#include "util/err.h"
#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_or_abort(const struct snapshot *a, const struct snapshot *b)
{
    if (strcmp(a->name, b->name) || strcmp(a->type, b->type) || strcmp(a->host, b->host) ||
        strcmp(a->username, b->username) || strcmp(a->parent, b->parent) ||
        strcmp(a->program, b->program))
        abort();
    if (a->time.sec != b->time.sec || a->time.nsec != b->time.nsec || a->time.off != b->time.off)
        abort();
    if (a->has_files != b->has_files || a->partial != b->partial ||
        a->error_count != b->error_count || a->tags.n != b->tags.n)
        abort();
    if (a->has_files && (memcmp(a->files_tree.b, b->files_tree.b, ID_LEN) != 0 ||
                         a->paths.n != b->paths.n || a->errors.n != b->errors.n))
        abort();
    for (size_t i = 0; i < a->tags.n; i++)
        if (strcmp(a->tags.v[i], b->tags.v[i]))
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snapshot s, back;
    char *json = NULL;
    int r = snap_decode(&s, data, size);

    if (r == 0) {
        if (snap_encode(&s, &json) != 0 || snap_decode(&back, json, strlen(json)) != 0)
            abort();
        same_or_abort(&s, &back);
        snap_release(&back);
        free(json);
    } else if (r != DRK_ECORRUPT && r != DRK_EVERSION) {
        abort();
    }
    snap_release(&s);
    return 0;
}
