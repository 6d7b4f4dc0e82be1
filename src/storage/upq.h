/*
 * upq: the upload queue of the remote backends. A committed staging file is handed to one
 * of N threads, which uploads it (retrying transient failures with exponential backoff
 * within a time budget) and then closes it; the committing thread goes on at once, so a
 * backup to S3 is not bound by one round trip. upq_wait (the backend's sync) returns when
 * every upload has finished, with the first error: the saver syncs before it writes the
 * index that names the packs, so an index never names a pack that did not arrive.
 */
#ifndef DRK_STORAGE_UPQ_H
#define DRK_STORAGE_UPQ_H

#include <stdint.h>

/* Upload size bytes of fd (read with pread from offset 0) as key. */
typedef int (*upq_upload_fn)(void *be, int fd, uint64_t size, const char *key);

struct upq;

struct upq *upq_new(unsigned threads, upq_upload_fn fn, void *be, double retry_time);
/* Queue an upload; fd is the queue's from now on (closed when done). Blocks while
 * 2 x threads uploads are pending (bounded staging space). Returns the first error of an
 * earlier upload, if any (the new one is then dropped). */
int upq_push(struct upq *q, int fd, const char *key);
/* Wait for every queued upload; the first error since the last wait (its message restored
 * on this thread). */
int upq_wait(struct upq *q);
void upq_free(struct upq *q); /* waits first */

/* Run fn(arg) until it succeeds, fails for good, or retry_time seconds have passed since the
 * first try; sleeps 0.2, 0.4, 0.8 ... (at most 10) seconds between tries. For the backends'
 * own requests. */
int upq_retry(double retry_time, const char *what, int (*fn)(void *arg), void *arg);

#endif
