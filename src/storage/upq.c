/* upq: concurrent uploads with retries, for the remote backends. */
#include "storage/upq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "util/sig.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct job {
    int fd;
    char *key;
    struct job *next;
};

struct upq {
    upq_upload_fn fn;
    void *be;
    double retry_time;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct job *head, *tail;
    unsigned pending; /* queued or running */
    unsigned limit;
    bool stop;
    int error;
    struct drk_error error_detail;
    pthread_t *threads;
    unsigned nthreads;
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
upq_retry(double retry_time, const char *what, int (*fn)(void *arg), void *arg)
{
    double start = now(), delay = 0.2;
    int r;
    if (retry_time <= 0)
        retry_time = 120;
    for (;;) {
        r = fn(arg);
        if (r == 0 || !drk_err_retryable(r) || sig_interrupted())
            return r;
        /* giving up is final: DRK_EIO, so that no caller retries it again */
        if (now() - start + delay > retry_time)
            return drk_err_wrap(DRK_EIO, "gave up after retrying for %.0f s", now() - start);
        log_detail("retrying %s in %.1f s (%s)", what, delay, drk_err_msg());
        {
            struct timespec ts = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };
            nanosleep(&ts, NULL);
        }
        delay = delay * 2 > 10 ? 10 : delay * 2;
    }
}

struct upload_arg {
    struct upq *q;
    struct job *j;
    uint64_t size;
};

static int
upload_once(void *arg)
{
    struct upload_arg *a = arg;
    return a->q->fn(a->q->be, a->j->fd, a->size, a->j->key);
}

static void *
worker(void *arg)
{
    struct upq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct job *j;
        struct upload_arg ua;
        struct stat st;
        int r;
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->work, &q->mu);
        if (!q->head)
            break;
        j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);

        ua.q = q;
        ua.j = j;
        if (fstat(j->fd, &st) != 0) {
            r = drk_err_errno(DRK_EIO, errno, "staged upload of %s", j->key);
        } else {
            ua.size = (uint64_t)st.st_size;
            r = upq_retry(q->retry_time, j->key, upload_once, &ua);
        }
        close(j->fd);

        pthread_mutex_lock(&q->mu);
        if (r && !q->error) {
            q->error = r;
            drk_err_save(&q->error_detail);
        }
        free(j->key);
        free(j);
        q->pending--;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

struct upq *
upq_new(unsigned threads, upq_upload_fn fn, void *be, double retry_time)
{
    struct upq *q = xcalloc(1, sizeof(*q));
    if (threads == 0)
        threads = 4;
    if (threads > 64)
        threads = 64;
    q->fn = fn;
    q->be = be;
    q->retry_time = retry_time;
    q->limit = threads * 2;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    q->threads = xcalloc(threads, sizeof(*q->threads));
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
            break;
        q->nthreads++;
    }
    return q;
}

int
upq_push(struct upq *q, int fd, const char *key)
{
    struct job *j;
    int r;

    if (q->nthreads == 0) { /* no threads could be started: upload here */
        struct job one = { fd, (char *)key, NULL };
        struct upload_arg ua = { q, &one, 0 };
        struct stat st;
        r = fstat(fd, &st) != 0 ? drk_err_errno(DRK_EIO, errno, "staged upload of %s", key) : 0;
        ua.size = (uint64_t)st.st_size;
        if (r == 0)
            r = upq_retry(q->retry_time, key, upload_once, &ua);
        close(fd);
        return r;
    }
    pthread_mutex_lock(&q->mu);
    while (q->pending >= q->limit && !q->error)
        pthread_cond_wait(&q->done, &q->mu);
    if (q->error) {
        r = q->error;
        drk_err_restore(&q->error_detail);
        pthread_mutex_unlock(&q->mu);
        close(fd);
        return r;
    }
    j = xcalloc(1, sizeof(*j));
    j->fd = fd;
    j->key = xstrdup(key);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->pending++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int
upq_wait(struct upq *q)
{
    int r;
    pthread_mutex_lock(&q->mu);
    while (q->pending)
        pthread_cond_wait(&q->done, &q->mu);
    r = q->error;
    if (r)
        drk_err_restore(&q->error_detail);
    q->error = 0;
    pthread_mutex_unlock(&q->mu);
    return r;
}

void
upq_free(struct upq *q)
{
    if (!q)
        return;
    upq_wait(q);
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    free(q->threads);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
