/* cmd_backup_create: `drkit backup create`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "engine/saver.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "source/backup_run.h"
#include "source/pg/conn.h"
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

static const char create_usage[] =
    "usage: drkit backup create [--type=incremental|full|restore_point] [--tag=TAG]...\n"
    "                           [--exclude=GLOB]... [--one-file-system] [--host=NAME]\n"
    "                           [--parent=ID] [--storage=NAME] [--json] [--quiet] [PATH...]\n"
    "\n"
    "Backs up PATHs, or the paths of the config's [source] sections of type files.\n"
    "  --type=incremental  (default) files whose size, mtime, ctime and inode are unchanged\n"
    "                      since the parent snapshot are not read again\n"
    "  --type=full         read and hash everything (still deduplicated)\n"
    "  --type=restore_point a labelled manual snapshot (use --tag to name it)\n"
    "  --exclude=GLOB      skip matching paths: a GLOB with '/' matches the whole path,\n"
    "                      otherwise the file name (e.g. '*.log', '/var/www/shop/var/cache')\n"
    "  --one-file-system   do not descend into other mounted file systems\n"
    "  --parent=ID         compare against this snapshot instead of the latest one\n"
    "  --time=DATE         record the snapshot at DATE (local time unless it has a zone),\n"
    "                      e.g. when importing old backups\n"
    "  --component=C       files or database (repeatable): only these parts; without paths\n"
    "                      and without this option every configured source is backed up\n"
    "  --encrypt           accepted for the guide's scripts: drkit always encrypts\n"
    "\n"
    "Exit 3 if some files could not be read: the snapshot is written, marked partial, and\n"
    "the files are named.\n";

enum {
    OPT_TYPE = OPT_FIRST_COMMAND_OPTION,
    OPT_TAG,
    OPT_EXCLUDE,
    OPT_ONE_FS,
    OPT_HOST,
    OPT_PARENT,
    OPT_ENCRYPT,
    OPT_TIME,
    OPT_COMPONENT,
};

struct str_list {
    const char **v;
    size_t n, cap;
};

struct create_ctx {
    const char *type;
    struct str_list tags;
    struct str_list excludes;
    bool one_fs;
    const char *host;
    const char *parent;
    bool has_time;
    int64_t time;
    bool want_files, want_db; /* --component given */
};

static int
create_opt(struct app *app, void *arg, int c, const char *val)
{
    struct create_ctx *cc = arg;
    (void)app;
    switch (c) {
    case OPT_TYPE:
        if (strcmp(val, "full") && strcmp(val, "incremental") && strcmp(val, "restore_point"))
            return cli_usage_error(create_usage,
                                   "bad --type '%s': use full, incremental or restore_point", val);
        cc->type = val;
        return 0;
    case OPT_TAG:
        if (!*val || strlen(val) > 255)
            return cli_usage_error(create_usage, "a tag must have 1 to 255 characters");
        vec_push(&cc->tags, val);
        return 0;
    case OPT_EXCLUDE:
        vec_push(&cc->excludes, val);
        return 0;
    case OPT_ONE_FS:
        cc->one_fs = true;
        return 0;
    case OPT_HOST:
        cc->host = val;
        return 0;
    case OPT_PARENT:
        cc->parent = val;
        return 0;
    case OPT_ENCRYPT:
        return 0;
    case OPT_TIME:
        if (dt_parse_user(val, &cc->time) != 0)
            return cli_usage_error(
                create_usage, "bad --time '%s': use 'YYYY-MM-DD HH:MM[:SS]' (local time)", val);
        cc->has_time = true;
        return 0;
    case OPT_COMPONENT:
        if (!strcmp(val, "files"))
            cc->want_files = true;
        else if (!strcmp(val, "database"))
            cc->want_db = true;
        else
            return cli_usage_error(create_usage, "bad --component '%s': files or database", val);
        return 0;
    }
    return cli_usage_error(create_usage, "unknown option");
}

struct render_arg {
    struct backup_progress *bp;
};

static void
render(void *arg, char *line, size_t n, double elapsed)
{
    struct backup_progress *bp = ((struct render_arg *)arg)->bp;
    char files[32], total[32], done[SIZE_FMT_MAX], all[SIZE_FMT_MAX], rate[40], eta[40];
    uint64_t bytes = atomic_load(&bp->files.bytes), btotal = atomic_load(&bp->files.bytes_total);
    uint64_t f = atomic_load(&bp->files.files), ftotal = atomic_load(&bp->files.files_total);
    int scanned = atomic_load(&bp->files.scan_done);

    if (atomic_load(&bp->phase) == 1 && atomic_load(&bp->db.physical.bytes)) {
        uint64_t pbytes = atomic_load(&bp->db.physical.bytes);
        out_count(files, sizeof(files), atomic_load(&bp->db.physical.files));
        size_format(pbytes, done);
        out_rate(rate, sizeof(rate), pbytes, elapsed);
        snprintf(line, n, "[%02d:%02d] base backup: %s files, %s, %s", (int)elapsed / 60,
                 (int)elapsed % 60, files, done, rate);
        return;
    }
    if (atomic_load(&bp->phase) == 1) {
        char rows[32];
        uint64_t dbytes = atomic_load(&bp->db.bytes);
        out_count(rows, sizeof(rows), atomic_load(&bp->db.rows));
        size_format(dbytes, done);
        out_rate(rate, sizeof(rate), dbytes, elapsed);
        snprintf(line, n, "[%02d:%02d] database %d/%d, table %llu/%llu, %s rows, %s, %s",
                 (int)elapsed / 60, (int)elapsed % 60, atomic_load(&bp->db.databases),
                 atomic_load(&bp->db.databases_total),
                 (unsigned long long)atomic_load(&bp->db.tables),
                 (unsigned long long)atomic_load(&bp->db.tables_total), rows, done, rate);
        return;
    }
    out_count(files, sizeof(files), f);
    out_count(total, sizeof(total), ftotal);
    size_format(bytes, done);
    size_format(btotal, all);
    out_rate(rate, sizeof(rate), bytes, elapsed);
    out_eta(eta, sizeof(eta), bytes, scanned ? btotal : 0, elapsed);
    snprintf(line, n, "[%02d:%02d] %s%s%s files, %s%s%s, %s, %s", (int)elapsed / 60,
             (int)elapsed % 60, files, scanned ? " / " : "", scanned ? total : "", done,
             scanned ? " / " : "", scanned ? all : "", rate, eta);
}

/* Paths and excludes from the config: every [source] of type files. */
static int
config_sources(struct app *app, struct create_ctx *cc, struct str_list *paths, bool *one_fs)
{
    const char *const *subs;
    size_t nsubs = conf_subsections(app->conf, "source", &subs);
    for (size_t i = 0; i < nsubs; i++) {
        const char *type = conf_get(app->conf, "source", subs[i], "type");
        const char *const *words;
        size_t n;
        bool b;
        if (type ? strcmp(type, "files") != 0 : strcmp(subs[i], "files") != 0)
            continue;
        n = conf_get_list(app->conf, "source", subs[i], "path", &words);
        for (size_t k = 0; k < n; k++) {
            if (words[k][0] != '/') {
                drk_err_set(DRK_ECONFIG, "%s: [source \"%s\"] path '%s' is not absolute",
                            conf_origin(app->conf, "source", subs[i], "path"), subs[i], words[k]);
                return DRK_ECONFIG;
            }
            vec_push(paths, words[k]);
        }
        n = conf_get_list(app->conf, "source", subs[i], "exclude", &words);
        for (size_t k = 0; k < n; k++)
            vec_push(&cc->excludes, words[k]);
        if (conf_get_bool(app->conf, "source", subs[i], "one-file-system", &b) == 0 && b)
            *one_fs = true;
    }
    return 0;
}

int
cmd_backup_create(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "type", required_argument, NULL, OPT_TYPE },
        { "tag", required_argument, NULL, OPT_TAG },
        { "exclude", required_argument, NULL, OPT_EXCLUDE },
        { "one-file-system", no_argument, NULL, OPT_ONE_FS },
        { "host", required_argument, NULL, OPT_HOST },
        { "parent", required_argument, NULL, OPT_PARENT },
        { "encrypt", no_argument, NULL, OPT_ENCRYPT },
        { "time", required_argument, NULL, OPT_TIME },
        { "component", required_argument, NULL, OPT_COMPONENT },
        { NULL, 0, NULL, 0 },
    };
    struct create_ctx cc;
    struct str_list paths = VEC_INIT;
    VEC(char *) owned = VEC_INIT;
    struct backup_run_opts bo;
    struct backup_progress bp;
    struct render_arg ra;
    struct progress *pr;
    struct snapshot snap;
    struct pgconn_target db;
    struct app_db adb;
    bool have_db = false;
    int first, r;

    memset(&cc, 0, sizeof(cc));
    memset(&db, 0, sizeof(db));
    snap_init(&snap);
    cc.type = "incremental";
    app->command = "backup create";
    r = app_parse(app, argc, argv, opts, create_usage, create_opt, &cc, &first);
    if (r) {
        r = r == 1 ? 0 : r;
        goto out_nosnap;
    }
    app_apply_output(app);
    if ((r = app_load_config(app)) != 0)
        goto out_nosnap;
    for (int i = first; i < argc; i++) {
        char *abs = fs_abspath(argv[i]);
        vec_push(&owned, abs);
        vec_push(&paths, abs);
    }
    if (paths.n == 0 && !(cc.want_db && !cc.want_files)) {
        bool one_fs = false;
        if ((r = config_sources(app, &cc, &paths, &one_fs)) != 0)
            goto out_nosnap;
        cc.one_fs = cc.one_fs || one_fs;
    } else if (paths.n) {
        /* excludes of the config apply to paths given on the command line too */
        const char *const *subs;
        size_t nsubs = conf_subsections(app->conf, "source", &subs);
        for (size_t i = 0; i < nsubs; i++) {
            const char *const *words;
            size_t n = conf_get_list(app->conf, "source", subs[i], "exclude", &words);
            for (size_t k = 0; k < n; k++)
                vec_push(&cc.excludes, words[k]);
        }
    }
    /* the database: asked for, or configured and no paths given on the command line */
    if (cc.want_db || (first >= argc && !cc.want_files)) {
        r = app_db_source(app, &db, &adb);
        if (r == 0)
            have_db = true;
        else if (r != DRK_ENOTFOUND || cc.want_db)
            goto out_nosnap;
        r = 0;
    }
    if (cc.want_db && !cc.want_files && first >= argc)
        paths.n = 0;
    if (paths.n == 0 && !have_db) {
        r = cli_usage_error(create_usage, "nothing to back up: give paths, or configure a "
                                          "[source] of type files or postgresql");
        goto out_nosnap;
    }
    for (size_t i = 0; i < paths.n; i++) {
        if (!utf8_valid(paths.v[i], strlen(paths.v[i]))) {
            r = cli_usage_error(create_usage,
                                "path '%s' is not valid UTF-8; back up its parent "
                                "directory instead",
                                paths.v[i]);
            goto out_nosnap;
        }
    }
    if ((r = app_open_repo(app, 1)) != 0)
        goto out_nosnap;

    memset(&bo, 0, sizeof(bo));
    bo.type = cc.type;
    bo.tags = cc.tags.v;
    bo.ntags = cc.tags.n;
    bo.host = cc.host ? cc.host : conf_get(app->conf, "core", NULL, "host");
    bo.paths = paths.v;
    bo.npaths = paths.n;
    bo.excludes = cc.excludes.v;
    bo.nexcludes = cc.excludes.n;
    bo.one_file_system = cc.one_fs;
    bo.parent_ref = cc.parent;
    bo.has_time = cc.has_time;
    bo.time = cc.time;
    bo.threads = app->threads;
    bo.scan_totals = app->progress;
    if (have_db) {
        bo.db = &db;
        bo.databases = adb.databases;
        bo.ndatabases = adb.ndatabases;
        bo.exclude_tables = adb.exclude_tables;
        bo.nexclude_tables = adb.nexclude;
        bo.db_methods = adb.methods;
        bo.db_spread_checkpoint = adb.spread_checkpoint;
        bo.db_max_rate = adb.max_rate;
    }
    memset(&bp, 0, sizeof(bp));
    ra.bp = &bp;
    pr = progress_start(app->progress, render, &ra);
    r = backup_run(app->repo, &bo, &bp, &snap);
    progress_stop(pr);
    if (r && r != DRK_EPARTIAL)
        goto out;

    if (app->json) {
        json_t *j = snapshot_json(&snap, true);
        json_object_set_new(j, "parent_name",
                            bp.parent_name[0] ? json_string(bp.parent_name) : json_null());
        out_json(j);
    } else if (!app->quiet) {
        char files[32], rd[SIZE_FMT_MAX], added[SIZE_FMT_MAX], dur[24];
        out_count(files, sizeof(files), snap.stats.files);
        size_format(snap.stats.bytes_read, rd);
        size_format(snap.stats.bytes_added, added);
        dt_format_duration(snap.stats.duration, dur);
        printf("%s saved (id %.8s, %s%s%s)\n", snap.name, snap.id, snap.type,
               bp.parent_name[0] ? ", parent " : "", bp.parent_name);
        if (snap.has_files)
            printf("files: %s (%llu new, %llu changed, %llu unchanged), %llu dirs\n", files,
                   (unsigned long long)snap.stats.files_new,
                   (unsigned long long)snap.stats.files_changed,
                   (unsigned long long)snap.stats.files_unchanged,
                   (unsigned long long)snap.stats.dirs);
        if (snap.has_db) {
            char rows[32], dumped[SIZE_FMT_MAX];
            out_count(rows, sizeof(rows), atomic_load(&bp.db.rows));
            size_format(atomic_load(&bp.db.bytes), dumped);
            if (atomic_load(&bp.db.databases))
                printf("database: %d database(s), %llu tables, %s rows, %s dumped\n",
                       atomic_load(&bp.db.databases),
                       (unsigned long long)atomic_load(&bp.db.tables), rows, dumped);
            if (atomic_load(&bp.db.physical.files)) {
                char files_n[32], pbytes[SIZE_FMT_MAX];
                out_count(files_n, sizeof(files_n), atomic_load(&bp.db.physical.files));
                size_format(atomic_load(&bp.db.physical.bytes), pbytes);
                printf("database: base backup of the cluster, %s files, %s\n", files_n, pbytes);
            }
        }
        printf("%s read, %s added to the repository, in %s\n", rd, added, dur);
    }
out:
out_nosnap:
    snap_release(&snap);
    pgconn_target_release(&db);
    for (size_t i = 0; i < owned.n; i++)
        free(owned.v[i]);
    vec_free(&owned);
    vec_free(&paths);
    vec_free(&cc.tags);
    vec_free(&cc.excludes);
    return r;
}
