/* aead: XChaCha20-Poly1305 via libsodium's detached API. */
#include "crypto/aead.h"

#include <sodium.h>

#include "util/banned.h"

void
aead_seal(unsigned char *out, const unsigned char *plain, size_t len, const unsigned char *ad,
          size_t adlen, const unsigned char key[AEAD_KEY_LEN])
{
    randombytes_buf(out, AEAD_NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(out + AEAD_NONCE_LEN,
                                                        out + AEAD_NONCE_LEN + len, NULL, plain,
                                                        len, ad, adlen, NULL, out, key);
}

int
aead_open(unsigned char *out, const unsigned char *sealed, size_t sealed_len,
          const unsigned char *ad, size_t adlen, const unsigned char key[AEAD_KEY_LEN])
{
    size_t len;
    if (sealed_len < AEAD_OVERHEAD)
        return -1;
    len = sealed_len - AEAD_OVERHEAD;
    return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL, sealed + AEAD_NONCE_LEN,
                                                               len, sealed + AEAD_NONCE_LEN + len,
                                                               ad, adlen, sealed, key) == 0
               ? 0
               : -1;
}
