/* cli: global options, the command table, and what every command needs (config,
 * repository, passphrase, lock). */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "repo/lock.h"
#include "source/pg/conn.h"
#include "source/pg/dump.h"
#include "repo/repo.h"
#include "storage/storage.h"
#include "util/conf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PASS_MAX 4096

static const char main_usage[] =
    "usage: drkit [--repo=LOCATION | --storage=NAME] [--config=FILE] [--json] [--quiet]\n"
    "             [--verbose] <command> [<args>]\n"
    "\n"
    "Commands:\n"
    "  init                      create a repository (asks for a passphrase twice on a TTY)\n"
    "  backup create [PATH...]   back up files and the database (--type, --component)\n"
    "  backup list               list snapshots (--before, --after, --type, --json)\n"
    "  backup show ID            show one snapshot (a name, an id prefix, or latest)\n"
    "  backup ls ID [PATH]       browse a snapshot's files\n"
    "  backup restore ID         restore files (--target, --include, --delta), databases\n"
    "                            (--database-only) or tables (--table=T, --dry-run)\n"
    "  backup test ID            read and verify every blob of a snapshot\n"
    "  backup check              check the repository (--read-data reads every pack)\n"
    "  backup prune              apply the retention policy, remove unused data (--dry-run)\n"
    "  backup delete ID...       remove snapshots and the data only they needed\n"
    "  backup copy ID --to=NAME  copy snapshots to another repository (3-2-1)\n"
    "  key list|add|remove|passwd   manage the passphrases that open the repository\n"
    "  unlock [--remove-all]     remove stale locks (of processes that are gone)\n"
    "  policy check              does the 3-2-1 rule hold? (copies, media, off-site)\n"
    "  database test|verify|create-test   check the PostgreSQL server, look for corruption,\n"
    "                            make the scratch database for restore tests\n"
    "  version                   print the version\n"
    "  help [COMMAND]            show help\n"
    "\n"
    "Common options: --lock-wait=DURATION waits for a repository another process locked.\n"
    "\n"
    "The repository is --repo, else --storage=NAME (a [repository \"NAME\"] in the config),\n"
    "else $DRKIT_REPOSITORY, else [core] repository in the config. The passphrase comes from\n"
    "$DRKIT_PASSWORD_FILE, the repository's password-file or password-command, $DRKIT_PASSWORD,\n"
    "or a prompt on the terminal; never from the command line. The config file is --config,\n"
    "$DRKIT_CONFIG, ./drkit.conf or /etc/drkit/drkit.conf.\n"
    "\n"
    "Exit codes: 0 ok; 1 error; 2 usage or config error; 3 backup finished but some files\n"
    "could not be read (snapshot marked partial); 4 integrity error found by test, check or\n"
    "restore; 5 repository locked by another process.\n";

struct command {
    const char *name;
    int (*fn)(struct app *, int, char **);
};

static const struct command commands[] = {
    /* one command per line */
    { "init", cmd_init },       { "backup", cmd_backup }, { "key", cmd_key },
    { "unlock", cmd_unlock },   { "policy", cmd_policy }, { "database", cmd_database },
    { "version", cmd_version }, { "help", cmd_help },     { NULL, NULL },
};

int
cli_usage_error(const char *usage, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    drk_err_set(DRK_EUSAGE, "%s", msg);
    if (usage) {
        /* the synopsis only: up to the first blank line */
        const char *end = strstr(usage, "\n\n");
        int len = end ? (int)(end - usage) : (int)strlen(usage);
        drk_err_hint("%.*s", len, usage);
    }
    return DRK_EUSAGE;
}

int
app_common_option(struct app *app, int c, const char *arg, const char *usage)
{
    switch (c) {
    case OPT_REPO:
        app->repo_url = arg;
        return 1;
    case OPT_STORAGE:
        app->storage = arg;
        return 1;
    case OPT_CONFIG:
        app->config_path = arg;
        return 1;
    case OPT_JSON:
        app->json = true;
        return 1;
    case OPT_QUIET:
        app->quiet = true;
        return 1;
    case OPT_VERBOSE:
        app->verbose++;
        return 1;
    case OPT_LOCK_WAIT: {
        uint64_t secs;
        if (conf_parse_duration(arg, &secs) != 0 || secs > 86400) {
            cli_usage_error(usage, "bad --lock-wait '%s': a duration such as 30s, 5m or 1h", arg);
            return -1;
        }
        app->lock_wait = (long)secs;
        return 1;
    }
    case OPT_HELP:
        fputs(usage, stdout);
        return 2;
    default:
        return 0;
    }
}

int
app_parse(struct app *app, int argc, char **argv, const struct option *cmd_opts, const char *usage,
          app_opt_fn fn, void *ctx, int *first_arg)
{
    static const struct option common[] = { COMMON_LONG_OPTIONS };
    size_t ncmd = 0, ncommon = sizeof(common) / sizeof(common[0]);
    struct option *all;
    int c, r = 0;

    while (cmd_opts && cmd_opts[ncmd].name)
        ncmd++;
    all = xcalloc(ncmd + ncommon + 1, sizeof(*all));
    memcpy(all, common, sizeof(common));
    if (ncmd)
        memcpy(all + ncommon, cmd_opts, ncmd * sizeof(*all));
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
    /* no '+': options may follow positional arguments (backup ls latest /x -l) */
    while ((c = getopt_long(argc, argv, ":hq", all, NULL)) != -1) {
        int h;
        if (c == 'h')
            c = OPT_HELP;
        if (c == 'q')
            c = OPT_QUIET;
        if (c == '?') {
            r = cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
            break;
        }
        if (c == ':') {
            r = cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
            break;
        }
        h = app_common_option(app, c, optarg, usage);
        if (h < 0) {
            r = DRK_EUSAGE;
            break;
        }
        if (h == 2) {
            r = 1;
            break;
        }
        if (h == 1)
            continue;
        if ((r = fn(app, ctx, c, optarg)) != 0)
            break;
    }
    free(all);
    *first_arg = optind;
    return r;
}

void
app_apply_output(struct app *app)
{
    log_set_level(app->quiet         ? LOG_LEVEL_ERROR
                  : app->verbose > 1 ? LOG_LEVEL_DEBUG
                  : app->verbose     ? LOG_LEVEL_DETAIL
                                     : LOG_LEVEL_INFO);
    app->progress = !app->quiet && !app->json && isatty(1) && isatty(2);
    if (!app->threads)
        app->threads = pool_default_threads();
}

int
app_load_config(struct app *app)
{
    const char *path = app->config_path;
    bool must_exist = path != NULL;
    int r;

    if (app->conf)
        return 0;
    if (!path && (path = getenv("DRKIT_CONFIG")) && *path)
        must_exist = true;
    if (!path || !*path) {
        if (access("drkit.conf", F_OK) == 0)
            path = "drkit.conf";
        else if (access("/etc/drkit/drkit.conf", F_OK) == 0)
            path = "/etc/drkit/drkit.conf";
        else
            path = NULL;
    }
    if (!path) {
        app->conf = conf_new_empty();
        return 0;
    }
    r = conf_load_file(&app->conf, path);
    if (r == DRK_ENOTFOUND && must_exist) {
        drk_err_set(DRK_ECONFIG, "config file '%s' does not exist", path);
        drk_err_hint("check --config or $DRKIT_CONFIG");
        return DRK_ECONFIG;
    }
    if (r)
        return r;
    if (!app->threads) {
        int64_t t = 0;
        if (conf_get_int(app->conf, "core", NULL, "threads", &t) == 0 && t > 0)
            app->threads = (unsigned)t;
    }
    return 0;
}

int
app_db_source(struct app *app, struct pgconn_target *t, struct app_db *out)
{
    const char *const *subs;
    size_t nsubs;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = app_load_config(app)) != 0)
        return r;
    nsubs = conf_subsections(app->conf, "source", &subs);
    for (size_t i = 0; i < nsubs; i++) {
        const char *type = conf_get(app->conf, "source", subs[i], "type");
        const char *ci, *method, *checkpoint;
        if (!type || strcmp(type, "postgresql") != 0)
            continue;
        ci = conf_get(app->conf, "source", subs[i], "conninfo");
        if ((r = pgconn_target_init(t, ci ? ci : "",
                                    conf_get(app->conf, "source", subs[i], "passfile"),
                                    conf_get(app->conf, "source", subs[i], "pg-bin"))) != 0)
            return drk_err_wrap(r, "%s: [source \"%s\"] conninfo",
                                conf_origin(app->conf, "source", subs[i], "conninfo")
                                    ? conf_origin(app->conf, "source", subs[i], "conninfo")
                                    : "config",
                                subs[i]);
        out->section = subs[i];
        out->ndatabases = conf_get_list(app->conf, "source", subs[i], "databases", &out->databases);
        out->nexclude =
            conf_get_list(app->conf, "source", subs[i], "exclude-tables", &out->exclude_tables);
        method = conf_get(app->conf, "source", subs[i], "method");
        out->methods = !method || !strcmp(method, "logical") ? PGDUMP_LOGICAL
                       : !strcmp(method, "physical")         ? PGDUMP_PHYSICAL
                                                             : PGDUMP_LOGICAL | PGDUMP_PHYSICAL;
        checkpoint = conf_get(app->conf, "source", subs[i], "checkpoint");
        out->spread_checkpoint = checkpoint && !strcmp(checkpoint, "spread");
        if (conf_get_size(app->conf, "source", subs[i], "max-rate", &out->max_rate) != 0)
            out->max_rate = 0;
        return 0;
    }
    return drk_err_set(DRK_ENOTFOUND, "no [source] of type postgresql in the config");
}

int
app_db_target(struct app *app, const char *name, struct pgconn_target *t)
{
    const char *ci, *bindir = NULL;
    const char *const *subs;
    size_t nsubs;
    int r;

    if ((r = app_load_config(app)) != 0)
        return r;
    if (!conf_has_section(app->conf, "target", name))
        return drk_err_set(DRK_ENOTFOUND, "no [target \"%s\"] in the config", name);
    ci = conf_get(app->conf, "target", name, "conninfo");
    if (!ci || !*ci)
        return drk_err_set(DRK_ENOTFOUND, "[target \"%s\"] has no 'conninfo' for databases", name);
    /* the client programs of the database source serve the target too */
    nsubs = conf_subsections(app->conf, "source", &subs);
    for (size_t i = 0; i < nsubs && !bindir; i++) {
        const char *type = conf_get(app->conf, "source", subs[i], "type");
        if (type && !strcmp(type, "postgresql"))
            bindir = conf_get(app->conf, "source", subs[i], "pg-bin");
    }
    if ((r = pgconn_target_init(t, ci, conf_get(app->conf, "target", name, "passfile"), bindir)) !=
        0)
        return drk_err_wrap(r, "[target \"%s\"] conninfo", name);
    return 0;
}

int
app_repo_location(struct app *app, const char **location_out)
{
    const char *env = getenv("DRKIT_REPOSITORY"), *name = NULL, *url;
    const char *const *subs;
    size_t nsubs;
    int r;

    if ((r = app_load_config(app)) != 0)
        return r;
    if (app->repo_url) {
        *location_out = app->repo_url;
        /* a --repo that matches a configured url picks up that section's settings */
        nsubs = conf_subsections(app->conf, "repository", &subs);
        for (size_t i = 0; i < nsubs; i++) {
            const char *u = conf_get(app->conf, "repository", subs[i], "url");
            if (u && !strcmp(u, app->repo_url))
                app->repo_section = subs[i];
        }
        return 0;
    }
    if (app->storage)
        name = app->storage;
    else if (env && *env) {
        *location_out = env;
        return 0;
    } else if ((name = conf_get(app->conf, "core", NULL, "repository")) == NULL) {
        nsubs = conf_subsections(app->conf, "repository", &subs);
        if (nsubs == 1)
            name = subs[0];
    }
    if (!name) {
        drk_err_set(DRK_EUSAGE, "no repository given");
        drk_err_hint("use --repo=PATH, --storage=NAME, $DRKIT_REPOSITORY, or set "
                     "'repository' in the [core] section of the config");
        return DRK_EUSAGE;
    }
    if (!conf_has_section(app->conf, "repository", name)) {
        drk_err_set(DRK_ECONFIG, "no [repository \"%s\"] section in '%s'", name,
                    conf_path(app->conf) ? conf_path(app->conf) : "(no config file)");
        drk_err_hint("define it with a 'url' key, or use --repo=PATH");
        return DRK_ECONFIG;
    }
    url = conf_get(app->conf, "repository", name, "url");
    if (!url || !*url) {
        drk_err_set(DRK_ECONFIG, "%s: [repository \"%s\"] has no 'url'",
                    conf_path(app->conf) ? conf_path(app->conf) : "config", name);
        return DRK_ECONFIG;
    }
    app->repo_section = name;
    *location_out = url;
    return 0;
}

void
app_free_secret(char *s, size_t len)
{
    if (!s)
        return;
    sodium_memzero(s, len + 1);
    free(s);
}

/* Strip one trailing newline (files and commands end their line). */
static void
chomp(char *s, size_t *len)
{
    if (*len && s[*len - 1] == '\n')
        s[--*len] = '\0';
    if (*len && s[*len - 1] == '\r')
        s[--*len] = '\0';
}

static int
pass_from_file(const char *path, const char *what, char **out, size_t *len)
{
    struct buf b = BUF_INIT;
    int r = fs_read_file(path, &b, PASS_MAX);
    if (r) {
        drk_err_wrap(DRK_ECONFIG, "cannot read the passphrase file named by %s", what);
        buf_release_secure(&b);
        return DRK_ECONFIG;
    }
    *len = b.len;
    *out = buf_detach(&b, NULL);
    chomp(*out, len);
    return 0;
}

static int
pass_from_command(const char *cmd, char **out, size_t *len)
{
    int pfd[2], status;
    pid_t pid;
    struct buf b = BUF_INIT;
    size_t got;

    if (pipe(pfd) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot run password-command");
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return drk_err_errno(DRK_EIO, errno, "cannot run password-command");
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    buf_reserve(&b, PASS_MAX + 1);
    fs_read_full(pfd[0], b.data, PASS_MAX, &got, "password-command output");
    close(pfd[0]);
    buf_setlen(&b, got);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        buf_release_secure(&b);
        drk_err_set(DRK_ECONFIG, "password-command '%s' failed (exit status %d)", cmd,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return DRK_ECONFIG;
    }
    *len = b.len;
    *out = buf_detach(&b, NULL);
    chomp(*out, len);
    return 0;
}

static int
prompt_tty(const char *prompt, char **out, size_t *len)
{
    struct termios old, noecho;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    char *p;
    size_t n = 0;
    bool restored = false;

    if (fd < 0)
        return DRK_ENOTFOUND;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return DRK_ENOTFOUND;
    }
    noecho = old;
    noecho.c_lflag &= (tcflag_t)~ECHO;
    noecho.c_lflag |= ECHONL;
    if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSANOW, &noecho) != 0) {
        close(fd);
        return DRK_ENOTFOUND;
    }
    p = xmalloc(PASS_MAX + 1);
    while (n < PASS_MAX) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR && !sig_interrupted())
            continue;
        if (r <= 0 || ch == '\n')
            break;
        p[n++] = ch;
    }
    p[n] = '\0';
    tcsetattr(fd, TCSANOW, &old);
    restored = true;
    (void)restored;
    close(fd);
    if (sig_interrupted()) {
        app_free_secret(p, n);
        return drk_err_set(DRK_EINTR, "interrupted");
    }
    *out = p;
    *len = n;
    return 0;
}

int
app_passphrase(struct app *app, bool confirm, char **out, size_t *len)
{
    return app_passphrase_for(app, app->repo_section, "DRKIT", confirm, out, len);
}

int
app_passphrase_for(struct app *app, const char *section, const char *env_prefix, bool confirm,
                   char **out, size_t *len)
{
    char file_var[64], pass_var[64];
    const char *file, *env, *cfile = NULL, *cmd = NULL;
    int r;

    snprintf(file_var, sizeof(file_var), "%s_PASSWORD_FILE", env_prefix);
    snprintf(pass_var, sizeof(pass_var), "%s_PASSWORD", env_prefix);
    file = getenv(file_var);
    env = getenv(pass_var);
    if (file && *file)
        return pass_from_file(file, file_var, out, len);
    if (section) {
        cfile = conf_get(app->conf, "repository", section, "password-file");
        cmd = conf_get(app->conf, "repository", section, "password-command");
    }
    if (cfile && *cfile)
        return pass_from_file(cfile, "password-file", out, len);
    if (cmd && *cmd)
        return pass_from_command(cmd, out, len);
    if (env) {
        *len = strlen(env);
        *out = xstrdup(env);
        return 0;
    }
    r = prompt_tty(confirm ? "Passphrase for the new repository: " : "Repository passphrase: ", out,
                   len);
    if (r == DRK_ENOTFOUND) {
        drk_err_set(DRK_EUSAGE, "no passphrase: no terminal to ask on and none configured");
        drk_err_hint("set %s, a password-file or password-command in the repository's config "
                     "section, or %s",
                     file_var, pass_var);
        return DRK_EUSAGE;
    }
    if (r)
        return r;
    if (confirm) {
        char *again = NULL;
        size_t alen = 0;
        if ((r = prompt_tty("Repeat the passphrase: ", &again, &alen)) != 0) {
            app_free_secret(*out, *len);
            return r == DRK_ENOTFOUND ? drk_err_set(DRK_EUSAGE, "cannot read the passphrase") : r;
        }
        if (alen != *len || sodium_memcmp(again, *out, alen) != 0) {
            app_free_secret(again, alen);
            app_free_secret(*out, *len);
            return drk_err_set(DRK_EUSAGE, "the passphrases do not match");
        }
        app_free_secret(again, alen);
    }
    if (*len == 0) {
        app_free_secret(*out, *len);
        return drk_err_set(DRK_EUSAGE, "an empty passphrase is not allowed");
    }
    return 0;
}

int
app_new_passphrase(struct app *app, const char *file, char **out, size_t *len)
{
    const char *env = getenv("DRKIT_NEW_PASSWORD");
    char *again = NULL;
    size_t alen = 0;
    int r;

    (void)app;
    if (file)
        r = pass_from_file(file, "--file", out, len);
    else if (env) {
        *len = strlen(env);
        *out = xstrdup(env);
        r = 0;
    } else {
        r = prompt_tty("New passphrase: ", out, len);
        if (r == DRK_ENOTFOUND) {
            drk_err_set(DRK_EUSAGE, "no new passphrase: no terminal to ask on");
            drk_err_hint("give --file=FILE or set DRKIT_NEW_PASSWORD");
            return DRK_EUSAGE;
        }
        if (r == 0 && (r = prompt_tty("Repeat the new passphrase: ", &again, &alen)) == 0 &&
            (alen != *len || sodium_memcmp(again, *out, alen) != 0)) {
            app_free_secret(*out, *len);
            r = drk_err_set(DRK_EUSAGE, "the passphrases do not match");
        }
        app_free_secret(again, alen);
    }
    if (r == 0 && *len == 0) {
        app_free_secret(*out, *len);
        r = drk_err_set(DRK_EUSAGE, "an empty passphrase is not allowed");
    }
    return r;
}

int
app_open_storage(struct app *app, struct stor **out)
{
    const char *loc;
    int r;
    if ((r = app_repo_location(app, &loc)) != 0)
        return r;
    if ((r = app_stor_open(app, app->repo_section, loc, out)) != 0)
        return r;
    if ((r = repo_probe(*out)) != 0) {
        stor_close(*out);
        *out = NULL;
    }
    return r;
}

int
app_open_repo(struct app *app, int lock)
{
    const char *loc;
    struct stor *stor;
    char *pass = NULL;
    size_t plen = 0;
    int r;

    if (app->repo)
        return 0;
    if ((r = app_repo_location(app, &loc)) != 0)
        return r;
    if ((r = app_stor_open(app, app->repo_section, loc, &stor)) != 0)
        return r;
    if ((r = repo_probe(stor)) != 0) {
        stor_close(stor);
        return r;
    }
    if ((r = app_passphrase(app, false, &pass, &plen)) != 0) {
        stor_close(stor);
        return r;
    }
    r = repo_open(&app->repo, stor, pass, plen);
    app_free_secret(pass, plen);
    if (r) {
        stor_close(stor);
        return r;
    }
    if (!lock)
        return 0;
    return app_lock(app, app->repo, lock == 2, &app->lock);
}

int
app_lock(struct app *app, struct repo *repo, bool exclusive, struct repo_lock **out)
{
    int r;
    if (app->lock_wait < 0) {
        uint64_t secs = 0;
        conf_get_duration(app->conf, "core", NULL, "lock-wait", &secs);
        app->lock_wait = (long)secs;
    }
    for (double start = dt_monotonic();;) {
        r = lock_acquire(repo, exclusive, app->command, out);
        if (r != DRK_ELOCKED || dt_monotonic() - start >= (double)app->lock_wait)
            return r;
        log_detail("waiting for the lock: %s", drk_err_msg());
        if (sig_interrupted())
            return drk_err_set(DRK_EINTR, "interrupted while waiting for the lock");
        /* 0.25-0.75 s: two waiters started together (cron) do not retry in lockstep */
        usleep(250 * 1000 + randombytes_uniform(500 * 1000));
    }
}

void
app_close(struct app *app)
{
    lock_release(app->lock);
    app->lock = NULL;
    repo_free(app->repo);
    app->repo = NULL;
    conf_free(app->conf);
    app->conf = NULL;
}

int
app_no_options(struct app *app, void *ctx, int c, const char *arg)
{
    (void)app;
    (void)c;
    (void)arg;
    return cli_usage_error((const char *)ctx, "unknown option");
}

static const char version_usage[] = "usage: drkit version [--json]\n";

int
cmd_version(struct app *app, int argc, char **argv)
{
    if (argc > 0) {
        int first, r = app_parse(app, argc, argv, NULL, version_usage, app_no_options,
                                 (void *)version_usage, &first);
        if (r)
            return r == 1 ? 0 : r;
        if (first < argc)
            return cli_usage_error(version_usage, "unexpected argument '%s'", argv[first]);
    }
    if (app->json) {
        printf("{\"program\": \"drkit\", \"version\": \"%s\", \"repository_format\": %d}\n",
               DRKIT_VERSION, REPO_FORMAT_VERSION);
    } else {
        printf("drkit %s (repository format %d; libsodium %s)\n", DRKIT_VERSION,
               REPO_FORMAT_VERSION, sodium_version_string());
    }
    return 0;
}

int
cmd_help(struct app *app, int argc, char **argv)
{
    if (argc > 1) {
        for (const struct command *c = commands; c->name; c++) {
            if (!strcmp(c->name, argv[1])) {
                char *args[] = { argv[1], (char *)"--help", NULL };
                return c->fn(app, 2, args);
            }
        }
        return cli_usage_error(NULL, "no command '%s'", argv[1]);
    }
    fputs(main_usage, stdout);
    return 0;
}

static void
print_error(int r)
{
    const char *msg = drk_err_msg(), *hint = drk_err_hint_msg();
    fprintf(stderr, "drkit: %s\n", msg[0] ? msg : drk_err_text(r));
    if (hint[0])
        fprintf(stderr, "hint: %s\n", hint);
}

int
cli_main(int argc, char **argv)
{
    static const struct option global[] = { COMMON_LONG_OPTIONS,
                                            { "version", no_argument, NULL, 'V' },
                                            { NULL, 0, NULL, 0 } };
    struct app app;
    int c, r = 0;

    memset(&app, 0, sizeof(app));
    app.lock_wait = -1;
    umask(077);
    prctl(PR_SET_DUMPABLE, 0); /* no core dumps with keys in them */
    if (sodium_init() < 0) {
        fprintf(stderr, "drkit: cannot initialise libsodium\n");
        return 1;
    }
    sig_install();
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hqvV", global, NULL)) != -1) {
        int h;
        if (c == 'V') {
            r = cmd_version(&app, 0, NULL);
            goto out;
        }
        if (c == 'h')
            c = OPT_HELP;
        else if (c == 'q')
            c = OPT_QUIET;
        else if (c == 'v')
            c = OPT_VERBOSE;
        if (c == '?' || c == ':') {
            fprintf(stderr, "drkit: %s '%s'\n%s",
                    c == ':' ? "option needs a value:" : "unknown option", argv[optind - 1],
                    main_usage);
            return 2;
        }
        h = app_common_option(&app, c, optarg, main_usage);
        if (h < 0) {
            r = DRK_EUSAGE;
            goto out;
        }
        if (h == 2)
            return 0;
    }
    if (optind >= argc) {
        fputs(main_usage, stderr);
        return 2;
    }
    app_apply_output(&app);
    for (const struct command *cmd = commands; cmd->name; cmd++) {
        if (!strcmp(cmd->name, argv[optind])) {
            r = cmd->fn(&app, argc - optind, argv + optind);
            goto out;
        }
    }
    fprintf(stderr, "drkit: '%s' is not a drkit command\n\n%s", argv[optind], main_usage);
    return 2;
out:
    if (r) {
        print_error(r);
        r = drk_err_exit_code(r);
    }
    app_close(&app);
    return r;
}
