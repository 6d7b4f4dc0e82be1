/*
 * backup_run: one backup, start to end — pick the parent snapshot, run each component
 * (the files of o->paths, then the databases of o->db) through one saver, commit packs and
 * index, and write the snapshot last (DESIGN §4, invariant 1). A failing component fails the
 * whole backup: no snapshot is recorded.
 */
#ifndef DRK_SOURCE_BACKUP_RUN_H
#define DRK_SOURCE_BACKUP_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/files_backup.h"
#include "source/pg/dump.h"

struct pgconn_target;

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
    /* the database component (NULL: none) */
    const struct pgconn_target *db;
    const char *const *databases;
    size_t ndatabases;
    const char *const *exclude_tables;
    size_t nexclude_tables;
    const char *const *only_tables; /* a restore point of some tables only */
    size_t nonly_tables;
    unsigned db_methods;       /* PGDUMP_* bits (source/pg/dump.h); 0: logical */
    bool db_spread_checkpoint; /* physical: the server's paced checkpoint */
    uint64_t db_max_rate;      /* physical: bytes per second (0: no limit) */
};

struct backup_progress {
    struct files_progress files;
    struct pgdump_progress db;
    _Atomic int phase;         /* 0 files, 1 database */
    struct saver_stats *saver; /* set while the saver runs */
    char parent_name[64];      /* "" if none */
};

/* On success the snapshot is written and described in *out (caller releases it).
 * Returns DRK_EPARTIAL (snapshot written) when some files could not be read. */
int backup_run(struct repo *repo, const struct backup_run_opts *o, struct backup_progress *prog,
               struct snapshot *out);

#endif
