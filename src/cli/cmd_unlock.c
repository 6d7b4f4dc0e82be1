/* cmd_unlock: `drkit unlock [--remove-all]` — remove locks of processes that are gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/lock.h"
#include "storage/storage.h"
#include "util/err.h"
#include "util/banned.h"

static const char unlock_usage[] =
    "usage: drkit unlock [--remove-all] [--json]\n"
    "\n"
    "Removes stale lock files: those of processes that are gone (drkit ignores them anyway).\n"
    "With --remove-all it removes every lock, also those of running drkit processes: only\n"
    "when you are sure none is running, e.g. after moving a repository between machines.\n"
    "Needs no passphrase: lock files hold no secrets.\n";

enum { OPT_REMOVE_ALL = OPT_FIRST_COMMAND_OPTION };

static int
unlock_opt(struct app *app, void *arg, int c, const char *val)
{
    (void)app;
    (void)val;
    if (c == OPT_REMOVE_ALL) {
        *(bool *)arg = true;
        return 0;
    }
    return cli_usage_error(unlock_usage, "unknown option");
}

int
cmd_unlock(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "remove-all", no_argument, NULL, OPT_REMOVE_ALL },
        { NULL, 0, NULL, 0 },
    };
    struct stor *stor = NULL;
    struct lock_info *locks = NULL;
    size_t n = 0, removed = 0;
    bool all = false;
    json_t *arr = NULL;
    int first, r;

    app->command = "unlock";
    r = app_parse(app, argc, argv, opts, unlock_usage, unlock_opt, &all, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (first < argc)
        return cli_usage_error(unlock_usage, "unexpected argument '%s'", argv[first]);
    app_apply_output(app);
    if ((r = app_open_storage(app, &stor)) != 0)
        return r;
    if ((r = lock_list(stor, &locks, &n)) != 0)
        goto out;
    if (app->json)
        arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct lock_info *li = &locks[i];
        bool go = all || li->stale;
        if (go && (r = lock_remove(stor, li->id)) != 0 && r != DRK_ENOTFOUND)
            goto out;
        r = 0;
        removed += go;
        if (arr)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:b, s:b, s:b}", "id",
                                                 li->id, "host", li->hostname ? li->hostname : "",
                                                 "pid", (json_int_t)li->pid, "command",
                                                 li->command ? li->command : "", "exclusive",
                                                 li->exclusive, "stale", li->stale, "removed", go));
        else if (!app->quiet)
            printf("%s lock %.8s of '%s' (pid %ld on %s)%s\n", go ? "removed" : "kept", li->id,
                   li->command ? li->command : "?", li->pid, li->hostname ? li->hostname : "?",
                   go ? (li->stale ? ", stale" : ", live") : ": its process is running");
    }
    if (arr) {
        out_json(json_pack("{s:o, s:I}", "locks", arr, "removed", (json_int_t)removed));
        arr = NULL;
    } else if (!app->quiet) {
        printf("%zu lock(s) removed, %zu kept\n", removed, n - removed);
    }
out:
    json_decref(arr);
    lock_info_free(locks, n);
    stor_close(stor);
    return r;
}
