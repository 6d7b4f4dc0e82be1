/* pgconn: PostgreSQL connections and client programs. */
#include "source/pg/conn.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *
find_bindir(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    struct dirent *de;
    int best = 0;
    if (d) {
        while ((de = readdir(d)) != NULL) {
            int v = (int)strtol(de->d_name, NULL, 10);
            char path[300];
            snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/pg_dump", de->d_name);
            if (v > best && access(path, X_OK) == 0)
                best = v;
        }
        closedir(d);
    }
    if (best)
        return xasprintf("/usr/lib/postgresql/%d/bin", best);
    return xstrdup("/usr/bin");
}

int
pgconn_target_init(struct pgconn_target *t, const char *conninfo, const char *passfile,
                   const char *bindir)
{
    char *err = NULL;
    PQconninfoOption *opts;

    memset(t, 0, sizeof(*t));
    t->conninfo = xstrdup(conninfo ? conninfo : "");
    opts = PQconninfoParse(t->conninfo, &err);
    if (!opts) {
        int r = drk_err_set(DRK_ECONFIG, "bad PostgreSQL connection '%s': %s", t->conninfo,
                            err ? err : "cannot parse");
        PQfreemem(err);
        pgconn_target_release(t);
        return r;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val)
            t->env_password = xasprintf("PGPASSWORD=%s", o->val);
    PQconninfoFree(opts);
    if (passfile && *passfile) {
        t->passfile = xstrdup(passfile);
        t->env_passfile = xasprintf("PGPASSFILE=%s", passfile);
    }
    t->bindir = bindir && *bindir ? xstrdup(bindir) : find_bindir();
    return 0;
}

void
pgconn_target_release(struct pgconn_target *t)
{
    free(t->conninfo);
    free(t->passfile);
    free(t->bindir);
    free(t->env_passfile);
    if (t->env_password) {
        explicit_bzero(t->env_password, strlen(t->env_password));
        free(t->env_password);
    }
    memset(t, 0, sizeof(*t));
}

static void
add_kv(struct buf *b, const char *k, const char *v)
{
    buf_addf(b, "%s%s='", b->len ? " " : "", k);
    for (const char *p = v; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_addch(b, '\\');
        buf_addch(b, *p);
    }
    buf_addch(b, '\'');
}

static int build_conninfo(const struct pgconn_target *t, const char *db, bool with_password,
                          char **out);

int
pgconn_conninfo(const struct pgconn_target *t, const char *db, char **out)
{
    return build_conninfo(t, db, true, out);
}

int
pgconn_conninfo_child(const struct pgconn_target *t, const char *db, char **out)
{
    return build_conninfo(t, db, false, out);
}

static int
build_conninfo(const struct pgconn_target *t, const char *db, bool with_password, char **out)
{
    PQconninfoOption *opts, *o;
    struct buf b = BUF_INIT;
    char *err = NULL;

    opts = PQconninfoParse(t->conninfo, &err);
    if (!opts) {
        int r = drk_err_set(DRK_ECONFIG, "bad PostgreSQL connection: %s", err ? err : "?");
        PQfreemem(err);
        return r;
    }
    for (o = opts; o->keyword; o++) {
        if (!strcmp(o->keyword, "dbname") && db)
            continue;
        if (!strcmp(o->keyword, "passfile") && t->passfile)
            continue;
        if (!strcmp(o->keyword, "password") && !with_password)
            continue;
        if (o->val && *o->val)
            add_kv(&b, o->keyword, o->val);
    }
    if (db)
        add_kv(&b, "dbname", db);
    if (t->passfile)
        add_kv(&b, "passfile", t->passfile);
    PQconninfoFree(opts);
    *out = buf_detach(&b, NULL);
    return 0;
}

char *
pgconn_dbname(const struct pgconn_target *t)
{
    PQconninfoOption *opts = PQconninfoParse(t->conninfo, NULL), *o;
    char *db = NULL;
    for (o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "dbname") && o->val && *o->val)
            db = xstrdup(o->val);
    if (!db)
        for (o = opts; o && o->keyword; o++)
            if (!strcmp(o->keyword, "user") && o->val && *o->val)
                db = xstrdup(o->val);
    PQconninfoFree(opts);
    if (!db) {
        const char *env = getenv("PGDATABASE");
        db = xstrdup(env && *env ? env : "postgres");
    }
    return db;
}

/* The first line of a libpq message, without the trailing newline. */
static void
one_line(const char *msg, char *out, size_t n)
{
    size_t len = strcspn(msg, "\n");
    snprintf(out, n, "%.*s", (int)len, msg);
}

static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int
pgconn_connect(const struct pgconn_target *t, const char *db, PGconn **out)
{
    char *ci = NULL, line[512];
    PGconn *c;
    int r;

    if ((r = pgconn_conninfo(t, db, &ci)) != 0)
        return r;
    {
        /* "drkit" in pg_stat_activity unless the conninfo names the application itself */
        const char *const keys[] = { "fallback_application_name", "dbname", NULL };
        const char *const vals[] = { "drkit", ci, NULL };
        c = PQconnectdbParams(keys, vals, 1);
    }
    free(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(c);
        one_line(msg, line, sizeof(line));
        char *named = db ? NULL : pgconn_dbname(t);
        r = drk_err_set(strstr(msg, "password") ? DRK_EAUTH : DRK_EIO,
                        "cannot connect to PostgreSQL (database '%s'): %s", db ? db : named, line);
        free(named);
        if (strstr(msg, "password"))
            drk_err_hint("check the password in the section's 'passfile', PGPASSFILE or "
                         "~/.pgpass");
        else if (strstr(msg, "does not exist"))
            drk_err_hint("check 'databases' and 'conninfo' in the config");
        else
            drk_err_hint("is the server running? check host and port in 'conninfo'");
        PQfinish(c);
        return r;
    }
    /* the server's NOTICEs ("... does not exist, skipping") are not for the operator;
     * warnings and errors come back with the results */
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    *out = c;
    return 0;
}

static int
result_error(PGconn *c, PGresult *res, const char *sql)
{
    char line[512];
    one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c), line, sizeof(line));
    if (res)
        PQclear(res);
    return drk_err_set(DRK_EIO, "PostgreSQL: %s (in: %.80s)", line, sql);
}

int
pgconn_exec(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
        return result_error(c, res, sql);
    PQclear(res);
    return 0;
}

int
pgconn_query(PGconn *c, const char *sql, PGresult **out)
{
    return pgconn_queryp(c, sql, 0, NULL, out);
}

int
pgconn_queryp(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out)
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
        return result_error(c, res, sql);
    *out = res;
    return 0;
}

char *
pgconn_program(const struct pgconn_target *t, const char *name)
{
    return xasprintf("%s/%s", t->bindir, name);
}

const char *const *
pgconn_child_env(const struct pgconn_target *t)
{
    static _Thread_local const char *env[3];
    size_t n = 0;
    if (t->env_passfile)
        env[n++] = t->env_passfile;
    if (t->env_password)
        env[n++] = t->env_password;
    env[n] = NULL;
    return env;
}

char *
pgconn_quote_ident(PGconn *c, const char *name)
{
    char *q = PQescapeIdentifier(c, name, strlen(name));
    char *r = xstrdup(q ? q : name);
    PQfreemem(q);
    return r;
}

char *
pgconn_conninfo_value(const struct pgconn_target *t, const char *keyword)
{
    PQconninfoOption *opts = PQconninfoParse(t->conninfo, NULL), *o;
    char *v = NULL;
    for (o = opts; o && o->keyword && !v; o++)
        if (!strcmp(o->keyword, keyword) && o->val && *o->val)
            v = xstrdup(o->val);
    PQconninfoFree(opts);
    return v;
}

/* key=value, the value quoted only when it has to be */
static void
add_kv_plain(struct buf *b, const char *k, const char *v)
{
    if (*v && !v[strcspn(v, " '\\")]) {
        buf_addf(b, "%s%s=%s", b->len ? " " : "", k, v);
        return;
    }
    add_kv(b, k, v);
}

char *
pgconn_display(const struct pgconn_target *t, const char *db)
{
    PQconninfoOption *opts = PQconninfoParse(t->conninfo, NULL), *o;
    struct buf b = BUF_INIT;
    bool has_db = false;

    for (o = opts; o && o->keyword; o++) {
        if (!strcmp(o->keyword, "password") || !o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "dbname")) {
            has_db = true;
            add_kv_plain(&b, o->keyword, db ? db : o->val);
        } else {
            add_kv_plain(&b, o->keyword, o->val);
        }
    }
    PQconninfoFree(opts);
    if (db && !has_db)
        add_kv_plain(&b, "dbname", db);
    if (!b.len)
        buf_addf(&b, "(libpq defaults)");
    return buf_detach(&b, NULL);
}

int
pgconn_queryp_state(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out,
                    char sqlstate[6])
{
    PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    sqlstate[0] = '\0';
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (st)
            snprintf(sqlstate, 6, "%s", st);
        return result_error(c, res, sql);
    }
    *out = res;
    return 0;
}

bool
pgconn_sqlstate_corrupt(const char *sqlstate)
{
    return sqlstate && (!strcmp(sqlstate, "XX001") || !strcmp(sqlstate, "XX002"));
}

char *
pgconn_quote_literal(PGconn *c, const char *s)
{
    char *q = PQescapeLiteral(c, s, strlen(s));
    struct buf b = BUF_INIT;
    if (q) {
        char *r = xstrdup(q);
        PQfreemem(q);
        return r;
    }
    /* libpq refuses text that is not valid in the connection's encoding: escape it
     * ourselves, the server will refuse it with a message */
    buf_addf(&b, " E'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_addch(&b, *p);
        buf_addch(&b, *p);
    }
    buf_addch(&b, '\'');
    return buf_detach(&b, NULL);
}

char *
pgconn_explicit_dbname(const struct pgconn_target *t)
{
    PQconninfoOption *opts = PQconninfoParse(t->conninfo, NULL), *o;
    char *db = NULL;
    for (o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "dbname") && o->val && *o->val)
            db = xstrdup(o->val);
    PQconninfoFree(opts);
    return db;
}
