/* cmd_backup_restore: `drkit backup restore`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "source/files_restore.h"
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
    "                            [--numeric-owner] [--json] [--quiet]\n"
    "       drkit backup restore ID --delta        (in place: original paths under /)\n"
    "\n"
    "Restores snapshot ID (a name, an id prefix, or latest). An original path /a/b is\n"
    "written to DIR/a/b. NAME may be a [target \"NAME\"] of the config (its 'path').\n"
    "  --include=PATH     restore only PATH (original, absolute) and what is below it\n"
    "  --delta            rewrite only files whose content differs (checked by hashing what\n"
    "                     is on disk); without --target it restores in place\n"
    "  --delete           with --delta: remove files and directories the snapshot does\n"
    "                     not have, inside the restored paths (ransomware leftovers)\n"
    "  --numeric-owner    restore the stored uid/gid even where the names exist here\n"
    "\n"
    "Existing files in the target are replaced. Nothing is ever written through a symlink.\n"
    "Exit 4 if damaged data was found (those files are named and not written).\n";

enum { OPT_TARGET = OPT_FIRST_COMMAND_OPTION, OPT_INCLUDE, OPT_DELTA, OPT_NUMERIC, OPT_DELETE };

struct restore_ctx {
    const char *target;
    VEC(const char *) includes;
    bool delta, numeric, delete_extra;
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

int
cmd_backup_restore(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "target", required_argument, NULL, OPT_TARGET },
        { "include", required_argument, NULL, OPT_INCLUDE },
        { "delta", no_argument, NULL, OPT_DELTA },
        { "numeric-owner", no_argument, NULL, OPT_NUMERIC },
        { "delete", no_argument, NULL, OPT_DELETE },
        { NULL, 0, NULL, 0 },
    };
    struct restore_ctx rc;
    struct files_restore_opts fo;
    struct restore_progress prog;
    struct restore_result res;
    struct snap_list list;
    struct snapshot *s;
    struct progress *pr;
    VEC(char *) includes = VEC_INIT;
    const char *target;
    char *target_abs = NULL;
    double t0;
    int first, r;

    memset(&rc, 0, sizeof(rc));
    memset(&res, 0, sizeof(res));
    snap_list_init(&list);
    app->command = "backup restore";
    r = app_parse(app, argc, argv, opts, restore_usage, restore_opt, &rc, &first);
    if (r) {
        vec_free(&rc.includes);
        return r == 1 ? 0 : r;
    }
    if (argc - first != 1) {
        vec_free(&rc.includes);
        return cli_usage_error(restore_usage, "give one snapshot: a name, an id prefix or latest");
    }
    app_apply_output(app);
    if ((r = app_load_config(app)) != 0)
        goto out;
    target = rc.target;
    if (target && !strchr(target, '/') && conf_has_section(app->conf, "target", target)) {
        const char *p = conf_get(app->conf, "target", target, "path");
        if (!p || !*p) {
            r = drk_err_set(DRK_ECONFIG, "[target \"%s\"] has no 'path' for files", target);
            goto out;
        }
        target = p;
    }
    if (!target) {
        if (!rc.delta) {
            r = cli_usage_error(restore_usage, "give --target=DIR, or --delta to restore in "
                                               "place over the original paths");
            goto out;
        }
        target = "/";
    }
    if (rc.delete_extra && !rc.delta) {
        r = cli_usage_error(restore_usage, "--delete goes with --delta");
        goto out;
    }
    target_abs = fs_abspath(target);
    for (size_t i = 0; i < rc.includes.n; i++)
        vec_push(&includes, fs_abspath(rc.includes.v[i]));
    if ((r = app_open_repo(app, 1)) != 0)
        goto out;
    if ((r = load_and_resolve(app, &list, argv[first], &s)) != 0)
        goto out;

    memset(&fo, 0, sizeof(fo));
    fo.target = target_abs;
    fo.includes = (const char *const *)includes.v;
    fo.nincludes = includes.n;
    fo.delta = rc.delta;
    fo.delete_extra = rc.delete_extra;
    fo.numeric_owner = rc.numeric;
    fo.threads = app->threads;
    memset(&prog, 0, sizeof(prog));
    t0 = dt_monotonic();
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
        out_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}",
                           "snapshot", s->name, "id", s->id, "target", target_abs, "files_written",
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
        printf("restored %s to %s: %s files written", s->name, target_abs, files);
        if (rc.delta)
            printf(" (%llu unchanged, left as they were)", (unsigned long long)res.files_unchanged);
        if (rc.delete_extra)
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
    snap_list_release(&list);
    for (size_t i = 0; i < includes.n; i++)
        free(includes.v[i]);
    vec_free(&includes);
    vec_free(&rc.includes);
    free(target_abs);
    return r;
}
