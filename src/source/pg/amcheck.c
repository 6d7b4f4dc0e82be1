/* pgamcheck: pg_amcheck as a subprocess, its reports kept verbatim. */
#include "source/pg/amcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source/pg/conn.h"
#include "util/buf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/proc.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
pgamcheck_probe(PGconn *c, enum pgamcheck_state *state, char **version)
{
    PGresult *res = NULL;
    int r;

    *version = NULL;
    *state = PGAMCHECK_UNAVAILABLE;
    if ((r = pgconn_query(c,
                          "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'amcheck'), "
                          "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')",
                          &res)) != 0)
        return r;
    if (!PQgetisnull(res, 0, 0))
        *version = xstrdup(PQgetvalue(res, 0, 0));
    else if (!strcmp(PQgetvalue(res, 0, 1), "t"))
        *state = PGAMCHECK_NOT_INSTALLED;
    PQclear(res);
    if (!*version)
        return 0;
    /* the two functions pg_amcheck calls */
    if ((r = pgconn_query(c,
                          "SELECT count(*) FILTER (WHERE NOT has_function_privilege(p.oid, "
                          "'EXECUTE')) FROM pg_proc p JOIN pg_depend d ON d.classid = "
                          "'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e' "
                          "JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'amcheck' "
                          "WHERE p.proname IN ('verify_heapam', 'bt_index_check')",
                          &res)) != 0)
        return r;
    *state = strcmp(PQgetvalue(res, 0, 0), "0") ? PGAMCHECK_NO_PRIVILEGE : PGAMCHECK_READY;
    PQclear(res);
    return 0;
}

/* The relations the reports name: a report starts at column 0 with `KIND "NAME"...:`, its
 * details follow indented. */
static void
collect_findings(struct pgamcheck_result *res)
{
    const char *line = res->output;
    size_t cap = 0;

    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *q1 = memchr(line, '"', len), *q2;
        if (len && line[0] != ' ' && line[0] != '\t' && q1 && q1 > line &&
            (q2 = memchr(q1 + 1, '"', len - (size_t)(q1 + 1 - line))) != NULL) {
            size_t klen = (size_t)(q1 - line), i;
            char *rel = xasprintf("%.*s", (int)(q2 - q1 - 1), q1 + 1);
            while (klen && line[klen - 1] == ' ')
                klen--;
            for (i = 0; i < res->nfindings; i++)
                if (!strcmp(res->findings[i].relation, rel))
                    break;
            if (i < res->nfindings) {
                res->findings[i].reports++;
                free(rel);
            } else {
                if (res->nfindings == cap) {
                    cap = cap ? cap * 2 : 8;
                    res->findings = xrealloc(res->findings, cap * sizeof(*res->findings));
                }
                res->findings[res->nfindings].kind = xasprintf("%.*s", (int)klen, line);
                res->findings[res->nfindings].relation = rel;
                res->findings[res->nfindings].reports = 1;
                res->nfindings++;
            }
        }
        line += len + (eol ? 1 : 0);
    }
}

int
pgamcheck_run(const struct pgamcheck_opts *o, struct pgamcheck_result *res)
{
    char *prog = pgconn_program(o->target, "pg_amcheck"), *ci = NULL, jobs[32];
    const char *argv[12];
    struct buf out = BUF_INIT;
    struct proc p;
    siginfo_t info;
    double t0 = dt_monotonic();
    int n = 0, r, rf;

    memset(res, 0, sizeof(*res));
    res->status = -1;
    if ((r = pgconn_conninfo_child(o->target, o->db, &ci)) != 0) {
        free(prog);
        return r;
    }
    argv[n++] = prog;
    argv[n++] = "--no-password";
    if (o->heapallindexed)
        argv[n++] = "--heapallindexed";
    if (o->install_missing)
        argv[n++] = "--install-missing";
    if (o->jobs > 1) {
        snprintf(jobs, sizeof(jobs), "--jobs=%u", o->jobs);
        argv[n++] = jobs;
    }
    argv[n++] = ci; /* a conninfo in place of the database name */
    argv[n] = NULL;
    if ((r = proc_start(&p, argv, pgconn_child_env(o->target), PROC_STDOUT_PIPE)) != 0)
        goto out;
    for (;;) {
        char chunk[16384];
        ssize_t got = read(p.out_fd, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (out.len < PGAMCHECK_OUTPUT_MAX)
            buf_add(&out, chunk, (size_t)got);
        else
            res->truncated = true;
    }
    /* its exit status, before proc_finish reaps it (WNOWAIT leaves it waitable) */
    memset(&info, 0, sizeof(info));
    while (waitid(P_PID, (id_t)p.pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    rf = proc_finish(&p);
    res->status = info.si_code == CLD_EXITED ? info.si_status : -1;
    res->messages = xstrdup(proc_stderr(&p));
    proc_release(&p);
    res->seconds = dt_monotonic() - t0;
    buf_addch(&out, '\0');
    res->output = buf_detach(&out, NULL);
    collect_findings(res);
    if (rf && res->status != 2)
        r = drk_err_wrap(rf, "database '%s'", o->db); /* pg_amcheck's own words */
    else if (rf)
        drk_err_clear(); /* reports, not a failure to check: the caller reads them */
out:
    buf_release(&out);
    free(prog);
    free(ci);
    return r;
}

void
pgamcheck_result_release(struct pgamcheck_result *res)
{
    for (size_t i = 0; i < res->nfindings; i++) {
        free(res->findings[i].kind);
        free(res->findings[i].relation);
    }
    free(res->findings);
    free(res->output);
    free(res->messages);
    memset(res, 0, sizeof(*res));
}

int
pgamcheck_owner_table(PGconn *c, const char *relation, char **out)
{
    const char *params[1] = { relation };
    PGresult *res = NULL;
    int r;

    *out = NULL;
    r = pgconn_queryp(
        c,
        "WITH r AS (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname || '.' || c.relname = $1 LIMIT 1), "
        "h AS (SELECT coalesce((SELECT i.indrelid FROM pg_index i, r WHERE i.indexrelid = r.oid), "
        "(SELECT oid FROM r)) AS oid), "
        "o AS (SELECT coalesce((SELECT t.oid FROM pg_class t, h WHERE t.reltoastrelid = h.oid), "
        "(SELECT oid FROM h)) AS oid) "
        "SELECT n.nspname || '.' || c.relname FROM o JOIN pg_class c ON c.oid = o.oid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace",
        1, params, &res);
    if (r)
        return r;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        *out = xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}
