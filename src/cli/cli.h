/*
 * cli: the command line. One table of commands (cli.c), one file per command group
 * (cmd_*.c). Only this layer prints to stdout and turns error codes into exit codes.
 *
 * Every command receives a struct app holding the global options and, on demand, the
 * loaded config, the opened repository and its lock.
 */
#ifndef DRK_CLI_CLI_H
#define DRK_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct conf;
struct repo;
struct stor;
struct repo_lock;

struct app {
    const char *repo_url;    /* --repo */
    const char *storage;     /* --storage NAME */
    const char *config_path; /* --config */
    bool quiet;
    bool json;
    int verbose;
    bool progress; /* draw progress: stdout and stderr are TTYs and not quiet/json */
    unsigned threads;
    long lock_wait; /* seconds to wait for a locked repository; -1: from the config */
    struct conf *conf;
    const char *repo_section; /* [repository "NAME"] in use, or NULL */
    struct repo *repo;
    struct repo_lock *lock;
    const char *command; /* "backup create", for locks and messages */
};

/* Options every command accepts (after the command too): --repo, --storage, --config,
 * --json, --quiet, --verbose, --help. */
enum {
    OPT_REPO = 1000,
    OPT_STORAGE,
    OPT_CONFIG,
    OPT_JSON,
    OPT_QUIET,
    OPT_VERBOSE,
    OPT_HELP,
    OPT_LOCK_WAIT,
    OPT_FIRST_COMMAND_OPTION, /* commands number their own options from here */
};

/* clang-format off */
#define COMMON_LONG_OPTIONS                                   \
    { "repo", required_argument, NULL, OPT_REPO },            \
    { "storage", required_argument, NULL, OPT_STORAGE },      \
    { "config", required_argument, NULL, OPT_CONFIG },        \
    { "json", no_argument, NULL, OPT_JSON },                  \
    { "quiet", no_argument, NULL, OPT_QUIET },                \
    { "verbose", no_argument, NULL, OPT_VERBOSE },            \
    { "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },  \
    { "help", no_argument, NULL, OPT_HELP }
/* clang-format on */

/* Handle a common option; returns 1 if it was one, 0 if not. --help prints usage. */
int app_common_option(struct app *app, int c, const char *arg, const char *usage);

/* Parse argv[1..] with getopt_long after resetting getopt; calls fn for each command
 * option; leaves positional arguments in *rest. Returns 0, DRK_EUSAGE, or 1 when --help
 * was handled (caller returns 0). */
typedef int (*app_opt_fn)(struct app *app, void *ctx, int c, const char *arg);
int app_parse(struct app *app, int argc, char **argv, const struct option *cmd_opts,
              const char *usage, app_opt_fn fn, void *ctx, int *first_arg);

/* After a command's options are parsed: log level, progress display. */
void app_apply_output(struct app *app);
int app_load_config(struct app *app);

/* The database source of the config (the first [source] with type = postgresql): its
 * connection, databases and excluded tables. DRK_ENOTFOUND if there is none. */
struct pgconn_target;
struct app_db {
    const char *section;
    const char *const *databases;
    size_t ndatabases;
    const char *const *exclude_tables;
    size_t nexclude;
    unsigned methods;       /* PGDUMP_* bits from 'method' */
    bool spread_checkpoint; /* checkpoint = spread */
    uint64_t max_rate;      /* max-rate (0: none) */
};
int app_db_source(struct app *app, struct pgconn_target *t, struct app_db *out);
/* The database connection of [target "NAME"] (its conninfo, passfile). DRK_ENOTFOUND if
 * there is no such target or it has no conninfo. */
int app_db_target(struct app *app, const char *name, struct pgconn_target *t);
/* An app_opt_fn for commands without options of their own; ctx is their usage text. */
int app_no_options(struct app *app, void *ctx, int c, const char *arg);
/* Open the repository selected by --repo/--storage/$DRKIT_REPOSITORY/config (and lock it:
 * lock 0 none, 1 shared, 2 exclusive). */
int app_open_repo(struct app *app, int lock);
/* Lock repo (shared or exclusive) for app->command, waiting up to --lock-wait/[core]
 * lock-wait while another process holds it. */
struct repo_lock;
int app_lock(struct app *app, struct repo *repo, bool exclusive, struct repo_lock **out);
/* Where the repository is, and which config section describes it (may be NULL). */
int app_repo_location(struct app *app, const char **location_out);
/* Open the storage at location; section: the [repository "NAME"] whose remote settings
 * (endpoint, credentials files, host keys, connections...) apply, or NULL. */
struct stor;
int app_stor_open(struct app *app, const char *section, const char *location, struct stor **out);
/* The passphrase, from $DRKIT_PASSWORD_FILE, password-file/-command in the config,
 * $DRKIT_PASSWORD or a TTY prompt (twice when confirm). Caller frees with app_free_secret. */
int app_passphrase(struct app *app, bool confirm, char **out, size_t *len);
/* The same for another repository: its config section (or NULL) and the environment
 * variables <prefix>_PASSWORD_FILE and <prefix>_PASSWORD. */
int app_passphrase_for(struct app *app, const char *section, const char *env_prefix, bool confirm,
                       char **out, size_t *len);
void app_free_secret(char *s, size_t len);
/* A new passphrase (key add/passwd): from file if given, else $DRKIT_NEW_PASSWORD, else asked
 * twice on the terminal. */
int app_new_passphrase(struct app *app, const char *file, char **out, size_t *len);
/* The storage of the selected repository, checked to hold one, without opening it (commands
 * that need no key: unlock). */
int app_open_storage(struct app *app, struct stor **out);
void app_close(struct app *app);

int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_main(int argc, char **argv);

/* Commands */
int cmd_init(struct app *app, int argc, char **argv);
int cmd_backup(struct app *app, int argc, char **argv);
int cmd_version(struct app *app, int argc, char **argv);
int cmd_help(struct app *app, int argc, char **argv);
int cmd_key(struct app *app, int argc, char **argv);
int cmd_unlock(struct app *app, int argc, char **argv);
int cmd_policy(struct app *app, int argc, char **argv);
int cmd_database(struct app *app, int argc, char **argv);

#endif
