/* kdf: Argon2id key derivation. */
#include "crypto/kdf.h"

#include <sodium.h>

#include "util/err.h"
#include "util/banned.h"

int
kdf_derive(unsigned char *out, size_t outlen, const char *pass, size_t passlen,
           const unsigned char salt[KDF_SALT_LEN], uint64_t ops, uint64_t mem)
{
    if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops > 64 ||
        mem < crypto_pwhash_argon2id_MEMLIMIT_MIN || mem > (4ULL << 30))
        return drk_err_set(DRK_ECORRUPT,
                           "key derivation parameters out of range (ops %llu, mem %llu)",
                           (unsigned long long)ops, (unsigned long long)mem);
    if (crypto_pwhash(out, outlen, pass, passlen, salt, ops, (size_t)mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return drk_err_set(DRK_ENOMEM, "key derivation ran out of memory (%llu bytes needed)",
                           (unsigned long long)mem);
    return 0;
}
