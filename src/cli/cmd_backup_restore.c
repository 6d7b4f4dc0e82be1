/* cmd_backup_restore: `drkit backup restore`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "cli/restore_db.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/blob.h"
#include "source/files_restore.h"
#include "source/pg/physrestore.h"
#include "source/pg/snapdb.h"
#include "util/conf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char restore_usage[] =
    "usage: drkit backup restore ID --target=DIR|NAME [--include=PATH]... [--delta [--delete]]\n"
    "                            [--numeric-owner] [--files-only] [--json] [--quiet]\n"
    "       drkit backup restore ID --delta        (in place: original paths under /)\n"
    "       drkit backup restore ID --database-only [--target=NAME | --force]\n"
    "                            [--database=DB] [--no-safety-snapshot]\n"
    "       drkit backup restore ID --table=TABLE... [--target=NAME] [--dry-run]\n"
    "                            [--no-delete] [--database=DB] [--no-safety-snapshot]\n"
    "       drkit backup restore ID --database-only [--physical] --target=DIR|NAME\n"
    "\n"
    "Restores snapshot ID (a name, an id prefix, or latest). An original path /a/b is\n"
    "written to DIR/a/b. NAME may be a [target \"NAME\"] of the config (its 'path').\n"
    "  --include=PATH     restore only PATH (original, absolute) and what is below it\n"
    "  --delta            rewrite only files whose content differs (checked by hashing what\n"
    "                     is on disk); without --target it restores in place\n"
    "  --delete           with --delta: remove files and directories the snapshot does\n"
    "                     not have, inside the restored paths (ransomware leftovers)\n"
    "  --numeric-owner    restore the stored uid/gid even where the names exist here\n"
    "  --files-only       leave the snapshot's database alone\n"
    "\n"
    "Databases (the snapshot's PostgreSQL component):\n"
    "  --database-only    restore the databases only: into the target's database when\n"
    "                     --target=NAME has a conninfo (replaced: it is a scratch one), or into\n"
    "                     the live server of the [source] (an existing database only with\n"
    "                     --force). It is built under a temporary name and swapped in when\n"
    "                     complete: a failure leaves the old one as it was.\n"
    "  --table=TABLE      restore just this table (name or schema.name; repeatable): rows are\n"
    "                     reconciled by primary key in one transaction; rows another table's\n"
    "                     foreign key still references are kept; a missing table is created\n"
    "  --dry-run          with --table: show what would be inserted/updated/deleted, change\n"
    "                     nothing\n"
    "  --no-delete        with --table: keep rows the backup does not have\n"
    "  --database=DB      which database of the snapshot (when it holds several)\n"
    "  --force            replace an existing live database\n"
    "  --no-safety-snapshot  do not take a restore point of the live data first\n"
    "  --physical         restore the snapshot's physical backup (the whole cluster) into a\n"
    "                     new or empty data directory: DIR, or the target's 'data-directory';\n"
    "                     the default when the snapshot holds only a physical backup. Start a\n"
    "                     server on it and it replays the backup's WAL to a consistent state\n"
    "\n"
    "Existing files in the target are replaced. Nothing is ever written through a symlink.\n"
    "Exit 4 if damaged data was found (those files are named and not written).\n";

enum {
    OPT_TARGET = OPT_FIRST_COMMAND_OPTION,
    OPT_INCLUDE,
    OPT_DELTA,
    OPT_NUMERIC,
    OPT_DELETE,
    OPT_FILES_ONLY,
    OPT_DATABASE_ONLY,
    OPT_TABLE,
    OPT_DATABASE,
    OPT_FORCE,
    OPT_NO_SAFETY,
    OPT_DRY_RUN,
    OPT_NO_DELETE,
    OPT_PHYSICAL,
};

struct restore_ctx {
    const char *target;
    VEC(const char *) includes;
    VEC(const char *) tables;
    const char *database;
    bool delta, numeric, delete_extra;
    bool files_only, database_only, force, no_safety, dry_run, no_delete, physical;
    /* another tree than the files (a physical backup's data directory), with its totals */
    const struct blob_id *root;
    uint64_t root_files, root_bytes;
    const char *shown_target; /* named in messages instead of the directory written (staging) */
};

static int
restore_opt(struct app *app, void *arg, int c, const char *val)
{
    struct restore_ctx *rc = arg;
    (void)app;
    switch (c) {
    case OPT_TARGET:
        rc->target = val;
        return 0;
    case OPT_INCLUDE:
        if (val[0] != '/')
            return cli_usage_error(restore_usage,
                                   "--include takes an original absolute path, not '%s'", val);
        vec_push(&rc->includes, val);
        return 0;
    case OPT_DELTA:
        rc->delta = true;
        return 0;
    case OPT_NUMERIC:
        rc->numeric = true;
        return 0;
    case OPT_DELETE:
        rc->delete_extra = true;
        return 0;
    case OPT_FILES_ONLY:
        rc->files_only = true;
        return 0;
    case OPT_DATABASE_ONLY:
        rc->database_only = true;
        return 0;
    case OPT_TABLE:
        vec_push(&rc->tables, val);
        return 0;
    case OPT_DATABASE:
        rc->database = val;
        return 0;
    case OPT_FORCE:
        rc->force = true;
        return 0;
    case OPT_NO_SAFETY:
        rc->no_safety = true;
        return 0;
    case OPT_DRY_RUN:
        rc->dry_run = true;
        return 0;
    case OPT_NO_DELETE:
        rc->no_delete = true;
        return 0;
    case OPT_PHYSICAL:
        rc->physical = true;
        return 0;
    }
    return cli_usage_error(restore_usage, "unknown option");
}

static void
render(void *arg, char *line, size_t n, double elapsed)
{
    struct restore_progress *p = arg;
    char files[32], total[32], done[SIZE_FMT_MAX], all[SIZE_FMT_MAX], rate[40], eta[40];
    uint64_t bytes = atomic_load(&p->bytes), btotal = atomic_load(&p->bytes_total);
    out_count(files, sizeof(files), atomic_load(&p->files));
    out_count(total, sizeof(total), atomic_load(&p->files_total));
    size_format(bytes, done);
    size_format(btotal, all);
    out_rate(rate, sizeof(rate), bytes, elapsed);
    out_eta(eta, sizeof(eta), bytes, btotal, elapsed);
    if (btotal)
        snprintf(line, n, "[%02d:%02d] %s / %s files, %s / %s, %s, %s", (int)elapsed / 60,
                 (int)elapsed % 60, files, total, done, all, rate, eta);
    else
        snprintf(line, n, "[%02d:%02d] %s files, %s, %s", (int)elapsed / 60, (int)elapsed % 60,
                 files, done, rate);
}

/* The files of the snapshot into target_abs; results into out. */
static int
restore_files(struct app *app, struct snapshot *s, const struct restore_ctx *rc,
              const char *target_abs, const char *const *includes, size_t nincludes, json_t *out,
              double t0)
{
    struct files_restore_opts fo;
    struct restore_progress prog;
    struct restore_result res;
    struct progress *pr;
    int r;

    memset(&res, 0, sizeof(res));
    memset(&fo, 0, sizeof(fo));
    fo.target = target_abs;
    fo.includes = includes;
    fo.nincludes = nincludes;
    fo.delta = rc->delta;
    fo.delete_extra = rc->delete_extra;
    fo.numeric_owner = rc->numeric;
    fo.threads = app->threads;
    fo.root = rc->root;
    fo.root_files = rc->root_files;
    fo.root_bytes = rc->root_bytes;
    memset(&prog, 0, sizeof(prog));
    pr = progress_start(app->progress, render, &prog);
    r = files_restore(app->repo, s, &fo, &prog, &res);
    progress_stop(pr);
    if (r)
        goto out;

    if (app->json) {
        json_t *errs = json_array();
        for (size_t i = 0; i < res.errors.n; i++)
            json_array_append_new(
                errs,
                json_pack(
                    "{s:o, s:s, s:o}", "path",
                    out_json_bytes(res.errors.v[i].path, strlen(res.errors.v[i].path)), "kind",
                    res.errors.v[i].kind == RESTORE_ERR_INTEGRITY ? "integrity"
                    : res.errors.v[i].kind == RESTORE_ERR_UNSAFE  ? "unsafe"
                                                                  : "io",
                    "error",
                    out_json_bytes(res.errors.v[i].message, strlen(res.errors.v[i].message))));
        json_object_update_new(
            out, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "target",
                           rc->shown_target ? rc->shown_target : target_abs, "files_written",
                           (json_int_t)res.files_written, "files_unchanged",
                           (json_int_t)res.files_unchanged, "dirs", (json_int_t)res.dirs, "links",
                           (json_int_t)res.links, "deleted", (json_int_t)res.deleted,
                           "bytes_written", (json_int_t)res.bytes_written, "integrity_errors",
                           (json_int_t)res.integrity_errors, "io_errors", (json_int_t)res.io_errors,
                           "unsafe_errors", (json_int_t)res.unsafe_errors, "duration",
                           dt_monotonic() - t0, "errors", errs));
    } else if (!app->quiet) {
        char files[32], bytes[SIZE_FMT_MAX], dur[24];
        out_count(files, sizeof(files), res.files_written);
        size_format(res.bytes_written, bytes);
        dt_format_duration(dt_monotonic() - t0, dur);
        printf("restored %s to %s: %s files written", s->name,
               rc->shown_target ? rc->shown_target : target_abs, files);
        if (rc->delta)
            printf(" (%llu unchanged, left as they were)", (unsigned long long)res.files_unchanged);
        if (rc->delete_extra)
            printf(", %llu extra entries deleted", (unsigned long long)res.deleted);
        printf(", %s, %llu dirs, in %s\n", bytes, (unsigned long long)res.dirs, dur);
    }
    if (res.integrity_errors || res.unsafe_errors)
        r = drk_err_set(DRK_ECORRUPT,
                        "%llu file(s) were not restored because the repository data is damaged "
                        "or unsafe (named above)",
                        (unsigned long long)(res.integrity_errors + res.unsafe_errors));
    else if (res.io_errors)
        r = drk_err_set(DRK_EIO, "%llu file(s) could not be restored (named above)",
                        (unsigned long long)res.io_errors);
out:
    restore_result_release(&res);
    return r;
}

/* The snapshot's physical database backup into the new or empty data directory dir. */
static int
restore_physical(struct app *app, struct snapshot *s, struct restore_ctx *rc, const char *dir,
                 json_t *out, double t0)
{
    struct blob_codec codec;
    struct blob_id root;
    const json_t *meta = NULL;
    char *abs = fs_abspath(dir), *staging = NULL;
    int r;

    blob_codec_init(&codec);
    r = repo_load_index(app->repo);
    if (r == 0)
        r = snapdb_physical(app->repo, &codec, s, &root, &meta);
    blob_codec_release(&codec);
    if (r == 0)
        r = pgphys_prepare(abs, &staging);
    if (r)
        goto out;
    rc->root = &root;
    rc->root_files = (uint64_t)json_integer_value(json_object_get(meta, "files"));
    rc->root_bytes = (uint64_t)json_integer_value(json_object_get(meta, "bytes"));
    rc->shown_target = abs;
    if ((r = restore_files(app, s, rc, staging, NULL, 0, out, t0)) != 0 ||
        (r = pgphys_finish(abs, staging)) != 0) {
        pgphys_abandon(abs, staging);
        goto out;
    }
    json_object_set_new(out, "data_directory", json_string(abs));
    json_object_set_new(out, "physical", json_deep_copy(meta));
    if (!app->json && !app->quiet) {
        const char *end = json_string_value(json_object_get(meta, "end_lsn"));
        printf("the cluster (system %s) is in %s. Start a server on it (pg_ctl -D %s start): it "
               "replays the WAL the backup holds%s%s, then takes sessions.\n",
               json_string_value(json_object_get(meta, "system_identifier")), abs, abs,
               end ? " up to " : "", end ? end : "");
    }
out:
    free(abs);
    free(staging);
    return r;
}

int
cmd_backup_restore(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "target", required_argument, NULL, OPT_TARGET },
        { "include", required_argument, NULL, OPT_INCLUDE },
        { "delta", no_argument, NULL, OPT_DELTA },
        { "numeric-owner", no_argument, NULL, OPT_NUMERIC },
        { "delete", no_argument, NULL, OPT_DELETE },
        { "files-only", no_argument, NULL, OPT_FILES_ONLY },
        { "database-only", no_argument, NULL, OPT_DATABASE_ONLY },
        { "table", required_argument, NULL, OPT_TABLE },
        { "database", required_argument, NULL, OPT_DATABASE },
        { "force", no_argument, NULL, OPT_FORCE },
        { "no-safety-snapshot", no_argument, NULL, OPT_NO_SAFETY },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "no-delete", no_argument, NULL, OPT_NO_DELETE },
        { "physical", no_argument, NULL, OPT_PHYSICAL },
        { NULL, 0, NULL, 0 },
    };
    struct restore_ctx rc;
    struct snap_list list;
    struct snapshot *s;
    VEC(char *) includes = VEC_INIT;
    const char *target, *db_target = NULL, *data_dir = NULL;
    const json_t *phys_meta;
    bool logical_db, physical;
    char *target_abs = NULL;
    json_t *out = NULL;
    bool want_db, do_db, do_files;
    double t0;
    int first, r;

    memset(&rc, 0, sizeof(rc));
    snap_list_init(&list);
    app->command = "backup restore";
    r = app_parse(app, argc, argv, opts, restore_usage, restore_opt, &rc, &first);
    if (r) {
        vec_free(&rc.includes);
        vec_free(&rc.tables);
        return r == 1 ? 0 : r;
    }
    if (argc - first != 1) {
        vec_free(&rc.includes);
        vec_free(&rc.tables);
        return cli_usage_error(restore_usage, "give one snapshot: a name, an id prefix or latest");
    }
    app_apply_output(app);
    if ((r = app_load_config(app)) != 0)
        goto out;
    want_db = rc.database_only || rc.tables.n || rc.physical;
    if (rc.files_only && want_db) {
        r = cli_usage_error(restore_usage, "--files-only leaves the database alone: drop it, or "
                                           "--database-only / --table");
        goto out;
    }
    if (rc.physical && (rc.tables.n || rc.force || rc.delta || rc.includes.n)) {
        r = cli_usage_error(restore_usage, "--physical writes a whole cluster into a new or empty "
                                           "directory: not with --table, --force, --delta or "
                                           "--include");
        goto out;
    }
    if (rc.database_only && rc.tables.n) {
        r = cli_usage_error(restore_usage, "give --database-only or --table, not both");
        goto out;
    }
    if (rc.force && !rc.database_only) {
        r = cli_usage_error(restore_usage, "--force goes with --database-only (it replaces a "
                                           "live database)");
        goto out;
    }
    if ((rc.dry_run || rc.no_delete) && !rc.tables.n) {
        r = cli_usage_error(restore_usage, "--dry-run and --no-delete go with --table");
        goto out;
    }
    target = rc.target;
    if (target && !strchr(target, '/') && conf_has_section(app->conf, "target", target)) {
        const char *p = conf_get(app->conf, "target", target, "path");
        const char *ci = conf_get(app->conf, "target", target, "conninfo");
        const char *dd = conf_get(app->conf, "target", target, "data-directory");
        if (ci && *ci)
            db_target = target;
        if (dd && *dd)
            data_dir = dd;
        target = p && *p ? p : NULL;
        if (!target && !db_target && !data_dir) {
            r = drk_err_set(DRK_ECONFIG,
                            "[target \"%s\"] has neither a 'path' for files nor a "
                            "'conninfo' or 'data-directory' for databases",
                            rc.target);
            goto out;
        }
    } else if (want_db && target) {
        data_dir = target; /* a directory: only a physical restore can go there */
    }
    if (rc.delete_extra && !rc.delta) {
        r = cli_usage_error(restore_usage, "--delete goes with --delta");
        goto out;
    }
    if ((r = app_open_repo(app, 1)) != 0)
        goto out;
    if ((r = load_and_resolve(app, &list, argv[first], &s)) != 0)
        goto out;
    do_db = !rc.files_only && s->has_db && (want_db || db_target);
    do_files = !want_db && s->has_files && (target || rc.delta || !do_db);
    if (want_db && !s->has_db) {
        r = cli_usage_error(restore_usage, "snapshot '%s' has no database component", s->name);
        goto out;
    }
    phys_meta = s->has_db && s->db_meta ? json_object_get(s->db_meta, "physical") : NULL;
    logical_db =
        s->has_db && s->db_meta && json_array_size(json_object_get(s->db_meta, "databases")) > 0;
    physical = want_db && phys_meta && (rc.physical || !logical_db);
    if (rc.physical && !phys_meta) {
        r = cli_usage_error(restore_usage,
                            "snapshot '%s' has no physical database backup (method = physical or "
                            "both in the [source] makes one)",
                            s->name);
        goto out;
    }
    if (rc.tables.n && !logical_db && phys_meta) {
        r = cli_usage_error(restore_usage,
                            "snapshot '%s' holds a physical backup only: --table needs a logical "
                            "one (method = logical or both); restore the cluster into a scratch "
                            "directory with --database-only --target=DIR and take the table from "
                            "there",
                            s->name);
        goto out;
    }
    if (physical) {
        if (rc.database) {
            r = cli_usage_error(restore_usage,
                                "snapshot '%s': a physical backup restores the whole cluster, "
                                "every database of it (drop --database=%s; to take one database "
                                "from it, start a server on the restored directory and pg_dump "
                                "that database)",
                                s->name, rc.database);
            goto out;
        }
        if (rc.force) {
            r = cli_usage_error(restore_usage,
                                "snapshot '%s' holds a physical backup: it is "
                                "restored into a new or empty directory, never "
                                "over a live cluster (drop --force)",
                                s->name);
            goto out;
        }
        if (!data_dir) {
            r = cli_usage_error(restore_usage,
                                "snapshot '%s' holds a physical backup: give the new data "
                                "directory with --target=DIR, or a [target \"NAME\"] with a "
                                "'data-directory'",
                                s->name);
            goto out;
        }
        out = json_pack("{s:s, s:s}", "snapshot", s->name, "id", s->id);
        r = restore_physical(app, s, &rc, data_dir, out, dt_monotonic());
        if (app->json && r == 0)
            out_json(json_incref(out));
        goto out;
    }
    if (want_db && rc.target && !db_target) {
        r = cli_usage_error(restore_usage,
                            "a database restore goes into a [target \"NAME\"] of the config with "
                            "a 'conninfo', not into '%s'",
                            rc.target);
        goto out;
    }
    if (!do_files && !do_db) {
        r = cli_usage_error(restore_usage,
                            s->has_db ? "snapshot '%s' holds a database: restore it with "
                                        "--database-only (into --target=NAME, or the live server "
                                        "with --force)"
                                      : "snapshot '%s' has nothing to restore",
                            s->name);
        goto out;
    }
    out = json_pack("{s:s, s:s}", "snapshot", s->name, "id", s->id);
    t0 = dt_monotonic();
    if (do_files) {
        if (!target) {
            if (!rc.delta) {
                r = cli_usage_error(restore_usage, "give --target=DIR, or --delta to restore in "
                                                   "place over the original paths");
                goto out;
            }
            target = "/";
        }
        target_abs = fs_abspath(target);
        for (size_t i = 0; i < rc.includes.n; i++)
            vec_push(&includes, fs_abspath(rc.includes.v[i]));
        r = restore_files(app, s, &rc, target_abs, (const char *const *)includes.v, includes.n, out,
                          t0);
        if (r) { /* damaged or unreadable files are reported in the JSON too */
            if (app->json && json_object_get(out, "files_written"))
                out_json(json_incref(out));
            goto out;
        }
    }
    if (do_db) {
        struct restore_db_opts dbo;
        memset(&dbo, 0, sizeof(dbo));
        dbo.target = db_target;
        dbo.database = rc.database;
        dbo.tables = rc.tables.v;
        dbo.ntables = rc.tables.n;
        dbo.force = rc.force;
        dbo.safety_snapshot = !rc.no_safety;
        dbo.dry_run = rc.dry_run;
        dbo.no_delete = rc.no_delete;
        r = restore_db(app, s, &dbo, out);
    } else if (s->has_db && !rc.files_only && !app->json && !app->quiet) {
        printf("the snapshot's database was not restored: --database-only restores it (into "
               "--target=NAME, or the live server with --force)\n");
    }
    if (app->json && r == 0)
        out_json(json_incref(out));
out:
    json_decref(out);
    snap_list_release(&list);
    for (size_t i = 0; i < includes.n; i++)
        free(includes.v[i]);
    vec_free(&includes);
    vec_free(&rc.includes);
    vec_free(&rc.tables);
    free(target_abs);
    return r;
}
