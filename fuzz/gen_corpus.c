/*
 * gen_corpus: write the seed corpora of the fuzz targets, produced by drkit's real encoders
 * (tree_encode, idx_encode, pack_writer, sealed_seal, snap_encode, key_add) so the fuzzers
 * start from valid repository data. Sealed data uses the fuzz targets' fixed key (byte i is
 * 0xa5 ^ i); inputs carry the mode byte the target expects (see each fuzz_*.c).
 *
 *     usage: fuzz_gen_corpus OUT_DIR [EXAMPLE_CONFIG]
 *
 * writes OUT_DIR/<target>/seed-<what> for the targets tree, index, pack, sealed, snapshot,
 * key and config. Keys, nonces and salts are random, so the bytes differ from run to run;
 * the committed corpus is one such run (plus what the fuzzers found, merged in).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "repo/blob.h"
#include "repo/format.h"
#include "repo/index.h"
#include "repo/key.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *out_dir;

static void
die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, drk_err_msg());
    exit(1);
}

static void
fuzz_key(unsigned char key[AEAD_KEY_LEN])
{
    for (int i = 0; i < AEAD_KEY_LEN; i++)
        key[i] = (unsigned char)(0xa5 ^ i);
}

/* Write OUT_DIR/target/seed-name, optionally prefixed with a mode byte (-1: none). */
static void
emit(const char *target, const char *name, int mode, const void *p, size_t len)
{
    char *dir = xasprintf("%s/%s", out_dir, target);
    char *path = xasprintf("%s/seed-%s", dir, name);
    struct buf b = BUF_INIT;

    if (fs_mkdir_p(dir, 0755) != 0)
        die(dir);
    if (mode >= 0)
        buf_addch(&b, mode);
    buf_add(&b, p, len);
    if (b.len >= 64 * 1024) {
        fprintf(stderr, "gen_corpus: %s is %zu bytes, too big for the corpus\n", path, b.len);
        exit(1);
    }
    if (fs_write_file_atomic(path, b.data, b.len, 0644) != 0)
        die(path);
    buf_release(&b);
    free(path);
    free(dir);
}

static void
fill_id(struct blob_id *id, unsigned seed)
{
    for (int i = 0; i < ID_LEN; i++)
        id->b[i] = (unsigned char)(seed * 37 + (unsigned)i);
}

/* ---- tree ---- */

static struct node *
add_node(struct tree *t, const char *name, uint8_t type, unsigned seed)
{
    struct node *n = tree_add_node(t);
    n->name = arena_strdup(&t->arena, name);
    n->name_len = strlen(name);
    n->type = type;
    n->mode = type == NODE_DIR ? 0755 : 0644;
    n->uid = n->gid = seed % 3 ? 1000 : 0;
    n->user = arena_strdup(&t->arena, seed % 3 ? "www-data" : "root");
    n->group = arena_strdup(&t->arena, seed % 3 ? "www-data" : "root");
    n->mtime_sec = 1700000000 + seed;
    n->mtime_nsec = seed * 1000;
    n->ctime_sec = 1700000000 + seed;
    n->dev = 2049;
    n->ino = 100 + seed;
    n->nlink = type == NODE_DIR ? 2 : 1;
    if (type == NODE_FILE) {
        n->size = 4096 * (seed + 1);
        n->ncontent = seed % 4;
        n->content = arena_alloc(&t->arena, (n->ncontent + 1) * sizeof(*n->content));
        for (uint32_t k = 0; k < n->ncontent; k++)
            fill_id(&n->content[k], seed + k);
    } else if (type == NODE_DIR) {
        fill_id(&n->subtree, seed + 100);
    } else if (type == NODE_SYMLINK) {
        n->link = arena_strdup(&t->arena, "../shared/config.php");
        n->link_len = strlen(n->link);
    } else if (type == NODE_CHARDEV || type == NODE_BLOCKDEV) {
        n->rdev = 0x0103;
    }
    return n;
}

static void
emit_tree(const char *name, struct tree *t)
{
    struct buf b = BUF_INIT;
    tree_sort(t);
    if (tree_encode(t, &b) != 0)
        die("tree_encode");
    emit("tree", name, -1, b.data, b.len);
    buf_release(&b);
    tree_release(t);
}

static void
gen_tree(void)
{
    static const char *const type_names[] = { "",        "file",     "dir",  "symlink",
                                              "chardev", "blockdev", "fifo", "socket" };
    struct tree t;
    struct node *n;
    char name[300];

    tree_init(&t);
    emit_tree("empty", &t);

    tree_init(&t);
    for (uint8_t type = NODE_FILE; type <= NODE_SOCKET; type++)
        add_node(&t, type_names[type], type, type);
    emit_tree("every-type", &t);

    tree_init(&t);
    n = add_node(&t, "index.php", NODE_FILE, 5);
    n->flags = NODE_FLAG_SPARSE;
    n->nxattrs = 2;
    n->xattrs = arena_alloc(&t.arena, 2 * sizeof(*n->xattrs));
    n->xattrs[0].name = arena_strdup(&t.arena, "security.selinux");
    n->xattrs[0].value = arena_memdup(&t.arena, "system_u:object_r:httpd_sys_content_t:s0", 40);
    n->xattrs[0].len = 40;
    n->xattrs[1].name = arena_strdup(&t.arena, "user.bin");
    n->xattrs[1].value = arena_memdup(&t.arena, "\0\1\2\377", 4);
    n->xattrs[1].len = 4;
    emit_tree("xattrs", &t);

    tree_init(&t);
    memset(name, 'n', 299);
    name[299] = '\0';
    add_node(&t, name, NODE_FILE, 1);
    add_node(&t, "\xc3\xa9t\xc3\xa9", NODE_DIR, 2);
    add_node(&t, "...", NODE_FIFO, 3);
    emit_tree("odd-names", &t);

    tree_init(&t);
    for (unsigned i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "entry-%02u", i);
        add_node(&t, name, (uint8_t)(NODE_FILE + i % 3), i);
    }
    emit_tree("forty", &t);
}

/* ---- index ---- */

static void
make_entries(struct pack_entry *e, size_t n, unsigned seed, uint64_t *size)
{
    uint32_t off = PACK_MAGIC_LEN;
    for (size_t i = 0; i < n; i++) {
        e[i].type = i % 4 == 3 ? BLOB_TREE : BLOB_DATA;
        e[i].offset = off;
        e[i].length = 100 + (uint32_t)i * 10;
        e[i].raw_length = 59 + (uint32_t)i * 10;
        fill_id(&e[i].id, seed + (unsigned)i);
        off += e[i].length;
    }
    *size = (uint64_t)off + 4 + n * PACK_ENTRY_LEN + AEAD_OVERHEAD + PACK_TRAILER_LEN;
}

static void
emit_index(const char *name, const struct idx_pack_rec *packs, size_t n, const struct blob_id *sup,
           size_t nsup)
{
    struct buf b = BUF_INIT;
    if (idx_encode(&b, packs, n, sup, nsup) != 0)
        die("idx_encode");
    emit("index", name, -1, b.data, b.len);
    buf_release(&b);
}

static void
gen_index(void)
{
    struct pack_entry e1[3], e2[5], e3[1];
    struct idx_pack_rec packs[3];
    struct blob_id sup[2];

    emit_index("empty", NULL, 0, NULL, 0);
    fill_id(&packs[0].id, 1);
    packs[0].entries = e1;
    packs[0].n = 3;
    make_entries(e1, 3, 10, &packs[0].size);
    emit_index("one-pack", packs, 1, NULL, 0);
    fill_id(&packs[1].id, 2);
    packs[1].entries = e2;
    packs[1].n = 5;
    make_entries(e2, 5, 20, &packs[1].size);
    fill_id(&packs[2].id, 3);
    packs[2].entries = e3;
    packs[2].n = 0;
    make_entries(e3, 0, 30, &packs[2].size);
    fill_id(&sup[0], 40);
    fill_id(&sup[1], 41);
    emit_index("three-packs-superseding", packs, 3, sup, 2);
    emit_index("supersedes-only", NULL, 0, sup, 2);
}

/* ---- pack ---- */

static void
gen_pack(struct stor *stor)
{
    static const unsigned sizes[] = { 1, 3, 20 };
    unsigned char master[MASTER_KEY_LEN];
    struct repo repo;
    struct blob_codec c;

    /* just enough of a repository for blob_seal: the keys */
    memset(&repo, 0, sizeof(repo));
    fuzz_key(master);
    memset(master + 32, 0x33, 64);
    repo.master = master;
    repo.mac = mac_key_new(master + 32, 32);
    blob_codec_init(&c);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) + 1; s++) {
        size_t n = s < sizeof(sizes) / sizeof(sizes[0]) ? sizes[s] : 0;
        struct pack_writer pw;
        struct blob_id id;
        unsigned char *bytes;
        char name[32];

        if (pack_writer_begin(&pw, stor) != 0)
            die("pack_writer_begin");
        for (size_t i = 0; i < n; i++) {
            char text[200];
            const unsigned char *sealed;
            size_t sealed_len;
            int len = snprintf(text, sizeof(text), "blob %zu of %zu: %s", i, n,
                               i % 2 ? "some words that repeat, words that repeat" : "x");
            uint8_t type = i % 5 == 4 ? BLOB_TREE : BLOB_DATA;
            repo_blob_id(&repo, type, text, (size_t)len, &id);
            if (blob_seal(&c, &repo, type, &id, text, (size_t)len, 3, &sealed, &sealed_len) != 0 ||
                pack_writer_add(&pw, i % 5 == 4 ? BLOB_TREE : BLOB_DATA, &id, sealed, sealed_len,
                                (uint32_t)len) != 0)
                die("pack_writer_add");
        }
        if (pack_writer_finish(&pw, master, &id) != 0)
            die("pack_writer_finish");
        bytes = xmalloc(pw.size);
        if (fs_pread_all(pw.tmp.fd, bytes, pw.size, 0, "pack") != 0)
            die("read pack");
        snprintf(name, sizeof(name), "pack-%zu-blobs", n);
        emit("pack", name, 0, bytes, pw.size);
        free(bytes);
        pack_writer_discard(&pw, stor);
        pack_writer_release(&pw);
    }
    /* mode 1: area length, then a header's plaintext (sealed by the target) */
    {
        struct pack_entry e[3];
        unsigned char hdr[4 + 3 * PACK_ENTRY_LEN + 2];
        uint64_t size;
        uint32_t area;
        make_entries(e, 3, 50, &size);
        area = e[2].offset + e[2].length - PACK_MAGIC_LEN;
        hdr[0] = (unsigned char)area;
        hdr[1] = (unsigned char)(area >> 8);
        le_put32(hdr + 2, 3);
        for (int i = 0; i < 3; i++)
            pack_entry_encode(hdr + 2 + 4 + i * PACK_ENTRY_LEN, &e[i]);
        emit("pack", "header-3-entries", 1, hdr, sizeof(hdr));
        hdr[0] = hdr[1] = 0;
        le_put32(hdr + 2, 0);
        emit("pack", "header-empty", 1, hdr, 6);
    }
    blob_codec_release(&c);
    mac_key_free(repo.mac);
}

/* ---- sealed ---- */

static void
emit_sealed(const char *name, char kind, const void *plain, size_t len)
{
    unsigned char key[AEAD_KEY_LEN];
    struct buf b = BUF_INIT;
    fuzz_key(key);
    if (sealed_seal(&b, key, kind, plain, len) != 0)
        die("sealed_seal");
    emit("sealed", name, 0, b.data, b.len);
    buf_release(&b);
}

static void
gen_sealed(void)
{
    static const char config[] =
        "{\"version\":1,\"id\":"
        "\"3c166a4ff99f0000000000000000000000000000000000000000000000000000\","
        "\"created\":\"2024-01-13T02:00:00.000000000Z\",\"chunker\":{\"min\":262144,"
        "\"avg_bits\":20,\"max\":4194304},\"compression\":3,\"pack_size\":16777216}";
    struct buf idx = BUF_INIT, body = BUF_INIT;
    struct pack_entry e[4];
    struct idx_pack_rec rec;
    char *big = xmalloc(20000);
    size_t bound, n;

    emit_sealed("config", OBJ_CONFIG, config, strlen(config));
    fill_id(&rec.id, 7);
    rec.entries = e;
    rec.n = 4;
    make_entries(e, 4, 70, &rec.size);
    if (idx_encode(&idx, &rec, 1, NULL, 0) != 0)
        die("idx_encode");
    emit_sealed("index", OBJ_INDEX, idx.data, idx.len);
    emit_sealed("empty-index", OBJ_INDEX, "", 0);
    for (size_t i = 0; i < 20000; i++)
        big[i] = "{\"name\":\"backup-20240113-020000\"}"[i % 33];
    emit_sealed("snapshot-compressed", OBJ_SNAPSHOT, big, 20000);

    /* mode 1: bodies, compression byte first */
    buf_addch(&body, COMP_NONE);
    buf_add(&body, config, strlen(config));
    emit("sealed", "body-plain", 1, body.data, body.len);
    buf_reset(&body);
    bound = ZSTD_compressBound(20000);
    buf_addch(&body, COMP_ZSTD);
    n = ZSTD_compress(buf_reserve(&body, bound), bound, big, 20000, 3);
    if (ZSTD_isError(n))
        die("zstd");
    buf_setlen(&body, 1 + n);
    emit("sealed", "body-zstd", 1, body.data, body.len);
    buf_reset(&body);
    buf_addch(&body, COMP_ZSTD);
    n = ZSTD_compress(buf_reserve(&body, bound), bound, "", 0, 3);
    buf_setlen(&body, 1 + n);
    emit("sealed", "body-zstd-empty", 1, body.data, body.len);
    buf_release(&body);
    buf_release(&idx);
    free(big);
}

/* ---- snapshot ---- */

static void
emit_snapshot(const char *name, struct snapshot *s)
{
    char *json = NULL;
    if (snap_encode(s, &json) != 0)
        die("snap_encode");
    emit("snapshot", name, -1, json, strlen(json));
    free(json);
    snap_release(s);
}

static void
base_snapshot(struct snapshot *s, const char *type)
{
    snap_init(s);
    s->name = xstrdup("backup-20240113-020000");
    s->time.sec = 1705111200;
    s->time.nsec = 123456789;
    s->time.off = 3600;
    s->end_time.sec = 1705111320;
    s->host = xstrdup("shop1");
    s->username = xstrdup("root");
    s->type = xstrdup(type);
    s->program = xstrdup("drkit 0.1.0");
}

static void
gen_snapshot(void)
{
    struct snapshot s;

    base_snapshot(&s, "full");
    vec_push(&s.tags, xstrdup("nightly"));
    vec_push(&s.paths, xstrdup("/var/www/shop"));
    vec_push(&s.paths, xstrdup("/etc/nginx"));
    s.has_files = true;
    fill_id(&s.files_tree, 9);
    s.stats.files = 1234;
    s.stats.dirs = 56;
    s.stats.bytes = 987654321;
    s.stats.duration = 12.25;
    emit_snapshot("full", &s);

    base_snapshot(&s, "incremental");
    memset(s.parent, 'a', ID_HEX_LEN);
    s.has_files = true;
    fill_id(&s.files_tree, 10);
    vec_push(&s.paths, xstrdup("/srv/\xff-not-utf8"));
    snap_add_error(&s, "/var/www/shop/secret", "permission denied");
    snap_add_error(&s, "/var/www/shop/gone", "file vanished");
    emit_snapshot("partial-incremental", &s);

    base_snapshot(&s, "restore_point");
    emit_snapshot("restore-point", &s);
}

/* ---- key ---- */

static int
collect_key(void *arg, const char *name, uint64_t size)
{
    struct stor *stor = arg;
    struct buf b = BUF_INIT;
    char *key = xasprintf("keys/%s", name);
    static int n;
    char seed[32];
    (void)size;
    if (stor_get(stor, key, &b, 0) != 0)
        die(key);
    snprintf(seed, sizeof(seed), "keyfile-%d", n++);
    emit("key", seed, -1, b.data, b.len);
    buf_release(&b);
    free(key);
    return 0;
}

static void
gen_key(struct stor *stor)
{
    unsigned char master[MASTER_KEY_LEN];
    char id[ID_HEX_LEN + 1];

    randombytes_buf(master, sizeof(master));
    if (key_add(stor, master, "first", 5, 1, 8192, id) != 0 ||
        key_add(stor, master, "second passphrase", 17, 3, 65536, id) != 0)
        die("key_add");
    if (stor_list(stor, "keys", collect_key, stor) != 0)
        die("list keys");
}

/* ---- config ---- */

static void
gen_config(const char *example)
{
    static const char *const texts[] = {
        "[core]\n\tthreads = 4\n\trepository = local\n",
        "\xef\xbb\xbf[core]\r\nhost = \"web 1\" ; comment\r\n",
        "[repository \"s3\"]\nurl = s3://bucket/prefix\npack-size = 32MiB\n"
        "compression = zstd:19\npassword-command = \"pass show drkit\"\n",
        "[source \"www\"]\ntype = files\npath = /var/www \"/srv/with space\"\npath = /etc\n"
        "exclude = \"*.tmp\" \\\n  \"*.log\"\none-file-system\n",
        "[target \"dr\"]\npath = ~/restore\n# comment\n; another\n",
    };
    struct buf b = BUF_INIT;
    char name[32];

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        snprintf(name, sizeof(name), "snippet-%zu", i);
        emit("config", name, -1, texts[i], strlen(texts[i]));
    }
    if (example) {
        if (fs_read_file(example, &b, 0) != 0)
            die(example);
        emit("config", "example", -1, b.data, b.len);
        buf_release(&b);
    }
}

int
main(int argc, char **argv)
{
    char tmp[] = "/tmp/drkit-gen-corpus-XXXXXX";
    struct stor *stor = NULL;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUT_DIR [EXAMPLE_CONFIG]\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0 || !mkdtemp(tmp))
        return 1;
    out_dir = argv[1];
    if (stor_open(&stor, tmp) != 0)
        die("stor_open");
    gen_tree();
    gen_index();
    gen_pack(stor);
    gen_sealed();
    gen_snapshot();
    gen_key(stor);
    gen_config(argc > 2 ? argv[2] : NULL);
    stor_close(stor);
    fs_remove_tree(tmp);
    return 0;
}
