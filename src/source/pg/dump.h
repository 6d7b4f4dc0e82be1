/*
 * pgdump: back up PostgreSQL databases into a tree of the repository.
 *
 * One database is read in one REPEATABLE READ transaction whose snapshot is exported:
 * pg_dump --snapshot writes its schema before the data (pre-data), the data section's
 * remainder (sequence values, large objects) and the schema after the data (post-data), and
 * drkit itself runs COPY ... TO STDOUT for each table in that same snapshot. So the whole
 * database is one consistent instant, each table is its own stream (unchanged tables
 * deduplicate from day to day, and one table can be restored alone), and row counts come
 * for free. A big table (64 MiB of heap or more, PostgreSQL 14+) is read by two COPYs at
 * once, each over half of its heap blocks, the second on its own connection in the same
 * snapshot; its file holds the same bytes as one COPY's. Everything streams into the saver:
 * no dump touches the disk. Any failing step, including a child's exit status, fails the
 * backup.
 *
 * Tree: globals.sql (pg_dumpall --globals-only), and per database a directory db0001...
 * holding pre-data.sql, data-extra.sql, post-data.sql and tables/t000001.copy ... (COPY text
 * format). With the physical method, physical/ holds the cluster's data directory
 * (basebackup.h). The manifest (names, columns, rows, sizes) is JSON kept in the snapshot.
 */
#ifndef DRK_SOURCE_PG_DUMP_H
#define DRK_SOURCE_PG_DUMP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "repo/format.h"
#include "source/pg/basebackup.h"

struct repo;
struct saver;
struct pgconn_target;
struct pool;

struct pgdump_progress {
    _Atomic uint64_t tables, tables_total, rows, bytes;
    _Atomic int databases, databases_total;
    struct pgbase_progress physical;
};

enum pgdump_method {
    PGDUMP_LOGICAL = 1,  /* per-database dumps (the default when none is set) */
    PGDUMP_PHYSICAL = 2, /* a base backup of the whole cluster (basebackup.h) */
};

struct pgdump_opts {
    const struct pgconn_target *target;
    const char *const *databases; /* none: every database that allows connections */
    size_t ndatabases;
    const char *const *exclude_tables; /* "schema.table" globs: their data is left out */
    size_t nexclude;
    const char *const *only_tables; /* only these tables' data (a restore point) */
    size_t nonly;
    unsigned methods;       /* PGDUMP_* bits; 0 means logical */
    bool spread_checkpoint; /* physical: the server's paced checkpoint */
    uint64_t max_rate;      /* physical: bytes per second (0: no limit) */
    unsigned ctx;           /* saver context to use */
    unsigned side_ctx;      /* three more (side_ctx .. side_ctx + 2) for pg_dump's sections,
                               pg_dumpall and a big table's second half beside the COPYs;
                               0: none */
    struct pool *seal_pool; /* seals the table streams' chunks (saver_stream_parallel); may
                               be NULL */
};

/* On success *tree is the component's root tree and *manifest (caller decrefs) describes it:
 * {"server_version": "...", "globals": true, "databases": [{"name", "dir", "encoding",
 *  "collate", "ctype", "size", "owner", "tables": [{"schema", "name", "file", "columns": [...],
 *  "rows", "size", "bytes"}]}], "physical": {...} (basebackup.h; only with that method)} */
int pgdump_backup(struct repo *repo, struct saver *saver, const struct pgdump_opts *o,
                  struct pgdump_progress *prog, struct blob_id *tree, json_t **manifest);

#endif
