/* pgrestore_tables: tables reconciled in place by primary key, in one transaction. */
#include "source/pg/restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "repo/blob.h"
#include "repo/snapshot.h"
#include "source/pg/conn.h"
#include "source/pg/copyin.h"
#include "source/pg/ddl.h"
#include "source/pg/snapdb.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
pgrestore_resolve_tables(const struct snapshot *s, const char *source_db, const char *const *names,
                         size_t n, char ***out)
{
    json_t *dbs = s->db_meta ? json_object_get(s->db_meta, "databases") : NULL, *db = NULL, *e;
    char **v = xcalloc(n ? n : 1, sizeof(*v));
    size_t i;
    int r = 0;

    json_array_foreach(dbs, i, e)
    {
        if (!source_db || !strcmp(json_string_value(json_object_get(e, "name")), source_db)) {
            db = e;
            break;
        }
    }
    if (!db) {
        free(v);
        return drk_err_set(DRK_ENOTFOUND, "snapshot '%s' has no database%s%s", s->name,
                           source_db ? " " : "", source_db ? source_db : "");
    }
    for (size_t k = 0; k < n && r == 0; k++) {
        const char *dot = strchr(names[k], '.');
        const char *hit_schema = NULL, *hit_name = NULL;
        int hits = 0;
        json_array_foreach(json_object_get(db, "tables"), i, e)
        {
            const char *sc = json_string_value(json_object_get(e, "schema"));
            const char *nm = json_string_value(json_object_get(e, "name"));
            bool match =
                dot ? (strlen(sc) == (size_t)(dot - names[k]) &&
                       !strncmp(sc, names[k], (size_t)(dot - names[k])) && !strcmp(nm, dot + 1))
                    : !strcmp(nm, names[k]);
            if (match) {
                hits++;
                hit_schema = sc;
                hit_name = nm;
            }
        }
        if (hits == 0)
            r = drk_err_set(DRK_ENOTFOUND,
                            "table '%s' is not in the backup of database '%s' (see 'drkit backup "
                            "show %s' for its tables)",
                            names[k], json_string_value(json_object_get(db, "name")), s->name);
        else if (hits > 1)
            r = drk_err_set(DRK_EAMBIGUOUS, "table '%s' is in several schemas: write schema.%s",
                            names[k], names[k]);
        else
            v[k] = xasprintf("%s.%s", hit_schema, hit_name);
        for (size_t m = 0; r == 0 && m < k; m++)
            if (!strcmp(v[m], v[k]))
                r = drk_err_set(DRK_EUSAGE, "table %s is named twice", v[k]);
    }
    if (r) {
        for (size_t k = 0; k < n; k++)
            free(v[k]);
        free(v);
        return r;
    }
    *out = v;
    return 0;
}

/* One table being restored. */
struct job {
    const json_t *meta;
    const char *schema, *name;
    char *qualified; /* quoted schema.name */
    char *dump_name; /* schema.name as pg_dump writes it (quoted only where needed) */
    char *temp;      /* the temporary table holding the backup's rows */
    char *cols;      /* quoted column list */
    char *oid;       /* in the destination, "" if created */
    char **pk;       /* quoted primary key columns */
    size_t npk;
    size_t order; /* parents before children */
    struct pgrestore_table_result *res;
};

static int
query1(PGconn *c, const char *sql, int n, const char *const *params, char **out)
{
    PGresult *res;
    int r = pgconn_queryp(c, sql, n, params, &res);
    if (r)
        return r;
    *out = PQntuples(res) && !PQgetisnull(res, 0, 0) ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
    PQclear(res);
    return 0;
}

static int
count_of(PGconn *c, const char *sql, uint64_t *out)
{
    char *v = NULL;
    int r = query1(c, sql, 0, NULL, &v);
    if (r == 0)
        *out = v ? strtoull(v, NULL, 10) : 0;
    free(v);
    return r;
}

static int
find_oid(PGconn *c, struct job *j)
{
    const char *params[2] = { j->schema, j->name };
    char *oid = NULL;
    int r = query1(c,
                   "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                   2, params, &oid);
    j->oid = oid ? oid : xstrdup("");
    return r;
}

/* Every column of the backup must exist in the destination table. */
static int
check_columns(PGconn *c, const struct job *j, struct pgrestore_tables_result *res)
{
    const char *params[1] = { j->oid };
    PGresult *cols;
    size_t i;
    json_t *col;
    int r = pgconn_queryp(c,
                          "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND "
                          "attnum > 0 AND NOT attisdropped AND attgenerated = ''",
                          1, params, &cols);
    if (r)
        return r;
    json_array_foreach(json_object_get(j->meta, "columns"), i, col)
    {
        bool found = false;
        for (int k = 0; k < PQntuples(cols) && !found; k++)
            found = !strcmp(PQgetvalue(cols, k, 0), json_string_value(col));
        if (!found) {
            r = drk_err_set(DRK_EUSAGE,
                            "table %s.%s in the destination has no column '%s' that the backup "
                            "has: its definition changed since; restore it into a scratch "
                            "database (--target) and move the rows by hand",
                            j->schema, j->name, json_string_value(col));
            break;
        }
    }
    if (r == 0 && (size_t)PQntuples(cols) > json_array_size(json_object_get(j->meta, "columns")))
        vec_push(&res->warnings,
                 xasprintf("%s.%s has columns the backup does not: they keep their values "
                           "(new rows get their defaults)",
                           j->schema, j->name));
    PQclear(cols);
    return r;
}

static int
primary_key(PGconn *c, struct job *j)
{
    const char *params[1] = { j->oid };
    PGresult *res;
    int r = pgconn_queryp(c,
                          "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                          "a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                          "WHERE i.indrelid = $1::oid AND i.indisprimary "
                          "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                          1, params, &res);
    if (r)
        return r;
    j->npk = (size_t)PQntuples(res);
    j->pk = xcalloc(j->npk ? j->npk : 1, sizeof(*j->pk));
    for (size_t i = 0; i < j->npk; i++)
        j->pk[i] = pgconn_quote_ident(c, PQgetvalue(res, (int)i, 0));
    PQclear(res);
    if (j->npk == 0)
        return drk_err_set(DRK_EUSAGE,
                           "table %s.%s has no primary key, so its rows cannot be matched with "
                           "the backup's: restore the database into a scratch database "
                           "(--database-only --target=NAME) and move the rows by hand",
                           j->schema, j->name);
    return 0;
}

/* "t.a = x.a AND t.b = x.b" */
static void
pk_match(struct buf *b, const struct job *j, const char *l, const char *r)
{
    for (size_t i = 0; i < j->npk; i++)
        buf_addf(b, "%s%s.%s = %s.%s", i ? " AND " : "", l, j->pk[i], r, j->pk[i]);
}

static bool
is_pk(const struct job *j, const char *quoted)
{
    for (size_t i = 0; i < j->npk; i++)
        if (!strcmp(j->pk[i], quoted))
            return true;
    return false;
}

/* Rows of the table the backup lacks, minus those another table's foreign key still
 * points at (their parents stay: nothing is deleted from under an order). */
static int
delete_rows(PGconn *c, struct job *j, bool dry_run)
{
    const char *params[1] = { j->oid };
    struct buf sql = BUF_INIT;
    PGresult *fks;
    int r;
    (void)dry_run;

    r = pgconn_queryp(c,
                      "SELECT c.conrelid::regclass::text, "
                      "(SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM "
                      " unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON "
                      " a.attrelid = c.conrelid AND a.attnum = k.n), "
                      "(SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.i) FROM "
                      " unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON "
                      " a.attrelid = c.confrelid AND a.attnum = k.n) "
                      "FROM pg_constraint c WHERE c.confrelid = $1::oid AND c.contype = 'f'",
                      1, params, &fks);
    if (r)
        return r;
    buf_addf(&sql, "WITH d AS (DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE ",
             j->qualified, j->temp);
    pk_match(&sql, j, "t", "x");
    buf_addf(&sql, ")");
    for (int i = 0; i < PQntuples(fks); i++)
        buf_addf(&sql, " AND NOT EXISTS (SELECT 1 FROM %s f WHERE (%s) = (%s))",
                 PQgetvalue(fks, i, 0), PQgetvalue(fks, i, 1), PQgetvalue(fks, i, 2));
    buf_addf(&sql, " RETURNING 1) SELECT count(*) FROM d");
    buf_addch(&sql, '\0');
    PQclear(fks);
    r = count_of(c, (const char *)sql.data, &j->res->deleted);
    buf_release(&sql);
    return r;
}

static int
count_extra(PGconn *c, struct job *j)
{
    struct buf sql = BUF_INIT;
    int r;
    buf_addf(&sql, "SELECT count(*) FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s x WHERE ",
             j->qualified, j->temp);
    pk_match(&sql, j, "t", "x");
    buf_addf(&sql, ")");
    buf_addch(&sql, '\0');
    r = count_of(c, (const char *)sql.data, &j->res->kept);
    buf_release(&sql);
    return r;
}

static int
update_rows(PGconn *c, struct job *j)
{
    struct buf sql = BUF_INIT, set_l = BUF_INIT, set_r = BUF_INIT, cmp_l = BUF_INIT,
               cmp_r = BUF_INIT;
    json_t *col;
    size_t k;
    int r = 0;

    json_array_foreach(json_object_get(j->meta, "columns"), k, col)
    {
        char *p = pgconn_quote_ident(c, json_string_value(col));
        if (!is_pk(j, p)) {
            buf_addf(&set_l, "%s%s", set_l.len ? ", " : "", p);
            buf_addf(&set_r, "%sx.%s", set_r.len ? ", " : "", p);
            /* as text: json and other types without an equality operator compare too */
            buf_addf(&cmp_l, "%st.%s::text", cmp_l.len ? ", " : "", p);
            buf_addf(&cmp_r, "%sx.%s::text", cmp_r.len ? ", " : "", p);
        }
        free(p);
    }
    if (set_l.len) {
        buf_addch(&set_l, '\0');
        buf_addch(&set_r, '\0');
        buf_addch(&cmp_l, '\0');
        buf_addch(&cmp_r, '\0');
        buf_addf(&sql, "WITH u AS (UPDATE %s t SET (%s) = ROW(%s) FROM %s x WHERE ", j->qualified,
                 (const char *)set_l.data, (const char *)set_r.data, j->temp);
        pk_match(&sql, j, "t", "x");
        buf_addf(&sql, " AND ROW(%s) IS DISTINCT FROM ROW(%s) RETURNING 1) SELECT count(*) FROM u",
                 (const char *)cmp_l.data, (const char *)cmp_r.data);
        buf_addch(&sql, '\0');
        r = count_of(c, (const char *)sql.data, &j->res->updated);
    }
    buf_release(&sql);
    buf_release(&set_l);
    buf_release(&set_r);
    buf_release(&cmp_l);
    buf_release(&cmp_r);
    return r;
}

static int
insert_rows(PGconn *c, struct job *j)
{
    struct buf sql = BUF_INIT;
    int r;
    buf_addf(&sql, "WITH i AS (INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s x",
             j->qualified, j->cols, j->cols, j->temp);
    if (j->npk) {
        buf_addf(&sql, " WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE ", j->qualified);
        pk_match(&sql, j, "t", "x");
        buf_addf(&sql, ")");
    }
    buf_addf(&sql, " RETURNING 1) SELECT count(*) FROM i");
    buf_addch(&sql, '\0');
    r = count_of(c, (const char *)sql.data, &j->res->inserted);
    buf_release(&sql);
    return r;
}

/* Sequences owned by the table's columns never fall behind the restored keys. */
static int
advance_sequences(PGconn *c, struct job *j)
{
    const char *params[1] = { j->oid };
    PGresult *res = NULL;
    int r = pgconn_queryp(c,
                          "SELECT s.oid::regclass::text, quote_ident(a.attname) FROM pg_depend d "
                          "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                          "JOIN pg_attribute a ON a.attrelid = d.refobjid AND "
                          "a.attnum = d.refobjsubid WHERE d.classid = 'pg_class'::regclass AND "
                          "d.refobjid = $1::oid AND d.deptype IN ('a', 'i')",
                          1, params, &res);
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        char *lit = PQescapeLiteral(c, PQgetvalue(res, i, 0), strlen(PQgetvalue(res, i, 0)));
        char *sql = xasprintf("SELECT setval(%s, m) FROM (SELECT max(%s)::bigint m FROM %s) q, "
                              "%s s WHERE m IS NOT NULL AND (m > s.last_value OR "
                              "(m = s.last_value AND NOT s.is_called))",
                              lit, PQgetvalue(res, i, 1), j->qualified, PQgetvalue(res, i, 0));
        r = pgconn_exec(c, sql);
        PQfreemem(lit);
        free(sql);
    }
    if (res)
        PQclear(res);
    return r;
}

/* Apply definitions, each in a savepoint; with tolerate, an error is a warning. */
static int
apply_entries(PGconn *c, const struct ddl_entry **v, size_t n, bool tolerate,
              struct pgrestore_tables_result *res)
{
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (!*v[i]->sql)
            continue;
        if ((r = pgconn_exec(c, "SAVEPOINT drkit_ddl")) != 0)
            break;
        if (pgconn_exec(c, v[i]->sql) == 0) {
            r = pgconn_exec(c, "RELEASE SAVEPOINT drkit_ddl");
            continue;
        }
        if (!tolerate)
            return drk_err_wrap(DRK_EIO, "creating %s %s", v[i]->type, v[i]->name);
        if (!strstr(drk_err_msg(), "already exists"))
            vec_push(&res->warnings,
                     xasprintf("%s %s not restored: %s", v[i]->type, v[i]->name, drk_err_msg()));
        r = pgconn_exec(c, "ROLLBACK TO SAVEPOINT drkit_ddl");
    }
    return r;
}

static int
load_ddl(struct repo *repo, struct blob_codec *codec, const struct snapdb *sdb, const char *file,
         struct ddl *out)
{
    struct buf text = BUF_INIT;
    int r = snapdb_read(repo, codec, snapdb_file(sdb, file), &text);
    if (r == 0)
        ddl_parse(out, (const char *)text.data, text.len);
    buf_release(&text);
    return r;
}

/* Parents (referenced tables) before children, among the tables being restored. */
static int
order_jobs(PGconn *c, struct job *jobs, size_t n)
{
    PGresult *res;
    int r = pgconn_query(c,
                         "SELECT conrelid::text, confrelid::text FROM pg_constraint "
                         "WHERE contype = 'f' AND conrelid <> confrelid",
                         &res);
    if (r)
        return r;
    for (size_t i = 0; i < n; i++)
        jobs[i].order = 0;
    /* longest chain of parents: at most n rounds */
    for (size_t round = 0; round < n; round++) {
        for (int k = 0; k < PQntuples(res); k++) {
            struct job *child = NULL, *parent = NULL;
            for (size_t i = 0; i < n; i++) {
                if (!strcmp(jobs[i].oid, PQgetvalue(res, k, 0)))
                    child = &jobs[i];
                if (!strcmp(jobs[i].oid, PQgetvalue(res, k, 1)))
                    parent = &jobs[i];
            }
            if (child && parent && child->order <= parent->order)
                child->order = parent->order + 1;
        }
    }
    PQclear(res);
    return 0;
}

static int
by_order(const void *a, const void *b)
{
    const struct job *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int
set_triggers(PGconn *c, struct job *jobs, size_t n, bool enable)
{
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        char *sql;
        if (!*jobs[i].oid)
            continue;
        sql = xasprintf("ALTER TABLE %s %s TRIGGER USER", jobs[i].qualified,
                        enable ? "ENABLE" : "DISABLE");
        r = pgconn_exec(c, sql);
        free(sql);
    }
    return r;
}

int
pgrestore_tables(struct repo *repo, const struct snapshot *s, const struct pgrestore_table_opts *o,
                 struct pgrestore_progress *prog, struct pgrestore_tables_result *res)
{
    struct blob_codec codec;
    struct snapdb sdb;
    struct ddl pre, post;
    struct job *jobs = NULL;
    char **names = NULL;
    PGconn *c = NULL;
    bool have_ddl = false, in_tx = false;
    size_t i;
    int r;

    blob_codec_init(&codec);
    memset(&pre, 0, sizeof(pre));
    memset(&post, 0, sizeof(post));
    if ((r = snapdb_open(&sdb, repo, &codec, s, o->source_db)) != 0)
        goto out;
    snprintf(res->source_db, sizeof(res->source_db), "%s", sdb.name);
    snprintf(res->dest_db, sizeof(res->dest_db), "%s", o->dest_db ? o->dest_db : sdb.name);
    if ((r = pgrestore_resolve_tables(s, sdb.name, o->tables, o->ntables, &names)) != 0)
        goto out;
    if ((r = pgconn_connect(o->server, res->dest_db, &c)) != 0)
        goto out;
    vec_reserve(&res->tables, o->ntables);
    jobs = xcalloc(o->ntables ? o->ntables : 1, sizeof(*jobs));
    atomic_store(&prog->tables_total, o->ntables);
    for (i = 0; i < o->ntables; i++) {
        struct job *j = &jobs[i];
        char *dot = strchr(names[i], '.'), *qs, *qt;
        struct pgrestore_table_result tr;
        *dot = '\0';
        memset(&tr, 0, sizeof(tr));
        tr.schema = xstrdup(names[i]);
        tr.name = xstrdup(dot + 1);
        vec_push(&res->tables, tr);
        j->schema = tr.schema;
        j->name = tr.name;
        j->meta = snapdb_table(&sdb, j->schema, j->name);
        atomic_fetch_add(&prog->bytes_total, snapdb_table_file(&sdb, j->meta)
                                                 ? snapdb_table_file(&sdb, j->meta)->size
                                                 : 0);
        qs = pgconn_quote_ident(c, j->schema);
        qt = pgconn_quote_ident(c, j->name);
        j->qualified = xasprintf("%s.%s", qs, qt);
        j->temp = xasprintf("pg_temp.drkit_rows_%zu", i);
        j->cols = pgrestore_column_list(c, j->meta);
        free(qs);
        free(qt);
        {
            const char *params[2] = { j->schema, j->name };
            if ((r = query1(c, "SELECT quote_ident($1) || '.' || quote_ident($2)", 2, params,
                            &j->dump_name)) != 0)
                goto out;
        }
        if ((r = find_oid(c, j)) != 0)
            goto out;
        if (*j->oid && ((r = check_columns(c, j, res)) != 0 || (r = primary_key(c, j)) != 0))
            goto out;
    }
    for (i = 0; i < o->ntables; i++)
        jobs[i].res = &res->tables.v[i];

    if ((r = pgconn_exec(c, "BEGIN")) != 0)
        goto out;
    in_tx = true;
    /* tables the destination lacks: their definitions from the backup first */
    for (i = 0; i < o->ntables; i++) {
        const struct ddl_entry **ents;
        size_t n;
        if (*jobs[i].oid)
            continue;
        if (!have_ddl) {
            if ((r = load_ddl(repo, &codec, &sdb, "pre-data.sql", &pre)) != 0 ||
                (r = load_ddl(repo, &codec, &sdb, "post-data.sql", &post)) != 0)
                goto out;
            have_ddl = true;
            if ((r = pgconn_exec(c, pre.preamble)) != 0)
                goto out;
        }
        ents = xcalloc(pre.n + 1, sizeof(*ents));
        n = ddl_table_entries(&pre, jobs[i].schema, jobs[i].name, jobs[i].dump_name, false, ents,
                              pre.n);
        r = apply_entries(c, ents, n, false, res);
        free(ents);
        if (r)
            goto out;
        jobs[i].res->created = true;
        free(jobs[i].oid);
        jobs[i].oid = NULL;
        if ((r = find_oid(c, &jobs[i])) != 0)
            goto out;
    }
    /* the backup's rows, each table into a temporary table (created ones: straight in) */
    for (i = 0; i < o->ntables; i++) {
        struct job *j = &jobs[i];
        char *sql;
        if (j->res->created) {
            if ((r = pgrestore_copy_in(repo, &codec, c, j->qualified, &sdb, j->meta, prog)) != 0)
                goto out;
            j->res->inserted = (uint64_t)json_integer_value(json_object_get(j->meta, "rows"));
            continue;
        }
        sql = xasprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
                        j->temp + strlen("pg_temp."), j->cols, j->qualified);
        r = pgconn_exec(c, sql);
        free(sql);
        if (r || (r = pgrestore_copy_in(repo, &codec, c, j->temp, &sdb, j->meta, prog)) != 0)
            goto out;
        sql = xasprintf("ANALYZE %s", j->temp);
        r = pgconn_exec(c, sql);
        free(sql);
        if (r)
            goto out;
    }
    if ((r = order_jobs(c, jobs, o->ntables)) != 0)
        goto out;
    /* res->tables keeps the user's order: the jobs point into it */
    qsort(jobs, o->ntables, sizeof(*jobs), by_order);
    if ((r = set_triggers(c, jobs, o->ntables, false)) != 0)
        goto out;
    /* deletes children first, then updates and inserts parents first */
    for (i = o->ntables; i-- > 0;) {
        if (jobs[i].res->created)
            continue;
        if (!o->no_delete && (r = delete_rows(c, &jobs[i], o->dry_run)) != 0)
            goto out;
        if ((r = count_extra(c, &jobs[i])) != 0)
            goto out;
    }
    for (i = 0; i < o->ntables; i++) {
        struct job *j = &jobs[i];
        uint64_t rows = (uint64_t)json_integer_value(json_object_get(j->meta, "rows"));
        if (j->res->created)
            continue;
        if ((r = update_rows(c, j)) != 0 || (r = insert_rows(c, j)) != 0)
            goto out;
        j->res->unchanged = rows - j->res->inserted - j->res->updated;
    }
    if ((r = set_triggers(c, jobs, o->ntables, true)) != 0)
        goto out;
    /* the created tables' indexes, constraints, triggers; foreign keys into them too */
    for (i = 0; i < o->ntables; i++) {
        const struct ddl_entry **ents;
        size_t n;
        if (!jobs[i].res->created)
            continue;
        ents = xcalloc(post.n + 1, sizeof(*ents));
        n = ddl_table_entries(&post, jobs[i].schema, jobs[i].name, jobs[i].dump_name, true, ents,
                              post.n);
        r = apply_entries(c, ents, n, true, res);
        free(ents);
        if (r)
            goto out;
    }
    /* setval is not transactional: a dry run must not touch sequences */
    for (i = 0; i < o->ntables && !o->dry_run; i++)
        if ((r = advance_sequences(c, &jobs[i])) != 0)
            goto out;
    r = pgconn_exec(c, o->dry_run ? "ROLLBACK" : "COMMIT");
    in_tx = false;
out:
    if (in_tx && c)
        PQclear(PQexec(c, "ROLLBACK"));
    if (c)
        PQfinish(c);
    for (i = 0; jobs && i < o->ntables; i++) {
        free(jobs[i].qualified);
        free(jobs[i].dump_name);
        free(jobs[i].temp);
        free(jobs[i].cols);
        free(jobs[i].oid);
        for (size_t k = 0; k < jobs[i].npk; k++)
            free(jobs[i].pk[k]);
        free(jobs[i].pk);
    }
    free(jobs);
    for (i = 0; names && i < o->ntables; i++)
        free(names[i]);
    free(names);
    ddl_release(&pre);
    ddl_release(&post);
    snapdb_release(&sdb);
    blob_codec_release(&codec);
    return r;
}

void
pgrestore_tables_result_release(struct pgrestore_tables_result *res)
{
    for (size_t i = 0; i < res->tables.n; i++) {
        free(res->tables.v[i].schema);
        free(res->tables.v[i].name);
    }
    vec_free(&res->tables);
    for (size_t i = 0; i < res->warnings.n; i++)
        free(res->warnings.v[i]);
    vec_free(&res->warnings);
}
