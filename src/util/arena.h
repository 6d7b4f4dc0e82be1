/*
 * arena: a bump allocator for many small allocations that die together (the nodes of a
 * tree being built or decoded; git mem-pool.c). Nothing is freed singly.
 */
#ifndef DRK_UTIL_ARENA_H
#define DRK_UTIL_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used_total;
};

#define ARENA_INIT \
    {              \
        NULL, 0    \
    }

void *arena_alloc(struct arena *a, size_t n); /* 16-byte aligned, never NULL */
void *arena_memdup(struct arena *a, const void *p, size_t n);
/* Copy n bytes and add a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
void arena_release(struct arena *a);

#endif
