/* pgrestore: a whole database back from a snapshot, built aside and swapped in. */
#include "source/pg/restore.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo/repo.h"
#include "repo/snapshot.h"
#include "source/pg/conn.h"
#include "source/pg/copyin.h"
#include "source/pg/copysplit.h"
#include "source/pg/snapdb.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ---- psql fed from the repository ---------------------------------------------------- */

struct fd_sink {
    int fd;
};

static int
write_fd(void *arg, const void *data, size_t len)
{
    const char *p = data;
    int fd = ((struct fd_sink *)arg)->fd;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0)
            return drk_err_errno(DRK_EIO, errno, "writing to psql");
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Run psql on database db with the script `node` (or `text` when node is NULL) on stdin.
 * stop_on_error: ON_ERROR_STOP (a failing statement fails the run); else *errors gets what
 * psql said. building: db is the database being built, whose statements need not wait for
 * their commits to reach the disk (a commit per statement: 7-20% of a schema's DDL time); the
 * swap's commit, which waits, makes all of them durable before the database is in use. */
static int
run_psql(struct repo *repo, struct blob_codec *c, const struct pgconn_target *t, const char *db,
         const struct node *node, const char *text, bool stop_on_error, bool building,
         struct buf *errors)
{
    char *prog = pgconn_program(t, "psql"), *ci = NULL, *options = NULL;
    const char *argv[12], *env[4];
    const char *const *base = pgconn_child_env(t);
    struct proc p;
    struct fd_sink sink;
    int n = 0, r, rf;
    size_t ne = 0;

    if (!node && !text) { /* a section this snapshot does not have (older snapshots) */
        free(prog);
        return 0;
    }
    if ((r = pgconn_conninfo_child(t, db, &ci)) != 0) {
        free(prog);
        return r;
    }
    argv[n++] = prog;
    argv[n++] = "-X";
    argv[n++] = "-q";
    argv[n++] = "--no-password";
    argv[n++] = "-v";
    argv[n++] = stop_on_error ? "ON_ERROR_STOP=1" : "ON_ERROR_STOP=0";
    argv[n++] = "-d";
    argv[n++] = ci;
    argv[n] = NULL;
    for (; base[ne] && ne < 2; ne++)
        env[ne] = base[ne];
    if (building) { /* added to the operator's PGOPTIONS, if any */
        const char *old = getenv("PGOPTIONS");
        options = xasprintf("PGOPTIONS=%s%s-c synchronous_commit=off", old ? old : "",
                            old && *old ? " " : "");
        env[ne++] = options;
    }
    env[ne] = NULL;
    if ((r = proc_start(&p, argv, env, PROC_STDIN_PIPE)) != 0)
        goto out;
    sink.fd = p.in_fd;
    r = node ? snapdb_stream(repo, c, node, write_fd, &sink) : write_fd(&sink, text, strlen(text));
    if (r)
        proc_kill(&p);
    rf = proc_finish(&p);
    if (errors && *proc_stderr(&p))
        buf_addf(errors, "%s\n", proc_stderr(&p));
    proc_release(&p);
    if (r == 0 && rf)
        r = drk_err_wrap(rf, "psql on database '%s'", db);
out:
    free(prog);
    free(ci);
    free(options);
    return r;
}

/* ---- roles -------------------------------------------------------------------------- */

/* The role name at p (bare or "quoted"), unquoted into out; returns the end. */
static const char *
read_ident(const char *p, struct buf *out)
{
    buf_reset(out);
    if (*p == '"') {
        for (p++; *p; p++) {
            if (*p == '"' && p[1] == '"')
                buf_addch(out, *p++);
            else if (*p == '"')
                return p + 1;
            else
                buf_addch(out, *p);
        }
        return p;
    }
    while (*p && *p != ';' && *p != ' ' && *p != '\n')
        buf_addch(out, *p++);
    return p;
}

/* Only the roles the server lacks are created (with their attributes): roles that exist
 * keep their passwords and settings — a restore into a test database of the same cluster
 * must not reset the live roles' passwords. Tablespaces and memberships are applied and
 * their "already exists" errors ignored. */
static int
apply_globals(struct repo *repo, struct blob_codec *c, const struct pgconn_target *t, PGconn *admin,
              const struct node *globals, struct pgrestore_db_result *res)
{
    struct buf text = BUF_INIT, script = BUF_INIT, name = BUF_INIT, errors = BUF_INIT;
    PGresult *roles = NULL;
    char *maint = NULL;
    int r;

    if (!globals)
        return 0;
    if ((r = snapdb_read(repo, c, globals, &text)) != 0)
        goto out;
    if ((r = pgconn_query(admin, "SELECT rolname FROM pg_roles", &roles)) != 0)
        goto out;
    buf_addch(&text, '\0');
    for (const char *line = (const char *)text.data; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        bool keep = false;
        const char *rest = NULL;
        if (!strncmp(line, "CREATE ROLE ", 12))
            rest = line + 12;
        else if (!strncmp(line, "ALTER ROLE ", 11))
            rest = line + 11;
        if (rest) {
            bool exists = false;
            read_ident(rest, &name);
            buf_addch(&name, '\0');
            for (int i = 0; i < PQntuples(roles) && !exists; i++)
                exists = !strcmp(PQgetvalue(roles, i, 0), (const char *)name.data);
            keep = !exists;
            if (keep && rest == line + 12)
                vec_push(&res->roles_created, xstrdup((const char *)name.data));
        } else {
            keep = !strncmp(line, "GRANT ", 6) || !strncmp(line, "CREATE TABLESPACE ", 18) ||
                   !strncmp(line, "SET ", 4);
        }
        if (keep) {
            buf_add(&script, line, len);
            buf_addch(&script, '\n');
        }
        line += len + (nl ? 1 : 0);
    }
    buf_addch(&script, '\0');
    maint = pgconn_dbname(t);
    r = run_psql(repo, c, t, PQdb(admin), NULL, (const char *)script.data, false, false, &errors);
    if (r == 0 && res->roles_created.n) { /* report only the roles that now exist */
        PGresult *now = NULL;
        size_t kept = 0;
        if (pgconn_query(admin, "SELECT rolname FROM pg_roles", &now) == 0) {
            for (size_t i = 0; i < res->roles_created.n; i++) {
                bool there = false;
                for (int k = 0; k < PQntuples(now) && !there; k++)
                    there = !strcmp(PQgetvalue(now, k, 0), res->roles_created.v[i]);
                if (there)
                    res->roles_created.v[kept++] = res->roles_created.v[i];
                else
                    free(res->roles_created.v[i]);
            }
            res->roles_created.n = kept;
            PQclear(now);
        }
    }
    if (r == 0 && errors.len) {
        buf_addch(&errors, '\0');
        for (char *line = (char *)errors.data; *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (*line && !strstr(line, "already exists") && !strstr(line, "already a member"))
                vec_push(&res->warnings, xasprintf("globals: %s", line));
            line = nl ? nl + 1 : line + strlen(line);
        }
    }
out:
    if (roles)
        PQclear(roles);
    free(maint);
    buf_release(&text);
    buf_release(&script);
    buf_release(&name);
    buf_release(&errors);
    return r;
}

/* ---- table data, several tables at once --------------------------------------------- */

/* A table at least this big is loaded over several connections when loaders are idle. */
#define SPLIT_MIN_BYTES ((json_int_t)32 << 20)

struct loader {
    struct repo *repo;
    const struct pgconn_target *t;
    const char *db;
    const struct snapdb *sdb;
    const json_t **tables;
    size_t ntables;
    bool split; /* several loaders: big tables are shared */
    _Atomic int failed;
    struct pgrestore_progress *prog;
    pthread_mutex_t mu; /* next, splits, err */
    size_t next;
    VEC(struct copysplit *) splits;
    int err;
    char *errmsg;
};

static bool
big_table(const json_t *tb)
{
    return json_integer_value(json_object_get(tb, "bytes")) >= SPLIT_MIN_BYTES;
}

/* Claim the next table; a big one is registered for helpers at once, so that a loader that
 * finds no table left also finds every split still running. */
static const json_t *
claim_table(struct loader *l, PGconn *c, char **into, struct copysplit **split)
{
    const json_t *tb = NULL;
    char *qs, *qt;
    pthread_mutex_lock(&l->mu);
    if (l->next < l->ntables) {
        tb = l->tables[l->next++];
        qs = pgconn_quote_ident(c, json_string_value(json_object_get(tb, "schema")));
        qt = pgconn_quote_ident(c, json_string_value(json_object_get(tb, "name")));
        *into = xasprintf("%s.%s", qs, qt);
        free(qs);
        free(qt);
        *split = NULL;
        if (l->split && big_table(tb) && snapdb_table_file(l->sdb, tb)) {
            *split = copysplit_new(c, *into, tb, l->prog);
            vec_push(&l->splits, *split);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return tb;
}

static struct copysplit *
open_split(struct loader *l)
{
    struct copysplit *found = NULL;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->splits.n && !found; i++)
        if (copysplit_open(l->splits.v[i]))
            found = l->splits.v[i];
    pthread_mutex_unlock(&l->mu);
    return found;
}

static void *
loader_main(void *arg)
{
    struct loader *l = arg;
    struct blob_codec codec;
    struct copysplit *split;
    PGconn *c = NULL;
    int r;

    blob_codec_init(&codec);
    if ((r = pgconn_connect(l->t, l->db, &c)) == 0)
        r = pgconn_exec(c, "SET synchronous_commit = off");
    while (r == 0 && !atomic_load(&l->failed)) {
        char *into = NULL;
        const json_t *tb = claim_table(l, c, &into, &split);
        if (!tb)
            break;
        if (split)
            r = copysplit_produce(split, l->repo, &codec, c, snapdb_table_file(l->sdb, tb),
                                  &l->failed);
        else
            r = pgrestore_copy_in(l->repo, &codec, c, into, l->sdb, tb, l->prog);
        free(into);
    }
    /* no table left: help load the big ones still running */
    while (r == 0 && !atomic_load(&l->failed) && (split = open_split(l)) != NULL)
        r = copysplit_help(split, c, &l->failed);
    if (r) {
        pthread_mutex_lock(&l->mu);
        if (!l->err) {
            l->err = r;
            l->errmsg = xstrdup(drk_err_msg());
        }
        pthread_mutex_unlock(&l->mu);
        atomic_store(&l->failed, 1);
    }
    if (c)
        PQfinish(c);
    blob_codec_release(&codec);
    return NULL;
}

static int
bytes_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(const json_t *const *)a, "bytes"));
    json_int_t y = json_integer_value(json_object_get(*(const json_t *const *)b, "bytes"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static int
load_tables(struct repo *repo, const struct pgconn_target *t, const char *db,
            const struct snapdb *sdb, unsigned threads, struct pgrestore_progress *prog)
{
    json_t *arr = json_object_get(sdb->meta, "tables"), *e;
    struct loader l;
    pthread_t tid[16];
    size_t i, nthreads, nbig = 0, useful;
    int r = 0;

    memset(&l, 0, sizeof(l));
    l.repo = repo;
    l.t = t;
    l.db = db;
    l.sdb = sdb;
    l.prog = prog;
    l.ntables = json_array_size(arr);
    l.tables = xcalloc(l.ntables ? l.ntables : 1, sizeof(*l.tables));
    json_array_foreach(arr, i, e)
    {
        l.tables[i] = e;
        nbig += big_table(e);
    }
    qsort(l.tables, l.ntables, sizeof(*l.tables), bytes_desc); /* biggest first */
    pthread_mutex_init(&l.mu, NULL);
    nthreads = threads ? threads : 2;
    if (nthreads > 16)
        nthreads = 16;
    /* one loader per table, and the others a big table can keep busy */
    useful = l.ntables + nbig * (nthreads - 1);
    if (nthreads > useful)
        nthreads = useful;
    l.split = nthreads > 1;
    for (i = 0; i < nthreads; i++)
        if (pthread_create(&tid[i], NULL, loader_main, &l) != 0)
            break;
    nthreads = i;
    if (nthreads == 0 && l.ntables) {
        l.split = false;
        loader_main(&l);
    }
    for (i = 0; i < nthreads; i++)
        pthread_join(tid[i], NULL);
    if (l.err)
        r = drk_err_set(l.err, "%s", l.errmsg);
    for (i = 0; i < l.splits.n; i++)
        copysplit_free(l.splits.v[i]);
    vec_free(&l.splits);
    free(l.errmsg);
    free(l.tables);
    pthread_mutex_destroy(&l.mu);
    return r;
}

/* ---- the database ------------------------------------------------------------------- */

static int
db_exists(PGconn *admin, const char *name, bool *exists)
{
    const char *params[1] = { name };
    PGresult *res;
    int r = pgconn_queryp(admin, "SELECT 1 FROM pg_database WHERE datname = $1", 1, params, &res);
    if (r == 0) {
        *exists = PQntuples(res) > 0;
        PQclear(res);
    }
    return r;
}

static int
drop_database(PGconn *admin, const char *name)
{
    char *q = pgconn_quote_ident(admin, name), *sql = xasprintf("DROP DATABASE IF EXISTS %s "
                                                                "WITH (FORCE)",
                                                                q);
    int r = pgconn_exec(admin, sql);
    free(q);
    free(sql);
    return r;
}

static bool
role_exists(PGconn *admin, const char *role)
{
    const char *params[1] = { role };
    PGresult *res;
    bool hit = false;
    if (pgconn_queryp(admin, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, params, &res) == 0) {
        hit = PQntuples(res) > 0;
        PQclear(res);
    }
    return hit;
}

static int
create_database(PGconn *admin, const char *name, const json_t *meta)
{
    const char *enc = json_string_value(json_object_get(meta, "encoding"));
    const char *coll = json_string_value(json_object_get(meta, "collate"));
    const char *ctype = json_string_value(json_object_get(meta, "ctype"));
    const char *owner = json_string_value(json_object_get(meta, "owner"));
    struct buf sql = BUF_INIT;
    char *q = pgconn_quote_ident(admin, name);
    int r;

    buf_addf(&sql, "CREATE DATABASE %s TEMPLATE template0", q);
    if (enc && *enc) {
        char *l = PQescapeLiteral(admin, enc, strlen(enc));
        buf_addf(&sql, " ENCODING %s", l);
        PQfreemem(l);
    }
    if (coll && *coll) {
        char *l = PQescapeLiteral(admin, coll, strlen(coll));
        buf_addf(&sql, " LC_COLLATE %s", l);
        PQfreemem(l);
    }
    if (ctype && *ctype) {
        char *l = PQescapeLiteral(admin, ctype, strlen(ctype));
        buf_addf(&sql, " LC_CTYPE %s", l);
        PQfreemem(l);
    }
    if (owner && *owner && role_exists(admin, owner)) {
        char *o = pgconn_quote_ident(admin, owner);
        buf_addf(&sql, " OWNER %s", o);
        free(o);
    }
    buf_addch(&sql, '\0');
    r = pgconn_exec(admin, (const char *)sql.data);
    buf_release(&sql);
    free(q);
    return r;
}

/* name + suffix within PostgreSQL's 63 bytes, name cut on a UTF-8 character boundary */
static void
derived_name(char *out, size_t n, const char *name, const char *suffix)
{
    size_t keep = strlen(name), room = 63 - strlen(suffix);
    if (keep > room) {
        keep = room;
        while (keep > 0 && ((unsigned char)name[keep] & 0xC0) == 0x80)
            keep--;
    }
    snprintf(out, n, "%.*s%s", (int)keep, name, suffix);
}

/* Swap the finished database in: the old one is renamed aside (after its sessions are
 * ended), the new one takes its name, the old one is dropped. If the new one cannot take
 * the name, the old one is put back; if even that fails, the error says where it is. A
 * failure to drop the old one once the new one is in place is only a warning. */
static int
swap_in(PGconn *admin, const char *tmp, const char *dest, bool exists,
        struct pgrestore_db_result *res)
{
    char *qt = pgconn_quote_ident(admin, tmp), *qd = pgconn_quote_ident(admin, dest);
    char old[128], suffix[48], *qo, *sql;
    const char *params[1] = { dest };
    PGresult *q;
    int r = 0;

    snprintf(suffix, sizeof(suffix), "__drkit_old_%ld", (long)getpid());
    derived_name(old, sizeof(old), dest, suffix);
    qo = pgconn_quote_ident(admin, old);
    if (exists) {
        sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qd, qo);
        /* sessions may reconnect between the terminate and the rename: a few tries */
        for (int attempt = 0; attempt < 10; attempt++) {
            if (pgconn_queryp(admin,
                              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = $1 AND pid <> pg_backend_pid()",
                              1, params, &q) == 0)
                PQclear(q);
            if ((r = pgconn_exec(admin, sql)) == 0 || !strstr(drk_err_msg(), "other users"))
                break;
            usleep(200000);
        }
        free(sql);
        if (r)
            goto out;
    }
    sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qt, qd);
    r = pgconn_exec(admin, sql);
    free(sql);
    if (r) {
        if (exists) { /* put the old one back */
            struct drk_error cause;
            char *back = xasprintf("ALTER DATABASE %s RENAME TO %s", qo, qd);
            drk_err_save(&cause);
            if (pgconn_exec(admin, back) != 0) {
                drk_err_restore(&cause);
                drk_err_wrap(r, "the previous database is now named '%s' (rename it back)", old);
            } else {
                drk_err_restore(&cause);
            }
            free(back);
        }
        goto out;
    }
    if (exists && drop_database(admin, old) != 0)
        vec_push(&res->warnings, xasprintf("the replaced database is left as '%s' (drop it when "
                                           "you no longer need it): %s",
                                           old, drk_err_msg()));
out:
    free(qt);
    free(qd);
    free(qo);
    return r;
}

/* One restore into a destination at a time (a session-level advisory lock held on the
 * admin connection until it closes); then temporary databases of interrupted restores into
 * it are dropped. */
static int
lock_destination(PGconn *admin, const char *dest, const char *prefix)
{
    char *key = xasprintf("drkit restore %s", dest);
    const char *params[1] = { key };
    PGresult *res = NULL;
    int r = pgconn_queryp(admin, "SELECT pg_try_advisory_lock(hashtext($1))", 1, params, &res);
    if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
        r = drk_err_set(DRK_ELOCKED, "another drkit restore into database '%s' is running", dest);
    if (res)
        PQclear(res);
    free(key);
    if (r)
        return r;
    params[0] = prefix;
    if ((r = pgconn_queryp(admin, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                           1, params, &res)) != 0)
        return r;
    for (int i = 0; i < PQntuples(res) && r == 0; i++)
        r = drop_database(admin, PQgetvalue(res, i, 0));
    PQclear(res);
    return r;
}

/* A connection to a database of the server other than `avoid` (for CREATE/DROP/RENAME). */
static int
connect_admin(const struct pgconn_target *t, const char *avoid, PGconn **out)
{
    const char *db = strcmp(avoid, "postgres") ? "postgres" : "template1";
    int r = pgconn_connect(t, db, out);
    if (r == 0 && (r = pgconn_exec(*out, "SET client_min_messages = warning")) != 0) {
        PQfinish(*out);
        *out = NULL;
    }
    return r;
}

int
pgrestore_database(struct repo *repo, const struct snapshot *s, const struct pgrestore_db_opts *o,
                   struct pgrestore_progress *prog, struct pgrestore_db_result *res)
{
    struct blob_codec codec;
    struct snapdb sdb;
    PGconn *admin = NULL;
    char tmp[128], prefix[128];
    const char *dest;
    bool exists = false, created = false;
    int r;

    blob_codec_init(&codec);
    if ((r = snapdb_open(&sdb, repo, &codec, s, o->source_db)) != 0)
        goto out;
    dest = o->dest_db ? o->dest_db : sdb.name;
    snprintf(res->source_db, sizeof(res->source_db), "%s", sdb.name);
    snprintf(res->dest_db, sizeof(res->dest_db), "%s", dest);
    {
        /* <dest>__drkit_restore_<pid>; prefix: the same without the pid (leftovers) */
        char suffix[48];
        snprintf(suffix, sizeof(suffix), "__drkit_restore_%ld", (long)getpid());
        derived_name(tmp, sizeof(tmp), dest, suffix);
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(strrchr(tmp, '_') + 1 - tmp), tmp);
    }
    atomic_store(&prog->tables_total, json_array_size(json_object_get(sdb.meta, "tables")));
    atomic_store(&prog->bytes_total, sdb.bytes_total);

    if ((r = connect_admin(o->server, dest, &admin)) != 0)
        goto out;
    if ((r = db_exists(admin, dest, &exists)) != 0)
        goto out;
    if (exists && !o->replace) {
        r = drk_err_set(DRK_EEXIST, "database '%s' exists", dest);
        goto out;
    }
    if ((r = lock_destination(admin, dest, prefix)) != 0)
        goto out;
    if ((r = apply_globals(repo, &codec, o->server, admin, snapdb_root_file(&sdb, "globals.sql"),
                           res)) != 0)
        goto out;
    if ((r = create_database(admin, tmp, sdb.meta)) != 0)
        goto out;
    created = true;
    atomic_store(&prog->step, 0);
    if ((r = run_psql(repo, &codec, o->server, tmp, snapdb_file(&sdb, "pre-data.sql"), NULL, true,
                      true, NULL)) != 0)
        goto out;
    atomic_store(&prog->step, 1);
    if ((r = load_tables(repo, o->server, tmp, &sdb, o->threads, prog)) != 0)
        goto out;
    if ((r = run_psql(repo, &codec, o->server, tmp, snapdb_file(&sdb, "data-extra.sql"), NULL, true,
                      true, NULL)) != 0 ||
        (r = run_psql(repo, &codec, o->server, tmp, snapdb_file(&sdb, "sequences.sql"), NULL, true,
                      true, NULL)) != 0)
        goto out;
    atomic_store(&prog->step, 2);
    if ((r = run_psql(repo, &codec, o->server, tmp, snapdb_file(&sdb, "post-data.sql"), NULL, true,
                      true, NULL)) != 0)
        goto out;
    atomic_store(&prog->step, 3);
    if ((r = swap_in(admin, tmp, dest, exists, res)) != 0)
        goto out;
    created = false;
    res->replaced = exists;
    res->tables = atomic_load(&prog->tables);
    res->rows = atomic_load(&prog->rows);
    res->bytes = atomic_load(&prog->bytes);
out:
    if (created && admin) { /* never leave a half-restored database behind */
        char *msg = xstrdup(drk_err_msg());
        drop_database(admin, tmp);
        drk_err_set(r, "%s", msg);
        free(msg);
    }
    if (admin)
        PQfinish(admin);
    snapdb_release(&sdb);
    blob_codec_release(&codec);
    return r;
}

void
pgrestore_db_result_release(struct pgrestore_db_result *res)
{
    for (size_t i = 0; i < res->roles_created.n; i++)
        free(res->roles_created.v[i]);
    vec_free(&res->roles_created);
    for (size_t i = 0; i < res->warnings.n; i++)
        free(res->warnings.v[i]);
    vec_free(&res->warnings);
}

int
pgrestore_db_exists(const struct pgconn_target *server, const char *name, bool *exists)
{
    PGconn *admin = NULL;
    int r = connect_admin(server, name, &admin);
    if (r == 0)
        r = db_exists(admin, name, exists);
    if (admin)
        PQfinish(admin);
    return r;
}
