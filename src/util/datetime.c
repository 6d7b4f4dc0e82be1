/* datetime: time formatting and parsing. */
#include "datetime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

void
dt_now(struct dt *out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    out->sec = ts.tv_sec;
    out->nsec = (int32_t)ts.tv_nsec;
    out->off = dt_local_offset(ts.tv_sec);
}

double
dt_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int32_t
dt_local_offset(int64_t sec)
{
    struct tm tm;
    time_t t = (time_t)sec;
    if (!localtime_r(&t, &tm))
        return 0;
    return (int32_t)tm.tm_gmtoff;
}

static void
to_tm(int64_t sec, int32_t off, struct tm *tm)
{
    time_t t = (time_t)(sec + off);
    gmtime_r(&t, tm);
}

void
dt_format_rfc3339(const struct dt *t, char out[DT_RFC3339_MAX])
{
    struct tm tm;
    char zone[8];
    int32_t off = t->off;
    to_tm(t->sec, off, &tm);
    if (off == 0) {
        snprintf(zone, sizeof(zone), "Z");
    } else {
        int32_t a = off < 0 ? -off : off;
        snprintf(zone, sizeof(zone), "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    }
    snprintf(out, DT_RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%09d%s", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)t->nsec, zone);
}

void
dt_format_human(const struct dt *t, char out[DT_RFC3339_MAX])
{
    struct tm tm;
    to_tm(t->sec, t->off, &tm);
    snprintf(out, DT_RFC3339_MAX, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void
dt_format_compact_utc(int64_t sec, char out[20])
{
    struct tm tm;
    to_tm(sec, 0, &tm);
    snprintf(out, 20, "%04d%02d%02d-%02d%02d%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Parse exactly n digits. */
static int
digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int
valid_date(int y, int m, int d)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1)
        return 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/*
 * Shared core: date, optional time, optional fraction, optional zone. *has_zone tells
 * whether a zone was given; the result is then UTC seconds, else "local wall seconds"
 * (seconds as if the wall time were UTC).
 */
static int
parse_datetime(const char *s, int require_time, int64_t *sec, int32_t *nsec, int *has_zone,
               int32_t *zone_off)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    long ns = 0;

    *has_zone = 0;
    *zone_off = 0;
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' || digits(&s, 2, &d))
        return -1;
    if (!valid_date(y, mo, d))
        return -1;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
            return -1;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &se))
                return -1;
            if (*s == '.') {
                int nd = 0;
                s++;
                while (isdigit((unsigned char)*s)) {
                    if (nd < 9) {
                        ns = ns * 10 + (*s - '0');
                        nd++;
                    }
                    s++;
                }
                if (nd == 0)
                    return -1;
                while (nd++ < 9)
                    ns *= 10;
            }
        }
        if (h > 23 || mi > 59 || se > 60)
            return -1;
    } else if (require_time) {
        return -1;
    }
    if (*s == 'Z' || *s == 'z') {
        *has_zone = 1;
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1, zh, zm;
        s++;
        if (digits(&s, 2, &zh))
            return -1;
        if (*s == ':')
            s++;
        if (digits(&s, 2, &zm) || zh > 23 || zm > 59)
            return -1;
        *has_zone = 1;
        *zone_off = sign * (zh * 3600 + zm * 60);
    }
    if (*s)
        return -1;
    *sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    *nsec = (int32_t)ns;
    return 0;
}

int
dt_parse_rfc3339(const char *s, struct dt *out)
{
    int64_t sec;
    int32_t nsec, off;
    int has_zone;
    if (parse_datetime(s, 1, &sec, &nsec, &has_zone, &off) != 0 || !has_zone)
        return -1;
    out->sec = sec - off;
    out->nsec = nsec;
    out->off = off;
    return 0;
}

/* Convert a local wall time (seconds as if UTC) to Unix time using TZ rules. */
static int64_t
local_to_unix(int64_t wall)
{
    struct tm tm;
    time_t t = (time_t)wall;
    gmtime_r(&t, &tm);
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm);
}

int
dt_parse_user(const char *s, int64_t *sec_out)
{
    int64_t sec;
    int32_t nsec, off;
    int has_zone;
    struct dt now;

    if (!strcmp(s, "now")) {
        dt_now(&now);
        *sec_out = now.sec;
        return 0;
    }
    if (!strcmp(s, "today") || !strcmp(s, "yesterday")) {
        int64_t wall;
        dt_now(&now);
        wall = now.sec + now.off;
        wall -= wall % 86400;
        if (!strcmp(s, "yesterday"))
            wall -= 86400;
        *sec_out = local_to_unix(wall);
        return 0;
    }
    if (parse_datetime(s, 0, &sec, &nsec, &has_zone, &off) != 0)
        return -1;
    *sec_out = has_zone ? sec - off : local_to_unix(sec);
    return 0;
}

void
dt_format_duration(double seconds, char out[24])
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60) {
        snprintf(out, 24, "%.2fs", seconds);
    } else if (seconds < 3600) {
        long s = (long)seconds;
        snprintf(out, 24, "%ldm%02lds", s / 60, s % 60);
    } else {
        long s = (long)seconds;
        snprintf(out, 24, "%ldh%02ldm", s / 3600, s / 60 % 60);
    }
}
