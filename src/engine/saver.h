/*
 * saver: the write half of the engine — chunk, hash, deduplicate, compress, encrypt and
 * pack content, then commit packs and index files in the order the repository's
 * invariants demand (packs durable, then the index that names them; the caller writes
 * the snapshot last).
 *
 * Threads: the caller brings its own threads (e.g. a pool walking files). Each thread
 * uses its own context number (0 .. contexts-1) so chunk buffers, zstd state and the
 * open data pack need no locks; tree blobs share one pack under a mutex. A finisher
 * thread fsyncs and commits full packs and writes an index file every INDEX_BATCH packs.
 *
 * Memory: per context one read buffer of 2 x the chunker's max (8 MiB by default) and the
 * codec's scratch; packs are streamed to staging files, not held in memory.
 */
#ifndef DRK_ENGINE_SAVER_H
#define DRK_ENGINE_SAVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"

struct repo;
struct saver;

struct saver_stats {
    _Atomic uint64_t bytes_read;  /* content bytes taken in */
    _Atomic uint64_t bytes_added; /* sealed bytes written to packs */
    _Atomic uint64_t data_added;  /* raw bytes of new blobs */
    _Atomic uint64_t blobs_added;
    _Atomic uint64_t blobs_seen;
    _Atomic uint64_t packs_written;
};

struct saver_opts {
    unsigned contexts; /* threads that will call in */
};

struct blob_list {
    struct blob_id *v;
    size_t n, cap;
};

void blob_list_push(struct blob_list *l, const struct blob_id *id);
void blob_list_free(struct blob_list *l);

int saver_new(struct saver **out, struct repo *repo, const struct saver_opts *o);
/* Store one blob (if the repository lacks it); the id goes to id_out. *added tells whether
 * it was new (may be NULL). */
int saver_put_blob(struct saver *s, unsigned ctx, uint8_t type, const void *data, size_t len,
                   struct blob_id *id_out, bool *added);
/*
 * Read fd to its end, cut it into content-defined chunks and store them; their ids are
 * appended to ids, the byte count goes to *nbytes. With `sparse`, holes are not read
 * (SEEK_DATA/SEEK_HOLE) but taken as zeros. A failure to read fd sets *read_failed (the
 * source is at fault, not the repository). `what` names the source in messages.
 */
int saver_put_fd(struct saver *s, unsigned ctx, int fd, bool sparse, const char *what,
                 struct blob_list *ids, uint64_t *nbytes, bool *read_failed);
/*
 * Pushed content (a COPY from PostgreSQL, a child's output): begin, write any number of
 * times, end. The bytes are chunked exactly as saver_put_fd would chunk them. One stream at a
 * time per context: a stream uses its context's chunk buffer.
 *
 * A single big stream (one table, a cluster's data files arriving in one tar stream) would
 * keep one core busy hashing, compressing and encrypting while the others idle: with
 * saver_stream_parallel the caller only cuts chunks, and a pool's workers seal them, worker
 * w using context w (so those contexts must be otherwise idle meanwhile). Their ids land in
 * order; failures are reported by saver_stream_end, which must then be called on every path.
 * Several streams (on different contexts) may share one pool at the same time.
 */
struct seal_job;
struct pool;
struct drk_error;
struct saver_stream {
    struct saver *s;
    unsigned ctx;
    bool sparse;
    struct blob_list *ids;
    size_t start, end;
    uint64_t nbytes;
    struct pool *pool;      /* NULL: sealed by the caller */
    struct seal_job **jobs; /* chunks handed to the pool, in order; taken ones are NULL */
    size_t njobs, capjobs, ntaken, ids_base;
    int err; /* the first failure of a taken job, and its message */
    struct drk_error *err_detail;
};
void saver_stream_begin(struct saver_stream *st, struct saver *s, unsigned ctx, bool sparse,
                        struct blob_list *ids);
/* Seal this stream's chunks on pool (see above); right after begin. */
void saver_stream_parallel(struct saver_stream *st, struct pool *pool);
int saver_stream_write(struct saver_stream *st, const void *data, size_t len);
int saver_stream_end(struct saver_stream *st, uint64_t *nbytes);

/* Commit every pack, write the remaining index, make it all durable. */
int saver_finish(struct saver *s);
/* Throw away what is not committed (error paths); committed packs stay as garbage for
 * prune. */
void saver_abort(struct saver *s);
void saver_free(struct saver *s);
struct saver_stats *saver_stats(struct saver *s);

#endif
