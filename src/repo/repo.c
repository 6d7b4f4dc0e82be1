/* repo: init, probe and open a repository; config encoding; ids. */
#include "repo/repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/mac.h"
#include "repo/index.h"
#include "repo/key.h"
#include "repo/sealed.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define DEFAULT_COMPRESSION 3

void
id_to_hex(const struct blob_id *id, char out[ID_HEX_LEN + 1])
{
    hex_encode(out, id->b, ID_LEN);
}

int
id_from_hex(struct blob_id *out, const char *hex)
{
    if (!is_hex_string(hex, ID_HEX_LEN, ID_HEX_LEN))
        return -1;
    return hex_decode(out->b, ID_LEN, hex);
}

void
repo_pack_key(const struct blob_id *pack, char out[ID_HEX_LEN + 16])
{
    char hex[ID_HEX_LEN + 1];
    id_to_hex(pack, hex);
    snprintf(out, ID_HEX_LEN + 16, "data/%.2s/%s", hex, hex);
}

void
repo_blob_id(const struct repo *r, uint8_t type, const void *data, size_t len, struct blob_id *out)
{
    mac_compute2(r->mac, &type, 1, data, len, out->b);
}

int
repo_probe(struct stor *stor)
{
    struct buf head = BUF_INIT;
    uint64_t size;
    int r = stor_stat(stor, "config", &size);

    if (r == DRK_ENOTFOUND) {
        r = drk_err_set(DRK_ENOREPO, "there is no repository at '%s'", stor->location);
        drk_err_hint("create one with 'drkit --repo %s init', or check --repo/--storage",
                     stor->location);
        return r;
    }
    if (r)
        return r;
    if ((r = stor_get(stor, "config", &head, SEALED_MAX)) != 0)
        return r;
    if (head.len < 4 || memcmp(head.data, SEALED_MAGIC, 4) != 0) {
        buf_release(&head);
        r = drk_err_set(DRK_EFOREIGN,
                        "'%s' is not a drkit repository (its config file is not "
                        "drkit's)",
                        stor->location);
        drk_err_hint("is it a restic or borg repository? drkit cannot open those");
        return r;
    }
    buf_release(&head);
    return 0;
}

static char *
config_encode(const struct repo_config *c)
{
    json_t *j =
        json_pack("{s:i, s:s, s:s, s:{s:i, s:i, s:i}, s:i, s:i}", "version", (int)c->version, "id",
                  c->id, "created", c->created, "chunker", "min", (int)c->chunker.min, "avg_bits",
                  (int)c->chunker.avg_bits, "max", (int)c->chunker.max, "compression",
                  c->compression, "pack_size", (int)c->pack_size);
    char *s = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static int
config_decode(struct repo_config *c, const void *data, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    const char *id, *created;
    json_int_t version, cmin, cbits, cmax, comp, pack_size;

    if (!j)
        return drk_err_set(DRK_ECORRUPT, "repository config is not valid JSON");
    if (json_unpack(j, "{s:I, s:s, s:s, s:{s:I, s:I, s:I}, s:I, s:I}", "version", &version, "id",
                    &id, "created", &created, "chunker", "min", &cmin, "avg_bits", &cbits, "max",
                    &cmax, "compression", &comp, "pack_size", &pack_size) != 0) {
        json_decref(j);
        return drk_err_set(DRK_ECORRUPT, "repository config lacks a field");
    }
    if (version > REPO_FORMAT_VERSION || version < 1) {
        json_decref(j);
        return drk_err_set(DRK_EVERSION,
                           "repository format version %lld; this drkit reads up to %d",
                           (long long)version, REPO_FORMAT_VERSION);
    }
    c->version = (uint32_t)version;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->created, sizeof(c->created), "%s", created);
    c->chunker.min = (uint32_t)cmin;
    c->chunker.avg_bits = (uint32_t)cbits;
    c->chunker.max = (uint32_t)cmax;
    c->compression = (int)comp;
    c->pack_size = (uint32_t)pack_size;
    json_decref(j);
    if (cmin <= 0 || cmax <= 0 || cbits <= 0 || cmax > (64 << 20) ||
        !cdc_params_valid(&c->chunker) || comp < 0 || comp > 19 || pack_size < (1 << 20) ||
        pack_size > (1 << 30))
        return drk_err_set(DRK_ECORRUPT, "repository config has values out of range");
    return 0;
}

static struct repo *
repo_alloc(struct stor *stor)
{
    struct repo *r = xcalloc(1, sizeof(*r));
    r->stor = stor;
    r->master = sodium_malloc(MASTER_KEY_LEN);
    if (!r->master)
        abort();
    return r;
}

static int
repo_keys_ready(struct repo *r)
{
    r->mac = mac_key_new(r->master + 32, 32);
    if (!r->mac)
        return drk_err_set(DRK_EINTERNAL, "OpenSSL has no SHA-256");
    if (cdc_init(&r->chunker, repo_chunker_seed(r), &r->config.chunker) != 0)
        return drk_err_set(DRK_ECORRUPT, "repository config has bad chunker parameters");
    r->compression = r->config.compression;
    r->pack_size = r->config.pack_size;
    return 0;
}

void
repo_free(struct repo *r)
{
    if (!r)
        return;
    idx_free(r->idx);
    mac_key_free(r->mac);
    sodium_memzero(&r->chunker, sizeof(r->chunker));
    sodium_free(r->master);
    stor_close(r->stor);
    free(r);
}

static const char *const layout_dirs[] = { "keys",  "index", "snapshots", "names",
                                           "locks", "tmp",   "data",      NULL };

int
repo_init(struct repo **out, struct stor *stor, const char *pass, size_t passlen,
          const struct repo_init_opts *opts)
{
    struct repo *r;
    struct dt now;
    struct buf sealed = BUF_INIT;
    unsigned char rid[ID_LEN];
    char *text = NULL, kid[ID_HEX_LEN + 1];
    int rc = repo_probe(stor);

    if (rc == 0)
        return drk_err_set(DRK_EEXIST, "'%s' already holds a drkit repository", stor->location);
    if (rc != DRK_ENOREPO)
        return rc;
    drk_err_clear();
    r = repo_alloc(stor);
    r->config.version = REPO_FORMAT_VERSION;
    randombytes_buf(rid, sizeof(rid));
    hex_encode(r->config.id, rid, sizeof(rid));
    dt_now(&now);
    dt_format_rfc3339(&now, r->config.created);
    r->config.chunker.min = CDC_DEFAULT_MIN;
    r->config.chunker.avg_bits = CDC_DEFAULT_AVG_BITS;
    r->config.chunker.max = CDC_DEFAULT_MAX;
    r->config.compression =
        opts && opts->compression >= 0 ? opts->compression : DEFAULT_COMPRESSION;
    r->config.pack_size = opts && opts->pack_size ? opts->pack_size : PACK_DEFAULT_SIZE;
    randombytes_buf(r->master, MASTER_KEY_LEN);

    {
        /* the fixed layout plus the 256 pack directories, created in one go */
        const char *dirs[sizeof(layout_dirs) / sizeof(layout_dirs[0]) + 256];
        char names[256][8];
        size_t n = 0;
        for (; layout_dirs[n]; n++)
            dirs[n] = layout_dirs[n];
        for (int i = 0; i < 256; i++) {
            snprintf(names[i], sizeof(names[i]), "data/%02x", i);
            dirs[n++] = names[i];
        }
        dirs[n] = NULL;
        if ((rc = stor_create(stor, dirs)) != 0)
            goto fail;
    }
    /* The key first: a crash before the config leaves no half repository (init again works). */
    if ((rc = key_add(stor, r->master, pass, passlen, opts ? opts->kdf_ops : 0,
                      opts ? opts->kdf_mem : 0, kid)) != 0)
        goto fail;
    snprintf(r->key_id, sizeof(r->key_id), "%s", kid);
    text = config_encode(&r->config);
    if (!text) {
        rc = drk_err_set(DRK_EINTERNAL, "cannot encode config");
        goto fail;
    }
    if ((rc = sealed_seal(&sealed, repo_enc_key(r), OBJ_CONFIG, text, strlen(text))) != 0)
        goto fail;
    if ((rc = stor_put(stor, "config", sealed.data, sealed.len, STOR_PUT_EXCL)) != 0)
        goto fail;
    if ((rc = repo_keys_ready(r)) != 0)
        goto fail;
    free(text);
    buf_release(&sealed);
    *out = r;
    return 0;
fail:
    free(text);
    buf_release(&sealed);
    r->stor = NULL; /* not ours unless we succeed */
    repo_free(r);
    return rc;
}

int
repo_open(struct repo **out, struct stor *stor, const char *pass, size_t passlen)
{
    struct repo *r;
    struct buf raw = BUF_INIT, plain = BUF_INIT;
    int rc;

    if ((rc = repo_probe(stor)) != 0)
        return rc;
    r = repo_alloc(stor);
    if ((rc = key_unlock(stor, pass, passlen, r->master, r->key_id)) != 0)
        goto fail;
    if ((rc = stor_get(stor, "config", &raw, SEALED_MAX)) != 0)
        goto fail;
    rc = sealed_open(&plain, repo_enc_key(r), OBJ_CONFIG, raw.data, raw.len, "config");
    if (rc == DRK_ECORRUPT) {
        rc = drk_err_set(DRK_ECORRUPT,
                         "the config of '%s' does not open with key '%.12s' "
                         "(damaged, or the key belongs to another repository)",
                         stor->location, r->key_id);
        goto fail;
    }
    if (rc)
        goto fail;
    if ((rc = config_decode(&r->config, plain.data, plain.len)) != 0)
        goto fail;
    if ((rc = repo_keys_ready(r)) != 0)
        goto fail;
    /* a remote repository's cache is keyed by its id: two URLs of one repository share it,
     * and a new repository at an old URL starts afresh */
    stor_cache_attach(stor, r->config.id);
    buf_release(&raw);
    buf_release_secure(&plain);
    *out = r;
    return 0;
fail:
    buf_release(&raw);
    buf_release_secure(&plain);
    r->stor = NULL;
    repo_free(r);
    return rc;
}

int
repo_load_index(struct repo *r)
{
    if (r->idx)
        return 0;
    r->idx = idx_new();
    return idx_load(r->idx, r);
}
