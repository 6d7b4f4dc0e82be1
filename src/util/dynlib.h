/*
 * dynlib: a shared library loaded when first needed (dlopen), its functions looked up into
 * a table of function pointers. For libraries only some commands use, whose dependencies
 * would otherwise be loaded (and their constructors run) by every drkit command.
 */
#ifndef DRK_UTIL_DYNLIB_H
#define DRK_UTIL_DYNLIB_H

#include <stddef.h>

struct dynlib_sym {
    const char *name;
    void *slot; /* address of the function pointer to fill */
};

/* dlopen soname and fill every slot; 0, or -1 with what failed in err. The library stays
 * loaded for the life of the process. */
int dynlib_load(const char *soname, const struct dynlib_sym *syms, size_t n, char *err,
                size_t errlen);

#endif
