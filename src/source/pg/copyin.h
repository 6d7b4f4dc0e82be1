/*
 * copyin: one table's COPY file from a snapshot streamed into a relation with
 * COPY ... FROM STDIN — blob by blob, each checked before it is sent; a damaged blob ends
 * the COPY with an error, so the server keeps none of its rows.
 */
#ifndef DRK_SOURCE_PG_COPYIN_H
#define DRK_SOURCE_PG_COPYIN_H

#include <jansson.h>
#include <libpq-fe.h>

struct repo;
struct blob_codec;
struct snapdb;
struct pgrestore_progress;

/* "col1", "col2" of the manifest's table entry, quoted. Caller frees. */
char *pgrestore_column_list(PGconn *c, const json_t *table);
/* Stream the table's rows into relation `into` (already quoted) over c. */
int pgrestore_copy_in(struct repo *repo, struct blob_codec *codec, PGconn *c, const char *into,
                      const struct snapdb *sdb, const json_t *table,
                      struct pgrestore_progress *prog);

#endif
