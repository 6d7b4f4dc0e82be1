/* saver: the backup write pipeline (see saver.h). */
#include "engine/saver.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo/blob.h"
#include "repo/index.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define INDEX_BATCH  64 /* packs per index file written during a backup */
#define FINISH_QUEUE 4  /* full packs waiting for fsync + commit */

struct saver_ctx {
    struct blob_codec codec;
    struct pack_writer pack; /* data blobs */
    unsigned char *readbuf;
    size_t readcap;
};

struct finish_item {
    struct pack_writer pw;
    struct blob_id id;
};

struct saver {
    struct repo *repo;
    unsigned nctx;
    struct saver_ctx *ctx;
    struct saver_stats stats;

    pthread_mutex_t tree_mu; /* guards tree_pack */
    struct pack_writer tree_pack;

    /* finisher */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct finish_item *queue[FINISH_QUEUE];
    size_t qhead, qcount;
    bool stop;
    pthread_t thread;
    bool thread_running;
    int error; /* first error of the finisher, sticky */
    struct drk_error error_detail;
    VEC(struct idx_pack_rec) unindexed; /* committed packs not yet in an index file */

    /* all-zero chunks of sparse files: the id of a zero chunk of the last seen length */
    pthread_mutex_t zero_mu;
    /* a parallel stream's chunk sealed (several streams may share one pool) */
    pthread_mutex_t sealed_mu;
    pthread_cond_t sealed_cv;
    size_t zero_len;
    struct blob_id zero_id;
};

void
blob_list_push(struct blob_list *l, const struct blob_id *id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n++] = *id;
}

void
blob_list_free(struct blob_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

struct saver_stats *
saver_stats(struct saver *s)
{
    return &s->stats;
}

/* Blobs of a pack that will not be committed are not stored after all. */
static void
unclaim_pack(struct saver *s, const struct pack_writer *pw)
{
    for (size_t i = 0; i < pw->entries.n; i++)
        idx_unclaim(s->repo->idx, &pw->entries.v[i].id);
}

static void
set_error(struct saver *s, int r)
{
    /* caller holds s->mu */
    if (!s->error) {
        s->error = r;
        drk_err_save(&s->error_detail);
    }
}

static int
write_index_batch(struct saver *s)
{
    struct buf plain = BUF_INIT;
    char id[ID_HEX_LEN + 1];
    int r;

    if (s->unindexed.n == 0)
        return 0;
    /* The packs named by this index must be durable first. */
    if ((r = stor_sync(s->repo->stor)) != 0)
        return r;
    if ((r = idx_encode(&plain, s->unindexed.v, s->unindexed.n, NULL, 0)) == 0)
        r = sealed_save(s->repo, "index", OBJ_INDEX, plain.data, plain.len, id);
    buf_release(&plain);
    if (r == 0) {
        for (size_t i = 0; i < s->unindexed.n; i++)
            free(s->unindexed.v[i].entries);
        s->unindexed.n = 0;
    }
    return r;
}

/* fsync + move into place + record; runs on the finisher thread without s->mu held. */
static int
commit_pack(struct saver *s, struct finish_item *it)
{
    struct idx_pack_rec rec;
    int r = pack_writer_commit(&it->pw, s->repo->stor, &it->id);
    if (r)
        return r;
    idx_add_pack(s->repo->idx, &it->id, it->pw.size, it->pw.entries.v, it->pw.entries.n);
    rec.id = it->id;
    rec.size = it->pw.size;
    rec.entries = it->pw.entries.v;
    rec.n = it->pw.entries.n;
    it->pw.entries.v = NULL; /* moved into rec */
    it->pw.entries.n = it->pw.entries.cap = 0;
    pthread_mutex_lock(&s->mu);
    vec_push(&s->unindexed, rec);
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&s->stats.packs_written, 1);
    return 0;
}

static void *
finisher_main(void *arg)
{
    struct saver *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct finish_item *it;
        int r, failed;
        while (s->qcount == 0 && !s->stop)
            pthread_cond_wait(&s->cond, &s->mu);
        if (s->qcount == 0)
            break;
        it = s->queue[s->qhead];
        failed = s->error;
        pthread_mutex_unlock(&s->mu);

        if (failed) {
            unclaim_pack(s, &it->pw);
            pack_writer_discard(&it->pw, s->repo->stor);
            r = 0;
        } else {
            r = commit_pack(s, it);
            if (r)
                unclaim_pack(s, &it->pw);
        }
        if (r == 0 && s->unindexed.n >= INDEX_BATCH)
            r = write_index_batch(s);
        pack_writer_release(&it->pw);
        free(it);

        pthread_mutex_lock(&s->mu);
        if (r)
            set_error(s, r);
        s->qhead = (s->qhead + 1) % FINISH_QUEUE;
        s->qcount--;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Seal the pack's header and hand it to the finisher (blocks while its queue is full). */
static int
hand_over(struct saver *s, struct pack_writer *pw)
{
    struct finish_item *it;
    int r;

    if (!pw->active)
        return 0;
    if (pw->entries.n == 0) {
        pack_writer_discard(pw, s->repo->stor);
        pack_writer_release(pw);
        return 0;
    }
    it = xcalloc(1, sizeof(*it));
    if ((r = pack_writer_finish(pw, repo_enc_key(s->repo), &it->id)) != 0) {
        unclaim_pack(s, pw);
        pack_writer_discard(pw, s->repo->stor);
        pack_writer_release(pw);
        free(it);
        return r;
    }
    atomic_fetch_add(&s->stats.bytes_added, (uint64_t)(PACK_MAGIC_LEN + PACK_TRAILER_LEN + 4 +
                                                       pw->entries.n * PACK_ENTRY_LEN + 40));
    it->pw = *pw;
    pack_writer_init(pw); /* ownership moved */
    pthread_mutex_lock(&s->mu);
    while (s->qcount == FINISH_QUEUE)
        pthread_cond_wait(&s->cond, &s->mu);
    s->queue[(s->qhead + s->qcount) % FINISH_QUEUE] = it;
    s->qcount++;
    pthread_cond_broadcast(&s->cond);
    r = s->error;
    if (r)
        drk_err_restore(&s->error_detail);
    pthread_mutex_unlock(&s->mu);
    return r;
}

int
saver_new(struct saver **out, struct repo *repo, const struct saver_opts *o)
{
    struct saver *s = xcalloc(1, sizeof(*s));
    int r;

    if ((r = repo_load_index(repo)) != 0) {
        free(s);
        return r;
    }
    s->repo = repo;
    s->nctx = o->contexts ? o->contexts : 1;
    s->ctx = xcalloc(s->nctx, sizeof(*s->ctx));
    for (unsigned i = 0; i < s->nctx; i++) {
        blob_codec_init(&s->ctx[i].codec);
        pack_writer_init(&s->ctx[i].pack);
    }
    pack_writer_init(&s->tree_pack);
    pthread_mutex_init(&s->tree_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->zero_mu, NULL);
    pthread_mutex_init(&s->sealed_mu, NULL);
    pthread_cond_init(&s->sealed_cv, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->thread, NULL, finisher_main, s) != 0)
        abort();
    s->thread_running = true;
    *out = s;
    return 0;
}

static int
check_finisher(struct saver *s)
{
    int r;
    pthread_mutex_lock(&s->mu);
    r = s->error;
    if (r)
        drk_err_restore(&s->error_detail);
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Append a sealed blob to pw, starting or rotating it as needed. */
static int
pack_append(struct saver *s, struct pack_writer *pw, uint8_t type, const struct blob_id *id,
            const unsigned char *sealed, size_t len, uint32_t raw_len)
{
    int r;
    if (!pw->active && (r = pack_writer_begin(pw, s->repo->stor)) != 0)
        return r;
    if ((r = pack_writer_add(pw, type, id, sealed, len, raw_len)) != 0)
        return r;
    if (pw->size >= s->repo->pack_size)
        return hand_over(s, pw);
    return 0;
}

int
saver_put_blob(struct saver *s, unsigned ctx, uint8_t type, const void *data, size_t len,
               struct blob_id *id_out, bool *added)
{
    struct saver_ctx *c = &s->ctx[ctx];
    const unsigned char *sealed;
    size_t sealed_len;
    int r;

    if (added)
        *added = false;
    repo_blob_id(s->repo, type, data, len, id_out);
    atomic_fetch_add(&s->stats.blobs_seen, 1);
    if (!idx_claim(s->repo->idx, id_out, type))
        return 0;
    if ((r = check_finisher(s)) != 0)
        goto fail;
    if ((r = blob_seal(&c->codec, s->repo, type, id_out, data, len, s->repo->compression, &sealed,
                       &sealed_len)) != 0)
        goto fail;
    if (type == BLOB_TREE) {
        pthread_mutex_lock(&s->tree_mu);
        r = pack_append(s, &s->tree_pack, type, id_out, sealed, sealed_len, (uint32_t)len);
        pthread_mutex_unlock(&s->tree_mu);
    } else {
        r = pack_append(s, &c->pack, type, id_out, sealed, sealed_len, (uint32_t)len);
    }
    if (r)
        goto fail;
    atomic_fetch_add(&s->stats.bytes_added, sealed_len + PACK_ENTRY_LEN);
    atomic_fetch_add(&s->stats.data_added, len);
    atomic_fetch_add(&s->stats.blobs_added, 1);
    if (added)
        *added = true;
    return 0;
fail:
    idx_unclaim(s->repo->idx, id_out);
    return r;
}

static bool
all_zero(const unsigned char *p, size_t n)
{
    static const unsigned char zeros[4096];
    while (n >= sizeof(zeros)) {
        if (memcmp(p, zeros, sizeof(zeros)) != 0)
            return false;
        p += sizeof(zeros);
        n -= sizeof(zeros);
    }
    return memcmp(p, zeros, n) == 0;
}

/* Fill dst with up to room bytes of the file from pos, reading only data regions. */
static int
sparse_read(int fd, uint64_t pos, uint64_t size, unsigned char *dst, size_t room, size_t *got,
            const char *what)
{
    size_t done = 0;
    while (done < room && pos < size) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        size_t want = room - done;
        if (data < 0 && errno == ENXIO)
            data = (off_t)size; /* hole up to the end */
        else if (data < 0)
            return drk_err_errno(DRK_EIO, errno, "cannot seek in '%s'", what);
        if ((uint64_t)data > pos) {
            uint64_t hole = (uint64_t)data - pos;
            size_t z = hole < want ? (size_t)hole : want;
            memset(dst + done, 0, z);
            done += z;
            pos += z;
        } else {
            off_t hole = lseek(fd, (off_t)pos, SEEK_HOLE);
            uint64_t avail;
            size_t n;
            int r;
            if (hole < 0)
                return drk_err_errno(DRK_EIO, errno, "cannot seek in '%s'", what);
            avail = (uint64_t)hole - pos;
            n = avail < want ? (size_t)avail : want;
            if (n == 0)
                break;
            if ((r = fs_pread_all(fd, dst + done, n, pos, what)) != 0)
                return r;
            done += n;
            pos += n;
        }
    }
    *got = done;
    return 0;
}

/* Make room at the end of the stream's buffer (moving pending bytes to the front). */
static void
stream_room(struct saver_stream *st, unsigned char **p, size_t *room)
{
    struct saver_ctx *c = &st->s->ctx[st->ctx];
    if (st->start > 0 && c->readcap - st->end < st->s->repo->chunker.max) {
        memmove(c->readbuf, c->readbuf + st->start, st->end - st->start);
        st->end -= st->start;
        st->start = 0;
    }
    *p = c->readbuf + st->end;
    *room = c->readcap - st->end;
}

/* One chunk of a parallel stream, sealed by a pool worker. */
struct seal_job {
    struct saver *s;
    unsigned char *data; /* freed once sealed */
    size_t len;
    struct blob_id id;
    int r;
    struct drk_error *err; /* only when it failed */
    _Atomic int done;
};

static void
seal_job_run(void *arg, unsigned worker)
{
    struct seal_job *j = arg;
    struct saver *s = j->s; /* j may be freed by its stream as soon as it is done */
    j->r = saver_put_blob(s, worker, BLOB_DATA, j->data, j->len, &j->id, NULL);
    if (j->r) {
        j->err = xmalloc(sizeof(*j->err));
        drk_err_save(j->err);
    }
    free(j->data);
    j->data = NULL;
    pthread_mutex_lock(&s->sealed_mu);
    atomic_store_explicit(&j->done, 1, memory_order_release);
    pthread_cond_broadcast(&s->sealed_cv);
    pthread_mutex_unlock(&s->sealed_mu);
}

/* Put the id of job i in place and free it; the first failure is kept for the stream. */
static void
stream_take(struct saver_stream *st, size_t i)
{
    struct seal_job *j = st->jobs[i];
    if (j->r && !st->err) {
        st->err = j->r;
        st->err_detail = j->err;
        j->err = NULL;
    }
    st->ids->v[st->ids_base + i] = j->id;
    free(j->err);
    free(j);
    st->jobs[i] = NULL;
}

/* Take the jobs that are done, in order: memory stays bounded by the chunks in flight, not
 * by the size of the stream. */
static void
stream_reap(struct saver_stream *st)
{
    while (st->ntaken < st->njobs &&
           atomic_load_explicit(&st->jobs[st->ntaken]->done, memory_order_acquire))
        stream_take(st, st->ntaken++);
}

/* Hand a chunk to the pool; its id is put in place by stream_reap / stream_collect. */
static void
stream_dispatch(struct saver_stream *st, const unsigned char *p, size_t n)
{
    static const struct blob_id pending;
    struct seal_job *j = xcalloc(1, sizeof(*j));
    j->s = st->s;
    j->data = xmemdup(p, n);
    j->len = n;
    if (st->njobs == st->capjobs) {
        st->capjobs = st->capjobs ? 2 * st->capjobs : 64;
        st->jobs = xrealloc(st->jobs, st->capjobs * sizeof(*st->jobs));
    }
    st->jobs[st->njobs++] = j;
    blob_list_push(st->ids, &pending);
    pool_add(st->pool, seal_job_run, j);
    stream_reap(st);
}

/* Wait for this stream's chunks (not the whole pool: another stream may be using it), put
 * the remaining ids in place, report the first failure. */
static int
stream_collect(struct saver_stream *st)
{
    int r;
    if (!st->pool)
        return 0;
    pthread_mutex_lock(&st->s->sealed_mu);
    for (size_t i = st->ntaken; i < st->njobs; i++)
        while (!atomic_load_explicit(&st->jobs[i]->done, memory_order_acquire))
            pthread_cond_wait(&st->s->sealed_cv, &st->s->sealed_mu);
    pthread_mutex_unlock(&st->s->sealed_mu);
    while (st->ntaken < st->njobs)
        stream_take(st, st->ntaken++);
    r = st->err;
    if (st->err_detail) {
        drk_err_restore(st->err_detail);
        free(st->err_detail);
    }
    free(st->jobs);
    st->jobs = NULL;
    st->err_detail = NULL;
    st->err = 0;
    st->njobs = st->capjobs = st->ntaken = 0;
    return r;
}

/* Cut and store every chunk the buffer allows: all of them at the end of the stream, else
 * only while at least the chunker's max is pending (a cut needs that much lookahead). */
static int
stream_emit(struct saver_stream *st, bool eof)
{
    struct saver *s = st->s;
    struct saver_ctx *c = &s->ctx[st->ctx];
    const struct cdc *cdc = &s->repo->chunker;
    int r;

    while (st->end > st->start && (eof || st->end - st->start >= cdc->max)) {
        unsigned char *p = c->readbuf + st->start;
        size_t n = cdc_next(cdc, p, st->end - st->start, eof);
        struct blob_id id;
        bool zero;
        if (n == 0) /* cannot happen: max bytes are offered, or the end */
            n = st->end - st->start;
        if (st->pool) {
            stream_dispatch(st, p, n);
            st->start += n;
            st->nbytes += n;
            continue;
        }
        zero = st->sparse && all_zero(p, n);
        if (zero) {
            pthread_mutex_lock(&s->zero_mu);
            if (s->zero_len == n) {
                id = s->zero_id;
                pthread_mutex_unlock(&s->zero_mu);
                goto have_id;
            }
            pthread_mutex_unlock(&s->zero_mu);
        }
        if ((r = saver_put_blob(s, st->ctx, BLOB_DATA, p, n, &id, NULL)) != 0)
            return r;
        if (zero) {
            pthread_mutex_lock(&s->zero_mu);
            s->zero_len = n;
            s->zero_id = id;
            pthread_mutex_unlock(&s->zero_mu);
        }
    have_id:
        blob_list_push(st->ids, &id);
        st->start += n;
        st->nbytes += n;
    }
    return 0;
}

void
saver_stream_begin(struct saver_stream *st, struct saver *s, unsigned ctx, bool sparse,
                   struct blob_list *ids)
{
    struct saver_ctx *c = &s->ctx[ctx];
    memset(st, 0, sizeof(*st));
    st->s = s;
    st->ctx = ctx;
    st->sparse = sparse;
    st->ids = ids;
    if (!c->readbuf) {
        c->readcap = 2 * s->repo->chunker.max;
        c->readbuf = xmalloc(c->readcap);
    }
}

int
saver_stream_write(struct saver_stream *st, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        unsigned char *dst;
        size_t room, n;
        int r;
        stream_room(st, &dst, &room);
        n = len < room ? len : room;
        memcpy(dst, p, n);
        st->end += n;
        p += n;
        len -= n;
        atomic_fetch_add(&st->s->stats.bytes_read, n);
        if ((r = stream_emit(st, false)) != 0)
            return r;
    }
    return 0;
}

void
saver_stream_parallel(struct saver_stream *st, struct pool *pool)
{
    st->pool = pool;
    st->ids_base = st->ids->n;
}

int
saver_stream_end(struct saver_stream *st, uint64_t *nbytes)
{
    int r = stream_emit(st, true), rc = stream_collect(st);
    if (r == 0)
        r = rc;
    if (nbytes)
        *nbytes = st->nbytes;
    return r;
}

int
saver_put_fd(struct saver *s, unsigned ctx, int fd, bool sparse, const char *what,
             struct blob_list *ids, uint64_t *nbytes, bool *read_failed)
{
    struct saver_stream st;
    uint64_t pos = 0, size = 0;
    int r;

    *read_failed = false;
    *nbytes = 0;
    if (sparse) {
        struct stat sb;
        if (fstat(fd, &sb) != 0)
            sparse = false;
        else
            size = (uint64_t)sb.st_size;
    }
    saver_stream_begin(&st, s, ctx, sparse, ids);
    for (;;) {
        unsigned char *dst;
        size_t room, got;
        /* read straight into the chunk buffer: no copy */
        stream_room(&st, &dst, &room);
        if (sparse)
            r = sparse_read(fd, pos, size, dst, room, &got, what);
        else
            r = fs_read_full(fd, dst, room, &got, what);
        if (r) {
            *read_failed = true;
            return r;
        }
        st.end += got;
        pos += got;
        atomic_fetch_add(&s->stats.bytes_read, got);
        if (sig_interrupted())
            return drk_err_set(DRK_EINTR, "interrupted");
        if (got < room)
            break; /* end of file */
        if ((r = stream_emit(&st, false)) != 0)
            return r;
    }
    return saver_stream_end(&st, nbytes);
}

static void
stop_finisher(struct saver *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_running) {
        pthread_join(s->thread, NULL);
        s->thread_running = false;
    }
}

int
saver_finish(struct saver *s)
{
    int r = 0, r2;
    for (unsigned i = 0; i < s->nctx; i++) {
        r2 = hand_over(s, &s->ctx[i].pack);
        if (!r)
            r = r2;
    }
    r2 = hand_over(s, &s->tree_pack);
    if (!r)
        r = r2;
    stop_finisher(s);
    if (!r)
        r = check_finisher(s);
    if (!r)
        r = write_index_batch(s);
    if (!r)
        r = stor_sync(s->repo->stor);
    return r;
}

void
saver_abort(struct saver *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->error) {
        s->error = DRK_EINTR;
        drk_err_save(&s->error_detail);
    }
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->nctx; i++) {
        unclaim_pack(s, &s->ctx[i].pack);
        pack_writer_discard(&s->ctx[i].pack, s->repo->stor);
        pack_writer_release(&s->ctx[i].pack);
    }
    unclaim_pack(s, &s->tree_pack);
    pack_writer_discard(&s->tree_pack, s->repo->stor);
    pack_writer_release(&s->tree_pack);
    stop_finisher(s); /* the finisher unclaims what it discards from its queue */
}

void
saver_free(struct saver *s)
{
    if (!s)
        return;
    stop_finisher(s);
    for (unsigned i = 0; i < s->nctx; i++) {
        blob_codec_release(&s->ctx[i].codec);
        pack_writer_discard(&s->ctx[i].pack, s->repo->stor);
        pack_writer_release(&s->ctx[i].pack);
        free(s->ctx[i].readbuf);
    }
    pack_writer_discard(&s->tree_pack, s->repo->stor);
    pack_writer_release(&s->tree_pack);
    for (size_t i = 0; i < s->unindexed.n; i++)
        free(s->unindexed.v[i].entries);
    vec_free(&s->unindexed);
    free(s->ctx);
    pthread_mutex_destroy(&s->tree_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->zero_mu);
    pthread_mutex_destroy(&s->sealed_mu);
    pthread_cond_destroy(&s->sealed_cv);
    pthread_cond_destroy(&s->cond);
    free(s);
}
