/*
 * kdf: Argon2id (libsodium crypto_pwhash), memory-hard, for turning a passphrase into the
 * key that unwraps a repository's master keys. Parameters are stored in each key file so
 * they can be raised later without breaking old keys.
 */
#ifndef DRK_CRYPTO_KDF_H
#define DRK_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#define KDF_SALT_LEN 16
/* Defaults: 3 passes over 64 MiB (~0.2 s here); enough to make guessing expensive while
 * keeping peak memory of a backup well under 100 MiB. */
#define KDF_DEFAULT_OPS 3
#define KDF_DEFAULT_MEM (64ULL * 1024 * 1024)

/* Derive outlen bytes. DRK_ENOMEM, or DRK_ECORRUPT for parameters out of range (they come
 * from key files). */
int kdf_derive(unsigned char *out, size_t outlen, const char *pass, size_t passlen,
               const unsigned char salt[KDF_SALT_LEN], uint64_t ops, uint64_t mem);

#endif
