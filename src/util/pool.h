/*
 * pool: a fixed set of worker threads fed by one bounded queue (zstd POOL_*).
 *
 * pool_add() blocks while the queue is full: that backpressure keeps memory bounded.
 * A job runs as fn(arg, worker) where worker is 0..nthreads-1, so a job can use
 * per-worker state without locks. A job carries its own result (workers cannot
 * return one); its data must outlive the job. pool_wait() returns when the queue is
 * empty and every worker is idle.
 */
#ifndef DRK_UTIL_POOL_H
#define DRK_UTIL_POOL_H

#include <stddef.h>

typedef void (*pool_fn)(void *arg, unsigned worker);

struct pool;

struct pool *pool_new(unsigned nthreads, size_t queue_cap);
void pool_add(struct pool *p, pool_fn fn, void *arg);
/* Queue a job if there is room; returns 0 if queued, -1 if the queue is full. */
int pool_try_add(struct pool *p, pool_fn fn, void *arg);
void pool_wait(struct pool *p);
unsigned pool_threads(const struct pool *p);
void pool_free(struct pool *p); /* waits for queued jobs, then joins; NULL is fine */

/* Number of online CPUs (at least 1), or $DRKIT_THREADS when set. */
unsigned pool_default_threads(void);

#endif
