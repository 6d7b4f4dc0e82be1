/* storage_open: the storage of a repository, with its section's remote settings. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/conf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SECRET_MAX 4096

/* The first line of a secret file, or the environment variable, or NULL. */
static int
secret(struct app *app, const char *section, const char *key, const char *env, char **out)
{
    const char *path = section ? conf_get(app->conf, "repository", section, key) : NULL;
    struct buf b = BUF_INIT;
    size_t len;

    *out = NULL;
    if (path) {
        if (fs_read_file(path, &b, SECRET_MAX) != 0) {
            buf_release(&b);
            return drk_err_wrap(DRK_ECONFIG, "cannot read %s of [repository \"%s\"]", key, section);
        }
        buf_addch(&b, '\0');
        *out = buf_detach(&b, &len);
        (*out)[strcspn(*out, "\r\n")] = '\0';
        return 0;
    }
    if (env && getenv(env) && *getenv(env))
        *out = xstrdup(getenv(env));
    return 0;
}

static void
wipe(char *s)
{
    if (s) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

int
app_stor_open(struct app *app, const char *section, const char *location, struct stor **out)
{
    struct stor_params p;
    char *key_id = NULL, *secret_key = NULL, *login = NULL, *cache_buf = NULL;
    const char *v;
    bool b;
    int64_t n;
    uint64_t secs;
    int r;

    if (!stor_is_remote(location))
        return stor_open(out, location);
    if (app->conf == NULL && (r = app_load_config(app)) != 0)
        return r;
    memset(&p, 0, sizeof(p));
    p.path_style = -1;
    if (section) {
        p.endpoint = conf_get(app->conf, "repository", section, "endpoint");
        p.region = conf_get(app->conf, "repository", section, "region");
        if (conf_get_bool(app->conf, "repository", section, "path-style", &b) == 0)
            p.path_style = b;
        p.identity_file = conf_get(app->conf, "repository", section, "identity-file");
        p.known_hosts = conf_get(app->conf, "repository", section, "known-hosts");
        if (conf_get_int(app->conf, "repository", section, "connections", &n) == 0)
            p.connections = (unsigned)n;
        if (conf_get_duration(app->conf, "repository", section, "retry-time", &secs) == 0)
            p.retry_time = (double)secs;
        p.staging_dir = conf_get(app->conf, "repository", section, "staging-dir");
        p.ca_file = conf_get(app->conf, "repository", section, "ca-file");
    }
    /* the cache of remote repositories: [core] cache-dir, $DRKIT_CACHE_DIR, the XDG one */
    p.cache_dir = conf_get(app->conf, "core", NULL, "cache-dir");
    if (!p.cache_dir && (v = getenv("DRKIT_CACHE_DIR")) && *v)
        p.cache_dir = v;
    if (!p.cache_dir && (v = getenv("XDG_CACHE_HOME")) && *v)
        p.cache_dir = cache_buf = xasprintf("%s/drkit", v);
    if (!p.cache_dir && (v = getenv("HOME")) && *v)
        p.cache_dir = cache_buf = xasprintf("%s/.cache/drkit", v);
    if (!p.endpoint && (v = getenv("AWS_ENDPOINT_URL")) && *v)
        p.endpoint = v;
    if (!p.region && (v = getenv("AWS_REGION")) && *v)
        p.region = v;
    if (!p.region && (v = getenv("AWS_DEFAULT_REGION")) && *v)
        p.region = v;
    if ((r = secret(app, section, "access-key-id-file", "AWS_ACCESS_KEY_ID", &key_id)) != 0 ||
        (r = secret(app, section, "secret-access-key-file", "AWS_SECRET_ACCESS_KEY",
                    &secret_key)) != 0 ||
        (r = secret(app, section, "login-password-file", "DRKIT_LOGIN_PASSWORD", &login)) != 0)
        goto out;
    p.access_key_id = key_id;
    p.secret_access_key = secret_key;
    /* a session token belongs to the key pair of the environment, not to the files' */
    if (!section || !conf_get(app->conf, "repository", section, "access-key-id-file"))
        p.session_token = getenv("AWS_SESSION_TOKEN");
    p.login_password = login;
    r = stor_open_params(out, location, &p);
out:
    wipe(key_id);
    wipe(secret_key);
    wipe(login);
    free(cache_buf);
    return r;
}
