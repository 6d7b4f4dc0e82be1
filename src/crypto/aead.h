/*
 * aead: XChaCha20-Poly1305 (libsodium, IETF variant) with random 192-bit nonces.
 * Random nonces are safe at any volume with the extended nonce, so no counter state
 * has to survive crashes or be shared between concurrent backups.
 *
 * Sealed layout: nonce (24) || ciphertext (len) || tag (16).
 */
#ifndef DRK_CRYPTO_AEAD_H
#define DRK_CRYPTO_AEAD_H

#include <stddef.h>

#define AEAD_KEY_LEN   32
#define AEAD_NONCE_LEN 24
#define AEAD_TAG_LEN   16
#define AEAD_OVERHEAD  (AEAD_NONCE_LEN + AEAD_TAG_LEN)

/* Seal len bytes of plain into out (len + AEAD_OVERHEAD bytes). plain may equal
 * out + AEAD_NONCE_LEN (in place). */
void aead_seal(unsigned char *out, const unsigned char *plain, size_t len, const unsigned char *ad,
               size_t adlen, const unsigned char key[AEAD_KEY_LEN]);
/* Open sealed (sealed_len bytes) into out (sealed_len - AEAD_OVERHEAD bytes); out may equal
 * sealed + AEAD_NONCE_LEN. Returns 0, or -1 if the data or tag was altered. */
int aead_open(unsigned char *out, const unsigned char *sealed, size_t sealed_len,
              const unsigned char *ad, size_t adlen, const unsigned char key[AEAD_KEY_LEN]);

#endif
