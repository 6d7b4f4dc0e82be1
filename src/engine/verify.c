/* verify: read-and-check every blob of one snapshot. */
#include "engine/verify.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/idset.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/walk.h"
#include "util/err.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define BLOBS_PER_JOB 64

struct blob_ref {
    struct blob_id id;
    struct idx_loc loc;
};

struct collect {
    struct repo *repo;
    struct verify_report *rep;
    struct idset trees, blobs, bad;
    struct verify_progress *prog;
};

struct vjob {
    struct repo *repo;
    struct blob_ref *refs;
    size_t n;
    struct verify_shared *sh;
};

struct verify_shared {
    pthread_mutex_t mu;
    struct verify_report *rep;
    struct idset *bad;
    struct blob_codec *codecs;
    struct buf *bufs;
    struct verify_progress *prog;
};

void
verify_report_problem(struct verify_report *rep, const char *object, const char *message)
{
    struct check_item p = { xstrdup(object), xstrdup(message) };
    vec_push(&rep->problems, p);
}

void
verify_report_release(struct verify_report *rep)
{
    for (size_t i = 0; i < rep->problems.n; i++) {
        free(rep->problems.v[i].object);
        free(rep->problems.v[i].message);
    }
    vec_free(&rep->problems);
    for (size_t i = 0; i < rep->affected.n; i++)
        free(rep->affected.v[i]);
    vec_free(&rep->affected);
}

static bool
enter_tree(void *arg, const struct blob_id *id)
{
    struct collect *c = arg;
    if (!idset_add(&c->trees, id))
        return false;
    c->rep->trees++;
    return true;
}

static int
on_node(void *arg, const char *path, const struct node *n)
{
    struct collect *c = arg;
    (void)path;
    for (uint32_t i = 0; i < n->ncontent; i++)
        if (idset_add(&c->blobs, &n->content[i]))
            atomic_fetch_add(&c->prog->blobs_total, 1);
    return sig_interrupted() ? drk_err_set(DRK_EINTR, "interrupted") : 0;
}

static int
on_tree_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    struct collect *c = arg;
    char hex[ID_HEX_LEN + 1], obj[ID_HEX_LEN + 64];
    if (err == DRK_EIO || err == DRK_EINTR)
        return err;
    id_to_hex(tree, hex);
    snprintf(obj, sizeof(obj), "tree %.16s", hex);
    verify_report_problem(c->rep, obj, drk_err_msg());
    idset_add(&c->bad, tree);
    if (c->rep->affected.n < VERIFY_AFFECTED_KEPT)
        vec_push(&c->rep->affected,
                 xasprintf("%s%s (everything below)", path, strcmp(path, "/") ? "/" : ""));
    c->rep->affected_total++;
    atomic_fetch_add(&c->prog->errors, 1);
    return 0;
}

static int
cmp_ref(const void *pa, const void *pb)
{
    const struct blob_ref *a = pa, *b = pb;
    int c = memcmp(a->loc.pack.b, b->loc.pack.b, ID_LEN);
    if (c)
        return c;
    return a->loc.offset < b->loc.offset ? -1 : a->loc.offset > b->loc.offset;
}

static void
verify_job(void *arg, unsigned worker)
{
    struct vjob *j = arg;
    struct verify_shared *sh = j->sh;
    for (size_t i = 0; i < j->n && !sig_interrupted(); i++) {
        int r = blob_read_at(&sh->codecs[worker], j->repo, &j->refs[i].id, &j->refs[i].loc,
                             &sh->bufs[worker]);
        atomic_fetch_add(&sh->prog->blobs, 1);
        atomic_fetch_add(&sh->prog->bytes, j->refs[i].loc.raw_length);
        if (r) {
            char key[ID_HEX_LEN + 16];
            repo_pack_key(&j->refs[i].loc.pack, key);
            pthread_mutex_lock(&sh->mu);
            verify_report_problem(sh->rep, key, drk_err_msg());
            idset_add(sh->bad, &j->refs[i].id);
            pthread_mutex_unlock(&sh->mu);
            atomic_fetch_add(&sh->prog->errors, 1);
        }
    }
    free(j);
}

struct affected_ctx {
    const struct idset *bad;
    struct verify_report *rep;
};

static int
affected_node(void *arg, const char *path, const struct node *n)
{
    struct affected_ctx *a = arg;
    for (uint32_t i = 0; i < n->ncontent; i++) {
        if (idset_has(a->bad, &n->content[i])) {
            if (a->rep->affected.n < VERIFY_AFFECTED_KEPT)
                vec_push(&a->rep->affected, xstrdup(path));
            a->rep->affected_total++;
            break;
        }
    }
    return 0;
}

static int
affected_tree_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    (void)arg;
    (void)path;
    (void)tree;
    return err == DRK_EIO || err == DRK_EINTR ? err : 0; /* already reported */
}

int
verify_find_affected(struct repo *repo, const struct blob_id *root, const char *root_path,
                     const struct idset *bad, struct verify_report *rep)
{
    struct affected_ctx a = { bad, rep };
    struct walk_ops ops = { affected_node, affected_tree_error, NULL };
    struct blob_codec codec;
    int r;
    blob_codec_init(&codec);
    r = repo_walk(repo, &codec, root, root_path, &ops, &a);
    blob_codec_release(&codec);
    return r;
}

int
verify_snapshot(struct repo *repo, const struct snapshot *snap, unsigned threads,
                struct verify_progress *prog, struct verify_report *rep)
{
    struct collect c;
    struct walk_ops ops = { on_node, on_tree_error, enter_tree };
    struct blob_codec codec;
    struct blob_ref *refs = NULL;
    size_t nrefs = 0, pos = 0;
    struct blob_id id;
    struct verify_shared sh;
    struct pool *pool;
    int r;

    struct blob_id roots[SNAP_MAX_ROOTS];
    const char *names[SNAP_MAX_ROOTS];
    size_t nroots = snap_roots(snap, roots, names);

    memset(rep, 0, sizeof(*rep));
    if (nroots == 0)
        return 0;
    if ((r = repo_load_index(repo)) != 0)
        return r;
    memset(&c, 0, sizeof(c));
    c.repo = repo;
    c.rep = rep;
    c.prog = prog;
    idset_init(&c.trees);
    idset_init(&c.blobs);
    idset_init(&c.bad);
    blob_codec_init(&codec);
    r = 0;
    for (size_t k = 0; k < nroots && r == 0; k++)
        r = repo_walk(repo, &codec, &roots[k], names[k], &ops, &c);
    blob_codec_release(&codec);
    if (r)
        goto out;

    refs = xcalloc(c.blobs.n ? c.blobs.n : 1, sizeof(*refs));
    while (idset_next(&c.blobs, &pos, &id)) {
        struct idx_loc loc;
        if (idx_lookup(repo->idx, &id, &loc) != 0) {
            char hex[ID_HEX_LEN + 1], msg[160];
            id_to_hex(&id, hex);
            snprintf(msg, sizeof(msg), "blob %.16s is missing: no index entry names it", hex);
            verify_report_problem(rep, "index", msg);
            idset_add(&c.bad, &id);
            atomic_fetch_add(&prog->errors, 1);
            continue;
        }
        refs[nrefs].id = id;
        refs[nrefs].loc = loc;
        atomic_fetch_add(&prog->bytes_total, loc.raw_length);
        nrefs++;
    }
    qsort(refs, nrefs, sizeof(*refs), cmp_ref);

    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.mu, NULL);
    sh.rep = rep;
    sh.bad = &c.bad;
    sh.prog = prog;
    sh.codecs = xcalloc(threads, sizeof(*sh.codecs));
    sh.bufs = xcalloc(threads, sizeof(*sh.bufs));
    for (unsigned i = 0; i < threads; i++) {
        blob_codec_init(&sh.codecs[i]);
        buf_init(&sh.bufs[i], 0);
    }
    pool = pool_new(threads, threads * 4);
    for (size_t i = 0; i < nrefs; i += BLOBS_PER_JOB) {
        struct vjob *j = xcalloc(1, sizeof(*j));
        j->repo = repo;
        j->refs = refs + i;
        j->n = nrefs - i < BLOBS_PER_JOB ? nrefs - i : BLOBS_PER_JOB;
        j->sh = &sh;
        pool_add(pool, verify_job, j);
    }
    pool_wait(pool);
    pool_free(pool);
    for (unsigned i = 0; i < threads; i++) {
        blob_codec_release(&sh.codecs[i]);
        buf_release(&sh.bufs[i]);
    }
    free(sh.codecs);
    free(sh.bufs);
    pthread_mutex_destroy(&sh.mu);
    rep->blobs = nrefs;
    rep->bytes = atomic_load(&prog->bytes);
    if (sig_interrupted()) {
        r = drk_err_set(DRK_EINTR, "interrupted");
        goto out;
    }
    for (size_t k = 0; k < nroots && c.bad.n && r == 0; k++)
        r = verify_find_affected(repo, &roots[k], names[k], &c.bad, rep);
out:
    free(refs);
    idset_release(&c.trees);
    idset_release(&c.blobs);
    idset_release(&c.bad);
    return r;
}
