/* check: repository structure and (optionally) data verification. */
#include "repo/check.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mac.h"
#include "repo/blob.h"
#include "repo/idset.h"
#include "repo/index.h"
#include "repo/key.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/walk.h"
#include "util/err.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct listed {
    char *name;
    uint64_t size;
};

struct listing {
    VEC(struct listed) v;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    struct listing *l = arg;
    struct listed e = { xstrdup(name), size };
    vec_push(&l->v, e);
    return 0;
}

static void
listing_release(struct listing *l)
{
    for (size_t i = 0; i < l->v.n; i++)
        free(l->v.v[i].name);
    vec_free(&l->v);
}

struct checker {
    struct repo *repo;
    const struct check_opts *o;
    struct check_progress *prog;
    struct check_report *rep;
    pthread_mutex_t mu;
    struct idset trees;    /* trees seen */
    struct idset missing;  /* blobs needed but not indexed (reported once) */
    struct idset bad;      /* blobs that are missing or damaged */
    const char *snap_name; /* snapshot being walked */
};

static void note(struct check_report *rep, const char *object, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct check_report *rep, const char *object, const char *fmt, ...)
{
    struct check_item it;
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    it.object = xstrdup(object);
    it.message = xstrdup(msg);
    vec_push(&rep->notes, it);
}

static void
problem(struct checker *c, const char *object, const char *msg)
{
    struct check_item it = { xstrdup(object), xstrdup(msg) };
    pthread_mutex_lock(&c->mu);
    vec_push(&c->rep->problems, it);
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_add(&c->prog->errors, 1);
}

static void
check_keys(struct checker *c)
{
    struct listing l = { VEC_INIT };
    struct buf raw = BUF_INIT;
    if (stor_list(c->repo->stor, "keys", collect, &l) != 0) {
        problem(c, "keys", drk_err_msg());
        return;
    }
    for (size_t i = 0; i < l.v.n; i++) {
        char key[300], hex[ID_HEX_LEN + 1];
        unsigned char hash[SHA256_LEN], salt[16], *wrapped = NULL;
        size_t wl;
        uint64_t ops, mem;
        snprintf(key, sizeof(key), "keys/%s", l.v.v[i].name);
        c->rep->keys++;
        if (stor_get(c->repo->stor, key, &raw, SMALL_FILE_MAX) != 0) {
            problem(c, key, drk_err_msg());
            continue;
        }
        sha256(raw.data, raw.len, hash);
        hex_encode(hex, hash, sizeof(hash));
        if (strcmp(hex, l.v.v[i].name) != 0)
            problem(c, key, "key file is damaged: its content does not match its name");
        else if (key_parse(raw.data, raw.len, &ops, &mem, salt, &wrapped, &wl) != 0)
            problem(c, key, drk_err_msg());
        free(wrapped);
    }
    buf_release(&raw);
    listing_release(&l);
}

static int
cmp_listed(const void *pa, const void *pb)
{
    return strcmp(((const struct listed *)pa)->name, ((const struct listed *)pb)->name);
}

static const struct listed *
find_listed(const struct listing *l, const char *name)
{
    struct listed key = { (char *)name, 0 };
    if (l->v.n == 0) /* v.v may be NULL, which bsearch must not get */
        return NULL;
    return bsearch(&key, l->v.v, l->v.n, sizeof(*l->v.v), cmp_listed);
}

/* Packs: present with the recorded size; unindexed ones noted. Fills missing_packs. */
static void
check_packs(struct checker *c, struct listing *data, struct idset *missing_packs)
{
    struct idset indexed;
    size_t npacks = idx_pack_count(c->repo->idx);
    idset_init(&indexed);
    if (data->v.n > 1) /* an empty repository: v.v is NULL, which qsort must not get */
        qsort(data->v.v, data->v.n, sizeof(*data->v.v), cmp_listed);
    for (size_t i = 0; i < npacks; i++) {
        struct blob_id id;
        uint64_t size;
        char key[ID_HEX_LEN + 16];
        const struct listed *found;
        idx_pack_at(c->repo->idx, i, &id, &size);
        idset_add(&indexed, &id);
        repo_pack_key(&id, key);
        found = find_listed(data, key + 5); /* listing names are "xx/<id>" */
        c->rep->packs++;
        if (!found) {
            problem(c, key, "pack is missing: the index names it but it is not there");
            idset_add(missing_packs, &id);
        } else if (found->size != size) {
            char msg[200];
            snprintf(msg, sizeof(msg), "pack has %llu bytes, the index recorded %llu",
                     (unsigned long long)found->size, (unsigned long long)size);
            problem(c, key, msg);
            idset_add(missing_packs, &id);
        }
    }
    for (size_t i = 0; i < data->v.n; i++) {
        const char *name = data->v.v[i].name, *slash = strchr(name, '/');
        struct blob_id id;
        char key[300];
        snprintf(key, sizeof(key), "data/%s", name);
        if (!slash || id_from_hex(&id, slash + 1) != 0 || strncmp(name, slash + 1, 2) != 0 ||
            slash - name != 2) {
            problem(c, key, "unexpected file among the packs");
            continue;
        }
        if (!idset_has(&indexed, &id)) {
            c->rep->unindexed_packs++;
            c->rep->unindexed_bytes += data->v.v[i].size;
        }
    }
    idset_release(&indexed);
}

static bool
walk_enter(void *arg, const struct blob_id *id)
{
    struct checker *c = arg;
    if (!idset_add(&c->trees, id))
        return false;
    c->rep->trees++;
    return true;
}

static int
walk_node(void *arg, const char *path, const struct node *n)
{
    struct checker *c = arg;
    (void)path;
    for (uint32_t i = 0; i < n->ncontent; i++) {
        if (idset_has(&c->missing, &n->content[i]))
            continue;
        if (!idx_has(c->repo->idx, &n->content[i])) {
            char hex[ID_HEX_LEN + 1], msg[256];
            idset_add(&c->missing, &n->content[i]);
            idset_add(&c->bad, &n->content[i]);
            id_to_hex(&n->content[i], hex);
            snprintf(msg, sizeof(msg), "blob %.16s needed by snapshot '%s' is in no index", hex,
                     c->snap_name);
            problem(c, "index", msg);
        }
    }
    return sig_interrupted() ? drk_err_set(DRK_EINTR, "interrupted") : 0;
}

static int
walk_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    struct checker *c = arg;
    char hex[ID_HEX_LEN + 1], obj[128], msg[DRK_ERR_MSG_MAX + 128];
    if (err == DRK_EIO || err == DRK_EINTR)
        return err;
    id_to_hex(tree, hex);
    snprintf(obj, sizeof(obj), "tree %.16s", hex);
    snprintf(msg, sizeof(msg), "%s (snapshot '%s', directory '%s')", drk_err_msg(), c->snap_name,
             path);
    problem(c, obj, msg);
    if (c->rep->affected.n < CHECK_AFFECTED_KEPT)
        vec_push(&c->rep->affected, xasprintf("%s: %s%s (everything below)", c->snap_name, path,
                                              strcmp(path, "/") ? "/" : ""));
    c->rep->affected_total++;
    return 0;
}

struct pack_shared {
    struct blob_codec *codecs;
    struct buf *bufs;
};

struct pack_job {
    struct checker *c;
    struct pack_shared *sh;
    struct blob_id id;
};

struct pack_entries {
    const struct blob_id *pack;
    VEC(struct pack_entry) v;
};

static int
entries_of_pack(void *arg, const struct blob_id *id, const struct idx_loc *loc)
{
    struct pack_entries *pe = arg;
    if (!memcmp(loc->pack.b, pe->pack->b, ID_LEN)) {
        struct pack_entry e = { loc->type, loc->offset, loc->length, loc->raw_length, *id };
        vec_push(&pe->v, e);
    }
    return 0;
}

/* Read one pack whole: hash, header against the index, every blob. */
static void
read_pack_job(void *arg, unsigned worker)
{
    struct pack_job *j = arg;
    struct checker *c = j->c;
    struct buf raw = BUF_INIT;
    unsigned char hash[SHA256_LEN];
    char key[ID_HEX_LEN + 16];
    struct pack_entry *entries = NULL;
    struct pack_entries from_index = { &j->id, VEC_INIT };
    size_t n = 0;

    repo_pack_key(&j->id, key);
    if (sig_interrupted())
        goto out;
    if (stor_get(c->repo->stor, key, &raw, PACK_MAX_SIZE) != 0) {
        problem(c, key, drk_err_msg());
        goto out;
    }
    atomic_fetch_add(&c->prog->bytes, raw.len);
    sha256(raw.data, raw.len, hash);
    if (memcmp(hash, j->id.b, ID_LEN) != 0)
        problem(c, key, "pack is damaged: its content does not match its name");
    if (pack_parse(raw.data, raw.len, repo_enc_key(c->repo), &entries, &n, key) != 0) {
        /* the header is unreadable: check the blobs where the index says they are */
        problem(c, key, drk_err_msg());
        pthread_mutex_lock(&c->mu);
        idx_foreach_blob(c->repo->idx, entries_of_pack, &from_index);
        pthread_mutex_unlock(&c->mu);
        entries = from_index.v.v;
        n = from_index.v.n;
        from_index.v.v = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct idx_loc loc;
        int r;
        if (idx_lookup(c->repo->idx, &entries[i].id, &loc) == 0 &&
            !memcmp(loc.pack.b, j->id.b, ID_LEN) &&
            (loc.offset != entries[i].offset || loc.length != entries[i].length))
            problem(c, key, "pack header and index disagree about a blob's place");
        if ((uint64_t)entries[i].offset + entries[i].length > raw.len)
            r = drk_err_set(DRK_ECORRUPT, "a blob lies beyond the end of pack '%s'", key);
        else
            r = blob_open(&j->sh->codecs[worker], c->repo, entries[i].type, &entries[i].id,
                          raw.data + entries[i].offset, entries[i].length, entries[i].raw_length,
                          &j->sh->bufs[worker], key);
        if (r) {
            problem(c, key, drk_err_msg());
            pthread_mutex_lock(&c->mu);
            idset_add(&c->bad, &entries[i].id);
            pthread_mutex_unlock(&c->mu);
        }
    }
out:
    free(entries);
    vec_free(&from_index.v);
    buf_release(&raw);
    atomic_fetch_add(&c->prog->packs, 1);
    free(j);
}

struct mark_ctx {
    struct checker *c;
    const struct idset *packs;
};

static int
mark_blobs_in(void *arg, const struct blob_id *id, const struct idx_loc *loc)
{
    struct mark_ctx *m = arg;
    if (idset_has(m->packs, &loc->pack))
        idset_add(&m->c->bad, id);
    return 0;
}

static int
affected_node(void *arg, const char *path, const struct node *n)
{
    struct checker *c = arg;
    for (uint32_t i = 0; i < n->ncontent; i++) {
        if (idset_has(&c->bad, &n->content[i])) {
            if (c->rep->affected.n < CHECK_AFFECTED_KEPT)
                vec_push(&c->rep->affected, xasprintf("%s: %s", c->snap_name, path));
            c->rep->affected_total++;
            break;
        }
    }
    return 0;
}

static int
quiet_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    (void)arg;
    (void)path;
    (void)tree;
    return err == DRK_EIO || err == DRK_EINTR ? err : 0;
}

int
repo_check(struct repo *repo, const struct check_opts *o, struct check_progress *prog,
           struct check_report *rep)
{
    struct checker c;
    struct listing data = { VEC_INIT }, tmp = { VEC_INIT };
    struct snap_list snaps;
    struct idset missing_packs;
    const struct idx_damaged *dmg;
    struct blob_codec codec;
    size_t ndmg;
    int r;

    memset(rep, 0, sizeof(*rep));
    memset(&c, 0, sizeof(c));
    c.repo = repo;
    c.o = o;
    c.prog = prog;
    c.rep = rep;
    pthread_mutex_init(&c.mu, NULL);
    idset_init(&c.trees);
    idset_init(&c.missing);
    idset_init(&c.bad);
    idset_init(&missing_packs);
    snap_list_init(&snaps);
    blob_codec_init(&codec);

    check_keys(&c);
    if ((r = repo_load_index(repo)) != 0)
        goto out;
    rep->index_files = idx_file_count(repo->idx);
    ndmg = idx_damaged(repo->idx, &dmg);
    for (size_t i = 0; i < ndmg; i++) {
        char obj[300];
        snprintf(obj, sizeof(obj), "index/%s", dmg[i].file);
        problem(&c, obj, dmg[i].message);
    }
    rep->blobs = idx_blob_count(repo->idx);
    if ((r = stor_list(repo->stor, "data", collect, &data)) != 0)
        goto out;
    check_packs(&c, &data, &missing_packs);
    if (rep->unindexed_packs)
        note(rep, "data",
             "%llu pack(s), %llu bytes, are named by no index (left by an interrupted backup, "
             "or written by one still running); prune removes them",
             (unsigned long long)rep->unindexed_packs, (unsigned long long)rep->unindexed_bytes);
    if (stor_list(repo->stor, "tmp", collect, &tmp) == 0 && tmp.v.n) {
        rep->staging_files = tmp.v.n;
        note(rep, "tmp", "%zu staging file(s) of interrupted backups", tmp.v.n);
    }

    if ((r = snap_list_load(repo, &snaps)) != 0)
        goto out;
    for (size_t i = 0; i < snaps.damaged.n; i++) {
        char obj[300];
        snprintf(obj, sizeof(obj), "snapshots/%s", snaps.damaged.v[i].id);
        problem(&c, obj, snaps.damaged.v[i].message);
    }
    rep->snapshots = snaps.items.n;
    atomic_store(&prog->phase, 1);
    for (size_t i = 0; i < snaps.items.n; i++) {
        struct walk_ops ops = { walk_node, walk_error, walk_enter };
        struct blob_id roots[SNAP_MAX_ROOTS];
        const char *names[SNAP_MAX_ROOTS];
        size_t nr = snap_roots(&snaps.items.v[i], roots, names);
        c.snap_name = snaps.items.v[i].name;
        for (size_t k = 0; k < nr; k++)
            if ((r = repo_walk(repo, &codec, &roots[k], names[k], &ops, &c)) != 0)
                goto out;
    }

    if (o->read_data) {
        unsigned threads = o->threads ? o->threads : 1;
        struct pack_shared sh;
        struct pool *pool;
        size_t npacks = idx_pack_count(repo->idx);
        atomic_store(&prog->phase, 2);
        sh.codecs = xcalloc(threads, sizeof(*sh.codecs));
        sh.bufs = xcalloc(threads, sizeof(*sh.bufs));
        for (unsigned t = 0; t < threads; t++) {
            blob_codec_init(&sh.codecs[t]);
            buf_init(&sh.bufs[t], 0);
        }
        for (size_t i = 0; i < npacks; i++) {
            struct blob_id id;
            uint64_t size;
            idx_pack_at(repo->idx, i, &id, &size);
            if (!idset_has(&missing_packs, &id)) {
                atomic_fetch_add(&prog->packs_total, 1);
                atomic_fetch_add(&prog->bytes_total, size);
            }
        }
        pool = pool_new(threads, threads * 2);
        for (size_t i = 0; i < npacks && !sig_interrupted(); i++) {
            struct pack_job *j = xcalloc(1, sizeof(*j));
            uint64_t size;
            idx_pack_at(repo->idx, i, &j->id, &size);
            if (idset_has(&missing_packs, &j->id)) {
                free(j);
                continue;
            }
            j->c = &c;
            j->sh = &sh;
            pool_add(pool, read_pack_job, j);
        }
        pool_wait(pool);
        pool_free(pool);
        for (unsigned t = 0; t < threads; t++) {
            blob_codec_release(&sh.codecs[t]);
            buf_release(&sh.bufs[t]);
        }
        free(sh.codecs);
        free(sh.bufs);
        if (sig_interrupted()) {
            r = drk_err_set(DRK_EINTR, "interrupted");
            goto out;
        }
    }

    /* Blobs in missing packs are lost too; then name the files that need lost blobs. */
    if (missing_packs.n) {
        struct mark_ctx m = { &c, &missing_packs };
        idx_foreach_blob(repo->idx, mark_blobs_in, &m);
    }
    if (c.bad.n) {
        for (size_t i = 0; i < snaps.items.n; i++) {
            struct walk_ops ops = { affected_node, quiet_error, NULL };
            struct blob_id roots[SNAP_MAX_ROOTS];
            const char *names[SNAP_MAX_ROOTS];
            size_t nr = snap_roots(&snaps.items.v[i], roots, names);
            c.snap_name = snaps.items.v[i].name;
            for (size_t k = 0; k < nr; k++)
                if ((r = repo_walk(repo, &codec, &roots[k], names[k], &ops, &c)) != 0)
                    goto out;
        }
    }
    r = 0;
out:
    listing_release(&data);
    listing_release(&tmp);
    snap_list_release(&snaps);
    blob_codec_release(&codec);
    idset_release(&c.trees);
    idset_release(&c.missing);
    idset_release(&c.bad);
    idset_release(&missing_packs);
    pthread_mutex_destroy(&c.mu);
    return r;
}

void
check_report_release(struct check_report *rep)
{
    for (size_t i = 0; i < rep->problems.n; i++) {
        free(rep->problems.v[i].object);
        free(rep->problems.v[i].message);
    }
    vec_free(&rep->problems);
    for (size_t i = 0; i < rep->notes.n; i++) {
        free(rep->notes.v[i].object);
        free(rep->notes.v[i].message);
    }
    vec_free(&rep->notes);
    for (size_t i = 0; i < rep->affected.n; i++)
        free(rep->affected.v[i]);
    vec_free(&rep->affected);
}
