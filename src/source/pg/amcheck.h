/*
 * pgamcheck: is a PostgreSQL database damaged? pg_amcheck (the amcheck extension) reads every
 * heap table, TOAST table and B-tree index of one database, the system catalogs included,
 * through the server's buffer manager, so with data checksums on every page it reads from
 * disk has its checksum verified too. Its reports are kept verbatim; the relations they name
 * are picked out so an operator learns which table to restore.
 *
 * pg_amcheck's exit status: 0 nothing found, 2 corruption reported (or a check query failed,
 * which it counts the same), 1 it could not check (no connection, amcheck not installed).
 */
#ifndef DRK_SOURCE_PG_AMCHECK_H
#define DRK_SOURCE_PG_AMCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct pgconn_target;

/* Can the checks run in the database of connection c? */
enum pgamcheck_state {
    PGAMCHECK_READY,         /* installed, and the user may run its functions */
    PGAMCHECK_NOT_INSTALLED, /* available on the server, no CREATE EXTENSION yet */
    PGAMCHECK_UNAVAILABLE,   /* the server lacks the extension's files (contrib) */
    PGAMCHECK_NO_PRIVILEGE,  /* installed, but verify_heapam/bt_index_check not granted */
};

/* *version: the installed version (or NULL); caller frees. */
int pgamcheck_probe(PGconn *c, enum pgamcheck_state *state, char **version);

struct pgamcheck_opts {
    const struct pgconn_target *target;
    const char *db;
    bool heapallindexed;  /* also check that every heap tuple has its index entries (slow) */
    bool install_missing; /* pg_amcheck --install-missing: CREATE EXTENSION amcheck */
    unsigned jobs;        /* parallel connections, 0 or 1: one */
};

struct pgamcheck_finding {
    char *kind;     /* "heap table", "btree index", ... as pg_amcheck says */
    char *relation; /* "db.schema.name" as pg_amcheck says */
    unsigned reports;
};

struct pgamcheck_result {
    int status;     /* pg_amcheck's exit status, -1 if it was killed */
    char *output;   /* its standard output, verbatim: the reports ("" when none) */
    bool truncated; /* output longer than PGAMCHECK_OUTPUT_MAX: the rest was dropped */
    char *messages; /* its standard error, verbatim (warnings, server notices) */
    double seconds; /* how long it ran */
    struct pgamcheck_finding *findings; /* one per relation named in the reports */
    size_t nfindings;
};

#define PGAMCHECK_OUTPUT_MAX (8u << 20)

/* Run pg_amcheck on one database. Returns 0 when it ran to the end (res->status 0 or 2), else
 * DRK_EIO with its own words; res is filled in both cases and must be released. */
int pgamcheck_run(const struct pgamcheck_opts *o, struct pgamcheck_result *res);
void pgamcheck_result_release(struct pgamcheck_result *res);

/* The table a relation belongs to ("schema.table"): itself for a table, the indexed table for
 * an index, the owner for a TOAST table or its index. relation is "schema.name" (without the
 * database). *out NULL when it cannot be told (the catalog may be what is damaged). */
int pgamcheck_owner_table(PGconn *c, const char *relation, char **out);

#endif
