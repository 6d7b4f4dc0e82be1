/* str: small string and hex helpers with no drkit domain knowledge. */
#ifndef DRK_UTIL_STR_H
#define DRK_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write 2*n lowercase hex digits plus a NUL into out (size >= 2*n+1). */
void hex_encode(char *out, const void *in, size_t n);
/* Decode exactly 2*n hex digits from `in` (case-insensitive); -1 on a bad digit. */
int hex_decode(void *out, size_t n, const char *in);
bool is_hex_string(const char *s, size_t min_len, size_t max_len);

bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);
/* Parse an unsigned decimal integer; whole string must be a number. -1 on error. */
int str_to_u64(const char *s, uint64_t *out);
int str_to_int(const char *s, int *out);
/* Is the byte string valid UTF-8? */
bool utf8_valid(const void *p, size_t n);
/* Base64 (standard alphabet, padded). Encoded: caller frees. Decode: -1 on bad input. */
char *b64_encode(const void *in, size_t n);
int b64_decode(const char *in, unsigned char **out, size_t *out_len);

/*
 * Bytes for display: valid UTF-8 passes through; each byte that is not part of valid
 * UTF-8 becomes the four characters \xNN. With `controls`, ASCII control characters
 * (newline, tab, ...) and backslash are escaped too (for one-line human output).
 * The result replaces out's contents.
 */
struct buf;
void str_escape_display(struct buf *out, const void *p, size_t n, bool controls);

#endif
