/* cmd_backup_copy: `drkit backup copy ID...|--all --to=NAME` — replicate snapshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "engine/copy.h"
#include "repo/lock.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "storage/storage.h"
#include "util/conf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char copy_usage[] =
    "usage: drkit backup copy ID...|--all --to=NAME|--to-repo=LOCATION [--json] [--quiet]\n"
    "\n"
    "Copies snapshots (names, id prefixes, latest; or --all) from this repository into\n"
    "another, e.g. the off-site one: the 3-2-1 rule's third copy. Only what the target lacks\n"
    "is read and written, re-encrypted with the target's key; a snapshot keeps its name and\n"
    "time; copying again transfers nothing. The target is a [repository \"NAME\"] of the\n"
    "config, or --to-repo; its passphrase comes from its password-file/password-command,\n"
    "$DRKIT_TO_PASSWORD_FILE or $DRKIT_TO_PASSWORD, or a prompt.\n";

enum { OPT_TO = OPT_FIRST_COMMAND_OPTION, OPT_TO_REPO, OPT_ALL };

struct copy_ctx {
    const char *to, *to_repo;
    bool all;
};

static int
copy_opt(struct app *app, void *arg, int c, const char *val)
{
    struct copy_ctx *cc = arg;
    (void)app;
    if (c == OPT_TO)
        cc->to = val;
    else if (c == OPT_TO_REPO)
        cc->to_repo = val;
    else if (c == OPT_ALL)
        cc->all = true;
    else
        return cli_usage_error(copy_usage, "unknown option");
    return 0;
}

static void
render(void *arg, char *line, size_t n, double elapsed)
{
    struct copy_progress *p = arg;
    char bytes[SIZE_FMT_MAX], rate[40];
    size_format(atomic_load(&p->bytes), bytes);
    out_rate(rate, sizeof(rate), atomic_load(&p->bytes), elapsed);
    snprintf(line, n, "[%02d:%02d] %llu blobs (%s) copied, %llu trees, %s", (int)elapsed / 60,
             (int)elapsed % 60, (unsigned long long)atomic_load(&p->blobs), bytes,
             (unsigned long long)atomic_load(&p->trees), rate);
}

/* Open the target repository, shared-locked. */
static int
open_target(struct app *app, const struct copy_ctx *cc, struct repo **out, struct repo_lock **lock)
{
    const char *loc = cc->to_repo, *section = NULL;
    struct stor *stor;
    char *pass = NULL;
    size_t plen = 0;
    int r;

    if (cc->to) {
        if (!conf_has_section(app->conf, "repository", cc->to)) {
            drk_err_set(DRK_ECONFIG, "no [repository \"%s\"] section in '%s'", cc->to,
                        conf_path(app->conf) ? conf_path(app->conf) : "(no config file)");
            return DRK_ECONFIG;
        }
        section = cc->to;
        loc = conf_get(app->conf, "repository", cc->to, "url");
    }
    if ((r = app_stor_open(app, section, loc, &stor)) != 0)
        return r;
    if ((r = repo_probe(stor)) != 0) {
        stor_close(stor);
        return drk_err_wrap(r, "the target repository");
    }
    if ((r = app_passphrase_for(app, section, "DRKIT_TO", false, &pass, &plen)) != 0) {
        stor_close(stor);
        return r;
    }
    r = repo_open(out, stor, pass, plen);
    app_free_secret(pass, plen);
    if (r) {
        stor_close(stor);
        return drk_err_wrap(r, "the target repository");
    }
    if ((r = app_lock(app, *out, false, lock)) != 0) {
        repo_free(*out);
        *out = NULL;
    }
    return r;
}

int
cmd_backup_copy(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, OPT_TO },
        { "to-repo", required_argument, NULL, OPT_TO_REPO },
        { "all", no_argument, NULL, OPT_ALL },
        { NULL, 0, NULL, 0 },
    };
    struct copy_ctx cc;
    struct repo *dst = NULL;
    struct repo_lock *dlock = NULL;
    struct copy *cp = NULL;
    struct copy_progress prog;
    struct copy_stats st;
    struct snap_list list;
    struct progress *pr = NULL;
    bool *pick = NULL;
    json_t *arr = NULL;
    size_t copied = 0, skipped = 0;
    int first, r;

    memset(&cc, 0, sizeof(cc));
    memset(&st, 0, sizeof(st));
    memset(&prog, 0, sizeof(prog));
    snap_list_init(&list);
    app->command = "backup copy";
    r = app_parse(app, argc, argv, opts, copy_usage, copy_opt, &cc, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (!cc.to == !cc.to_repo)
        return cli_usage_error(copy_usage, "give the target: --to=NAME or --to-repo=LOCATION");
    if (cc.all == (first < argc))
        return cli_usage_error(copy_usage, "name the snapshots to copy, or give --all");
    app_apply_output(app);
    if ((r = app_load_config(app)) != 0)
        return r;
    if ((r = app_open_repo(app, 1)) != 0)
        return r;
    if ((r = open_target(app, &cc, &dst, &dlock)) != 0)
        return r;
    if ((r = snap_list_load(app->repo, &list)) != 0)
        goto out;
    pick = xcalloc(list.items.n ? list.items.n : 1, sizeof(bool));
    for (size_t i = 0; i < list.items.n && cc.all; i++)
        pick[i] = true;
    for (int i = first; i < argc; i++) {
        struct snapshot *s;
        if ((r = snap_resolve(&list, argv[i], &s)) != 0)
            goto out;
        pick[s - list.items.v] = true;
    }
    if ((r = copy_open(&cp, app->repo, dst, &prog)) != 0)
        goto out;
    if (app->json)
        arr = json_array();
    pr = progress_start(app->progress, render, &prog);
    for (size_t i = 0; i < list.items.n && r == 0; i++) {
        struct snapshot out;
        bool skip;
        if (!pick[i])
            continue;
        if ((r = copy_snapshot(cp, &list.items.v[i], &out, &skip, &st)) != 0)
            break;
        if (skip)
            skipped++;
        else
            copied++;
        if (arr)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:b}", "name", list.items.v[i].name,
                                                 "id", skip ? "" : out.id, "copied", !skip));
        else if (!app->quiet)
            log_msg(LOG_LEVEL_INFO, __func__, "%s %s", list.items.v[i].name,
                    skip ? "is in the target already" : "copied");
        if (!skip)
            snap_release(&out);
    }
    progress_stop(pr);
    if (r)
        goto out;
    if (arr) {
        out_json(json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "snapshots", arr, "copied",
                           (json_int_t)copied, "skipped", (json_int_t)skipped, "blobs_read",
                           (json_int_t)st.blobs_read, "bytes_read", (json_int_t)st.bytes_read,
                           "blobs_added", (json_int_t)st.blobs_added, "bytes_added",
                           (json_int_t)st.bytes_added));
        arr = NULL;
    } else if (!app->quiet) {
        char rd[SIZE_FMT_MAX], added[SIZE_FMT_MAX];
        size_format(st.bytes_read, rd);
        size_format(st.bytes_added, added);
        printf("%zu snapshot(s) copied, %zu already there; %s read, %s added to the target\n",
               copied, skipped, rd, added);
    }
out:
    json_decref(arr);
    copy_free(cp);
    free(pick);
    snap_list_release(&list);
    lock_release(dlock);
    repo_free(dst);
    return r;
}
