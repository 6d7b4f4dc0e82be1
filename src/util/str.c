/* str: string, hex, UTF-8 and base64 helpers. */
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "xalloc.h"
#include "banned.h"

void
hex_encode(char *out, const void *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
hex_decode(void *out, size_t n, const char *in)
{
    unsigned char *p = out;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((unsigned char)in[2 * i]);
        int lo = hi < 0 ? -1 : hexval((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

bool
is_hex_string(const char *s, size_t min_len, size_t max_len)
{
    size_t n = strlen(s);
    if (n < min_len || n > max_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return false;
    return true;
}

bool
str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int
str_to_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    /* strtoull would skip any leading whitespace and accept a sign: only digits here */
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int
str_to_int(const char *s, int *out)
{
    char *end;
    long v;
    if (!s || !(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

bool
utf8_valid(const void *ptr, size_t n)
{
    const unsigned char *s = ptr;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

char *
b64_encode(const void *in, size_t n)
{
    size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = xmalloc(len);
    sodium_bin2base64(out, len, in, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

int
b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    size_t inlen = strlen(in);
    size_t cap = inlen / 4 * 3 + 3;
    unsigned char *p = xmalloc(cap);
    size_t len;
    const char *end;
    if (sodium_base642bin(p, cap, in, inlen, NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        *end != '\0') {
        free(p);
        return -1;
    }
    *out = p;
    *out_len = len;
    return 0;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4;
    else
        return 0;
    if (len > n || !utf8_valid(s, len))
        return 0;
    return len;
}

void
str_escape_display(struct buf *out, const void *ptr, size_t n, bool controls)
{
    const unsigned char *s = ptr;
    size_t i = 0;
    buf_reset(out);
    while (i < n) {
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 1 && controls && (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\')) {
            if (s[i] == '\n')
                buf_addstr(out, "\\n");
            else if (s[i] == '\t')
                buf_addstr(out, "\\t");
            else if (s[i] == '\\')
                buf_addstr(out, "\\\\");
            else
                buf_addf(out, "\\x%02x", s[i]);
            i++;
        } else if (len == 0) {
            buf_addf(out, "\\x%02x", s[i]);
            i++;
        } else {
            buf_add(out, s + i, len);
            i += len;
        }
    }
}
