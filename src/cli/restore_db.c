/* restore_db: databases and tables of a snapshot back into PostgreSQL. */
#include "cli/restore_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "source/backup_run.h"
#include "source/pg/conn.h"
#include "source/pg/restore.h"
#include "source/pg/snapdb.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *const step_names[] = { "schema", "data", "indexes", "swap" };

static void
render(void *arg, char *line, size_t n, double elapsed)
{
    struct pgrestore_progress *p = arg;
    char done[SIZE_FMT_MAX], all[SIZE_FMT_MAX], rate[40], eta[40], rows[32];
    uint64_t bytes = atomic_load(&p->bytes), total = atomic_load(&p->bytes_total);
    int step = atomic_load(&p->step);
    size_format(bytes, done);
    size_format(total, all);
    out_rate(rate, sizeof(rate), bytes, elapsed);
    out_eta(eta, sizeof(eta), bytes, total, elapsed);
    out_count(rows, sizeof(rows), atomic_load(&p->rows));
    snprintf(line, n, "[%02d:%02d] %s: table %llu/%llu, %s rows, %s / %s, %s, %s",
             (int)elapsed / 60, (int)elapsed % 60, step_names[step < 0 || step > 3 ? 0 : step],
             (unsigned long long)atomic_load(&p->tables),
             (unsigned long long)atomic_load(&p->tables_total), rows, done, all, rate, eta);
}

/* A restore point of what is about to be overwritten (the guide's "create restore point"),
 * so that a wrong restore can itself be undone. */
static int
safety_snapshot(struct app *app, const struct pgconn_target *server, const char *db,
                const char *const *tables, size_t ntables, json_t *out)
{
    static const char *const tags[] = { "before-restore" };
    const char *dbs[1] = { db };
    struct backup_run_opts bo;
    struct backup_progress bp;
    struct snapshot snap;
    int r;

    memset(&bo, 0, sizeof(bo));
    memset(&bp, 0, sizeof(bp));
    bo.type = "restore_point";
    bo.tags = tags;
    bo.ntags = 1;
    bo.db = server;
    bo.databases = dbs;
    bo.ndatabases = 1;
    bo.only_tables = tables;
    bo.nonly_tables = ntables;
    bo.threads = app->threads;
    snap_init(&snap);
    r = backup_run(app->repo, &bo, &bp, &snap);
    if (r == 0) {
        json_object_set_new(out, "safety_snapshot", json_string(snap.name));
        if (!app->json && !app->quiet)
            printf("restore point %s saved first (what this restore overwrites)\n", snap.name);
    } else {
        drk_err_wrap(r, "the restore point before the restore failed (nothing was restored; "
                        "--no-safety-snapshot skips it)");
    }
    snap_release(&snap);
    return r;
}

static int
restore_one_database(struct app *app, const struct snapshot *s, const struct restore_db_opts *o,
                     const struct pgconn_target *server, const char *source_db, json_t *out)
{
    struct pgrestore_db_opts po;
    struct pgrestore_progress prog;
    struct pgrestore_db_result res;
    struct progress *pr;
    char *dest = o->target ? pgconn_explicit_dbname(server) : NULL;
    bool exists = false;
    double t0 = dt_monotonic();
    int r;

    memset(&po, 0, sizeof(po));
    memset(&prog, 0, sizeof(prog));
    memset(&res, 0, sizeof(res));
    po.server = server;
    po.source_db = source_db;
    po.dest_db = dest ? dest : source_db;
    po.replace = o->target != NULL || o->force;
    po.threads = app->threads;
    if (!o->target) {
        if ((r = pgrestore_db_exists(server, po.dest_db, &exists)) != 0)
            goto out;
        if (exists && !o->force) {
            r = drk_err_set(DRK_EUSAGE,
                            "database '%s' exists on the live server: add --force to replace "
                            "it (a restore point of it is taken first), or restore into a "
                            "scratch database with --target=NAME",
                            po.dest_db);
            goto out;
        }
        if (exists && o->safety_snapshot &&
            (r = safety_snapshot(app, server, po.dest_db, NULL, 0, out)) != 0)
            goto out;
    }
    pr = progress_start(app->progress, render, &prog);
    r = pgrestore_database(app->repo, s, &po, &prog, &res);
    progress_stop(pr);
    if (r) {
        drk_err_wrap(r, "restoring database '%s' into '%s' (left as it was)", source_db,
                     po.dest_db);
        goto out;
    }
    for (size_t i = 0; i < res.warnings.n; i++)
        log_warn("%s", res.warnings.v[i]);
    {
        json_t *roles = json_array(), *warn = json_array();
        for (size_t i = 0; i < res.roles_created.n; i++)
            json_array_append_new(roles, json_string(res.roles_created.v[i]));
        for (size_t i = 0; i < res.warnings.n; i++)
            json_array_append_new(warn, json_string(res.warnings.v[i]));
        json_array_append_new(
            json_object_get(out, "databases"),
            json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:o, s:o, s:f}", "source", res.source_db,
                      "destination", res.dest_db, "server", o->target ? o->target : "live",
                      "replaced", res.replaced, "tables", (json_int_t)res.tables, "rows",
                      (json_int_t)res.rows, "bytes", (json_int_t)res.bytes, "roles_created", roles,
                      "warnings", warn, "duration", dt_monotonic() - t0));
    }
    if (!app->json && !app->quiet) {
        char rows[32], bytes[SIZE_FMT_MAX], dur[24];
        out_count(rows, sizeof(rows), res.rows);
        size_format(res.bytes, bytes);
        dt_format_duration(dt_monotonic() - t0, dur);
        printf("restored database %s of %s into %s%s%s: %llu tables, %s rows, %s, in %s%s\n",
               res.source_db, s->name, res.dest_db, o->target ? " of target " : "",
               o->target ? o->target : "", (unsigned long long)res.tables, rows, bytes, dur,
               res.replaced ? " (the previous database was replaced)" : "");
        for (size_t i = 0; i < res.roles_created.n; i++)
            printf("created role %s (it was missing)\n", res.roles_created.v[i]);
    }
out:
    pgrestore_db_result_release(&res);
    free(dest);
    return r;
}

static int
restore_tables(struct app *app, const struct snapshot *s, const struct restore_db_opts *o,
               const struct pgconn_target *server, const char *source_db, json_t *out)
{
    struct pgrestore_table_opts po;
    struct pgrestore_progress prog;
    struct pgrestore_tables_result res;
    struct progress *pr;
    char *dest = o->target ? pgconn_explicit_dbname(server) : NULL, **names = NULL;
    json_t *tables = json_array(), *warn = json_array();
    int r;

    memset(&po, 0, sizeof(po));
    memset(&prog, 0, sizeof(prog));
    memset(&res, 0, sizeof(res));
    po.server = server;
    po.source_db = source_db;
    po.dest_db = dest ? dest : source_db;
    po.tables = o->tables;
    po.ntables = o->ntables;
    po.dry_run = o->dry_run;
    po.no_delete = o->no_delete;
    if ((r = pgrestore_resolve_tables(s, source_db, o->tables, o->ntables, &names)) != 0) {
        if (r == DRK_ENOTFOUND) { /* a name the backup lacks is the operator's input */
            char *msg = xstrdup(drk_err_msg());
            r = drk_err_set(DRK_EUSAGE, "%s", msg);
            free(msg);
        }
        goto out;
    }
    if (!o->target && !o->dry_run && o->safety_snapshot &&
        (r = safety_snapshot(app, server, po.dest_db, (const char *const *)names, o->ntables,
                             out)) != 0)
        goto out;
    pr = progress_start(app->progress, render, &prog);
    r = pgrestore_tables(app->repo, s, &po, &prog, &res);
    progress_stop(pr);
    if (r) {
        drk_err_wrap(r, "restoring table(s) into database '%s' (nothing was changed)", po.dest_db);
        goto out;
    }
    for (size_t i = 0; i < res.warnings.n; i++) {
        log_warn("%s", res.warnings.v[i]);
        json_array_append_new(warn, json_string(res.warnings.v[i]));
    }
    if (!app->json && !app->quiet && o->dry_run)
        printf("dry run: nothing was changed in database %s; a restore would do this:\n",
               res.dest_db);
    for (size_t i = 0; i < res.tables.n; i++) {
        const struct pgrestore_table_result *t = &res.tables.v[i];
        json_array_append_new(tables, json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I}",
                                                "schema", t->schema, "name", t->name, "created",
                                                t->created, "inserted", (json_int_t)t->inserted,
                                                "updated", (json_int_t)t->updated, "deleted",
                                                (json_int_t)t->deleted, "kept", (json_int_t)t->kept,
                                                "unchanged", (json_int_t)t->unchanged));
        if (!app->json && !app->quiet)
            printf("%s.%s: %s%llu inserted, %llu updated, %llu deleted, %llu kept (%s), %llu "
                   "unchanged\n",
                   t->schema, t->name, t->created ? "created, " : "",
                   (unsigned long long)t->inserted, (unsigned long long)t->updated,
                   (unsigned long long)t->deleted, (unsigned long long)t->kept,
                   o->no_delete ? "--no-delete" : "referenced by other tables",
                   (unsigned long long)t->unchanged);
    }
    json_object_set_new(out, "database", json_string(res.dest_db));
    json_object_set_new(out, "dry_run", json_boolean(o->dry_run));
    json_object_set(out, "tables", tables);
    json_object_set(out, "warnings", warn);
out:
    for (size_t i = 0; names && i < o->ntables; i++)
        free(names[i]);
    free(names);
    json_decref(tables);
    json_decref(warn);
    pgrestore_tables_result_release(&res);
    free(dest);
    return r;
}

int
restore_db(struct app *app, const struct snapshot *s, const struct restore_db_opts *o, json_t *out)
{
    struct pgconn_target server;
    struct app_db adb;
    const char *names[64];
    size_t n;
    int r;

    memset(&server, 0, sizeof(server));
    if (!s->has_db) {
        r = drk_err_set(DRK_EUSAGE, "snapshot '%s' has no database component", s->name);
        goto out;
    }
    r = o->target ? app_db_target(app, o->target, &server) : app_db_source(app, &server, &adb);
    if (r || (r = repo_load_index(app->repo)) != 0)
        goto out;
    if (o->target) { /* never fall back to the source's name: that may be the live database */
        char *dbname = pgconn_explicit_dbname(&server);
        if (!dbname) {
            r = drk_err_set(DRK_ECONFIG,
                            "[target \"%s\"] conninfo names no dbname: say which "
                            "database restores into it may replace",
                            o->target);
            goto out;
        }
        free(dbname);
    }
    json_object_set_new(out, "safety_snapshot", json_null());
    n = o->database ? (names[0] = o->database, 1) : snapdb_names(s, names, 64);
    if (o->ntables || o->target) {
        if (n > 1) {
            r = drk_err_set(DRK_EUSAGE,
                            "snapshot '%s' holds %zu databases: name one with "
                            "--database=NAME",
                            s->name, n);
            goto out;
        }
    }
    if (o->ntables) {
        r = restore_tables(app, s, o, &server, n ? names[0] : NULL, out);
        goto out;
    }
    json_object_set_new(out, "databases", json_array());
    for (size_t i = 0; i < n && r == 0; i++)
        r = restore_one_database(app, s, o, &server, names[i], out);
out:
    pgconn_target_release(&server);
    return r;
}
