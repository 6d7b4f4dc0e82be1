/* size: byte-size formatting and parsing. */
#include "size.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "banned.h"

void
size_format(uint64_t bytes, char out[SIZE_FMT_MAX])
{
    static const char *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double v = (double)bytes;
    int u = -1;
    if (bytes < 1024) {
        snprintf(out, SIZE_FMT_MAX, "%llu B", (unsigned long long)bytes);
        return;
    }
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    /* Pick the width from the value as it will be rounded, so 9.999 KiB prints "10.0 KiB"
     * (not "10.00") and 1023.9 KiB prints "1.00 MiB" (not "1024 KiB"). */
    if (v >= 1023.5 && u < 5) {
        v /= 1024;
        u++;
    }
    if (v < 9.995)
        snprintf(out, SIZE_FMT_MAX, "%.2f %s", v, units[u]);
    else if (v < 99.95)
        snprintf(out, SIZE_FMT_MAX, "%.1f %s", v, units[u]);
    else
        snprintf(out, SIZE_FMT_MAX, "%.0f %s", v, units[u]);
}

/*
 * Digits, an optional fraction, optional blanks, an optional unit. The number is parsed by
 * hand: strtod would also take "1e3", "0x10" and "infinity", depends on the locale's
 * decimal point, and loses precision near 2^64.
 */
int
size_parse(const char *s, uint64_t *out)
{
    uint64_t whole = 0, mult = 1, frac_bytes;
    double frac = 0, scale = 0.1;

    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s)) {
        uint64_t d = (uint64_t)(*s++ - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return -1;
        whole = whole * 10 + d;
    }
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++, scale /= 10)
            frac += (*s - '0') * scale;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s) {
        switch (toupper((unsigned char)*s)) {
        case 'B':
            mult = 1;
            break;
        case 'K':
            mult = 1ULL << 10;
            break;
        case 'M':
            mult = 1ULL << 20;
            break;
        case 'G':
            mult = 1ULL << 30;
            break;
        case 'T':
            mult = 1ULL << 40;
            break;
        case 'P':
            mult = 1ULL << 50;
            break;
        default:
            return -1;
        }
        s++;
        /* "B" alone; K..P take nothing, "B" or "iB" */
        if (mult != 1 && (!strcasecmp(s, "B") || !strcasecmp(s, "iB")))
            s = "";
        if (*s)
            return -1;
    }
    if (whole > UINT64_MAX / mult)
        return -1;
    frac_bytes = (uint64_t)(frac * (double)mult);
    if (whole * mult > UINT64_MAX - frac_bytes)
        return -1;
    *out = whole * mult + frac_bytes;
    return 0;
}
