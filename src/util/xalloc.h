/*
 * xalloc: allocation wrappers that abort with a message on out-of-memory (git, OpenSSH).
 * Sizes that come from the repository or the network must be checked against a limit
 * before they get here (STYLE #3).
 */
#ifndef DRK_UTIL_XALLOC_H
#define DRK_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* realloc to nmemb * size, aborting on multiplication overflow */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
