/*
 * idset: a set of 32-byte ids (blob, pack or file ids), open addressing on the id's first
 * eight bytes (ids are hashes or MACs, so already uniform). Not thread-safe.
 */
#ifndef DRK_REPO_IDSET_H
#define DRK_REPO_IDSET_H

#include <stdbool.h>
#include <stddef.h>

#include "repo/format.h"

struct idset {
    struct blob_id *slots;
    unsigned char *used;
    size_t cap, n;
};

void idset_init(struct idset *s);
void idset_release(struct idset *s);
/* true if id was not in the set before */
bool idset_add(struct idset *s, const struct blob_id *id);
bool idset_has(const struct idset *s, const struct blob_id *id);
/* Iterate: for (size_t i = 0; idset_next(s, &i, &id);) */
bool idset_next(const struct idset *s, size_t *pos, struct blob_id *out);

#endif
