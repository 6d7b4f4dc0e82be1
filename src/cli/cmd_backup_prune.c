/* cmd_backup_prune: `drkit backup prune` (retention, then garbage collection) and
 * `drkit backup delete`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "repo/prune.h"
#include "repo/repo.h"
#include "repo/retention.h"
#include "repo/snapshot.h"
#include "util/conf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char prune_usage[] =
    "usage: drkit backup prune [--keep-last=N] [--keep-hourly=N] [--keep-daily=N]\n"
    "                          [--keep-weekly=N] [--keep-monthly=N] [--keep-yearly=N]\n"
    "                          [--keep-tag=TAG]... [--repack-threshold=PERCENT] [--dry-run]\n"
    "                          [--json]\n"
    "\n"
    "Removes the snapshots the retention policy does not keep, then the data no snapshot\n"
    "needs. The policy is the [retention \"NAME\"] section of the repository's name in the\n"
    "config; each --keep option overrides its key. Snapshots are grouped by host and backed-up\n"
    "paths: each group keeps its own daily, weekly... snapshots. Restore points are never\n"
    "removed by a policy. Without any policy only unused data is removed.\n"
    "  --keep-last=N        the N newest snapshots\n"
    "  --keep-hourly=N      the newest of each of the N newest hours with a snapshot\n"
    "  --keep-daily=N       ... days; --keep-weekly ISO weeks (Monday to Sunday);\n"
    "  --keep-monthly=N     ... months; --keep-yearly years (in each snapshot's time zone)\n"
    "  --keep-tag=TAG       every snapshot tagged TAG\n"
    "  --repack-threshold=P rewrite packs at least P% unused (default 10)\n"
    "  --dry-run            show what would be kept and removed, change nothing\n";

static const char delete_usage[] =
    "usage: drkit backup delete ID... [--no-prune] [--json]\n"
    "\n"
    "Removes the snapshots named (names, id prefixes, or latest), then the data no other\n"
    "snapshot needs (unless --no-prune).\n";

enum {
    OPT_LAST = OPT_FIRST_COMMAND_OPTION,
    OPT_HOURLY,
    OPT_DAILY,
    OPT_WEEKLY,
    OPT_MONTHLY,
    OPT_YEARLY,
    OPT_TAG,
    OPT_THRESHOLD,
    OPT_DRY_RUN,
    OPT_NO_PRUNE,
};

struct prune_ctx {
    int keep[6]; /* last hourly daily weekly monthly yearly; -1: not given */
    VEC(const char *) tags;
    bool tags_given;
    int threshold;
    bool dry_run, no_prune;
};

static int
prune_opt(struct app *app, void *arg, int c, const char *val)
{
    struct prune_ctx *pc = arg;
    int v;
    (void)app;
    switch (c) {
    case OPT_LAST:
    case OPT_HOURLY:
    case OPT_DAILY:
    case OPT_WEEKLY:
    case OPT_MONTHLY:
    case OPT_YEARLY:
        if (str_to_int(val, &v) != 0 || v < 0)
            return cli_usage_error(prune_usage, "a --keep option takes a count, not '%s'", val);
        pc->keep[c - OPT_LAST] = v;
        return 0;
    case OPT_TAG:
        vec_push(&pc->tags, val);
        pc->tags_given = true;
        return 0;
    case OPT_THRESHOLD:
        if (str_to_int(val, &v) != 0 || v < 0 || v > 100)
            return cli_usage_error(prune_usage, "--repack-threshold takes 0..100, not '%s'", val);
        pc->threshold = v;
        return 0;
    case OPT_DRY_RUN:
        pc->dry_run = true;
        return 0;
    case OPT_NO_PRUNE:
        pc->no_prune = true;
        return 0;
    }
    return cli_usage_error(prune_usage, "unknown option");
}

/* The policy: config section first, then the flags over it. */
static void
build_policy(struct app *app, struct prune_ctx *pc, struct retention_policy *pol,
             const char *const **tags_out, size_t *ntags_out)
{
    static const char *keys[6] = { "keep-last",   "keep-hourly",  "keep-daily",
                                   "keep-weekly", "keep-monthly", "keep-yearly" };
    int *fields[6] = { &pol->last,   &pol->hourly,  &pol->daily,
                       &pol->weekly, &pol->monthly, &pol->yearly };
    const char *sec = app->repo_section;
    memset(pol, 0, sizeof(*pol));
    for (int i = 0; i < 6; i++) {
        int64_t v = 0;
        if (sec && conf_has_section(app->conf, "retention", sec) &&
            conf_get_int(app->conf, "retention", sec, keys[i], &v) == 0)
            *fields[i] = (int)v;
        if (pc->keep[i] >= 0)
            *fields[i] = pc->keep[i];
    }
    if (pc->tags_given) {
        *tags_out = pc->tags.v;
        *ntags_out = pc->tags.n;
    } else if (sec && conf_has_section(app->conf, "retention", sec)) {
        *ntags_out = conf_get_list(app->conf, "retention", sec, "keep-tag", tags_out);
    } else {
        *tags_out = NULL;
        *ntags_out = 0;
    }
    pol->tags = *tags_out;
    pol->ntags = *ntags_out;
    if (pc->threshold < 0) {
        int64_t v = PRUNE_DEFAULT_THRESHOLD;
        if (sec && conf_has_section(app->conf, "retention", sec))
            conf_get_int(app->conf, "retention", sec, "repack-threshold", &v);
        pc->threshold = (int)v;
    }
}

/* Group key: host and sorted paths. */
static char *
group_key(const struct snapshot *s)
{
    struct buf b = BUF_INIT;
    char **paths = xmemdup(s->paths.v, s->paths.n * sizeof(char *));
    for (size_t i = 1; i < s->paths.n; i++)
        for (size_t k = i; k > 0 && strcmp(paths[k - 1], paths[k]) > 0; k--) {
            char *t = paths[k];
            paths[k] = paths[k - 1];
            paths[k - 1] = t;
        }
    buf_addstr(&b, s->host);
    for (size_t i = 0; i < s->paths.n; i++)
        buf_addf(&b, "\n%s", paths[i]);
    free(paths);
    return buf_detach(&b, NULL);
}

/* Decide keep/remove for list (sorted oldest first) group by group; results by index. */
static void
apply_policy(const struct retention_policy *pol, struct snap_list *list,
             struct retention_item *items)
{
    size_t n = list->items.n;
    char **keys = xcalloc(n ? n : 1, sizeof(char *));
    bool *done = xcalloc(n ? n : 1, sizeof(bool));
    struct retention_item *grp = xcalloc(n ? n : 1, sizeof(*grp));
    size_t *idx = xcalloc(n ? n : 1, sizeof(size_t));

    for (size_t i = 0; i < n; i++)
        keys[i] = group_key(&list->items.v[i]);
    for (size_t i = n; i-- > 0;) {
        size_t m = 0;
        if (done[i])
            continue;
        for (size_t k = i + 1; k-- > 0;) { /* newest first */
            struct snapshot *s = &list->items.v[k];
            if (done[k] || strcmp(keys[k], keys[i]) != 0)
                continue;
            done[k] = true;
            memset(&grp[m], 0, sizeof(grp[m]));
            grp[m].sec = s->time.sec;
            grp[m].off = s->time.off;
            grp[m].restore_point = !strcmp(s->type, "restore_point");
            grp[m].tags = (const char *const *)s->tags.v;
            grp[m].ntags = s->tags.n;
            idx[m++] = k;
        }
        retention_apply(pol, grp, m);
        for (size_t k = 0; k < m; k++)
            items[idx[k]] = grp[k];
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(done);
    free(grp);
    free(idx);
}

static void
render_prune(void *arg, char *line, size_t n, double elapsed)
{
    struct prune_progress *p = arg;
    static const char *phases[] = { "planning", "repacking", "writing the index", "deleting" };
    int ph = atomic_load(&p->phase);
    char done[SIZE_FMT_MAX], all[SIZE_FMT_MAX];
    size_format(atomic_load(&p->bytes), done);
    size_format(atomic_load(&p->bytes_total), all);
    if (ph == 1)
        snprintf(line, n, "[%02d:%02d] repacking %llu / %llu packs, %s / %s", (int)elapsed / 60,
                 (int)elapsed % 60, (unsigned long long)atomic_load(&p->packs),
                 (unsigned long long)atomic_load(&p->packs_total), done, all);
    else
        snprintf(line, n, "[%02d:%02d] %s", (int)elapsed / 60, (int)elapsed % 60,
                 phases[ph >= 0 && ph < 4 ? ph : 0]);
}

static json_t *
stats_json(const struct prune_stats *st)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bytes_before",
        (json_int_t)st->bytes_before, "bytes_after", (json_int_t)st->bytes_after, "bytes_deleted",
        (json_int_t)st->bytes_deleted, "bytes_written", (json_int_t)st->bytes_written,
        "packs_before", (json_int_t)st->packs_before, "packs_kept", (json_int_t)st->packs_kept,
        "packs_deleted", (json_int_t)st->packs_deleted, "packs_repacked",
        (json_int_t)st->packs_repacked, "packs_unindexed", (json_int_t)st->packs_unindexed,
        "packs_written", (json_int_t)st->packs_written, "blobs_repacked",
        (json_int_t)st->blobs_repacked, "unused_bytes_kept", (json_int_t)st->unused_bytes_kept,
        "staging_removed", (json_int_t)st->staging_removed);
}

static void
print_stats(const struct prune_stats *st, bool dry_run)
{
    char before[SIZE_FMT_MAX], after[SIZE_FMT_MAX], freed[SIZE_FMT_MAX], kept[SIZE_FMT_MAX];
    size_format(st->bytes_before, before);
    size_format(st->bytes_after, after);
    size_format(st->bytes_before > st->bytes_after ? st->bytes_before - st->bytes_after : 0, freed);
    size_format(st->unused_bytes_kept, kept);
    printf("%s: %llu packs deleted, %llu repacked (%llu blobs moved), %llu left by interrupted "
           "backups\n",
           dry_run ? "would prune" : "pruned", (unsigned long long)st->packs_deleted,
           (unsigned long long)st->packs_repacked, (unsigned long long)st->blobs_repacked,
           (unsigned long long)st->packs_unindexed);
    printf("repository: %s before, %s after (%s %s); %s unused kept in packs below the repack "
           "threshold\n",
           before, after, freed, dry_run ? "would be freed" : "freed", kept);
}

/* Forget the snapshots not kept, then collect garbage. */
static int
forget_and_prune(struct app *app, struct snap_list *list, const bool *remove,
                 struct retention_item *items, struct prune_ctx *pc)
{
    struct prune_opts po = { pc->dry_run, pc->threshold, NULL, 0 };
    VEC(const char *) forget = VEC_INIT;
    struct prune_progress prog;
    struct prune_stats st;
    struct progress *pr;
    json_t *arr = app->json ? json_array() : NULL;
    size_t nremove = 0;
    int r = 0;

    for (size_t i = 0; i < list->items.n; i++) {
        struct snapshot *s = &list->items.v[i];
        const char *why = items && items[i].reasons[0] ? items[i].reasons : "";
        if (remove[i]) {
            nremove++;
            vec_push(&forget, s->id);
        }
        if (arr) {
            char t[DT_RFC3339_MAX];
            dt_format_rfc3339(&s->time, t);
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", s->name,
                                                 "id", s->id, "time", t, "type", s->type, "keep",
                                                 !remove[i], "reasons", why));
        } else if (!app->quiet && items) {
            printf("%-24s %.8s  %-6s %s\n", s->name, s->id, remove[i] ? "remove" : "keep",
                   remove[i] ? "" : why);
        }
    }
    if (!pc->dry_run) {
        for (size_t i = 0; i < list->items.n && r == 0; i++)
            if (remove[i])
                r = snap_forget(app->repo, &list->items.v[i]);
        if (r) {
            json_decref(arr);
            vec_free(&forget);
            return r;
        }
    }
    if (!app->json && !app->quiet && items)
        printf("%zu snapshot(s) %sremoved, %zu kept\n", nremove, pc->dry_run ? "would be " : "",
               list->items.n - nremove);
    memset(&st, 0, sizeof(st));
    po.forget_ids = forget.v;
    po.nforget = forget.n;
    if (!pc->no_prune) {
        memset(&prog, 0, sizeof(prog));
        pr = progress_start(app->progress, render_prune, &prog);
        r = repo_prune(app->repo, &po, &prog, &st);
        progress_stop(pr);
    }
    if (r == 0) {
        if (arr)
            out_json(json_pack("{s:b, s:o, s:o}", "dry_run", pc->dry_run, "snapshots", arr, "prune",
                               pc->no_prune ? json_null() : stats_json(&st)));
        else if (!app->quiet && !pc->no_prune)
            print_stats(&st, pc->dry_run);
        arr = NULL;
    }
    json_decref(arr);
    vec_free(&forget);
    return r;
}

static const struct option prune_opts[] = {
    { "keep-last", required_argument, NULL, OPT_LAST },
    { "keep-hourly", required_argument, NULL, OPT_HOURLY },
    { "keep-daily", required_argument, NULL, OPT_DAILY },
    { "keep-weekly", required_argument, NULL, OPT_WEEKLY },
    { "keep-monthly", required_argument, NULL, OPT_MONTHLY },
    { "keep-yearly", required_argument, NULL, OPT_YEARLY },
    { "keep-tag", required_argument, NULL, OPT_TAG },
    { "repack-threshold", required_argument, NULL, OPT_THRESHOLD },
    { "dry-run", no_argument, NULL, OPT_DRY_RUN },
    { NULL, 0, NULL, 0 },
};

static void
prune_ctx_init(struct prune_ctx *pc)
{
    memset(pc, 0, sizeof(*pc));
    for (int i = 0; i < 6; i++)
        pc->keep[i] = -1;
    pc->threshold = -1;
}

int
cmd_backup_prune(struct app *app, int argc, char **argv)
{
    struct prune_ctx pc;
    struct retention_policy pol;
    struct retention_item *items = NULL;
    const char *const *tags;
    size_t ntags;
    struct snap_list list;
    bool *remove = NULL;
    int first, r;

    prune_ctx_init(&pc);
    snap_list_init(&list);
    app->command = "backup prune";
    r = app_parse(app, argc, argv, prune_opts, prune_usage, prune_opt, &pc, &first);
    if (r)
        goto out;
    if (first < argc) {
        r = cli_usage_error(prune_usage,
                            "unexpected argument '%s' (to remove given snapshots "
                            "use 'drkit backup delete')",
                            argv[first]);
        goto out;
    }
    app_apply_output(app);
    if ((r = app_open_repo(app, pc.dry_run ? 1 : 2)) != 0)
        goto out;
    build_policy(app, &pc, &pol, &tags, &ntags);
    if ((r = snap_list_load(app->repo, &list)) != 0)
        goto out;
    remove = xcalloc(list.items.n ? list.items.n : 1, sizeof(bool));
    if (!retention_empty(&pol)) {
        if (list.damaged.n) {
            r = drk_err_set(DRK_ECORRUPT,
                            "%zu snapshot file(s) are damaged; a retention policy "
                            "cannot be applied around them, nothing was removed",
                            list.damaged.n);
            goto out;
        }
        items = xcalloc(list.items.n ? list.items.n : 1, sizeof(*items));
        apply_policy(&pol, &list, items);
        for (size_t i = 0; i < list.items.n; i++)
            remove[i] = !items[i].keep;
    } else if (!app->quiet && !app->json) {
        printf("no retention policy given: only data no snapshot needs is removed\n");
    }
    r = forget_and_prune(app, &list, remove, items, &pc);
out:
    free(items);
    free(remove);
    snap_list_release(&list);
    vec_free(&pc.tags);
    return r == 1 ? 0 : r;
}

int
cmd_backup_delete(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "no-prune", no_argument, NULL, OPT_NO_PRUNE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { NULL, 0, NULL, 0 },
    };
    struct prune_ctx pc;
    struct snap_list list;
    bool *remove = NULL;
    int first, r;

    prune_ctx_init(&pc);
    pc.threshold = PRUNE_DEFAULT_THRESHOLD;
    snap_list_init(&list);
    app->command = "backup delete";
    r = app_parse(app, argc, argv, opts, delete_usage, prune_opt, &pc, &first);
    if (r)
        goto out;
    if (first >= argc) {
        r = cli_usage_error(delete_usage, "name the snapshots to delete");
        goto out;
    }
    app_apply_output(app);
    if ((r = app_open_repo(app, pc.dry_run ? 1 : 2)) != 0)
        goto out;
    if ((r = snap_list_load(app->repo, &list)) != 0)
        goto out;
    remove = xcalloc(list.items.n ? list.items.n : 1, sizeof(bool));
    for (int i = first; i < argc; i++) {
        struct snapshot *s;
        if ((r = snap_resolve(&list, argv[i], &s)) != 0)
            goto out;
        remove[s - list.items.v] = true;
    }
    if (!app->quiet && !app->json)
        for (size_t i = 0; i < list.items.n; i++)
            if (remove[i])
                printf("%s %s\n", pc.dry_run ? "would delete" : "deleting", list.items.v[i].name);
    r = forget_and_prune(app, &list, remove, NULL, &pc);
out:
    free(remove);
    snap_list_release(&list);
    return r == 1 ? 0 : r;
}
