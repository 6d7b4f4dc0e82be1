/* pack: pack file writer and parser. */
#include "repo/pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "crypto/mac.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/xalloc.h"
#include "util/banned.h"

void
pack_writer_init(struct pack_writer *pw)
{
    memset(pw, 0, sizeof(*pw));
    pw->tmp.fd = -1;
}

void
pack_writer_release(struct pack_writer *pw)
{
    sha256_stream_free(pw->sha);
    vec_free(&pw->entries);
    dwrite_release(&pw->out);
    pack_writer_init(pw);
}

static int
pw_write(struct pack_writer *pw, const void *p, size_t n)
{
    sha256_stream_update(pw->sha, p, n);
    pw->size += n;
    return dwrite_write(&pw->out, p, n);
}

int
pack_writer_begin(struct pack_writer *pw, struct stor *stor)
{
    int r;
    pack_writer_init(pw);
    if ((r = stor_tmp_open(stor, &pw->tmp, STOR_TMP_DIRECT)) != 0)
        return r;
    dwrite_init(&pw->out, pw->tmp.fd, pw->tmp.direct, PACK_DIRECT_BUF, "a new pack");
    pw->sha = sha256_stream_new();
    pw->active = 1;
    if ((r = pw_write(pw, PACK_MAGIC, PACK_MAGIC_LEN)) != 0) {
        pack_writer_discard(pw, stor);
        return r;
    }
    return 0;
}

int
pack_writer_add(struct pack_writer *pw, uint8_t type, const struct blob_id *id, const void *sealed,
                size_t len, uint32_t raw_len)
{
    struct pack_entry e;
    int r;
    if (pw->size + len > PACK_MAX_SIZE - (1u << 26) || pw->entries.n >= PACK_MAX_BLOBS)
        return drk_err_set(DRK_ETOOBIG, "pack would grow too large");
    e.type = type;
    e.offset = (uint32_t)pw->size;
    e.length = (uint32_t)len;
    e.raw_length = raw_len;
    e.id = *id;
    if ((r = pw_write(pw, sealed, len)) != 0)
        return r;
    vec_push(&pw->entries, e);
    pw->payload_bytes += raw_len;
    return 0;
}

int
pack_writer_finish(struct pack_writer *pw, const unsigned char key[32], struct blob_id *id_out)
{
    size_t n = pw->entries.n, plen = 4 + n * PACK_ENTRY_LEN;
    unsigned char *plain = xmalloc(plen), *sealed = xmalloc(plen + AEAD_OVERHEAD);
    unsigned char trailer[PACK_TRAILER_LEN];
    int r;

    le_put32(plain, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        pack_entry_encode(plain + 4 + i * PACK_ENTRY_LEN, &pw->entries.v[i]);
    aead_seal(sealed, plain, plen, (const unsigned char *)PACK_HEADER_AD, 4, key);
    le_put32(trailer, (uint32_t)(plen + AEAD_OVERHEAD));
    memcpy(trailer + 4, PACK_TRAILER_MAGIC, 4);
    r = pw_write(pw, sealed, plen + AEAD_OVERHEAD);
    if (r == 0)
        r = pw_write(pw, trailer, sizeof(trailer));
    if (r == 0)
        r = dwrite_finish(&pw->out);
    if (r == 0)
        sha256_stream_final(pw->sha, id_out->b);
    free(plain);
    free(sealed);
    return r;
}

int
pack_writer_commit(struct pack_writer *pw, struct stor *stor, const struct blob_id *id)
{
    char key[ID_HEX_LEN + 16];
    repo_pack_key(id, key);
    pw->active = 0;
    return stor_tmp_commit(stor, &pw->tmp, key);
}

void
pack_writer_discard(struct pack_writer *pw, struct stor *stor)
{
    if (pw->active || pw->tmp.fd >= 0)
        stor_tmp_discard(stor, &pw->tmp);
    pw->active = 0;
}

int
pack_parse(const unsigned char *data, size_t len, const unsigned char key[32],
           struct pack_entry **out, size_t *nout, const char *what)
{
    uint32_t hlen, count;
    size_t hstart, plen;
    unsigned char *plain = NULL;
    struct pack_entry *e = NULL;
    uint64_t next = PACK_MAGIC_LEN;
    int r = 0;

    *out = NULL;
    *nout = 0;
    if (len < PACK_MAGIC_LEN + PACK_TRAILER_LEN + AEAD_OVERHEAD + 4 ||
        memcmp(data, PACK_MAGIC, PACK_MAGIC_LEN) != 0)
        return drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: bad magic or too short", what);
    if (memcmp(data + len - 4, PACK_TRAILER_MAGIC, 4) != 0)
        return drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: bad trailer", what);
    hlen = le_get32(data + len - PACK_TRAILER_LEN);
    if (hlen < AEAD_OVERHEAD + 4 || hlen > len - PACK_MAGIC_LEN - PACK_TRAILER_LEN)
        return drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: bad header length", what);
    hstart = len - PACK_TRAILER_LEN - hlen;
    plen = hlen - AEAD_OVERHEAD;
    plain = xmalloc(plen);
    if (aead_open(plain, data + hstart, hlen, (const unsigned char *)PACK_HEADER_AD, 4, key) != 0) {
        r = drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: header authentication failed", what);
        goto out;
    }
    count = le_get32(plain);
    if ((size_t)count != (plen - 4) / PACK_ENTRY_LEN || (plen - 4) % PACK_ENTRY_LEN) {
        r = drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: header size mismatch", what);
        goto out;
    }
    e = xcalloc(count ? count : 1, sizeof(*e));
    for (uint32_t i = 0; i < count; i++) {
        pack_entry_decode(&e[i], plain + 4 + (size_t)i * PACK_ENTRY_LEN);
        if (e[i].offset != next || e[i].type > BLOB_TREE ||
            (uint64_t)e[i].offset + e[i].length > hstart || e[i].length < AEAD_OVERHEAD + 1) {
            r = drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: entry %u is out of place", what,
                            i);
            goto out;
        }
        next = (uint64_t)e[i].offset + e[i].length;
    }
    if (next != hstart) {
        r = drk_err_set(DRK_ECORRUPT, "pack '%s' is damaged: unlisted bytes before the header",
                        what);
        goto out;
    }
    *out = e;
    *nout = count;
    e = NULL;
out:
    free(plain);
    free(e);
    return r;
}
