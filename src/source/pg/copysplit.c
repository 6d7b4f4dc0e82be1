/* copysplit: one table's COPY stream cut at row ends and loaded over several connections. */
#include "source/pg/copysplit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "source/pg/copyin.h"
#include "source/pg/restore.h"
#include "source/pg/snapdb.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Big enough that a block is a run of pages of its own for the backend that loads it and
 * that the queue costs nothing; small enough that the queue holds little memory. */
#define BLOCK_BYTES ((size_t)1 << 20)
#define QUEUE_MAX   4

struct block {
    unsigned char *data;
    size_t len;
};

struct copysplit {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a block was queued, or the producer is done, or a failure */
    struct block q[QUEUE_MAX];
    size_t head, n;
    bool done;   /* the producer queued its last block (or failed) */
    bool failed; /* a participant failed: everyone ends their COPY with an error */
    int users;   /* participants whose COPY has not ended yet (the producer included) */
    int err;     /* the first failure, returned by every participant */
    char *errmsg;
    char *sql, *into;
    const json_t *table;
    struct pgrestore_progress *prog;
    struct buf cur; /* the producer's partial block */
    PGconn *pc;     /* the producer's connection */
    const _Atomic int *abort;
};

struct copysplit *
copysplit_new(PGconn *c, const char *into, const json_t *table, struct pgrestore_progress *prog)
{
    struct copysplit *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->users = 1; /* the producer, from the start: helpers cannot finish the table early */
    s->sql = pgrestore_copy_sql(c, into, table);
    s->into = xstrdup(into);
    s->table = table;
    s->prog = prog;
    buf_init(&s->cur, BLOCK_BYTES + BLOCK_BYTES / 4);
    return s;
}

void
copysplit_free(struct copysplit *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->q[(s->head + i) % QUEUE_MAX].data);
    buf_release(&s->cur);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->errmsg);
    free(s->sql);
    free(s->into);
    free(s);
}

/* Record the first failure (the current error of this thread) and wake everyone. */
static void
fail(struct copysplit *s, int r)
{
    pthread_mutex_lock(&s->mu);
    if (!s->err) {
        s->err = r;
        s->errmsg = xstrdup(drk_err_msg());
    }
    s->failed = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* What a participant returns once the table has failed: the first failure. */
static int
first_failure(struct copysplit *s)
{
    int r;
    pthread_mutex_lock(&s->mu);
    r = s->err ? drk_err_set(s->err, "%s", s->errmsg)
               : drk_err_set(DRK_EINTR, "COPY into %s: restore aborted", s->into);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* A participant's COPY has ended; the last one of a table without failure counts it. */
static void
leave(struct copysplit *s)
{
    bool last;
    pthread_mutex_lock(&s->mu);
    last = --s->users == 0 && s->done && !s->failed;
    pthread_mutex_unlock(&s->mu);
    if (last) {
        atomic_fetch_add(&s->prog->rows,
                         (uint64_t)json_integer_value(json_object_get(s->table, "rows")));
        atomic_fetch_add(&s->prog->tables, 1);
    }
}

static bool
stop(struct copysplit *s, const _Atomic int *abort)
{
    bool f;
    pthread_mutex_lock(&s->mu);
    f = s->failed;
    pthread_mutex_unlock(&s->mu);
    return f || atomic_load(abort);
}

/* The producer's block: to the queue, or over its own connection when the queue is full. */
static int
offer(struct copysplit *s, unsigned char *data, size_t len)
{
    int r;
    pthread_mutex_lock(&s->mu);
    if (s->n < QUEUE_MAX) {
        s->q[(s->head + s->n) % QUEUE_MAX] = (struct block){ data, len };
        s->n++;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    r = pgrestore_copy_put(s->pc, data, len, s->prog);
    free(data);
    return r;
}

/* Cut the partial block after its last row end once it is big enough. */
static int
sink(void *arg, const void *data, size_t len)
{
    struct copysplit *s = arg;
    if (stop(s, s->abort))
        return drk_err_set(DRK_EINTR, "COPY into %s: restore aborted", s->into);
    buf_add(&s->cur, data, len);
    if (s->cur.len >= BLOCK_BYTES) {
        const unsigned char *nl = memrchr(s->cur.data, '\n', s->cur.len);
        if (nl) { /* else one row is longer than a block: wait for its end */
            size_t cut = (size_t)(nl + 1 - s->cur.data), rest = s->cur.len - cut;
            struct buf next;
            size_t blen;
            unsigned char *block;
            buf_init(&next, BLOCK_BYTES + BLOCK_BYTES / 4);
            buf_add(&next, nl + 1, rest);
            buf_setlen(&s->cur, cut);
            block = buf_detach(&s->cur, &blen);
            s->cur = next;
            return offer(s, block, blen);
        }
    }
    return 0;
}

/* Take the next queued block; false when there is none and none will come (or failure). */
static bool
take(struct copysplit *s, bool wait, struct block *out)
{
    bool got = false;
    pthread_mutex_lock(&s->mu);
    while (wait && !s->n && !s->done && !s->failed)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->n && !s->failed) {
        *out = s->q[s->head];
        s->head = (s->head + 1) % QUEUE_MAX;
        s->n--;
        got = true;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

/* Send queued blocks over c until the queue is empty (wait: and the producer is done). */
static int
drain(struct copysplit *s, PGconn *c, bool wait, const _Atomic int *abort)
{
    struct block b;
    int r = 0;
    while (r == 0 && !atomic_load(abort) && take(s, wait, &b)) {
        r = pgrestore_copy_put(c, b.data, b.len, s->prog);
        free(b.data);
    }
    return r;
}

/* End a participant's COPY: with an error when anything failed; returns the outcome. */
static int
finish(struct copysplit *s, PGconn *c, int r, const _Atomic int *abort)
{
    bool failed;
    if (r == 0 && atomic_load(abort)) /* another table failed */
        r = drk_err_set(DRK_EINTR, "COPY into %s: restore aborted", s->into);
    if (r)
        fail(s, r);
    pthread_mutex_lock(&s->mu);
    failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    if ((r = pgrestore_copy_end(c, s->into, failed)) != 0)
        fail(s, r);
    leave(s);
    pthread_mutex_lock(&s->mu);
    failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    return failed ? first_failure(s) : 0;
}

int
copysplit_produce(struct copysplit *s, struct repo *repo, struct blob_codec *codec, PGconn *c,
                  const struct node *file, const _Atomic int *abort)
{
    int r;

    s->pc = c;
    s->abort = abort;
    if ((r = pgrestore_copy_begin(c, s->sql)) != 0) {
        fail(s, r);
        pthread_mutex_lock(&s->mu);
        s->done = true;
        s->users--;
        pthread_mutex_unlock(&s->mu);
        return r;
    }
    r = snapdb_stream(repo, codec, file, sink, s);
    if (r == 0 && s->cur.len) { /* the last rows */
        size_t blen;
        unsigned char *block = buf_detach(&s->cur, &blen);
        r = offer(s, block, blen);
    }
    if (r)
        fail(s, r);
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (r == 0) /* what the helpers have not taken */
        r = drain(s, c, false, abort);
    return finish(s, c, r, abort);
}

bool
copysplit_open(struct copysplit *s)
{
    bool open;
    pthread_mutex_lock(&s->mu);
    open = !s->failed && (!s->done || s->n);
    pthread_mutex_unlock(&s->mu);
    return open;
}

int
copysplit_help(struct copysplit *s, PGconn *c, const _Atomic int *abort)
{
    int r;

    pthread_mutex_lock(&s->mu);
    if (s->failed || (s->done && !s->n)) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->users++;
    pthread_mutex_unlock(&s->mu);
    if ((r = pgrestore_copy_begin(c, s->sql)) != 0) {
        fail(s, r);
        leave(s);
        return r;
    }
    r = drain(s, c, true, abort);
    return finish(s, c, r, abort);
}
