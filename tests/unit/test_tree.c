/* test_tree: directory listing encoding and strict decoding (src/repo/tree.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/tree.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Byte offsets inside an encoded tree (tree.h): header, then per node. */
#define TREE_HDR 8

static void
fill_id(struct blob_id *id, unsigned seed)
{
    for (int i = 0; i < ID_LEN; i++)
        id->b[i] = (unsigned char)(seed * 31 + (unsigned)i * 7 + 1);
}

/* A node with every field set; strings live in t's arena. */
static struct node *
add_full(struct tree *t, const char *name, size_t name_len, uint8_t type, unsigned seed)
{
    struct node *n = tree_add_node(t);
    n->name = arena_strndup(&t->arena, name, name_len);
    n->name_len = name_len;
    n->type = type;
    n->flags = type == NODE_FILE ? NODE_FLAG_SPARSE : 0;
    n->mode = 04755 & (07777 - seed);
    n->uid = 1000 + seed;
    n->gid = 2000 + seed;
    n->user = arena_strdup(&t->arena, "alice");
    n->group = arena_strdup(&t->arena, seed % 2 ? "staff" : "");
    n->mtime_sec = -86400 * (int64_t)seed + 1700000000;
    n->mtime_nsec = 999999999u - seed;
    n->ctime_sec = INT64_MAX - seed;
    n->ctime_nsec = seed;
    n->dev = UINT64_MAX - seed;
    n->ino = 0x123456789abcdefULL + seed;
    n->nlink = 3 + seed;
    n->size = (uint64_t)seed << 40;
    n->rdev = type == NODE_CHARDEV || type == NODE_BLOCKDEV ? 0x0801 + seed : 0;
    if (type == NODE_SYMLINK) {
        n->link = arena_strdup(&t->arena, "../target/with spaces/\xc3\xa9");
        n->link_len = strlen(n->link);
    }
    if (seed % 3 != 2) {
        static const unsigned char bin[] = { 0, 1, 2, 0xff, 0, '\n', 0x80 };
        n->nxattrs = 3;
        n->xattrs = arena_alloc(&t->arena, 3 * sizeof(*n->xattrs));
        n->xattrs[0].name = arena_strdup(&t->arena, "user.binary");
        n->xattrs[0].value = arena_memdup(&t->arena, bin, sizeof(bin));
        n->xattrs[0].len = sizeof(bin);
        n->xattrs[1].name = arena_strdup(&t->arena, "security.selinux");
        n->xattrs[1].value = arena_memdup(&t->arena, "system_u:object_r:etc_t:s0", 26);
        n->xattrs[1].len = 26;
        n->xattrs[2].name = arena_strdup(&t->arena, "user.empty");
        n->xattrs[2].value = arena_memdup(&t->arena, "", 0);
        n->xattrs[2].len = 0;
    }
    if (type == NODE_FILE) {
        n->ncontent = 5 + seed;
        n->content = arena_alloc(&t->arena, n->ncontent * sizeof(*n->content));
        for (uint32_t k = 0; k < n->ncontent; k++)
            fill_id(&n->content[k], seed * 100 + k);
    }
    if (type == NODE_DIR)
        fill_id(&n->subtree, 7777 + seed);
    return n;
}

static void
assert_nodes_equal(const struct node *a, const struct node *b)
{
    assert_int_equal(a->name_len, b->name_len);
    assert_memory_equal(a->name, b->name, a->name_len);
    assert_int_equal(a->name[a->name_len], '\0');
    assert_int_equal(b->name[b->name_len], '\0');
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_string_equal(a->user, b->user);
    assert_string_equal(a->group, b->group);
    assert_true(a->mtime_sec == b->mtime_sec);
    assert_int_equal(a->mtime_nsec, b->mtime_nsec);
    assert_true(a->ctime_sec == b->ctime_sec);
    assert_int_equal(a->ctime_nsec, b->ctime_nsec);
    assert_true(a->dev == b->dev);
    assert_true(a->ino == b->ino);
    assert_int_equal(a->nlink, b->nlink);
    assert_true(a->size == b->size);
    assert_true(a->rdev == b->rdev);
    assert_int_equal(a->link_len, b->link_len);
    assert_memory_equal(a->link, b->link, a->link_len);
    assert_int_equal(a->nxattrs, b->nxattrs);
    for (uint32_t k = 0; k < a->nxattrs; k++) {
        assert_string_equal(a->xattrs[k].name, b->xattrs[k].name);
        assert_int_equal(a->xattrs[k].len, b->xattrs[k].len);
        if (a->xattrs[k].len)
            assert_memory_equal(a->xattrs[k].value, b->xattrs[k].value, a->xattrs[k].len);
    }
    assert_int_equal(a->ncontent, b->ncontent);
    if (a->ncontent)
        assert_memory_equal(a->content, b->content, a->ncontent * sizeof(*a->content));
    if (a->type == NODE_DIR)
        assert_memory_equal(a->subtree.b, b->subtree.b, ID_LEN);
}

static void
assert_trees_equal(const struct tree *a, const struct tree *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_nodes_equal(&a->nodes[i], &b->nodes[i]);
}

/* One node of each type, names sorted. */
static void
build_every_type(struct tree *t)
{
    static const char *const names[] = { "",        "file",     "dir",  "symlink",
                                         "chardev", "blockdev", "fifo", "socket" };
    for (uint8_t type = NODE_FILE; type <= NODE_SOCKET; type++)
        add_full(t, names[type], strlen(names[type]), type, type);
    tree_sort(t);
}

/* Decode expecting failure with code want; the tree is released whatever happens. */
static void
expect_decode_fails(const void *data, size_t len, int want, const char *what)
{
    struct tree t;
    int r = tree_decode(&t, data, len);
    tree_release(&t);
    if (r != want)
        fail_msg("%s: tree_decode gave %s, want %s (%s)", what, drk_err_name(r), drk_err_name(want),
                 drk_err_msg());
}

static void
test_tree__round_trip_every_type(void **state)
{
    struct tree t, back;
    struct buf enc = BUF_INIT, enc2 = BUF_INIT;

    tree_init(&t);
    build_every_type(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    assert_int_equal(tree_decode(&back, enc.data, enc.len), 0);
    assert_trees_equal(&t, &back);
    /* encoding the decoded tree gives the same bytes */
    assert_int_equal(tree_encode(&back, &enc2), 0);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);
    for (size_t i = 0; i < back.n; i++)
        assert_string_equal(node_type_name(back.nodes[i].type), back.nodes[i].name);
    assert_string_equal(node_type_name(0), "unknown");
    assert_string_equal(node_type_name(99), "unknown");
    tree_release(&back);
    tree_release(&t);
    buf_release(&enc);
    buf_release(&enc2);
}

static void
test_tree__round_trip_empty_and_long_names(void **state)
{
    struct tree t, back;
    struct buf enc = BUF_INIT;
    char *name = xcalloc(1, TREE_NAME_MAX + 2), *link = xcalloc(1, TREE_LINK_MAX + 1);
    struct node *n;

    /* an empty directory */
    tree_init(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    assert_int_equal(enc.len, TREE_HDR);
    assert_int_equal(tree_decode(&back, enc.data, enc.len), 0);
    assert_int_equal(back.n, 0);
    tree_release(&back);

    /* names of 1 and 4095 bytes, a link target of 4095 bytes, every byte value but / and NUL */
    for (size_t i = 0; i < TREE_NAME_MAX; i++)
        name[i] = (char)(1 + i % 254 == '/' ? 'x' : 1 + i % 254);
    for (size_t i = 0; i < TREE_LINK_MAX; i++)
        link[i] = (char)('a' + i % 26);
    add_full(&t, "\x01", 1, NODE_FIFO, 1);
    n = add_full(&t, name, TREE_NAME_MAX, NODE_SYMLINK, 2);
    n->link = link;
    n->link_len = TREE_LINK_MAX;
    add_full(&t, "\xff\xfe", 2, NODE_FILE, 3);
    tree_sort(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    assert_int_equal(tree_decode(&back, enc.data, enc.len), 0);
    assert_trees_equal(&t, &back);
    assert_int_equal(back.nodes[1].name_len, TREE_NAME_MAX);
    tree_release(&back);
    tree_release(&t);

    /* too long to store (node names are NUL-terminated, tree.h) */
    name[TREE_NAME_MAX] = 'z';
    tree_init(&t);
    n = tree_add_node(&t);
    n->name = name;
    n->name_len = TREE_NAME_MAX + 1;
    n->type = NODE_FILE;
    assert_int_equal(tree_encode(&t, &enc), DRK_ETOOBIG);
    tree_release(&t);

    buf_release(&enc);
    free(name);
    free(link);
}

static void
test_tree__many_nodes_sorted(void **state)
{
    struct tree t, back;
    struct buf enc = BUF_INIT;
    char name[32];

    tree_init(&t);
    for (unsigned i = 0; i < 5000; i++) {
        int len = snprintf(name, sizeof(name), "n%u", (i * 7919u) % 5000u);
        add_full(&t, name, (size_t)len, (uint8_t)(NODE_FILE + i % 7), i % 10);
    }
    tree_sort(&t);
    for (size_t i = 1; i < t.n; i++)
        assert_true(node_name_cmp(t.nodes[i - 1].name, t.nodes[i - 1].name_len, t.nodes[i].name,
                                  t.nodes[i].name_len) < 0);
    assert_int_equal(tree_encode(&t, &enc), 0);
    assert_int_equal(tree_decode(&back, enc.data, enc.len), 0);
    assert_trees_equal(&t, &back);
    tree_release(&back);
    tree_release(&t);
    buf_release(&enc);
}

/* Encode a tree with nodes named as given, in that order (no sort). */
static void
encode_named(struct buf *out, const char *const *names, const size_t *lens, size_t n)
{
    struct tree t;
    tree_init(&t);
    for (size_t i = 0; i < n; i++)
        add_full(&t, names[i], lens[i], NODE_FIFO, (unsigned)i);
    assert_int_equal(tree_encode(&t, out), 0);
    tree_release(&t);
}

static void
test_tree__decode_rejects_bad_names(void **state)
{
    static const struct {
        const char *names[3];
        size_t lens[3];
        size_t n;
        int want;
        const char *what;
    } cases[] = {
        { { "b", "a" }, { 1, 1 }, 2, DRK_EUNSAFE, "unsorted" },
        { { "a", "c", "b" }, { 1, 1, 1 }, 3, DRK_EUNSAFE, "unsorted at the end" },
        { { "ab", "a" }, { 2, 1 }, 2, DRK_EUNSAFE, "prefix after longer" },
        { { "a", "a" }, { 1, 1 }, 2, DRK_EUNSAFE, "duplicate" },
        { { "a", "b", "b" }, { 1, 1, 1 }, 3, DRK_EUNSAFE, "duplicate at the end" },
        { { "." }, { 1 }, 1, DRK_EUNSAFE, "dot" },
        { { ".." }, { 2 }, 1, DRK_EUNSAFE, "dot dot" },
        { { "" }, { 0 }, 1, DRK_EUNSAFE, "empty" },
        { { "a/b" }, { 3 }, 1, DRK_EUNSAFE, "slash" },
        { { "/" }, { 1 }, 1, DRK_EUNSAFE, "only a slash" },
        { { "/etc" }, { 4 }, 1, DRK_EUNSAFE, "absolute" },
        { { "../x" }, { 4 }, 1, DRK_EUNSAFE, "parent" },
        { { "a\0b" }, { 3 }, 1, DRK_EUNSAFE, "NUL inside" },
        { { "a\0" }, { 2 }, 1, DRK_EUNSAFE, "NUL at the end" },
        { { "ok", "..." }, { 2, 3 }, 2, DRK_EUNSAFE, "unsorted, second harmless" },
    };
    struct buf enc = BUF_INIT;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        encode_named(&enc, cases[i].names, cases[i].lens, cases[i].n);
        expect_decode_fails(enc.data, enc.len, cases[i].want, cases[i].what);
    }
    /* harmless look-alikes decode */
    {
        static const char *const ok[] = { "...", "..a", ".a", "a.", "a..b" };
        static const size_t oklen[] = { 3, 3, 2, 2, 4 };
        struct tree t;
        encode_named(&enc, ok, oklen, 5);
        assert_int_equal(tree_decode(&t, enc.data, enc.len), 0);
        assert_int_equal(t.n, 5);
        tree_release(&t);
    }
    buf_release(&enc);
}

static void
test_tree__decode_rejects_bad_fields(void **state)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    struct node *n;
    static const uint8_t bad_types[] = { 0, 8, 9, 255 };

    for (size_t i = 0; i < sizeof(bad_types); i++) {
        tree_init(&t);
        add_full(&t, "x", 1, bad_types[i], 2);
        assert_int_equal(tree_encode(&t, &enc), 0);
        tree_release(&t);
        expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "unknown type");
    }
    /* content on anything but a regular file */
    for (uint8_t type = NODE_DIR; type <= NODE_SOCKET; type++) {
        tree_init(&t);
        n = add_full(&t, "x", 1, type, 2);
        n->ncontent = 1;
        n->content = arena_alloc(&t.arena, sizeof(*n->content));
        fill_id(n->content, 1);
        assert_int_equal(tree_encode(&t, &enc), 0);
        tree_release(&t);
        expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "content on a non-file");
    }
    /* impossible mode and times */
    for (int k = 0; k < 3; k++) {
        tree_init(&t);
        n = add_full(&t, "x", 1, NODE_FILE, 2);
        if (k == 0)
            n->mode = 010000;
        else if (k == 1)
            n->mtime_nsec = 1000000000u;
        else
            n->ctime_nsec = UINT32_MAX;
        assert_int_equal(tree_encode(&t, &enc), 0);
        tree_release(&t);
        expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "mode or time");
    }
    /* NUL in a symlink target, user or group; an empty or NUL-holding attribute name */
    for (int k = 0; k < 5; k++) {
        tree_init(&t);
        n = add_full(&t, "x", 1, NODE_SYMLINK, 1);
        if (k == 0) {
            n->link = arena_memdup(&t.arena, "a\0b", 4);
            n->link_len = 3;
        } else if (k == 1) {
            n->xattrs[0].name = arena_strdup(&t.arena, "");
        } else {
            n->link_len = 1;
        }
        assert_int_equal(tree_encode(&t, &enc), 0);
        tree_release(&t);
        if (k == 2) {
            /* patch the user name "alice" to "al\0ce" */
            unsigned char *p = memmem(enc.data, enc.len, "alice", 5);
            assert_non_null(p);
            p[2] = 0;
        } else if (k == 3) {
            unsigned char *p = memmem(enc.data, enc.len, "staff", 5);
            assert_non_null(p);
            p[4] = 0;
        } else if (k == 4) {
            unsigned char *p = memmem(enc.data, enc.len, "user.binary", 11);
            assert_non_null(p);
            p[4] = 0;
        }
        expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "NUL in a text field");
    }
    /* a wrong version */
    tree_init(&t);
    build_every_type(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    tree_release(&t);
    enc.data[0] = 2;
    expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "version 2");
    enc.data[0] = 0;
    expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "version 0");
    buf_release(&enc);
}

static void
test_tree__decode_rejects_truncation_at_every_offset(void **state)
{
    struct tree t;
    struct buf enc = BUF_INIT;

    tree_init(&t);
    build_every_type(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    tree_release(&t);
    for (size_t len = 0; len < enc.len; len++) {
        /* a private copy of exactly len bytes, so ASan sees any read past it */
        unsigned char *p = xmalloc(len ? len : 1);
        char what[64];
        memcpy(p, enc.data, len);
        snprintf(what, sizeof(what), "truncated to %zu of %zu", len, enc.len);
        expect_decode_fails(p, len, DRK_ECORRUPT, what);
        free(p);
    }
    buf_release(&enc);
}

static void
test_tree__decode_rejects_trailing_bytes(void **state)
{
    struct tree t;
    struct buf enc = BUF_INIT;

    tree_init(&t);
    build_every_type(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    tree_release(&t);
    assert_int_equal(buf_addch(&enc, 0), 0);
    expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "one trailing byte");
    assert_int_equal(buf_add(&enc, "0123456789abcdef0123456789abcdef", 32), 0);
    expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "33 trailing bytes");

    /* an empty tree with trailing bytes */
    tree_init(&t);
    assert_int_equal(tree_encode(&t, &enc), 0);
    assert_int_equal(buf_add(&enc, "xyz", 3), 0);
    expect_decode_fails(enc.data, enc.len, DRK_ECORRUPT, "empty tree, trailing bytes");
    tree_release(&t);
    buf_release(&enc);
}

/* Offsets of the variable-length counts of the first node of a one-node tree named "x". */
struct node_layout {
    size_t name_len, user_len, group_len, link_len, nxattrs, xattr0_vlen, ncontent;
};

static void
layout_of_first(const struct buf *enc, struct node_layout *lo)
{
    struct rd r;
    uint16_t nl, ll, nx;
    uint8_t ul, gl;

    rd_init(&r, enc->data, enc->len);
    rd_u32(&r);
    rd_u32(&r);
    lo->name_len = r.pos;
    nl = rd_u16(&r);
    rd_bytes(&r, nl);
    rd_bytes(&r, 2 + 12);
    lo->user_len = r.pos;
    ul = rd_u8(&r);
    rd_bytes(&r, ul);
    lo->group_len = r.pos;
    gl = rd_u8(&r);
    rd_bytes(&r, gl);
    rd_bytes(&r, 12 + 12 + 20 + 16);
    lo->link_len = r.pos;
    ll = rd_u16(&r);
    rd_bytes(&r, ll);
    lo->nxattrs = r.pos;
    nx = rd_u16(&r);
    lo->xattr0_vlen = 0;
    for (uint16_t k = 0; k < nx; k++) {
        uint16_t xl = rd_u16(&r);
        uint32_t vl;
        rd_bytes(&r, xl);
        if (k == 0)
            lo->xattr0_vlen = r.pos;
        vl = rd_u32(&r);
        rd_bytes(&r, vl);
    }
    lo->ncontent = r.pos;
    assert_true(rd_ok(&r));
}

static void
test_tree__decode_rejects_counts_past_the_buffer(void **state)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    struct node_layout lo;
    unsigned char *p;
    static const uint32_t big32[] = { 2, 1000, 0x10000, 0x7fffffff, UINT32_MAX };

    tree_init(&t);
    add_full(&t, "x", 1, NODE_FILE, 1);
    assert_int_equal(tree_encode(&t, &enc), 0);
    tree_release(&t);
    layout_of_first(&enc, &lo);
    p = enc.data;

    /* the node count */
    for (size_t i = 0; i < sizeof(big32) / sizeof(big32[0]); i++) {
        le_put32(p + 4, big32[i]);
        expect_decode_fails(p, enc.len, DRK_ECORRUPT, "node count");
    }
    le_put32(p + 4, 0);
    expect_decode_fails(p, enc.len, DRK_ECORRUPT, "node count 0 with a node after it");
    le_put32(p + 4, 1);
    {
        struct tree ok;
        assert_int_equal(tree_decode(&ok, p, enc.len), 0);
        tree_release(&ok);
    }
    /* 16-bit lengths: name, link target, attribute count */
    {
        const size_t offs[] = { lo.name_len, lo.link_len, lo.nxattrs };
        for (size_t k = 0; k < 3; k++) {
            unsigned char save[2] = { p[offs[k]], p[offs[k] + 1] };
            static const uint16_t vals[] = { 0x0fff, 0x1000, 0x7fff, 0xffff };
            for (size_t v = 0; v < 4; v++) {
                p[offs[k]] = (unsigned char)vals[v];
                p[offs[k] + 1] = (unsigned char)(vals[v] >> 8);
                expect_decode_fails(p, enc.len, DRK_ECORRUPT, "16-bit length");
            }
            p[offs[k]] = save[0];
            p[offs[k] + 1] = save[1];
        }
    }
    /* 8-bit lengths: user and group (the group "staff" is last before the times) */
    p[lo.user_len] = 0xff;
    expect_decode_fails(p, enc.len, DRK_ECORRUPT, "user length");
    p[lo.user_len] = 5;
    /* 32-bit lengths: first attribute value, content count */
    {
        const size_t offs[] = { lo.xattr0_vlen, lo.ncontent };
        for (size_t k = 0; k < 2; k++) {
            uint32_t save = le_get32(p + offs[k]);
            for (size_t i = 0; i < sizeof(big32) / sizeof(big32[0]); i++) {
                le_put32(p + offs[k], save + big32[i]);
                expect_decode_fails(p, enc.len, DRK_ECORRUPT, "32-bit count");
            }
            le_put32(p + offs[k], save);
        }
    }
    /* more attributes than allowed, even when the bytes would be there */
    {
        struct tree big;
        struct node *n;
        tree_init(&big);
        n = add_full(&big, "x", 1, NODE_FIFO, 0);
        n->nxattrs = TREE_XATTR_MAX + 1;
        n->xattrs = arena_alloc(&big.arena, n->nxattrs * sizeof(*n->xattrs));
        for (uint32_t k = 0; k < n->nxattrs; k++) {
            n->xattrs[k].name = arena_strdup(&big.arena, "user.a");
            n->xattrs[k].value = (unsigned char *)"";
            n->xattrs[k].len = 0;
        }
        assert_int_equal(tree_encode(&big, &enc), DRK_ETOOBIG);
        n->nxattrs = TREE_XATTR_MAX;
        assert_int_equal(tree_encode(&big, &enc), 0);
        layout_of_first(&enc, &lo);
        enc.data[lo.nxattrs] = (unsigned char)((TREE_XATTR_MAX + 1) & 0xff);
        enc.data[lo.nxattrs + 1] = (unsigned char)((TREE_XATTR_MAX + 1) >> 8);
        /* the bytes of one more attribute, so only the limit can reject it */
        {
            struct buf more = BUF_INIT;
            size_t at = lo.nxattrs + 2;
            assert_int_equal(buf_add(&more, enc.data, at), 0);
            assert_int_equal(buf_put_u16(&more, 6), 0);
            assert_int_equal(buf_add(&more, "user.a", 6), 0);
            assert_int_equal(buf_put_u32(&more, 0), 0);
            assert_int_equal(buf_add(&more, enc.data + at, enc.len - at), 0);
            expect_decode_fails(more.data, more.len, DRK_ECORRUPT, "too many attributes");
            buf_release(&more);
        }
        tree_release(&big);
    }
    buf_release(&enc);
}

/*
 * Regression (fixed): src/repo/tree.c tree_decode accepts a symlink target of up to 65535 bytes
 * (any u16 link_len), although tree.h caps it at TREE_LINK_MAX (4095) and tree_encode refuses
 * longer ones with DRK_ETOOBIG: a stored tree can hold a node that drkit could never have written
 * and cannot write again (fuzz/fuzz_tree.c's re-encode check has to tolerate exactly this case).
 * Expected: DRK_ECORRUPT for link_len > TREE_LINK_MAX, as names longer than TREE_NAME_MAX are.
 */
static void
test_tree__decode_rejects_overlong_link(void **state)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    char *link = xcalloc(1, TREE_LINK_MAX + 2);
    struct node *n;

    memset(link, 'l', TREE_LINK_MAX);
    tree_init(&t);
    n = add_full(&t, "x", 1, NODE_SYMLINK, 2);
    n->link = link;
    n->link_len = TREE_LINK_MAX;
    assert_int_equal(tree_encode(&t, &enc), 0);
    tree_release(&t);
    {
        /* grow the target by one byte in the encoding: link_len is the u16 before it */
        struct node_layout lo;
        struct buf more = BUF_INIT;
        layout_of_first(&enc, &lo);
        enc.data[lo.link_len] = (unsigned char)((TREE_LINK_MAX + 1) & 0xff);
        enc.data[lo.link_len + 1] = (unsigned char)((TREE_LINK_MAX + 1) >> 8);
        assert_int_equal(buf_add(&more, enc.data, lo.link_len + 2), 0);
        assert_int_equal(buf_addch(&more, 'l'), 0);
        assert_int_equal(buf_add(&more, enc.data + lo.link_len + 2, enc.len - lo.link_len - 2), 0);
        expect_decode_fails(more.data, more.len, DRK_ECORRUPT, "link of 4096 bytes");
        buf_release(&more);
    }
    buf_release(&enc);
    free(link);
}

static void
test_tree__find(void **state)
{
    struct tree t;
    char name[16];
    const struct node *n;

    tree_init(&t);
    assert_null(tree_find(&t, "a", 1));
    for (unsigned i = 0; i < 1000; i += 2) {
        int len = snprintf(name, sizeof(name), "f%04u", i);
        add_full(&t, name, (size_t)len, NODE_FILE, i % 5);
    }
    add_full(&t, "a", 1, NODE_DIR, 0);
    add_full(&t, "ab", 2, NODE_DIR, 0);
    add_full(&t, "a\xff", 2, NODE_DIR, 0);
    tree_sort(&t);
    for (unsigned i = 0; i < 1000; i++) {
        int len = snprintf(name, sizeof(name), "f%04u", i);
        n = tree_find(&t, name, (size_t)len);
        if (i % 2 == 0) {
            assert_non_null(n);
            assert_string_equal(n->name, name);
        } else {
            assert_null(n);
        }
    }
    n = tree_find(&t, "a", 1);
    assert_non_null(n);
    assert_int_equal(n->name_len, 1);
    n = tree_find(&t, "ab", 2);
    assert_non_null(n);
    assert_string_equal(n->name, "ab");
    n = tree_find(&t, "a\xff", 2);
    assert_non_null(n);
    /* a prefix of a name, a length that cuts a name, names before and after all */
    assert_null(tree_find(&t, "f", 1));
    assert_null(tree_find(&t, "f000", 4));
    assert_non_null(tree_find(&t, "f0000xyz", 5));
    assert_null(tree_find(&t, "", 0));
    assert_null(tree_find(&t, "\x01", 1));
    assert_null(tree_find(&t, "\xff\xff", 2));
    tree_release(&t);
}

static void
test_tree__name_safe(void **state)
{
    char *long_name = xmalloc(TREE_NAME_MAX + 2);
    memset(long_name, 'n', TREE_NAME_MAX + 1);
    long_name[TREE_NAME_MAX + 1] = '\0';

    assert_true(tree_name_safe("a", 1));
    assert_true(tree_name_safe("...", 3));
    assert_true(tree_name_safe(".hidden", 7));
    assert_true(tree_name_safe("..x", 3));
    assert_true(tree_name_safe("with space", 10));
    assert_true(tree_name_safe("\xff\xfe", 2));
    assert_true(tree_name_safe("\\", 1));
    assert_true(tree_name_safe(long_name, TREE_NAME_MAX));
    assert_false(tree_name_safe(long_name, TREE_NAME_MAX + 1));
    assert_false(tree_name_safe("", 0));
    assert_false(tree_name_safe(".", 1));
    assert_false(tree_name_safe("..", 2));
    assert_false(tree_name_safe("/", 1));
    assert_false(tree_name_safe("a/b", 3));
    assert_false(tree_name_safe("a/", 2));
    assert_false(tree_name_safe("\0", 1));
    assert_false(tree_name_safe("a\0", 2));
    /* the length is what counts, not a NUL terminator */
    assert_true(tree_name_safe("ab/c", 2));
    assert_false(tree_name_safe("../x", 2));
    free(long_name);
}

static void
test_tree__name_cmp(void **state)
{
    assert_int_equal(node_name_cmp("a", 1, "a", 1), 0);
    assert_true(node_name_cmp("a", 1, "b", 1) < 0);
    assert_true(node_name_cmp("b", 1, "a", 1) > 0);
    assert_true(node_name_cmp("a", 1, "ab", 2) < 0);
    assert_true(node_name_cmp("ab", 2, "a", 1) > 0);
    /* bytes compare unsigned */
    assert_true(node_name_cmp("a", 1, "\xff", 1) < 0);
    assert_true(node_name_cmp("", 0, "a", 1) < 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree__round_trip_every_type),
        cmocka_unit_test(test_tree__round_trip_empty_and_long_names),
        cmocka_unit_test(test_tree__many_nodes_sorted),
        cmocka_unit_test(test_tree__decode_rejects_bad_names),
        cmocka_unit_test(test_tree__decode_rejects_bad_fields),
        cmocka_unit_test(test_tree__decode_rejects_truncation_at_every_offset),
        cmocka_unit_test(test_tree__decode_rejects_trailing_bytes),
        cmocka_unit_test(test_tree__decode_rejects_counts_past_the_buffer),
        cmocka_unit_test(test_tree__find),
        cmocka_unit_test(test_tree__name_safe),
        cmocka_unit_test(test_tree__name_cmp),
        cmocka_unit_test(test_tree__decode_rejects_overlong_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
