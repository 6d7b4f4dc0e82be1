/*
 * mac: SHA-256 (OpenSSL, which uses the CPU's SHA extensions) and HMAC-SHA256 with a
 * precomputed key schedule. Blob ids are HMAC-SHA256(mac key, plaintext): without the
 * key nobody can tell whether a repository holds a known file (no fingerprinting).
 */
#ifndef DRK_CRYPTO_MAC_H
#define DRK_CRYPTO_MAC_H

#include <stddef.h>

#define SHA256_LEN 32

struct mac_key;

/* Returns NULL only if OpenSSL cannot provide SHA-256. */
struct mac_key *mac_key_new(const unsigned char *key, size_t keylen);
void mac_key_free(struct mac_key *k);
/* Thread-safe: many threads may share one mac_key. */
void mac_compute(const struct mac_key *k, const void *data, size_t len,
                 unsigned char out[SHA256_LEN]);
/* MAC of prefix || data, without copying them together. */
void mac_compute2(const struct mac_key *k, const void *prefix, size_t plen, const void *data,
                  size_t len, unsigned char out[SHA256_LEN]);

void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/* Streaming SHA-256 (pack files are hashed as they are written). */
struct sha256_stream;
struct sha256_stream *sha256_stream_new(void);
void sha256_stream_update(struct sha256_stream *s, const void *data, size_t len);
void sha256_stream_final(struct sha256_stream *s, unsigned char out[SHA256_LEN]); /* and reset */
void sha256_stream_free(struct sha256_stream *s);

#endif
