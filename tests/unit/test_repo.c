/*
 * test_repo: a real repository in a temporary directory through the local storage backend:
 * init/open/probe, keys, sealed objects, blobs, packs, snapshots, idset and locks
 * (src/repo).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "repo/blob.h"
#include "repo/format.h"
#include "repo/idset.h"
#include "repo/index.h"
#include "repo/key.h"
#include "repo/lock.h"
#include "repo/pack.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "repo/snapshot.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PASS "correct horse battery staple"

struct fixture {
    char dir[64];
    struct repo *repo;
};

static void
fill_random(unsigned char *p, size_t n, uint32_t seed)
{
    unsigned char s[randombytes_SEEDBYTES] = { 0 };
    memcpy(s, &seed, sizeof(seed));
    randombytes_buf_deterministic(p, n, s);
}

static struct stor *
open_stor(const char *dir)
{
    struct stor *s = NULL;
    assert_int_equal(stor_open(&s, dir), 0);
    return s;
}

static const struct repo_init_opts tiny_kdf = { 1, 8192, -1, 0 };

static int
setup_repo(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct stor *s;
    int r;

    snprintf(f->dir, sizeof(f->dir), "/tmp/drkit-test-repo-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    s = open_stor(f->dir);
    if ((r = repo_init(&f->repo, s, PASS, strlen(PASS), &tiny_kdf)) != 0) {
        print_error("repo_init: %s\n", drk_err_msg());
        stor_close(s);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown_repo(void **state)
{
    struct fixture *f = *state;
    repo_free(f->repo);
    fs_remove_tree(f->dir);
    free(f);
    return 0;
}

static char *
path_in(const struct fixture *f, const char *rel)
{
    return xasprintf("%s/%s", f->dir, rel);
}

static void
write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

struct names {
    size_t n;
    char last[256];
};

static int
count_names(void *arg, const char *name, uint64_t size)
{
    struct names *nm = arg;
    (void)size;
    nm->n++;
    snprintf(nm->last, sizeof(nm->last), "%s", name);
    return 0;
}

static size_t
count_objects(struct stor *s, const char *dir)
{
    struct names nm = { 0, "" };
    assert_int_equal(stor_list(s, dir, count_names, &nm), 0);
    return nm.n;
}

/* ---- init, open, probe, keys ---- */

static void
test_repo__init_and_open(void **state)
{
    struct fixture *f = *state;
    struct repo *r = NULL;
    struct repo_config want = f->repo->config;
    struct stor *s;

    assert_int_equal(want.version, REPO_FORMAT_VERSION);
    assert_true(is_hex_string(want.id, ID_HEX_LEN, ID_HEX_LEN));
    assert_int_equal(want.chunker.min, CDC_DEFAULT_MIN);
    assert_int_equal(want.chunker.avg_bits, CDC_DEFAULT_AVG_BITS);
    assert_int_equal(want.chunker.max, CDC_DEFAULT_MAX);
    assert_int_equal(want.compression, 3);
    assert_int_equal(want.pack_size, PACK_DEFAULT_SIZE);
    assert_int_equal(count_objects(f->repo->stor, "keys"), 1);

    s = open_stor(f->dir);
    assert_int_equal(repo_probe(s), 0);
    assert_int_equal(repo_open(&r, s, PASS, strlen(PASS)), 0);
    assert_string_equal(r->config.id, want.id);
    assert_string_equal(r->config.created, want.created);
    assert_int_equal(r->config.chunker.max, want.chunker.max);
    assert_int_equal(r->config.pack_size, want.pack_size);
    assert_string_equal(r->key_id, f->repo->key_id);
    assert_memory_equal(r->master, f->repo->master, MASTER_KEY_LEN);
    assert_memory_equal(r->chunker.gear, f->repo->chunker.gear, sizeof(r->chunker.gear));
    repo_free(r);

    /* a second init is refused */
    s = open_stor(f->dir);
    assert_int_equal(repo_init(&r, s, PASS, strlen(PASS), &tiny_kdf), DRK_EEXIST);
    stor_close(s);
    repo_free(NULL);
}

static void
test_repo__wrong_passphrase(void **state)
{
    struct fixture *f = *state;
    static const char *const wrong[] = { "", "correct horse battery stapl", PASS " ",
                                         "Correct horse battery staple" };
    struct repo *r = NULL;

    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        struct stor *s = open_stor(f->dir);
        assert_int_equal(repo_open(&r, s, wrong[i], strlen(wrong[i])), DRK_EPASSWORD);
        assert_null(r);
        stor_close(s); /* not taken on failure */
    }
    /* the length counts, not a NUL */
    {
        struct stor *s = open_stor(f->dir);
        assert_int_equal(repo_open(&r, s, PASS "x", strlen(PASS) - 1), DRK_EPASSWORD);
        stor_close(s);
    }
}

static void
test_repo__probe_empty_and_foreign(void **state)
{
    char dir[] = "/tmp/drkit-test-probe-XXXXXX";
    struct stor *s;
    struct repo *r = NULL;
    char *cfg, *missing;

    assert_non_null(mkdtemp(dir));
    s = open_stor(dir);
    assert_int_equal(repo_probe(s), DRK_ENOREPO);
    assert_int_equal(repo_open(&r, s, PASS, strlen(PASS)), DRK_ENOREPO);
    stor_close(s);

    missing = xasprintf("%s/does/not/exist", dir);
    s = open_stor(missing);
    assert_int_equal(repo_probe(s), DRK_ENOREPO);
    stor_close(s);
    free(missing);

    /* a restic-like config file */
    cfg = xasprintf("%s/config", dir);
    write_bytes(cfg, "\x01\x02restic-config-bytes", 21);
    s = open_stor(dir);
    assert_int_equal(repo_probe(s), DRK_EFOREIGN);
    assert_int_equal(repo_open(&r, s, PASS, strlen(PASS)), DRK_EFOREIGN);
    assert_int_equal(repo_init(&r, s, PASS, strlen(PASS), &tiny_kdf), DRK_EFOREIGN);
    /* shorter than the magic */
    write_bytes(cfg, "DR", 2);
    assert_int_equal(repo_probe(s), DRK_EFOREIGN);
    write_bytes(cfg, "", 0);
    assert_int_equal(repo_probe(s), DRK_EFOREIGN);
    /* the magic alone is enough for probe */
    write_bytes(cfg, SEALED_MAGIC, 4);
    assert_int_equal(repo_probe(s), 0);
    stor_close(s);
    free(cfg);
    fs_remove_tree(dir);
}

static void
test_repo__second_key(void **state)
{
    struct fixture *f = *state;
    char id[ID_HEX_LEN + 1];
    struct repo *r = NULL;
    struct stor *s;
    struct buf raw = BUF_INIT;
    char *key;
    uint64_t ops, mem;
    unsigned char salt[16], *wrapped = NULL;
    size_t wrapped_len = 0;

    assert_int_equal(key_add(f->repo->stor, f->repo->master, "second", 6, 1, 8192, id), 0);
    assert_true(is_hex_string(id, ID_HEX_LEN, ID_HEX_LEN));
    assert_string_not_equal(id, f->repo->key_id);
    assert_int_equal(count_objects(f->repo->stor, "keys"), 2);

    s = open_stor(f->dir);
    assert_int_equal(repo_open(&r, s, "second", 6), 0);
    assert_string_equal(r->key_id, id);
    assert_memory_equal(r->master, f->repo->master, MASTER_KEY_LEN);
    repo_free(r);
    s = open_stor(f->dir);
    assert_int_equal(repo_open(&r, s, PASS, strlen(PASS)), 0);
    assert_string_equal(r->key_id, f->repo->key_id);
    repo_free(r);
    s = open_stor(f->dir);
    assert_int_equal(repo_open(&r, s, "third", 5), DRK_EPASSWORD);
    stor_close(s);

    /* the key file is what key.h says, and its name is the hash of its bytes */
    key = xasprintf("keys/%s", id);
    assert_int_equal(stor_get(f->repo->stor, key, &raw, SMALL_FILE_MAX), 0);
    {
        unsigned char h[SHA256_LEN];
        char hex[ID_HEX_LEN + 1];
        sha256(raw.data, raw.len, h);
        hex_encode(hex, h, sizeof(h));
        assert_string_equal(hex, id);
    }
    assert_int_equal(key_parse(raw.data, raw.len, &ops, &mem, salt, &wrapped, &wrapped_len), 0);
    assert_int_equal(ops, 1);
    assert_int_equal(mem, 8192);
    assert_int_equal(wrapped_len, MASTER_KEY_LEN + AEAD_OVERHEAD);
    free(wrapped);
    buf_release(&raw);
    free(key);
}

static void
test_repo__key_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":8192,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
        "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":8192,\"salt\":"
        "\"AAAA\",\"data\":\"AAAA\"}",
        "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":8192,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"!!!\"}",
        "{\"version\":\"1\",\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":8192,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}",
        "{\"version\":1,\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":8192,"
        "\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}",
    };
    static const char good[] = "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":"
                               "8192,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}";
    static const char newer[] = "{\"version\":2,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":"
                                "8192,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}";
    uint64_t ops, mem;
    unsigned char salt[16], *wrapped = NULL;
    size_t wl = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = key_parse(bad[i], strlen(bad[i]), &ops, &mem, salt, &wrapped, &wl);
        if (r != DRK_ECORRUPT)
            fail_msg("bad key %zu: %s", i, drk_err_name(r));
    }
    assert_int_equal(key_parse(newer, strlen(newer), &ops, &mem, salt, &wrapped, &wl),
                     DRK_EVERSION);
    assert_int_equal(key_parse(good, strlen(good), &ops, &mem, salt, &wrapped, &wl), 0);
    assert_int_equal(wl, 3);
    free(wrapped);
}

/*
 * Regression (fixed): src/repo/key.c key_parse reads freed memory when it rejects the KDF: on
 * `strcmp(kdf, "argon2id") != 0 || jops <= 0 || jmem <= 0` it calls json_decref(j) and then
 * formats "unsupported key derivation '%s'" with kdf, a string owned by (and freed with) j.
 * ASan: heap-use-after-free in err_vset <- drk_err_set <- key_parse. Any key file (or
 * keys/<id> planted in a repository) with "kdf":"scrypt", "opslimit":0 or "memlimit":-1
 * triggers it during repo_open. Expected: DRK_ECORRUPT and no invalid read.
 */
static void
test_repo__key_parse_rejects_other_kdf(void **state)
{
    static const char *const bad[] = {
        "{\"version\":1,\"kdf\":\"scrypt\",\"opslimit\":1,\"memlimit\":8192,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}",
        "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":0,\"memlimit\":8192,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}",
        "{\"version\":1,\"kdf\":\"argon2id\",\"opslimit\":1,\"memlimit\":-1,\"salt\":"
        "\"AAAAAAAAAAAAAAAAAAAAAA==\",\"data\":\"AAAA\"}",
    };
    uint64_t ops, mem;
    unsigned char salt[16], *wrapped = NULL;
    size_t wl = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(key_parse(bad[i], strlen(bad[i]), &ops, &mem, salt, &wrapped, &wl),
                         DRK_ECORRUPT);
}

/* ---- sealed objects ---- */

static void
test_repo__sealed_round_trip(void **state)
{
    struct fixture *f = *state;
    static const char small[] = "{\"hello\":\"world\"}";
    unsigned char *big = xcalloc(1, 100000);
    char id[ID_HEX_LEN + 1], id2[ID_HEX_LEN + 1];
    struct buf plain = BUF_INIT, raw = BUF_INIT;
    char *key;

    assert_int_equal(sealed_save(f->repo, "index", OBJ_INDEX, small, strlen(small), id), 0);
    assert_true(is_hex_string(id, ID_HEX_LEN, ID_HEX_LEN));
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), 0);
    assert_int_equal(plain.len, strlen(small));
    assert_memory_equal(plain.data, small, plain.len);
    /* another kind under the same bytes is refused */
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_SNAPSHOT, &plain), DRK_ECORRUPT);

    /* a compressible object is stored compressed, and reads back */
    memset(big, 'z', 100000);
    assert_int_equal(sealed_save(f->repo, "snapshots", OBJ_SNAPSHOT, big, 100000, id2), 0);
    key = xasprintf("snapshots/%s", id2);
    assert_int_equal(stor_get(f->repo->stor, key, &raw, 0), 0);
    assert_true(raw.len < 1000);
    assert_int_equal(sealed_load(f->repo, "snapshots", id2, OBJ_SNAPSHOT, &plain), 0);
    assert_int_equal(plain.len, 100000);
    assert_memory_equal(plain.data, big, 100000);

    /* empty payloads */
    assert_int_equal(sealed_save(f->repo, "index", OBJ_INDEX, "", 0, id), 0);
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), 0);
    assert_int_equal(plain.len, 0);

    /* a missing object */
    memset(id, 'a', ID_HEX_LEN);
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), DRK_ENOTFOUND);
    free(key);
    free(big);
    buf_release(&plain);
    buf_release(&raw);
}

static void
test_repo__sealed_load_detects_any_flipped_byte(void **state)
{
    struct fixture *f = *state;
    static const char payload[] = "a small object to damage";
    char id[ID_HEX_LEN + 1], *rel, *path;
    struct buf orig = BUF_INIT, plain = BUF_INIT;

    assert_int_equal(sealed_save(f->repo, "index", OBJ_INDEX, payload, strlen(payload), id), 0);
    rel = xasprintf("index/%s", id);
    path = path_in(f, rel);
    assert_int_equal(fs_read_file(path, &orig, 0), 0);
    assert_int_equal(orig.len, SEALED_HEADER_LEN + 1 + strlen(payload) + AEAD_OVERHEAD);
    for (size_t pos = 0; pos < orig.len; pos++) {
        for (unsigned mask = 0x01; mask <= 0x80; mask <<= 7) {
            int r;
            orig.data[pos] ^= (unsigned char)mask;
            write_bytes(path, orig.data, orig.len);
            r = sealed_load(f->repo, "index", id, OBJ_INDEX, &plain);
            if (r != DRK_ECORRUPT)
                fail_msg("byte %zu ^ 0x%02x: sealed_load gave %s", pos, mask, drk_err_name(r));
            orig.data[pos] ^= (unsigned char)mask;
        }
    }
    /* truncated and extended files */
    write_bytes(path, orig.data, orig.len - 1);
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), DRK_ECORRUPT);
    write_bytes(path, orig.data, 0);
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), DRK_ECORRUPT);
    write_bytes(path, orig.data, orig.len);
    assert_int_equal(sealed_load(f->repo, "index", id, OBJ_INDEX, &plain), 0);
    assert_memory_equal(plain.data, payload, strlen(payload));
    buf_release(&orig);
    buf_release(&plain);
    free(rel);
    free(path);
}

static void
test_repo__sealed_open_codes(void **state)
{
    unsigned char key[32], other[32];
    struct buf sealed = BUF_INIT, plain = BUF_INIT;
    static const char payload[] = "payload";

    fill_random(key, sizeof(key), 1);
    fill_random(other, sizeof(other), 2);
    assert_int_equal(sealed_seal(&sealed, key, OBJ_CONFIG, payload, strlen(payload)), 0);
    assert_memory_equal(sealed.data, SEALED_MAGIC, 4);
    assert_int_equal(sealed.data[4], OBJ_CONFIG);
    assert_int_equal(sealed.data[5], REPO_FORMAT_VERSION);
    assert_int_equal(sealed_open(&plain, key, OBJ_CONFIG, sealed.data, sealed.len, "t"), 0);
    assert_int_equal(plain.len, strlen(payload));

    /* each flipped byte, opened directly (no hash check): the right code for each place */
    for (size_t pos = 0; pos < sealed.len; pos++) {
        int r, want = DRK_ECORRUPT;
        sealed.data[pos] ^= 0x02;
        if (pos < 4)
            want = DRK_EFOREIGN;
        else if (pos == 5)
            want = DRK_EVERSION; /* 1 ^ 2 = 3: a newer format */
        r = sealed_open(&plain, key, OBJ_CONFIG, sealed.data, sealed.len, "t");
        if (r != want)
            fail_msg("byte %zu: %s, want %s", pos, drk_err_name(r), drk_err_name(want));
        sealed.data[pos] ^= 0x02;
    }
    sealed.data[5] = 0;
    assert_int_equal(sealed_open(&plain, key, OBJ_CONFIG, sealed.data, sealed.len, "t"),
                     DRK_ECORRUPT);
    sealed.data[5] = REPO_FORMAT_VERSION;
    assert_int_equal(sealed_open(&plain, key, OBJ_INDEX, sealed.data, sealed.len, "t"),
                     DRK_ECORRUPT);
    assert_int_equal(sealed_open(&plain, other, OBJ_CONFIG, sealed.data, sealed.len, "t"),
                     DRK_ECORRUPT);
    /* every truncation */
    for (size_t len = 0; len < sealed.len; len++) {
        unsigned char *p = xmalloc(len ? len : 1);
        int r;
        memcpy(p, sealed.data, len);
        r = sealed_open(&plain, key, OBJ_CONFIG, p, len, "t");
        free(p);
        if (r != (len < 4 ? DRK_EFOREIGN : DRK_ECORRUPT))
            fail_msg("truncated to %zu: %s", len, drk_err_name(r));
    }
    assert_int_equal(sealed_open(&plain, key, OBJ_CONFIG, sealed.data, sealed.len, "t"), 0);
    assert_memory_equal(plain.data, payload, plain.len);
    buf_release(&sealed);
    buf_release(&plain);
}

/* ---- blobs ---- */

static void
test_repo__blob_seal_open(void **state)
{
    struct fixture *f = *state;
    struct blob_codec c;
    const size_t len = 200000;
    unsigned char *rnd = xmalloc(len), *text = xmalloc(len), *copy;
    struct buf out = BUF_INIT;

    blob_codec_init(&c);
    fill_random(rnd, len, 3);
    for (size_t i = 0; i < len; i++)
        text[i] = (unsigned char)("the quick brown fox "[i % 20]);
    for (int k = 0; k < 4; k++) {
        const unsigned char *data = k % 2 ? text : rnd, *sealed;
        int level = k < 2 ? 0 : 3;
        size_t sealed_len, dlen = k == 3 ? len : len - (size_t)k;
        uint8_t type = k == 1 ? BLOB_TREE : BLOB_DATA;
        struct blob_id id, other;

        repo_blob_id(f->repo, type, data, dlen, &id);
        assert_int_equal(blob_seal(&c, f->repo, type, &id, data, dlen, level, &sealed, &sealed_len),
                         0);
        if (level && data == text)
            assert_true(sealed_len < dlen / 10); /* compressed */
        else
            assert_int_equal(sealed_len, dlen + 1 + AEAD_OVERHEAD);
        copy = xmemdup(sealed, sealed_len);
        assert_int_equal(
            blob_open(&c, f->repo, type, &id, copy, sealed_len, (uint32_t)dlen, &out, "test"), 0);
        assert_int_equal(out.len, dlen);
        assert_memory_equal(out.data, data, dlen);

        /* sealed for another id or type: the associated data does not match */
        other = id;
        other.b[ID_LEN - 1] ^= 1;
        assert_int_equal(
            blob_open(&c, f->repo, type, &other, copy, sealed_len, (uint32_t)dlen, &out, "test"),
            DRK_ECORRUPT);
        assert_int_equal(blob_open(&c, f->repo, (uint8_t)(type ^ 1), &id, copy, sealed_len,
                                   (uint32_t)dlen, &out, "test"),
                         DRK_ECORRUPT);
        /* the wrong raw length */
        assert_int_equal(
            blob_open(&c, f->repo, type, &id, copy, sealed_len, (uint32_t)dlen - 1, &out, "test"),
            DRK_ECORRUPT);
        assert_int_equal(
            blob_open(&c, f->repo, type, &id, copy, sealed_len, BLOB_MAX_RAW + 1, &out, "test"),
            DRK_ECORRUPT);
        /* damaged anywhere: nonce, body, tag; and truncated */
        for (size_t pos = 0; pos < sealed_len; pos += 1 + sealed_len / 97) {
            copy[pos] ^= 0x10;
            assert_int_equal(
                blob_open(&c, f->repo, type, &id, copy, sealed_len, (uint32_t)dlen, &out, "test"),
                DRK_ECORRUPT);
            copy[pos] ^= 0x10;
        }
        assert_int_equal(
            blob_open(&c, f->repo, type, &id, copy, sealed_len - 1, (uint32_t)dlen, &out, "test"),
            DRK_ECORRUPT);
        assert_int_equal(blob_open(&c, f->repo, type, &id, copy, AEAD_OVERHEAD, 0, &out, "test"),
                         DRK_ECORRUPT);
        free(copy);
    }
    /* an empty blob */
    {
        struct blob_id id;
        const unsigned char *sealed;
        size_t sealed_len;
        repo_blob_id(f->repo, BLOB_DATA, "", 0, &id);
        assert_int_equal(blob_seal(&c, f->repo, BLOB_DATA, &id, "", 0, 3, &sealed, &sealed_len), 0);
        copy = xmemdup(sealed, sealed_len);
        assert_int_equal(blob_open(&c, f->repo, BLOB_DATA, &id, copy, sealed_len, 0, &out, "t"), 0);
        assert_int_equal(out.len, 0);
        free(copy);
    }
    blob_codec_release(&c);
    buf_release(&out);
    free(rnd);
    free(text);
}

/* ---- packs ---- */

struct sample_blob {
    struct blob_id id;
    uint8_t type;
    size_t len;
    unsigned char *data;
};

/* Write n blobs into a committed pack; returns the pack id, the blobs go to *out. */
static void
write_pack(struct fixture *f, size_t n, struct sample_blob **out, struct blob_id *pack_id)
{
    struct sample_blob *v = xcalloc(n, sizeof(*v));
    struct pack_writer pw;
    struct blob_codec c;

    blob_codec_init(&c);
    assert_int_equal(pack_writer_begin(&pw, f->repo->stor), 0);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *sealed;
        size_t sealed_len;
        v[i].len = (i * 7919) % 5000;
        v[i].data = xmalloc(v[i].len + 1);
        fill_random(v[i].data, v[i].len, (uint32_t)(1000 + i));
        if (i % 3 == 0)
            memset(v[i].data, 'q', v[i].len / 2); /* some compress */
        v[i].type = i % 5 == 4 ? BLOB_TREE : BLOB_DATA;
        repo_blob_id(f->repo, v[i].type, v[i].data, v[i].len, &v[i].id);
        assert_int_equal(blob_seal(&c, f->repo, v[i].type, &v[i].id, v[i].data, v[i].len, 3,
                                   &sealed, &sealed_len),
                         0);
        assert_int_equal(
            pack_writer_add(&pw, v[i].type, &v[i].id, sealed, sealed_len, (uint32_t)v[i].len), 0);
    }
    assert_int_equal(pw.entries.n, n);
    assert_int_equal(pack_writer_finish(&pw, repo_enc_key(f->repo), pack_id), 0);
    assert_int_equal(pack_writer_commit(&pw, f->repo->stor, pack_id), 0);
    pack_writer_release(&pw);
    blob_codec_release(&c);
    *out = v;
}

static void
free_samples(struct sample_blob *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
    free(v);
}

static void
read_pack(struct fixture *f, const struct blob_id *id, struct buf *out)
{
    char key[ID_HEX_LEN + 16];
    repo_pack_key(id, key);
    assert_int_equal(stor_get(f->repo->stor, key, out, 0), 0);
}

static void
test_repo__pack_round_trip(void **state)
{
    struct fixture *f = *state;
    enum { N = 500 };
    struct sample_blob *v;
    struct blob_id pack;
    struct buf raw = BUF_INIT, out = BUF_INIT;
    struct pack_entry *e = NULL;
    size_t ne = 0;
    unsigned char h[SHA256_LEN];
    struct blob_codec c;
    char key[ID_HEX_LEN + 16], hex[ID_HEX_LEN + 1];

    write_pack(f, N, &v, &pack);
    repo_pack_key(&pack, key);
    id_to_hex(&pack, hex);
    assert_memory_equal(key, "data/", 5);
    assert_memory_equal(key + 5, hex, 2);
    assert_string_equal(key + 8, hex);
    assert_int_equal(count_objects(f->repo->stor, "tmp"), 0);
    assert_int_equal(count_objects(f->repo->stor, "data"), 1);

    read_pack(f, &pack, &raw);
    sha256(raw.data, raw.len, h);
    assert_memory_equal(h, pack.b, SHA256_LEN); /* named by its hash */
    assert_memory_equal(raw.data, PACK_MAGIC, PACK_MAGIC_LEN);
    assert_memory_equal(raw.data + raw.len - 4, PACK_TRAILER_MAGIC, 4);
    assert_int_equal(pack_parse(raw.data, raw.len, repo_enc_key(f->repo), &e, &ne, "p"), 0);
    assert_int_equal(ne, N);
    blob_codec_init(&c);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(e[i].type, v[i].type);
        assert_int_equal(e[i].raw_length, v[i].len);
        assert_memory_equal(e[i].id.b, v[i].id.b, ID_LEN);
        assert_int_equal(blob_open(&c, f->repo, e[i].type, &e[i].id, raw.data + e[i].offset,
                                   e[i].length, e[i].raw_length, &out, "p"),
                         0);
        assert_int_equal(out.len, v[i].len);
        assert_memory_equal(out.data, v[i].data, v[i].len);
    }
    /* through the index, as restores read */
    f->repo->idx = idx_new();
    idx_add_pack(f->repo->idx, &pack, raw.len, e, ne);
    for (size_t i = 0; i < N; i += 7) {
        assert_int_equal(blob_read(&c, f->repo, &v[i].id, v[i].type, &out), 0);
        assert_int_equal(out.len, v[i].len);
        assert_memory_equal(out.data, v[i].data, v[i].len);
        assert_int_equal(blob_read(&c, f->repo, &v[i].id, (uint8_t)(v[i].type ^ 1), &out),
                         DRK_ECORRUPT);
    }
    {
        struct blob_id unknown;
        memset(&unknown, 0x42, sizeof(unknown));
        assert_int_equal(blob_read(&c, f->repo, &unknown, BLOB_DATA, &out), DRK_ENOTFOUND);
    }
    blob_codec_release(&c);
    free(e);
    free_samples(v, N);
    buf_release(&raw);
    buf_release(&out);
}

/* Build a pack by hand: magic, area_len bytes of blob area, then a header sealed with key
 * holding `count` and the given entries (plus `extra` stray bytes), then the trailer. */
static void
craft_pack(struct buf *out, const unsigned char *key, const struct pack_entry *e, size_t n,
           uint32_t count, size_t area_len, size_t extra)
{
    size_t plen = 4 + n * PACK_ENTRY_LEN + extra;
    unsigned char *plain = xcalloc(1, plen), *sealed = xmalloc(plen + AEAD_OVERHEAD);
    unsigned char trailer[PACK_TRAILER_LEN];

    le_put32(plain, count);
    for (size_t i = 0; i < n; i++)
        pack_entry_encode(plain + 4 + i * PACK_ENTRY_LEN, &e[i]);
    aead_seal(sealed, plain, plen, (const unsigned char *)PACK_HEADER_AD, 4, key);
    buf_reset(out);
    assert_int_equal(buf_add(out, PACK_MAGIC, PACK_MAGIC_LEN), 0);
    for (size_t i = 0; i < area_len; i++)
        assert_int_equal(buf_addch(out, 0xab), 0);
    assert_int_equal(buf_add(out, sealed, plen + AEAD_OVERHEAD), 0);
    le_put32(trailer, (uint32_t)(plen + AEAD_OVERHEAD));
    memcpy(trailer + 4, PACK_TRAILER_MAGIC, 4);
    assert_int_equal(buf_add(out, trailer, sizeof(trailer)), 0);
    free(plain);
    free(sealed);
}

static void
expect_parse_fails(const unsigned char *p, size_t len, const unsigned char *key, const char *what)
{
    struct pack_entry *e = (struct pack_entry *)1;
    size_t n = 99;
    int r = pack_parse(p, len, key, &e, &n, what);
    if (r != DRK_ECORRUPT)
        fail_msg("%s: pack_parse gave %s", what, drk_err_name(r));
    assert_null(e);
    assert_int_equal(n, 0);
}

static void
set_entry(struct pack_entry *e, uint32_t off, uint32_t len, uint8_t type)
{
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->offset = off;
    e->length = len;
    e->raw_length = len - 41;
    memset(e->id.b, (int)off, ID_LEN);
}

static void
test_repo__pack_parse_rejects_damage(void **state)
{
    struct fixture *f = *state;
    const unsigned char *key = repo_enc_key(f->repo);
    struct sample_blob *v;
    struct blob_id pack;
    struct buf raw = BUF_INIT, crafted = BUF_INIT;
    struct pack_entry *e = NULL, ce[3];
    size_t ne = 0, hstart;
    uint32_t hlen;
    unsigned char other[32];

    write_pack(f, 5, &v, &pack);
    read_pack(f, &pack, &raw);
    assert_int_equal(pack_parse(raw.data, raw.len, key, &e, &ne, "p"), 0);
    free(e);
    hlen = le_get32(raw.data + raw.len - PACK_TRAILER_LEN);
    assert_int_equal(hlen, 4 + 5 * PACK_ENTRY_LEN + AEAD_OVERHEAD);
    hstart = raw.len - PACK_TRAILER_LEN - hlen;

    /* bad magic, bad trailer magic */
    for (size_t i = 0; i < PACK_MAGIC_LEN; i++) {
        raw.data[i] ^= 0x20;
        expect_parse_fails(raw.data, raw.len, key, "magic");
        raw.data[i] ^= 0x20;
    }
    for (size_t i = raw.len - 4; i < raw.len; i++) {
        raw.data[i] ^= 0x20;
        expect_parse_fails(raw.data, raw.len, key, "trailer");
        raw.data[i] ^= 0x20;
    }
    /* header length out of range, or just wrong */
    {
        static const uint32_t bad_hlen[] = { 0,   1,          AEAD_OVERHEAD, AEAD_OVERHEAD + 3,
                                             100, UINT32_MAX, UINT32_MAX - 7 };
        for (size_t i = 0; i < sizeof(bad_hlen) / sizeof(bad_hlen[0]); i++) {
            le_put32(raw.data + raw.len - PACK_TRAILER_LEN, bad_hlen[i]);
            expect_parse_fails(raw.data, raw.len, key, "header length");
        }
        le_put32(raw.data + raw.len - PACK_TRAILER_LEN,
                 (uint32_t)(raw.len - PACK_MAGIC_LEN - PACK_TRAILER_LEN + 1));
        expect_parse_fails(raw.data, raw.len, key, "header length past the magic");
        le_put32(raw.data + raw.len - PACK_TRAILER_LEN,
                 (uint32_t)(raw.len - PACK_MAGIC_LEN - PACK_TRAILER_LEN));
        expect_parse_fails(raw.data, raw.len, key, "header length = everything");
        le_put32(raw.data + raw.len - PACK_TRAILER_LEN, hlen + 1);
        expect_parse_fails(raw.data, raw.len, key, "header length + 1");
        le_put32(raw.data + raw.len - PACK_TRAILER_LEN, hlen - 1);
        expect_parse_fails(raw.data, raw.len, key, "header length - 1");
        le_put32(raw.data + raw.len - PACK_TRAILER_LEN, hlen);
    }
    /* any flipped header byte */
    for (size_t i = hstart; i < hstart + hlen; i++) {
        raw.data[i] ^= 0x01;
        expect_parse_fails(raw.data, raw.len, key, "header byte");
        raw.data[i] ^= 0x01;
    }
    /* another key */
    fill_random(other, sizeof(other), 9);
    expect_parse_fails(raw.data, raw.len, other, "other key");
    /* every truncation, from either end */
    for (size_t len = 0; len < raw.len; len++) {
        unsigned char *p = xmalloc(len ? len : 1);
        memcpy(p, raw.data, len);
        expect_parse_fails(p, len, key, "truncated");
        memcpy(p, raw.data + raw.len - len, len);
        expect_parse_fails(p, len, key, "head cut");
        free(p);
    }
    /* damage inside a blob is for blob_open to find, not the parser */
    raw.data[PACK_MAGIC_LEN + 30] ^= 1;
    assert_int_equal(pack_parse(raw.data, raw.len, key, &e, &ne, "p"), 0);
    free(e);

    /* hand-made headers: a good one first */
    set_entry(&ce[0], 8, 100, BLOB_DATA);
    set_entry(&ce[1], 108, 92, BLOB_TREE);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    assert_int_equal(pack_parse(crafted.data, crafted.len, key, &e, &ne, "c"), 0);
    assert_int_equal(ne, 2);
    assert_int_equal(e[1].offset, 108);
    assert_int_equal(e[1].type, BLOB_TREE);
    free(e);
    /* an empty pack */
    craft_pack(&crafted, key, NULL, 0, 0, 0, 0);
    assert_int_equal(pack_parse(crafted.data, crafted.len, key, &e, &ne, "c"), 0);
    assert_int_equal(ne, 0);
    free(e);
    /* overlapping entries */
    set_entry(&ce[1], 50, 150, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "overlap");
    /* the same blob bytes listed twice */
    set_entry(&ce[1], 8, 100, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 200, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "listed twice");
    /* out of order */
    set_entry(&ce[0], 108, 92, BLOB_DATA);
    set_entry(&ce[1], 8, 100, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "out of order");
    /* a gap, bytes no entry names, an entry reaching into the header */
    set_entry(&ce[0], 8, 100, BLOB_DATA);
    set_entry(&ce[1], 120, 80, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "gap");
    set_entry(&ce[1], 108, 80, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "unlisted tail");
    set_entry(&ce[1], 108, 93, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "into the header");
    set_entry(&ce[1], 108, UINT32_MAX - 50, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "length wraps");
    /* impossible type, too short to be a sealed blob */
    set_entry(&ce[1], 108, 92, 2);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "type 2");
    set_entry(&ce[0], 8, 40, BLOB_DATA);
    set_entry(&ce[1], 48, 152, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 2, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "40-byte blob");
    /* the count does not match the header's size */
    set_entry(&ce[0], 8, 100, BLOB_DATA);
    set_entry(&ce[1], 108, 92, BLOB_DATA);
    craft_pack(&crafted, key, ce, 2, 3, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "count 3 of 2");
    craft_pack(&crafted, key, ce, 2, 1, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "count 1 of 2");
    craft_pack(&crafted, key, ce, 2, UINT32_MAX, 192, 0);
    expect_parse_fails(crafted.data, crafted.len, key, "count huge");
    craft_pack(&crafted, key, ce, 2, 2, 192, 1);
    expect_parse_fails(crafted.data, crafted.len, key, "a stray header byte");
    craft_pack(&crafted, key, ce, 2, 2, 192, PACK_ENTRY_LEN - 1);
    expect_parse_fails(crafted.data, crafted.len, key, "stray header bytes");

    free_samples(v, 5);
    buf_release(&raw);
    buf_release(&crafted);
}

/* ---- snapshots ---- */

static void
fill_snapshot(struct snapshot *s)
{
    snap_init(s);
    s->name = xstrdup("backup-20240113-020000");
    s->time.sec = 1705111200;
    s->time.nsec = 123456789;
    s->time.off = 3600;
    s->end_time.sec = 1705111260;
    s->end_time.nsec = 5;
    s->end_time.off = -5 * 3600 - 1800;
    s->host = xstrdup("db1.example.com");
    s->username = xstrdup("postgres");
    s->type = xstrdup("full");
    vec_push(&s->tags, xstrdup("nightly"));
    vec_push(&s->tags, xstrdup("t\xc3\xa4g with \"quotes\""));
    memset(s->parent, 'a', ID_HEX_LEN);
    vec_push(&s->paths, xstrdup("/var/www"));
    vec_push(&s->paths, xstrdup("/etc"));
    vec_push(&s->excludes, xstrdup("*.tmp"));
    vec_push(&s->excludes, xstrdup("/var/www/cache"));
    s->has_files = true;
    for (int i = 0; i < ID_LEN; i++)
        s->files_tree.b[i] = (unsigned char)(i * 11);
    snap_add_error(s, "/var/www/secret", "permission denied");
    snap_add_error(s, "/etc/shadow", "permission denied");
    s->error_count = 5000; /* more than the kept records */
    s->stats.files = 1;
    s->stats.dirs = 2;
    s->stats.links = 3;
    s->stats.others = 4;
    s->stats.bytes = (uint64_t)1 << 50;
    s->stats.files_new = 6;
    s->stats.files_changed = 7;
    s->stats.files_unchanged = 8;
    s->stats.bytes_read = 9;
    s->stats.bytes_added = 10;
    s->stats.data_added = 11;
    s->stats.blobs_added = 12;
    s->stats.duration = 12.5;
    s->program = xstrdup("drkit 0.1.0");
}

static void
assert_snapshots_equal(const struct snapshot *a, const struct snapshot *b)
{
    assert_string_equal(a->name, b->name);
    assert_true(a->time.sec == b->time.sec);
    assert_int_equal(a->time.nsec, b->time.nsec);
    assert_int_equal(a->time.off, b->time.off);
    assert_true(a->end_time.sec == b->end_time.sec);
    assert_int_equal(a->end_time.nsec, b->end_time.nsec);
    assert_int_equal(a->end_time.off, b->end_time.off);
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->username, b->username);
    assert_string_equal(a->type, b->type);
    assert_int_equal(a->tags.n, b->tags.n);
    for (size_t i = 0; i < a->tags.n; i++)
        assert_string_equal(a->tags.v[i], b->tags.v[i]);
    assert_string_equal(a->parent, b->parent);
    assert_int_equal(a->paths.n, b->paths.n);
    for (size_t i = 0; i < a->paths.n; i++)
        assert_string_equal(a->paths.v[i], b->paths.v[i]);
    assert_int_equal(a->excludes.n, b->excludes.n);
    for (size_t i = 0; i < a->excludes.n; i++)
        assert_string_equal(a->excludes.v[i], b->excludes.v[i]);
    assert_int_equal(a->has_files, b->has_files);
    assert_memory_equal(a->files_tree.b, b->files_tree.b, ID_LEN);
    assert_int_equal(a->partial, b->partial);
    assert_int_equal(a->error_count, b->error_count);
    assert_int_equal(a->errors.n, b->errors.n);
    for (size_t i = 0; i < a->errors.n; i++) {
        assert_string_equal(a->errors.v[i].path, b->errors.v[i].path);
        assert_string_equal(a->errors.v[i].message, b->errors.v[i].message);
    }
    assert_memory_equal(&a->stats, &b->stats, offsetof(struct snap_stats, duration));
    assert_true(a->stats.duration == b->stats.duration);
    assert_string_equal(a->program, b->program);
}

static void
test_repo__snapshot_encode_decode(void **state)
{
    struct snapshot s, back;
    char *json = NULL;

    fill_snapshot(&s);
    assert_true(s.partial);
    assert_int_equal(snap_encode(&s, &json), 0);
    assert_int_equal(snap_decode(&back, json, strlen(json)), 0);
    assert_snapshots_equal(&s, &back);
    snap_release(&back);
    free(json);

    /* without files, parent or errors */
    snap_release(&s);
    snap_init(&s);
    s.name = xstrdup("backup-19700101-000000");
    s.host = xstrdup("");
    s.username = xstrdup("");
    s.type = xstrdup("restore_point");
    assert_int_equal(snap_encode(&s, &json), 0);
    assert_int_equal(snap_decode(&back, json, strlen(json)), 0);
    assert_false(back.has_files);
    assert_string_equal(back.parent, "");
    assert_int_equal(back.tags.n, 0);
    assert_string_equal(back.type, "restore_point");
    assert_string_equal(back.program, "drkit");
    snap_release(&back);
    snap_release(&s);
    free(json);
}

static void
test_repo__snapshot_decode_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"version\":1,\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\"}",
        "{\"version\":1,\"name\":\"n\",\"type\":\"full\"}",
        "{\"version\":1,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\"}",
        "{\"version\":1,\"name\":\"n\",\"time\":\"yesterday\",\"type\":\"full\"}",
        "{\"version\":1,\"name\":7,\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\"}",
        "{\"version\":1,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\","
        "\"files\":{}}",
        "{\"version\":1,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\","
        "\"files\":{\"tree\":\"abcd\"}}",
        "{\"version\":1,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\","
        "\"files\":{\"tree\":"
        "\"zz00000000000000000000000000000000000000000000000000000000000000\"}}",
    };
    static const char newer[] =
        "{\"version\":2,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\"}";
    static const char minimal[] =
        "{\"version\":1,\"name\":\"n\",\"time\":\"2024-01-13T02:00:00Z\",\"type\":\"full\","
        "\"tags\":[1,\"x\",null],\"files\":{\"tree\":"
        "\"00000000000000000000000000000000000000000000000000000000000000ff\","
        "\"paths\":\"not a list\",\"errors\":[1,{\"path\":2}]},\"stats\":{\"files\":-5}}";
    struct snapshot s;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = snap_decode(&s, bad[i], strlen(bad[i]));
        if (r != DRK_ECORRUPT)
            fail_msg("bad snapshot %zu: %s", i, drk_err_name(r));
        snap_release(&s);
    }
    assert_int_equal(snap_decode(&s, newer, strlen(newer)), DRK_EVERSION);
    snap_release(&s);
    /* odd but harmless members are skipped */
    assert_int_equal(snap_decode(&s, minimal, strlen(minimal)), 0);
    assert_int_equal(s.tags.n, 1);
    assert_true(s.has_files);
    assert_int_equal(s.files_tree.b[ID_LEN - 1], 0xff);
    assert_int_equal(s.paths.n, 0);
    assert_int_equal(s.errors.n, 2);
    assert_string_equal(s.errors.v[1].path, "");
    assert_int_equal(s.stats.files, 0);
    assert_string_equal(s.host, "");
    snap_release(&s);
}

static void
new_snapshot(struct snapshot *s, int64_t sec)
{
    snap_init(s);
    s->time.sec = sec;
    s->end_time.sec = sec + 10;
    s->host = xstrdup("h");
    s->username = xstrdup("u");
    s->type = xstrdup("full");
}

static void
test_repo__snap_save_unique_names(void **state)
{
    struct fixture *f = *state;
    const int64_t t = 1705111200; /* 2024-01-13 02:00:00 UTC */
    struct snapshot a, b, c, d, loaded;
    struct snap_list l;

    new_snapshot(&a, t);
    new_snapshot(&b, t);
    assert_int_equal(snap_save(f->repo, &a), 0);
    assert_int_equal(snap_save(f->repo, &b), 0);
    assert_string_equal(a.name, "backup-20240113-020000");
    assert_string_equal(b.name, "backup-20240113-020001"); /* the next second */
    assert_true(is_hex_string(a.id, ID_HEX_LEN, ID_HEX_LEN));
    assert_string_not_equal(a.id, b.id);
    /* a name given in advance is used when free, moved on when taken */
    new_snapshot(&c, t);
    c.name = xstrdup("backup-20240113-020001");
    assert_int_equal(snap_save(f->repo, &c), 0);
    assert_string_equal(c.name, "backup-20240113-020002");
    new_snapshot(&d, t + 100);
    d.name = xstrdup("my-name");
    assert_int_equal(snap_save(f->repo, &d), 0);
    assert_string_equal(d.name, "my-name");
    assert_int_equal(count_objects(f->repo->stor, "names"), 4);
    assert_int_equal(count_objects(f->repo->stor, "snapshots"), 4);

    assert_int_equal(snap_load(f->repo, b.id, &loaded), 0);
    assert_string_equal(loaded.name, b.name);
    assert_string_equal(loaded.id, b.id);
    snap_release(&loaded);

    snap_list_init(&l);
    assert_int_equal(snap_list_load(f->repo, &l), 0);
    assert_int_equal(l.items.n, 4);
    assert_int_equal(l.damaged.n, 0);
    /* oldest first; equal times by name */
    assert_string_equal(l.items.v[0].name, a.name);
    assert_string_equal(l.items.v[1].name, b.name);
    assert_string_equal(l.items.v[2].name, c.name);
    assert_string_equal(l.items.v[3].name, d.name);
    snap_list_release(&l);
    snap_release(&a);
    snap_release(&b);
    snap_release(&c);
    snap_release(&d);
}

static void
test_repo__snap_resolve(void **state)
{
    struct fixture *f = *state;
    struct snapshot s, *got = NULL;
    struct snap_list l;
    char prefix[16];

    snap_list_init(&l);
    assert_int_equal(snap_resolve(&l, "latest", &got), DRK_ENOTFOUND);
    for (int i = 0; i < 3; i++) {
        new_snapshot(&s, 1705111200 + 3600 * (2 - i)); /* saved newest first */
        assert_int_equal(snap_save(f->repo, &s), 0);
        snap_release(&s);
    }
    /* a damaged snapshot file is listed apart */
    {
        char *p = path_in(f, "snapshots/00000000000000000000000000000000000000000000000000000000"
                             "00000000");
        write_bytes(p, "garbage", 7);
        free(p);
    }
    assert_int_equal(snap_list_load(f->repo, &l), 0);
    assert_int_equal(l.items.n, 3);
    assert_int_equal(l.damaged.n, 1);

    assert_int_equal(snap_resolve(&l, "latest", &got), 0);
    assert_string_equal(got->name, "backup-20240113-040000");
    assert_int_equal(snap_resolve(&l, "backup-20240113-030000", &got), 0);
    assert_ptr_equal(got, &l.items.v[1]);
    snprintf(prefix, sizeof(prefix), "%.8s", l.items.v[0].id);
    assert_int_equal(snap_resolve(&l, prefix, &got), 0);
    assert_ptr_equal(got, &l.items.v[0]);
    assert_int_equal(snap_resolve(&l, l.items.v[2].id, &got), 0);
    assert_ptr_equal(got, &l.items.v[2]);
    assert_int_equal(snap_resolve(&l, "backup-20240113-050000", &got), DRK_ENOTFOUND);
    assert_int_equal(snap_resolve(&l, "", &got), DRK_ENOTFOUND);
    snprintf(prefix, sizeof(prefix), "%.3s", l.items.v[0].id);
    assert_int_equal(snap_resolve(&l, prefix, &got), DRK_ENOTFOUND); /* too short */

    /* ambiguous prefixes: make two ids share their first 6 digits */
    memcpy(l.items.v[1].id, l.items.v[0].id, 6);
    snprintf(prefix, sizeof(prefix), "%.6s", l.items.v[0].id);
    assert_int_equal(snap_resolve(&l, prefix, &got), DRK_EAMBIGUOUS);
    snprintf(prefix, sizeof(prefix), "%.4s", l.items.v[0].id);
    assert_int_equal(snap_resolve(&l, prefix, &got), DRK_EAMBIGUOUS);
    snprintf(prefix, sizeof(prefix), "%.12s", l.items.v[0].id);
    assert_int_equal(snap_resolve(&l, prefix, &got), 0); /* longer: unique again */
    assert_ptr_equal(got, &l.items.v[0]);
    snap_list_release(&l);
}

/* ---- idset ---- */

static void
test_repo__idset_100k(void **state)
{
    enum { N = 100000 };
    struct idset s;
    struct blob_id id;
    size_t pos = 0, count = 0;

    idset_init(&s);
    memset(&id, 7, sizeof(id));
    assert_false(idset_has(&s, &id));
    assert_false(idset_next(&s, &pos, &id));
    for (uint32_t i = 0; i < N; i++) {
        sha256(&i, sizeof(i), id.b);
        assert_true(idset_add(&s, &id));
    }
    assert_int_equal(s.n, N);
    for (uint32_t i = 0; i < N; i++) {
        sha256(&i, sizeof(i), id.b);
        assert_true(idset_has(&s, &id));
        assert_false(idset_add(&s, &id));
    }
    for (uint32_t i = N; i < N + 10000; i++) {
        sha256(&i, sizeof(i), id.b);
        assert_false(idset_has(&s, &id));
    }
    assert_int_equal(s.n, N);
    /* iteration yields every id exactly once */
    {
        struct idset again;
        idset_init(&again);
        pos = 0;
        while (idset_next(&s, &pos, &id)) {
            count++;
            assert_true(idset_has(&s, &id));
            assert_true(idset_add(&again, &id));
        }
        assert_int_equal(count, N);
        assert_int_equal(again.n, N);
        for (uint32_t i = 0; i < N; i += 97) {
            sha256(&i, sizeof(i), id.b);
            assert_true(idset_has(&again, &id));
        }
        idset_release(&again);
    }
    /* ids that share their first 8 bytes (the hash) still work */
    for (uint32_t i = 0; i < 100; i++) {
        memset(&id, 0, sizeof(id));
        memcpy(id.b + 8, &i, sizeof(i));
        assert_true(idset_add(&s, &id));
    }
    for (uint32_t i = 0; i < 100; i++) {
        memset(&id, 0, sizeof(id));
        memcpy(id.b + 8, &i, sizeof(i));
        assert_true(idset_has(&s, &id));
    }
    assert_int_equal(s.n, N + 100);
    idset_release(&s);
    assert_false(idset_has(&s, &id));
    idset_release(&s);
}

/* ---- locks ---- */

static void
put_lock(struct fixture *f, const char *name, const char *host, long pid, uint64_t start,
         int64_t age, bool exclusive)
{
    char t[DT_RFC3339_MAX], key[128], text[512];
    struct dt now;
    dt_now(&now);
    now.sec -= age;
    dt_format_rfc3339(&now, t);
    snprintf(text, sizeof(text),
             "{\"time\":\"%s\",\"exclusive\":%s,\"hostname\":\"%s\",\"username\":\"tester\","
             "\"pid\":%ld,\"process_start\":%llu,\"command\":\"test\"}",
             t, exclusive ? "true" : "false", host, pid, (unsigned long long)start);
    snprintf(key, sizeof(key), "locks/%s", name);
    assert_int_equal(stor_put(f->repo->stor, key, text, strlen(text), 0), 0);
}

static void
test_repo__locks(void **state)
{
    struct fixture *f = *state;
    struct repo_lock *a = NULL, *b = NULL, *c = NULL;
    struct lock_info *li;
    size_t n;

    assert_int_equal(lock_acquire(f->repo, false, "backup create", &a), 0);
    assert_int_equal(lock_acquire(f->repo, false, "backup verify", &b), 0);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 2);
    assert_int_equal(lock_acquire(f->repo, true, "prune", &c), DRK_ELOCKED);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 2); /* the failed one left none */
    assert_int_equal(lock_list(f->repo->stor, &li, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_false(li[i].exclusive);
        assert_false(li[i].stale);
        assert_false(li[i].damaged);
        assert_int_equal(li[i].pid, (long)getpid());
    }
    lock_info_free(li, n);
    lock_release(a);
    assert_int_equal(lock_acquire(f->repo, true, "prune", &c), DRK_ELOCKED);
    lock_release(b);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 0);

    assert_int_equal(lock_acquire(f->repo, true, "prune", &c), 0);
    assert_int_equal(lock_acquire(f->repo, false, "backup create", &a), DRK_ELOCKED);
    assert_int_equal(lock_acquire(f->repo, true, "delete", &a), DRK_ELOCKED);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 1);
    lock_release(c);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 0);
    lock_release(NULL);
}

static void
test_repo__stale_locks_are_ignored(void **state)
{
    struct fixture *f = *state;
    struct repo_lock *l = NULL;
    char host[256] = "";
    struct lock_info *li;
    size_t n, stale = 0;

    gethostname(host, sizeof(host) - 1);
    assert_true(kill(999999, 0) != 0 && errno == ESRCH);
    /* this host, a dead pid */
    put_lock(f, "dead", host, 999999, 0, 0, true);
    /* this host, our pid but another process start time (pid reused) */
    put_lock(f, "reused", host, (long)getpid(), 1, 0, true);
    /* another host, but older than LOCK_STALE */
    put_lock(f, "old", "elsewhere.example", 1, 0, LOCK_STALE + 60, true);
    /* not a lock at all */
    assert_int_equal(stor_put(f->repo->stor, "locks/damaged", "{", 1, 0), 0);
    assert_int_equal(lock_acquire(f->repo, true, "prune", &l), 0);

    assert_int_equal(lock_list(f->repo->stor, &li, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        if (li[i].stale)
            stale++;
        if (!strcmp(li[i].id, "damaged"))
            assert_true(li[i].damaged);
        if (!strcmp(li[i].id, "dead")) {
            assert_int_equal(li[i].pid, 999999);
            assert_string_equal(li[i].hostname, host);
            assert_true(li[i].exclusive);
        }
    }
    assert_int_equal(stale, 4);
    lock_info_free(li, n);
    lock_release(l);
    assert_int_equal(count_objects(f->repo->stor, "locks"), 4); /* ours is gone */

    /* a fresh lock of another host that nobody holds a kernel lock on: its process is gone
     * (on local storage the flock decides, not the clock) */
    put_lock(f, "orphan", "elsewhere.example", 1, 0, 0, false);
    assert_int_equal(lock_acquire(f->repo, true, "prune", &l), 0);
    lock_release(l);

    /* a live lock (its holder keeps the flock, as drkit does) blocks, whatever its host */
    put_lock(f, "live", "elsewhere.example", 1, 0, 0, false);
    {
        char *path = fs_join(f->dir, "locks/live");
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0);
        assert_int_equal(lock_acquire(f->repo, true, "prune", &l), DRK_ELOCKED);
        assert_int_equal(lock_acquire(f->repo, false, "backup", &l), 0);
        lock_release(l);
        close(fd);
        free(path);
    }
    /* released: no longer blocks */
    assert_int_equal(lock_acquire(f->repo, true, "prune", &l), 0);
    lock_release(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_repo__init_and_open, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__wrong_passphrase, setup_repo, teardown_repo),
        cmocka_unit_test(test_repo__probe_empty_and_foreign),
        cmocka_unit_test_setup_teardown(test_repo__second_key, setup_repo, teardown_repo),
        cmocka_unit_test(test_repo__key_parse_rejects),
        cmocka_unit_test_setup_teardown(test_repo__sealed_round_trip, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__sealed_load_detects_any_flipped_byte, setup_repo,
                                        teardown_repo),
        cmocka_unit_test(test_repo__sealed_open_codes),
        cmocka_unit_test_setup_teardown(test_repo__blob_seal_open, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__pack_round_trip, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__pack_parse_rejects_damage, setup_repo,
                                        teardown_repo),
        cmocka_unit_test(test_repo__snapshot_encode_decode),
        cmocka_unit_test(test_repo__snapshot_decode_rejects),
        cmocka_unit_test_setup_teardown(test_repo__snap_save_unique_names, setup_repo,
                                        teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__snap_resolve, setup_repo, teardown_repo),
        cmocka_unit_test(test_repo__idset_100k),
        cmocka_unit_test(test_repo__key_parse_rejects_other_kdf),
        cmocka_unit_test_setup_teardown(test_repo__locks, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_repo__stale_locks_are_ignored, setup_repo,
                                        teardown_repo),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
