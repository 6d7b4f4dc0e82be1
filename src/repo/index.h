/*
 * index: where every blob lives. In memory, an open-addressing hash table keyed by blob id
 * (ids are MACs, so their first bytes are already uniformly random) with 52-byte entries;
 * pack ids are interned in a side table. On disk, index/<id> files (format.h, sealed kind
 * 'I') with this plaintext:
 *
 *   u32 version (1)
 *   u32 n_supersedes, then n_supersedes * 32-byte index file ids this one replaces (prune)
 *   u32 n_packs, then per pack:
 *       32 bytes pack id, u64 pack size, u32 n_blobs, n_blobs * 48-byte entries
 *       (the pack header's entry layout: u8 type, u8[3] 0, u32 offset, u32 length,
 *        u32 raw length, 32 bytes blob id)
 *
 * Thread safety: every function takes the table's mutex, so lookups and claims may come
 * from any thread while a backup runs.
 */
#ifndef DRK_REPO_INDEX_H
#define DRK_REPO_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "util/buf.h"

struct repo;

struct idx_loc {
    struct blob_id pack;
    uint32_t offset;
    uint32_t length;     /* sealed bytes in the pack */
    uint32_t raw_length; /* payload bytes after decompression */
    uint8_t type;
};

/* One blob as recorded in a pack header or index file. */
struct pack_entry {
    uint8_t type;
    uint32_t offset;
    uint32_t length;
    uint32_t raw_length;
    struct blob_id id;
};

struct idx_pack_rec {
    struct blob_id id;
    uint64_t size;
    struct pack_entry *entries;
    size_t n;
};

struct idx_damaged {
    char *file;    /* index file id */
    char *message; /* what is wrong */
};

struct idx;

struct idx *idx_new(void);
void idx_free(struct idx *x);

/* Load every index file of the repository. Damaged files are skipped and listed. */
int idx_load(struct idx *x, struct repo *repo);
size_t idx_damaged(const struct idx *x, const struct idx_damaged **out);
size_t idx_file_count(const struct idx *x);

/* 0 and the location if the blob is stored; DRK_ENOTFOUND if unknown or only claimed. */
int idx_lookup(struct idx *x, const struct blob_id *id, struct idx_loc *out);
bool idx_has(struct idx *x, const struct blob_id *id); /* stored or claimed */

/* Claim a blob for storing: true if the caller must store it (nobody has it or is storing
 * it), false if it is stored or claimed already. */
bool idx_claim(struct idx *x, const struct blob_id *id, uint8_t type);
/* Give back a claim that will not be stored (an aborted backup). */
void idx_unclaim(struct idx *x, const struct blob_id *id);
/* Record a committed pack and its blobs (claimed or not). */
void idx_add_pack(struct idx *x, const struct blob_id *pack, uint64_t pack_size,
                  const struct pack_entry *entries, size_t n);

/* Parse an index file's plaintext and add its packs. DRK_ECORRUPT on bad structure (then
 * nothing is added). */
int idx_add_file(struct idx *x, const void *plain, size_t len, const char *file_id);

/* One index file, parsed: its packs (whose entries point into `entries`). */
struct idx_file {
    struct idx_pack_rec *packs;
    size_t npacks;
    struct pack_entry *entries;
    struct blob_id *supersedes;
    size_t nsupersedes;
};
int idx_parse_file(struct idx_file *out, const void *plain, size_t len, const char *file_id);
void idx_file_release(struct idx_file *f);

/* Encode index file plaintext for the given packs. */
int idx_encode(struct buf *out, const struct idx_pack_rec *packs, size_t npacks,
               const struct blob_id *supersedes, size_t nsupersedes);

/* Every stored blob and every pack, for check and statistics. Returns early on non-zero. */
typedef int (*idx_blob_cb)(void *arg, const struct blob_id *id, const struct idx_loc *loc);
int idx_foreach_blob(struct idx *x, idx_blob_cb cb, void *arg);
size_t idx_pack_count(struct idx *x);
/* Pack i (0 <= i < count): id and recorded size. */
void idx_pack_at(struct idx *x, size_t i, struct blob_id *id, uint64_t *size);
/* Size recorded for a pack; DRK_ENOTFOUND if not indexed. */
int idx_pack_size(struct idx *x, const struct blob_id *pack, uint64_t *size);
size_t idx_blob_count(struct idx *x);

/* Helpers shared with pack.c: 48-byte entry encoding. */
void pack_entry_encode(unsigned char out[PACK_ENTRY_LEN], const struct pack_entry *e);
void pack_entry_decode(struct pack_entry *e, const unsigned char in[PACK_ENTRY_LEN]);

#endif
