/* cmd_backup_verify: `drkit backup test` and `drkit backup check`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "engine/verify.h"
#include "repo/check.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/banned.h"

static const char test_usage[] =
    "usage: drkit backup test ID [--json] [--quiet]\n"
    "\n"
    "Reads every blob that snapshot ID needs (trees and all file content), decrypts,\n"
    "decompresses and checks each against its id. Exit 4 if anything is damaged; the damaged\n"
    "objects and the files they affect are named.\n";

static const char check_usage[] =
    "usage: drkit backup check [--read-data] [--json] [--quiet]\n"
    "\n"
    "Checks the structure of the whole repository: keys, index, packs present with the right\n"
    "size, every snapshot and every tree, and that every blob a file needs is indexed.\n"
    "  --read-data   also read every pack in full and verify every blob\n"
    "Exit 4 if anything is damaged.\n";

static void
render_test(void *arg, char *line, size_t n, double elapsed)
{
    struct verify_progress *p = arg;
    char done[SIZE_FMT_MAX], all[SIZE_FMT_MAX], rate[40], eta[40];
    uint64_t b = atomic_load(&p->bytes), bt = atomic_load(&p->bytes_total);
    size_format(b, done);
    size_format(bt, all);
    out_rate(rate, sizeof(rate), b, elapsed);
    out_eta(eta, sizeof(eta), b, bt, elapsed);
    snprintf(line, n, "[%02d:%02d] %llu / %llu blobs, %s / %s, %s, %s", (int)elapsed / 60,
             (int)elapsed % 60, (unsigned long long)atomic_load(&p->blobs),
             (unsigned long long)atomic_load(&p->blobs_total), done, all, rate, eta);
}

static json_t *
strings_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, out_json_bytes(v[i], strlen(v[i])));
    return a;
}

static void
print_problems(const struct check_item *v, size_t n)
{
    struct buf esc = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        str_escape_display(&esc, v[i].message, strlen(v[i].message), true);
        fprintf(stderr, "damaged: %s: %s\n", v[i].object, (char *)esc.data);
    }
    buf_release(&esc);
}

static void
print_affected(char **v, size_t n, uint64_t total)
{
    struct buf esc = BUF_INIT;
    if (!n)
        return;
    fprintf(stderr, "affected files (%llu):\n", (unsigned long long)total);
    for (size_t i = 0; i < n; i++) {
        str_escape_display(&esc, v[i], strlen(v[i]), true);
        fprintf(stderr, "  %s\n", (char *)esc.data);
    }
    if (total > n)
        fprintf(stderr, "  ... and %llu more\n", (unsigned long long)(total - n));
    buf_release(&esc);
}

int
cmd_backup_test(struct app *app, int argc, char **argv)
{
    struct snap_list list;
    struct snapshot *s;
    struct verify_progress prog;
    struct verify_report rep;
    struct progress *pr;
    double t0;
    int first, r;

    memset(&rep, 0, sizeof(rep));
    snap_list_init(&list);
    app->command = "backup test";
    r = app_parse(app, argc, argv, NULL, test_usage, app_no_options, (void *)test_usage, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (argc - first != 1)
        return cli_usage_error(test_usage, "give one snapshot: a name, an id prefix or latest");
    app_apply_output(app);
    if ((r = app_open_repo(app, 1)) != 0)
        return r;
    if ((r = repo_load_index(app->repo)) != 0)
        return r;
    {
        const struct idx_damaged *d;
        size_t nd = idx_damaged(app->repo->idx, &d);
        for (size_t i = 0; i < nd; i++) {
            char obj[300];
            snprintf(obj, sizeof(obj), "index/%s", d[i].file);
            verify_report_problem(&rep, obj, d[i].message);
        }
    }
    if ((r = load_and_resolve(app, &list, argv[first], &s)) != 0)
        goto out;
    memset(&prog, 0, sizeof(prog));
    t0 = dt_monotonic();
    {
        struct verify_report tmp;
        pr = progress_start(app->progress, render_test, &prog);
        r = verify_snapshot(app->repo, s, app->threads, &prog, &tmp);
        progress_stop(pr);
        /* keep the index problems found above in front */
        for (size_t i = 0; i < tmp.problems.n; i++)
            vec_push(&rep.problems, tmp.problems.v[i]);
        vec_free(&tmp.problems);
        rep.affected = tmp.affected;
        rep.affected_total = tmp.affected_total;
        rep.trees = tmp.trees;
        rep.blobs = tmp.blobs;
        rep.bytes = tmp.bytes;
    }
    if (r)
        goto out;
    if (app->json) {
        json_t *probs = json_array();
        for (size_t i = 0; i < rep.problems.n; i++)
            json_array_append_new(
                probs, json_pack("{s:s, s:o}", "object", rep.problems.v[i].object, "error",
                                 out_json_bytes(rep.problems.v[i].message,
                                                strlen(rep.problems.v[i].message))));
        out_json(json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:f, s:o, s:o, s:I}", "snapshot",
                           s->name, "id", s->id, "ok", rep.problems.n == 0, "trees",
                           (json_int_t)rep.trees, "blobs", (json_int_t)rep.blobs, "bytes",
                           (json_int_t)rep.bytes, "duration", dt_monotonic() - t0, "problems",
                           probs, "affected", strings_json(rep.affected.v, rep.affected.n),
                           "affected_total", (json_int_t)rep.affected_total));
    } else {
        print_problems(rep.problems.v, rep.problems.n);
        print_affected(rep.affected.v, rep.affected.n, rep.affected_total);
        if (!app->quiet && rep.problems.n == 0) {
            char bytes[SIZE_FMT_MAX], dur[24];
            size_format(rep.bytes, bytes);
            dt_format_duration(dt_monotonic() - t0, dur);
            printf("%s is restorable: %llu trees and %llu blobs (%s) read and verified in %s\n",
                   s->name, (unsigned long long)rep.trees, (unsigned long long)rep.blobs, bytes,
                   dur);
        }
    }
    if (rep.problems.n)
        r = drk_err_set(DRK_ECORRUPT,
                        "snapshot '%s' is damaged: %zu problem(s), %llu file(s) "
                        "affected",
                        s->name, rep.problems.n, (unsigned long long)rep.affected_total);
out:
    verify_report_release(&rep);
    snap_list_release(&list);
    return r;
}

enum { OPT_READ_DATA = OPT_FIRST_COMMAND_OPTION };

static int
check_opt(struct app *app, void *arg, int c, const char *val)
{
    (void)app;
    (void)val;
    if (c == OPT_READ_DATA) {
        *(bool *)arg = true;
        return 0;
    }
    return cli_usage_error(check_usage, "unknown option");
}

static void
render_check(void *arg, char *line, size_t n, double elapsed)
{
    struct check_progress *p = arg;
    char done[SIZE_FMT_MAX], all[SIZE_FMT_MAX], rate[40], eta[40];
    uint64_t b = atomic_load(&p->bytes), bt = atomic_load(&p->bytes_total);
    int phase = atomic_load(&p->phase);
    if (phase < 2) {
        snprintf(line, n, "[%02d:%02d] checking %s", (int)elapsed / 60, (int)elapsed % 60,
                 phase == 0 ? "index and packs" : "snapshots and trees");
        return;
    }
    size_format(b, done);
    size_format(bt, all);
    out_rate(rate, sizeof(rate), b, elapsed);
    out_eta(eta, sizeof(eta), b, bt, elapsed);
    snprintf(line, n, "[%02d:%02d] %llu / %llu packs, %s / %s, %s, %s", (int)elapsed / 60,
             (int)elapsed % 60, (unsigned long long)atomic_load(&p->packs),
             (unsigned long long)atomic_load(&p->packs_total), done, all, rate, eta);
}

static json_t *
items_json(const struct check_item *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:o}", "object", v[i].object, "message",
                                           out_json_bytes(v[i].message, strlen(v[i].message))));
    return a;
}

int
cmd_backup_check(struct app *app, int argc, char **argv)
{
    struct check_opts o;
    struct check_progress prog;
    struct check_report rep;
    struct progress *pr;
    double t0;
    int first, r;

    memset(&o, 0, sizeof(o));
    memset(&rep, 0, sizeof(rep));
    app->command = "backup check";
    {
        static const struct option opts[] = {
            { "read-data", no_argument, NULL, OPT_READ_DATA },
            { NULL, 0, NULL, 0 },
        };
        r = app_parse(app, argc, argv, opts, check_usage, check_opt, &o.read_data, &first);
    }
    if (r)
        return r == 1 ? 0 : r;
    if (first < argc)
        return cli_usage_error(check_usage, "unexpected argument '%s'", argv[first]);
    app_apply_output(app);
    if ((r = app_open_repo(app, 1)) != 0)
        return r;
    o.threads = app->threads;
    memset(&prog, 0, sizeof(prog));
    t0 = dt_monotonic();
    pr = progress_start(app->progress, render_check, &prog);
    r = repo_check(app->repo, &o, &prog, &rep);
    progress_stop(pr);
    if (r)
        goto out;
    if (app->json) {
        out_json(json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:o, s:o, s:I}",
                           "ok", rep.problems.n == 0, "read_data", o.read_data, "snapshots",
                           (json_int_t)rep.snapshots, "index_files", (json_int_t)rep.index_files,
                           "packs", (json_int_t)rep.packs, "blobs", (json_int_t)rep.blobs, "trees",
                           (json_int_t)rep.trees, "bytes_read",
                           (json_int_t)atomic_load(&prog.bytes), "duration", dt_monotonic() - t0,
                           "problems", items_json(rep.problems.v, rep.problems.n), "notes",
                           items_json(rep.notes.v, rep.notes.n), "affected",
                           strings_json(rep.affected.v, rep.affected.n), "affected_total",
                           (json_int_t)rep.affected_total));
    } else {
        print_problems(rep.problems.v, rep.problems.n);
        print_affected(rep.affected.v, rep.affected.n, rep.affected_total);
        if (!app->quiet) {
            char dur[24];
            for (size_t i = 0; i < rep.notes.n; i++)
                printf("note: %s: %s\n", rep.notes.v[i].object, rep.notes.v[i].message);
            dt_format_duration(dt_monotonic() - t0, dur);
            printf("%s: %llu snapshots, %llu index files, %llu packs, %llu blobs, %llu trees%s "
                   "checked in %s\n",
                   rep.problems.n ? "problems found" : "no problems",
                   (unsigned long long)rep.snapshots, (unsigned long long)rep.index_files,
                   (unsigned long long)rep.packs, (unsigned long long)rep.blobs,
                   (unsigned long long)rep.trees, o.read_data ? ", all data read and" : "", dur);
        }
    }
    if (rep.problems.n)
        r = drk_err_set(DRK_ECORRUPT,
                        "the repository is damaged: %zu problem(s), %llu file(s) "
                        "affected",
                        rep.problems.n, (unsigned long long)rep.affected_total);
out:
    check_report_release(&rep);
    return r;
}
