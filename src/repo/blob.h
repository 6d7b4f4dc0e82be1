/*
 * blob: sealing and opening single blobs. A sealed blob is
 *   nonce (24) || XChaCha20-Poly1305(1 byte compression || payload) || tag (16)
 * with associated data type (1 byte) || blob id (32), so a blob cannot be passed off as
 * another. After opening, the payload's MAC is checked against the id: nothing read from
 * a repository is trusted (DESIGN §4, invariant 2).
 *
 * A blob_codec holds one thread's scratch buffers and zstd contexts; use one per thread.
 */
#ifndef DRK_REPO_BLOB_H
#define DRK_REPO_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "util/buf.h"

struct repo;
struct idx_loc;

struct blob_codec {
    void *cctx;        /* ZSTD_CCtx */
    void *sample_cctx; /* ZSTD_CCtx at level 1, for the compressibility probe */
    void *dctx;        /* ZSTD_DCtx */
    int level;         /* the level cctx is set to */
    struct buf work;
    struct buf sealed;
};

void blob_codec_init(struct blob_codec *c);
void blob_codec_release(struct blob_codec *c);

/*
 * Seal data as a blob. level 0 stores it uncompressed; otherwise zstd at that level, kept
 * only if it saves at least 1/32 of the size. Blobs of 128 KiB and more are probed first:
 * if a 16 KiB sample from their middle does not shrink at level 1, they are stored as is
 * without trying (JPEG, PNG, video and archives make up most of a shop's bytes).
 * *sealed points into c (valid until the next call on c).
 */
int blob_seal(struct blob_codec *c, const struct repo *repo, uint8_t type, const struct blob_id *id,
              const void *data, size_t len, int level, const unsigned char **sealed,
              size_t *sealed_len);

/* Open a sealed blob and check its id; the payload replaces out's contents. `where` names
 * the pack for messages. DRK_ECORRUPT if anything does not match. */
int blob_open(struct blob_codec *c, const struct repo *repo, uint8_t type, const struct blob_id *id,
              const void *sealed, size_t sealed_len, uint32_t raw_len, struct buf *out,
              const char *where);

/* Look the blob up in the index, read it from its pack and open it. DRK_ENOTFOUND if the
 * index does not know it. */
int blob_read(struct blob_codec *c, struct repo *repo, const struct blob_id *id,
              uint8_t expect_type, struct buf *out);
/* Same, with the location already looked up. */
int blob_read_at(struct blob_codec *c, struct repo *repo, const struct blob_id *id,
                 const struct idx_loc *loc, struct buf *out);

#endif
