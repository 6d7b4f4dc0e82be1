/*
 * snapdb: the database component of a snapshot, read back — which database of the
 * manifest, its tree (pre-data.sql, tables/, data-extra.sql, post-data.sql), and the
 * content of one of its files streamed blob by blob (every blob checked on the way: a
 * damaged one stops the stream with DRK_ECORRUPT before its bytes are passed on).
 */
#ifndef DRK_SOURCE_PG_SNAPDB_H
#define DRK_SOURCE_PG_SNAPDB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "repo/blob.h"
#include "repo/tree.h"

struct repo;
struct snapshot;

struct snapdb {
    struct repo *repo;
    const json_t *meta; /* this database's manifest entry (borrowed from the snapshot) */
    const char *name;
    struct tree dir;      /* dbNNNN/ */
    struct tree tables;   /* dbNNNN/tables/ */
    struct tree root;     /* globals.sql, dbNNNN... */
    uint64_t bytes_total; /* sum of the table files */
};

/* Open database `name` of the snapshot; NULL picks the only one (DRK_EAMBIGUOUS if there are
 * several, naming them). */
int snapdb_open(struct snapdb *d, struct repo *repo, struct blob_codec *c, const struct snapshot *s,
                const char *name);
void snapdb_release(struct snapdb *d);

/* The physical backup's data directory tree (physical/), DRK_ENOTFOUND if the snapshot has
 * none; *meta (borrowed) is its manifest entry. */
int snapdb_physical(struct repo *repo, struct blob_codec *c, const struct snapshot *s,
                    struct blob_id *root, const json_t **meta);

/* The names of the snapshot's databases; *out is a borrowed array of n strings from the
 * manifest. */
size_t snapdb_names(const struct snapshot *s, const char **out, size_t max);

typedef int (*snapdb_sink)(void *arg, const void *data, size_t len);
/* Stream a file node through sink; NULL node (file absent) streams nothing. */
int snapdb_stream(struct repo *repo, struct blob_codec *c, const struct node *n, snapdb_sink sink,
                  void *arg);
/* A whole file into out (for the SQL sections, which are small next to the data). */
int snapdb_read(struct repo *repo, struct blob_codec *c, const struct node *n, struct buf *out);

/* A file of dbNNNN/ ("pre-data.sql") or of the root ("globals.sql"); NULL if absent. */
const struct node *snapdb_file(const struct snapdb *d, const char *name);
const struct node *snapdb_root_file(const struct snapdb *d, const char *name);
/* The table entry of the manifest and its data file. */
const json_t *snapdb_table(const struct snapdb *d, const char *schema, const char *table);
const struct node *snapdb_table_file(const struct snapdb *d, const json_t *table);

#endif
