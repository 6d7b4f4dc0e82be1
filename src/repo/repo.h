/*
 * repo: an open repository — its storage, config and unlocked master keys — and the
 * operations on the repository as a whole (init, open, probe). The index, packs, trees,
 * snapshots and locks have their own modules; they all take a struct repo.
 *
 * Master keys live in sodium_malloc'ed memory (guard pages, no swap) and are wiped on
 * repo_free. Nothing here knows about files or PostgreSQL (DESIGN §3).
 */
#ifndef DRK_REPO_REPO_H
#define DRK_REPO_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "chunk/cdc.h"
#include "repo/format.h"
#include "storage/storage.h"
#include "util/datetime.h"

struct mac_key;
struct idx;

struct repo_config {
    uint32_t version;
    char id[ID_HEX_LEN + 1];
    struct cdc_params chunker;
    int compression; /* zstd level 1..19, 0 = off */
    uint32_t pack_size;
    char created[DT_RFC3339_MAX];
};

struct repo {
    struct stor *stor; /* owned */
    struct repo_config config;
    unsigned char *master; /* MASTER_KEY_LEN bytes: enc key || mac key || chunker seed */
    struct mac_key *mac;
    struct cdc chunker;
    char key_id[ID_HEX_LEN + 1]; /* the key file that opened the repository */
    struct idx *idx;             /* NULL until repo_load_index() */
    int compression;             /* effective zstd level for new blobs, 0 = off */
    uint32_t pack_size;          /* effective target pack size */
};

struct repo_init_opts {
    uint64_t kdf_ops;   /* 0: default */
    uint64_t kdf_mem;   /* 0: default */
    int compression;    /* -1: default (3) */
    uint32_t pack_size; /* 0: default */
};

/* DRK_OK if a drkit repository seems to be there (config present, right magic);
 * DRK_ENOREPO if nothing is there, DRK_EFOREIGN if something else is. */
int repo_probe(struct stor *stor);
/* Create a repository: layout, config, first key. Takes ownership of stor on success. */
int repo_init(struct repo **out, struct stor *stor, const char *pass, size_t passlen,
              const struct repo_init_opts *opts);
/* Open with a passphrase: DRK_ENOREPO, DRK_EFOREIGN, DRK_EPASSWORD, DRK_ECORRUPT, DRK_EVERSION.
 * Takes ownership of stor on success. */
int repo_open(struct repo **out, struct stor *stor, const char *pass, size_t passlen);
void repo_free(struct repo *r); /* NULL ok; closes storage */

static inline const unsigned char *
repo_enc_key(const struct repo *r)
{
    return r->master;
}

static inline const unsigned char *
repo_chunker_seed(const struct repo *r)
{
    return r->master + 64;
}

/* Blob id: HMAC-SHA256(mac key, type byte || plaintext). The type byte keeps a tree and a
 * data blob with the same bytes apart (an empty directory encodes to 8 bytes a file may
 * hold too). */
void repo_blob_id(const struct repo *r, uint8_t type, const void *data, size_t len,
                  struct blob_id *out);

/* Load all index files into r->idx (once). Damaged index files are skipped and recorded in
 * r->idx (idx_damaged); the call fails only if the index cannot be read at all. */
int repo_load_index(struct repo *r);

/* "data/ab/ab12..." for a pack id */
void repo_pack_key(const struct blob_id *pack, char out[ID_HEX_LEN + 16]);

void id_to_hex(const struct blob_id *id, char out[ID_HEX_LEN + 1]);
int id_from_hex(struct blob_id *out, const char *hex); /* -1 unless exactly 64 hex digits */

#endif
