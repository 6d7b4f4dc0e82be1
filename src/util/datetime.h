/*
 * datetime: wall-clock times as seconds + nanoseconds + the UTC offset of the zone they
 * were read in, RFC 3339 text, and the date forms operators type (--before=2024-01-14).
 */
#ifndef DRK_UTIL_DATETIME_H
#define DRK_UTIL_DATETIME_H

#include <stdint.h>

struct dt {
    int64_t sec;  /* Unix time */
    int32_t nsec; /* 0..999999999 */
    int32_t off;  /* UTC offset in seconds of the local zone at that instant */
};

#define DT_RFC3339_MAX 48

void dt_now(struct dt *out);
double dt_monotonic(void); /* seconds, for durations */
/* Local offset for a Unix time (per TZ), in seconds east of UTC. */
int32_t dt_local_offset(int64_t sec);
/* "2024-01-13T03:00:00.123456789+01:00" (nanoseconds always 9 digits) */
void dt_format_rfc3339(const struct dt *t, char out[DT_RFC3339_MAX]);
/* "2024-01-13 03:00:00" in the time's own offset */
void dt_format_human(const struct dt *t, char out[DT_RFC3339_MAX]);
/* "20240113-020000" in UTC */
void dt_format_compact_utc(int64_t sec, char out[20]);
/* Parse RFC 3339 (fraction optional, 'Z' or ±HH:MM). -1 on error. */
int dt_parse_rfc3339(const char *s, struct dt *out);
/*
 * Parse what a user types: "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS]"
 * with an optional 'Z' or ±HH:MM; without a zone the local zone (TZ) is meant. Also
 * "now", "today", "yesterday". -1 on error.
 */
int dt_parse_user(const char *s, int64_t *sec_out);
/* "1.52s", "2m03s", "1h02m" */
void dt_format_duration(double seconds, char out[24]);

#endif
