/* stream_thread: a saver stream fed through a short queue of blocks by another thread. */
#include "engine/stream_thread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/saver.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct stream_thread {
    struct saver_stream *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    unsigned char *buf[STREAM_THREAD_BLOCKS];
    size_t len[STREAM_THREAD_BLOCKS];
    int queue[STREAM_THREAD_BLOCKS]; /* full blocks, oldest first, from qhead */
    int nqueue, qhead;
    int free_blocks[STREAM_THREAD_BLOCKS];
    int nfree;
    int cur; /* the block the producer fills, or -1 */
    bool done;
    int err; /* the stream's first failure */
    struct drk_error err_detail;
};

static void *
consumer_main(void *arg)
{
    struct stream_thread *t = arg;
    for (;;) {
        int b, r = 0;
        pthread_mutex_lock(&t->mu);
        while (t->nqueue == 0 && !t->done)
            pthread_cond_wait(&t->filled, &t->mu);
        if (t->nqueue == 0) {
            pthread_mutex_unlock(&t->mu);
            return NULL;
        }
        b = t->queue[t->qhead];
        t->qhead = (t->qhead + 1) % STREAM_THREAD_BLOCKS;
        t->nqueue--;
        pthread_mutex_unlock(&t->mu);

        if (!t->err) /* only this thread sets it */
            r = saver_stream_write(t->st, t->buf[b], t->len[b]);
        pthread_mutex_lock(&t->mu);
        if (r && !t->err) {
            t->err = r;
            drk_err_save(&t->err_detail);
        }
        t->free_blocks[t->nfree++] = b;
        pthread_cond_signal(&t->freed);
        pthread_mutex_unlock(&t->mu);
    }
}

static void
thread_free(struct stream_thread *t)
{
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->filled);
    pthread_cond_destroy(&t->freed);
    for (int i = 0; i < STREAM_THREAD_BLOCKS; i++)
        free(t->buf[i]);
    free(t);
}

struct stream_thread *
stream_thread_start(struct saver_stream *st)
{
    struct stream_thread *t = xcalloc(1, sizeof(*t));
    t->st = st;
    t->cur = -1;
    for (int i = 0; i < STREAM_THREAD_BLOCKS; i++) {
        t->buf[i] = xmalloc(STREAM_THREAD_BLOCK);
        t->free_blocks[t->nfree++] = i;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->filled, NULL);
    pthread_cond_init(&t->freed, NULL);
    if (pthread_create(&t->thread, NULL, consumer_main, t) != 0) {
        thread_free(t);
        return NULL;
    }
    return t;
}

/* Queue the producer's block (if it holds anything) for the consumer. */
static void
submit(struct stream_thread *t)
{
    pthread_mutex_lock(&t->mu);
    if (t->len[t->cur]) {
        t->queue[(t->qhead + t->nqueue) % STREAM_THREAD_BLOCKS] = t->cur;
        t->nqueue++;
        pthread_cond_signal(&t->filled);
    } else {
        t->free_blocks[t->nfree++] = t->cur;
    }
    t->cur = -1;
    pthread_mutex_unlock(&t->mu);
}

int
stream_thread_write(struct stream_thread *t, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        size_t n;
        if (t->cur < 0) {
            int err;
            pthread_mutex_lock(&t->mu);
            while (t->nfree == 0 && !t->err)
                pthread_cond_wait(&t->freed, &t->mu);
            err = t->err;
            if (!err) {
                t->cur = t->free_blocks[--t->nfree];
                t->len[t->cur] = 0;
            }
            pthread_mutex_unlock(&t->mu);
            if (err) {
                drk_err_restore(&t->err_detail);
                return err;
            }
        }
        n = STREAM_THREAD_BLOCK - t->len[t->cur];
        if (n > len)
            n = len;
        memcpy(t->buf[t->cur] + t->len[t->cur], p, n);
        t->len[t->cur] += n;
        p += n;
        len -= n;
        if (t->len[t->cur] == STREAM_THREAD_BLOCK)
            submit(t);
    }
    return 0;
}

int
stream_thread_finish(struct stream_thread *t, uint64_t *nbytes)
{
    int r;
    if (t->cur >= 0)
        submit(t);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_signal(&t->filled);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    if (t->err) {
        (void)saver_stream_end(t->st, nbytes); /* lets a parallel stream's chunks finish */
        drk_err_restore(&t->err_detail);
        r = t->err;
    } else {
        r = saver_stream_end(t->st, nbytes);
    }
    thread_free(t);
    return r;
}
