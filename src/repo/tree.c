/* tree: encoding and strict decoding of directory listings. */
#include "repo/tree.h"

#include <stdlib.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TREE_VERSION 1
/* the fixed part of a node: everything but the variable-length fields */
#define NODE_MIN_LEN (2 + 1 + 1 + 12 + 1 + 1 + 12 + 12 + 20 + 16 + 2 + 2 + 4)

void
tree_init(struct tree *t)
{
    memset(t, 0, sizeof(*t));
}

void
tree_release(struct tree *t)
{
    free(t->nodes);
    arena_release(&t->arena);
    tree_init(t);
}

struct node *
tree_add_node(struct tree *t)
{
    struct node *n;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->nodes = xreallocarray(t->nodes, t->cap, sizeof(*t->nodes));
    }
    n = &t->nodes[t->n++];
    memset(n, 0, sizeof(*n));
    n->user = n->group = n->link = "";
    return n;
}

int
node_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int
cmp_nodes(const void *pa, const void *pb)
{
    const struct node *a = pa, *b = pb;
    return node_name_cmp(a->name, a->name_len, b->name, b->name_len);
}

void
tree_sort(struct tree *t)
{
    if (t->n > 1)
        qsort(t->nodes, t->n, sizeof(*t->nodes), cmp_nodes);
}

const struct node *
tree_find(const struct tree *t, const char *name, size_t len)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = node_name_cmp(t->nodes[mid].name, t->nodes[mid].name_len, name, len);
        if (c == 0)
            return &t->nodes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool
tree_name_safe(const char *name, size_t len)
{
    if (len == 0 || len > TREE_NAME_MAX)
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

const char *
node_type_name(uint8_t type)
{
    switch (type) {
    case NODE_FILE:
        return "file";
    case NODE_DIR:
        return "dir";
    case NODE_SYMLINK:
        return "symlink";
    case NODE_CHARDEV:
        return "chardev";
    case NODE_BLOCKDEV:
        return "blockdev";
    case NODE_FIFO:
        return "fifo";
    case NODE_SOCKET:
        return "socket";
    default:
        return "unknown";
    }
}

int
tree_encode(const struct tree *t, struct buf *out)
{
    int r = 0;
    buf_reset(out);
    r |= buf_put_u32(out, TREE_VERSION);
    r |= buf_put_u32(out, (uint32_t)t->n);
    for (size_t i = 0; i < t->n; i++) {
        const struct node *n = &t->nodes[i];
        size_t ulen = strlen(n->user), glen = strlen(n->group);
        if (n->name_len > TREE_NAME_MAX || n->link_len > TREE_LINK_MAX || ulen > 255 ||
            glen > 255 || n->nxattrs > TREE_XATTR_MAX)
            return drk_err_set(DRK_ETOOBIG, "a field of '%s' is too long to store", n->name);
        r |= buf_put_u16(out, (uint16_t)n->name_len);
        r |= buf_add(out, n->name, n->name_len);
        r |= buf_put_u8(out, n->type);
        r |= buf_put_u8(out, n->flags);
        r |= buf_put_u32(out, n->mode);
        r |= buf_put_u32(out, n->uid);
        r |= buf_put_u32(out, n->gid);
        r |= buf_put_u8(out, (uint8_t)ulen);
        r |= buf_add(out, n->user, ulen);
        r |= buf_put_u8(out, (uint8_t)glen);
        r |= buf_add(out, n->group, glen);
        r |= buf_put_u64(out, (uint64_t)n->mtime_sec);
        r |= buf_put_u32(out, n->mtime_nsec);
        r |= buf_put_u64(out, (uint64_t)n->ctime_sec);
        r |= buf_put_u32(out, n->ctime_nsec);
        r |= buf_put_u64(out, n->dev);
        r |= buf_put_u64(out, n->ino);
        r |= buf_put_u32(out, n->nlink);
        r |= buf_put_u64(out, n->size);
        r |= buf_put_u64(out, n->rdev);
        r |= buf_put_u16(out, (uint16_t)n->link_len);
        r |= buf_add(out, n->link, n->link_len);
        r |= buf_put_u16(out, (uint16_t)n->nxattrs);
        for (uint32_t k = 0; k < n->nxattrs; k++) {
            size_t nl = strlen(n->xattrs[k].name);
            r |= buf_put_u16(out, (uint16_t)nl);
            r |= buf_add(out, n->xattrs[k].name, nl);
            r |= buf_put_u32(out, n->xattrs[k].len);
            r |= buf_add(out, n->xattrs[k].value, n->xattrs[k].len);
        }
        r |= buf_put_u32(out, n->ncontent);
        for (uint32_t k = 0; k < n->ncontent; k++)
            r |= buf_add(out, n->content[k].b, ID_LEN);
        if (n->type == NODE_DIR)
            r |= buf_add(out, n->subtree.b, ID_LEN);
    }
    return r ? drk_err_code() : 0;
}

static char *
rd_str(struct rd *r, struct arena *a, size_t len)
{
    const unsigned char *p = rd_bytes(r, len);
    return p ? arena_strndup(a, (const char *)p, len) : NULL;
}

static int decode_nodes(struct tree *out, const void *data, size_t len);

int
tree_decode(struct tree *out, const void *data, size_t len)
{
    int r = decode_nodes(out, data, len);
    if (r)
        tree_release(out); /* a failed decode leaves nothing to free */
    return r;
}

static int
decode_nodes(struct tree *out, const void *data, size_t len)
{
    struct rd r;
    uint32_t version, count;

    tree_init(out);
    rd_init(&r, data, len);
    version = rd_u32(&r);
    count = rd_u32(&r);
    if (!rd_ok(&r) || version != TREE_VERSION)
        return drk_err_set(DRK_ECORRUPT, "tree has unknown version %u", version);
    if ((size_t)count > rd_left(&r) / NODE_MIN_LEN)
        return drk_err_set(DRK_ECORRUPT, "tree claims %u entries in %zu bytes", count, len);
    out->cap = count ? count : 1;
    out->nodes = xcalloc(out->cap, sizeof(*out->nodes));
    for (uint32_t i = 0; i < count; i++) {
        struct node *n = &out->nodes[out->n++];
        uint16_t nlen, llen, nx;
        uint8_t ulen, glen;

        nlen = rd_u16(&r);
        n->name = rd_str(&r, &out->arena, nlen);
        n->name_len = nlen;
        n->type = rd_u8(&r);
        n->flags = rd_u8(&r);
        n->mode = rd_u32(&r);
        n->uid = rd_u32(&r);
        n->gid = rd_u32(&r);
        ulen = rd_u8(&r);
        n->user = rd_str(&r, &out->arena, ulen);
        glen = rd_u8(&r);
        n->group = rd_str(&r, &out->arena, glen);
        n->mtime_sec = (int64_t)rd_u64(&r);
        n->mtime_nsec = rd_u32(&r);
        n->ctime_sec = (int64_t)rd_u64(&r);
        n->ctime_nsec = rd_u32(&r);
        n->dev = rd_u64(&r);
        n->ino = rd_u64(&r);
        n->nlink = rd_u32(&r);
        n->size = rd_u64(&r);
        n->rdev = rd_u64(&r);
        llen = rd_u16(&r);
        n->link = rd_str(&r, &out->arena, llen);
        n->link_len = llen;
        nx = rd_u16(&r);
        if (!rd_ok(&r))
            goto truncated;
        if (nx > TREE_XATTR_MAX || (size_t)nx > rd_left(&r) / 6)
            return drk_err_set(DRK_ECORRUPT, "tree entry has %u extended attributes", nx);
        if (nx) {
            n->xattrs = arena_alloc(&out->arena, nx * sizeof(*n->xattrs));
            n->nxattrs = nx;
            for (uint16_t k = 0; k < nx; k++) {
                uint16_t xl = rd_u16(&r);
                uint32_t vl;
                n->xattrs[k].name = rd_str(&r, &out->arena, xl);
                vl = rd_u32(&r);
                if (!rd_ok(&r) || vl > rd_left(&r))
                    goto truncated;
                n->xattrs[k].value = arena_memdup(&out->arena, rd_bytes(&r, vl), vl);
                n->xattrs[k].len = vl;
                if (xl == 0 || memchr(n->xattrs[k].name, '\0', xl))
                    return drk_err_set(DRK_ECORRUPT, "tree entry has a bad attribute name");
            }
        }
        n->ncontent = rd_u32(&r);
        if (!rd_ok(&r) || (size_t)n->ncontent > rd_left(&r) / ID_LEN)
            goto truncated;
        if (n->ncontent) {
            n->content = arena_memdup(&out->arena, rd_bytes(&r, (size_t)n->ncontent * ID_LEN),
                                      (size_t)n->ncontent * ID_LEN);
        }
        if (n->type == NODE_DIR)
            rd_copy(&r, n->subtree.b, ID_LEN);
        if (!rd_ok(&r))
            goto truncated;
        if (n->type < NODE_FILE || n->type > NODE_SOCKET)
            return drk_err_set(DRK_ECORRUPT, "tree entry has unknown type %u", n->type);
        if (n->ncontent && n->type != NODE_FILE)
            return drk_err_set(DRK_ECORRUPT, "a non-file tree entry has content");
        if (n->link_len > TREE_LINK_MAX || (n->link_len && n->type != NODE_SYMLINK))
            return drk_err_set(DRK_ECORRUPT, "tree entry has an impossible symlink target");
        if (n->mode > 07777 || n->mtime_nsec > 999999999u || n->ctime_nsec > 999999999u)
            return drk_err_set(DRK_ECORRUPT, "tree entry has an impossible mode or time");
        if (!tree_name_safe(n->name, n->name_len))
            return drk_err_set(DRK_EUNSAFE, "tree holds an unsafe name (empty, \".\", \"..\", "
                                            "or with '/' or NUL)");
        if (i > 0 && node_name_cmp(out->nodes[i - 1].name, out->nodes[i - 1].name_len, n->name,
                                   n->name_len) >= 0)
            return drk_err_set(DRK_EUNSAFE, "tree holds names out of order or twice");
        if (memchr(n->link, '\0', n->link_len) || memchr(n->user, '\0', ulen) ||
            memchr(n->group, '\0', glen))
            return drk_err_set(DRK_ECORRUPT, "tree entry has a NUL in a text field");
    }
    if (rd_left(&r) != 0)
        return drk_err_set(DRK_ECORRUPT, "tree has %zu trailing bytes", rd_left(&r));
    return 0;
truncated:
    return drk_err_set(DRK_ECORRUPT, "tree is truncated");
}

int
tree_load(struct tree *out, struct blob_codec *c, struct repo *repo, const struct blob_id *id)
{
    struct buf plain = BUF_INIT;
    int r;
    tree_init(out);
    if ((r = blob_read(c, repo, id, BLOB_TREE, &plain)) != 0)
        return r;
    r = tree_decode(out, plain.data, plain.len);
    if (r) {
        char hex[ID_HEX_LEN + 1];
        id_to_hex(id, hex);
        drk_err_wrap(r, "tree %.16s", hex);
    }
    buf_release(&plain);
    return r;
}
