/*
 * mac: HMAC-SHA256 = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)). The two padded-key
 * blocks are hashed once into template contexts; each MAC copies them, which skips two
 * compression rounds and all allocation per blob (one context per thread is reused).
 */
#include "crypto/mac.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "util/xalloc.h"
#include "util/banned.h"

#define SHA256_BLOCK 64

struct mac_key {
    EVP_MD_CTX *inner;
    EVP_MD_CTX *outer;
};

struct sha256_stream {
    EVP_MD_CTX *ctx;
};

static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void
md_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
md(void)
{
    pthread_once(&md_once, md_init);
    return sha256_md;
}

struct mac_key *
mac_key_new(const unsigned char *key, size_t keylen)
{
    unsigned char block[SHA256_BLOCK], k[SHA256_BLOCK];
    struct mac_key *mk;

    if (!md())
        return NULL;
    memset(k, 0, sizeof(k));
    if (keylen > SHA256_BLOCK)
        sha256(key, keylen, k);
    else
        memcpy(k, key, keylen);
    mk = xcalloc(1, sizeof(*mk));
    mk->inner = EVP_MD_CTX_new();
    mk->outer = EVP_MD_CTX_new();
    if (!mk->inner || !mk->outer)
        abort();
    for (int i = 0; i < SHA256_BLOCK; i++)
        block[i] = k[i] ^ 0x36;
    EVP_DigestInit_ex(mk->inner, md(), NULL);
    EVP_DigestUpdate(mk->inner, block, SHA256_BLOCK);
    for (int i = 0; i < SHA256_BLOCK; i++)
        block[i] = k[i] ^ 0x5c;
    EVP_DigestInit_ex(mk->outer, md(), NULL);
    EVP_DigestUpdate(mk->outer, block, SHA256_BLOCK);
    sodium_memzero(block, sizeof(block));
    sodium_memzero(k, sizeof(k));
    return mk;
}

void
mac_key_free(struct mac_key *k)
{
    if (!k)
        return;
    EVP_MD_CTX_free(k->inner);
    EVP_MD_CTX_free(k->outer);
    free(k);
}

/* One digest context per thread, freed when the thread exits. */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void
ctx_free(void *p)
{
    EVP_MD_CTX_free(p);
}

static void
ctx_key_init(void)
{
    if (pthread_key_create(&ctx_key, ctx_free) != 0)
        abort();
}

static EVP_MD_CTX *
thread_ctx(void)
{
    EVP_MD_CTX *c;
    pthread_once(&ctx_once, ctx_key_init);
    c = pthread_getspecific(ctx_key);
    if (!c) {
        c = EVP_MD_CTX_new();
        if (!c || pthread_setspecific(ctx_key, c) != 0)
            abort();
    }
    return c;
}

void
mac_compute(const struct mac_key *k, const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    mac_compute2(k, NULL, 0, data, len, out);
}

void
mac_compute2(const struct mac_key *k, const void *prefix, size_t plen, const void *data, size_t len,
             unsigned char out[SHA256_LEN])
{
    EVP_MD_CTX *c = thread_ctx();
    unsigned char ih[SHA256_LEN];
    EVP_MD_CTX_copy_ex(c, k->inner);
    EVP_DigestUpdate(c, prefix, plen);
    EVP_DigestUpdate(c, data, len);
    EVP_DigestFinal_ex(c, ih, NULL);
    EVP_MD_CTX_copy_ex(c, k->outer);
    EVP_DigestUpdate(c, ih, sizeof(ih));
    EVP_DigestFinal_ex(c, out, NULL);
}

void
sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    EVP_MD_CTX *c = thread_ctx();
    EVP_DigestInit_ex(c, md(), NULL);
    EVP_DigestUpdate(c, data, len);
    EVP_DigestFinal_ex(c, out, NULL);
}

struct sha256_stream *
sha256_stream_new(void)
{
    struct sha256_stream *s = xcalloc(1, sizeof(*s));
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || !md())
        abort();
    EVP_DigestInit_ex(s->ctx, md(), NULL);
    return s;
}

void
sha256_stream_update(struct sha256_stream *s, const void *data, size_t len)
{
    EVP_DigestUpdate(s->ctx, data, len);
}

void
sha256_stream_final(struct sha256_stream *s, unsigned char out[SHA256_LEN])
{
    EVP_DigestFinal_ex(s->ctx, out, NULL);
    EVP_DigestInit_ex(s->ctx, md(), NULL);
}

void
sha256_stream_free(struct sha256_stream *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}
