/*
 * pgrestore: putting a snapshot's database component back into a PostgreSQL server.
 *
 * A whole database is rebuilt under a temporary name (<name>__drkit_restore): missing
 * roles from globals.sql, pre-data.sql through psql, each table's rows by COPY FROM STDIN
 * (several tables at once, one connection each; loaders left without a table help load the
 * big ones, see copysplit.h), data-extra.sql (sequence values, large objects) and
 * post-data.sql (indexes, constraints, triggers). Nothing of the database being built waits
 * for its commits to reach the disk (synchronous_commit off); the swap's commit does. Only
 * when all of it succeeded is an existing database of the destination name swapped out and
 * dropped; any failure — a damaged blob, a psql error — drops the temporary database and
 * leaves the destination as it was.
 *
 * Tables (pgrestore_tables) are reconciled in place in one transaction: the backup's rows
 * go into a temporary table, then rows are deleted, updated and inserted by primary key,
 * so other tables' foreign keys into the restored one survive (no TRUNCATE, no CASCADE);
 * a row that another table still references is kept and counted as such.
 */
#ifndef DRK_SOURCE_PG_RESTORE_H
#define DRK_SOURCE_PG_RESTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/vec.h"

struct repo;
struct snapshot;
struct pgconn_target;

struct pgrestore_progress {
    _Atomic uint64_t tables, tables_total, rows, bytes, bytes_total;
    _Atomic int step; /* 0 schema, 1 data, 2 indexes and constraints, 3 swap */
};

struct pgrestore_db_opts {
    const struct pgconn_target *server; /* where to restore */
    const char *source_db;              /* database of the snapshot; NULL: the only one */
    const char *dest_db;                /* NULL: the same name */
    bool replace;                       /* replace dest_db if it exists (else DRK_EEXIST) */
    unsigned threads;                   /* tables loaded at once */
};

struct pgrestore_db_result {
    char source_db[128], dest_db[128];
    uint64_t tables, rows, bytes;
    bool replaced;
    VEC(char *) roles_created;
    VEC(char *) warnings;
};

int pgrestore_database(struct repo *repo, const struct snapshot *s,
                       const struct pgrestore_db_opts *o, struct pgrestore_progress *prog,
                       struct pgrestore_db_result *res);
void pgrestore_db_result_release(struct pgrestore_db_result *res);
/* Does database `name` exist on the server? */
int pgrestore_db_exists(const struct pgconn_target *server, const char *name, bool *exists);

struct pgrestore_table_opts {
    const struct pgconn_target *server;
    const char *source_db;     /* NULL: the only one */
    const char *dest_db;       /* NULL: the same name */
    const char *const *tables; /* "name" or "schema.name" */
    size_t ntables;
    bool dry_run;   /* do it all, then roll back */
    bool no_delete; /* keep rows the backup does not have */
};

struct pgrestore_table_result {
    char *schema, *name;
    bool created; /* the table did not exist and was created from the backup */
    uint64_t inserted, updated, deleted, kept, unchanged;
};

struct pgrestore_tables_result {
    char source_db[128], dest_db[128];
    VEC(struct pgrestore_table_result) tables;
    VEC(char *) warnings;
};

int pgrestore_tables(struct repo *repo, const struct snapshot *s,
                     const struct pgrestore_table_opts *o, struct pgrestore_progress *prog,
                     struct pgrestore_tables_result *res);
void pgrestore_tables_result_release(struct pgrestore_tables_result *res);

/* Resolve "name" / "schema.name" against the snapshot's manifest of database source_db:
 * *out gets "schema.name" strings (caller frees each and the array). DRK_ENOTFOUND names
 * a table the backup does not have, DRK_EAMBIGUOUS one in several schemas. */
int pgrestore_resolve_tables(const struct snapshot *s, const char *source_db,
                             const char *const *names, size_t n, char ***out);

#endif
