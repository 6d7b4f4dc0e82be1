/* copy: snapshot replication between repositories with different keys (see copy.h). */
#include "engine/copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/saver.h"
#include "repo/blob.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "util/err.h"
#include "util/sig.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAP_VERSION   1
#define MAP_ENTRY_LEN (ID_LEN * 2 + 1)
#define MAX_DEPTH     512
/* A copy makes what it wrote durable and mapped every this many bytes added to the target,
 * so that a copy that is killed resumes from there instead of starting over. */
#define CHECKPOINT_BYTES (128ULL << 20)

struct map_slot {
    struct blob_id src, dst;
    bool used;
};

struct copy {
    struct repo *src, *dst;
    struct copy_progress *prog;
    struct map_slot *slots;
    size_t cap, n;
    VEC(struct map_slot) fresh; /* mapped by this run, not yet saved */
    struct snap_list dst_snaps;
    struct blob_codec codec;
    struct buf plain;
};

static struct map_slot *
map_find(struct copy *c, const struct blob_id *src)
{
    uint64_t h;
    size_t i;
    memcpy(&h, src->b, sizeof(h));
    for (i = h & (c->cap - 1); c->slots[i].used; i = (i + 1) & (c->cap - 1))
        if (!memcmp(c->slots[i].src.b, src->b, ID_LEN))
            return &c->slots[i];
    return &c->slots[i];
}

static void
map_put(struct copy *c, const struct blob_id *src, const struct blob_id *dst, bool fresh)
{
    struct map_slot *s;
    if ((c->n + 1) * 10 > c->cap * 7) {
        struct map_slot *old = c->slots;
        size_t oldcap = c->cap;
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->slots = xcalloc(c->cap, sizeof(*c->slots));
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].used)
                *map_find(c, &old[i].src) = old[i];
        free(old);
    }
    s = map_find(c, src);
    if (!s->used)
        c->n++;
    s->used = true;
    s->src = *src;
    s->dst = *dst;
    if (fresh)
        vec_push(&c->fresh, *s);
}

/* The target id of src, if mapped and still stored in the target. */
static bool
map_get(struct copy *c, const struct blob_id *src, struct blob_id *dst)
{
    struct map_slot *s = c->cap ? map_find(c, src) : NULL;
    if (!s || !s->used || !idx_has(c->dst->idx, &s->dst))
        return false;
    *dst = s->dst;
    return true;
}

static char *
map_dir(struct copy *c)
{
    return xasprintf("maps/%s", c->src->config.id);
}

struct names {
    VEC(char *) v;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    struct names *n = arg;
    (void)size;
    vec_push(&n->v, xstrdup(name));
    return 0;
}

static int
load_maps(struct copy *c)
{
    struct names names = { VEC_INIT };
    char *dir = map_dir(c);
    int r;

    if ((r = stor_list(c->dst->stor, dir, collect, &names)) != 0)
        goto out;
    for (size_t i = 0; i < names.v.n; i++) {
        struct rd rd;
        uint32_t count;
        if (sealed_load(c->dst, dir, names.v.v[i], OBJ_MAP, &c->plain) != 0)
            continue; /* a damaged map only costs re-reading: it is a cache */
        rd_init(&rd, c->plain.data, c->plain.len);
        if (rd_u32(&rd) != MAP_VERSION)
            continue;
        count = rd_u32(&rd);
        if (!rd_ok(&rd) || count > rd_left(&rd) / MAP_ENTRY_LEN)
            continue;
        for (uint32_t k = 0; k < count; k++) {
            struct blob_id s, d;
            rd_copy(&rd, s.b, ID_LEN);
            rd_copy(&rd, d.b, ID_LEN);
            rd_u8(&rd);
            map_put(c, &s, &d, false);
        }
    }
out:
    for (size_t i = 0; i < names.v.n; i++)
        free(names.v.v[i]);
    vec_free(&names.v);
    free(dir);
    return r;
}

static int
save_map(struct copy *c)
{
    struct buf b = BUF_INIT;
    char id[ID_HEX_LEN + 1], *dir;
    int r = 0;
    if (!c->fresh.n)
        return 0;
    buf_put_u32(&b, MAP_VERSION);
    buf_put_u32(&b, (uint32_t)c->fresh.n);
    for (size_t i = 0; i < c->fresh.n; i++) {
        buf_add(&b, c->fresh.v[i].src.b, ID_LEN);
        buf_add(&b, c->fresh.v[i].dst.b, ID_LEN);
        buf_put_u8(&b, 0);
    }
    dir = map_dir(c);
    r = sealed_save(c->dst, dir, OBJ_MAP, b.data, b.len, id);
    free(dir);
    buf_release(&b);
    if (r == 0)
        c->fresh.n = 0;
    return r;
}

int
copy_open(struct copy **out, struct repo *src, struct repo *dst, struct copy_progress *prog)
{
    struct copy *c = xcalloc(1, sizeof(*c));
    int r;
    c->src = src;
    c->dst = dst;
    c->prog = prog;
    blob_codec_init(&c->codec);
    snap_list_init(&c->dst_snaps);
    if ((r = repo_load_index(src)) != 0 || (r = repo_load_index(dst)) != 0 ||
        (r = snap_list_load(dst, &c->dst_snaps)) != 0 || (r = load_maps(c)) != 0) {
        copy_free(c);
        return r;
    }
    *out = c;
    return 0;
}

void
copy_free(struct copy *c)
{
    if (!c)
        return;
    free(c->slots);
    vec_free(&c->fresh);
    snap_list_release(&c->dst_snaps);
    blob_codec_release(&c->codec);
    buf_release(&c->plain);
    free(c);
}

/* Commit the saver's packs and their index, count what it added, free it (*sv = NULL). */
static int
finish_saver(struct saver **sv, struct copy_stats *st)
{
    int r = saver_finish(*sv);
    st->blobs_added += atomic_load(&saver_stats(*sv)->blobs_added);
    st->bytes_added += atomic_load(&saver_stats(*sv)->bytes_added);
    saver_free(*sv);
    *sv = NULL;
    return r;
}

/* Make everything copied so far durable (packs, then their index), then save the map of it:
 * a copy killed after this point is resumed by the next one, which finds these blobs mapped
 * and in the target's index and neither reads nor writes them again. Goes on with a new
 * saver in *sv. */
static int
checkpoint(struct copy *c, struct saver **sv, struct copy_stats *st)
{
    struct saver_opts so = { 1 };
    int r;
    if ((r = finish_saver(sv, st)) != 0 || (r = save_map(c)) != 0)
        return r;
    return saver_new(sv, c->dst, &so);
}

static int
copy_tree(struct copy *c, struct saver **sv, const struct blob_id *src_tree,
          struct blob_id *dst_tree, struct copy_stats *st, int depth)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    int r;

    if (map_get(c, src_tree, dst_tree)) {
        st->trees_reused++; /* copied before, with everything below it */
        return 0;
    }
    if (depth > MAX_DEPTH)
        return drk_err_set(DRK_EUNSAFE, "directory nesting too deep to copy");
    if ((r = tree_load(&t, &c->codec, c->src, src_tree)) != 0)
        return r;
    for (size_t i = 0; i < t.n && r == 0; i++) {
        struct node *n = &t.nodes[i];
        if (n->type == NODE_DIR) {
            struct blob_id d;
            if ((r = copy_tree(c, sv, &n->subtree, &d, st, depth + 1)) == 0)
                n->subtree = d;
            continue;
        }
        for (uint32_t k = 0; k < n->ncontent && r == 0; k++) {
            struct blob_id d;
            if (map_get(c, &n->content[k], &d)) {
                n->content[k] = d;
                continue;
            }
            if (sig_interrupted()) {
                r = drk_err_set(DRK_EINTR, "interrupted");
                break;
            }
            if ((r = blob_read(&c->codec, c->src, &n->content[k], BLOB_DATA, &c->plain)) != 0)
                break;
            st->blobs_read++;
            st->bytes_read += c->plain.len;
            atomic_fetch_add(&c->prog->blobs, 1);
            atomic_fetch_add(&c->prog->bytes, c->plain.len);
            if ((r = saver_put_blob(*sv, 0, BLOB_DATA, c->plain.data, c->plain.len, &d, NULL)) != 0)
                break;
            map_put(c, &n->content[k], &d, true);
            n->content[k] = d;
            if (atomic_load(&saver_stats(*sv)->bytes_added) >= CHECKPOINT_BYTES &&
                (r = checkpoint(c, sv, st)) != 0)
                break;
        }
    }
    if (r == 0 && (r = tree_encode(&t, &enc)) == 0 &&
        (r = saver_put_blob(*sv, 0, BLOB_TREE, enc.data, enc.len, dst_tree, NULL)) == 0) {
        map_put(c, src_tree, dst_tree, true);
        st->trees_written++;
        atomic_fetch_add(&c->prog->trees, 1);
    }
    buf_release(&enc);
    tree_release(&t);
    return r;
}

int
copy_snapshot(struct copy *c, const struct snapshot *s, struct snapshot *out, bool *skipped,
              struct copy_stats *st)
{
    struct saver *sv = NULL;
    struct saver_opts so = { 1 };
    struct snapshot d;
    struct blob_id tree, dbtree;
    int r;

    *skipped = false;
    for (size_t i = 0; i < c->dst_snaps.items.n; i++) {
        const struct snapshot *t = &c->dst_snaps.items.v[i];
        if (!strcmp(t->copied_from, s->id) && !strcmp(t->copied_from_repo, c->src->config.id)) {
            *skipped = true;
            return 0;
        }
        if (!strcmp(t->name, s->name))
            return drk_err_set(DRK_EEXIST, "the target already has another snapshot named '%s'",
                               s->name);
    }
    if ((r = saver_new(&sv, c->dst, &so)) != 0)
        return r;
    if ((s->has_files && (r = copy_tree(c, &sv, &s->files_tree, &tree, st, 0)) != 0) ||
        (s->has_db && (r = copy_tree(c, &sv, &s->db_tree, &dbtree, st, 0)) != 0)) {
        if (sv) { /* NULL if a checkpoint failed */
            saver_abort(sv);
            saver_free(sv);
        }
        return r;
    }
    if ((r = finish_saver(&sv, st)) != 0)
        return r;
    /* the map names blobs that are now durable; the snapshot comes last */
    if ((r = save_map(c)) != 0)
        return r;
    snap_clone(&d, s);
    if (s->has_files)
        d.files_tree = tree;
    if (s->has_db)
        d.db_tree = dbtree;
    snprintf(d.copied_from, sizeof(d.copied_from), "%s", s->id);
    snprintf(d.copied_from_repo, sizeof(d.copied_from_repo), "%s", c->src->config.id);
    if ((r = snap_save_named(c->dst, &d)) != 0) {
        snap_release(&d);
        return r;
    }
    *out = d;
    return 0;
}
