/*
 * backup_run: one backup, start to end — pick the parent snapshot, run each component
 * (files now; the database joins later) through one saver, commit packs and index, and
 * write the snapshot last (DESIGN §4, invariant 1).
 */
#ifndef DRK_SOURCE_BACKUP_RUN_H
#define DRK_SOURCE_BACKUP_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/files_backup.h"

struct repo;
struct snapshot;
struct saver_stats;

struct backup_run_opts {
    const char *type; /* "full", "incremental", "restore_point" */
    const char *const *tags;
    size_t ntags;
    const char *host; /* NULL: this machine's name */
    const char *const *paths;
    size_t npaths;
    const char *const *excludes;
    size_t nexcludes;
    bool one_file_system;
    const char *parent_ref; /* NULL: the latest snapshot of the same host and paths */
    bool has_time;          /* record the snapshot at `time` instead of now */
    int64_t time;
    unsigned threads;
    bool scan_totals;
};

struct backup_progress {
    struct files_progress files;
    struct saver_stats *saver; /* set while the saver runs */
    char parent_name[64];      /* "" if none */
};

/* On success the snapshot is written and described in *out (caller releases it).
 * Returns DRK_EPARTIAL (snapshot written) when some files could not be read. */
int backup_run(struct repo *repo, const struct backup_run_opts *o, struct backup_progress *prog,
               struct snapshot *out);

#endif
