/*
 * key: key files. Each keys/<id> wraps the repository's master key material with a key
 * derived from one passphrase (Argon2id), so several passphrases can open one repository
 * and a passphrase can change without re-encrypting data. A key file is plaintext JSON:
 *
 *   {"version":1,"created":"<rfc3339>","host":"...","username":"...",
 *    "kdf":"argon2id","opslimit":3,"memlimit":67108864,"salt":"<base64 16 bytes>",
 *    "data":"<base64: nonce(24) || XChaCha20-Poly1305(master key, 96 bytes) || tag(16)>"}
 *
 * The id is the SHA-256 of the file's bytes. Associated data of the wrap: "drkit key v1".
 */
#ifndef DRK_REPO_KEY_H
#define DRK_REPO_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "storage/storage.h"

/* Write a new key file wrapping master with pass. ops/mem 0 mean the defaults. */
int key_add(struct stor *stor, const unsigned char master[MASTER_KEY_LEN], const char *pass,
            size_t passlen, uint64_t ops, uint64_t mem, char id_out[ID_HEX_LEN + 1]);
/* Try pass against every key file. DRK_EPASSWORD if none opens, DRK_ENOREPO if there are no
 * key files. master_out must be MASTER_KEY_LEN bytes of (secure) memory. */
int key_unlock(struct stor *stor, const char *pass, size_t passlen,
               unsigned char master_out[MASTER_KEY_LEN], char id_out[ID_HEX_LEN + 1]);
struct key_info {
    char id[ID_HEX_LEN + 1];
    char created[64], host[256], username[256];
    uint64_t ops, mem;
    bool damaged;
};

/* Every key file, described (no passphrase needed). Caller frees *out. */
int key_list(struct stor *stor, struct key_info **out, size_t *n);
/* Remove key file id. DRK_EUSAGE for the last key (the repository could never be opened
 * again) or for `current`, the key this process opened the repository with. */
int key_remove(struct stor *stor, const char *id, const char *current);

/* Parse a key file's JSON without unwrapping it (for listings and fuzzing). */
int key_parse(const void *data, size_t len, uint64_t *ops, uint64_t *mem, unsigned char salt[16],
              unsigned char **wrapped, size_t *wrapped_len);

#endif
