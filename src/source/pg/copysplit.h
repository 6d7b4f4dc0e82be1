/*
 * copysplit: one big table's COPY stream loaded over several connections at once.
 *
 * A single COPY keeps one server backend busy parsing and inserting, however many cores the
 * server has. The producer reads the table's file from the repository and cuts it at row
 * ends into blocks (COPY text holds one row per line: a newline inside a value is written
 * as \n, and no PostgreSQL encoding has the byte 0x0A inside a character); helpers on other
 * connections take blocks from a short queue, each into its own COPY of the same table, and
 * the producer sends a block itself whenever the queue is full, so it never waits for help.
 *
 * Each participant's COPY is a transaction of its own. The first failure of any (a damaged
 * blob, a row the server refuses) ends every other COPY of the table with an error and is
 * what all of them return; the caller drops the database being built. The table counts as
 * loaded (prog->tables, prog->rows) when the last participant has finished without one.
 */
#ifndef DRK_SOURCE_PG_COPYSPLIT_H
#define DRK_SOURCE_PG_COPYSPLIT_H

#include <stdatomic.h>
#include <stdbool.h>

#include <jansson.h>
#include <libpq-fe.h>

struct repo;
struct blob_codec;
struct node;
struct pgrestore_progress;
struct copysplit;

/* A split load of `table` (its manifest entry) into relation `into` (already quoted);
 * c only quotes the column names. */
struct copysplit *copysplit_new(PGconn *c, const char *into, const json_t *table,
                                struct pgrestore_progress *prog);
void copysplit_free(struct copysplit *s);
/* The producer: stream `file` over c (and to the helpers). Stops early when *abort is set. */
int copysplit_produce(struct copysplit *s, struct repo *repo, struct blob_codec *codec, PGconn *c,
                      const struct node *file, const _Atomic int *abort);
/* Could a helper still take blocks? */
bool copysplit_open(struct copysplit *s);
/* A helper: load blocks over c until the producer is done and the queue is empty (0 at once
 * when there is nothing left to take). */
int copysplit_help(struct copysplit *s, PGconn *c, const _Atomic int *abort);

#endif
