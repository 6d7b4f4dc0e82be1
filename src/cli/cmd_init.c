/* cmd_init: `drkit init` — create a repository. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/repo.h"
#include "storage/storage.h"
#include "util/conf.h"
#include "util/err.h"
#include "util/size.h"
#include "util/str.h"
#include "util/banned.h"

static const char init_usage[] =
    "usage: drkit [--repo=LOCATION | --storage=NAME] init [--compression=off|auto|zstd:N]\n"
    "             [--pack-size=SIZE] [--kdf-ops=N] [--kdf-mem=SIZE]\n"
    "\n"
    "Creates an encrypted repository. The passphrase is asked twice on a terminal, or taken\n"
    "from $DRKIT_PASSWORD_FILE, the repository's password-file/password-command, or\n"
    "$DRKIT_PASSWORD. Keep it safe: without it nothing in the repository can be read.\n"
    "\n"
    "  --compression=MODE  zstd level for new data: off, auto (zstd level 3), zstd:1..19\n"
    "  --pack-size=SIZE    target pack size (default 16MiB, 1MiB..1GiB)\n"
    "  --kdf-ops=N         Argon2id passes (default 3)\n"
    "  --kdf-mem=SIZE      Argon2id memory (default 64MiB); lower only for tests\n";

enum { OPT_COMPRESSION = OPT_FIRST_COMMAND_OPTION, OPT_PACK_SIZE, OPT_KDF_OPS, OPT_KDF_MEM };

struct init_ctx {
    struct repo_init_opts o;
};

/* "off" -> 0, "auto"/"zstd" -> 3, "zstd:N" -> N; -1 if bad. */
static int
parse_compression(const char *s)
{
    uint64_t v;
    if (!strcmp(s, "off"))
        return 0;
    if (!strcmp(s, "auto") || !strcmp(s, "zstd"))
        return 3;
    if (str_starts_with(s, "zstd:") && str_to_u64(s + 5, &v) == 0 && v >= 1 && v <= 19)
        return (int)v;
    return -1;
}

static int
init_opt(struct app *app, void *arg, int c, const char *val)
{
    struct init_ctx *ctx = arg;
    uint64_t v;
    (void)app;
    switch (c) {
    case OPT_COMPRESSION:
        if ((ctx->o.compression = parse_compression(val)) < 0)
            return cli_usage_error(init_usage, "bad --compression '%s'", val);
        return 0;
    case OPT_PACK_SIZE:
        if (size_parse(val, &v) != 0 || v < (1u << 20) || v > (1u << 30))
            return cli_usage_error(init_usage, "bad --pack-size '%s' (1MiB..1GiB)", val);
        ctx->o.pack_size = (uint32_t)v;
        return 0;
    case OPT_KDF_OPS:
        if (str_to_u64(val, &v) != 0 || v < 1 || v > 64)
            return cli_usage_error(init_usage, "bad --kdf-ops '%s' (1..64)", val);
        ctx->o.kdf_ops = v;
        return 0;
    case OPT_KDF_MEM:
        if (size_parse(val, &v) != 0 || v < 8192 || v > (4ULL << 30))
            return cli_usage_error(init_usage, "bad --kdf-mem '%s' (8KiB..4GiB)", val);
        ctx->o.kdf_mem = v;
        return 0;
    }
    return cli_usage_error(init_usage, "unknown option");
}

int
cmd_init(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "compression", required_argument, NULL, OPT_COMPRESSION },
        { "pack-size", required_argument, NULL, OPT_PACK_SIZE },
        { "kdf-ops", required_argument, NULL, OPT_KDF_OPS },
        { "kdf-mem", required_argument, NULL, OPT_KDF_MEM },
        { NULL, 0, NULL, 0 },
    };
    struct init_ctx ctx;
    const char *loc;
    struct stor *stor = NULL;
    struct repo *repo = NULL;
    char *pass = NULL;
    size_t plen = 0;
    int first, r;

    memset(&ctx, 0, sizeof(ctx));
    ctx.o.compression = -1;
    app->command = "init";
    r = app_parse(app, argc, argv, opts, init_usage, init_opt, &ctx, &first);
    if (r == 1)
        return 0;
    if (r)
        return r;
    if (first < argc)
        return cli_usage_error(init_usage, "unexpected argument '%s'", argv[first]);
    app_apply_output(app);
    if ((r = app_repo_location(app, &loc)) != 0)
        return r;
    if (ctx.o.compression < 0 && app->repo_section) {
        const char *comp = conf_get(app->conf, "repository", app->repo_section, "compression");
        if (comp)
            ctx.o.compression = parse_compression(comp);
    }
    if (!ctx.o.pack_size && app->repo_section) {
        uint64_t ps;
        if (conf_get_size(app->conf, "repository", app->repo_section, "pack-size", &ps) == 0)
            ctx.o.pack_size = (uint32_t)ps;
    }
    if ((r = app_stor_open(app, app->repo_section, loc, &stor)) != 0)
        return r;
    r = repo_probe(stor);
    if (r == 0) {
        stor_close(stor);
        return drk_err_set(DRK_EEXIST, "'%s' already holds a drkit repository", loc);
    }
    if (r != DRK_ENOREPO) {
        stor_close(stor);
        return r;
    }
    if ((r = app_passphrase(app, true, &pass, &plen)) != 0) {
        stor_close(stor);
        return r;
    }
    r = repo_init(&repo, stor, pass, plen, &ctx.o);
    app_free_secret(pass, plen);
    if (r) {
        stor_close(stor);
        return r;
    }
    if (app->json) {
        out_json(json_pack("{s:s, s:s, s:s, s:i}", "location", loc, "id", repo->config.id, "key",
                           repo->key_id, "version", (int)repo->config.version));
    } else if (!app->quiet) {
        printf("created drkit repository %.12s at %s\n", repo->config.id, loc);
        printf("keep the passphrase safe: without it the backups cannot be restored\n");
    }
    app->repo = repo;
    return 0;
}
