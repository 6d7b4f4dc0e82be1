/*
 * pgbase: a physical base backup of a whole PostgreSQL cluster, with the WAL it needs.
 *
 * pg_basebackup (-F tar -X fetch, writing to its output pipe) runs over a replication connection,
 * and its tar stream is taken apart as it arrives: each file of the data directory becomes a file
 * of the tree, streamed into the saver (nothing lands on disk). The WAL written while the backup
 * ran is in the stream (pg_wal/), so the restored directory is a consistent cluster as soon as its
 * server has replayed it; backup_label and backup_manifest are kept as files (pg_verifybackup can
 * check a restored directory).
 *
 * Tree: the data directory's own layout (base/, global/, pg_wal/, ...). A cluster with
 * tablespaces outside the data directory is refused by pg_basebackup when it writes to
 * a pipe; its message is passed on verbatim.
 */
#ifndef DRK_SOURCE_PG_BASEBACKUP_H
#define DRK_SOURCE_PG_BASEBACKUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "repo/format.h"

struct saver;
struct pgconn_target;
struct pool;

struct pgbase_opts {
    const struct pgconn_target *target;
    bool spread_checkpoint; /* wait for the server's paced checkpoint instead of forcing one */
    uint64_t max_rate;      /* bytes per second the server may send; 0: no limit */
    unsigned ctx;           /* saver context to use */
    struct pool *seal_pool; /* seals the files' chunks (saver_stream_parallel); may be NULL */
};

struct pgbase_progress {
    _Atomic uint64_t files, bytes;
};

/* On success *tree is the data directory's root tree and *meta (caller decrefs) describes
 * it: {"system_identifier", "timeline", "start_lsn", "end_lsn", "files", "bytes",
 * "label"}. */
int pgbase_backup(struct saver *saver, const struct pgbase_opts *o, struct pgbase_progress *prog,
                  struct blob_id *tree, json_t **meta);

#endif
