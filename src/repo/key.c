/* key: passphrase-wrapped master keys. */
#include "repo/key.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/mac.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define KEY_AD "drkit key v1"

static void
current_user(char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(out, n, "%s", res->pw_name);
    else
        snprintf(out, n, "%u", (unsigned)getuid());
}

int
key_add(struct stor *stor, const unsigned char master[MASTER_KEY_LEN], const char *pass,
        size_t passlen, uint64_t ops, uint64_t mem, char id_out[ID_HEX_LEN + 1])
{
    unsigned char salt[KDF_SALT_LEN], *wrapkey, wrapped[MASTER_KEY_LEN + AEAD_OVERHEAD];
    unsigned char hash[SHA256_LEN];
    char created[DT_RFC3339_MAX], host[256] = "", user[256], *salt64, *data64, *text, *key;
    struct dt now;
    json_t *j;
    int r;

    if (!ops)
        ops = KDF_DEFAULT_OPS;
    if (!mem)
        mem = KDF_DEFAULT_MEM;
    randombytes_buf(salt, sizeof(salt));
    wrapkey = sodium_malloc(AEAD_KEY_LEN);
    if (!wrapkey)
        return drk_err_set(DRK_ENOMEM, "cannot allocate secure memory");
    if ((r = kdf_derive(wrapkey, AEAD_KEY_LEN, pass, passlen, salt, ops, mem)) != 0) {
        sodium_free(wrapkey);
        return r;
    }
    aead_seal(wrapped, master, MASTER_KEY_LEN, (const unsigned char *)KEY_AD, strlen(KEY_AD),
              wrapkey);
    sodium_free(wrapkey);

    dt_now(&now);
    dt_format_rfc3339(&now, created);
    gethostname(host, sizeof(host) - 1);
    current_user(user, sizeof(user));
    salt64 = b64_encode(salt, sizeof(salt));
    data64 = b64_encode(wrapped, sizeof(wrapped));
    j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "version", 1, "created", created,
                  "host", host, "username", user, "kdf", "argon2id", "opslimit", (json_int_t)ops,
                  "memlimit", (json_int_t)mem, "salt", salt64, "data", data64);
    free(salt64);
    free(data64);
    if (!j)
        return drk_err_set(DRK_EINTERNAL, "cannot build key file");
    text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!text)
        return drk_err_set(DRK_ENOMEM, "cannot encode key file");
    sha256(text, strlen(text), hash);
    hex_encode(id_out, hash, sizeof(hash));
    key = xasprintf("keys/%s", id_out);
    r = stor_put(stor, key, text, strlen(text), STOR_PUT_EXCL);
    free(key);
    free(text);
    return r;
}

int
key_parse(const void *data, size_t len, uint64_t *ops, uint64_t *mem, unsigned char salt[16],
          unsigned char **wrapped, size_t *wrapped_len)
{
    json_t *j;
    json_error_t jerr;
    const char *kdf, *salt64, *data64;
    json_int_t jops, jmem, version;
    unsigned char *s = NULL;
    size_t slen;

    j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return drk_err_set(DRK_ECORRUPT, "not valid JSON (line %d: %s)", jerr.line, jerr.text);
    if (json_unpack(j, "{s:I, s:s, s:I, s:I, s:s, s:s}", "version", &version, "kdf", &kdf,
                    "opslimit", &jops, "memlimit", &jmem, "salt", &salt64, "data", &data64) != 0) {
        json_decref(j);
        return drk_err_set(DRK_ECORRUPT, "a field is missing or has the wrong type");
    }
    if (version != 1) {
        json_decref(j);
        return drk_err_set(DRK_EVERSION, "key file version %lld is not supported",
                           (long long)version);
    }
    if (strcmp(kdf, "argon2id") != 0 || jops <= 0 || jmem <= 0) {
        /* format while j (which owns kdf) is alive */
        drk_err_set(DRK_ECORRUPT, "unsupported key derivation '%s' (ops %lld, memory %lld)", kdf,
                    (long long)jops, (long long)jmem);
        json_decref(j);
        return DRK_ECORRUPT;
    }
    if (b64_decode(salt64, &s, &slen) != 0 || slen != KDF_SALT_LEN) {
        free(s);
        json_decref(j);
        return drk_err_set(DRK_ECORRUPT, "bad salt");
    }
    memcpy(salt, s, KDF_SALT_LEN);
    free(s);
    if (b64_decode(data64, wrapped, wrapped_len) != 0) {
        json_decref(j);
        return drk_err_set(DRK_ECORRUPT, "bad key data");
    }
    *ops = (uint64_t)jops;
    *mem = (uint64_t)jmem;
    json_decref(j);
    return 0;
}

struct key_names {
    VEC(char *) names;
};

static int
collect_name(void *arg, const char *name, uint64_t size)
{
    struct key_names *kn = arg;
    (void)size;
    vec_push(&kn->names, xstrdup(name));
    return 0;
}

/* Try one key file; 0 if it opened, DRK_EPASSWORD if the passphrase does not fit it. */
static int
try_key(struct stor *stor, const char *name, const char *pass, size_t passlen,
        unsigned char master_out[MASTER_KEY_LEN])
{
    struct buf raw = BUF_INIT;
    unsigned char salt[KDF_SALT_LEN], *wrapped = NULL, *wrapkey = NULL;
    size_t wrapped_len = 0;
    uint64_t ops, mem;
    char *key = xasprintf("keys/%s", name);
    int r;

    if ((r = stor_get(stor, key, &raw, SMALL_FILE_MAX)) != 0)
        goto out;
    if ((r = key_parse(raw.data, raw.len, &ops, &mem, salt, &wrapped, &wrapped_len)) != 0) {
        r = drk_err_wrap(r, "key file '%s' is damaged", key);
        goto out;
    }
    if (wrapped_len != MASTER_KEY_LEN + AEAD_OVERHEAD) {
        r = drk_err_set(DRK_ECORRUPT, "key file '%s' is damaged: wrong key length", key);
        goto out;
    }
    wrapkey = sodium_malloc(AEAD_KEY_LEN);
    if (!wrapkey) {
        r = drk_err_set(DRK_ENOMEM, "cannot allocate secure memory");
        goto out;
    }
    if ((r = kdf_derive(wrapkey, AEAD_KEY_LEN, pass, passlen, salt, ops, mem)) != 0)
        goto out;
    if (aead_open(master_out, wrapped, wrapped_len, (const unsigned char *)KEY_AD, strlen(KEY_AD),
                  wrapkey) != 0)
        r = DRK_EPASSWORD;
out:
    if (wrapkey)
        sodium_free(wrapkey);
    free(wrapped);
    free(key);
    buf_release(&raw);
    return r;
}

int
key_unlock(struct stor *stor, const char *pass, size_t passlen,
           unsigned char master_out[MASTER_KEY_LEN], char id_out[ID_HEX_LEN + 1])
{
    struct key_names kn = { VEC_INIT };
    struct drk_error first_damage = { 0 };
    size_t damaged = 0;
    int r;

    if ((r = stor_list(stor, "keys", collect_name, &kn)) != 0)
        goto out;
    if (kn.names.n == 0) {
        r = drk_err_set(DRK_ENOREPO, "no key files in '%s/keys'", stor->location);
        goto out;
    }
    r = DRK_EPASSWORD;
    for (size_t i = 0; i < kn.names.n; i++) {
        int kr;
        if (!is_hex_string(kn.names.v[i], ID_HEX_LEN, ID_HEX_LEN))
            continue;
        kr = try_key(stor, kn.names.v[i], pass, passlen, master_out);
        if (kr == 0) {
            snprintf(id_out, ID_HEX_LEN + 1, "%s", kn.names.v[i]);
            r = 0;
            break;
        }
        if (kr != DRK_EPASSWORD && damaged++ == 0)
            drk_err_save(&first_damage);
    }
    if (r == DRK_EPASSWORD) {
        if (damaged && damaged == kn.names.n) {
            drk_err_restore(&first_damage);
            r = first_damage.code;
        } else {
            r = drk_err_set(DRK_EPASSWORD,
                            "wrong passphrase: none of the %zu key(s) in '%s/keys' opens with it",
                            kn.names.n, stor->location);
            drk_err_hint("check DRKIT_PASSWORD_FILE, the repository's password-file or "
                         "password-command in the config, or DRKIT_PASSWORD");
        }
    }
out:
    for (size_t i = 0; i < kn.names.n; i++)
        free(kn.names.v[i]);
    vec_free(&kn.names);
    return r;
}

/* A key file's name is the SHA-256 of its text (key_add), so a file named otherwise was
 * damaged or put there by something else. */
static bool
named_by_content(const char *name, const struct buf *raw)
{
    unsigned char hash[32];
    char hex[65];
    sha256(raw->data, raw->len, hash);
    hex_encode(hex, hash, sizeof(hash));
    return !strcmp(name, hex);
}

int
key_list(struct stor *stor, struct key_info **out, size_t *nout)
{
    struct key_names kn = { VEC_INIT };
    VEC(struct key_info) v = VEC_INIT;
    struct buf raw = BUF_INIT;
    int r;

    if ((r = stor_list(stor, "keys", collect_name, &kn)) != 0)
        goto out;
    for (size_t i = 0; i < kn.names.n; i++) {
        struct key_info ki;
        json_error_t jerr;
        json_t *j;
        char key[300];
        memset(&ki, 0, sizeof(ki));
        snprintf(ki.id, sizeof(ki.id), "%s", kn.names.v[i]);
        snprintf(key, sizeof(key), "keys/%s", kn.names.v[i]);
        if ((r = stor_get(stor, key, &raw, SMALL_FILE_MAX)) != 0)
            goto out;
        j = json_loadb((const char *)raw.data, raw.len, 0, &jerr);
        if (!j || !json_is_object(j) || !named_by_content(kn.names.v[i], &raw) ||
            !json_is_string(json_object_get(j, "salt")) ||
            !json_is_string(json_object_get(j, "data"))) {
            ki.damaged = true; /* or not a key at all: a stray file never counts as one */
        } else {
            const char *c = json_string_value(json_object_get(j, "created"));
            const char *h = json_string_value(json_object_get(j, "host"));
            const char *u = json_string_value(json_object_get(j, "username"));
            snprintf(ki.created, sizeof(ki.created), "%s", c ? c : "");
            snprintf(ki.host, sizeof(ki.host), "%s", h ? h : "");
            snprintf(ki.username, sizeof(ki.username), "%s", u ? u : "");
            ki.ops = (uint64_t)json_integer_value(json_object_get(j, "opslimit"));
            ki.mem = (uint64_t)json_integer_value(json_object_get(j, "memlimit"));
        }
        json_decref(j);
        vec_push(&v, ki);
    }
out:
    for (size_t i = 0; i < kn.names.n; i++)
        free(kn.names.v[i]);
    vec_free(&kn.names);
    buf_release(&raw);
    if (r) {
        vec_free(&v);
        return r;
    }
    *out = v.v;
    *nout = v.n;
    return 0;
}

int
key_remove(struct stor *stor, const char *id, const char *current)
{
    struct key_info *keys;
    size_t n, usable = 0;
    bool found = false;
    char key[300];
    int r;

    if ((r = key_list(stor, &keys, &n)) != 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(keys[i].id, id))
            found = true;
        else if (!keys[i].damaged)
            usable++;
    }
    free(keys);
    if (!found)
        return drk_err_set(DRK_ENOTFOUND, "no key '%s' in the repository", id);
    if (usable == 0)
        return drk_err_set(DRK_EUSAGE, "refusing to remove the last key: nobody could open the "
                                       "repository again");
    if (current && !strcmp(current, id)) {
        drk_err_set(DRK_EUSAGE, "refusing to remove the key this command opened the repository "
                                "with");
        drk_err_hint("open the repository with another passphrase to remove this key, or use "
                     "'drkit key passwd' to replace it");
        return DRK_EUSAGE;
    }
    snprintf(key, sizeof(key), "keys/%s", id);
    return stor_del(stor, key);
}
