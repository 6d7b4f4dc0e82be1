/*
 * copyin: one table's COPY file from a snapshot streamed into a relation with
 * COPY ... FROM STDIN — blob by blob, each checked before it is sent; a damaged blob ends
 * the COPY with an error, so the server keeps none of its rows.
 */
#ifndef DRK_SOURCE_PG_COPYIN_H
#define DRK_SOURCE_PG_COPYIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

struct repo;
struct blob_codec;
struct snapdb;
struct pgrestore_progress;

/* "col1", "col2" of the manifest's table entry, quoted. Caller frees. */
char *pgrestore_column_list(PGconn *c, const json_t *table);
/* "COPY into (columns) FROM STDIN" for the table. Caller frees. */
char *pgrestore_copy_sql(PGconn *c, const char *into, const json_t *table);
/* Start a COPY FROM STDIN; send rows (counted in prog->bytes); end it. abort_it ends it with
 * an error (the server keeps none of its rows) and reports nothing. */
int pgrestore_copy_begin(PGconn *c, const char *sql);
int pgrestore_copy_put(PGconn *c, const void *data, size_t len, struct pgrestore_progress *prog);
int pgrestore_copy_end(PGconn *c, const char *into, bool abort_it);
/* Stream the table's rows into relation `into` (already quoted) over c. */
int pgrestore_copy_in(struct repo *repo, struct blob_codec *codec, PGconn *c, const char *into,
                      const struct snapdb *sdb, const json_t *table,
                      struct pgrestore_progress *prog);

#endif
