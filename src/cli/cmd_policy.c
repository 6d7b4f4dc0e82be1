/* cmd_policy: `drkit policy check` — does the 3-2-1 rule hold right now? */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "storage/storage.h"
#include "util/conf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char policy_usage[] =
    "usage: drkit policy check [--json]\n"
    "\n"
    "Opens every configured repository ([policy] repositories, default all) and checks the\n"
    "3-2-1 rule: at least [policy] copies of the newest data (the live data counts as one; a\n"
    "repository counts when its newest snapshot is no older than its max-age), on [policy]\n"
    "media kinds of media (each repository's medium; the live data is on 'disk'), with\n"
    "[policy] offsite of them away from the site (repositories with offsite = true).\n"
    "Exit 1 when the rule does not hold, saying what is missing.\n";

struct repo_state {
    const char *name, *medium;
    char *where;     /* the storage location, resolved: two names for one place are one copy */
    const char *dup; /* the repository that already counted for the same storage, or NULL */
    bool offsite, reachable, fresh;
    uint64_t max_age;
    char newest[64];
    int64_t age; /* seconds, -1 without snapshots */
    size_t snapshots;
    char error[256];
};

/* Open one repository and look at its newest snapshot. */
static void
inspect(struct app *app, struct repo_state *rs)
{
    const char *url = conf_get(app->conf, "repository", rs->name, "url");
    struct stor *stor = NULL;
    struct repo *repo = NULL;
    struct snap_list list;
    char *pass = NULL;
    size_t plen = 0;
    struct dt now;
    int r;

    snap_list_init(&list);
    rs->age = -1;
    rs->where = url ? realpath(url, NULL) : NULL; /* NULL for what is not a local path */
    if (!rs->where)
        rs->where = xstrdup(url ? url : "");
    if ((r = app_stor_open(app, rs->name, url, &stor)) != 0 || (r = repo_probe(stor)) != 0 ||
        (r = app_passphrase_for(app, rs->name, "DRKIT", false, &pass, &plen)) != 0 ||
        (r = repo_open(&repo, stor, pass, plen)) != 0) {
        snprintf(rs->error, sizeof(rs->error), "%s", drk_err_msg());
        app_free_secret(pass, plen);
        stor_close(stor);
        return;
    }
    app_free_secret(pass, plen);
    rs->reachable = true;
    if ((r = snap_list_load(repo, &list)) != 0) {
        snprintf(rs->error, sizeof(rs->error), "%s", drk_err_msg());
    } else if (list.items.n) {
        const struct snapshot *s = &list.items.v[list.items.n - 1];
        dt_now(&now);
        rs->snapshots = list.items.n;
        snprintf(rs->newest, sizeof(rs->newest), "%s", s->name);
        rs->age = now.sec - s->time.sec;
        rs->fresh = rs->age >= 0 && (uint64_t)rs->age <= rs->max_age;
    }
    snap_list_release(&list);
    repo_free(repo);
}

static void
age_text(int64_t age, char *out, size_t n)
{
    if (age < 0)
        snprintf(out, n, "-");
    else if (age < 3600)
        snprintf(out, n, "%lldm", (long long)(age / 60));
    else if (age < 2 * 86400)
        snprintf(out, n, "%lldh", (long long)(age / 3600));
    else
        snprintf(out, n, "%lldd", (long long)(age / 86400));
}

static int
policy_check(struct app *app)
{
    const char *const *names;
    size_t n;
    VEC(struct repo_state) states = VEC_INIT;
    VEC(const char *) media = VEC_INIT;
    int64_t want_copies = 3, want_media = 2, want_offsite = 1;
    size_t copies = 1, offsite = 0;
    bool ok;
    int r = 0;

    conf_get_int(app->conf, "policy", NULL, "copies", &want_copies);
    conf_get_int(app->conf, "policy", NULL, "media", &want_media);
    conf_get_int(app->conf, "policy", NULL, "offsite", &want_offsite);
    n = conf_get_list(app->conf, "policy", NULL, "repositories", &names);
    if (n == 0)
        n = conf_subsections(app->conf, "repository", &names);
    if (n == 0) {
        drk_err_set(DRK_ECONFIG, "no repositories in the config to check");
        drk_err_hint("define [repository \"NAME\"] sections (and medium/offsite/max-age keys)");
        return DRK_ECONFIG;
    }
    vec_push(&media, "disk"); /* the live data */
    for (size_t i = 0; i < n; i++) {
        struct repo_state rs;
        bool b = false;
        memset(&rs, 0, sizeof(rs));
        rs.name = names[i];
        if (!conf_has_section(app->conf, "repository", rs.name)) {
            drk_err_set(DRK_ECONFIG,
                        "[policy] repositories names '%s', which has no "
                        "[repository \"%s\"] section",
                        rs.name, rs.name);
            for (size_t k = 0; k < states.n; k++)
                free(states.v[k].where);
            vec_free(&states);
            vec_free(&media);
            return DRK_ECONFIG;
        }
        rs.medium = conf_get(app->conf, "repository", rs.name, "medium");
        conf_get_bool(app->conf, "repository", rs.name, "offsite", &b);
        rs.offsite = b;
        conf_get_duration(app->conf, "repository", rs.name, "max-age", &rs.max_age);
        inspect(app, &rs);
        for (size_t k = 0; k < states.n && rs.fresh; k++) {
            if (states.v[k].fresh && !states.v[k].dup && !strcmp(states.v[k].where, rs.where)) {
                rs.dup = states.v[k].name;
                rs.fresh = false;
            }
        }
        if (rs.fresh) {
            bool seen = false;
            copies++;
            offsite += rs.offsite;
            for (size_t k = 0; k < media.n && !seen; k++)
                seen = !strcmp(media.v[k], rs.medium);
            if (!seen)
                vec_push(&media, rs.medium);
        }
        vec_push(&states, rs);
    }
    ok = (int64_t)copies >= want_copies && (int64_t)media.n >= want_media &&
         (int64_t)offsite >= want_offsite;
    if (app->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < states.n; i++) {
            struct repo_state *rs = &states.v[i];
            json_array_append_new(
                arr,
                json_pack("{s:s, s:s, s:b, s:b, s:b, s:s?, s:I, s:I, s:I, s:s?, s:s?}", "name",
                          rs->name, "medium", rs->medium, "offsite", rs->offsite, "reachable",
                          rs->reachable, "counts", rs->fresh, "newest",
                          rs->newest[0] ? rs->newest : NULL, "age", (json_int_t)rs->age, "max_age",
                          (json_int_t)rs->max_age, "snapshots", (json_int_t)rs->snapshots, "error",
                          rs->error[0] ? rs->error : NULL, "same_as", rs->dup));
        }
        out_json(json_pack("{s:b, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:o}", "ok", ok,
                           "copies", "have", (json_int_t)copies, "want", want_copies, "media",
                           "have", (json_int_t)media.n, "want", want_media, "offsite", "have",
                           (json_int_t)offsite, "want", want_offsite, "repositories", arr));
    } else if (!app->quiet) {
        struct out_table *t = out_table_new(7);
        out_table_row(t, "REPOSITORY", "MEDIUM", "OFF-SITE", "NEWEST", "AGE", "MAX-AGE", "COUNTS");
        for (size_t i = 0; i < states.n; i++) {
            struct repo_state *rs = &states.v[i];
            char age[16], max[16], counts[300];
            age_text(rs->age, age, sizeof(age));
            age_text((int64_t)rs->max_age, max, sizeof(max));
            if (rs->dup)
                snprintf(counts, sizeof(counts), "no: same storage as %s", rs->dup);
            else
                snprintf(counts, sizeof(counts), "%s",
                         rs->fresh        ? "yes"
                         : !rs->reachable ? "no"
                         : rs->snapshots  ? "no: too old"
                                          : "no: no snapshots");
            out_table_row(t, rs->name, rs->medium, rs->offsite ? "yes" : "no",
                          rs->newest[0] ? rs->newest : (rs->reachable ? "(none)" : "(unreachable)"),
                          age, max, counts);
        }
        out_table_print(t);
        printf("3-2-1: %zu/%lld copies (the live data is one), %zu/%lld kinds of media, "
               "%zu/%lld off-site: %s\n",
               copies, (long long)want_copies, media.n, (long long)want_media, offsite,
               (long long)want_offsite, ok ? "holds" : "DOES NOT HOLD");
    }
    if (!app->json)
        for (size_t i = 0; i < states.n; i++)
            if (states.v[i].error[0])
                fprintf(stderr, "%s: %s\n", states.v[i].name, states.v[i].error);
    if (!ok)
        r = drk_err_set(DRK_EIO,
                        "the 3-2-1 rule does not hold: %zu of %lld copies, %zu of %lld "
                        "media, %zu of %lld off-site",
                        copies, (long long)want_copies, media.n, (long long)want_media, offsite,
                        (long long)want_offsite);
    for (size_t i = 0; i < states.n; i++)
        free(states.v[i].where);
    vec_free(&states);
    vec_free(&media);
    return r;
}

int
cmd_policy(struct app *app, int argc, char **argv)
{
    int first, r;
    if (argc < 2 || strcmp(argv[1], "check") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(policy_usage, stdout);
            return 0;
        }
        return cli_usage_error(policy_usage, "the policy command is 'drkit policy check'");
    }
    app->command = "policy check";
    r = app_parse(app, argc - 1, argv + 1, NULL, policy_usage, app_no_options, (void *)policy_usage,
                  &first);
    if (r)
        return r == 1 ? 0 : r;
    if (first + 1 < argc)
        return cli_usage_error(policy_usage, "unexpected argument '%s'", argv[first + 1]);
    app_apply_output(app);
    if ((r = app_load_config(app)) != 0)
        return r;
    return policy_check(app);
}
