/* idset: open-addressing set of 32-byte ids. */
#include "repo/idset.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

void
idset_init(struct idset *s)
{
    memset(s, 0, sizeof(*s));
}

void
idset_release(struct idset *s)
{
    free(s->slots);
    free(s->used);
    idset_init(s);
}

static size_t
slot_of(const struct idset *s, const struct blob_id *id)
{
    uint64_t h;
    size_t mask = s->cap - 1, i;
    memcpy(&h, id->b, sizeof(h));
    i = h & mask;
    while (s->used[i] && memcmp(s->slots[i].b, id->b, ID_LEN) != 0)
        i = (i + 1) & mask;
    return i;
}

static void
grow(struct idset *s)
{
    struct blob_id *old = s->slots;
    unsigned char *oldu = s->used;
    size_t oldcap = s->cap;
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->slots = xcalloc(s->cap, sizeof(*s->slots));
    s->used = xcalloc(s->cap, 1);
    for (size_t i = 0; i < oldcap; i++) {
        if (oldu[i]) {
            size_t k = slot_of(s, &old[i]);
            s->slots[k] = old[i];
            s->used[k] = 1;
        }
    }
    free(old);
    free(oldu);
}

bool
idset_add(struct idset *s, const struct blob_id *id)
{
    size_t i;
    if ((s->n + 1) * 10 > s->cap * 7)
        grow(s);
    i = slot_of(s, id);
    if (s->used[i])
        return false;
    s->used[i] = 1;
    s->slots[i] = *id;
    s->n++;
    return true;
}

bool
idset_has(const struct idset *s, const struct blob_id *id)
{
    return s->cap && s->used[slot_of(s, id)];
}

bool
idset_next(const struct idset *s, size_t *pos, struct blob_id *out)
{
    while (*pos < s->cap) {
        size_t i = (*pos)++;
        if (s->used[i]) {
            *out = s->slots[i];
            return true;
        }
    }
    return false;
}
