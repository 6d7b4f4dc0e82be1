/* pgdump: consistent, streaming, per-table backups of PostgreSQL databases. */
#include "source/pg/dump.h"

#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/saver.h"
#include "engine/stream_thread.h"
#include "repo/repo.h"
#include "repo/tree.h"
#include "source/pg/conn.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/sig.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct dumper {
    struct repo *repo;
    struct saver *saver;
    const struct pgdump_opts *o;
    struct pgdump_progress *prog;
    int64_t now;
    char restrict_key[80];      /* "--restrict-key=..." or "" (see choose_restrict_key) */
    _Atomic bool lock_conflict; /* a pg_dump gave up waiting for a table lock (see below) */
};

/* A file node of a dump tree (in t's arena). */
static void
add_file(struct tree *t, const char *name, const struct blob_list *ids, uint64_t size,
         int64_t mtime)
{
    struct node *n = tree_add_node(t);
    n->name = arena_strdup(&t->arena, name);
    n->name_len = strlen(name);
    n->type = NODE_FILE;
    n->mode = 0600;
    n->size = size;
    n->mtime_sec = n->ctime_sec = mtime;
    n->nlink = 1;
    n->content = arena_memdup(&t->arena, ids->v, ids->n * sizeof(*ids->v));
    n->ncontent = (uint32_t)ids->n;
}

static void
add_dir(struct tree *t, const char *name, const struct blob_id *sub, int64_t mtime)
{
    struct node *n = tree_add_node(t);
    n->name = arena_strdup(&t->arena, name);
    n->name_len = strlen(name);
    n->type = NODE_DIR;
    n->mode = 0700;
    n->mtime_sec = n->ctime_sec = mtime;
    n->nlink = 1;
    n->subtree = *sub;
}

static int
store_tree(struct dumper *d, struct tree *t, struct blob_id *id)
{
    struct buf enc = BUF_INIT;
    int r;
    tree_sort(t);
    if ((r = tree_encode(t, &enc)) == 0)
        r = saver_put_blob(d->saver, d->o->ctx, BLOB_TREE, enc.data, enc.len, id, NULL);
    buf_release(&enc);
    return r;
}

/* Run a client program and store what it writes as one file. */
static int
dump_program(struct dumper *d, unsigned ctx, const char *const *argv, struct blob_list *ids,
             uint64_t *size)
{
    struct proc p;
    bool read_failed;
    int r, rf;
    if ((r = proc_start(&p, argv, pgconn_child_env(d->o->target), PROC_STDOUT_PIPE)) != 0)
        return r;
    r = saver_put_fd(d->saver, ctx, p.out_fd, false, argv[0], ids, size, &read_failed);
    if (r)
        proc_kill(&p);
    rf = proc_finish(&p);
    proc_release(&p);
    if (r)
        return r;
    if (rf) /* never keep a dump whose program failed, however much it wrote */
        return rf;
    atomic_fetch_add(&d->prog->bytes, *size);
    return 0;
}

/*
 * Table locks. The backup's own connection locks every table it lists (ACCESS SHARE) right
 * after taking the snapshot and holds the locks to the end, as pg_dump does: no schema change
 * lands between the snapshot and a table's COPY. The pg_dump runs beside it ask for the same
 * locks later; if an ALTER TABLE has queued up behind the backup's lock meanwhile, their
 * requests queue behind the ALTER, which waits for the backup, which waits for them: a
 * deadlock the server cannot see, and the ALTER blocks every query of that table while it
 * lasts. So pg_dump waits at most PG_DUMP_LOCK_WAIT (any wait of theirs is such a queue), the
 * database's attempt fails (its transaction ends, the ALTER runs), and it starts over, up to
 * PG_DUMP_ATTEMPTS times: the new attempt's locks wait for the ALTER to finish.
 */
#define PG_DUMP_LOCK_WAIT "1s"
#define PG_DUMP_ATTEMPTS  3

static int
run_pg_dump(struct dumper *d, unsigned ctx, const char *db, const char *snapshot,
            const char *section, struct blob_list *ids, uint64_t *size)
{
    char *prog = pgconn_program(d->o->target, "pg_dump"), *ci = NULL;
    char snap[128], sec[64];
    const char *argv[14];
    int n = 0, r;

    if ((r = pgconn_conninfo_child(d->o->target, db, &ci)) != 0) {
        free(prog);
        return r;
    }
    snprintf(snap, sizeof(snap), "--snapshot=%s", snapshot);
    snprintf(sec, sizeof(sec), "--section=%s", section);
    argv[n++] = prog;
    argv[n++] = "--no-password";
    if (d->restrict_key[0])
        argv[n++] = d->restrict_key;
    argv[n++] = snap;
    argv[n++] = sec;
    argv[n++] = "--lock-wait-timeout=" PG_DUMP_LOCK_WAIT;
    if (!strcmp(section, "data"))
        argv[n++] = "--exclude-table-data=*.*"; /* tables are copied by drkit itself */
    argv[n++] = "-d";
    argv[n++] = ci;
    argv[n] = NULL;
    r = dump_program(d, ctx, argv, ids, size);
    /* (the statement's text is never translated, the server's message may be) */
    if (r && strstr(drk_err_msg(), "LOCK TABLE"))
        atomic_store(&d->lock_conflict, true);
    if (r)
        drk_err_wrap(r, "pg_dump --section=%s of database '%s'", section, db);
    free(prog);
    free(ci);
    return r;
}

static bool
table_matches(const char *const *pats, size_t n, const char *schema, const char *table)
{
    char *full = xasprintf("%s.%s", schema, table);
    bool hit = false;
    for (size_t i = 0; i < n && !hit; i++)
        hit = fnmatch(pats[i], full, 0) == 0 ||
              (!strchr(pats[i], '.') && fnmatch(pats[i], table, 0) == 0);
    free(full);
    return hit;
}

/* Run one COPY ... TO STDOUT (sql) into a stream of context ctx; counts rows. When *stop
 * becomes set (the other part of a split table failed), it ends early with DRK_EINTR and
 * leaves the connection in the middle of the COPY: its caller closes it. */
static int
copy_query(struct dumper *d, PGconn *c, unsigned ctx, const char *sql, const char *qualified,
           const _Atomic int *stop, struct blob_list *ids, uint64_t *size, uint64_t *rows)
{
    struct saver_stream st;
    struct stream_thread *feeder;
    PGresult *res = PQexec(c, sql);
    uint64_t pending_bytes = 0;
    char *row;
    int n, r = 0, rf;

    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        r = drk_err_set(DRK_EIO, "COPY of %s: PostgreSQL: %s", qualified,
                        PQresultErrorMessage(res));
        PQclear(res);
        return r;
    }
    PQclear(res);
    saver_stream_begin(&st, d->saver, ctx, false, ids);
    if (d->o->seal_pool)
        saver_stream_parallel(&st, d->o->seal_pool);
    /* libpq hands out one row at a time: this thread only collects them, the stream's own
     * thread cuts the chunks (and the pool seals them) */
    feeder = stream_thread_start(&st);
    *rows = 0;
    while ((n = PQgetCopyData(c, &row, 0)) > 0) {
        if (r == 0)
            r = feeder ? stream_thread_write(feeder, row, (size_t)n)
                       : saver_stream_write(&st, row, (size_t)n);
        PQfreemem(row);
        (*rows)++;
        pending_bytes += (uint64_t)n;
        if ((*rows & 1023) == 0) { /* progress in batches: an atomic per row costs */
            atomic_fetch_add(&d->prog->rows, 1024);
            atomic_fetch_add(&d->prog->bytes, pending_bytes);
            pending_bytes = 0;
            if (r == 0 && sig_interrupted())
                r = drk_err_set(DRK_EINTR, "interrupted");
            if (stop && atomic_load(stop)) {
                if (r == 0)
                    r = drk_err_set(DRK_EINTR, "COPY of %s stopped", qualified);
                n = 0; /* no PQgetResult: the COPY is still running */
                break;
            }
        }
    }
    atomic_fetch_add(&d->prog->rows, *rows & 1023);
    atomic_fetch_add(&d->prog->bytes, pending_bytes);
    if (n == -2 && r == 0)
        r = drk_err_set(DRK_EIO, "COPY of %s broke off: %s", qualified, PQerrorMessage(c));
    while (n != 0 && (res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
            r = drk_err_set(DRK_EIO, "COPY of %s failed: %s", qualified, PQresultErrorMessage(res));
        PQclear(res);
    }
    if (feeder)
        rf = stream_thread_finish(feeder, size);
    else
        rf = saver_stream_end(&st, size); /* also waits for its chunks in the pool */
    if (r == 0)
        r = rf;
    return r;
}

/* setval() for every sequence that has been used, as SQL. */
static int
dump_sequences(struct dumper *d, PGconn *c, struct blob_list *ids, uint64_t *size)
{
    struct saver_stream st;
    PGresult *res;
    int r = pgconn_query(
        c,
        "SELECT format('SELECT pg_catalog.setval(%L, %s, true);', "
        "quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename), s.last_value) "
        "FROM pg_sequences s JOIN pg_namespace n ON n.nspname = s.schemaname "
        "JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename "
        "WHERE s.last_value IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE "
        "x.classid = 'pg_class'::regclass AND x.objid = c.oid AND x.deptype = 'e') "
        "ORDER BY 1",
        &res);
    if (r)
        return r;
    saver_stream_begin(&st, d->saver, d->o->ctx, false, ids);
    for (int i = 0; i < PQntuples(res) && r == 0; i++) {
        if ((r = saver_stream_write(&st, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0))) ==
            0)
            r = saver_stream_write(&st, "\n", 1);
    }
    PQclear(res);
    if (r == 0)
        r = saver_stream_end(&st, size);
    return r;
}

static json_t *
jstr_or(const char *s)
{
    return json_string(s && *s ? s : "");
}

/* A job run beside the main work on a thread of its own (when the saver has a context to
 * spare for it), or right here; its failure travels back with its message. */
struct beside {
    int (*fn)(void *arg, unsigned ctx);
    void *arg;
    int r;
    struct drk_error err;
    pthread_t thread;
    bool started;
    unsigned ctx;
    _Atomic int failed; /* set at once, so the main work can stop early */
};

static void *
beside_main(void *arg)
{
    struct beside *b = arg;
    if ((b->r = b->fn(b->arg, b->ctx)) != 0) {
        drk_err_save(&b->err);
        atomic_store(&b->failed, 1);
    }
    return NULL;
}

/* ctx: the context the job may use on its thread; 0 means none (run it now on main_ctx). */
static int
beside_start(struct beside *b, int (*fn)(void *, unsigned), void *arg, unsigned ctx,
             unsigned main_ctx)
{
    b->fn = fn;
    b->arg = arg;
    b->ctx = ctx;
    if (ctx && pthread_create(&b->thread, NULL, beside_main, b) == 0) {
        b->started = true;
        return 0;
    }
    b->ctx = main_ctx;
    beside_main(b);
    return b->r;
}

/* Wait for it; its failure (kept if the caller has none of its own) is the result. */
static int
beside_finish(struct beside *b, int r)
{
    if (b->started) {
        pthread_join(b->thread, NULL);
        b->started = false;
        if (r == 0 && b->r)
            drk_err_restore(&b->err);
    }
    return r ? r : b->r;
}

/*
 * A big table is read by two COPYs at once, each over half of its heap blocks (TID range
 * scans, PostgreSQL 14+), the second on a connection of its own in the same exported
 * snapshot: one server backend formatting rows is what paces a database's backup, and two
 * use the server's second core. Every visible row version has one ctid, so the halves hold
 * every row once; each half comes in heap order, so the table's file (the first half's
 * chunks, then the second's) holds the same bytes as a single COPY, which the restore reads
 * as it always has. Only the chunk cut at the junction differs from a single stream; it moves
 * when the table grows, which costs a chunk or two of deduplication.
 *
 * Locks: the first connection holds the table's lock from the start (see "Table locks"); the
 * second asks for it with NOWAIT. Were an ALTER TABLE queued meanwhile (waiting for the first
 * connection), a waiting second half would wait for it, and the first connection for the
 * second half: a deadlock the server cannot see. Instead the second half steps back and the
 * first connection reads it after its own.
 */
#define COPY_SPLIT_MIN ((uint64_t)64 << 20) /* heap bytes; DRKIT_PG_COPY_SPLIT_MIN for tests */

struct copy_half {
    struct dumper *d;
    const char *db, *snapshot, *sql, *qualified;
    _Atomic int stop;  /* the first half failed: end early */
    bool stepped_back; /* its lock was not free at once: the first connection reads it */
    struct blob_list ids;
    uint64_t size, rows;
    struct beside job;
};

/* LOCK TABLE ... NOWAIT: 0, or 1 when someone holds or waits for a conflicting lock. */
static int
lock_nowait(PGconn *c, const char *qualified)
{
    char *sql = xasprintf("LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT", qualified);
    PGresult *res = PQexec(c, sql);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int r = 0;
    if (state && !strcmp(state, "55P03")) /* lock_not_available */
        r = 1;
    else if (PQresultStatus(res) != PGRES_COMMAND_OK)
        r = drk_err_set(DRK_EIO, "PostgreSQL: %s(in: %s)", PQresultErrorMessage(res), sql);
    PQclear(res);
    free(sql);
    return r;
}

static int
copy_second_half(void *arg, unsigned ctx)
{
    struct copy_half *h = arg;
    char *set = xasprintf("SET TRANSACTION SNAPSHOT '%s'", h->snapshot);
    PGconn *c = NULL;
    int r = 0;
    /* a connection refused (max_connections, a role's limit) or a lock not free: the first
     * connection reads this half after its own */
    if (pgconn_connect(h->d->o->target, h->db, &c) != 0 ||
        pgconn_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") != 0 ||
        pgconn_exec(c, set) != 0 || pgconn_exec(c, "SET synchronize_seqscans = off") != 0 ||
        (r = lock_nowait(c, h->qualified)) != 0) {
        if (r != 1)
            log_debug("the second half of table %s is read by the first connection: %s",
                      h->qualified, drk_err_msg());
        h->stepped_back = true;
        r = 0;
    } else if ((r = pgconn_exec(c, "SET lock_timeout = '1s'")) == 0) {
        /* its indexes and TOAST table are locked as the COPY runs: a wait there would be
         * the same deadlock as the table's, so it ends the backup after a second instead */
        r = copy_query(h->d, c, ctx, h->sql, h->qualified, &h->stop, &h->ids, &h->size, &h->rows);
    }
    if (r)
        drk_err_wrap(r, "the second half of table %s (its own connection)", h->qualified);
    if (c)
        PQfinish(c);
    free(set);
    return r;
}

static uint64_t
copy_split_min(void)
{
    const char *env = getenv("DRKIT_PG_COPY_SPLIT_MIN");
    uint64_t v;
    return env && str_to_u64(env, &v) == 0 ? v : COPY_SPLIT_MIN;
}

/* The table's two halves (blocks: its heap's size in blocks), their ids in one list. */
static int
copy_table_split(struct dumper *d, PGconn *c, const char *db, const char *snapshot,
                 const char *qualified, const char *collist, uint64_t blocks, struct blob_list *ids,
                 uint64_t *size, uint64_t *rows)
{
    unsigned long long half = (unsigned long long)(blocks / 2);
    char *first = xasprintf("COPY (SELECT %s FROM ONLY %s WHERE ctid < '(%llu,0)') TO STDOUT",
                            collist, qualified, half);
    char *second = xasprintf("COPY (SELECT %s FROM ONLY %s WHERE ctid >= '(%llu,0)') TO STDOUT",
                             collist, qualified, half);
    struct copy_half h;
    bool stopped_by_second = false, first_ok = false;
    int r;

    memset(&h, 0, sizeof(h));
    h.d = d;
    h.db = db;
    h.snapshot = snapshot;
    h.sql = second;
    h.qualified = qualified;
    r = beside_start(&h.job, copy_second_half, &h, d->o->side_ctx + 2, d->o->ctx);
    if (r == 0) {
        r = copy_query(d, c, d->o->ctx, first, qualified, &h.job.failed, ids, size, rows);
        stopped_by_second = r == DRK_EINTR && atomic_load(&h.job.failed) && !sig_interrupted();
        first_ok = r == 0;
        if (r)
            atomic_store(&h.stop, 1);
    }
    /* the first failure is the one reported: the second half's when it stopped the first */
    r = beside_finish(&h.job, stopped_by_second ? 0 : r);
    /* a second half that failed after the first half was read may have lost the snapshot
     * with the first connection (whose transaction exports it): then that is the cause */
    if (r && first_ok) {
        struct drk_error second_err;
        drk_err_save(&second_err);
        if (pgconn_exec(c, "SELECT 1") == 0)
            drk_err_restore(&second_err);
        else
            drk_err_wrap(r, "the backup's connection to database '%s' broke", db);
    }
    if (r == 0 && h.stepped_back)
        r = copy_query(d, c, d->o->ctx, second, qualified, NULL, &h.ids, &h.size, &h.rows);
    if (r == 0) {
        for (size_t i = 0; i < h.ids.n; i++)
            blob_list_push(ids, &h.ids.v[i]);
        *size += h.size;
        *rows += h.rows;
    }
    blob_list_free(&h.ids);
    free(first);
    free(second);
    return r;
}

/* pg_dump's three sections of one database, run beside its table COPYs (they read the same
 * exported snapshot, on their own connections and saver context): a database's schema
 * costs no wall time of its own then. */
#define SECTIONS 3
static const char *const section_names[SECTIONS] = { "pre-data", "data", "post-data" };
static const char *const section_files[SECTIONS] = { "pre-data.sql", "data-extra.sql",
                                                     "post-data.sql" };

struct sections {
    struct dumper *d;
    const char *db, *snapshot;
    bool large_objects; /* else data-extra.sql is left empty: one pg_dump run less */
    struct blob_list ids[SECTIONS];
    uint64_t size[SECTIONS];
    struct beside job;
};

static int
dump_sections(void *arg, unsigned ctx)
{
    struct sections *sc = arg;
    int r = 0;
    for (int i = 0; i < SECTIONS && r == 0; i++) {
        if (i == 1 && !sc->large_objects)
            continue; /* the data section holds nothing else drkit lacks (sequences.sql) */
        r = run_pg_dump(sc->d, ctx, sc->db, sc->snapshot, section_names[i], &sc->ids[i],
                        &sc->size[i]);
    }
    return r;
}

/* ACCESS SHARE locks on the listing's tables (n.nspname and c.relname in columns 1 and 2),
 * in statements of up to 500 tables. */
static int
lock_tables(PGconn *c, PGresult *tables)
{
    struct buf sql = BUF_INIT;
    int n = PQntuples(tables), r = 0;
    for (int i = 0; i < n && r == 0; i++) {
        char *qs = pgconn_quote_ident(c, PQgetvalue(tables, i, 1));
        char *qt = pgconn_quote_ident(c, PQgetvalue(tables, i, 2));
        buf_addf(&sql, "%s%s.%s", sql.len ? ", " : "LOCK TABLE ", qs, qt);
        free(qs);
        free(qt);
        if (i % 500 == 499 || i == n - 1) {
            buf_addf(&sql, " IN ACCESS SHARE MODE");
            r = pgconn_exec(c, (const char *)sql.data);
            buf_reset(&sql);
        }
    }
    buf_release(&sql);
    return r;
}

static int
dump_database(struct dumper *d, const char *db, const char *dirname, struct blob_id *tree_out,
              json_t **meta_out)
{
    PGconn *c = NULL;
    PGresult *res = NULL, *cols = NULL, *lo;
    struct tree dbt, tabt;
    struct blob_list ids = { 0 };
    struct blob_id sub;
    char *snapshot = NULL;
    uint64_t size;
    json_t *meta = NULL, *tables = json_array();
    struct sections sc;
    bool split_ok;
    uint64_t split_min;
    int r;

    memset(&sc, 0, sizeof(sc));
    tree_init(&dbt);
    tree_init(&tabt);
    if ((r = pgconn_connect(d->o->target, db, &c)) != 0)
        goto out;
    if ((r = pgconn_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")) != 0)
        goto out;
    /* a table's COPY starts at its first block even while another scan of it runs (a
     * synchronized scan would start midway): the same rows in the same order each day */
    if ((r = pgconn_exec(c, "SET synchronize_seqscans = off")) != 0)
        goto out;
    if ((r = pgconn_query(
             c,
             "SELECT pg_export_snapshot(), pg_encoding_to_char(d.encoding), "
             "d.datcollate, d.datctype, pg_database_size(d.oid), pg_get_userbyid(d.datdba) "
             "FROM pg_database d WHERE d.datname = current_database()",
             &res)) != 0)
        goto out;
    snapshot = xstrdup(PQgetvalue(res, 0, 0));
    meta = json_pack("{s:s, s:s, s:o, s:o, s:o, s:I, s:o}", "name", db, "dir", dirname, "encoding",
                     jstr_or(PQgetvalue(res, 0, 1)), "collate", jstr_or(PQgetvalue(res, 0, 2)),
                     "ctype", jstr_or(PQgetvalue(res, 0, 3)), "size",
                     (json_int_t)strtoll(PQgetvalue(res, 0, 4), NULL, 10), "owner",
                     jstr_or(PQgetvalue(res, 0, 5)));
    PQclear(res);
    res = NULL;

    /* every ordinary table of the database, extensions' own tables aside */
    if ((r = pgconn_query(
             c,
             "SELECT c.oid, n.nspname, c.relname, pg_total_relation_size(c.oid), "
             "pg_relation_size(c.oid), pg_relation_size(c.oid) / "
             "current_setting('block_size')::bigint "
             "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
             "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
             "AND NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = 'pg_class'::regclass "
             "AND x.objid = c.oid AND x.deptype = 'e') ORDER BY n.nspname, c.relname",
             &res)) != 0)
        goto out;
    atomic_fetch_add(&d->prog->tables_total, (uint64_t)PQntuples(res));
    /* held to the end of the transaction (see "Table locks" above) */
    if ((r = lock_tables(c, res)) != 0)
        goto out;

    /* the schema, beside the data */
    if ((r = pgconn_query(c, "SELECT EXISTS (SELECT 1 FROM pg_largeobject_metadata)", &lo)) != 0)
        goto out;
    sc.large_objects = strcmp(PQgetvalue(lo, 0, 0), "f") != 0;
    PQclear(lo);
    sc.d = d;
    sc.db = db;
    sc.snapshot = snapshot;
    if ((r = beside_start(&sc.job, dump_sections, &sc, d->o->side_ctx, d->o->ctx)) != 0)
        goto out;

    /* big tables in two halves: TID range scans exist from PostgreSQL 14 on */
    split_ok = d->o->side_ctx && PQserverVersion(c) >= 140000;
    split_min = copy_split_min();
    /* (a failed schema dump beside it ends the loop: its error is reported below) */
    for (int i = 0; i < PQntuples(res) && r == 0 && !atomic_load(&sc.job.failed); i++) {
        const char *oid = PQgetvalue(res, i, 0), *schema = PQgetvalue(res, i, 1);
        const char *table = PQgetvalue(res, i, 2);
        const char *params[1] = { oid };
        char file[32], *qs, *qt, *qualified;
        struct buf collist = BUF_INIT;
        json_t *colarr = json_array();
        uint64_t rows = 0;
        bool skip = table_matches(d->o->exclude_tables, d->o->nexclude, schema, table) ||
                    (d->o->nonly && !table_matches(d->o->only_tables, d->o->nonly, schema, table));

        atomic_fetch_add(&d->prog->tables, 1);
        if (skip) {
            json_decref(colarr);
            continue;
        }
        if ((r = pgconn_queryp(c,
                               "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND "
                               "attnum > 0 AND NOT attisdropped AND attgenerated = '' "
                               "ORDER BY attnum",
                               1, params, &cols)) != 0) {
            json_decref(colarr);
            break;
        }
        for (int k = 0; k < PQntuples(cols); k++) {
            char *q = pgconn_quote_ident(c, PQgetvalue(cols, k, 0));
            buf_addf(&collist, "%s%s", k ? ", " : "", q);
            free(q);
            json_array_append_new(colarr, json_string(PQgetvalue(cols, k, 0)));
        }
        PQclear(cols);
        cols = NULL;
        qs = pgconn_quote_ident(c, schema);
        qt = pgconn_quote_ident(c, table);
        qualified = xasprintf("%s.%s", qs, qt);
        snprintf(file, sizeof(file), "t%06d.copy", i + 1);
        blob_list_free(&ids);
        if (split_ok && strtoull(PQgetvalue(res, i, 4), NULL, 10) >= split_min) {
            r = copy_table_split(d, c, db, snapshot, qualified, (const char *)collist.data,
                                 strtoull(PQgetvalue(res, i, 5), NULL, 10), &ids, &size, &rows);
        } else {
            /* (a table without columns: "()" would be a syntax error) */
            char *sql = collist.len ? xasprintf("COPY %s (%s) TO STDOUT", qualified,
                                                (const char *)collist.data)
                                    : xasprintf("COPY %s TO STDOUT", qualified);
            r = copy_query(d, c, d->o->ctx, sql, qualified, NULL, &ids, &size, &rows);
            free(sql);
        }
        if (r == 0) {
            add_file(&tabt, file, &ids, size, d->now);
            json_array_append_new(
                tables, json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I}", "schema", schema, "name",
                                  table, "file", file, "columns", colarr, "rows", (json_int_t)rows,
                                  "size", (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
                                  "bytes", (json_int_t)size));
            colarr = NULL;
        } else {
            drk_err_wrap(r, "database '%s'", db);
        }
        json_decref(colarr);
        buf_release(&collist);
        free(qs);
        free(qt);
        free(qualified);
    }
    if (r)
        goto out;
    if ((r = store_tree(d, &tabt, &sub)) != 0)
        goto out;
    add_dir(&dbt, "tables", &sub, d->now);

    /* sequence values (pg_dump's would be excluded with the table data), large objects,
     * then the schema after the data */
    blob_list_free(&ids);
    if ((r = dump_sequences(d, c, &ids, &size)) != 0)
        goto out;
    add_file(&dbt, "sequences.sql", &ids, size, d->now);
    if ((r = beside_finish(&sc.job, r)) != 0)
        goto out;
    for (int i = 0; i < SECTIONS; i++)
        add_file(&dbt, section_files[i], &sc.ids[i], sc.size[i], d->now);
    if ((r = pgconn_exec(c, "COMMIT")) != 0)
        goto out;
    if ((r = store_tree(d, &dbt, tree_out)) != 0)
        goto out;
    json_object_set(meta, "tables", tables);
    *meta_out = meta;
    meta = NULL;
out:
    r = beside_finish(&sc.job, r); /* before the snapshot's transaction ends */
    for (int i = 0; i < SECTIONS; i++)
        blob_list_free(&sc.ids[i]);
    if (res)
        PQclear(res);
    if (cols)
        PQclear(cols);
    if (c)
        PQfinish(c);
    json_decref(meta);
    json_decref(tables);
    free(snapshot);
    blob_list_free(&ids);
    tree_release(&dbt);
    tree_release(&tabt);
    return r;
}

/* dump_database, started over when a schema change collided with its locks (see "Table
 * locks"); the progress counters go back to where the attempt began. */
static int
dump_database_attempts(struct dumper *d, const char *db, const char *dirname,
                       struct blob_id *tree_out, json_t **meta_out)
{
    struct pgdump_progress *p = d->prog;
    /* (bytes is shared with the globals job beside: left to count on) */
    uint64_t tables = atomic_load(&p->tables), total = atomic_load(&p->tables_total);
    uint64_t rows = atomic_load(&p->rows);
    int r;
    for (int attempt = 1;; attempt++) {
        atomic_store(&d->lock_conflict, false);
        r = dump_database(d, db, dirname, tree_out, meta_out);
        if (r == 0 || !atomic_load(&d->lock_conflict) || attempt == PG_DUMP_ATTEMPTS ||
            sig_interrupted())
            return r;
        log_warn("database '%s': a schema change waited for the backup's table locks; starting "
                 "the database over (attempt %d of %d): %s",
                 db, attempt + 1, PG_DUMP_ATTEMPTS, drk_err_msg());
        atomic_store(&p->tables, tables);
        atomic_store(&p->tables_total, total);
        atomic_store(&p->rows, rows);
        usleep(500 * 1000); /* let the waiting change take its lock first */
        if (sig_interrupted())
            return r;
    }
}

/* Roles and tablespaces; without superuser rights, without the role passwords. */
static int
dump_globals(struct dumper *d, unsigned ctx, struct blob_list *ids, uint64_t *size)
{
    char *prog = pgconn_program(d->o->target, "pg_dumpall"), *db = pgconn_dbname(d->o->target);
    char *ci = NULL;
    const char *argv[9];
    int r;

    if ((r = pgconn_conninfo_child(d->o->target, db, &ci)) != 0)
        goto out;
    argv[0] = prog;
    argv[1] = "--globals-only";
    argv[2] = "--no-password";
    argv[3] = "-d";
    argv[4] = ci;
    argv[5] = d->restrict_key[0] ? d->restrict_key : NULL;
    argv[6] = NULL;
    r = dump_program(d, ctx, argv, ids, size);
    if (r && strstr(drk_err_msg(), "permission denied")) {
        log_warn("the backup role cannot read role passwords (not a superuser): roles are backed "
                 "up without their passwords");
        blob_list_free(ids);
        argv[d->restrict_key[0] ? 6 : 5] = "--no-role-passwords";
        argv[d->restrict_key[0] ? 7 : 6] = NULL;
        r = dump_program(d, ctx, argv, ids, size);
    }
    if (r)
        drk_err_wrap(r, "pg_dumpall --globals-only");
out:
    free(prog);
    free(db);
    free(ci);
    return r;
}

/*
 * pg_dump 15.14 and later write "\restrict KEY" with a random KEY at the top of a plain dump
 * (psql then refuses meta-commands smuggled into the dump until "\unrestrict KEY"). A new
 * key every day would make every schema file new every day; a constant one would be known
 * to whoever crafts the database's content. So the key is derived from the repository's
 * secret MAC key: the same every day, unknown without the repository key.
 */
static void
choose_restrict_key(struct dumper *d)
{
    static const char label[] = "drkit pg_dump restrict key v1";
    char *prog = pgconn_program(d->o->target, "pg_dump");
    const char *argv[3] = { prog, "--help", NULL };
    struct buf help = BUF_INIT;
    struct blob_id key;
    struct proc p;
    char chunk[4096], hex[ID_HEX_LEN + 1];
    ssize_t n;

    if (proc_start(&p, argv, NULL, PROC_STDOUT_PIPE) == 0) {
        while ((n = read(p.out_fd, chunk, sizeof(chunk))) > 0)
            buf_add(&help, chunk, (size_t)n);
        proc_finish(&p);
        proc_release(&p);
    }
    buf_addch(&help, '\0');
    if (strstr((const char *)help.data, "--restrict-key")) {
        repo_blob_id(d->repo, BLOB_DATA, label, sizeof(label) - 1, &key);
        id_to_hex(&key, hex);
        snprintf(d->restrict_key, sizeof(d->restrict_key), "--restrict-key=%.32s", hex);
    }
    buf_release(&help);
    free(prog);
}

/* The databases to back up: configured, or every one that takes connections. */
static int
list_databases(struct dumper *d, char ***out, size_t *nout)
{
    PGconn *c = NULL;
    PGresult *res = NULL;
    char **v;
    int r;

    if (d->o->ndatabases) {
        v = xcalloc(d->o->ndatabases, sizeof(*v));
        for (size_t i = 0; i < d->o->ndatabases; i++)
            v[i] = xstrdup(d->o->databases[i]);
        *out = v;
        *nout = d->o->ndatabases;
        return 0;
    }
    if ((r = pgconn_connect(d->o->target, NULL, &c)) != 0)
        return r;
    r = pgconn_query(c,
                     "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                     "ORDER BY datname",
                     &res);
    if (r == 0) {
        *nout = (size_t)PQntuples(res);
        v = xcalloc(*nout ? *nout : 1, sizeof(*v));
        for (size_t i = 0; i < *nout; i++)
            v[i] = xstrdup(PQgetvalue(res, (int)i, 0));
        *out = v;
        PQclear(res);
    }
    PQfinish(c);
    return r;
}

/* pg_dumpall --globals-only, beside the databases' dumps (on the context after side_ctx). */
struct globals {
    struct dumper *d;
    struct blob_list ids;
    uint64_t size;
    struct beside job;
};

static int
dump_globals_job(void *arg, unsigned ctx)
{
    struct globals *g = arg;
    return dump_globals(g->d, ctx, &g->ids, &g->size);
}

int
pgdump_backup(struct repo *repo, struct saver *saver, const struct pgdump_opts *o,
              struct pgdump_progress *prog, struct blob_id *tree, json_t **manifest)
{
    struct dumper d = { repo, saver, o, prog, (int64_t)time(NULL), "", false };
    struct tree root;
    char **dbs = NULL, version[64] = "";
    size_t ndbs = 0;
    json_t *arr = json_array(), *physical = NULL;
    bool logical = !o->methods || (o->methods & PGDUMP_LOGICAL);
    struct globals g;
    PGconn *c = NULL;
    int r;

    memset(&g, 0, sizeof(g));
    tree_init(&root);
    if ((r = pgconn_connect(o->target, NULL, &c)) != 0)
        goto out;
    choose_restrict_key(&d);
    snprintf(version, sizeof(version), "%s", PQparameterStatus(c, "server_version"));
    PQfinish(c);
    if (logical && (r = list_databases(&d, &dbs, &ndbs)) != 0) /* physical: the whole cluster */
        goto out;
    atomic_store(&prog->databases_total, (int)ndbs);
    g.d = &d;
    if (logical && !o->nonly &&
        (r = beside_start(&g.job, dump_globals_job, &g, o->side_ctx ? o->side_ctx + 1 : 0,
                          o->ctx)) != 0)
        goto out;
    for (size_t i = 0; i < ndbs && r == 0; i++) {
        char dir[16];
        struct blob_id sub;
        json_t *meta = NULL;
        snprintf(dir, sizeof(dir), "db%04zu", i + 1);
        if ((r = dump_database_attempts(&d, dbs[i], dir, &sub, &meta)) != 0)
            break;
        add_dir(&root, dir, &sub, d.now);
        json_array_append_new(arr, meta);
        atomic_fetch_add(&prog->databases, 1);
    }
    if ((r = beside_finish(&g.job, r)) != 0)
        goto out;
    if (logical && !o->nonly)
        add_file(&root, "globals.sql", &g.ids, g.size, d.now);
    if (o->methods & PGDUMP_PHYSICAL) {
        struct pgbase_opts po = { o->target, o->spread_checkpoint, o->max_rate, o->ctx,
                                  o->seal_pool };
        struct blob_id sub;
        if ((r = pgbase_backup(saver, &po, &prog->physical, &sub, &physical)) != 0)
            goto out;
        add_dir(&root, "physical", &sub, d.now);
    }
    if ((r = store_tree(&d, &root, tree)) != 0)
        goto out;
    *manifest = json_pack("{s:s, s:b, s:O}", "server_version", version, "globals",
                          logical && !o->nonly, "databases", arr);
    if (physical)
        json_object_set(*manifest, "physical", physical);
out:
    r = beside_finish(&g.job, r);
    blob_list_free(&g.ids);
    for (size_t i = 0; i < ndbs; i++)
        free(dbs[i]);
    free(dbs);
    json_decref(arr);
    json_decref(physical);
    tree_release(&root);
    return r;
}
