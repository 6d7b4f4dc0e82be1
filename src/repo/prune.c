/* prune: garbage collection of packs (see prune.h). */
#include "repo/prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/idset.h"
#include "repo/index.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "repo/snapshot.h"
#include "repo/walk.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sig.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define INDEX_PACKS_PER_FILE 1000

enum pack_fate { FATE_KEEP, FATE_DELETE, FATE_REPACK };

struct ppack {
    struct idx_pack_rec rec; /* entries point into an idx_file */
    bool *used;              /* per entry: the copy of an in-use blob that stays */
    uint64_t used_bytes, unused_bytes;
    bool present; /* in data/ */
    enum pack_fate fate;
};

struct name_size {
    char *name;
    uint64_t size;
};

struct pruner {
    struct repo *repo;
    const struct prune_opts *o;
    struct prune_progress *prog;
    struct prune_stats *st;
    struct idset used;  /* blobs the snapshots need */
    struct idset trees; /* trees walked */
    VEC(struct idx_file) files;
    VEC(char *) file_ids;
    VEC(struct ppack) packs;
    VEC(struct name_size) listed; /* data/ */
    VEC(struct idx_pack_rec) written;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    VEC(struct name_size) *v = arg;
    struct name_size e = { xstrdup(name), size };
    vec_push(v, e);
    return 0;
}

static void
free_listing(void *arg)
{
    VEC(struct name_size) *v = arg;
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i].name);
    vec_free(v);
}

static bool
walk_enter(void *arg, const struct blob_id *id)
{
    struct pruner *p = arg;
    if (!idset_add(&p->trees, id))
        return false;
    idset_add(&p->used, id);
    return true;
}

static int
walk_node(void *arg, const char *path, const struct node *n)
{
    struct pruner *p = arg;
    (void)path;
    for (uint32_t i = 0; i < n->ncontent; i++)
        idset_add(&p->used, &n->content[i]);
    return sig_interrupted() ? drk_err_set(DRK_EINTR, "interrupted") : 0;
}

static int
walk_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    (void)arg;
    (void)tree;
    return drk_err_wrap(err == DRK_EIO || err == DRK_EINTR ? err : DRK_ECORRUPT,
                        "cannot read the tree of '%s', so prune cannot know what is in use; "
                        "nothing was deleted",
                        path);
}

/* Every blob the snapshots need. */
static int
find_used(struct pruner *p)
{
    struct snap_list list;
    struct walk_ops ops = { walk_node, walk_error, walk_enter };
    struct blob_codec codec;
    int r;

    snap_list_init(&list);
    if ((r = snap_list_load(p->repo, &list)) != 0)
        goto out;
    if (list.damaged.n) {
        r = drk_err_set(DRK_ECORRUPT,
                        "snapshot file '%s' is damaged: prune cannot know what it "
                        "needs; nothing was deleted",
                        list.damaged.v[0].id);
        drk_err_hint("run 'drkit backup check'; delete the damaged snapshot if it is lost");
        goto out;
    }
    blob_codec_init(&codec);
    for (size_t i = 0; i < list.items.n && r == 0; i++) {
        bool forgotten = false;
        for (size_t k = 0; k < p->o->nforget && !forgotten; k++)
            forgotten = !strcmp(p->o->forget_ids[k], list.items.v[i].id);
        struct blob_id roots[SNAP_MAX_ROOTS];
        const char *names[SNAP_MAX_ROOTS];
        size_t nr = forgotten ? 0 : snap_roots(&list.items.v[i], roots, names);
        for (size_t k = 0; k < nr && r == 0; k++)
            r = repo_walk(p->repo, &codec, &roots[k], names[k], &ops, p);
    }
    blob_codec_release(&codec);
    p->st->snapshots = list.items.n;
out:
    snap_list_release(&list);
    return r;
}

static int
read_index_files(struct pruner *p)
{
    VEC(struct name_size) names = VEC_INIT;
    struct buf plain = BUF_INIT;
    int r;

    if ((r = stor_list(p->repo->stor, "index", collect, &names)) != 0)
        goto out;
    for (size_t i = 0; i < names.n; i++) {
        struct idx_file f;
        if ((r = sealed_load(p->repo, "index", names.v[i].name, OBJ_INDEX, &plain)) == 0)
            r = idx_parse_file(&f, plain.data, plain.len, names.v[i].name);
        if (r) {
            drk_err_wrap(r == DRK_EIO ? r : DRK_ECORRUPT,
                         "index file '%s' cannot be read, so prune cannot know what packs hold; "
                         "nothing was deleted",
                         names.v[i].name);
            r = r == DRK_EIO ? r : DRK_ECORRUPT;
            goto out;
        }
        vec_push(&p->files, f);
        vec_push(&p->file_ids, xstrdup(names.v[i].name));
    }
    p->st->index_before = p->files.n;
out:
    free_listing(&names);
    buf_release(&plain);
    return r;
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct name_size *)a)->name, ((const struct name_size *)b)->name);
}

/* Decide the fate of every pack. */
static int
plan(struct pruner *p)
{
    struct idset seen_packs, assigned;
    int r = 0;

    idset_init(&seen_packs);
    idset_init(&assigned);
    for (size_t f = 0; f < p->files.n; f++) {
        for (size_t k = 0; k < p->files.v[f].npacks; k++) {
            struct ppack pp;
            memset(&pp, 0, sizeof(pp));
            pp.rec = p->files.v[f].packs[k];
            if (!idset_add(&seen_packs, &pp.rec.id))
                continue; /* the same pack in two index files (a crashed prune) */
            pp.used = xcalloc(pp.rec.n ? pp.rec.n : 1, sizeof(*pp.used));
            vec_push(&p->packs, pp);
        }
    }
    if (p->listed.n > 1) /* listed.v is NULL when empty, which qsort must not get */
        qsort(p->listed.v, p->listed.n, sizeof(*p->listed.v), cmp_name);
    for (size_t i = 0; i < p->packs.n; i++) {
        struct ppack *pp = &p->packs.v[i];
        char key[ID_HEX_LEN + 16];
        struct name_size probe, *hit;
        repo_pack_key(&pp->rec.id, key);
        probe.name = key + 5;
        hit = p->listed.n
                  ? bsearch(&probe, p->listed.v, p->listed.n, sizeof(*p->listed.v), cmp_name)
                  : NULL;
        pp->present = hit && hit->size == pp->rec.size;
        for (size_t e = 0; e < pp->rec.n; e++) {
            const struct pack_entry *en = &pp->rec.entries[e];
            if (pp->present && idset_has(&p->used, &en->id) && idset_add(&assigned, &en->id)) {
                pp->used[e] = true;
                pp->used_bytes += en->length;
                p->st->blobs_used++;
            } else {
                pp->unused_bytes += en->length;
                p->st->blobs_unused++;
            }
        }
    }
    /* every blob in use must live in a pack that is there */
    if (assigned.n != p->used.n) {
        size_t pos = 0;
        struct blob_id id;
        char hex[ID_HEX_LEN + 1] = "";
        while (idset_next(&p->used, &pos, &id)) {
            if (!idset_has(&assigned, &id)) {
                id_to_hex(&id, hex);
                break;
            }
        }
        r = drk_err_set(DRK_ECORRUPT,
                        "%zu blob(s) in use (e.g. %.16s) are in no pack that is "
                        "there; nothing was deleted",
                        p->used.n - assigned.n, hex);
        drk_err_hint("run 'drkit backup check' to see which snapshots are affected");
        goto out;
    }
    for (size_t i = 0; i < p->packs.n; i++) {
        struct ppack *pp = &p->packs.v[i];
        uint64_t all = pp->used_bytes + pp->unused_bytes;
        if (!pp->present)
            pp->fate = FATE_DELETE; /* drop from the index: nothing in it is needed */
        else if (pp->used_bytes == 0)
            pp->fate = FATE_DELETE;
        else if (pp->unused_bytes == 0)
            pp->fate = FATE_KEEP;
        else if (pp->unused_bytes * 100 >= (uint64_t)p->o->repack_threshold * all)
            pp->fate = FATE_REPACK;
        else
            pp->fate = FATE_KEEP;
        if (pp->fate == FATE_KEEP) {
            p->st->packs_kept++;
            p->st->unused_bytes_kept += pp->unused_bytes;
        } else if (pp->fate == FATE_REPACK) {
            p->st->packs_repacked++;
        } else if (pp->present) {
            p->st->packs_deleted++;
            p->st->bytes_deleted += pp->rec.size;
        }
        if (pp->fate == FATE_REPACK) {
            atomic_fetch_add(&p->prog->packs_total, 1);
            atomic_fetch_add(&p->prog->bytes_total, pp->used_bytes);
            p->st->bytes_deleted += pp->rec.size;
        }
    }
    /* packs no index names */
    for (size_t i = 0; i < p->listed.n; i++) {
        const char *slash = strchr(p->listed.v[i].name, '/');
        struct blob_id id;
        if (!slash || id_from_hex(&id, slash + 1) != 0 || idset_has(&seen_packs, &id))
            continue;
        p->st->packs_unindexed++;
        p->st->bytes_deleted += p->listed.v[i].size;
    }
out:
    idset_release(&seen_packs);
    idset_release(&assigned);
    return r;
}

static int
finish_pack(struct pruner *p, struct pack_writer *pw)
{
    struct idx_pack_rec rec;
    int r;
    if (!pw->active)
        return 0;
    if ((r = pack_writer_finish(pw, repo_enc_key(p->repo), &rec.id)) != 0)
        return r;
    rec.size = pw->size;
    rec.n = pw->entries.n;
    rec.entries = xmemdup(pw->entries.v, pw->entries.n * sizeof(*pw->entries.v));
    if ((r = pack_writer_commit(pw, p->repo->stor, &rec.id)) != 0) {
        free(rec.entries);
        return r;
    }
    pack_writer_release(pw);
    p->st->packs_written++;
    p->st->bytes_written += rec.size;
    vec_push(&p->written, rec);
    return 0;
}

/* Copy the blobs in use out of the packs to rewrite, verifying each. */
static int
repack(struct pruner *p)
{
    struct pack_writer w[2]; /* data, tree */
    struct blob_codec codec;
    struct buf sealed = BUF_INIT, plain = BUF_INIT;
    char key[ID_HEX_LEN + 16];
    int r = 0;

    pack_writer_init(&w[0]);
    pack_writer_init(&w[1]);
    blob_codec_init(&codec);
    for (size_t i = 0; i < p->packs.n && r == 0; i++) {
        struct ppack *pp = &p->packs.v[i];
        if (pp->fate != FATE_REPACK)
            continue;
        repo_pack_key(&pp->rec.id, key);
        for (size_t e = 0; e < pp->rec.n && r == 0; e++) {
            const struct pack_entry *en = &pp->rec.entries[e];
            struct pack_writer *pw = &w[en->type == BLOB_TREE];
            unsigned char *dst;
            if (!pp->used[e])
                continue;
            if (sig_interrupted()) {
                r = drk_err_set(DRK_EINTR, "interrupted");
                break;
            }
            buf_reset(&sealed);
            if ((dst = buf_reserve(&sealed, en->length)) == NULL) {
                r = drk_err_code();
                break;
            }
            if ((r = stor_get_range(p->repo->stor, key, en->offset, en->length, dst)) != 0)
                break;
            buf_setlen(&sealed, en->length);
            /* never carry damage over into a new pack */
            if ((r = blob_open(&codec, p->repo, en->type, &en->id, sealed.data, sealed.len,
                               en->raw_length, &plain, key)) != 0) {
                drk_err_wrap(r, "prune stopped before deleting anything");
                break;
            }
            if (!pw->active && (r = pack_writer_begin(pw, p->repo->stor)) != 0)
                break;
            if ((r = pack_writer_add(pw, en->type, &en->id, sealed.data, sealed.len,
                                     en->raw_length)) != 0)
                break;
            p->st->blobs_repacked++;
            atomic_fetch_add(&p->prog->bytes, en->length);
            if (pw->size >= p->repo->pack_size)
                r = finish_pack(p, pw);
        }
        atomic_fetch_add(&p->prog->packs, 1);
    }
    if (r == 0)
        r = finish_pack(p, &w[0]);
    if (r == 0)
        r = finish_pack(p, &w[1]);
    for (int k = 0; k < 2; k++) {
        pack_writer_discard(&w[k], p->repo->stor);
        pack_writer_release(&w[k]);
    }
    blob_codec_release(&codec);
    buf_release(&sealed);
    buf_release(&plain);
    return r;
}

/* The new index: every kept pack and every new one, naming the files it replaces. */
static int
write_index(struct pruner *p)
{
    VEC(struct idx_pack_rec) recs = VEC_INIT;
    struct blob_id *sup = xcalloc(p->file_ids.n ? p->file_ids.n : 1, sizeof(*sup));
    struct buf plain = BUF_INIT;
    int r = 0;

    for (size_t i = 0; i < p->file_ids.n; i++)
        id_from_hex(&sup[i], p->file_ids.v[i]);
    for (size_t i = 0; i < p->packs.n; i++)
        if (p->packs.v[i].fate == FATE_KEEP)
            vec_push(&recs, p->packs.v[i].rec);
    for (size_t i = 0; i < p->written.n; i++)
        vec_push(&recs, p->written.v[i]);
    if ((r = stor_sync(p->repo->stor)) != 0) /* the new packs first */
        goto out;
    for (size_t i = 0; i < recs.n || (i == 0 && recs.n == 0); i += INDEX_PACKS_PER_FILE) {
        size_t n = recs.n - i < INDEX_PACKS_PER_FILE ? recs.n - i : INDEX_PACKS_PER_FILE;
        char id[ID_HEX_LEN + 1];
        if (n == 0)
            break; /* an empty repository needs no index file */
        if ((r = idx_encode(&plain, recs.v + i, n, sup, p->file_ids.n)) != 0)
            goto out;
        if ((r = sealed_save(p->repo, "index", OBJ_INDEX, plain.data, plain.len, id)) != 0)
            goto out;
        p->st->index_after++;
    }
out:
    vec_free(&recs);
    free(sup);
    buf_release(&plain);
    return r;
}

static int
delete_key(struct pruner *p, const char *key)
{
    int r = stor_del(p->repo->stor, key);
    if (r == DRK_ENOTFOUND)
        r = 0;
    return r;
}

static int
delete_old(struct pruner *p)
{
    char key[ID_HEX_LEN + 64];
    struct idset indexed;
    int r = 0;

    atomic_store(&p->prog->phase, 3);
    /* old index files before any pack: no index may name a deleted pack */
    for (size_t i = 0; i < p->file_ids.n && r == 0; i++) {
        snprintf(key, sizeof(key), "index/%s", p->file_ids.v[i]);
        r = delete_key(p, key);
    }
    idset_init(&indexed);
    for (size_t i = 0; i < p->packs.n && r == 0; i++) {
        struct ppack *pp = &p->packs.v[i];
        idset_add(&indexed, &pp->rec.id);
        if (pp->fate == FATE_KEEP || !pp->present)
            continue;
        repo_pack_key(&pp->rec.id, key);
        r = delete_key(p, key);
    }
    for (size_t i = 0; i < p->written.n; i++)
        idset_add(&indexed, &p->written.v[i].id);
    for (size_t i = 0; i < p->listed.n && r == 0; i++) {
        const char *slash = strchr(p->listed.v[i].name, '/');
        struct blob_id id;
        if (!slash || id_from_hex(&id, slash + 1) != 0 || idset_has(&indexed, &id))
            continue;
        snprintf(key, sizeof(key), "data/%s", p->listed.v[i].name);
        r = delete_key(p, key);
    }
    idset_release(&indexed);
    return r;
}

/* Staging files and name markers without a snapshot: nothing runs beside an exclusive lock. */
static int
clean_leftovers(struct pruner *p)
{
    VEC(struct name_size) tmp = VEC_INIT, names = VEC_INIT;
    struct snap_list list;
    char key[600];
    int r;

    snap_list_init(&list);
    if ((r = stor_list(p->repo->stor, "tmp", collect, &tmp)) != 0)
        goto out;
    for (size_t i = 0; i < tmp.n && r == 0; i++) {
        snprintf(key, sizeof(key), "tmp/%s", tmp.v[i].name);
        if ((r = delete_key(p, key)) == 0)
            p->st->staging_removed++;
    }
    if (r || (r = stor_list(p->repo->stor, "names", collect, &names)) != 0)
        goto out;
    if ((r = snap_list_load(p->repo, &list)) != 0)
        goto out;
    for (size_t i = 0; i < names.n && r == 0; i++) {
        bool live = false;
        for (size_t k = 0; k < list.items.n && !live; k++)
            live = !strcmp(list.items.v[k].name, names.v[i].name);
        if (live)
            continue;
        snprintf(key, sizeof(key), "names/%s", names.v[i].name);
        if ((r = delete_key(p, key)) == 0)
            p->st->names_removed++;
    }
out:
    snap_list_release(&list);
    free_listing(&tmp);
    free_listing(&names);
    return r;
}

int
repo_prune(struct repo *repo, const struct prune_opts *o, struct prune_progress *prog,
           struct prune_stats *st)
{
    struct pruner p;
    bool work;
    int r;

    memset(st, 0, sizeof(*st));
    memset(&p, 0, sizeof(p));
    p.repo = repo;
    p.o = o;
    p.prog = prog;
    p.st = st;
    idset_init(&p.used);
    idset_init(&p.trees);
    if ((r = repo_load_index(repo)) != 0)
        goto out;
    {
        const struct idx_damaged *d;
        if (idx_damaged(repo->idx, &d)) {
            r = drk_err_set(DRK_ECORRUPT,
                            "index file '%s' is damaged (%s): prune cannot know "
                            "what packs hold; nothing was deleted",
                            d[0].file, d[0].message);
            goto out;
        }
    }
    if ((r = find_used(&p)) != 0)
        goto out;
    if ((r = read_index_files(&p)) != 0)
        goto out;
    if ((r = stor_list(repo->stor, "data", collect, &p.listed)) != 0)
        goto out;
    for (size_t i = 0; i < p.listed.n; i++)
        st->bytes_before += p.listed.v[i].size;
    st->packs_before = p.listed.n;
    if ((r = plan(&p)) != 0)
        goto out;
    work = st->packs_deleted || st->packs_repacked || st->packs_unindexed;
    for (size_t i = 0; i < p.packs.n && !work; i++)
        work = !p.packs.v[i].present;
    if (o->dry_run) {
        st->bytes_after = st->bytes_before - st->bytes_deleted;
        goto out;
    }
    if (work) {
        atomic_store(&prog->phase, 1);
        if ((r = repack(&p)) != 0)
            goto out;
        atomic_store(&prog->phase, 2);
        if ((r = write_index(&p)) != 0)
            goto out;
        if ((r = delete_old(&p)) != 0)
            goto out;
    } else {
        st->index_after = st->index_before;
    }
    r = clean_leftovers(&p);
    st->bytes_after = st->bytes_before - st->bytes_deleted + st->bytes_written;
out:
    for (size_t i = 0; i < p.packs.n; i++)
        free(p.packs.v[i].used);
    vec_free(&p.packs);
    for (size_t i = 0; i < p.files.n; i++)
        idx_file_release(&p.files.v[i]);
    vec_free(&p.files);
    for (size_t i = 0; i < p.file_ids.n; i++)
        free(p.file_ids.v[i]);
    vec_free(&p.file_ids);
    for (size_t i = 0; i < p.written.n; i++)
        free(p.written.v[i].entries);
    vec_free(&p.written);
    free_listing(&p.listed);
    idset_release(&p.used);
    idset_release(&p.trees);
    return r;
}
