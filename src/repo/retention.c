/* retention: GFS keep-policy over snapshot times. */
#include "repo/retention.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

bool
retention_empty(const struct retention_policy *p)
{
    return p->last <= 0 && p->hourly <= 0 && p->daily <= 0 && p->weekly <= 0 && p->monthly <= 0 &&
           p->yearly <= 0 && p->ntags == 0;
}

static void
civil(int64_t sec, int32_t off, struct tm *tm)
{
    time_t t = (time_t)(sec + off);
    gmtime_r(&t, tm);
}

void
retention_iso_week(int year, int month, int day, int *iso_year, int *week)
{
    /* A week belongs to the year of its Thursday; its number counts Thursdays. */
    struct tm tm;
    time_t t;
    int wday;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = 12;
    t = timegm(&tm);
    gmtime_r(&t, &tm);
    wday = tm.tm_wday == 0 ? 7 : tm.tm_wday; /* Monday 1 .. Sunday 7 */
    t += (time_t)(4 - wday) * 86400;
    gmtime_r(&t, &tm);
    *iso_year = tm.tm_year + 1900;
    *week = tm.tm_yday / 7 + 1;
}

enum { B_HOUR, B_DAY, B_WEEK, B_MONTH, B_YEAR, B_KINDS };

static int64_t
bucket(const struct retention_item *it, int kind)
{
    struct tm tm;
    int y, w;
    civil(it->sec, it->off, &tm);
    y = tm.tm_year + 1900;
    switch (kind) {
    case B_HOUR:
        return (((int64_t)y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
    case B_DAY:
        return ((int64_t)y * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
    case B_WEEK:
        retention_iso_week(y, tm.tm_mon + 1, tm.tm_mday, &y, &w);
        return (int64_t)y * 100 + w;
    case B_MONTH:
        return (int64_t)y * 100 + tm.tm_mon + 1;
    default:
        return y;
    }
}

/* Append "word n" (n > 0) or "word" to the item's reasons and keep it. */
static void
add_reason(struct retention_item *it, const char *word, int n)
{
    size_t len = strlen(it->reasons);
    if (n > 0)
        snprintf(it->reasons + len, sizeof(it->reasons) - len, "%s%s %d", len ? ", " : "", word, n);
    else
        snprintf(it->reasons + len, sizeof(it->reasons) - len, "%s%s", len ? ", " : "", word);
    it->keep = true;
}

void
retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n)
{
    static const char *names[B_KINDS] = { "hourly", "daily", "weekly", "monthly", "yearly" };
    int want[B_KINDS] = { p->hourly, p->daily, p->weekly, p->monthly, p->yearly };
    int got[B_KINDS] = { 0 };
    int64_t last[B_KINDS];
    bool seen[B_KINDS] = { false };

    for (size_t i = 0; i < n; i++) {
        items[i].keep = false;
        items[i].reasons[0] = '\0';
    }
    for (size_t i = 0; i < n; i++) {
        struct retention_item *it = &items[i];
        if ((int)i < p->last)
            add_reason(it, "last", (int)i + 1);
        for (int k = 0; k < B_KINDS; k++) {
            int64_t b;
            if (want[k] <= 0 || got[k] >= want[k])
                continue;
            b = bucket(it, k);
            if (seen[k] && b == last[k])
                continue;
            seen[k] = true;
            last[k] = b;
            got[k]++;
            add_reason(it, names[k], got[k]);
        }
        for (size_t t = 0; t < p->ntags; t++) {
            for (size_t k = 0; k < it->ntags; k++) {
                if (!strcmp(p->tags[t], it->tags[k])) {
                    char word[64];
                    snprintf(word, sizeof(word), "tag %s", p->tags[t]);
                    add_reason(it, word, 0);
                    break; /* once per policy tag, however often the snapshot carries it */
                }
            }
        }
        if (it->restore_point)
            add_reason(it, "restore point", 0);
    }
}
