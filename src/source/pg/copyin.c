/* copyin: a table's rows from the repository into PostgreSQL by COPY FROM STDIN. */
#include "source/pg/copyin.h"

#include <string.h>

#include "source/pg/conn.h"
#include "source/pg/restore.h"
#include "source/pg/snapdb.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct copy_sink {
    PGconn *c;
    struct pgrestore_progress *prog;
};

static int
put_copy(void *arg, const void *data, size_t len)
{
    struct copy_sink *s = arg;
    return pgrestore_copy_put(s->c, data, len, s->prog);
}

char *
pgrestore_column_list(PGconn *c, const json_t *table)
{
    struct buf b = BUF_INIT;
    size_t i;
    json_t *col;
    json_array_foreach(json_object_get(table, "columns"), i, col)
    {
        char *q = pgconn_quote_ident(c, json_string_value(col));
        buf_addf(&b, "%s%s", i ? ", " : "", q);
        free(q);
    }
    buf_addch(&b, '\0');
    return buf_detach(&b, NULL);
}

char *
pgrestore_copy_sql(PGconn *c, const char *into, const json_t *table)
{
    char *cols = pgrestore_column_list(c, table);
    char *sql = xasprintf("COPY %s (%s) FROM STDIN", into, cols);
    free(cols);
    return sql;
}

int
pgrestore_copy_begin(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    int r = 0;
    if (PQresultStatus(res) != PGRES_COPY_IN)
        r = drk_err_set(DRK_EIO, "PostgreSQL: %s(in: %.100s)", PQresultErrorMessage(res), sql);
    PQclear(res);
    return r;
}

int
pgrestore_copy_put(PGconn *c, const void *data, size_t len, struct pgrestore_progress *prog)
{
    if (PQputCopyData(c, data, (int)len) != 1)
        return drk_err_set(DRK_EIO, "COPY: %s", PQerrorMessage(c));
    atomic_fetch_add(&prog->bytes, len);
    return 0;
}

int
pgrestore_copy_end(PGconn *c, const char *into, bool abort_it)
{
    PGresult *res;
    int r = 0;
    /* aborted: end the COPY with an error, so the server discards every row of it */
    if (PQputCopyEnd(c, abort_it ? "drkit: restore aborted" : NULL) != 1 && !abort_it)
        r = drk_err_set(DRK_EIO, "COPY into %s: %s", into, PQerrorMessage(c));
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0 && !abort_it)
            r = drk_err_set(DRK_EIO, "COPY into %s failed: %s", into, PQresultErrorMessage(res));
        PQclear(res);
    }
    return r;
}

int
pgrestore_copy_in(struct repo *repo, struct blob_codec *codec, PGconn *c, const char *into,
                  const struct snapdb *sdb, const json_t *table, struct pgrestore_progress *prog)
{
    const struct node *file = snapdb_table_file(sdb, table);
    char *sql = pgrestore_copy_sql(c, into, table);
    struct copy_sink sink = { c, prog };
    int r, re;

    if (!file) {
        r = drk_err_set(DRK_ECORRUPT, "the snapshot lacks the data file of table %s.%s",
                        json_string_value(json_object_get(table, "schema")),
                        json_string_value(json_object_get(table, "name")));
        goto out;
    }
    if ((r = pgrestore_copy_begin(c, sql)) != 0)
        goto out;
    r = snapdb_stream(repo, codec, file, put_copy, &sink);
    re = pgrestore_copy_end(c, into, r != 0);
    if (r == 0)
        r = re;
    if (r == 0) {
        atomic_fetch_add(&prog->rows, (uint64_t)json_integer_value(json_object_get(table, "rows")));
        atomic_fetch_add(&prog->tables, 1);
    }
out:
    free(sql);
    return r;
}
