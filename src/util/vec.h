/*
 * vec: a typed growable array as a macro (no typedefs: `VEC(struct foo) items;`).
 * Elements move on growth: do not keep pointers into a vec you still push to.
 */
#ifndef DRK_UTIL_VEC_H
#define DRK_UTIL_VEC_H

#include <stdlib.h>

#include "xalloc.h"

#define VEC(T)         \
    struct {           \
        T *v;          \
        size_t n, cap; \
    }

#define VEC_INIT   \
    {              \
        NULL, 0, 0 \
    }

#define vec_reserve(vec, want)                                              \
    do {                                                                    \
        if ((want) > (vec)->cap) {                                          \
            size_t vec_nc_ = (vec)->cap ? (vec)->cap * 2 : 8;               \
            while (vec_nc_ < (want))                                        \
                vec_nc_ *= 2;                                               \
            (vec)->v = xreallocarray((vec)->v, vec_nc_, sizeof(*(vec)->v)); \
            (vec)->cap = vec_nc_;                                           \
        }                                                                   \
    } while (0)

#define vec_push(vec, x)                  \
    do {                                  \
        vec_reserve((vec), (vec)->n + 1); \
        (vec)->v[(vec)->n++] = (x);       \
    } while (0)

#define vec_free(vec)              \
    do {                           \
        free((vec)->v);            \
        (vec)->v = NULL;           \
        (vec)->n = (vec)->cap = 0; \
    } while (0)

#define VEC_FOREACH(it, vec) for ((it) = (vec)->v; (it) < (vec)->v + (vec)->n; (it)++)

#endif
