/* snapshot: JSON encoding, unique names, loading and resolving references. */
#include "repo/snapshot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "repo/repo.h"
#include "repo/sealed.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NAME_TRIES 3600

void
snap_init(struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

size_t
snap_roots(const struct snapshot *s, struct blob_id out[SNAP_MAX_ROOTS],
           const char *names[SNAP_MAX_ROOTS])
{
    size_t n = 0;
    if (s->has_files) {
        names[n] = "/";
        out[n++] = s->files_tree;
    }
    if (s->has_db) {
        names[n] = "/@database";
        out[n++] = s->db_tree;
    }
    return n;
}

void
snap_release(struct snapshot *s)
{
    free(s->name);
    free(s->host);
    free(s->username);
    free(s->type);
    free(s->program);
    json_decref(s->db_meta);
    for (size_t i = 0; i < s->tags.n; i++)
        free(s->tags.v[i]);
    vec_free(&s->tags);
    for (size_t i = 0; i < s->paths.n; i++)
        free(s->paths.v[i]);
    vec_free(&s->paths);
    for (size_t i = 0; i < s->excludes.n; i++)
        free(s->excludes.v[i]);
    vec_free(&s->excludes);
    for (size_t i = 0; i < s->errors.n; i++) {
        free(s->errors.v[i].path);
        free(s->errors.v[i].message);
    }
    vec_free(&s->errors);
    snap_init(s);
}

void
snap_add_error(struct snapshot *s, const char *path, const char *message)
{
    s->error_count++;
    s->partial = true;
    if (s->errors.n < SNAP_ERRORS_KEPT) {
        struct snap_error e = { xstrdup(path), xstrdup(message) };
        vec_push(&s->errors, e);
    }
}

/* A JSON string for bytes that may not be UTF-8 (escaped for display then). */
static json_t *
jstr(const char *s)
{
    struct buf b = BUF_INIT;
    json_t *j;
    if (utf8_valid(s, strlen(s)))
        return json_string(s);
    str_escape_display(&b, s, strlen(s), false);
    j = json_string((char *)b.data);
    buf_release(&b);
    return j;
}

static json_t *
stats_json(const struct snap_stats *st)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files",
                     (json_int_t)st->files, "dirs", (json_int_t)st->dirs, "links",
                     (json_int_t)st->links, "others", (json_int_t)st->others, "bytes",
                     (json_int_t)st->bytes, "files_new", (json_int_t)st->files_new, "files_changed",
                     (json_int_t)st->files_changed, "files_unchanged",
                     (json_int_t)st->files_unchanged, "bytes_read", (json_int_t)st->bytes_read,
                     "bytes_added", (json_int_t)st->bytes_added, "data_added",
                     (json_int_t)st->data_added, "blobs_added", (json_int_t)st->blobs_added,
                     "duration", st->duration);
}

int
snap_encode(const struct snapshot *s, char **json_out)
{
    char t0[DT_RFC3339_MAX], t1[DT_RFC3339_MAX], hex[ID_HEX_LEN + 1];
    json_t *j, *tags = json_array(), *paths = json_array(), *errors = json_array();
    json_t *excludes = json_array();

    dt_format_rfc3339(&s->time, t0);
    dt_format_rfc3339(&s->end_time, t1);
    for (size_t i = 0; i < s->tags.n; i++)
        json_array_append_new(tags, jstr(s->tags.v[i]));
    for (size_t i = 0; i < s->paths.n; i++)
        json_array_append_new(paths, jstr(s->paths.v[i]));
    for (size_t i = 0; i < s->excludes.n; i++)
        json_array_append_new(excludes, jstr(s->excludes.v[i]));
    for (size_t i = 0; i < s->errors.n; i++)
        json_array_append_new(errors, json_pack("{s:o, s:o}", "path", jstr(s->errors.v[i].path),
                                                "error", jstr(s->errors.v[i].message)));
    j = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:s?, s:b, s:I, s:s}", "version", 1,
                  "name", s->name, "time", t0, "end_time", t1, "host", jstr(s->host), "username",
                  jstr(s->username), "type", s->type, "tags", tags, "parent",
                  s->parent[0] ? s->parent : NULL, "partial", s->partial, "error_count",
                  (json_int_t)s->error_count, "program", s->program ? s->program : "drkit");
    if (!j)
        return drk_err_set(DRK_EINTERNAL, "cannot encode snapshot");
    if (s->has_files) {
        id_to_hex(&s->files_tree, hex);
        json_object_set_new(j, "files",
                            json_pack("{s:s, s:o, s:o, s:o}", "tree", hex, "paths", paths,
                                      "excludes", excludes, "errors", errors));
    } else {
        json_decref(paths);
        json_decref(excludes);
        json_decref(errors);
    }
    if (s->has_db) {
        /* the manifest as the source wrote it, with the tree id this repository knows */
        json_t *db = s->db_meta ? json_deep_copy(s->db_meta) : json_object();
        id_to_hex(&s->db_tree, hex);
        json_object_set_new(db, "tree", json_string(hex));
        json_object_set_new(j, "database", db);
    }
    json_object_set_new(j, "stats", stats_json(&s->stats));
    if (s->copied_from[0])
        json_object_set_new(
            j, "copied_from",
            json_pack("{s:s, s:s}", "repository", s->copied_from_repo, "snapshot", s->copied_from));
    *json_out = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(j);
    return *json_out ? 0 : drk_err_set(DRK_ENOMEM, "cannot encode snapshot");
}

static char *
jdup(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return xstrdup(v ? v : "");
}

/* Append the strings of JSON array arr to v. */
static void
jstrings(json_t *arr, char ***v, size_t *n, size_t *cap)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(e))
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 4;
            *v = xreallocarray(*v, *cap, sizeof(**v));
        }
        (*v)[(*n)++] = xstrdup(json_string_value(e));
    }
}

static uint64_t
ju64(json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

int
snap_decode(struct snapshot *s, const void *data, size_t len)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr), *files, *arr, *v, *st;
    const char *name, *time, *type;
    size_t i;

    snap_init(s);
    if (!j || !json_is_object(j))
        goto bad;
    name = json_string_value(json_object_get(j, "name"));
    time = json_string_value(json_object_get(j, "time"));
    type = json_string_value(json_object_get(j, "type"));
    if (!name || !time || !type || dt_parse_rfc3339(time, &s->time) != 0)
        goto bad;
    if (json_integer_value(json_object_get(j, "version")) != 1) {
        json_decref(j);
        return drk_err_set(DRK_EVERSION, "snapshot format version is not 1");
    }
    s->name = xstrdup(name);
    s->type = xstrdup(type);
    if ((v = json_object_get(j, "end_time")) && json_is_string(v))
        dt_parse_rfc3339(json_string_value(v), &s->end_time);
    s->host = jdup(j, "host");
    s->username = jdup(j, "username");
    s->program = jdup(j, "program");
    if ((v = json_object_get(j, "parent")) && json_is_string(v))
        snprintf(s->parent, sizeof(s->parent), "%s", json_string_value(v));
    s->partial = json_is_true(json_object_get(j, "partial"));
    s->error_count = ju64(j, "error_count");
    jstrings(json_object_get(j, "tags"), &s->tags.v, &s->tags.n, &s->tags.cap);
    files = json_object_get(j, "files");
    if (files) {
        const char *tree = json_string_value(json_object_get(files, "tree"));
        if (!tree || id_from_hex(&s->files_tree, tree) != 0)
            goto bad;
        s->has_files = true;
        jstrings(json_object_get(files, "paths"), &s->paths.v, &s->paths.n, &s->paths.cap);
        jstrings(json_object_get(files, "excludes"), &s->excludes.v, &s->excludes.n,
                 &s->excludes.cap);
        arr = json_object_get(files, "errors");
        json_array_foreach(arr, i, v)
        {
            struct snap_error e = { jdup(v, "path"), jdup(v, "error") };
            vec_push(&s->errors, e);
        }
    }
    if ((v = json_object_get(j, "database")) && json_is_object(v)) {
        const char *tree = json_string_value(json_object_get(v, "tree"));
        if (!tree || id_from_hex(&s->db_tree, tree) != 0)
            goto bad;
        s->has_db = true;
        s->db_meta = json_incref(v);
    }
    if ((v = json_object_get(j, "copied_from")) && json_is_object(v)) {
        const char *cr = json_string_value(json_object_get(v, "repository"));
        const char *cs = json_string_value(json_object_get(v, "snapshot"));
        if (cr && cs && is_hex_string(cr, ID_HEX_LEN, ID_HEX_LEN) &&
            is_hex_string(cs, ID_HEX_LEN, ID_HEX_LEN)) {
            snprintf(s->copied_from_repo, sizeof(s->copied_from_repo), "%s", cr);
            snprintf(s->copied_from, sizeof(s->copied_from), "%s", cs);
        }
    }
    if ((st = json_object_get(j, "stats"))) {
        s->stats.files = ju64(st, "files");
        s->stats.dirs = ju64(st, "dirs");
        s->stats.links = ju64(st, "links");
        s->stats.others = ju64(st, "others");
        s->stats.bytes = ju64(st, "bytes");
        s->stats.files_new = ju64(st, "files_new");
        s->stats.files_changed = ju64(st, "files_changed");
        s->stats.files_unchanged = ju64(st, "files_unchanged");
        s->stats.bytes_read = ju64(st, "bytes_read");
        s->stats.bytes_added = ju64(st, "bytes_added");
        s->stats.data_added = ju64(st, "data_added");
        s->stats.blobs_added = ju64(st, "blobs_added");
        s->stats.duration = json_number_value(json_object_get(st, "duration"));
    }
    json_decref(j);
    return 0;
bad:
    json_decref(j);
    snap_release(s);
    return drk_err_set(DRK_ECORRUPT, "snapshot JSON lacks a field or is malformed");
}

/* Reserve names/<name> for s, starting at its time, moving on a second while taken. */
static int
reserve_name(struct repo *repo, struct snapshot *s)
{
    char host[256] = "", marker[512];
    gethostname(host, sizeof(host) - 1);
    snprintf(marker, sizeof(marker), "{\"host\":\"%s\",\"pid\":%ld}\n", host, (long)getpid());
    for (int i = 0; i < NAME_TRIES; i++) {
        char compact[20], key[64];
        int r;
        if (s->name && i == 0) {
            snprintf(key, sizeof(key), "names/%s", s->name);
        } else {
            dt_format_compact_utc(s->time.sec + i, compact);
            free(s->name);
            s->name = xasprintf("backup-%s", compact);
            snprintf(key, sizeof(key), "names/%s", s->name);
        }
        r = stor_put(repo->stor, key, marker, strlen(marker), STOR_PUT_EXCL);
        if (r == 0)
            return 0;
        if (r != DRK_EEXIST)
            return r;
    }
    return drk_err_set(DRK_EEXIST, "no free snapshot name near '%s'", s->name);
}

int
snap_save(struct repo *repo, struct snapshot *s)
{
    char *json = NULL;
    int r;
    if ((r = reserve_name(repo, s)) != 0)
        return r;
    if ((r = snap_encode(s, &json)) != 0)
        return r;
    r = sealed_save(repo, "snapshots", OBJ_SNAPSHOT, json, strlen(json), s->id);
    free(json);
    return r;
}

int
snap_save_named(struct repo *repo, struct snapshot *s)
{
    char key[300], host[256] = "", marker[512], *json = NULL;
    int r;
    gethostname(host, sizeof(host) - 1);
    snprintf(marker, sizeof(marker), "{\"host\":\"%s\",\"pid\":%ld}\n", host, (long)getpid());
    snprintf(key, sizeof(key), "names/%s", s->name);
    if ((r = stor_put(repo->stor, key, marker, strlen(marker), STOR_PUT_EXCL)) != 0)
        return r;
    if ((r = snap_encode(s, &json)) != 0)
        return r;
    r = sealed_save(repo, "snapshots", OBJ_SNAPSHOT, json, strlen(json), s->id);
    free(json);
    return r;
}

static void
clone_strings(char ***dst, size_t *n, size_t *cap, char *const *src, size_t sn)
{
    for (size_t i = 0; i < sn; i++) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 4;
            *dst = xreallocarray(*dst, *cap, sizeof(**dst));
        }
        (*dst)[(*n)++] = xstrdup(src[i]);
    }
}

void
snap_clone(struct snapshot *d, const struct snapshot *s)
{
    snap_init(d);
    d->name = xstrdup(s->name);
    d->time = s->time;
    d->end_time = s->end_time;
    d->host = xstrdup(s->host);
    d->username = xstrdup(s->username);
    d->type = xstrdup(s->type);
    d->program = xstrdup(s->program ? s->program : "drkit");
    clone_strings(&d->tags.v, &d->tags.n, &d->tags.cap, s->tags.v, s->tags.n);
    clone_strings(&d->paths.v, &d->paths.n, &d->paths.cap, s->paths.v, s->paths.n);
    clone_strings(&d->excludes.v, &d->excludes.n, &d->excludes.cap, s->excludes.v, s->excludes.n);
    for (size_t i = 0; i < s->errors.n; i++) {
        struct snap_error e = { xstrdup(s->errors.v[i].path), xstrdup(s->errors.v[i].message) };
        vec_push(&d->errors, e);
    }
    d->has_files = s->has_files;
    d->files_tree = s->files_tree;
    d->has_db = s->has_db;
    d->db_tree = s->db_tree;
    d->db_meta = s->db_meta ? json_deep_copy(s->db_meta) : NULL;
    d->partial = s->partial;
    d->error_count = s->error_count;
    d->stats = s->stats;
}

int
snap_load(struct repo *repo, const char *id, struct snapshot *s)
{
    struct buf plain = BUF_INIT;
    int r;
    snap_init(s);
    if ((r = sealed_load(repo, "snapshots", id, OBJ_SNAPSHOT, &plain)) == 0) {
        r = snap_decode(s, plain.data, plain.len);
        if (r)
            drk_err_wrap(r, "snapshot '%.16s'", id);
    }
    if (r == 0)
        snprintf(s->id, sizeof(s->id), "%s", id);
    buf_release(&plain);
    return r;
}

int
snap_forget(struct repo *repo, const struct snapshot *s)
{
    char key[300];
    int r;
    snprintf(key, sizeof(key), "snapshots/%s", s->id);
    if ((r = stor_del(repo->stor, key)) != 0 && r != DRK_ENOTFOUND)
        return r;
    snprintf(key, sizeof(key), "names/%s", s->name);
    if ((r = stor_del(repo->stor, key)) != 0 && r != DRK_ENOTFOUND)
        return r;
    return 0;
}

void
snap_list_init(struct snap_list *l)
{
    memset(l, 0, sizeof(*l));
}

void
snap_list_release(struct snap_list *l)
{
    for (size_t i = 0; i < l->items.n; i++)
        snap_release(&l->items.v[i]);
    vec_free(&l->items);
    for (size_t i = 0; i < l->damaged.n; i++) {
        free(l->damaged.v[i].id);
        free(l->damaged.v[i].message);
    }
    vec_free(&l->damaged);
}

struct name_list {
    VEC(char *) names;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    struct name_list *nl = arg;
    (void)size;
    vec_push(&nl->names, xstrdup(name));
    return 0;
}

static int
cmp_snap_time(const void *pa, const void *pb)
{
    const struct snapshot *a = pa, *b = pb;
    if (a->time.sec != b->time.sec)
        return a->time.sec < b->time.sec ? -1 : 1;
    if (a->time.nsec != b->time.nsec)
        return a->time.nsec < b->time.nsec ? -1 : 1;
    return strcmp(a->name, b->name);
}

int
snap_list_load(struct repo *repo, struct snap_list *l)
{
    struct name_list nl = { VEC_INIT };
    int r;

    if ((r = stor_list(repo->stor, "snapshots", collect, &nl)) != 0)
        goto out;
    for (size_t i = 0; i < nl.names.n; i++) {
        struct snapshot s;
        int lr;
        if (!is_hex_string(nl.names.v[i], ID_HEX_LEN, ID_HEX_LEN)) {
            struct snap_damaged d = { xstrdup(nl.names.v[i]),
                                      xstrdup("not a snapshot file name (64 hex digits)") };
            vec_push(&l->damaged, d);
            continue;
        }
        lr = snap_load(repo, nl.names.v[i], &s);
        if (lr == DRK_ECORRUPT || lr == DRK_EFOREIGN || lr == DRK_EVERSION) {
            struct snap_damaged d = { xstrdup(nl.names.v[i]), xstrdup(drk_err_msg()) };
            vec_push(&l->damaged, d);
            continue;
        }
        if (lr) {
            r = lr;
            goto out;
        }
        vec_push(&l->items, s);
    }
    if (l->items.n > 1)
        qsort(l->items.v, l->items.n, sizeof(*l->items.v), cmp_snap_time);
out:
    for (size_t i = 0; i < nl.names.n; i++)
        free(nl.names.v[i]);
    vec_free(&nl.names);
    return r;
}

bool
snap_has_tag(const struct snapshot *s, const char *tag)
{
    for (size_t i = 0; i < s->tags.n; i++)
        if (!strcmp(s->tags.v[i], tag))
            return true;
    return false;
}

int
snap_resolve(struct snap_list *l, const char *ref, struct snapshot **out)
{
    struct snapshot *found = NULL;
    size_t n = strlen(ref), matches = 0;

    if (!strcmp(ref, "latest")) {
        if (l->items.n == 0)
            return drk_err_set(DRK_ENOTFOUND, "the repository has no snapshots yet");
        /* restore points taken before a restore are not "the latest backup": restoring
         * latest twice must not restore the first restore's safety copy */
        *out = &l->items.v[l->items.n - 1];
        for (size_t i = l->items.n; i-- > 0;) {
            if (!snap_has_tag(&l->items.v[i], "before-restore")) {
                *out = &l->items.v[i];
                break;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < l->items.n; i++) {
        if (!strcmp(l->items.v[i].name, ref)) {
            *out = &l->items.v[i];
            return 0;
        }
    }
    if (n >= 4 && is_hex_string(ref, 4, ID_HEX_LEN)) {
        for (size_t i = 0; i < l->items.n; i++) {
            if (!strncmp(l->items.v[i].id, ref, n)) {
                found = &l->items.v[i];
                matches++;
            }
        }
    }
    if (matches == 1) {
        *out = found;
        return 0;
    }
    if (matches > 1)
        return drk_err_set(DRK_EAMBIGUOUS, "'%s' matches %zu snapshots; give more digits", ref,
                           matches);
    drk_err_set(DRK_ENOTFOUND, "no snapshot '%s' in the repository", ref);
    drk_err_hint("'drkit backup list' shows the snapshots; use a name, an id prefix or 'latest'");
    return DRK_ENOTFOUND;
}
