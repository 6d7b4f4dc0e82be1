/* blob: compress+encrypt one blob, and decrypt+decompress+verify it. */
#include "repo/blob.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "crypto/aead.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/banned.h"

#define COMPRESS_MIN 128 /* smaller payloads are not worth a zstd frame */
#define PROBE_MIN    (128 * 1024)
#define PROBE_LEN    (16 * 1024)

void
blob_codec_init(struct blob_codec *c)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->work, 0);
    buf_init(&c->sealed, 0);
    c->level = -1;
}

void
blob_codec_release(struct blob_codec *c)
{
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeCCtx(c->sample_cctx);
    ZSTD_freeDCtx(c->dctx);
    buf_release_secure(&c->work);
    buf_release(&c->sealed);
    c->cctx = c->dctx = c->sample_cctx = NULL;
}

/* Does a sample from the middle of data shrink by a tenth at zstd level 1? */
static bool
probably_compressible(struct blob_codec *c, const unsigned char *data, size_t len)
{
    unsigned char out[PROBE_LEN + 1024];
    size_t n;
    if (len < PROBE_MIN)
        return true;
    if (!c->sample_cctx && (c->sample_cctx = ZSTD_createCCtx()) == NULL)
        return true;
    n = ZSTD_compressCCtx(c->sample_cctx, out, sizeof(out), data + len / 2 - PROBE_LEN / 2,
                          PROBE_LEN, 1);
    return ZSTD_isError(n) || n < PROBE_LEN - PROBE_LEN / 10;
}

static void
blob_ad(unsigned char ad[1 + ID_LEN], uint8_t type, const struct blob_id *id)
{
    ad[0] = type;
    memcpy(ad + 1, id->b, ID_LEN);
}

int
blob_seal(struct blob_codec *c, const struct repo *repo, uint8_t type, const struct blob_id *id,
          const void *data, size_t len, int level, const unsigned char **sealed, size_t *sealed_len)
{
    unsigned char ad[1 + ID_LEN], *w, *out;
    size_t plen = 0;

    if (len > BLOB_MAX_RAW)
        return drk_err_set(DRK_ETOOBIG, "blob of %zu bytes is too large", len);
    buf_reset(&c->work);
    if (level > 0 && len >= COMPRESS_MIN && probably_compressible(c, data, len)) {
        size_t bound = ZSTD_compressBound(len), n;
        if (!c->cctx) {
            c->cctx = ZSTD_createCCtx();
            if (!c->cctx)
                return drk_err_set(DRK_ENOMEM, "cannot create a zstd context");
        }
        if (c->level != level) {
            ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level);
            ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0);
            ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
            c->level = level;
        }
        if ((w = buf_reserve(&c->work, 1 + bound)) == NULL)
            return drk_err_code();
        n = ZSTD_compress2(c->cctx, w + 1, bound, data, len);
        if (!ZSTD_isError(n) && n < len - len / 32) {
            w[0] = COMP_ZSTD;
            plen = 1 + n;
        }
    }
    if (plen == 0) {
        if ((w = buf_reserve(&c->work, 1 + len)) == NULL)
            return drk_err_code();
        w[0] = COMP_NONE;
        memcpy(w + 1, data, len);
        plen = 1 + len;
    }
    buf_reset(&c->sealed);
    if ((out = buf_reserve(&c->sealed, plen + AEAD_OVERHEAD)) == NULL)
        return drk_err_code();
    blob_ad(ad, type, id);
    aead_seal(out, c->work.data, plen, ad, sizeof(ad), repo_enc_key(repo));
    buf_setlen(&c->sealed, plen + AEAD_OVERHEAD);
    *sealed = c->sealed.data;
    *sealed_len = c->sealed.len;
    return 0;
}

int
blob_open(struct blob_codec *c, const struct repo *repo, uint8_t type, const struct blob_id *id,
          const void *sealed, size_t sealed_len, uint32_t raw_len, struct buf *out,
          const char *where)
{
    unsigned char ad[1 + ID_LEN], *w, check[ID_LEN];
    char hex[ID_HEX_LEN + 1];
    size_t plen;
    struct blob_id got;

    id_to_hex(id, hex);
    if (sealed_len < AEAD_OVERHEAD + 1 || raw_len > BLOB_MAX_RAW)
        return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' has an impossible length", hex, where);
    plen = sealed_len - AEAD_OVERHEAD;
    buf_reset(&c->work);
    if ((w = buf_reserve(&c->work, plen)) == NULL)
        return drk_err_code();
    blob_ad(ad, type, id);
    if (aead_open(w, sealed, sealed_len, ad, sizeof(ad), repo_enc_key(repo)) != 0)
        return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' is damaged (authentication failed)",
                           hex, where);
    buf_reset(out);
    if (w[0] == COMP_NONE) {
        if (plen - 1 != raw_len)
            return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' has the wrong length", hex, where);
        if (buf_add(out, w + 1, plen - 1) != 0)
            return drk_err_code();
    } else if (w[0] == COMP_ZSTD) {
        unsigned char *dst;
        size_t n;
        if (!c->dctx && (c->dctx = ZSTD_createDCtx()) == NULL)
            return drk_err_set(DRK_ENOMEM, "cannot create a zstd context");
        if ((dst = buf_reserve(out, raw_len)) == NULL)
            return drk_err_code();
        n = ZSTD_decompressDCtx(c->dctx, dst, raw_len, w + 1, plen - 1);
        if (ZSTD_isError(n) || n != raw_len)
            return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' does not decompress", hex, where);
        buf_setlen(out, raw_len);
    } else {
        return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' has unknown compression %u", hex,
                           where, w[0]);
    }
    repo_blob_id(repo, type, out->data, out->len, &got);
    memcpy(check, got.b, ID_LEN);
    if (memcmp(check, id->b, ID_LEN) != 0)
        return drk_err_set(DRK_ECORRUPT, "blob %.16s in '%s' does not match its id", hex, where);
    return 0;
}

int
blob_read_at(struct blob_codec *c, struct repo *repo, const struct blob_id *id,
             const struct idx_loc *loc, struct buf *out)
{
    char key[ID_HEX_LEN + 16];
    unsigned char *dst;
    int r;

    repo_pack_key(&loc->pack, key);
    buf_reset(&c->sealed);
    if ((dst = buf_reserve(&c->sealed, loc->length)) == NULL)
        return drk_err_code();
    /* trees are read again by every incremental backup: their packs are worth caching */
    r = loc->type == BLOB_TREE
            ? stor_get_range_whole(repo->stor, key, loc->offset, loc->length, dst)
            : stor_get_range(repo->stor, key, loc->offset, loc->length, dst);
    if (r != 0)
        return drk_err_wrap(r, "cannot read blob from '%s'", key);
    buf_setlen(&c->sealed, loc->length);
    return blob_open(c, repo, loc->type, id, c->sealed.data, c->sealed.len, loc->raw_length, out,
                     key);
}

int
blob_read(struct blob_codec *c, struct repo *repo, const struct blob_id *id, uint8_t expect_type,
          struct buf *out)
{
    struct idx_loc loc;
    char hex[ID_HEX_LEN + 1];
    if (idx_lookup(repo->idx, id, &loc) != 0) {
        id_to_hex(id, hex);
        return drk_err_set(DRK_ENOTFOUND, "blob %.16s is not in the index", hex);
    }
    if (loc.type != expect_type) {
        id_to_hex(id, hex);
        return drk_err_set(DRK_ECORRUPT, "blob %.16s has type %u, expected %u", hex, loc.type,
                           expect_type);
    }
    return blob_read_at(c, repo, id, &loc, out);
}
