/*
 * test_retention: the GFS keep-policy (src/repo/retention.c), checked against its specification
 * (restic/borg semantics), never against the implementation. The expected results below are
 * worked out by hand; a deliberately naive reference (strftime bucket keys, one linear scan) is
 * checked against every hand-written table and then used to check random histories.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repo/retention.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* UTC offsets used below, in seconds */
#define OFF_UTC  0
#define OFF_CET  3600   /* Europe/Berlin, winter */
#define OFF_CEST 7200   /* Europe/Berlin, summer */
#define OFF_IST  19800  /* Asia/Kolkata, +05:30 */
#define OFF_EST  -18000 /* America/New_York, winter */

#define NTAGS_MAX 4
#define NSNAP_MAX 24

static unsigned long n_checks; /* every comparison made, reported at the end */

/* ---- time helpers ---- */

static int64_t
civil(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { 0 };

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

/* Unix time of the wall time "YYYY-MM-DD HH:MM[:SS]" read in a zone at UTC offset off. */
static int64_t
wall_to_sec(const char *s, int32_t off)
{
    int y, mo, d, h, mi, sec = 0;

    if (sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &sec) < 5)
        fail_msg("bad time in a table: '%s'", s);
    return civil(y, mo, d, h, mi, sec) - off;
}

/* "2024-03-31T03:00:00+02:00": an item as its own zone shows it (for messages). */
static void
describe(const struct retention_item *it, char out[48])
{
    time_t t = (time_t)(it->sec + it->off);
    struct tm tm;
    char wall[32];
    int32_t a = it->off < 0 ? -it->off : it->off;

    gmtime_r(&t, &tm);
    strftime(wall, sizeof(wall), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 48, "%s%c%02d:%02d", wall, it->off < 0 ? '-' : '+', (int)(a / 3600),
             (int)(a % 3600 / 60));
}

/* ---- the reference: the specification read literally, as naively as possible ---- */

enum { R_HOURLY, R_DAILY, R_WEEKLY, R_MONTHLY, R_YEARLY, R_N };
static const char *const ref_name[R_N] = { "hourly", "daily", "weekly", "monthly", "yearly" };

static void
ref_bucket(const struct retention_item *it, int rule, char out[32])
{
    time_t t = (time_t)(it->sec + it->off); /* local time, read as if it were UTC */
    struct tm tm;

    gmtime_r(&t, &tm);
    switch (rule) {
    case R_HOURLY:
        strftime(out, 32, "%Y-%m-%d %H", &tm);
        break;
    case R_DAILY:
        strftime(out, 32, "%Y-%m-%d", &tm);
        break;
    case R_WEEKLY:
        strftime(out, 32, "%G-W%V", &tm); /* ISO 8601 week */
        break;
    case R_MONTHLY:
        strftime(out, 32, "%Y-%m", &tm);
        break;
    default:
        strftime(out, 32, "%Y", &tm);
        break;
    }
}

static void
ref_add(char out[RETENTION_REASONS_MAX], const char *what, const char *arg)
{
    size_t len = strlen(out);

    snprintf(out + len, RETENTION_REASONS_MAX - len, "%s%s%s%s", len ? ", " : "", what,
             arg ? " " : "", arg ? arg : "");
}

static bool
has_tag(const struct retention_item *it, const char *tag)
{
    for (size_t j = 0; j < it->ntags; j++)
        if (strcmp(it->tags[j], tag) == 0)
            return true;
    return false;
}

static void
ref_apply(const struct retention_policy *p, const struct retention_item *items, size_t n,
          char (*out)[RETENTION_REASONS_MAX])
{
    const int count[R_N] = { p->hourly, p->daily, p->weekly, p->monthly, p->yearly };
    int used[R_N] = { 0 };
    char prev[R_N][32] = { "" }; /* bucket of the previous snapshot this rule considered */
    char num[16], b[32];

    for (size_t i = 0; i < n; i++) {
        out[i][0] = '\0';
        if (p->last > 0 && i < (size_t)p->last) {
            snprintf(num, sizeof(num), "%zu", i + 1);
            ref_add(out[i], "last", num);
        }
        for (int r = 0; r < R_N; r++) {
            if (used[r] >= count[r])
                continue;
            ref_bucket(&items[i], r, b);
            if (strcmp(b, prev[r]) != 0) {
                used[r]++;
                snprintf(num, sizeof(num), "%d", used[r]);
                ref_add(out[i], ref_name[r], num);
            }
            snprintf(prev[r], sizeof(prev[r]), "%s", b);
        }
        for (size_t t = 0; t < p->ntags; t++)
            if (has_tag(&items[i], p->tags[t]))
                ref_add(out[i], "tag", p->tags[t]);
        if (items[i].restore_point)
            ref_add(out[i], "restore point", NULL);
    }
}

/* ---- running a case ---- */

/* Outputs the implementation must overwrite. */
static void
poison(struct retention_item *it)
{
    it->keep = true;
    memset(it->reasons, 'Z', sizeof(it->reasons) - 1);
    it->reasons[sizeof(it->reasons) - 1] = '\0';
}

/* Compare every item with its expected reasons; report every difference, then fail. */
static void
check_items(const char *name, const struct retention_item *items, size_t n,
            char (*want)[RETENTION_REASONS_MAX])
{
    size_t bad = 0;
    char at[48];

    for (size_t i = 0; i < n; i++) {
        bool keep = want[i][0] != '\0';
        const char *got = memchr(items[i].reasons, '\0', sizeof(items[i].reasons))
                              ? items[i].reasons
                              : "(not terminated)";
        n_checks += 2;
        if (items[i].keep != keep || strcmp(got, want[i]) != 0) {
            describe(&items[i], at);
            print_error("%s: item %zu (%s): got keep=%d \"%s\", want keep=%d \"%s\"\n", name, i, at,
                        items[i].keep, got, keep, want[i]);
            bad++;
        }
    }
    if (bad)
        fail_msg("%s: %zu of %zu items differ from the specification", name, bad, n);
}

/* The hand tables are also the reference's test: they must agree exactly. */
static void
check_reference(const char *name, const struct retention_policy *p,
                const struct retention_item *items, size_t n, char (*want)[RETENTION_REASONS_MAX])
{
    char(*ref)[RETENTION_REASONS_MAX] = xcalloc(n + 1, sizeof(*ref));

    ref_apply(p, items, n, ref);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ref[i], want[i]) != 0)
            fail_msg("%s: item %zu: the test's reference says \"%s\", its table \"%s\"", name, i,
                     ref[i], want[i]);
    free(ref);
}

struct snap {
    const char *at;              /* wall time on the snapshot's machine */
    int32_t off;                 /* that machine's UTC offset at that instant */
    bool rp;                     /* restore point */
    const char *tags[NTAGS_MAX]; /* NULL-terminated */
    const char *want;            /* expected reasons; "" = not kept */
};

struct policy_spec {
    int last, hourly, daily, weekly, monthly, yearly;
    const char *tags[NTAGS_MAX]; /* NULL-terminated */
};

struct apply_case {
    const char *name;
    struct policy_spec pol;
    struct snap snaps[NSNAP_MAX]; /* newest first; ends at the first at == NULL */
};

static size_t
count_tags(const char *const *tags)
{
    size_t n = 0;

    while (n < NTAGS_MAX && tags[n])
        n++;
    return n;
}

static void
run_case(const struct apply_case *c)
{
    struct retention_policy p = { c->pol.last,   c->pol.hourly,          c->pol.daily,
                                  c->pol.weekly, c->pol.monthly,         c->pol.yearly,
                                  c->pol.tags,   count_tags(c->pol.tags) };
    struct retention_item items[NSNAP_MAX];
    char want[NSNAP_MAX][RETENTION_REASONS_MAX];
    size_t n = 0;

    for (; n < NSNAP_MAX && c->snaps[n].at; n++) {
        const struct snap *s = &c->snaps[n];
        struct retention_item *it = &items[n];

        memset(it, 0, sizeof(*it));
        it->sec = wall_to_sec(s->at, s->off);
        it->off = s->off;
        it->restore_point = s->rp;
        it->tags = s->tags;
        it->ntags = count_tags(s->tags);
        poison(it);
        snprintf(want[n], sizeof(want[n]), "%s", s->want);
        if (n > 0 && it->sec > items[n - 1].sec)
            fail_msg("%s: table not sorted newest first at item %zu", c->name, n);
    }
    check_reference(c->name, &p, items, n, want);
    retention_apply(&p, items, n);
    check_items(c->name, items, n, want);
}

static void
run_cases(const struct apply_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i]);
}

/* ---- 1. the guide's policy over a year of Europe/Berlin history ---- */

/*
 * Every day of 2024 a daily at 02:00 local time, every Sunday a weekly full at 03:00, on the
 * 1st of every month a monthly at 04:00. Berlin is CET (+01:00) except from 2024-03-31 01:00Z
 * to 2024-10-27 01:00Z (CEST, +02:00). On 2024-03-31 02:00 does not exist: the daily runs at
 * the instant 02:00 CET would be, 01:00Z = 03:00 CEST (as cron and mktime do), the same
 * instant as that Sunday's full; the full is listed first. On 2024-10-27 02:00 happens twice:
 * the daily runs at the first one (CEST). The newest snapshot is the daily of 2024-12-31
 * 02:00 +01:00 (a Tuesday); "now" is after it. 366 + 52 + 12 = 430 snapshots.
 */
#define GFS_MAX 440

struct gfs_snap {
    int64_t sec;
    int32_t off;
    int mon, day, hour; /* nominal local schedule */
    char kind;          /* 'D'aily, 'W'eekly full, 'M'onthly */
};

static int32_t
berlin_off(int64_t utc)
{
    return utc >= civil(2024, 3, 31, 1, 0, 0) && utc < civil(2024, 10, 27, 1, 0, 0) ? OFF_CEST
                                                                                    : OFF_CET;
}

/* A 2024 wall time in Berlin: the instant and the offset then. */
static int64_t
berlin_sec(int mo, int d, int h, int32_t *off)
{
    int64_t wall = civil(2024, mo, d, h, 0, 0);

    if (berlin_off(wall - OFF_CEST) == OFF_CEST) { /* summer time (first of a repeated hour) */
        *off = OFF_CEST;
        return wall - OFF_CEST;
    }
    if (berlin_off(wall - OFF_CET) == OFF_CET) {
        *off = OFF_CET;
        return wall - OFF_CET;
    }
    *off = OFF_CEST; /* the skipped hour: read with winter time, shown as summer time */
    return wall - OFF_CET;
}

static void
gfs_push(struct gfs_snap *s, size_t *n, int mo, int d, int h, char kind)
{
    assert_true(*n < GFS_MAX);
    s[*n].sec = berlin_sec(mo, d, h, &s[*n].off);
    s[*n].mon = mo;
    s[*n].day = d;
    s[*n].hour = h;
    s[*n].kind = kind;
    (*n)++;
}

static int
gfs_newest_first(const void *a, const void *b)
{
    const struct gfs_snap *x = a, *y = b;

    if (x->sec != y->sec)
        return x->sec < y->sec ? 1 : -1;
    return y->hour - x->hour; /* same instant: the later schedule first */
}

static size_t
gfs_history(struct gfs_snap *s)
{
    size_t n = 0;

    for (int64_t t = civil(2024, 1, 1, 0, 0, 0); t < civil(2025, 1, 1, 0, 0, 0); t += 86400) {
        time_t tt = (time_t)t;
        struct tm tm;

        gmtime_r(&tt, &tm);
        gfs_push(s, &n, tm.tm_mon + 1, tm.tm_mday, 2, 'D');
        if (tm.tm_wday == 0)
            gfs_push(s, &n, tm.tm_mon + 1, tm.tm_mday, 3, 'W');
        if (tm.tm_mday == 1)
            gfs_push(s, &n, tm.tm_mon + 1, tm.tm_mday, 4, 'M');
    }
    qsort(s, n, sizeof(*s), gfs_newest_first);
    return n;
}

/* The offsets above against the system's tz database, where it is installed. */
static void
gfs_check_offsets_with_tzdata(const struct gfs_snap *s, size_t n)
{
    char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;

    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
        free(old);
        return;
    }
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    for (size_t i = 0; i < n; i++) {
        time_t t = (time_t)s[i].sec;
        struct tm tm;
        int hour = s[i].mon == 3 && s[i].day == 31 && s[i].kind == 'D' ? 3 : s[i].hour;

        localtime_r(&t, &tm);
        n_checks++;
        if (tm.tm_gmtoff != s[i].off || tm.tm_mon + 1 != s[i].mon || tm.tm_mday != s[i].day ||
            tm.tm_hour != hour)
            fail_msg("snapshot %zu (%c %02d-%02d): tzdata says %02d-%02d %02d:00 %+ld", i,
                     s[i].kind, s[i].mon, s[i].day, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     (long)tm.tm_gmtoff);
    }
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

struct gfs_kept {
    int mon, day;
    char kind;
    const char *want;
};

/* History up to 2024-12-31 02:00 +01:00. */
static const struct gfs_kept gfs_kept_year[] = {
    { 12, 31, 'D', "daily 1, weekly 1, monthly 1" }, /* Tue, 2025-W01 */
    { 12, 30, 'D', "daily 2" },                      /* Mon, 2025-W01 */
    { 12, 29, 'W', "daily 3, weekly 2" },            /* Sun, 2024-W52: the full is newer */
    { 12, 28, 'D', "daily 4" },
    { 12, 27, 'D', "daily 5" },
    { 12, 26, 'D', "daily 6" },
    { 12, 25, 'D', "daily 7" },
    { 12, 22, 'W', "weekly 3" }, /* 2024-W51 */
    { 12, 15, 'W', "weekly 4" }, /* 2024-W50 */
    { 11, 30, 'D', "monthly 2" },
    { 10, 31, 'D', "monthly 3" },
    { 9, 30, 'D', "monthly 4" },
    { 8, 31, 'D', "monthly 5" },
    { 7, 31, 'D', "monthly 6" },
    { 6, 30, 'W', "monthly 7" }, /* a Sunday */
    { 5, 31, 'D', "monthly 8" },
    { 4, 30, 'D', "monthly 9" },
    { 3, 31, 'W', "monthly 10" }, /* a Sunday; ties with that day's daily, listed first */
    { 2, 29, 'D', "monthly 11" },
    { 1, 31, 'D', "monthly 12" },
};

/* History up to 2024-10-29 02:00 +01:00 (the Tuesday after the change back to CET). */
static const struct gfs_kept gfs_kept_october[] = {
    { 10, 29, 'D', "daily 1, weekly 1, monthly 1" }, /* 2024-W44 */
    { 10, 28, 'D', "daily 2" },
    { 10, 27, 'W', "daily 3, weekly 2" }, /* 03:00 CET, after the daily at 02:00 CEST */
    { 10, 26, 'D', "daily 4" },
    { 10, 25, 'D', "daily 5" },
    { 10, 24, 'D', "daily 6" },
    { 10, 23, 'D', "daily 7" },
    { 10, 20, 'W', "weekly 3" },
    { 10, 13, 'W', "weekly 4" },
    { 9, 30, 'D', "monthly 2" },
    { 8, 31, 'D', "monthly 3" },
    { 7, 31, 'D', "monthly 4" },
    { 6, 30, 'W', "monthly 5" },
    { 5, 31, 'D', "monthly 6" },
    { 4, 30, 'D', "monthly 7" },
    { 3, 31, 'W', "monthly 8" },
    { 2, 29, 'D', "monthly 9" },
    { 1, 31, 'D', "monthly 10" }, /* only 10 months exist: all kept */
};

static void
gfs_run(const char *name, const struct gfs_snap *s, size_t n, const struct gfs_kept *kept,
        size_t nkept)
{
    static const struct retention_policy p = { .daily = 7, .weekly = 4, .monthly = 12 };
    struct retention_item *items = xcalloc(n + 1, sizeof(*items));
    char(*want)[RETENTION_REASONS_MAX] = xcalloc(n + 1, sizeof(*want));

    for (size_t i = 0; i < n; i++) {
        items[i].sec = s[i].sec;
        items[i].off = s[i].off;
        poison(&items[i]);
    }
    for (size_t k = 0; k < nkept; k++) {
        size_t found = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i].mon == kept[k].mon && s[i].day == kept[k].day && s[i].kind == kept[k].kind) {
                snprintf(want[i], sizeof(want[i]), "%s", kept[k].want);
                found++;
            }
        }
        if (found != 1)
            fail_msg("%s: expected snapshot %c %02d-%02d found %zu times", name, kept[k].kind,
                     kept[k].mon, kept[k].day, found);
    }
    check_reference(name, &p, items, n, want);
    retention_apply(&p, items, n);
    check_items(name, items, n, want);
    free(want);
    free(items);
}

static void
test_retention__gfs_year_in_berlin(void **state)
{
    struct gfs_snap *s = xcalloc(GFS_MAX, sizeof(*s));
    size_t n = gfs_history(s), first, i;

    assert_int_equal(n, 430);
    assert_true(s[0].mon == 12 && s[0].day == 31 && s[0].kind == 'D' && s[0].off == OFF_CET);
    gfs_check_offsets_with_tzdata(s, n);
    gfs_run("year 2024", s, n, gfs_kept_year, ARRAY_LEN(gfs_kept_year));

    /* "now" just after 2024-10-29 02:00 +01:00 */
    for (first = 0; first < n; first++)
        if (s[first].mon == 10 && s[first].day == 29 && s[first].kind == 'D')
            break;
    assert_true(first < n);
    gfs_run("up to 2024-10-29", s + first, n - first, gfs_kept_october,
            ARRAY_LEN(gfs_kept_october));

    /* the tie on 2024-03-31 in the other order: the daily is then the month's newest */
    for (i = 0; i + 1 < n; i++)
        if (s[i].mon == 3 && s[i].day == 31 && s[i].kind == 'W')
            break;
    assert_true(i + 1 < n && s[i + 1].mon == 3 && s[i + 1].day == 31 && s[i + 1].kind == 'D');
    assert_true(s[i].sec == s[i + 1].sec && s[i].sec == civil(2024, 3, 31, 1, 0, 0));
    {
        struct gfs_snap tmp = s[i];
        struct gfs_kept swapped[ARRAY_LEN(gfs_kept_year)];

        s[i] = s[i + 1];
        s[i + 1] = tmp;
        memcpy(swapped, gfs_kept_year, sizeof(swapped));
        for (size_t k = 0; k < ARRAY_LEN(swapped); k++)
            if (swapped[k].mon == 3)
                swapped[k].kind = 'D';
        gfs_run("year 2024, tie swapped", s, n, swapped, ARRAY_LEN(swapped));
    }
    free(s);
}

/* ---- 2. month and year boundaries in the snapshot's own zone ---- */

static const struct apply_case boundary_cases[] = {
    { "new year in Berlin",
      { .monthly = 3, .yearly = 2 },
      {
          { "2024-02-01 00:10", OFF_CET, false, { NULL }, "monthly 1, yearly 1" },
          { "2024-01-31 23:50", OFF_CET, false, { NULL }, "monthly 2" },
          /* 2023-12-31 23:30Z, but January and 2024 in its own zone */
          { "2024-01-01 00:30", OFF_CET, false, { NULL }, "" },
          { "2023-12-31 23:30", OFF_CET, false, { NULL }, "monthly 3, yearly 2" },
          { "2023-12-31 00:30", OFF_CET, false, { NULL }, "" },
          { "2023-11-30 23:30", OFF_CET, false, { NULL }, "" },
          { "2022-12-31 23:59", OFF_CET, false, { NULL }, "" },
      } },
    { "new year in New York",
      { .monthly = 3, .yearly = 2 },
      {
          { "2024-01-01 00:30", OFF_EST, false, { NULL }, "monthly 1, yearly 1" },
          /* 2024-01-01 04:30Z, but December and 2023 in its own zone */
          { "2023-12-31 23:30", OFF_EST, false, { NULL }, "monthly 2, yearly 2" },
          { "2023-12-31 19:30", OFF_EST, false, { NULL }, "" },
          { "2023-12-01 00:00", OFF_EST, false, { NULL }, "" },
          { "2023-11-30 23:59", OFF_EST, false, { NULL }, "monthly 3" },
          { "2023-11-01 00:00", OFF_EST, false, { NULL }, "" },
          { "2022-06-15 12:00", OFF_EST, false, { NULL }, "" },
      } },
    { "years far apart and before 1970",
      { .yearly = 4 },
      {
          { "2024-06-01 12:00", OFF_UTC, false, { NULL }, "yearly 1" },
          { "1999-12-31 23:59", OFF_UTC, false, { NULL }, "yearly 2" },
          { "1970-01-01 00:30", OFF_CET, false, { NULL }, "yearly 3" }, /* sec = -1800 */
          { "1969-12-31 23:00", OFF_UTC, false, { NULL }, "yearly 4" }, /* sec = -3600 */
          { "1969-01-01 00:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "days before 1970",
      { .daily = 3 },
      {
          { "1970-01-01 00:30", OFF_UTC, false, { NULL }, "daily 1" },
          { "1969-12-31 23:30", OFF_UTC, false, { NULL }, "daily 2" }, /* sec = -1800 */
          { "1969-12-31 00:30", OFF_UTC, false, { NULL }, "" },
          { "1969-12-30 23:59", OFF_UTC, false, { NULL }, "daily 3" },
      } },
    /* a bucket is the whole hour/day/week/month, not just its number */
    { "same hour of another day",
      { .hourly = 3 },
      {
          { "2024-05-02 10:00", OFF_UTC, false, { NULL }, "hourly 1" },
          { "2024-05-01 10:30", OFF_UTC, false, { NULL }, "hourly 2" },
          { "2024-05-01 10:00", OFF_UTC, false, { NULL }, "" },
          { "2024-04-30 10:59", OFF_UTC, false, { NULL }, "hourly 3" },
      } },
    { "same day of another month",
      { .daily = 2 },
      {
          { "2024-05-01 12:00", OFF_UTC, false, { NULL }, "daily 1" },
          { "2024-04-01 12:00", OFF_UTC, false, { NULL }, "daily 2" },
          { "2024-04-01 11:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "same week number of another year",
      { .weekly = 2 },
      {
          { "2024-05-15 12:00", OFF_UTC, false, { NULL }, "weekly 1" }, /* 2024-W20 */
          { "2023-05-17 12:00", OFF_UTC, false, { NULL }, "weekly 2" }, /* 2023-W20 */
          { "2023-05-16 12:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "same month of another year",
      { .monthly = 2 },
      {
          { "2024-05-15 12:00", OFF_UTC, false, { NULL }, "monthly 1" },
          { "2023-05-15 12:00", OFF_UTC, false, { NULL }, "monthly 2" },
          { "2023-05-01 12:00", OFF_UTC, false, { NULL }, "" },
      } },
};

static void
test_retention__month_and_year_boundaries(void **state)
{
    run_cases(boundary_cases, ARRAY_LEN(boundary_cases));
}

/* ---- 3. hourly buckets on the DST change days in Berlin ---- */

static const struct apply_case dst_cases[] = {
    { "2024-03-31: 02:00 CET jumps to 03:00 CEST",
      { .hourly = 6, .daily = 2 },
      {
          { "2024-03-31 05:00", OFF_CEST, false, { NULL }, "hourly 1, daily 1" }, /* 03:00Z */
          { "2024-03-31 04:30", OFF_CEST, false, { NULL }, "hourly 2" },
          { "2024-03-31 04:00", OFF_CEST, false, { NULL }, "" },
          { "2024-03-31 03:30", OFF_CEST, false, { NULL }, "hourly 3" },
          { "2024-03-31 03:00", OFF_CEST, false, { NULL }, "" }, /* 01:00Z */
          { "2024-03-31 01:30", OFF_CET, false, { NULL }, "hourly 4" },
          { "2024-03-31 01:00", OFF_CET, false, { NULL }, "" },
          { "2024-03-31 00:30", OFF_CET, false, { NULL }, "hourly 5" }, /* 03-30 23:30Z */
          { "2024-03-31 00:00", OFF_CET, false, { NULL }, "" },
          { "2024-03-30 23:30", OFF_CET, false, { NULL }, "hourly 6, daily 2" },
          { "2024-03-30 23:00", OFF_CET, false, { NULL }, "" },
          { "2024-03-30 22:30", OFF_CET, false, { NULL }, "" },
      } },
    { "2024-10-27: 03:00 CEST falls back to 02:00 CET",
      { .hourly = 6, .daily = 2 },
      {
          { "2024-10-27 04:00", OFF_CET, false, { NULL }, "hourly 1, daily 1" }, /* 03:00Z */
          { "2024-10-27 03:30", OFF_CET, false, { NULL }, "hourly 2" },
          { "2024-10-27 03:00", OFF_CET, false, { NULL }, "" },
          { "2024-10-27 02:30", OFF_CET, false, { NULL }, "hourly 3" }, /* 01:30Z */
          { "2024-10-27 02:00", OFF_CET, false, { NULL }, "" },         /* 01:00Z */
          /* the first 02:xx, an hour earlier in UTC: the same local-hour bucket */
          { "2024-10-27 02:30", OFF_CEST, false, { NULL }, "" }, /* 00:30Z */
          { "2024-10-27 02:00", OFF_CEST, false, { NULL }, "" }, /* 00:00Z */
          { "2024-10-27 01:30", OFF_CEST, false, { NULL }, "hourly 4" },
          { "2024-10-27 01:00", OFF_CEST, false, { NULL }, "" },
          { "2024-10-27 00:30", OFF_CEST, false, { NULL }, "hourly 5" },
          { "2024-10-27 00:00", OFF_CEST, false, { NULL }, "" }, /* 10-26 22:00Z */
          { "2024-10-26 23:30", OFF_CEST, false, { NULL }, "hourly 6, daily 2" },
          { "2024-10-26 23:00", OFF_CEST, false, { NULL }, "" },
          { "2024-10-26 22:30", OFF_CEST, false, { NULL }, "" },
      } },
};

static void
test_retention__dst_change_days(void **state)
{
    run_cases(dst_cases, ARRAY_LEN(dst_cases));
}

/* ---- 4. leap days ---- */

static const struct apply_case leap_cases[] = {
    { "2024-02-29",
      { .daily = 4, .monthly = 3 },
      {
          { "2024-03-01 00:00", OFF_CET, false, { NULL }, "daily 1, monthly 1" }, /* 02-29Z */
          { "2024-02-29 23:59", OFF_CET, false, { NULL }, "daily 2, monthly 2" },
          { "2024-02-29 00:00", OFF_CET, false, { NULL }, "" },
          { "2024-02-28 23:59", OFF_CET, false, { NULL }, "daily 3" },
          { "2024-02-28 12:00", OFF_CET, false, { NULL }, "" },
          { "2024-02-27 12:00", OFF_CET, false, { NULL }, "daily 4" },
          { "2024-01-31 12:00", OFF_CET, false, { NULL }, "monthly 3" },
          { "2023-12-31 12:00", OFF_CET, false, { NULL }, "" },
      } },
    { "2023 has no 02-29",
      { .daily = 3, .monthly = 2 },
      {
          { "2023-03-01 00:30", OFF_CET, false, { NULL }, "daily 1, monthly 1" },
          { "2023-02-28 23:30", OFF_CET, false, { NULL }, "daily 2, monthly 2" },
          { "2023-02-28 00:30", OFF_CET, false, { NULL }, "" },
          { "2023-02-27 23:30", OFF_CET, false, { NULL }, "daily 3" },
      } },
    { "2000 is a leap year",
      { .daily = 3, .monthly = 2 },
      {
          { "2000-03-01 00:30", OFF_UTC, false, { NULL }, "daily 1, monthly 1" },
          { "2000-02-29 23:30", OFF_UTC, false, { NULL }, "daily 2, monthly 2" },
          { "2000-02-29 00:30", OFF_UTC, false, { NULL }, "" },
          { "2000-02-28 23:30", OFF_UTC, false, { NULL }, "daily 3" },
      } },
    { "2100 is not",
      { .daily = 3, .monthly = 2 },
      {
          { "2100-03-01 00:30", OFF_UTC, false, { NULL }, "daily 1, monthly 1" },
          { "2100-02-28 23:30", OFF_UTC, false, { NULL }, "daily 2, monthly 2" },
          { "2100-02-28 00:30", OFF_UTC, false, { NULL }, "" },
          { "2100-02-27 23:30", OFF_UTC, false, { NULL }, "daily 3" },
      } },
};

static void
test_retention__leap_days(void **state)
{
    run_cases(leap_cases, ARRAY_LEN(leap_cases));
}

/* ---- 5. ISO weeks across years ---- */

static const struct apply_case iso_week_cases[] = {
    { "2020-W53 spans the new year",
      { .weekly = 3, .monthly = 2 },
      {
          { "2021-01-04 12:00", OFF_UTC, false, { NULL }, "weekly 1, monthly 1" }, /* 2021-W01 */
          { "2021-01-03 12:00", OFF_UTC, false, { NULL }, "weekly 2" },            /* 2020-W53 */
          { "2021-01-02 12:00", OFF_UTC, false, { NULL }, "" },
          { "2021-01-01 12:00", OFF_UTC, false, { NULL }, "" },
          { "2020-12-31 12:00", OFF_UTC, false, { NULL }, "monthly 2" },
          { "2020-12-28 00:00", OFF_UTC, false, { NULL }, "" },         /* Monday of W53 */
          { "2020-12-27 23:59", OFF_UTC, false, { NULL }, "weekly 3" }, /* 2020-W52 */
          { "2020-12-21 00:00", OFF_UTC, false, { NULL }, "" },
          { "2020-12-20 12:00", OFF_UTC, false, { NULL }, "" }, /* 2020-W51 */
      } },
    { "2024-12-30 is in 2025-W01, but in the year 2024",
      { .weekly = 3, .yearly = 2 },
      {
          { "2025-01-05 12:00", OFF_CET, false, { NULL }, "weekly 1, yearly 1" }, /* 2025-W01 */
          { "2025-01-01 00:30", OFF_CET, false, { NULL }, "" },
          { "2024-12-31 23:30", OFF_CET, false, { NULL }, "yearly 2" },
          { "2024-12-30 00:30", OFF_CET, false, { NULL }, "" },         /* 12-29 23:30Z */
          { "2024-12-29 23:30", OFF_CET, false, { NULL }, "weekly 2" }, /* 2024-W52 */
          { "2024-12-23 00:00", OFF_CET, false, { NULL }, "" },
          { "2024-12-22 23:59", OFF_CET, false, { NULL }, "weekly 3" }, /* 2024-W51 */
          { "2024-12-16 00:00", OFF_CET, false, { NULL }, "" },
          { "2024-12-15 12:00", OFF_CET, false, { NULL }, "" },
      } },
};

static void
test_retention__iso_weeks_across_years(void **state)
{
    run_cases(iso_week_cases, ARRAY_LEN(iso_week_cases));
}

/* ---- 6. keep-last, several a day, tags, restore points, the order of reasons ---- */

static const struct apply_case combined_cases[] = {
    { "keep-last with keep-daily",
      { .last = 2, .daily = 2 },
      {
          { "2024-05-10 18:00", OFF_UTC, false, { NULL }, "last 1, daily 1" },
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "last 2" },
          { "2024-05-10 06:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-09 23:00", OFF_UTC, false, { NULL }, "daily 2" },
          { "2024-05-09 01:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-08 12:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "several a day, a day without any",
      { .daily = 3 },
      {
          { "2024-05-10 23:59", OFF_UTC, false, { NULL }, "daily 1" },
          { "2024-05-10 20:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-10 00:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-09 22:00", OFF_UTC, false, { NULL }, "daily 2" },
          { "2024-05-09 21:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-09 00:01", OFF_UTC, false, { NULL }, "" },
          /* nothing on 05-08: an empty day is not a bucket */
          { "2024-05-07 08:00", OFF_UTC, false, { NULL }, "daily 3" },
          { "2024-05-06 08:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "tags and restore points",
      { .daily = 1, .tags = { "x", "y" } },
      {
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "daily 1" },
          { "2024-05-09 12:00", OFF_UTC, false, { "x" }, "tag x" },
          { "2024-05-08 12:00", OFF_UTC, false, { NULL }, "" },
          { "2023-01-01 12:00", OFF_UTC, false, { "other", "y", "x" }, "tag x, tag y" },
          { "2022-01-01 12:00", OFF_UTC, false, { "z" }, "" },
          { "2021-01-01 12:00", OFF_UTC, false, { "xx", "X", "x " }, "" },
          { "2020-01-01 12:00", OFF_UTC, true, { NULL }, "restore point" },
          { "2010-01-01 12:00", OFF_UTC, true, { "x" }, "tag x, restore point" },
          { "2009-01-01 12:00", OFF_UTC, false, { NULL }, "" },
          /* regression: a tag carried twice gave "tag y, tag y" */
          { "2008-01-01 12:00", OFF_UTC, false, { "y", "y" }, "tag y" },   /* one reason */
          { "1999-01-01 12:00", OFF_UTC, true, { "z" }, "restore point" }, /* the oldest */
      } },
    { "every reason, in order",
      { 1, 1, 1, 1, 1, 1, { "x", "y" } },
      {
          { "2024-05-10 12:00",
            OFF_UTC,
            true,
            { "y", "x" },
            "last 1, hourly 1, daily 1, weekly 1, monthly 1, yearly 1, tag x, tag y, "
            "restore point" },
          { "2024-05-10 11:00", OFF_UTC, false, { NULL }, "" },
          { "2023-05-10 12:00", OFF_UTC, true, { NULL }, "restore point" },
      } },
    { "keep-last counts restore points too",
      { .last = 2 },
      {
          { "2024-05-10 12:00", OFF_UTC, true, { NULL }, "last 1, restore point" },
          { "2024-05-09 12:00", OFF_UTC, false, { NULL }, "last 2" },
          { "2024-05-08 12:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "keep-last beyond the list",
      { .last = 5 },
      {
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "last 1" },
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "last 2" }, /* same instant */
          { "2020-05-08 12:00", OFF_UTC, false, { NULL }, "last 3" },
      } },
};

static void
test_retention__last_tags_and_restore_points(void **state)
{
    run_cases(combined_cases, ARRAY_LEN(combined_cases));
}

/* ---- 7. one repository, machines in different zones ---- */

static const struct apply_case zone_cases[] = {
    { "UTC and +05:30 machines, daily",
      { .daily = 3 },
      {
          { "2024-06-02 00:15", OFF_IST, false, { NULL }, "daily 1" }, /* 06-01 18:45Z */
          { "2024-06-01 18:00", OFF_UTC, false, { NULL }, "daily 2" },
          { "2024-06-01 23:00", OFF_IST, false, { NULL }, "" }, /* 06-01 17:30Z */
          { "2024-06-01 05:00", OFF_IST, false, { NULL }, "" }, /* 05-31 23:30Z */
          { "2024-05-31 23:00", OFF_UTC, false, { NULL }, "daily 3" },
          { "2024-05-31 10:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "+05:30: local hours start at :30 UTC",
      { .hourly = 3 },
      {
          { "2024-06-01 10:59", OFF_IST, false, { NULL }, "hourly 1" }, /* 05:29Z */
          { "2024-06-01 10:00", OFF_IST, false, { NULL }, "" },         /* 04:30Z */
          { "2024-06-01 09:59", OFF_IST, false, { NULL }, "hourly 2" }, /* 04:29Z */
          { "2024-06-01 09:01", OFF_IST, false, { NULL }, "" },
          { "2024-06-01 08:59", OFF_IST, false, { NULL }, "hourly 3" },
          { "2024-06-01 08:30", OFF_IST, false, { NULL }, "" },
      } },
    { "New York and Berlin, monthly",
      { .monthly = 2 },
      {
          { "2024-06-01 00:30", OFF_CEST, false, { NULL }, "monthly 1" }, /* 05-31 22:30Z */
          { "2024-05-31 18:00", -14400, false, { NULL }, "monthly 2" },   /* 22:00Z, EDT */
          { "2024-05-31 23:00", OFF_CEST, false, { NULL }, "" },
          { "2024-04-30 23:00", -14400, false, { NULL }, "" },
      } },
};

static void
test_retention__zones_of_their_own(void **state)
{
    run_cases(zone_cases, ARRAY_LEN(zone_cases));
}

/*
 * Snapshots of two zones interleaved in time so that their local days alternate: the rule
 * counts a bucket each time the bucket differs from the previous snapshot's (restic's
 * algorithm, and the specification's wording).
 */
static const struct apply_case interleaved_cases[] = {
    { "alternating local days",
      { .daily = 5 },
      {
          { "2024-06-02 01:00", OFF_IST, false, { NULL }, "daily 1" }, /* 06-01 19:30Z */
          { "2024-06-01 19:00", OFF_UTC, false, { NULL }, "daily 2" },
          { "2024-06-02 00:20", OFF_IST, false, { NULL }, "daily 3" }, /* 06-01 18:50Z */
          { "2024-06-01 18:00", OFF_UTC, false, { NULL }, "daily 4" },
          { "2024-05-31 12:00", OFF_UTC, false, { NULL }, "daily 5" },
      } },
};

static void
test_retention__interleaved_zones_count_each_change(void **state)
{
    run_cases(interleaved_cases, ARRAY_LEN(interleaved_cases));
}

/* ---- 8. large, zero and negative counts; empty policies and lists ---- */

static const struct apply_case count_cases[] = {
    { "counts larger than the buckets",
      { 50, 50, 50, 50, 50, 50, { NULL } },
      {
          { "2024-05-10 12:00",
            OFF_UTC,
            false,
            { NULL },
            "last 1, hourly 1, daily 1, weekly 1, monthly 1, yearly 1" },
          { "2024-05-10 11:00", OFF_UTC, false, { NULL }, "last 2, hourly 2" },
          { "2024-05-03 11:00", OFF_UTC, false, { NULL }, "last 3, hourly 3, daily 2, weekly 2" },
          { "2023-04-03 11:00",
            OFF_UTC,
            false,
            { NULL },
            "last 4, hourly 4, daily 3, weekly 3, monthly 2, yearly 2" },
      } },
    { "INT_MAX counts",
      { INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX, { NULL } },
      {
          { "2024-05-10 12:00",
            OFF_UTC,
            false,
            { NULL },
            "last 1, hourly 1, daily 1, weekly 1, monthly 1, yearly 1" },
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "last 2" },
      } },
    { "zero and negative counts keep nothing",
      { -2, 0, -1, INT_MIN, 0, -1, { NULL } },
      {
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-09 12:00", OFF_UTC, false, { "x" }, "" },
          { "2024-04-09 12:00", OFF_UTC, true, { NULL }, "restore point" },
          { "2023-04-09 12:00", OFF_UTC, false, { NULL }, "" },
      } },
    { "keep-last 0 with keep-daily",
      { .last = 0, .daily = 2 },
      {
          { "2024-05-10 12:00", OFF_UTC, false, { NULL }, "daily 1" },
          { "2024-05-10 11:00", OFF_UTC, false, { NULL }, "" },
          { "2024-05-09 12:00", OFF_UTC, false, { NULL }, "daily 2" },
      } },
};

static void
test_retention__large_zero_and_negative_counts(void **state)
{
    run_cases(count_cases, ARRAY_LEN(count_cases));
}

static void
test_retention__empty_policy(void **state)
{
    static const char *const tags[] = { "x" };
    static const struct {
        struct retention_policy p;
        bool empty;
    } cases[] = {
        { { 0, 0, 0, 0, 0, 0, NULL, 0 }, true },
        { { -1, -1, -1, -1, -1, -1, NULL, 0 }, true },
        { { INT_MIN, INT_MIN, INT_MIN, INT_MIN, INT_MIN, INT_MIN, NULL, 0 }, true },
        { { 0, 0, 0, 0, 0, 0, tags, 0 }, true }, /* a tag array with no tags in it */
        { { 1, 0, 0, 0, 0, 0, NULL, 0 }, false },
        { { 0, 1, 0, 0, 0, 0, NULL, 0 }, false },
        { { 0, 0, 1, 0, 0, 0, NULL, 0 }, false },
        { { 0, 0, 0, 1, 0, 0, NULL, 0 }, false },
        { { 0, 0, 0, 0, 1, 0, NULL, 0 }, false },
        { { 0, 0, 0, 0, 0, 1, NULL, 0 }, false },
        { { -1, -1, -1, -1, -1, INT_MAX, NULL, 0 }, false },
        { { 0, 0, 0, 0, 0, 0, tags, 1 }, false }, /* tags only */
        { { -1, -1, -1, -1, -1, -1, tags, 1 }, false },
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        n_checks++;
        if (retention_empty(&cases[i].p) != cases[i].empty)
            fail_msg("case %zu: retention_empty should be %d", i, cases[i].empty);
    }
}

static void
test_retention__empty_list(void **state)
{
    static const char *const tags[] = { "x" };
    static const struct retention_policy p = { 1, 1, 1, 1, 1, 1, tags, 1 };
    struct retention_item untouched;

    retention_apply(&p, NULL, 0);
    memset(&untouched, 0, sizeof(untouched));
    untouched.restore_point = true;
    poison(&untouched);
    retention_apply(&p, &untouched, 0);
    n_checks += 2;
    assert_true(untouched.keep);
    assert_int_equal(untouched.reasons[0], 'Z');
}

/* Reasons longer than the buffer (not specified): cut, terminated, nothing else written. */
static void
test_retention__long_reasons_stay_in_the_buffer(void **state)
{
    static const char *const tags[] = {
        "a-tag-of-sixty-characters-----------------------------------1",
        "a-tag-of-sixty-characters-----------------------------------2",
        "a-tag-of-sixty-characters-----------------------------------3",
    };
    static const struct retention_policy p = { 1, 1, 1, 1, 1, 1, tags, 3 };
    struct retention_item items[2];

    memset(items, 0, sizeof(items));
    items[0].sec = civil(2024, 5, 10, 12, 0, 0);
    items[0].restore_point = true;
    items[0].tags = tags;
    items[0].ntags = 3;
    poison(&items[0]);
    items[1].sec = items[0].sec - 60;
    poison(&items[1]);
    retention_apply(&p, items, 1);
    n_checks += 4;
    assert_true(items[0].keep);
    assert_non_null(memchr(items[0].reasons, '\0', sizeof(items[0].reasons)));
    assert_true(strncmp(items[0].reasons, "last 1, hourly 1, daily 1", 25) == 0);
    assert_true(items[1].keep && items[1].reasons[0] == 'Z'); /* beyond n: untouched */
}

/* ---- the reference on random histories (one zone, and machines in several) ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(uint64_t below)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % below;
}

static void
random_rounds(bool mixed_zones, int rounds)
{
    static const int32_t offs[] = { 0,      3600,   7200,  19800, 20700,  -18000,
                                    -14400, -34200, 45900, 50400, -43200, 34200 };
    static const char *const pool[] = { "a", "b", "c" };
    static const uint64_t gaps[] = { 1, 120, 7200, 172800, 3456000 };
    struct retention_item items[64];
    char want[64][RETENTION_REASONS_MAX];
    const char *ptags[3], *itags[64][3];
    char name[64];

    for (int round = 0; round < rounds; round++) {
        struct retention_policy p = { 0 };
        size_t n = (size_t)rnd(64);
        int64_t sec = civil(2024, 6, 1, 0, 0, 0) + (int64_t)rnd(400 * 86400);
        int32_t off = offs[rnd(ARRAY_LEN(offs))];

        p.last = (int)rnd(7) - 1;
        p.hourly = (int)rnd(7) - 1;
        p.daily = (int)rnd(7) - 1;
        p.weekly = (int)rnd(7) - 1;
        p.monthly = (int)rnd(7) - 1;
        p.yearly = (int)rnd(7) - 1;
        for (size_t t = 0; t < 2; t++)
            if (rnd(3) == 0)
                ptags[p.ntags++] = pool[t];
        p.tags = ptags;
        for (size_t i = 0; i < n; i++) {
            struct retention_item *it = &items[i];

            memset(it, 0, sizeof(*it));
            sec -= (int64_t)rnd(gaps[rnd(ARRAY_LEN(gaps))] + 1);
            it->sec = sec;
            it->off = mixed_zones ? offs[rnd(ARRAY_LEN(offs))] : off;
            it->restore_point = rnd(10) == 0;
            for (size_t t = 0; t < ARRAY_LEN(pool); t++)
                if (rnd(6) == 0)
                    itags[i][it->ntags++] = pool[t];
            it->tags = itags[i];
            poison(it);
        }
        ref_apply(&p, items, n, want);
        retention_apply(&p, items, n);
        snprintf(name, sizeof(name), "random %s round %d", mixed_zones ? "mixed zones" : "one zone",
                 round);
        check_items(name, items, n, want);
    }
}

static void
test_retention__random_histories_one_zone(void **state)
{
    random_rounds(false, 2000);
}

static void
test_retention__random_histories_mixed_zones(void **state)
{
    random_rounds(true, 2000);
}

/* ---- 9. retention_iso_week ---- */

static void
test_retention__iso_week_known_dates(void **state)
{
    static const struct {
        int y, m, d, iso_year, week;
    } cases[] = {
        { 2020, 12, 31, 2020, 53 }, { 2021, 1, 1, 2020, 53 },   { 2021, 1, 3, 2020, 53 },
        { 2021, 1, 4, 2021, 1 },    { 2024, 12, 29, 2024, 52 }, { 2024, 12, 30, 2025, 1 },
        { 2024, 12, 31, 2025, 1 },  { 2025, 1, 1, 2025, 1 },    { 2024, 1, 1, 2024, 1 },
        { 2024, 2, 29, 2024, 9 },   { 2008, 12, 29, 2009, 1 },  { 2010, 1, 3, 2009, 53 },
        { 2005, 1, 1, 2004, 53 },   { 2005, 1, 2, 2004, 53 },   { 2005, 1, 3, 2005, 1 },
        { 2026, 12, 31, 2026, 53 }, { 2027, 1, 3, 2026, 53 },   { 2027, 1, 4, 2027, 1 },
        { 2000, 1, 1, 1999, 52 },   { 2000, 1, 3, 2000, 1 },    { 2040, 12, 31, 2041, 1 },
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int iy = -1, w = -1;

        retention_iso_week(cases[i].y, cases[i].m, cases[i].d, &iy, &w);
        n_checks++;
        if (iy != cases[i].iso_year || w != cases[i].week)
            fail_msg("%04d-%02d-%02d: got %d-W%02d, want %d-W%02d", cases[i].y, cases[i].m,
                     cases[i].d, iy, w, cases[i].iso_year, cases[i].week);
    }
}

static void
test_retention__iso_week_matches_strftime(void **state)
{
    char *old = getenv("TZ") ? xstrdup(getenv("TZ")) : NULL;
    int64_t end = civil(2040, 12, 31, 0, 0, 0);
    long days = 0;

    setenv("TZ", "UTC", 1);
    tzset();
    for (int64_t t = civil(2000, 1, 1, 0, 0, 0); t <= end; t += 86400, days++) {
        time_t tt = (time_t)t;
        struct tm tm;
        char s[32];
        int gy, gw, iy = -1, w = -1;

        gmtime_r(&tt, &tm);
        strftime(s, sizeof(s), "%G %V", &tm);
        assert_int_equal(sscanf(s, "%d %d", &gy, &gw), 2);
        retention_iso_week(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, &iy, &w);
        n_checks++;
        if (iy != gy || w != gw)
            fail_msg("%04d-%02d-%02d: got %d-W%02d, strftime says %d-W%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, iy, w, gy, gw);
    }
    assert_int_equal(days, 14976); /* 2000-01-01 .. 2040-12-31 */
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

static int
report_checks(void **state)
{
    print_message("test_retention: %lu checks\n", n_checks);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention__gfs_year_in_berlin),
        cmocka_unit_test(test_retention__month_and_year_boundaries),
        cmocka_unit_test(test_retention__dst_change_days),
        cmocka_unit_test(test_retention__leap_days),
        cmocka_unit_test(test_retention__iso_weeks_across_years),
        cmocka_unit_test(test_retention__last_tags_and_restore_points),
        cmocka_unit_test(test_retention__zones_of_their_own),
        cmocka_unit_test(test_retention__interleaved_zones_count_each_change),
        cmocka_unit_test(test_retention__large_zero_and_negative_counts),
        cmocka_unit_test(test_retention__empty_policy),
        cmocka_unit_test(test_retention__empty_list),
        cmocka_unit_test(test_retention__long_reasons_stay_in_the_buffer),
        cmocka_unit_test(test_retention__random_histories_one_zone),
        cmocka_unit_test(test_retention__random_histories_mixed_zones),
        cmocka_unit_test(test_retention__iso_week_known_dates),
        cmocka_unit_test(test_retention__iso_week_matches_strftime),
    };
    return cmocka_run_group_tests(tests, NULL, report_checks);
}
