/* pool: bounded-queue thread pool. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "str.h"
#include "xalloc.h"
#include "banned.h"

struct pool_job {
    pool_fn fn;
    void *arg;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full, idle;
    struct pool_job *q;
    size_t cap, head, count;
    unsigned nthreads, busy;
    unsigned idle_waiting;      /* workers blocked on not_empty */
    unsigned producers_waiting; /* pool_add callers blocked on not_full */
    int stop;
    pthread_t *threads;
};

struct worker_start {
    struct pool *p;
    unsigned index;
};

static void *
worker_main(void *arg)
{
    struct worker_start ws = *(struct worker_start *)arg;
    struct pool *p = ws.p;
    free(arg);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        struct pool_job job;
        while (p->count == 0 && !p->stop) {
            p->idle_waiting++;
            pthread_cond_wait(&p->not_empty, &p->mu);
            p->idle_waiting--;
        }
        if (p->count == 0 && p->stop)
            break;
        job = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        p->busy++;
        /* Wake a blocked producer only once the queue has drained to half: waking it for
         * every slot makes producer and workers ping-pong on a full queue. */
        if (p->producers_waiting && p->count <= p->cap / 2)
            pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->mu);
        job.fn(job.arg, ws.index);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        if (p->busy == 0 && p->count == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct pool *
pool_new(unsigned nthreads, size_t queue_cap)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    if (nthreads == 0)
        nthreads = 1;
    if (queue_cap == 0)
        queue_cap = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->q = xcalloc(queue_cap, sizeof(*p->q));
    p->cap = queue_cap;
    p->nthreads = nthreads;
    p->threads = xcalloc(nthreads, sizeof(*p->threads));
    for (unsigned i = 0; i < nthreads; i++) {
        struct worker_start *ws = xmalloc(sizeof(*ws));
        ws->p = p;
        ws->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, ws) != 0)
            abort();
    }
    return p;
}

static void
enqueue_locked(struct pool *p, pool_fn fn, void *arg)
{
    size_t tail = (p->head + p->count) % p->cap;
    p->q[tail].fn = fn;
    p->q[tail].arg = arg;
    p->count++;
    if (p->idle_waiting) /* no system call when every worker is busy anyway */
        pthread_cond_signal(&p->not_empty);
}

void
pool_add(struct pool *p, pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    while (p->count == p->cap) {
        p->producers_waiting++;
        pthread_cond_wait(&p->not_full, &p->mu);
        p->producers_waiting--;
    }
    enqueue_locked(p, fn, arg);
    pthread_mutex_unlock(&p->mu);
}

int
pool_try_add(struct pool *p, pool_fn fn, void *arg)
{
    int r = -1;
    pthread_mutex_lock(&p->mu);
    if (p->count < p->cap) {
        enqueue_locked(p, fn, arg);
        r = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return r;
}

void
pool_wait(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->count > 0 || p->busy > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

unsigned
pool_threads(const struct pool *p)
{
    return p->nthreads;
}

void
pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->idle);
    free(p->threads);
    free(p->q);
    free(p);
}

unsigned
pool_default_threads(void)
{
    const char *env = getenv("DRKIT_THREADS");
    uint64_t v;
    long n;
    if (env && str_to_u64(env, &v) == 0 && v > 0 && v <= 256)
        return (unsigned)v;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
