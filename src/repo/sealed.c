/* sealed: envelope of config/index/snapshot files and their content-addressed storage. */
#include "repo/sealed.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SEALED_COMPRESS_MIN 512
#define SEALED_ZSTD_LEVEL   3

int
sealed_seal(struct buf *out, const unsigned char key[32], char kind, const void *plain, size_t len)
{
    struct buf body = BUF_INIT;
    unsigned char *dst;
    int r;

    /* body = compression byte || payload */
    if (len >= SEALED_COMPRESS_MIN) {
        size_t bound = ZSTD_compressBound(len), n;
        if ((dst = buf_reserve(&body, 1 + bound)) == NULL)
            return drk_err_code();
        n = ZSTD_compress(dst + 1, bound, plain, len, SEALED_ZSTD_LEVEL);
        if (!ZSTD_isError(n) && n < len) {
            dst[0] = COMP_ZSTD;
            buf_setlen(&body, 1 + n);
        }
    }
    if (body.len == 0) {
        if ((r = buf_put_u8(&body, COMP_NONE)) != 0 || (r = buf_add(&body, plain, len)) != 0) {
            buf_release(&body);
            return r;
        }
    }
    buf_reset(out);
    if ((dst = buf_reserve(out, SEALED_HEADER_LEN + body.len + AEAD_OVERHEAD)) == NULL) {
        buf_release(&body);
        return drk_err_code();
    }
    memcpy(dst, SEALED_MAGIC, 4);
    dst[4] = (unsigned char)kind;
    dst[5] = REPO_FORMAT_VERSION;
    dst[6] = dst[7] = 0;
    aead_seal(dst + SEALED_HEADER_LEN, body.data, body.len, dst, SEALED_HEADER_LEN, key);
    buf_setlen(out, SEALED_HEADER_LEN + body.len + AEAD_OVERHEAD);
    buf_release_secure(&body);
    return 0;
}

int
sealed_open(struct buf *plain, const unsigned char key[32], char kind, const void *data, size_t len,
            const char *what)
{
    const unsigned char *p = data;
    struct buf body = BUF_INIT;
    size_t blen;
    int r = 0;

    if (len < 4 || memcmp(p, SEALED_MAGIC, 4) != 0)
        return drk_err_set(DRK_EFOREIGN, "'%s' is not a drkit object", what);
    if (len < SEALED_HEADER_LEN + AEAD_OVERHEAD + 1)
        return drk_err_set(DRK_ECORRUPT, "'%s' is damaged: truncated to %zu bytes", what, len);
    if (p[5] > REPO_FORMAT_VERSION)
        return drk_err_set(DRK_EVERSION, "'%s' uses format version %u; this drkit reads up to %u",
                           what, p[5], REPO_FORMAT_VERSION);
    if (p[4] != (unsigned char)kind || p[5] == 0 || p[6] || p[7])
        return drk_err_set(DRK_ECORRUPT, "'%s' is damaged: bad header", what);
    blen = len - SEALED_HEADER_LEN - AEAD_OVERHEAD;
    if (buf_reserve(&body, blen) == NULL)
        return drk_err_code();
    if (aead_open(body.data, p + SEALED_HEADER_LEN, len - SEALED_HEADER_LEN, p, SEALED_HEADER_LEN,
                  key) != 0) {
        buf_release(&body);
        return drk_err_set(DRK_ECORRUPT,
                           "'%s' is damaged: authentication failed (altered, or not written "
                           "with this repository's key)",
                           what);
    }
    buf_setlen(&body, blen);
    buf_reset(plain);
    if (body.data[0] == COMP_NONE) {
        r = buf_add(plain, body.data + 1, blen - 1);
    } else if (body.data[0] == COMP_ZSTD) {
        unsigned long long size = ZSTD_getFrameContentSize(body.data + 1, blen - 1);
        size_t n;
        unsigned char *dst;
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
            size > SEALED_MAX) {
            r = drk_err_set(DRK_ECORRUPT, "'%s' is damaged: bad compressed size", what);
            goto out;
        }
        if ((dst = buf_reserve(plain, (size_t)size)) == NULL) {
            r = drk_err_code();
            goto out;
        }
        n = ZSTD_decompress(dst, (size_t)size, body.data + 1, blen - 1);
        if (ZSTD_isError(n) || n != size) {
            r = drk_err_set(DRK_ECORRUPT, "'%s' is damaged: cannot decompress", what);
            goto out;
        }
        buf_setlen(plain, (size_t)size);
    } else {
        r = drk_err_set(DRK_ECORRUPT, "'%s' is damaged: unknown compression %u", what,
                        body.data[0]);
    }
out:
    buf_release_secure(&body);
    return r;
}

int
sealed_save(struct repo *repo, const char *dir, char kind, const void *plain, size_t len,
            char id_out[ID_HEX_LEN + 1])
{
    struct buf sealed = BUF_INIT;
    unsigned char hash[SHA256_LEN];
    char *key;
    int r;

    if ((r = sealed_seal(&sealed, repo_enc_key(repo), kind, plain, len)) != 0)
        return r;
    sha256(sealed.data, sealed.len, hash);
    hex_encode(id_out, hash, sizeof(hash));
    key = xasprintf("%s/%s", dir, id_out);
    r = stor_put(repo->stor, key, sealed.data, sealed.len, 0);
    free(key);
    buf_release(&sealed);
    return r;
}

int
sealed_load(struct repo *repo, const char *dir, const char *id, char kind, struct buf *plain)
{
    struct buf raw = BUF_INIT;
    unsigned char hash[SHA256_LEN];
    char hex[ID_HEX_LEN + 1];
    char *key = xasprintf("%s/%s", dir, id);
    int r;

    if ((r = stor_get(repo->stor, key, &raw, SEALED_MAX)) != 0)
        goto out;
    sha256(raw.data, raw.len, hash);
    hex_encode(hex, hash, sizeof(hash));
    if (strcmp(hex, id) != 0) {
        r = drk_err_set(DRK_ECORRUPT, "'%s' is damaged: its content does not match its name", key);
        goto out;
    }
    r = sealed_open(plain, repo_enc_key(repo), kind, raw.data, raw.len, key);
out:
    buf_release(&raw);
    free(key);
    return r;
}
