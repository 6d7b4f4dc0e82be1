/*
 * retention: which snapshots a keep-policy keeps (GFS, the semantics restic and borg use).
 * Pure computation over times and tags; prune.c acts on the result.
 *
 *   keep-last N     the N newest snapshots
 *   keep-hourly N   the newest snapshot in each of the N newest hours that have snapshots;
 *   keep-daily N    likewise days, ISO weeks (Monday to Sunday), months, years — buckets in
 *   keep-weekly N   the snapshot's own time zone (the offset recorded with its time), counting
 *   keep-monthly N  only buckets that have snapshots, newest first
 *   keep-yearly N
 *   keep-tag T      every snapshot tagged T (repeatable)
 * Restore points are always kept. A policy that keeps nothing by any rule is "empty"; callers
 * must refuse to apply an empty policy (it would remove everything).
 */
#ifndef DRK_REPO_RETENTION_H
#define DRK_REPO_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct retention_policy {
    int last, hourly, daily, weekly, monthly, yearly;
    const char *const *tags;
    size_t ntags;
};

#define RETENTION_REASONS_MAX 160

struct retention_item {
    /* in */
    int64_t sec; /* Unix time */
    int32_t off; /* the snapshot's UTC offset, seconds */
    bool restore_point;
    const char *const *tags;
    size_t ntags;
    /* out */
    bool keep;
    char reasons[RETENTION_REASONS_MAX]; /* "daily 3, monthly 1", "restore point", "" */
};

bool retention_empty(const struct retention_policy *p);
/* Decide keep/remove for every item; items must be sorted newest first (ties: any order). */
void retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n);
/* ISO 8601 week of a civil date: *iso_year and *week (1..53). */
void retention_iso_week(int year, int month, int day, int *iso_year, int *week);

#endif
