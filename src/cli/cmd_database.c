/*
 * cmd_database: `drkit database test|verify|create-test` — the guide's database.php commands.
 *
 * test: can drkit reach the configured server, and in what state is it (version, sizes,
 * connections, primary or standby, replication, WAL archiving)?
 * verify: is a database damaged? pg_amcheck on every table and index, data checksums and the
 * failures the server has counted, and today's row counts against the newest backup's
 * manifest (a table that vanished or lost many rows since the backup is worth a look).
 * create-test: the scratch database of [target "test"], made like the source database.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fnmatch.h>

#include "cli/cli.h"
#include "cli/out.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "source/pg/amcheck.h"
#include "source/pg/conn.h"
#include "util/buf.h"
#include "util/conf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char database_usage[] =
    "usage: drkit database <subcommand> [<options>]\n"
    "\n"
    "  test          connect to the configured server: version, database sizes, connections,\n"
    "                primary or standby, replication and WAL archiving\n"
    "  verify        look for corruption: pg_amcheck on tables and indexes, data checksums,\n"
    "                and row counts compared with the newest backup\n"
    "  create-test   create the scratch database of [target \"test\"] (for restores)\n"
    "\n"
    "The server is the config's [source] of type postgresql (conninfo, passfile, databases).\n"
    "Run 'drkit database <subcommand> --help' for its options.\n";

static const char test_usage[] =
    "usage: drkit database test [--json]\n"
    "\n"
    "Connects to the server of the config's [source] of type postgresql and to each of its\n"
    "databases ('databases', default all but the templates), and shows the server version,\n"
    "each database's size, connections used of max_connections, whether the server is a\n"
    "primary or a standby (pg_is_in_recovery), its standbys (pg_stat_replication: client,\n"
    "state, lag) or its upstream (pg_stat_wal_receiver), and WAL archiving (pg_stat_archiver:\n"
    "last archived, failures). Exit 0 when everything is reachable; exit 1 with the server's\n"
    "message when the server or a database cannot be reached (wrong password, server down,\n"
    "missing database). A connection attempt gives up after PGCONNECT_TIMEOUT (default 10)\n"
    "seconds.\n";

static const char verify_usage[] =
    "usage: drkit database verify [--heapallindexed] [--install-missing] [--jobs=N]\n"
    "                             [--max-drop=PERCENT] [--snapshot=ID | --no-compare] [--json]\n"
    "\n"
    "For each configured database: pg_amcheck checks every table (heap and TOAST) and every\n"
    "B-tree index, system catalogs included (with data checksums on, every page read is also\n"
    "checksummed); the server's count of checksum failures (pg_stat_database) is read; and\n"
    "each table's rows are counted and compared with the manifest of the newest backup of the\n"
    "database in the repository (tables missing now, or with more than PERCENT fewer rows,\n"
    "are warnings).\n"
    "\n"
    "  --heapallindexed    also check that every row has its index entries (slower)\n"
    "  --install-missing   install the amcheck extension where it is missing (pg_amcheck\n"
    "                      --install-missing; needs a superuser)\n"
    "  --jobs=N            pg_amcheck connections in parallel\n"
    "  --max-drop=PERCENT  warn when a table has this many percent fewer rows than in the\n"
    "                      backup (default 10)\n"
    "  --snapshot=ID       compare with this backup instead of the newest one\n"
    "  --no-compare        do not compare row counts (no repository needed)\n"
    "\n"
    "Exit 0: no corruption (warnings aside); 4: corruption found (what and where is said);\n"
    "1: a check could not be done (amcheck missing, server unreachable, repository\n"
    "unreadable).\n";

static const char create_usage[] =
    "usage: drkit database create-test [--replace] [--from=DATABASE]\n"
    "                                  [--encoding=ENC --locale=LOCALE] [--json]\n"
    "\n"
    "Creates the database named by the dbname of [target \"test\"] conninfo, on that server,\n"
    "from template0 with the encoding and locale of the source database (the [source]'s first\n"
    "database, or --from). If it exists already, says so and leaves it alone; --replace drops\n"
    "it (disconnecting its sessions) and creates it empty. drkit refuses to replace a\n"
    "database the [source] backs up, and postgres, template0 and template1.\n"
    "--encoding and --locale give the encoding and locale without asking the source server.\n";

enum {
    OPT_HEAPALLINDEXED = OPT_FIRST_COMMAND_OPTION,
    OPT_INSTALL_MISSING,
    OPT_JOBS,
    OPT_MAX_DROP,
    OPT_SNAPSHOT,
    OPT_NO_COMPARE,
    OPT_REPLACE,
    OPT_FROM,
    OPT_ENCODING,
    OPT_LOCALE,
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* A value of a result, NULL for SQL NULL. */
static const char *
val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t
ival(const PGresult *res, int row, int col)
{
    const char *v = val(res, row, col);
    return v ? strtoll(v, NULL, 10) : -1;
}

static json_t *
jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *
jval(const PGresult *res, int row, int col)
{
    return jstr(val(res, row, col));
}

static json_t *
jint(const PGresult *res, int row, int col)
{
    const char *v = val(res, row, col);
    return v ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

static json_t *
jreal(const PGresult *res, int row, int col)
{
    const char *v = val(res, row, col);
    return v ? json_real(strtod(v, NULL)) : json_null();
}

/* The config's database source, with an error that says what to add. */
static int
db_source(struct app *app, struct pgconn_target *t, struct app_db *adb)
{
    int r = app_db_source(app, t, adb);
    if (r == DRK_ENOTFOUND) {
        drk_err_set(DRK_ECONFIG,
                    "no database in the config ('%s'): no [source] with type = "
                    "postgresql",
                    conf_path(app->conf) ? conf_path(app->conf) : "none found");
        drk_err_hint("add [source \"database\"] with type = postgresql, conninfo = host=... "
                     "dbname=... user=... and databases = ...");
        return DRK_ECONFIG;
    }
    return r;
}

/* Connect, and name the configured connection (password left out) when it fails. */
static int
db_connect(const struct pgconn_target *t, const char *what, const char *db, PGconn **c)
{
    int r = pgconn_connect(t, db, c);
    if (r) {
        char *disp = pgconn_display(t, db);
        drk_err_wrap(r, "%s '%s'", what, disp);
        free(disp);
    }
    return r;
}

/* A connection attempt to a server that does not answer waits forever by default. */
static void
default_connect_timeout(void)
{
    setenv("PGCONNECT_TIMEOUT", "10", 0);
}

static char *
source_what(const struct app_db *adb)
{
    return xasprintf("[source \"%s\"] conninfo", adb->section);
}

/* The databases of the source: the configured ones, else every one that accepts
 * connections but the templates (as the backup does). */
static int
source_databases(PGconn *c, const struct app_db *adb, char ***out, size_t *nout)
{
    PGresult *res = NULL;
    char **v;
    int r;

    if (adb->ndatabases) {
        v = xcalloc(adb->ndatabases, sizeof(*v));
        for (size_t i = 0; i < adb->ndatabases; i++)
            v[i] = xstrdup(adb->databases[i]);
        *out = v;
        *nout = adb->ndatabases;
        return 0;
    }
    if ((r = pgconn_query(c,
                          "SELECT datname FROM pg_database WHERE datallowconn AND NOT "
                          "datistemplate ORDER BY datname",
                          &res)) != 0)
        return r;
    *nout = (size_t)PQntuples(res);
    v = xcalloc(*nout ? *nout : 1, sizeof(*v));
    for (size_t i = 0; i < *nout; i++)
        v[i] = xstrdup(PQgetvalue(res, (int)i, 0));
    PQclear(res);
    *out = v;
    return 0;
}

static void
free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
fmt_size(int64_t bytes, char out[SIZE_FMT_MAX])
{
    if (bytes < 0)
        snprintf(out, SIZE_FMT_MAX, "-");
    else
        size_format((uint64_t)bytes, out);
}

static void
fmt_count(int64_t v, char *out, size_t n)
{
    if (v < 0)
        snprintf(out, n, "-");
    else
        out_count(out, n, (uint64_t)v);
}

/* ---- database test ------------------------------------------------------------------------ */

/* The server, as seen from the connection to its conninfo database. */
static const char server_sql[] =
    "SELECT version(), current_setting('server_version'), "
    "current_setting('server_version_num')::int, pg_is_in_recovery(), "
    "current_setting('max_connections')::int, "
    "current_setting('superuser_reserved_connections')::int, "
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
    "current_setting('data_checksums'), current_setting('archive_mode'), "
    "current_setting('wal_level'), current_user, "
    "to_json(pg_postmaster_start_time()) #>> '{}'";

static const char database_sql[] =
    "SELECT CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END, "
    "pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, d.datallowconn, "
    "(SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid) "
    "FROM pg_database d WHERE d.datname = $1";

static const char tables_count_sql[] =
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/* Standbys of this server (also of a cascading standby). */
static const char replication_sql[] =
    "SELECT coalesce(nullif(application_name, ''), '(unnamed)'), "
    "coalesce(host(client_addr), 'local'), state, sync_state, sent_lsn::text, replay_lsn::text, "
    "pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END, replay_lsn)::bigint, "
    "extract(epoch FROM write_lag), extract(epoch FROM flush_lag), "
    "extract(epoch FROM replay_lag) "
    "FROM pg_stat_replication ORDER BY 1, 2";

/* The upstream of a standby. */
static const char receiver_sql[] =
    "SELECT r.status, r.sender_host, r.sender_port, pg_last_wal_receive_lsn()::text, "
    "pg_last_wal_replay_lsn()::text, "
    "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint, "
    "extract(epoch FROM now() - pg_last_xact_replay_timestamp()) "
    "FROM (SELECT 1) x LEFT JOIN pg_stat_wal_receiver r ON true";

static const char archiver_sql[] =
    "SELECT archived_count, last_archived_wal, to_json(last_archived_time) #>> '{}', "
    "failed_count, last_failed_wal, to_json(last_failed_time) #>> '{}', "
    "failed_count > 0 AND (last_archived_time IS NULL OR last_failed_time > "
    "last_archived_time) "
    "FROM pg_stat_archiver";

struct test_db {
    char *name;
    bool exists, reachable;
    int64_t size, tables, connections;
    char *encoding, *collate, *ctype;
    char *error;
};

static void
test_one_database(const struct pgconn_target *t, PGconn *c, struct test_db *d)
{
    const char *params[1] = { d->name };
    PGresult *res = NULL;
    PGconn *dc = NULL;

    d->size = d->tables = d->connections = -1;
    if (pgconn_queryp(c, database_sql, 1, params, &res) != 0) {
        d->error = xstrdup(drk_err_msg());
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        d->error = xasprintf("database \"%s\" does not exist", d->name);
        return;
    }
    d->exists = true;
    d->size = ival(res, 0, 0);
    d->encoding = xstrdup(PQgetvalue(res, 0, 1));
    d->collate = xstrdup(PQgetvalue(res, 0, 2));
    d->ctype = xstrdup(PQgetvalue(res, 0, 3));
    d->connections = ival(res, 0, 5);
    PQclear(res);
    if (pgconn_connect(t, d->name, &dc) != 0) {
        d->error = xstrdup(drk_err_msg());
        return;
    }
    d->reachable = true;
    if (pgconn_query(dc, tables_count_sql, &res) == 0) {
        d->tables = ival(res, 0, 0);
        PQclear(res);
    }
    PQfinish(dc);
}

static json_t *
replication_json(const PGresult *rep)
{
    json_t *arr = json_array();
    for (int i = 0; rep && i < PQntuples(rep); i++)
        json_array_append_new(
            arr,
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "client",
                      jval(rep, i, 0), "address", jval(rep, i, 1), "state", jval(rep, i, 2),
                      "sync_state", jval(rep, i, 3), "sent_lsn", jval(rep, i, 4), "replay_lsn",
                      jval(rep, i, 5), "lag_bytes", jint(rep, i, 6), "write_lag", jreal(rep, i, 7),
                      "flush_lag", jreal(rep, i, 8), "replay_lag", jreal(rep, i, 9)));
    return arr;
}

static void
print_lag(char *out, size_t n, const char *bytes, const char *secs)
{
    char sz[SIZE_FMT_MAX] = "-";
    if (bytes)
        fmt_size(strtoll(bytes, NULL, 10), sz);
    if (secs)
        snprintf(out, n, "%s, %.3fs", sz, strtod(secs, NULL));
    else
        snprintf(out, n, "%s", sz);
}

static int
db_test(struct app *app, int argc, char **argv)
{
    struct pgconn_target t;
    struct app_db adb;
    PGconn *c = NULL;
    PGresult *srv = NULL, *rep = NULL, *recv = NULL, *arch = NULL;
    struct test_db *dbs = NULL;
    char **names = NULL, *disp = NULL, *what = NULL;
    size_t ndbs = 0, bad = 0;
    bool standby;
    int first, r;

    app->command = "database test";
    r = app_parse(app, argc, argv, NULL, test_usage, app_no_options, (void *)test_usage, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (first < argc)
        return cli_usage_error(test_usage, "unexpected argument '%s'", argv[first]);
    app_apply_output(app);
    default_connect_timeout();
    if ((r = db_source(app, &t, &adb)) != 0)
        return r;
    disp = pgconn_display(&t, NULL);
    what = source_what(&adb);
    if ((r = db_connect(&t, what, NULL, &c)) != 0) {
        if (app->json)
            out_json(
                json_pack("{s:b, s:s, s:s}", "ok", 0, "connection", disp, "error", drk_err_msg()));
        goto out;
    }
    if ((r = pgconn_query(c, server_sql, &srv)) != 0 ||
        (r = source_databases(c, &adb, &names, &ndbs)) != 0 ||
        (r = pgconn_query(c, replication_sql, &rep)) != 0 ||
        (r = pgconn_query(c, archiver_sql, &arch)) != 0)
        goto out;
    standby = !strcmp(PQgetvalue(srv, 0, 3), "t");
    if (standby && (r = pgconn_query(c, receiver_sql, &recv)) != 0)
        goto out;
    dbs = xcalloc(ndbs ? ndbs : 1, sizeof(*dbs));
    for (size_t i = 0; i < ndbs; i++) {
        dbs[i].name = names[i];
        test_one_database(&t, c, &dbs[i]);
        bad += dbs[i].error != NULL;
    }

    if (app->json) {
        json_t *jdbs = json_array(), *receiver = json_null(), *archiving;
        for (size_t i = 0; i < ndbs; i++) {
            struct test_db *d = &dbs[i];
            json_array_append_new(
                jdbs,
                json_pack("{s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", d->name,
                          "exists", d->exists, "reachable", d->reachable, "size",
                          d->size >= 0 ? json_integer(d->size) : json_null(), "tables",
                          d->tables >= 0 ? json_integer(d->tables) : json_null(), "connections",
                          d->connections >= 0 ? json_integer(d->connections) : json_null(),
                          "encoding", jstr(d->encoding), "collate", jstr(d->collate), "ctype",
                          jstr(d->ctype), "error", jstr(d->error)));
        }
        if (recv)
            receiver = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "status", jval(recv, 0, 0),
                                 "sender_host", jval(recv, 0, 1), "sender_port", jint(recv, 0, 2),
                                 "receive_lsn", jval(recv, 0, 3), "replay_lsn", jval(recv, 0, 4),
                                 "lag_bytes", jint(recv, 0, 5), "replay_delay", jreal(recv, 0, 6));
        archiving =
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b}", "mode", PQgetvalue(srv, 0, 8),
                      "archived_count", jint(arch, 0, 0), "last_archived_wal", jval(arch, 0, 1),
                      "last_archived_time", jval(arch, 0, 2), "failed_count", jint(arch, 0, 3),
                      "last_failed_wal", jval(arch, 0, 4), "last_failed_time", jval(arch, 0, 5),
                      "failing", !strcmp(PQgetvalue(arch, 0, 6), "t"));
        out_json(json_pack(
            "{s:b, s:s, s:{s:s, s:I, s:s, s:s, s:o}, s:s, s:b, s:b, s:s, s:{s:I, s:I, s:I}, "
            "s:o, s:o, s:o, s:o}",
            "ok", bad == 0, "connection", disp, "server", "version", PQgetvalue(srv, 0, 1),
            "version_num", (json_int_t)ival(srv, 0, 2), "description", PQgetvalue(srv, 0, 0),
            "user", PQgetvalue(srv, 0, 10), "started", jval(srv, 0, 11), "role",
            standby ? "standby" : "primary", "in_recovery", standby, "data_checksums",
            !strcmp(PQgetvalue(srv, 0, 7), "on"), "wal_level", PQgetvalue(srv, 0, 9), "connections",
            "used", (json_int_t)ival(srv, 0, 6), "max", (json_int_t)ival(srv, 0, 4),
            "superuser_reserved", (json_int_t)ival(srv, 0, 5), "databases", jdbs, "replication",
            replication_json(rep), "receiver", receiver, "archiving", archiving));
    } else if (!app->quiet) {
        struct out_table *kv = out_table_new(2), *tab;
        char line[512], used[32], max[32];
        const char *failing = PQgetvalue(arch, 0, 6);

        out_table_row(kv, "connection", disp);
        out_table_row(kv, "server", PQgetvalue(srv, 0, 0));
        out_table_row(kv, "user", PQgetvalue(srv, 0, 10));
        out_table_row(kv, "started", PQgetvalue(srv, 0, 11));
        if (standby) {
            const char *st = recv ? val(recv, 0, 0) : NULL;
            const char *host = recv ? val(recv, 0, 1) : NULL;
            char delay[64] = "";
            if (recv && val(recv, 0, 6))
                snprintf(delay, sizeof(delay), ", last replayed transaction %.1fs ago",
                         strtod(val(recv, 0, 6), NULL));
            snprintf(line, sizeof(line), "standby (in recovery); WAL receiver: %s%s%s%s",
                     st ? st : "not running", host ? " from " : "", host ? host : "", delay);
        } else {
            snprintf(line, sizeof(line), "primary (not in recovery)");
        }
        out_table_row(kv, "role", line);
        fmt_count(ival(srv, 0, 6), used, sizeof(used));
        fmt_count(ival(srv, 0, 4), max, sizeof(max));
        snprintf(line, sizeof(line), "%s used of %s (%s reserved for superusers)", used, max,
                 PQgetvalue(srv, 0, 5));
        out_table_row(kv, "connections", line);
        out_table_row(kv, "data checksums", PQgetvalue(srv, 0, 7));
        if (PQntuples(rep) == 0)
            out_table_row(kv, "replication", "no standby connected");
        else {
            snprintf(line, sizeof(line), "%d standby(s) connected", PQntuples(rep));
            out_table_row(kv, "replication", line);
        }
        if (!strcmp(PQgetvalue(srv, 0, 8), "off")) {
            snprintf(line, sizeof(line), "off (archive_mode = off, wal_level = %s)",
                     PQgetvalue(srv, 0, 9));
        } else {
            char last[160] = "nothing archived yet", fail[200] = "no failures";
            if (val(arch, 0, 1))
                snprintf(last, sizeof(last), "last %s at %s", val(arch, 0, 1), val(arch, 0, 2));
            if (ival(arch, 0, 3) > 0)
                snprintf(fail, sizeof(fail), "%s%s failed, last %s at %s",
                         !strcmp(failing, "t") ? "FAILING: " : "", PQgetvalue(arch, 0, 3),
                         val(arch, 0, 4) ? val(arch, 0, 4) : "?",
                         val(arch, 0, 5) ? val(arch, 0, 5) : "?");
            snprintf(line, sizeof(line), "on (archive_mode = %s): %s archived, %s; %s",
                     PQgetvalue(srv, 0, 8), PQgetvalue(arch, 0, 0), last, fail);
        }
        out_table_row(kv, "WAL archiving", line);
        out_table_print(kv);

        printf("\n");
        tab = out_table_new(6);
        out_table_row(tab, "DATABASE", "SIZE", "TABLES", "CONNECTIONS", "ENCODING", "STATUS");
        for (size_t i = 0; i < ndbs; i++) {
            struct test_db *d = &dbs[i];
            char sz[SIZE_FMT_MAX], nt[32], nc[32];
            fmt_size(d->size, sz);
            fmt_count(d->tables, nt, sizeof(nt));
            fmt_count(d->connections, nc, sizeof(nc));
            out_table_row(tab, d->name, sz, nt, nc, d->encoding ? d->encoding : "-",
                          d->error ? "ERROR" : "ok");
        }
        out_table_print(tab);
        if (PQntuples(rep)) {
            printf("\n");
            tab = out_table_new(7);
            out_table_row(tab, "STANDBY", "ADDRESS", "STATE", "SYNC", "SENT", "REPLAYED",
                          "LAG (BYTES, TIME)");
            for (int i = 0; i < PQntuples(rep); i++) {
                char lag[64];
                print_lag(lag, sizeof(lag), val(rep, i, 6), val(rep, i, 9));
                out_table_row(tab, PQgetvalue(rep, i, 0), PQgetvalue(rep, i, 1),
                              PQgetvalue(rep, i, 2), PQgetvalue(rep, i, 3), PQgetvalue(rep, i, 4),
                              PQgetvalue(rep, i, 5), lag);
            }
            out_table_print(tab);
        }
        if (!strcmp(failing, "t"))
            log_warn("WAL archiving is failing: %s attempt(s) failed, the last for %s at %s "
                     "(see the server log for archive_command's errors)",
                     PQgetvalue(arch, 0, 3), val(arch, 0, 4) ? val(arch, 0, 4) : "?",
                     val(arch, 0, 5) ? val(arch, 0, 5) : "?");
    }
    if (bad) {
        struct buf b = BUF_INIT;
        for (size_t i = 0; i < ndbs; i++)
            if (dbs[i].error)
                buf_addf(&b, "%s%s", b.len ? "; " : "", dbs[i].error);
        r = drk_err_set(DRK_EIO, "%zu of %zu database(s) of %s '%s' cannot be reached: %s", bad,
                        ndbs, what, disp, buf_cstr(&b));
        drk_err_hint("check 'databases' and 'conninfo' in the config, and the user's CONNECT "
                     "privilege");
        buf_release(&b);
    } else if (!app->json && !app->quiet) {
        printf("\ndatabase test: ok (%zu database(s) reachable)\n", ndbs);
    }
out:
    for (size_t i = 0; dbs && i < ndbs; i++) {
        free(dbs[i].encoding);
        free(dbs[i].collate);
        free(dbs[i].ctype);
        free(dbs[i].error);
    }
    free(dbs);
    free_strings(names, ndbs);
    PQclear(srv);
    PQclear(rep);
    PQclear(recv);
    PQclear(arch);
    PQfinish(c);
    free(disp);
    free(what);
    pgconn_target_release(&t);
    return r;
}

/* ---- database verify ---------------------------------------------------------------------- */

struct verify_opts {
    bool heapallindexed, install_missing, no_compare;
    bool standby; /* the server is in recovery: read-only, nothing can be installed */
    unsigned jobs;
    double max_drop;
    const char *snapshot;
};

static int
verify_opt(struct app *app, void *arg, int c, const char *v)
{
    struct verify_opts *o = arg;
    char *end;
    (void)app;
    switch (c) {
    case OPT_HEAPALLINDEXED:
        o->heapallindexed = true;
        return 0;
    case OPT_INSTALL_MISSING:
        o->install_missing = true;
        return 0;
    case OPT_NO_COMPARE:
        o->no_compare = true;
        return 0;
    case OPT_SNAPSHOT:
        o->snapshot = v;
        return 0;
    case OPT_JOBS: {
        int n;
        if (str_to_int(v, &n) != 0 || n < 1 || n > 64)
            return cli_usage_error(verify_usage, "bad --jobs '%s': a number from 1 to 64", v);
        o->jobs = (unsigned)n;
        return 0;
    }
    case OPT_MAX_DROP:
        o->max_drop = strtod(v, &end);
        if (end == v || (*end && strcmp(end, "%") != 0) || o->max_drop < 0 || o->max_drop > 100)
            return cli_usage_error(verify_usage, "bad --max-drop '%s': a percentage, 0 to 100", v);
        return 0;
    default:
        return cli_usage_error(verify_usage, "unknown option");
    }
}

enum table_state { T_OK, T_DROPPED, T_MISSING, T_NEW, T_EXCLUDED, T_CORRUPT, T_ERROR };
static const char *const table_state_names[] = { "ok",       "dropped", "missing", "new",
                                                 "excluded", "corrupt", "error" };

struct vtable {
    char *schema, *name;
    int64_t rows_backup, rows_now; /* -1: unknown */
    enum table_state state;
    char *error;
};

struct vdb {
    const char *name;
    bool reachable;
    int64_t size;
    int64_t checksum_failures; /* -1: checksums off (NULL) */
    char *checksum_last_failure;
    enum pgamcheck_state am_state;
    char *am_version;
    bool am_ran;
    struct pgamcheck_result am;
    char *am_error;
    char **finding_tables; /* per am.findings: owning table or NULL */
    bool compared;         /* a manifest entry for it was found */
    VEC(struct vtable) tables;
    char *error;
};

struct verify_progress {
    _Atomic(const char *) db;
    _Atomic int stage; /* 0 connecting, 1 pg_amcheck, 2 counting rows */
    _Atomic uint64_t table, tables;
};

static void
verify_render(void *arg, char *line, size_t n, double elapsed)
{
    struct verify_progress *p = arg;
    const char *db = atomic_load(&p->db);
    int stage = atomic_load(&p->stage);
    if (stage == 2)
        snprintf(line, n, "[%02d:%02d] %s: counting rows, table %llu/%llu", (int)elapsed / 60,
                 (int)elapsed % 60, db ? db : "", (unsigned long long)atomic_load(&p->table),
                 (unsigned long long)atomic_load(&p->tables));
    else
        snprintf(line, n, "[%02d:%02d] %s: %s", (int)elapsed / 60, (int)elapsed % 60, db ? db : "",
                 stage == 1 ? "pg_amcheck (tables and indexes)" : "connecting");
}

static bool
table_excluded(const struct app_db *adb, const char *schema, const char *table)
{
    char *full = xasprintf("%s.%s", schema, table);
    bool hit = false;
    for (size_t i = 0; i < adb->nexclude && !hit; i++)
        hit = fnmatch(adb->exclude_tables[i], full, 0) == 0 ||
              (!strchr(adb->exclude_tables[i], '.') &&
               fnmatch(adb->exclude_tables[i], table, 0) == 0);
    free(full);
    return hit;
}

/* The manifest entry of database name in a snapshot, or NULL. Snapshots that hold only some
 * tables (restore points taken before a table restore: "globals" false) do not count. */
static json_t *
manifest_db(const struct snapshot *s, const char *name)
{
    json_t *dbs, *d, *g;
    size_t i;
    if (!s->has_db || !s->db_meta)
        return NULL;
    g = json_object_get(s->db_meta, "globals");
    if (json_is_false(g))
        return NULL;
    dbs = json_object_get(s->db_meta, "databases");
    json_array_foreach(dbs, i, d)
    {
        const char *n = json_string_value(json_object_get(d, "name"));
        if (n && !strcmp(n, name))
            return d;
    }
    return NULL;
}

static const char tables_sql[] =
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_class'::regclass "
    "AND x.objid = c.oid AND x.deptype = 'e') ORDER BY n.nspname, c.relname";

static struct vtable *
find_table(struct vdb *d, const char *schema, const char *name)
{
    for (size_t i = 0; i < d->tables.n; i++)
        if (!strcmp(d->tables.v[i].schema, schema) && !strcmp(d->tables.v[i].name, name))
            return &d->tables.v[i];
    return NULL;
}

/* Count the rows of every table now, and put the manifest's counts beside them. */
static void
count_rows(PGconn *c, struct vdb *d, const struct app_db *adb, const json_t *mdb, double max_drop,
           struct verify_progress *prog)
{
    PGresult *res = NULL;
    json_t *mt;
    size_t i;

    if (pgconn_query(c, tables_sql, &res) != 0) {
        d->error = xasprintf("cannot list the tables: %s", drk_err_msg());
        return;
    }
    atomic_store(&prog->tables, (uint64_t)PQntuples(res));
    atomic_store(&prog->stage, 2);
    for (int k = 0; k < PQntuples(res); k++) {
        struct vtable vt = { 0 };
        char *qs = pgconn_quote_ident(c, PQgetvalue(res, k, 0));
        char *qt = pgconn_quote_ident(c, PQgetvalue(res, k, 1));
        char *sql = xasprintf("SELECT count(*) FROM %s.%s", qs, qt);
        char state[6];
        PGresult *cnt = NULL;

        atomic_store(&prog->table, (uint64_t)k + 1);
        vt.schema = xstrdup(PQgetvalue(res, k, 0));
        vt.name = xstrdup(PQgetvalue(res, k, 1));
        vt.rows_backup = vt.rows_now = -1;
        if (pgconn_queryp_state(c, sql, 0, NULL, &cnt, state) == 0) {
            vt.rows_now = ival(cnt, 0, 0);
            PQclear(cnt);
        } else {
            vt.state = pgconn_sqlstate_corrupt(state) ? T_CORRUPT : T_ERROR;
            vt.error = xstrdup(drk_err_msg());
        }
        vec_push(&d->tables, vt);
        free(sql);
        free(qs);
        free(qt);
    }
    PQclear(res);
    d->compared = true;
    json_array_foreach(json_object_get(mdb, "tables"), i, mt)
    {
        const char *schema = json_string_value(json_object_get(mt, "schema"));
        const char *name = json_string_value(json_object_get(mt, "name"));
        struct vtable *vt;
        if (!schema || !name)
            continue;
        if ((vt = find_table(d, schema, name)) == NULL) {
            struct vtable nt = { 0 };
            nt.schema = xstrdup(schema);
            nt.name = xstrdup(name);
            nt.rows_now = -1;
            nt.state = T_MISSING;
            vec_push(&d->tables, nt);
            vt = &d->tables.v[d->tables.n - 1];
        }
        vt->rows_backup = (int64_t)json_integer_value(json_object_get(mt, "rows"));
    }
    for (i = 0; i < d->tables.n; i++) {
        struct vtable *vt = &d->tables.v[i];
        if (vt->state != T_OK)
            continue;
        if (vt->rows_backup < 0)
            vt->state = table_excluded(adb, vt->schema, vt->name) ? T_EXCLUDED : T_NEW;
        else if (vt->rows_backup > 0 && vt->rows_now < vt->rows_backup &&
                 (double)(vt->rows_backup - vt->rows_now) * 100.0 / (double)vt->rows_backup >
                     max_drop)
            vt->state = T_DROPPED;
    }
}

static void
ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Check one database: pg_amcheck, row counts, the checksum failures the server counted. */
static void
verify_database(const struct pgconn_target *t, const struct app_db *adb,
                const struct verify_opts *o, json_t *mdb, struct vdb *d,
                struct verify_progress *prog)
{
    const char *params[1] = { d->name };
    PGconn *c = NULL;
    PGresult *res = NULL;

    atomic_store(&prog->db, d->name);
    atomic_store(&prog->stage, 0);
    d->checksum_failures = -1;
    d->size = -1;
    if (pgconn_connect(t, d->name, &c) != 0) {
        d->error = xstrdup(drk_err_msg());
        return;
    }
    d->reachable = true;
    /* a damaged page makes the server say so in a WARNING too: the error of the query that
     * met it is what is reported */
    PQsetNoticeProcessor(c, ignore_notice, NULL);

    /* pg_amcheck */
    if (pgamcheck_probe(c, &d->am_state, &d->am_version) != 0) {
        d->am_error = xstrdup(drk_err_msg());
    } else if (d->am_state == PGAMCHECK_READY ||
               (d->am_state == PGAMCHECK_NOT_INSTALLED && o->install_missing && !o->standby)) {
        struct pgamcheck_opts ao = { t, d->name, o->heapallindexed, o->install_missing, o->jobs };
        atomic_store(&prog->stage, 1);
        d->am_ran = true;
        if (pgamcheck_run(&ao, &d->am) != 0)
            d->am_error = xstrdup(drk_err_msg());
        d->finding_tables = xcalloc(d->am.nfindings + 1, sizeof(char *));
        for (size_t i = 0; i < d->am.nfindings; i++) {
            const char *rel = d->am.findings[i].relation;
            size_t dl = strlen(d->name);
            if (!strncmp(rel, d->name, dl) && rel[dl] == '.')
                rel += dl + 1;
            pgamcheck_owner_table(c, rel, &d->finding_tables[i]);
        }
    } else if (d->am_state == PGAMCHECK_NOT_INSTALLED) {
        d->am_error = xasprintf("the amcheck extension is not installed in database '%s': "
                                "tables and indexes were not checked",
                                d->name);
    } else if (d->am_state == PGAMCHECK_UNAVAILABLE) {
        d->am_error = xasprintf("the server has no amcheck extension (database '%s'): tables "
                                "and indexes were not checked",
                                d->name);
    } else {
        d->am_error = xasprintf("user may not run amcheck's verify_heapam and bt_index_check "
                                "in database '%s': tables and indexes were not checked",
                                d->name);
    }

    if (mdb) /* without a backup to compare with, counting would scan every table for nothing */
        count_rows(c, d, adb, mdb, o->max_drop, prog);

    /* last: the failures the checks above met are counted too */
    if (pgconn_queryp(c,
                      "SELECT checksum_failures, to_json(checksum_last_failure) #>> '{}', "
                      "pg_database_size(datid) FROM pg_stat_database WHERE datname = $1",
                      1, params, &res) == 0) {
        if (PQntuples(res) == 1) {
            d->checksum_failures = ival(res, 0, 0);
            d->checksum_last_failure = val(res, 0, 1) ? xstrdup(val(res, 0, 1)) : NULL;
            d->size = ival(res, 0, 2);
        }
        PQclear(res);
    }
    PQfinish(c);
}

static bool
vdb_corrupt(const struct vdb *d)
{
    if (d->checksum_failures > 0 || d->am.nfindings || (d->am_ran && d->am.status == 2))
        return true;
    for (size_t i = 0; i < d->tables.n; i++)
        if (d->tables.v[i].state == T_CORRUPT)
            return true;
    return false;
}

/* What is damaged, for the error message: tables named once each. */
static void
corruption_summary(const struct vdb *d, struct buf *b)
{
    VEC(const char *) seen = VEC_INIT;
    size_t items = 0;

    buf_addf(b, "%sdatabase '%s':", b->len ? "; " : "", d->name);
    for (size_t i = 0; i < d->am.nfindings; i++) {
        const char *tab = d->finding_tables[i] ? d->finding_tables[i] : d->am.findings[i].relation;
        bool dup = false;
        for (size_t k = 0; k < seen.n && !dup; k++)
            dup = !strcmp(seen.v[k], tab);
        if (dup)
            continue;
        vec_push(&seen, tab);
        buf_addf(b, "%s table %s (%s \"%s\")", items++ ? "," : "", tab, d->am.findings[i].kind,
                 d->am.findings[i].relation);
    }
    for (size_t i = 0; i < d->tables.n; i++) {
        const struct vtable *vt = &d->tables.v[i];
        char *tab;
        bool dup = false;
        if (vt->state != T_CORRUPT)
            continue;
        tab = xasprintf("%s.%s", vt->schema, vt->name);
        for (size_t k = 0; k < seen.n && !dup; k++)
            dup = !strcmp(seen.v[k], tab);
        if (!dup)
            buf_addf(b, "%s table %s (cannot be read)", items++ ? "," : "", tab);
        free(tab);
    }
    if (d->checksum_failures > 0)
        buf_addf(b, "%s %lld data checksum failure(s) counted by the server, the last at %s",
                 items++ ? "," : "", (long long)d->checksum_failures,
                 d->checksum_last_failure ? d->checksum_last_failure : "?");
    if (!items)
        buf_addf(b, " pg_amcheck found corruption (see its report)");
    vec_free(&seen);
}

static const char *
am_state_name(const struct vdb *d)
{
    if (d->am_ran)
        return d->am.nfindings || d->am.status == 2 ? "corrupt" : d->am_error ? "error" : "ok";
    switch (d->am_state) {
    case PGAMCHECK_NOT_INSTALLED:
        return "not_installed";
    case PGAMCHECK_UNAVAILABLE:
        return "unavailable";
    case PGAMCHECK_NO_PRIVILEGE:
        return "no_privilege";
    default:
        return d->reachable ? "error" : "skipped";
    }
}

static json_t *
vdb_json(const struct vdb *d)
{
    json_t *tables = json_array(), *findings = json_array(), *am;
    for (size_t i = 0; i < d->tables.n; i++) {
        const struct vtable *vt = &d->tables.v[i];
        json_t *change = json_null();
        if (vt->rows_backup > 0 && vt->rows_now >= 0)
            change = json_real((double)(vt->rows_now - vt->rows_backup) * 100.0 /
                               (double)vt->rows_backup);
        json_array_append_new(
            tables,
            json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "schema", vt->schema, "name", vt->name,
                      "rows_backup",
                      vt->rows_backup >= 0 ? json_integer(vt->rows_backup) : json_null(),
                      "rows_now", vt->rows_now >= 0 ? json_integer(vt->rows_now) : json_null(),
                      "change_percent", change, "status", table_state_names[vt->state], "error",
                      jstr(vt->error)));
    }
    for (size_t i = 0; i < d->am.nfindings; i++)
        json_array_append_new(
            findings, json_pack("{s:s, s:s, s:o, s:I}", "kind", d->am.findings[i].kind, "relation",
                                d->am.findings[i].relation, "table", jstr(d->finding_tables[i]),
                                "reports", (json_int_t)d->am.findings[i].reports));
    am = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "state", am_state_name(d), "version",
        jstr(d->am_version), "exit_status", d->am_ran ? json_integer(d->am.status) : json_null(),
        "seconds", d->am_ran ? json_real(d->am.seconds) : json_null(), "output",
        jstr(d->am_ran ? d->am.output : NULL), "messages", jstr(d->am_ran ? d->am.messages : NULL),
        "truncated", d->am.truncated, "findings", findings, "error", jstr(d->am_error));
    return json_pack("{s:s, s:b, s:b, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "name", d->name,
                     "reachable", d->reachable, "corrupt", vdb_corrupt(d), "size",
                     d->size >= 0 ? json_integer(d->size) : json_null(), "checksum_failures",
                     d->checksum_failures >= 0 ? json_integer(d->checksum_failures) : json_null(),
                     "checksum_last_failure", jstr(d->checksum_last_failure), "amcheck", am,
                     "compared", d->compared, "tables", tables, "error", jstr(d->error));
}

static void
vdb_print(const struct vdb *d, bool checksums, bool verbose)
{
    char sz[SIZE_FMT_MAX], line[512];
    struct out_table *kv = out_table_new(2);

    fmt_size(d->size, sz);
    printf("database %s%s%s%s\n", d->name, d->size >= 0 ? " (" : "", d->size >= 0 ? sz : "",
           d->size >= 0 ? ")" : "");
    if (!d->reachable) {
        printf("  cannot connect: %s\n", d->error ? d->error : "?");
        out_table_free(kv);
        return;
    }
    if (!checksums)
        snprintf(line, sizeof(line),
                 "off (initdb --data-checksums or pg_checksums --enable "
                 "would let the server detect damaged pages)");
    else if (d->checksum_failures > 0)
        snprintf(line, sizeof(line), "on, %lld FAILURE(S) counted, the last at %s",
                 (long long)d->checksum_failures,
                 d->checksum_last_failure ? d->checksum_last_failure : "?");
    else
        snprintf(line, sizeof(line), "on, no failures counted");
    out_table_row(kv, "  data checksums", line);
    if (d->am_ran && !d->am.nfindings && d->am.status == 0)
        snprintf(line, sizeof(line), "ok: every table and B-tree index checked (amcheck %s, %.1fs)",
                 d->am_version ? d->am_version : "installed now", d->am.seconds);
    else if (d->am_ran && (d->am.nfindings || d->am.status == 2))
        snprintf(line, sizeof(line),
                 "CORRUPTION in %zu relation(s) (pg_amcheck exit %d, report "
                 "below)",
                 d->am.nfindings, d->am.status);
    else
        snprintf(line, sizeof(line), "NOT CHECKED: %s", d->am_error ? d->am_error : "?");
    out_table_row(kv, "  pg_amcheck", line);
    out_table_print(kv);
    if (d->am_ran && d->am.output[0]) {
        printf("  --- pg_amcheck report ---\n");
        fputs(d->am.output, stdout);
        if (d->am.output[strlen(d->am.output) - 1] != '\n')
            putchar('\n');
        if (d->am.truncated)
            printf("  (report truncated)\n");
        if (d->am.messages[0])
            printf("%s\n", d->am.messages);
        printf("  ---\n");
        for (size_t i = 0; i < d->am.nfindings; i++)
            printf("  damaged: %s \"%s\"%s%s\n", d->am.findings[i].kind, d->am.findings[i].relation,
                   d->finding_tables[i] ? ", of table " : "",
                   d->finding_tables[i] ? d->finding_tables[i] : "");
    }
    if (d->error)
        printf("  %s\n", d->error);
    if (d->tables.n) {
        struct out_table *t = out_table_new(5);
        size_t hidden = 0;
        out_table_row(t, "  TABLE", "BACKUP", "NOW", "CHANGE", "STATUS");
        for (size_t i = 0; i < d->tables.n; i++) {
            const struct vtable *vt = &d->tables.v[i];
            char name[300], b[32], n[32], ch[32] = "";
            if (!verbose && vt->state == T_OK && d->tables.n > 50) {
                hidden++;
                continue;
            }
            snprintf(name, sizeof(name), "  %s.%s", vt->schema, vt->name);
            fmt_count(vt->rows_backup, b, sizeof(b));
            fmt_count(vt->rows_now, n, sizeof(n));
            if (vt->rows_backup >= 0 && vt->rows_now >= 0) {
                if (vt->rows_backup > 0 && vt->rows_now != vt->rows_backup)
                    snprintf(ch, sizeof(ch), "%+.1f%%",
                             (double)(vt->rows_now - vt->rows_backup) * 100.0 /
                                 (double)vt->rows_backup);
                else if (vt->rows_now != vt->rows_backup)
                    snprintf(ch, sizeof(ch), "%+lld", (long long)(vt->rows_now - vt->rows_backup));
                else
                    snprintf(ch, sizeof(ch), "0");
            }
            out_table_row(t, name, b, n, ch, table_state_names[vt->state]);
        }
        out_table_print(t);
        if (hidden)
            printf("  (%zu more tables with the counts of the backup: -v lists them)\n", hidden);
    }
}

static int
db_verify(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "heapallindexed", no_argument, NULL, OPT_HEAPALLINDEXED },
        { "install-missing", no_argument, NULL, OPT_INSTALL_MISSING },
        { "jobs", required_argument, NULL, OPT_JOBS },
        { "max-drop", required_argument, NULL, OPT_MAX_DROP },
        { "snapshot", required_argument, NULL, OPT_SNAPSHOT },
        { "no-compare", no_argument, NULL, OPT_NO_COMPARE },
        { NULL, 0, NULL, 0 },
    };
    struct verify_opts o = { .max_drop = 10.0 };
    struct verify_progress prog = { 0 };
    struct pgconn_target t;
    struct app_db adb;
    struct snap_list list;
    struct snapshot *chosen = NULL;
    struct progress *pr = NULL;
    struct vdb *dbs = NULL;
    PGconn *c = NULL;
    PGresult *res = NULL;
    char **names = NULL, *disp = NULL, *what = NULL, *compare_note = NULL;
    size_t ndbs = 0;
    bool checksums = false, corrupt = false, incomplete = false;
    struct buf problems = BUF_INIT, corr = BUF_INIT;
    json_t *warnings = NULL, *errors = NULL, *hints = NULL;
    int first, r;

    snap_list_init(&list);
    app->command = "database verify";
    r = app_parse(app, argc, argv, opts, verify_usage, verify_opt, &o, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (first < argc)
        return cli_usage_error(verify_usage, "unexpected argument '%s'", argv[first]);
    if (o.no_compare && o.snapshot)
        return cli_usage_error(verify_usage, "--snapshot and --no-compare exclude each other");
    app_apply_output(app);
    default_connect_timeout();
    if ((r = db_source(app, &t, &adb)) != 0)
        return r;
    warnings = json_array();
    errors = json_array();
    hints = json_array();
    disp = pgconn_display(&t, NULL);
    what = source_what(&adb);

    /* the backup to compare with, first: a passphrase prompt belongs before the long part */
    if (!o.no_compare) {
        const char *loc;
        r = app_repo_location(app, &loc);
        if (r == DRK_EUSAGE && !o.snapshot) {
            compare_note = xstrdup("no repository configured: row counts not compared with a "
                                   "backup (--repo or --storage)");
            r = 0;
        } else if (r == 0 && (r = app_open_repo(app, 0)) == 0 &&
                   (r = snap_list_load(app->repo, &list)) == 0) {
            if (o.snapshot) {
                if ((r = snap_resolve(&list, o.snapshot, &chosen)) != 0)
                    goto out;
                if (!chosen->has_db || !chosen->db_meta) {
                    r = drk_err_set(DRK_ENOTFOUND, "snapshot %s holds no database", chosen->name);
                    goto out;
                }
            } else {
                /* the newest whole backup of the database: not a restore point of some
                 * tables, nor the copy drkit takes before a restore overwrites live data */
                for (size_t i = list.items.n; i-- > 0 && !chosen;)
                    if (list.items.v[i].has_db && list.items.v[i].db_meta &&
                        !json_is_false(json_object_get(list.items.v[i].db_meta, "globals")) &&
                        !snap_has_tag(&list.items.v[i], "before-restore"))
                        chosen = &list.items.v[i];
                if (!chosen)
                    compare_note = xstrdup("the repository holds no database backup yet: row "
                                           "counts not compared");
            }
        }
        if (r) {
            if (o.snapshot)
                goto out;
            /* the checks of the database are still worth doing */
            json_array_append_new(errors, json_sprintf("cannot read the backups to compare "
                                                       "row counts with: %s",
                                                       drk_err_msg()));
            buf_addf(&problems, "%srow counts not compared (%s)", problems.len ? "; " : "",
                     drk_err_msg());
            incomplete = true;
            r = 0;
        }
    }

    if ((r = db_connect(&t, what, NULL, &c)) != 0)
        goto out;
    if ((r = pgconn_query(c, "SELECT current_setting('data_checksums'), pg_is_in_recovery()",
                          &res)) != 0)
        goto out;
    checksums = !strcmp(PQgetvalue(res, 0, 0), "on");
    o.standby = !strcmp(PQgetvalue(res, 0, 1), "t");
    PQclear(res);
    if ((r = source_databases(c, &adb, &names, &ndbs)) != 0)
        goto out;
    PQfinish(c);
    c = NULL;

    dbs = xcalloc(ndbs ? ndbs : 1, sizeof(*dbs));
    pr = progress_start(app->progress, verify_render, &prog);
    for (size_t i = 0; i < ndbs; i++) {
        json_t *mdb = chosen ? manifest_db(chosen, names[i]) : NULL;
        dbs[i].name = names[i];
        verify_database(&t, &adb, &o, mdb, &dbs[i], &prog);
        if (chosen && !mdb)
            json_array_append_new(warnings,
                                  json_sprintf("database '%s' is not in backup %s: row counts "
                                               "not compared",
                                               names[i], chosen->name));
    }
    progress_stop(pr);

    /* what it all means */
    for (size_t i = 0; i < ndbs; i++) {
        struct vdb *d = &dbs[i];
        if (!d->reachable) {
            json_array_append_new(errors, json_sprintf("database '%s': %s", d->name, d->error));
            buf_addf(&problems, "%sdatabase '%s' not checked", problems.len ? "; " : "", d->name);
            incomplete = true;
            continue;
        }
        if (vdb_corrupt(d)) {
            corrupt = true;
            corruption_summary(d, &corr);
        }
        if (d->am_error && !(d->am_ran && d->am.status == 2)) {
            json_array_append_new(errors, json_sprintf("%s", d->am_error));
            buf_addf(&problems, "%s%s", problems.len ? "; " : "", d->am_error);
            incomplete = true;
            if (d->am_state == PGAMCHECK_NOT_INSTALLED && o.standby)
                json_array_append_new(hints,
                                      json_sprintf("amcheck: this server is a standby, where "
                                                   "nothing can be installed: run CREATE "
                                                   "EXTENSION amcheck; in database '%s' on the "
                                                   "primary (it replicates here)",
                                                   d->name));
            else if (d->am_state == PGAMCHECK_NOT_INSTALLED && !o.install_missing)
                json_array_append_new(hints,
                                      json_sprintf("amcheck: run CREATE EXTENSION amcheck; in "
                                                   "database '%s' as a superuser, or drkit "
                                                   "database verify --install-missing",
                                                   d->name));
            else if (d->am_state == PGAMCHECK_UNAVAILABLE)
                json_array_append_new(hints, json_string("amcheck comes with the server's contrib "
                                                         "modules (Debian: the postgresql-15 "
                                                         "package; elsewhere postgresql-contrib)"));
            else if (d->am_state == PGAMCHECK_NO_PRIVILEGE)
                json_array_append_new(
                    hints, json_sprintf("amcheck: GRANT EXECUTE ON FUNCTION verify_heapam and "
                                        "bt_index_check (in the extension's schema) to the "
                                        "user in database '%s', or connect as a superuser",
                                        d->name));
        }
        if (d->error) {
            json_array_append_new(errors, json_sprintf("database '%s': %s", d->name, d->error));
            buf_addf(&problems, "%sdatabase '%s': %s", problems.len ? "; " : "", d->name, d->error);
            incomplete = true;
        }
        for (size_t k = 0; k < d->tables.n; k++) {
            const struct vtable *vt = &d->tables.v[k];
            if (vt->state == T_DROPPED)
                json_array_append_new(
                    warnings, json_sprintf("%s: table %s.%s has %lld rows, %lld in backup %s "
                                           "(%.1f%% fewer)",
                                           d->name, vt->schema, vt->name, (long long)vt->rows_now,
                                           (long long)vt->rows_backup, chosen->name,
                                           (double)(vt->rows_backup - vt->rows_now) * 100.0 /
                                               (double)vt->rows_backup));
            else if (vt->state == T_MISSING)
                json_array_append_new(warnings,
                                      json_sprintf("%s: table %s.%s is missing now (%lld rows in "
                                                   "backup %s)",
                                                   d->name, vt->schema, vt->name,
                                                   (long long)vt->rows_backup, chosen->name));
            else if (vt->state == T_ERROR) {
                json_array_append_new(errors,
                                      json_sprintf("%s: cannot count the rows of %s.%s: %s",
                                                   d->name, vt->schema, vt->name, vt->error));
                buf_addf(&problems, "%s%s: rows of %s.%s not counted", problems.len ? "; " : "",
                         d->name, vt->schema, vt->name);
                incomplete = true;
            }
        }
    }

    if (app->json) {
        json_t *jdbs = json_array(), *snap = json_null();
        if (chosen) {
            char tm[DT_RFC3339_MAX];
            dt_format_rfc3339(&chosen->time, tm);
            snap = json_pack("{s:s, s:s, s:s}", "id", chosen->id, "name", chosen->name, "time", tm);
        }
        for (size_t i = 0; i < ndbs; i++)
            json_array_append_new(jdbs, vdb_json(&dbs[i]));
        out_json(json_pack("{s:b, s:b, s:b, s:s, s:b, s:o, s:o, s:o, s:O, s:O, s:O, s:o}", "ok",
                           !corrupt && !incomplete, "corrupt", corrupt, "complete", !incomplete,
                           "connection", disp, "data_checksums", checksums, "snapshot", snap,
                           "compare_note", jstr(compare_note), "databases", jdbs, "warnings",
                           warnings, "errors", errors, "hints", hints, "max_drop_percent",
                           json_real(o.max_drop)));
    } else if (!app->quiet) {
        if (chosen) {
            char tm[DT_RFC3339_MAX];
            dt_format_human(&chosen->time, tm);
            printf("row counts compared with backup %s (%s, host %s)\n\n", chosen->name, tm,
                   chosen->host);
        } else if (compare_note) {
            printf("%s\n\n", compare_note);
        }
        for (size_t i = 0; i < ndbs; i++) {
            vdb_print(&dbs[i], checksums, app->verbose > 0);
            printf("\n");
        }
    } else {
        /* --quiet: the damage report is the error's detail */
        for (size_t i = 0; i < ndbs; i++)
            if (dbs[i].am_ran && dbs[i].am.output[0])
                fputs(dbs[i].am.output, stderr);
    }
    if (!app->json) {
        size_t i;
        json_t *w;
        fflush(stdout);
        json_array_foreach(warnings, i, w)
        {
            log_warn("%s", json_string_value(w));
        }
        json_array_foreach(hints, i, w)
        {
            log_warn("%s", json_string_value(w));
        }
    }
    if (corrupt) {
        r = drk_err_set(DRK_ECORRUPT, "corruption found: %s", buf_cstr(&corr));
        drk_err_hint("restore the damaged tables from a backup (drkit backup restore ID "
                     "--table=T), or move to a healthy standby; the server log has details");
    } else if (incomplete) {
        r = drk_err_set(DRK_EIO, "verification incomplete: %s", buf_cstr(&problems));
    } else if (!app->json && !app->quiet) {
        printf("database verify: ok, no corruption found in %zu database(s)%s\n", ndbs,
               json_array_size(warnings) ? " (see the warnings)" : "");
    }
out:
    for (size_t i = 0; dbs && i < ndbs; i++) {
        struct vdb *d = &dbs[i];
        for (size_t k = 0; k < d->tables.n; k++) {
            free(d->tables.v[k].schema);
            free(d->tables.v[k].name);
            free(d->tables.v[k].error);
        }
        vec_free(&d->tables);
        for (size_t k = 0; d->finding_tables && k < d->am.nfindings; k++)
            free(d->finding_tables[k]);
        free(d->finding_tables);
        pgamcheck_result_release(&d->am);
        free(d->am_version);
        free(d->am_error);
        free(d->checksum_last_failure);
        free(d->error);
    }
    free(dbs);
    free_strings(names, ndbs);
    snap_list_release(&list);
    PQfinish(c);
    free(disp);
    free(what);
    free(compare_note);
    buf_release(&problems);
    buf_release(&corr);
    json_decref(warnings);
    json_decref(errors);
    json_decref(hints);
    pgconn_target_release(&t);
    return r;
}

/* ---- database create-test ----------------------------------------------------------------- */

struct create_opts {
    bool replace;
    const char *from, *encoding, *locale;
};

static int
create_opt(struct app *app, void *arg, int c, const char *v)
{
    struct create_opts *o = arg;
    (void)app;
    switch (c) {
    case OPT_REPLACE:
        o->replace = true;
        return 0;
    case OPT_FROM:
        o->from = v;
        return 0;
    case OPT_ENCODING:
        o->encoding = v;
        return 0;
    case OPT_LOCALE:
        o->locale = v;
        return 0;
    default:
        return cli_usage_error(create_usage, "unknown option");
    }
}

/* How the source database is made: encoding, collation, ctype, ICU locale (PostgreSQL 15). */
struct db_shape {
    char *encoding, *collate, *ctype, *icu_locale;
};

static void
shape_release(struct db_shape *s)
{
    free(s->encoding);
    free(s->collate);
    free(s->ctype);
    free(s->icu_locale);
    memset(s, 0, sizeof(*s));
}

static int
read_shape(PGconn *c, const char *db, struct db_shape *s)
{
    const char *params[1] = { db };
    PGresult *res = NULL;
    int r = pgconn_queryp(c,
                          PQserverVersion(c) >= 150000
                              ? "SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                                "CASE WHEN datlocprovider = 'i' THEN daticulocale END "
                                "FROM pg_database WHERE datname = $1"
                              : "SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                                "NULL FROM pg_database WHERE datname = $1",
                          1, params, &res);
    if (r)
        return r;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return drk_err_set(DRK_ENOTFOUND, "source database '%s' does not exist", db);
    }
    s->encoding = xstrdup(PQgetvalue(res, 0, 0));
    s->collate = xstrdup(PQgetvalue(res, 0, 1));
    s->ctype = xstrdup(PQgetvalue(res, 0, 2));
    s->icu_locale = val(res, 0, 3) ? xstrdup(val(res, 0, 3)) : NULL;
    PQclear(res);
    return 0;
}

/* The cluster's identity (pg_control_system), or NULL when the user may not read it. */
static char *
system_id(PGconn *c)
{
    PGresult *res = NULL;
    char *id = NULL;
    if (pgconn_query(c, "SELECT system_identifier::text FROM pg_control_system()", &res) == 0) {
        id = xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    drk_err_clear();
    return id;
}

/* Would dropping database name on the target's server destroy something the source backs
 * up? Same cluster (by system identifier, else by host and port) and one of its databases. */
static bool
is_source_database(PGconn *tc, const struct pgconn_target *tt, PGconn *sc,
                   const struct pgconn_target *st, const struct app_db *adb, const char *name)
{
    bool same = false, listed = adb->ndatabases == 0;
    char *a = system_id(tc), *b = sc ? system_id(sc) : NULL;
    if (a && b) {
        same = !strcmp(a, b);
    } else {
        char *h1 = pgconn_conninfo_value(tt, "host"), *h2 = pgconn_conninfo_value(st, "host");
        char *p1 = pgconn_conninfo_value(tt, "port"), *p2 = pgconn_conninfo_value(st, "port");
        same = !strcmp(h1 ? h1 : "", h2 ? h2 : "") && !strcmp(p1 ? p1 : "", p2 ? p2 : "");
        free(h1);
        free(h2);
        free(p1);
        free(p2);
    }
    free(a);
    free(b);
    for (size_t i = 0; i < adb->ndatabases && !listed; i++)
        listed = !strcmp(adb->databases[i], name);
    if (!listed) {
        char *sdb = pgconn_conninfo_value(st, "dbname");
        listed = sdb && !strcmp(sdb, name);
        free(sdb);
    }
    return same && listed;
}

static int
db_create_test(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "replace", no_argument, NULL, OPT_REPLACE },
        { "from", required_argument, NULL, OPT_FROM },
        { "encoding", required_argument, NULL, OPT_ENCODING },
        { "locale", required_argument, NULL, OPT_LOCALE },
        { NULL, 0, NULL, 0 },
    };
    struct create_opts o = { 0 };
    struct pgconn_target tt, st;
    struct app_db adb;
    struct db_shape shape = { 0 };
    bool have_source = false, exists = false, replaced = false;
    PGconn *tc = NULL, *sc = NULL;
    PGresult *res = NULL;
    char *name = NULL, *disp = NULL, *qname = NULL, *from = NULL, *sql = NULL;
    const char *params[1];
    struct buf b = BUF_INIT;
    int first, r;

    memset(&st, 0, sizeof(st));
    app->command = "database create-test";
    r = app_parse(app, argc, argv, opts, create_usage, create_opt, &o, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (first < argc)
        return cli_usage_error(create_usage, "unexpected argument '%s'", argv[first]);
    if (!o.encoding != !o.locale)
        return cli_usage_error(create_usage, "--encoding and --locale go together");
    app_apply_output(app);
    default_connect_timeout();
    if ((r = app_db_target(app, "test", &tt)) != 0) {
        if (r == DRK_ENOTFOUND) {
            drk_err_hint("add [target \"test\"] with conninfo = host=... port=... dbname=NAME "
                         "user=... (NAME is the database to create)");
            r = drk_err_wrap(DRK_ECONFIG, "%s",
                             conf_path(app->conf) ? conf_path(app->conf) : "no config file");
        }
        return r;
    }
    disp = pgconn_display(&tt, NULL);
    name = pgconn_conninfo_value(&tt, "dbname");
    if (!name) {
        r = drk_err_set(DRK_ECONFIG, "[target \"test\"] conninfo '%s' names no database", disp);
        drk_err_hint("add dbname=NAME to it: the scratch database to create");
        goto out;
    }
    if (!strcmp(name, "postgres") || !strcmp(name, "template0") || !strcmp(name, "template1")) {
        r = drk_err_set(DRK_ECONFIG,
                        "[target \"test\"] names database '%s': a scratch database needs a name "
                        "of its own",
                        name);
        goto out;
    }

    /* the source database's encoding and locale */
    r = app_db_source(app, &st, &adb);
    if (r == 0) {
        have_source = true;
        if (o.from)
            from = xstrdup(o.from);
        else if (adb.ndatabases)
            from = xstrdup(adb.databases[0]);
        else
            from = pgconn_dbname(&st);
    } else if (r != DRK_ENOTFOUND) {
        goto out;
    } else if (o.from) {
        r = drk_err_set(DRK_ECONFIG, "--from needs a [source] of type postgresql in the config");
        goto out;
    }
    r = 0;
    if (o.encoding) {
        shape.encoding = xstrdup(o.encoding);
        shape.collate = xstrdup(o.locale);
        shape.ctype = xstrdup(o.locale);
    }
    if (have_source) {
        char *what = source_what(&adb);
        r = db_connect(&st, what, from, &sc);
        free(what);
        if (r && !o.encoding) {
            drk_err_hint("the encoding and locale come from the source database '%s'; give "
                         "--encoding and --locale to do without it",
                         from);
            goto out;
        }
        r = 0;
        if (sc && !o.encoding && (r = read_shape(sc, from, &shape)) != 0)
            goto out;
    }

    /* the target server, through its maintenance database */
    if ((r = db_connect(&tt, "[target \"test\"] conninfo", "postgres", &tc)) != 0) {
        if (!strstr(drk_err_msg(), "does not exist") ||
            (r = db_connect(&tt, "[target \"test\"] conninfo", "template1", &tc)) != 0)
            goto out;
    }
    params[0] = name;
    if ((r = pgconn_queryp(tc, "SELECT 1 FROM pg_database WHERE datname = $1", 1, params, &res)) !=
        0)
        goto out;
    exists = PQntuples(res) > 0;
    PQclear(res);
    res = NULL;
    qname = pgconn_quote_ident(tc, name);
    if (exists && !o.replace) {
        if (app->json)
            out_json(json_pack("{s:s, s:s, s:b, s:b, s:b}", "database", name, "connection", disp,
                               "existed", 1, "created", 0, "replaced", 0));
        else if (!app->quiet)
            printf("database '%s' already exists (%s): left as it is; --replace drops and "
                   "recreates it\n",
                   name, disp);
        goto out;
    }
    if (exists) {
        if (have_source && is_source_database(tc, &tt, sc, &st, &adb, name)) {
            r = drk_err_set(DRK_EUSAGE,
                            "refusing to replace database '%s': it is on the server of the "
                            "[source \"%s\"] and a database it backs up",
                            name, adb.section);
            drk_err_hint("point [target \"test\"] at a scratch database of its own");
            goto out;
        }
        sql = xasprintf("DROP DATABASE %s%s", qname,
                        PQserverVersion(tc) >= 130000 ? " WITH (FORCE)" : "");
        if ((r = pgconn_exec(tc, sql)) != 0) {
            drk_err_wrap(r, "cannot drop database '%s'", name);
            goto out;
        }
        replaced = true;
        free(sql);
    }
    buf_addf(&b, "CREATE DATABASE %s TEMPLATE template0", qname);
    if (shape.encoding) {
        char *e = pgconn_quote_literal(tc, shape.encoding),
             *co = pgconn_quote_literal(tc, shape.collate),
             *ct = pgconn_quote_literal(tc, shape.ctype);
        buf_addf(&b, " ENCODING %s LC_COLLATE %s LC_CTYPE %s", e, co, ct);
        if (shape.icu_locale) {
            char *icu = pgconn_quote_literal(tc, shape.icu_locale);
            buf_addf(&b, " LOCALE_PROVIDER icu ICU_LOCALE %s", icu);
            free(icu);
        }
        free(e);
        free(co);
        free(ct);
    }
    sql = buf_detach(&b, NULL);
    if ((r = pgconn_exec(tc, sql)) != 0) {
        drk_err_wrap(r, "cannot create database '%s'%s", name,
                     replaced ? " (the old one is dropped)" : "");
        goto out;
    }
    PQfinish(tc);
    tc = NULL;
    /* and it can be reached as configured */
    if ((r = db_connect(&tt, "[target \"test\"] conninfo", NULL, &tc)) != 0)
        goto out;
    if (app->json) {
        out_json(json_pack("{s:s, s:s, s:b, s:b, s:b, s:o, s:o, s:o, s:o, s:o}", "database", name,
                           "connection", disp, "existed", exists, "created", 1, "replaced",
                           replaced, "from", jstr(have_source && !o.encoding ? from : NULL),
                           "encoding", jstr(shape.encoding), "collate", jstr(shape.collate),
                           "ctype", jstr(shape.ctype), "icu_locale", jstr(shape.icu_locale)));
    } else if (!app->quiet) {
        printf("%s database '%s' (%s): from template0", replaced ? "replaced" : "created", name,
               disp);
        if (shape.encoding)
            printf(", encoding %s, collation %s, ctype %s%s%s", shape.encoding, shape.collate,
                   shape.ctype, shape.icu_locale ? ", ICU locale " : "",
                   shape.icu_locale ? shape.icu_locale : "");
        if (have_source && !o.encoding)
            printf(" (as database '%s' of the source)", from);
        else if (!shape.encoding)
            printf(" (the server's defaults: no source database in the config)");
        printf("\n");
    }
out:
    buf_release(&b);
    shape_release(&shape);
    PQfinish(tc);
    PQfinish(sc);
    free(name);
    free(disp);
    free(qname);
    free(from);
    free(sql);
    pgconn_target_release(&tt);
    pgconn_target_release(&st);
    return r;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

int
cmd_database(struct app *app, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct app *, int, char **);
    } subs[] = {
        { "test", db_test },
        { "verify", db_verify },
        { "create-test", db_create_test },
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(database_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? cli_usage_error(NULL, "give a subcommand") : 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (!strcmp(subs[i].name, argv[1]))
            return subs[i].fn(app, argc - 1, argv + 1);
    return cli_usage_error(database_usage, "'%s' is not a database subcommand", argv[1]);
}
