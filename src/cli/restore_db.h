/*
 * restore_db: the database part of `drkit backup restore` — whole databases
 * (--database-only) or single tables (--table), into the live server (with a restore point
 * of what is overwritten taken first) or into a configured [target "NAME"].
 */
#ifndef DRK_CLI_RESTORE_DB_H
#define DRK_CLI_RESTORE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct app;
struct snapshot;

struct restore_db_opts {
    const char *target;   /* [target "NAME"] with a conninfo; NULL: the live server */
    const char *database; /* --database=NAME, or NULL */
    const char *const *tables;
    size_t ntables;
    bool force;           /* replace an existing live database */
    bool safety_snapshot; /* a restore point before overwriting live data */
    bool dry_run, no_delete;
};

/* Restore; results are added to `out` (JSON) and, unless quiet/json, printed. */
int restore_db(struct app *app, const struct snapshot *s, const struct restore_db_opts *o,
               json_t *out);

#endif
