/* test_crypto: AEAD, HMAC/SHA-256 and the passphrase KDF (src/crypto). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/mac.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Deterministic pseudo-random bytes, so a failure reproduces. */
static void
fill_random(unsigned char *p, size_t n, uint32_t seed)
{
    unsigned char s[randombytes_SEEDBYTES] = { 0 };
    memcpy(s, &seed, sizeof(seed));
    randombytes_buf_deterministic(p, n, s);
}

static void
make_key(unsigned char key[AEAD_KEY_LEN], uint32_t seed)
{
    fill_random(key, AEAD_KEY_LEN, seed ^ 0x6b657900u);
}

/* ---- aead ---- */

static void
test_crypto__aead_round_trip(void **state)
{
    static const size_t lens[] = { 1, 15, 16, 17, 63, 64, 65, 1000, 65536, 1u << 20 };
    static const unsigned char ad[] = "associated";
    unsigned char key[AEAD_KEY_LEN];

    make_key(key, 1);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        size_t len = lens[k];
        unsigned char *plain = xmalloc(len), *sealed = xmalloc(len + AEAD_OVERHEAD);
        unsigned char *back = xmalloc(len);

        fill_random(plain, len, (uint32_t)k);
        aead_seal(sealed, plain, len, ad, sizeof(ad), key);
        /* the ciphertext is not the plaintext */
        assert_true(len < 8 || memcmp(sealed + AEAD_NONCE_LEN, plain, len) != 0);
        assert_int_equal(aead_open(back, sealed, len + AEAD_OVERHEAD, ad, sizeof(ad), key), 0);
        assert_memory_equal(back, plain, len);
        /* no associated data at all */
        aead_seal(sealed, plain, len, NULL, 0, key);
        memset(back, 0, len);
        assert_int_equal(aead_open(back, sealed, len + AEAD_OVERHEAD, NULL, 0, key), 0);
        assert_memory_equal(back, plain, len);
        free(plain);
        free(sealed);
        free(back);
    }
}

static void
test_crypto__aead_nonces_differ(void **state)
{
    unsigned char key[AEAD_KEY_LEN], plain[32] = { 0 }, a[32 + AEAD_OVERHEAD],
                                     b[32 + AEAD_OVERHEAD];

    make_key(key, 2);
    aead_seal(a, plain, sizeof(plain), NULL, 0, key);
    aead_seal(b, plain, sizeof(plain), NULL, 0, key);
    /* random nonces: sealing the same message twice gives different bytes */
    assert_memory_not_equal(a, b, AEAD_NONCE_LEN);
    assert_memory_not_equal(a + AEAD_NONCE_LEN, b + AEAD_NONCE_LEN, sizeof(plain));
}

static void
test_crypto__aead_in_place(void **state)
{
    static const unsigned char ad[] = { 'D', 'R', 'K', 'H' };
    const size_t len = 4097;
    unsigned char key[AEAD_KEY_LEN];
    unsigned char *plain = xmalloc(len), *buf = xmalloc(len + AEAD_OVERHEAD);

    make_key(key, 3);
    fill_random(plain, len, 77);
    memcpy(buf + AEAD_NONCE_LEN, plain, len);
    aead_seal(buf, buf + AEAD_NONCE_LEN, len, ad, sizeof(ad), key); /* plain == out + nonce */
    assert_memory_not_equal(buf + AEAD_NONCE_LEN, plain, len);
    assert_int_equal(aead_open(buf + AEAD_NONCE_LEN, buf, len + AEAD_OVERHEAD, ad, sizeof(ad), key),
                     0);
    assert_memory_equal(buf + AEAD_NONCE_LEN, plain, len);
    free(plain);
    free(buf);
}

static void
test_crypto__aead_any_flipped_bit_fails(void **state)
{
    enum { LEN = 33 };
    unsigned char key[AEAD_KEY_LEN], plain[LEN], sealed[LEN + AEAD_OVERHEAD], out[LEN];
    unsigned char ad[13];

    make_key(key, 4);
    fill_random(plain, sizeof(plain), 5);
    fill_random(ad, sizeof(ad), 6);
    aead_seal(sealed, plain, LEN, ad, sizeof(ad), key);
    assert_int_equal(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key), 0);

    /* every bit of nonce, ciphertext and tag */
    for (size_t bit = 0; bit < sizeof(sealed) * 8; bit++) {
        sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key) != -1)
            fail_msg("flipped bit %zu of the sealed bytes was not detected", bit);
        sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    /* every bit of the associated data */
    for (size_t bit = 0; bit < sizeof(ad) * 8; bit++) {
        ad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key) != -1)
            fail_msg("flipped bit %zu of the associated data was not detected", bit);
        ad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    /* shorter or longer associated data, truncated or extended message */
    assert_int_equal(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad) - 1, key), -1);
    assert_int_equal(aead_open(out, sealed, sizeof(sealed), NULL, 0, key), -1);
    assert_int_equal(aead_open(out, sealed, sizeof(sealed) - 1, ad, sizeof(ad), key), -1);
    assert_int_equal(aead_open(out, sealed, sizeof(sealed), ad, sizeof(ad), key), 0);
    assert_memory_equal(out, plain, LEN);
}

static void
test_crypto__aead_wrong_key_fails(void **state)
{
    unsigned char key[AEAD_KEY_LEN], other[AEAD_KEY_LEN], plain[100], out[100];
    unsigned char sealed[100 + AEAD_OVERHEAD];

    make_key(key, 7);
    memcpy(other, key, sizeof(key));
    fill_random(plain, sizeof(plain), 8);
    aead_seal(sealed, plain, sizeof(plain), NULL, 0, key);
    for (size_t i = 0; i < AEAD_KEY_LEN; i++) {
        other[i] ^= 0x80;
        assert_int_equal(aead_open(out, sealed, sizeof(sealed), NULL, 0, other), -1);
        other[i] ^= 0x80;
    }
    make_key(other, 9);
    assert_int_equal(aead_open(out, sealed, sizeof(sealed), NULL, 0, other), -1);
}

static void
test_crypto__aead_zero_length(void **state)
{
    unsigned char key[AEAD_KEY_LEN], sealed[AEAD_OVERHEAD], out[1] = { 0x5a };
    static const unsigned char ad[] = "x";

    make_key(key, 10);
    aead_seal(sealed, (const unsigned char *)"", 0, ad, sizeof(ad), key);
    assert_int_equal(aead_open(out, sealed, AEAD_OVERHEAD, ad, sizeof(ad), key), 0);
    assert_int_equal(out[0], 0x5a); /* nothing written */
    sealed[AEAD_OVERHEAD - 1] ^= 1;
    assert_int_equal(aead_open(out, sealed, AEAD_OVERHEAD, ad, sizeof(ad), key), -1);
    sealed[AEAD_OVERHEAD - 1] ^= 1;
    assert_int_equal(aead_open(out, sealed, AEAD_OVERHEAD, NULL, 0, key), -1);
    /* shorter than nonce + tag: rejected without reading past the end */
    for (size_t n = 0; n < AEAD_OVERHEAD; n++) {
        unsigned char *p = xmalloc(n ? n : 1);
        memcpy(p, sealed, n);
        assert_int_equal(aead_open(out, p, n, ad, sizeof(ad), key), -1);
        free(p);
    }
}

/* ---- mac / sha256 ---- */

static const size_t mac_key_lens[] = { 0, 32, 64, 100 };
static const size_t mac_data_lens[] = { 0,    1,     31,    32,    55,     56,      63,
                                        64,   65,    119,   127,   128,    129,     1000,
                                        4096, 65535, 65536, 65537, 300000, 1048575, 1u << 20 };

static void
hmac_reference(const unsigned char *key, size_t keylen, const unsigned char *data, size_t len,
               unsigned char out[SHA256_LEN])
{
    unsigned int outlen = 0;
    static const unsigned char nothing[1];
    /* OpenSSL's one-shot HMAC wants a non-NULL key even when it is empty */
    assert_non_null(
        HMAC(EVP_sha256(), keylen ? key : nothing, (int)keylen, data, len, out, &outlen));
    assert_int_equal(outlen, SHA256_LEN);
}

static void
test_crypto__mac_matches_openssl_hmac(void **state)
{
    unsigned char key[100], *data = xmalloc(1u << 20);

    fill_random(key, sizeof(key), 11);
    fill_random(data, 1u << 20, 12);
    for (size_t k = 0; k < sizeof(mac_key_lens) / sizeof(mac_key_lens[0]); k++) {
        struct mac_key *mk = mac_key_new(key, mac_key_lens[k]);
        assert_non_null(mk);
        for (size_t d = 0; d < sizeof(mac_data_lens) / sizeof(mac_data_lens[0]); d++) {
            unsigned char got[SHA256_LEN], want[SHA256_LEN];
            mac_compute(mk, data, mac_data_lens[d], got);
            hmac_reference(key, mac_key_lens[k], data, mac_data_lens[d], want);
            if (memcmp(got, want, SHA256_LEN) != 0)
                fail_msg("HMAC differs for key %zu bytes, data %zu bytes", mac_key_lens[k],
                         mac_data_lens[d]);
            /* the key schedule is not consumed by use */
            mac_compute(mk, data, mac_data_lens[d], got);
            assert_memory_equal(got, want, SHA256_LEN);
        }
        mac_key_free(mk);
    }
    mac_key_free(NULL);
    free(data);
}

static void
test_crypto__mac_known_answer(void **state)
{
    /* RFC 4231 test case 2 */
    static const unsigned char want[SHA256_LEN] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
    };
    static const char msg[] = "what do ya want for nothing?";
    struct mac_key *mk = mac_key_new((const unsigned char *)"Jefe", 4);
    unsigned char got[SHA256_LEN];

    mac_compute(mk, msg, strlen(msg), got);
    assert_memory_equal(got, want, SHA256_LEN);
    mac_key_free(mk);
}

struct mac_thread {
    const struct mac_key *mk;
    const unsigned char *data;
    const unsigned char (*want)[SHA256_LEN];
    size_t nwant;
    int rounds;
    int bad;
};

static void *
mac_thread_main(void *arg)
{
    struct mac_thread *t = arg;
    for (int round = 0; round < t->rounds; round++) {
        for (size_t d = 0; d < t->nwant; d++) {
            unsigned char got[SHA256_LEN];
            mac_compute(t->mk, t->data, mac_data_lens[d], got);
            if (memcmp(got, t->want[d], SHA256_LEN) != 0)
                t->bad++;
            sha256(t->data, mac_data_lens[d], got); /* shares the thread's context */
        }
    }
    return NULL;
}

static void
test_crypto__mac_concurrent_threads(void **state)
{
    enum { NTHREADS = 4 };
    const size_t nd = sizeof(mac_data_lens) / sizeof(mac_data_lens[0]);
    unsigned char key[64], *data = xmalloc(1u << 20), (*want)[SHA256_LEN];
    struct mac_thread t[NTHREADS];
    pthread_t tid[NTHREADS];
    struct mac_key *mk;

    fill_random(key, sizeof(key), 13);
    fill_random(data, 1u << 20, 14);
    want = xcalloc(nd, SHA256_LEN);
    for (size_t d = 0; d < nd; d++)
        hmac_reference(key, sizeof(key), data, mac_data_lens[d], want[d]);
    mk = mac_key_new(key, sizeof(key));
    for (int i = 0; i < NTHREADS; i++) {
        t[i] = (struct mac_thread){ mk, data, (const unsigned char(*)[SHA256_LEN])want, nd, 8, 0 };
        assert_int_equal(pthread_create(&tid[i], NULL, mac_thread_main, &t[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(t[i].bad, 0);
    }
    mac_key_free(mk);
    free(want);
    free(data);
}

static void
test_crypto__sha256_streaming_agrees(void **state)
{
    /* FIPS 180-2 "abc" */
    static const unsigned char abc[SHA256_LEN] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    const size_t max = 3u << 20;
    unsigned char *data = xmalloc(max), one[SHA256_LEN], streamed[SHA256_LEN];
    struct sha256_stream *s = sha256_stream_new();
    uint32_t rnd = 1;

    sha256("abc", 3, one);
    assert_memory_equal(one, abc, SHA256_LEN);
    sha256_stream_update(s, "a", 1);
    sha256_stream_update(s, "", 0);
    sha256_stream_update(s, "bc", 2);
    sha256_stream_final(s, streamed);
    assert_memory_equal(streamed, abc, SHA256_LEN);

    fill_random(data, max, 15);
    for (size_t len = 0; len <= max; len = len ? len * 3 + 7 : 1) {
        size_t pos = 0;
        sha256(data, len, one);
        /* random split points; the stream was reset by the previous final */
        while (pos < len) {
            size_t n;
            rnd = rnd * 1103515245u + 12345u;
            n = (rnd >> 8) % 70000;
            if (n > len - pos)
                n = len - pos;
            sha256_stream_update(s, data + pos, n);
            pos += n;
        }
        sha256_stream_final(s, streamed);
        if (memcmp(one, streamed, SHA256_LEN) != 0)
            fail_msg("sha256 and the stream disagree at %zu bytes", len);
    }
    /* final resets: an empty stream hashes the empty string */
    sha256_stream_final(s, streamed);
    sha256("", 0, one);
    assert_memory_equal(one, streamed, SHA256_LEN);
    sha256_stream_free(s);
    sha256_stream_free(NULL);
    free(data);
}

#if defined(__SANITIZE_ADDRESS__)
static void *
one_sha256(void *arg)
{
    unsigned char out[SHA256_LEN];
    struct mac_key *mk = mac_key_new((const unsigned char *)"k", 1);
    sha256("x", 1, out);
    mac_compute(mk, "x", 1, out);
    mac_key_free(mk);
    return arg;
}

/* Each thread's digest context is freed when the thread exits (it once leaked per thread). */
static void
test_crypto__mac_thread_context_is_freed(void **state)
{
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, one_sha256, NULL), 0);
        pthread_join(t, NULL);
    }
    assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
}
#endif

/* ---- kdf ---- */

static void
test_crypto__kdf_deterministic(void **state)
{
    unsigned char salt[KDF_SALT_LEN], salt2[KDF_SALT_LEN], a[32], b[32], c[32], d[64];

    fill_random(salt, sizeof(salt), 16);
    memcpy(salt2, salt, sizeof(salt));
    salt2[0] ^= 1;
    assert_int_equal(kdf_derive(a, sizeof(a), "secret", 6, salt, 1, 8192), 0);
    assert_int_equal(kdf_derive(b, sizeof(b), "secret", 6, salt, 1, 8192), 0);
    assert_memory_equal(a, b, sizeof(a));
    /* salt, passphrase, ops and mem all matter */
    assert_int_equal(kdf_derive(c, sizeof(c), "secret", 6, salt2, 1, 8192), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    assert_int_equal(kdf_derive(c, sizeof(c), "secreT", 6, salt, 1, 8192), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    assert_int_equal(kdf_derive(c, sizeof(c), "secret", 5, salt, 1, 8192), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    assert_int_equal(kdf_derive(c, sizeof(c), "secret", 6, salt, 2, 8192), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    assert_int_equal(kdf_derive(c, sizeof(c), "secret", 6, salt, 1, 16384), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    /* an empty passphrase derives too; a longer output is deterministic as well */
    assert_int_equal(kdf_derive(c, sizeof(c), "", 0, salt, 1, 8192), 0);
    assert_memory_not_equal(a, c, sizeof(a));
    assert_int_equal(kdf_derive(d, sizeof(d), "secret", 6, salt, 1, 8192), 0);
    assert_int_equal(kdf_derive(c, sizeof(c), "secret", 6, salt, 1, 8192), 0);
    assert_memory_equal(a, c, sizeof(a));
}

static void
test_crypto__kdf_rejects_out_of_range(void **state)
{
    static const struct {
        uint64_t ops, mem;
    } bad[] = {
        { 0, 8192 },  /* no passes */
        { 65, 8192 }, /* absurd number of passes */
        { UINT64_MAX, 8192 },
        { 1, 0 },
        { 1, 8191 },             /* below libsodium's minimum */
        { 1, (4ULL << 30) + 1 }, /* above 4 GiB */
        { 1, UINT64_MAX },
    };
    unsigned char salt[KDF_SALT_LEN] = { 0 }, out[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = kdf_derive(out, sizeof(out), "x", 1, salt, bad[i].ops, bad[i].mem);
        if (r >= 0)
            fail_msg("kdf accepted ops %llu mem %llu", (unsigned long long)bad[i].ops,
                     (unsigned long long)bad[i].mem);
        assert_string_not_equal(drk_err_msg(), "");
    }
    /* the edges that are allowed */
    assert_int_equal(kdf_derive(out, sizeof(out), "x", 1, salt, 1, 8192), 0);
}

/* Parameters out of range come from a damaged or hostile key file: an integrity error, as
 * kdf.h documents. */
static void
test_crypto__kdf_bad_params_are_corruption(void **state)
{
    unsigned char salt[KDF_SALT_LEN] = { 0 }, out[32];
    assert_int_equal(kdf_derive(out, sizeof(out), "x", 1, salt, 0, 8192), DRK_ECORRUPT);
    assert_int_equal(kdf_derive(out, sizeof(out), "x", 1, salt, 1, 8191), DRK_ECORRUPT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto__aead_round_trip),
        cmocka_unit_test(test_crypto__aead_nonces_differ),
        cmocka_unit_test(test_crypto__aead_in_place),
        cmocka_unit_test(test_crypto__aead_any_flipped_bit_fails),
        cmocka_unit_test(test_crypto__aead_wrong_key_fails),
        cmocka_unit_test(test_crypto__aead_zero_length),
        cmocka_unit_test(test_crypto__mac_matches_openssl_hmac),
        cmocka_unit_test(test_crypto__mac_known_answer),
        cmocka_unit_test(test_crypto__mac_concurrent_threads),
        cmocka_unit_test(test_crypto__sha256_streaming_agrees),
#if defined(__SANITIZE_ADDRESS__)
        cmocka_unit_test(test_crypto__mac_thread_context_is_freed),
#endif
        cmocka_unit_test(test_crypto__kdf_deterministic),
        cmocka_unit_test(test_crypto__kdf_rejects_out_of_range),
        cmocka_unit_test(test_crypto__kdf_bad_params_are_corruption),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
