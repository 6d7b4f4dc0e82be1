/* index: in-memory blob table and index file encoding. */
#include "repo/index.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo.h"
#include "repo/sealed.h"
#include "util/err.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SLOT_USED    1
#define SLOT_PENDING 2 /* claimed by this process, not yet in a committed pack */
#define NO_PACK      UINT32_MAX

struct slot {
    struct blob_id id;
    uint32_t pack;
    uint32_t offset;
    uint32_t length;
    uint32_t raw_length;
    uint8_t type;
    uint8_t flags;
};

struct pack_rec {
    struct blob_id id;
    uint64_t size;
};

struct idx {
    pthread_mutex_t mu;
    struct slot *slots;
    size_t cap, count;
    struct pack_rec *packs;
    size_t npacks, packs_cap;
    uint32_t *pack_map; /* open addressing: pack number + 1, 0 = empty */
    size_t pack_map_cap;
    size_t nfiles;
    VEC(struct idx_damaged) damaged;
};

static inline uint64_t
id_hash(const struct blob_id *id)
{
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    return h;
}

struct idx *
idx_new(void)
{
    struct idx *x = xcalloc(1, sizeof(*x));
    pthread_mutex_init(&x->mu, NULL);
    x->cap = 1024;
    x->slots = xcalloc(x->cap, sizeof(*x->slots));
    x->pack_map_cap = 256;
    x->pack_map = xcalloc(x->pack_map_cap, sizeof(*x->pack_map));
    return x;
}

void
idx_free(struct idx *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->damaged.n; i++) {
        free(x->damaged.v[i].file);
        free(x->damaged.v[i].message);
    }
    vec_free(&x->damaged);
    free(x->slots);
    free(x->packs);
    free(x->pack_map);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static struct slot *
find_slot(struct idx *x, const struct blob_id *id)
{
    size_t mask = x->cap - 1, i = id_hash(id) & mask;
    for (;;) {
        struct slot *s = &x->slots[i];
        if (!(s->flags & SLOT_USED) || memcmp(s->id.b, id->b, ID_LEN) == 0)
            return s;
        i = (i + 1) & mask;
    }
}

static void
grow_slots(struct idx *x)
{
    struct slot *old = x->slots;
    size_t oldcap = x->cap;
    x->cap *= 2;
    x->slots = xcalloc(x->cap, sizeof(*x->slots));
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].flags & SLOT_USED)
            *find_slot(x, &old[i].id) = old[i];
    free(old);
}

/* A slot for id, inserted empty (flags USED) if absent; *fresh tells which. */
static struct slot *
upsert(struct idx *x, const struct blob_id *id, int *fresh)
{
    struct slot *s;
    if ((x->count + 1) * 10 > x->cap * 7)
        grow_slots(x);
    s = find_slot(x, id);
    *fresh = !(s->flags & SLOT_USED);
    if (*fresh) {
        memset(s, 0, sizeof(*s));
        s->id = *id;
        s->flags = SLOT_USED;
        s->pack = NO_PACK;
        x->count++;
    }
    return s;
}

static uint32_t
intern_pack(struct idx *x, const struct blob_id *pack, uint64_t size)
{
    size_t mask, i;
    if ((x->npacks + 1) * 2 > x->pack_map_cap) {
        free(x->pack_map);
        x->pack_map_cap *= 2;
        x->pack_map = xcalloc(x->pack_map_cap, sizeof(*x->pack_map));
        mask = x->pack_map_cap - 1;
        for (size_t k = 0; k < x->npacks; k++) {
            i = id_hash(&x->packs[k].id) & mask;
            while (x->pack_map[i])
                i = (i + 1) & mask;
            x->pack_map[i] = (uint32_t)k + 1;
        }
    }
    mask = x->pack_map_cap - 1;
    i = id_hash(pack) & mask;
    while (x->pack_map[i]) {
        uint32_t k = x->pack_map[i] - 1;
        if (memcmp(x->packs[k].id.b, pack->b, ID_LEN) == 0)
            return k;
        i = (i + 1) & mask;
    }
    if (x->npacks == x->packs_cap) {
        x->packs_cap = x->packs_cap ? x->packs_cap * 2 : 64;
        x->packs = xreallocarray(x->packs, x->packs_cap, sizeof(*x->packs));
    }
    x->packs[x->npacks].id = *pack;
    x->packs[x->npacks].size = size;
    x->pack_map[i] = (uint32_t)x->npacks + 1;
    return (uint32_t)x->npacks++;
}

static int
find_pack(struct idx *x, const struct blob_id *pack, uint32_t *out)
{
    size_t mask = x->pack_map_cap - 1, i = id_hash(pack) & mask;
    while (x->pack_map[i]) {
        uint32_t k = x->pack_map[i] - 1;
        if (memcmp(x->packs[k].id.b, pack->b, ID_LEN) == 0) {
            *out = k;
            return 0;
        }
        i = (i + 1) & mask;
    }
    return -1;
}

int
idx_lookup(struct idx *x, const struct blob_id *id, struct idx_loc *out)
{
    struct slot *s;
    int r = DRK_ENOTFOUND;
    pthread_mutex_lock(&x->mu);
    s = find_slot(x, id);
    if ((s->flags & SLOT_USED) && s->pack != NO_PACK) {
        out->pack = x->packs[s->pack].id;
        out->offset = s->offset;
        out->length = s->length;
        out->raw_length = s->raw_length;
        out->type = s->type;
        r = 0;
    }
    pthread_mutex_unlock(&x->mu);
    return r;
}

bool
idx_has(struct idx *x, const struct blob_id *id)
{
    bool r;
    pthread_mutex_lock(&x->mu);
    r = (find_slot(x, id)->flags & SLOT_USED) != 0;
    pthread_mutex_unlock(&x->mu);
    return r;
}

bool
idx_claim(struct idx *x, const struct blob_id *id, uint8_t type)
{
    struct slot *s;
    int fresh;
    pthread_mutex_lock(&x->mu);
    s = upsert(x, id, &fresh);
    if (fresh) {
        s->flags |= SLOT_PENDING;
        s->type = type;
    }
    pthread_mutex_unlock(&x->mu);
    return fresh != 0;
}

void
idx_unclaim(struct idx *x, const struct blob_id *id)
{
    struct slot *s;
    pthread_mutex_lock(&x->mu);
    s = find_slot(x, id);
    if ((s->flags & SLOT_PENDING) && s->pack == NO_PACK) {
        /* Backward-shift deletion keeps linear probing chains intact. */
        size_t mask = x->cap - 1, i = (size_t)(s - x->slots), j = i;
        memset(s, 0, sizeof(*s));
        x->count--;
        for (;;) {
            size_t home;
            j = (j + 1) & mask;
            if (!(x->slots[j].flags & SLOT_USED))
                break;
            home = id_hash(&x->slots[j].id) & mask;
            if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
                x->slots[i] = x->slots[j];
                memset(&x->slots[j], 0, sizeof(x->slots[j]));
                i = j;
            }
        }
    }
    pthread_mutex_unlock(&x->mu);
}

static void
add_pack_locked(struct idx *x, const struct blob_id *pack, uint64_t pack_size,
                const struct pack_entry *entries, size_t n)
{
    uint32_t k = intern_pack(x, pack, pack_size);
    for (size_t i = 0; i < n; i++) {
        int fresh;
        struct slot *s = upsert(x, &entries[i].id, &fresh);
        if (s->pack != NO_PACK)
            continue; /* stored twice (e.g. concurrent backups): the first copy serves */
        s->pack = k;
        s->offset = entries[i].offset;
        s->length = entries[i].length;
        s->raw_length = entries[i].raw_length;
        s->type = entries[i].type;
        s->flags = SLOT_USED;
    }
}

void
idx_add_pack(struct idx *x, const struct blob_id *pack, uint64_t pack_size,
             const struct pack_entry *entries, size_t n)
{
    pthread_mutex_lock(&x->mu);
    add_pack_locked(x, pack, pack_size, entries, n);
    pthread_mutex_unlock(&x->mu);
}

void
pack_entry_encode(unsigned char out[PACK_ENTRY_LEN], const struct pack_entry *e)
{
    out[0] = e->type;
    out[1] = out[2] = out[3] = 0;
    le_put32(out + 4, e->offset);
    le_put32(out + 8, e->length);
    le_put32(out + 12, e->raw_length);
    memcpy(out + 16, e->id.b, ID_LEN);
}

void
pack_entry_decode(struct pack_entry *e, const unsigned char in[PACK_ENTRY_LEN])
{
    e->type = in[0];
    e->offset = le_get32(in + 4);
    e->length = le_get32(in + 8);
    e->raw_length = le_get32(in + 12);
    memcpy(e->id.b, in + 16, ID_LEN);
}

void
idx_file_release(struct idx_file *f)
{
    free(f->packs);
    free(f->entries);
    free(f->supersedes);
    memset(f, 0, sizeof(*f));
}

int
idx_parse_file(struct idx_file *out, const void *plain, size_t len, const char *file_id)
{
    struct rd r;
    uint32_t version, nsup, npacks;
    VEC(struct pack_entry) entries = VEC_INIT;
    VEC(struct idx_pack_rec) packs = VEC_INIT;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    rd_init(&r, plain, len);
    version = rd_u32(&r);
    if (!rd_ok(&r) || version != 1)
        return drk_err_set(DRK_ECORRUPT, "index file '%s' has unknown version %u", file_id,
                           version);
    nsup = rd_u32(&r);
    if (!rd_ok(&r) || (size_t)nsup > rd_left(&r) / ID_LEN)
        return drk_err_set(DRK_ECORRUPT, "index file '%s' is truncated", file_id);
    if (nsup) {
        out->supersedes = xcalloc(nsup, sizeof(*out->supersedes));
        rd_copy(&r, out->supersedes, (size_t)nsup * ID_LEN);
        out->nsupersedes = nsup;
    }
    npacks = rd_u32(&r);
    if (!rd_ok(&r) || (size_t)npacks > rd_left(&r) / (ID_LEN + 12)) {
        idx_file_release(out);
        return drk_err_set(DRK_ECORRUPT, "index file '%s' is truncated", file_id);
    }
    for (uint32_t p = 0; p < npacks && rc == 0; p++) {
        struct idx_pack_rec pp;
        uint32_t nblobs;
        rd_copy(&r, pp.id.b, ID_LEN);
        pp.size = rd_u64(&r);
        nblobs = rd_u32(&r);
        if (!rd_ok(&r) || (size_t)nblobs > rd_left(&r) / PACK_ENTRY_LEN ||
            nblobs > PACK_MAX_BLOBS) {
            rc = drk_err_set(DRK_ECORRUPT, "index file '%s' is truncated", file_id);
            break;
        }
        for (size_t k = 0; k < packs.n; k++) {
            if (!memcmp(packs.v[k].id.b, pp.id.b, ID_LEN)) {
                rc = drk_err_set(DRK_ECORRUPT, "index file '%s' lists a pack twice", file_id);
                break;
            }
        }
        pp.entries = NULL;
        pp.n = entries.n; /* first entry, turned into a pointer below */
        for (uint32_t i = 0; i < nblobs && rc == 0; i++) {
            struct pack_entry e;
            pack_entry_decode(&e, rd_bytes(&r, PACK_ENTRY_LEN));
            if (e.type > BLOB_TREE || (uint64_t)e.offset + e.length > pp.size ||
                e.length < 40 + 1 || e.raw_length > BLOB_MAX_RAW)
                rc = drk_err_set(DRK_ECORRUPT, "index file '%s' has an impossible entry", file_id);
            vec_push(&entries, e);
        }
        vec_push(&packs, pp);
    }
    if (rc == 0 && rd_left(&r) != 0)
        rc = drk_err_set(DRK_ECORRUPT, "index file '%s' has trailing bytes", file_id);
    if (rc) {
        vec_free(&entries);
        vec_free(&packs);
        idx_file_release(out);
        return rc;
    }
    /* entries no longer move: give each pack its slice */
    for (size_t k = 0; k < packs.n; k++) {
        size_t first = packs.v[k].n;
        size_t next = k + 1 < packs.n ? packs.v[k + 1].n : entries.n;
        packs.v[k].entries = entries.v + first;
        packs.v[k].n = next - first;
    }
    out->packs = packs.v;
    out->npacks = packs.n;
    out->entries = entries.v;
    return 0;
}

int
idx_add_file(struct idx *x, const void *plain, size_t len, const char *file_id)
{
    struct idx_file f;
    int rc = idx_parse_file(&f, plain, len, file_id);
    if (rc)
        return rc;
    pthread_mutex_lock(&x->mu);
    for (size_t k = 0; k < f.npacks && rc == 0; k++) {
        uint32_t known;
        if (find_pack(x, &f.packs[k].id, &known) == 0 && x->packs[known].size != f.packs[k].size)
            rc = drk_err_set(DRK_ECORRUPT,
                             "index file '%s' gives a pack another size than an "
                             "earlier index file",
                             file_id);
    }
    if (rc == 0) {
        for (size_t k = 0; k < f.npacks; k++)
            add_pack_locked(x, &f.packs[k].id, f.packs[k].size, f.packs[k].entries, f.packs[k].n);
        x->nfiles++;
    }
    pthread_mutex_unlock(&x->mu);
    idx_file_release(&f);
    return rc;
}

int
idx_encode(struct buf *out, const struct idx_pack_rec *packs, size_t npacks,
           const struct blob_id *supersedes, size_t nsupersedes)
{
    int r = 0;
    buf_reset(out);
    r |= buf_put_u32(out, 1);
    r |= buf_put_u32(out, (uint32_t)nsupersedes);
    for (size_t i = 0; i < nsupersedes; i++)
        r |= buf_add(out, supersedes[i].b, ID_LEN);
    r |= buf_put_u32(out, (uint32_t)npacks);
    for (size_t p = 0; p < npacks; p++) {
        r |= buf_add(out, packs[p].id.b, ID_LEN);
        r |= buf_put_u64(out, packs[p].size);
        r |= buf_put_u32(out, (uint32_t)packs[p].n);
        for (size_t i = 0; i < packs[p].n; i++) {
            unsigned char e[PACK_ENTRY_LEN];
            pack_entry_encode(e, &packs[p].entries[i]);
            r |= buf_add(out, e, sizeof(e));
        }
    }
    return r ? drk_err_code() : 0;
}

struct load_ctx {
    VEC(char *) names;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    struct load_ctx *lc = arg;
    (void)size;
    vec_push(&lc->names, xstrdup(name));
    return 0;
}

int
idx_load(struct idx *x, struct repo *repo)
{
    struct load_ctx lc = { VEC_INIT };
    struct buf plain = BUF_INIT;
    int r;

    if ((r = stor_list(repo->stor, "index", collect, &lc)) != 0)
        goto out;
    for (size_t i = 0; i < lc.names.n; i++) {
        const char *name = lc.names.v[i];
        if (!is_hex_string(name, ID_HEX_LEN, ID_HEX_LEN)) {
            struct idx_damaged d = { xstrdup(name),
                                     xstrdup("not an index file name (64 hex digits)") };
            vec_push(&x->damaged, d);
            continue;
        }
        r = sealed_load(repo, "index", name, OBJ_INDEX, &plain);
        if (r == 0)
            r = idx_add_file(x, plain.data, plain.len, name);
        if (r == DRK_ECORRUPT || r == DRK_EFOREIGN || r == DRK_EVERSION) {
            struct idx_damaged d = { xstrdup(name), xstrdup(drk_err_msg()) };
            vec_push(&x->damaged, d);
            r = 0;
            continue;
        }
        if (r)
            goto out;
    }
out:
    for (size_t i = 0; i < lc.names.n; i++)
        free(lc.names.v[i]);
    vec_free(&lc.names);
    buf_release(&plain);
    return r;
}

size_t
idx_damaged(const struct idx *x, const struct idx_damaged **out)
{
    *out = x->damaged.v;
    return x->damaged.n;
}

size_t
idx_file_count(const struct idx *x)
{
    return x->nfiles;
}

int
idx_foreach_blob(struct idx *x, idx_blob_cb cb, void *arg)
{
    int r = 0;
    /* Callers do not mutate the index while iterating; no lock is held during callbacks. */
    for (size_t i = 0; i < x->cap && r == 0; i++) {
        struct slot *s = &x->slots[i];
        struct idx_loc loc;
        if (!(s->flags & SLOT_USED) || s->pack == NO_PACK)
            continue;
        loc.pack = x->packs[s->pack].id;
        loc.offset = s->offset;
        loc.length = s->length;
        loc.raw_length = s->raw_length;
        loc.type = s->type;
        r = cb(arg, &s->id, &loc);
    }
    return r;
}

size_t
idx_pack_count(struct idx *x)
{
    return x->npacks;
}

void
idx_pack_at(struct idx *x, size_t i, struct blob_id *id, uint64_t *size)
{
    *id = x->packs[i].id;
    *size = x->packs[i].size;
}

int
idx_pack_size(struct idx *x, const struct blob_id *pack, uint64_t *size)
{
    uint32_t k;
    int r = DRK_ENOTFOUND;
    pthread_mutex_lock(&x->mu);
    if (find_pack(x, pack, &k) == 0) {
        *size = x->packs[k].size;
        r = 0;
    }
    pthread_mutex_unlock(&x->mu);
    return r;
}

size_t
idx_blob_count(struct idx *x)
{
    return x->count;
}
