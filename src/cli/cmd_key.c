/* cmd_key: `drkit key list|add|remove|passwd` — the passphrases that open a repository. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/key.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/size.h"
#include "util/str.h"
#include "util/banned.h"

static const char key_usage[] =
    "usage: drkit key list [--json]\n"
    "       drkit key add [--file=NEWPASSFILE] [--kdf-ops=N] [--kdf-mem=SIZE]\n"
    "       drkit key remove ID\n"
    "       drkit key passwd [--file=NEWPASSFILE]\n"
    "\n"
    "Several passphrases can open one repository; each is a key file wrapping the same master\n"
    "keys. The new passphrase comes from --file, $DRKIT_NEW_PASSWORD, or is asked twice on the\n"
    "terminal. `remove` refuses the last key and the key the command itself opened with;\n"
    "`passwd` adds a key with the new passphrase, then removes the one used to open.\n";

enum { OPT_FILE = OPT_FIRST_COMMAND_OPTION, OPT_KDF_OPS, OPT_KDF_MEM };

struct key_ctx {
    const char *file;
    uint64_t ops, mem;
};

static int
key_opt(struct app *app, void *arg, int c, const char *val)
{
    struct key_ctx *k = arg;
    (void)app;
    switch (c) {
    case OPT_FILE:
        k->file = val;
        return 0;
    case OPT_KDF_OPS:
        if (str_to_u64(val, &k->ops) != 0 || k->ops < 1 || k->ops > 64)
            return cli_usage_error(key_usage, "bad --kdf-ops '%s' (1..64)", val);
        return 0;
    case OPT_KDF_MEM:
        if (size_parse(val, &k->mem) != 0 || k->mem < 8192 || k->mem > (4ULL << 30))
            return cli_usage_error(key_usage, "bad --kdf-mem '%s' (8KiB..4GiB)", val);
        return 0;
    }
    return cli_usage_error(key_usage, "unknown option");
}

static int
key_ls(struct app *app)
{
    struct key_info *keys;
    size_t n;
    int r = key_list(app->repo->stor, &keys, &n);
    if (r)
        return r;
    if (app->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:s, s:b, s:s, s:s, s:s, s:I, s:I, s:b}", "id", keys[i].id,
                               "current", !strcmp(keys[i].id, app->repo->key_id), "created",
                               keys[i].created, "host", keys[i].host, "username", keys[i].username,
                               "kdf_ops", (json_int_t)keys[i].ops, "kdf_mem",
                               (json_int_t)keys[i].mem, "damaged", keys[i].damaged));
        out_json(arr);
    } else {
        struct out_table *t = out_table_new(6);
        out_table_row(t, " ", "ID", "CREATED", "HOST", "USER", "KDF");
        for (size_t i = 0; i < n; i++) {
            char id[9], kdf[64], mem[SIZE_FMT_MAX], created[20];
            snprintf(id, sizeof(id), "%.8s", keys[i].id);
            size_format(keys[i].mem, mem);
            snprintf(kdf, sizeof(kdf), keys[i].damaged ? "damaged" : "argon2id %llu x %s",
                     (unsigned long long)keys[i].ops, mem);
            snprintf(created, sizeof(created), "%.10s %.5s", keys[i].created,
                     keys[i].created[0] ? keys[i].created + 11 : "");
            out_table_row(t, !strcmp(keys[i].id, app->repo->key_id) ? "*" : " ", id, created,
                          keys[i].host, keys[i].username, kdf);
        }
        out_table_print(t);
    }
    free(keys);
    return 0;
}

/* A full key id from a unique prefix. */
static int
resolve_key(struct app *app, const char *ref, char out[ID_HEX_LEN + 1])
{
    struct key_info *keys;
    size_t n, hits = 0, len = strlen(ref);
    int r = key_list(app->repo->stor, &keys, &n);
    if (r)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (len >= 4 && !strncmp(keys[i].id, ref, len)) {
            snprintf(out, ID_HEX_LEN + 1, "%s", keys[i].id);
            hits++;
        }
    }
    free(keys);
    if (hits == 1)
        return 0;
    if (hits > 1)
        return drk_err_set(DRK_EAMBIGUOUS, "'%s' matches %zu keys; give more digits", ref, hits);
    drk_err_set(DRK_ENOTFOUND, "no key '%s' in the repository", ref);
    drk_err_hint("'drkit key list' shows the keys");
    return DRK_ENOTFOUND;
}

static int
key_new(struct app *app, const struct key_ctx *k, char id_out[ID_HEX_LEN + 1])
{
    char *pass = NULL;
    size_t plen = 0;
    int r = app_new_passphrase(app, k->file, &pass, &plen);
    if (r)
        return r;
    r = key_add(app->repo->stor, app->repo->master, pass, plen, k->ops, k->mem, id_out);
    app_free_secret(pass, plen);
    return r;
}

int
cmd_key(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "file", required_argument, NULL, OPT_FILE },
        { "kdf-ops", required_argument, NULL, OPT_KDF_OPS },
        { "kdf-mem", required_argument, NULL, OPT_KDF_MEM },
        { NULL, 0, NULL, 0 },
    };
    struct key_ctx k;
    const char *sub;
    char id[ID_HEX_LEN + 1];
    int first, r;

    memset(&k, 0, sizeof(k));
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(key_usage, stdout);
            return 0;
        }
        return cli_usage_error(key_usage, "give a subcommand: list, add, remove or passwd");
    }
    sub = argv[1];
    /* what a lock of this command shows to the commands it blocks */
    app->command = !strcmp(sub, "add")      ? "key add"
                   : !strcmp(sub, "remove") ? "key remove"
                   : !strcmp(sub, "passwd") ? "key passwd"
                                            : "key";
    r = app_parse(app, argc - 1, argv + 1, opts, key_usage, key_opt, &k, &first);
    if (r)
        return r == 1 ? 0 : r;
    first++; /* indexes of argv + 1 */
    app_apply_output(app);
    if (!strcmp(sub, "list")) {
        if (first < argc)
            return cli_usage_error(key_usage, "unexpected argument '%s'", argv[first]);
        if ((r = app_open_repo(app, 0)) != 0)
            return r;
        return key_ls(app);
    }
    if (!strcmp(sub, "add")) {
        if (first < argc)
            return cli_usage_error(key_usage, "unexpected argument '%s'", argv[first]);
        if ((r = app_open_repo(app, 1)) != 0 || (r = key_new(app, &k, id)) != 0)
            return r;
        if (app->json)
            out_json(json_pack("{s:s}", "added", id));
        else if (!app->quiet)
            printf("added key %.8s\n", id);
        return 0;
    }
    if (!strcmp(sub, "remove")) {
        if (argc - first != 1)
            return cli_usage_error(key_usage, "name one key to remove (an id prefix)");
        if ((r = app_open_repo(app, 2)) != 0 || (r = resolve_key(app, argv[first], id)) != 0)
            return r;
        if ((r = key_remove(app->repo->stor, id, app->repo->key_id)) != 0)
            return r;
        if (app->json)
            out_json(json_pack("{s:s}", "removed", id));
        else if (!app->quiet)
            printf("removed key %.8s\n", id);
        return 0;
    }
    if (!strcmp(sub, "passwd")) {
        char old[ID_HEX_LEN + 1];
        if (first < argc)
            return cli_usage_error(key_usage, "unexpected argument '%s'", argv[first]);
        if ((r = app_open_repo(app, 2)) != 0 || (r = key_new(app, &k, id)) != 0)
            return r;
        snprintf(old, sizeof(old), "%s", app->repo->key_id);
        /* the new key exists: the old one may go (not "current" for key_remove now) */
        if ((r = key_remove(app->repo->stor, old, NULL)) != 0)
            return drk_err_wrap(r,
                                "the new key %.8s was added, but the old key %.8s could "
                                "not be removed",
                                id, old);
        if (app->json)
            out_json(json_pack("{s:s, s:s}", "added", id, "removed", old));
        else if (!app->quiet)
            printf("passphrase changed: key %.8s replaces key %.8s\n", id, old);
        return 0;
    }
    return cli_usage_error(key_usage, "'%s' is not a key subcommand", sub);
}
