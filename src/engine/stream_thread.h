/*
 * stream_thread: a saver stream fed from another thread.
 *
 * A producer that hands over its bytes in small pieces (a COPY, one row at a time) and the
 * stream's own work (cutting chunks, hashing the cut points) would otherwise share one core.
 * The producer's writes go into blocks; full blocks go through a short queue to a thread of
 * the stream's own, which runs saver_stream_write on them. Memory: STREAM_THREAD_BLOCKS
 * blocks of STREAM_THREAD_BLOCK bytes. A failure of the stream is returned by the next
 * write and by finish; finish must be called on every path (it joins the thread).
 */
#ifndef DRK_ENGINE_STREAM_THREAD_H
#define DRK_ENGINE_STREAM_THREAD_H

#include <stddef.h>
#include <stdint.h>

struct saver_stream;
struct stream_thread;

#define STREAM_THREAD_BLOCK  (2u << 20)
#define STREAM_THREAD_BLOCKS 4

/* Start feeding st (already begun; it is the thread's until finish). NULL if no thread
 * could be started: write to st directly then. */
struct stream_thread *stream_thread_start(struct saver_stream *st);
int stream_thread_write(struct stream_thread *t, const void *data, size_t len);
/* Hand over the rest, wait, end the stream (saver_stream_end) and free t. */
int stream_thread_finish(struct stream_thread *t, uint64_t *nbytes);

#endif
