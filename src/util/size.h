/* size: human byte sizes ("1.5 GiB") and their parsing ("16MiB", "512k", "10%" is not a size). */
#ifndef DRK_UTIL_SIZE_H
#define DRK_UTIL_SIZE_H

#include <stdint.h>

#define SIZE_FMT_MAX 24

/* "0 B", "999 B", "1.00 KiB", "12.3 MiB", "1.21 GiB" */
void size_format(uint64_t bytes, char out[SIZE_FMT_MAX]);
/* Accepts "123", "4k", "4KiB", "16M", "16MiB", "1.5G" (binary multiples). -1 on error. */
int size_parse(const char *s, uint64_t *out);

#endif
