/*
 * pgconn: reaching a PostgreSQL server — a configured connection (libpq conninfo or URI,
 * optional passfile), a database override, libpq connections with messages an operator can
 * act on, and the client programs (pg_dump, pg_dumpall, psql, pg_amcheck) of the right
 * version. Prefix pgconn_: libpq owns pg_* and PQ*.
 */
#ifndef DRK_SOURCE_PG_CONN_H
#define DRK_SOURCE_PG_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct pgconn_target {
    char *conninfo;     /* as configured */
    char *passfile;     /* or NULL */
    char *bindir;       /* directory of the client programs */
    char *env_passfile; /* "PGPASSFILE=..." for children, or NULL */
    char *env_password; /* "PGPASSWORD=..." when the conninfo holds a password, or NULL */
};

/* bindir NULL: the newest /usr/lib/postgresql/N/bin, else the PATH. */
int pgconn_target_init(struct pgconn_target *t, const char *conninfo, const char *passfile,
                       const char *bindir);
void pgconn_target_release(struct pgconn_target *t);
/* A keyword=value conninfo for database db (NULL: the configured one). Caller frees. */
int pgconn_conninfo(const struct pgconn_target *t, const char *db, char **out);
/* The same for a client program's command line: without the password, which goes to the
 * child through its environment (pgconn_child_env) instead of the process list. */
int pgconn_conninfo_child(const struct pgconn_target *t, const char *db, char **out);
/* The database the conninfo names ("postgres" if none). Caller frees. */
char *pgconn_dbname(const struct pgconn_target *t);
/* The dbname the conninfo itself gives, or NULL. Caller frees. */
char *pgconn_explicit_dbname(const struct pgconn_target *t);
int pgconn_connect(const struct pgconn_target *t, const char *db, PGconn **out);
/* Run a command (DRK_EIO with the server's message on failure). */
int pgconn_exec(PGconn *c, const char *sql);
/* Run a query returning rows; *out must be PQclear'ed. */
int pgconn_query(PGconn *c, const char *sql, PGresult **out);
/* Same with parameters ($1, $2, ... as text). */
int pgconn_queryp(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out);
/* "bindir/name", caller frees. */
char *pgconn_program(const struct pgconn_target *t, const char *name);
/* Environment for client programs: NULL-terminated, static storage of t. */
const char *const *pgconn_child_env(const struct pgconn_target *t);
/* A quoted identifier: "schema"."table" style quoting of one name. Caller frees. */
char *pgconn_quote_ident(PGconn *c, const char *name);

/* The value of one keyword of the configured conninfo ("dbname", "host", ...), or NULL when
 * it names none (libpq's defaults and PG* variables are not consulted). Caller frees. */
char *pgconn_conninfo_value(const struct pgconn_target *t, const char *keyword);
/* The connection for messages: pgconn_conninfo(t, db) without any password. Caller frees. */
char *pgconn_display(const struct pgconn_target *t, const char *db);
/* Like pgconn_queryp; when the server refuses the query, sqlstate (6 bytes) receives its
 * SQLSTATE ("" if none) besides the message. */
int pgconn_queryp_state(PGconn *c, const char *sql, int n, const char *const *params,
                        PGresult **out, char sqlstate[6]);
/* Whether a SQLSTATE says the stored data is damaged (XX001 data_corrupted, XX002
 * index_corrupted). */
bool pgconn_sqlstate_corrupt(const char *sqlstate);
/* A quoted string literal ('it''s'). Caller frees. */
char *pgconn_quote_literal(PGconn *c, const char *s);

#endif
