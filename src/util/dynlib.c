/* dynlib: dlopen and a table of dlsym'd functions. */
#include "util/dynlib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

int
dynlib_load(const char *soname, const struct dynlib_sym *syms, size_t n, char *err, size_t errlen)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        void *sym = dlsym(lib, syms[i].name);
        if (!sym) {
            snprintf(err, errlen, "%s has no %s (too old a version?)", soname, syms[i].name);
            dlclose(lib);
            return -1;
        }
        /* ISO C has no conversion between object and function pointers; POSIX makes the
         * bytes of dlsym's result a valid function pointer */
        memcpy(syms[i].slot, &sym, sizeof(sym));
    }
    return 0;
}
