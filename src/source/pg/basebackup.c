/* pgbase: a physical base backup, pg_basebackup's tar stream taken apart into trees. */
#include "source/pg/basebackup.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/saver.h"
#include "repo/tree.h"
#include "source/pg/archive_lib.h" /* after archive.h: the calls go to the loaded library */
#include "source/pg/conn.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/proc.h"
#include "util/sig.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* backup_label is small; backup_manifest grows with the number of files (~200 bytes each) */
#define LABEL_MAX     (64 * 1024)
#define MANIFEST_TAIL (64 * 1024) /* backup_manifest's end, where its WAL-Ranges are */
#define DEPTH_MAX     64          /* a data directory is a few levels deep */

/* A directory of the data directory while the stream is read: its files (and symlinks) as
 * nodes, its subdirectories as pdirs, which become nodes when stored bottom-up. */
struct pdir {
    char *name; /* "" for the root */
    struct tree entries;
    VEC(struct pdir *) subs;
    bool seen; /* its own tar header came (else it gets 0700 and the backup's time) */
    uint32_t mode, uid, gid;
    char *user, *group;
    int64_t mtime;
};

struct pbb {
    struct saver *saver;
    const struct pgbase_opts *o;
    struct pgbase_progress *prog;
    struct pdir root;
    int64_t now;
    struct buf label, manifest;
    bool owner_known; /* the first file's owner: given to directories sent without one */
    uint32_t uid, gid;
    char *user, *group;
    bool stream_error; /* the tar stream itself was cut short or malformed */
    uint64_t files, bytes;
};

static void
pdir_free(struct pdir *d)
{
    for (size_t i = 0; i < d->subs.n; i++) {
        pdir_free(d->subs.v[i]);
        free(d->subs.v[i]);
    }
    vec_free(&d->subs);
    tree_release(&d->entries);
    free(d->name);
    free(d->user);
    free(d->group);
}

static struct pdir *
pdir_child(struct pdir *d, const char *name, size_t len)
{
    struct pdir *c;
    for (size_t i = 0; i < d->subs.n; i++)
        if (strlen(d->subs.v[i]->name) == len && !memcmp(d->subs.v[i]->name, name, len))
            return d->subs.v[i];
    c = xcalloc(1, sizeof(*c));
    c->name = xstrndup(name, len);
    tree_init(&c->entries);
    vec_push(&d->subs, c);
    return c;
}

/* Split a tar path ("./base/1/112", "pg_wal/") into its directory (created as needed) and
 * its last name. DRK_EUNSAFE for names a tree may not hold. */
static int
locate(struct pbb *b, const char *path, struct pdir **dir, const char **name, size_t *name_len)
{
    struct pdir *d = &b->root;
    const char *p = path, *end;
    size_t plen;

    while (p[0] == '.' && p[1] == '/')
        p += 2;
    plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    if (!plen)
        return drk_err_set(DRK_EUNSAFE, "pg_basebackup sent an entry without a name ('%s')", path);
    for (int depth = 0;; depth++) {
        end = memchr(p, '/', plen);
        if (!end)
            break;
        if (depth == DEPTH_MAX)
            return drk_err_set(DRK_EUNSAFE, "pg_basebackup sent a path %d levels deep: '%.200s'",
                               DEPTH_MAX, path);
        if (!tree_name_safe(p, (size_t)(end - p)))
            return drk_err_set(DRK_EUNSAFE, "pg_basebackup sent an unsafe path '%s'", path);
        d = pdir_child(d, p, (size_t)(end - p));
        plen -= (size_t)(end - p) + 1;
        p = end + 1;
    }
    if (!tree_name_safe(p, plen))
        return drk_err_set(DRK_EUNSAFE, "pg_basebackup sent an unsafe path '%s'", path);
    *dir = d;
    *name = p;
    *name_len = plen;
    return 0;
}

static struct node *
add_node(struct pdir *d, const char *name, size_t len, struct archive_entry *e, uint8_t type)
{
    struct node *n = tree_add_node(&d->entries);
    const char *u = archive_entry_uname(e), *g = archive_entry_gname(e);
    n->name = arena_memdup(&d->entries.arena, name, len + 1);
    n->name[len] = '\0';
    n->name_len = len;
    n->type = type;
    n->mode = (uint32_t)archive_entry_perm(e) & (type == NODE_DIR ? 0750 : 0640);
    n->uid = (uint32_t)archive_entry_uid(e);
    n->gid = (uint32_t)archive_entry_gid(e);
    n->user = arena_strdup(&d->entries.arena, u ? u : "");
    n->group = arena_strdup(&d->entries.arena, g ? g : "");
    n->mtime_sec = n->ctime_sec = (int64_t)archive_entry_mtime(e);
    n->nlink = 1;
    return n;
}

/* Keep backup_label (small) whole, and the last MANIFEST_TAIL bytes of backup_manifest. */
static void
capture(struct buf *into, bool tail_only, const void *data, size_t len)
{
    if (!tail_only) {
        if (into->len + len <= LABEL_MAX)
            buf_add(into, data, len);
        return;
    }
    buf_add(into, data, len);
    if (into->len > 2 * MANIFEST_TAIL) {
        memmove(into->data, into->data + into->len - MANIFEST_TAIL, MANIFEST_TAIL);
        into->len = MANIFEST_TAIL;
        into->data[into->len] = 0;
    }
}

static int
read_file(struct pbb *b, struct archive *a, struct pdir *d, const char *name, size_t name_len,
          struct archive_entry *e)
{
    static const char zeros[4096];
    struct saver_stream st;
    struct blob_list ids = { 0 };
    struct node *n;
    struct buf *keep = NULL;
    uint64_t size = 0, at = 0;
    bool at_root = d == &b->root;
    const void *block;
    size_t len = 0;
    la_int64_t off;
    int r = 0, ar;

    if (at_root && name_len == 12 && !memcmp(name, "backup_label", 12))
        keep = &b->label;
    else if (at_root && name_len == 15 && !memcmp(name, "backup_manifest", 15))
        keep = &b->manifest;
    saver_stream_begin(&st, b->saver, b->o->ctx, false, &ids);
    if (b->o->seal_pool)
        saver_stream_parallel(&st, b->o->seal_pool);
    while (r == 0 && (ar = archive_read_data_block(a, &block, &len, &off)) == ARCHIVE_OK) {
        while (r == 0 && (uint64_t)off > at) { /* a hole: the tar reader skipped zeros */
            size_t z =
                (uint64_t)off - at < sizeof(zeros) ? (size_t)((uint64_t)off - at) : sizeof(zeros);
            r = saver_stream_write(&st, zeros, z);
            at += z;
        }
        if (r == 0 && len)
            r = saver_stream_write(&st, block, len);
        if (r == 0 && keep)
            capture(keep, keep == &b->manifest, block, len);
        at += len;
        atomic_fetch_add(&b->prog->bytes, (uint64_t)len);
        if (r == 0 && sig_interrupted())
            r = drk_err_set(DRK_EINTR, "interrupted");
    }
    if (r == 0 && ar != ARCHIVE_EOF) {
        b->stream_error = true;
        r = drk_err_set(DRK_EIO, "pg_basebackup's stream broke off in '%s': %s",
                        archive_entry_pathname(e), archive_error_string(a));
    }
    if (r == 0)
        r = saver_stream_end(&st, &size);
    else
        (void)saver_stream_end(&st, &size);
    if (r == 0 && (int64_t)size != archive_entry_size(e))
        r = drk_err_set(DRK_EIO, "pg_basebackup sent %llu bytes of '%s' instead of %lld",
                        (unsigned long long)size, archive_entry_pathname(e),
                        (long long)archive_entry_size(e));
    if (r == 0) {
        n = add_node(d, name, name_len, e, NODE_FILE);
        n->size = size;
        n->content = arena_memdup(&d->entries.arena, ids.v, ids.n * sizeof(*ids.v));
        n->ncontent = (uint32_t)ids.n;
        if (!b->owner_known) {
            b->owner_known = true;
            b->uid = n->uid;
            b->gid = n->gid;
            b->user = xstrdup(n->user);
            b->group = xstrdup(n->group);
        }
        b->files++;
        b->bytes += size;
        atomic_fetch_add(&b->prog->files, 1);
    }
    blob_list_free(&ids);
    return r;
}

static int
read_entry(struct pbb *b, struct archive *a, struct archive_entry *e)
{
    struct pdir *d = NULL;
    const char *name = NULL;
    size_t len = 0;
    int r;

    if ((r = locate(b, archive_entry_pathname(e), &d, &name, &len)) != 0)
        return r;
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return read_file(b, a, d, name, len, e);
    case AE_IFDIR: {
        struct pdir *sub = pdir_child(d, name, len);
        const char *u = archive_entry_uname(e), *g = archive_entry_gname(e);
        sub->seen = true;
        /* a cluster's files are 0600/0640, its directories 0700/0750: never setuid or
         * anything wider, whatever the stream says */
        sub->mode = (uint32_t)archive_entry_perm(e) & 0750;
        sub->uid = (uint32_t)archive_entry_uid(e);
        sub->gid = (uint32_t)archive_entry_gid(e);
        free(sub->user);
        free(sub->group);
        sub->user = xstrdup(u ? u : "");
        sub->group = xstrdup(g ? g : "");
        sub->mtime = (int64_t)archive_entry_mtime(e);
        return 0;
    }
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        struct node *n;
        if (!target || !*target)
            return drk_err_set(DRK_EIO, "pg_basebackup sent symlink '%s' without a target",
                               archive_entry_pathname(e));
        n = add_node(d, name, len, e, NODE_SYMLINK);
        n->link = arena_strdup(&d->entries.arena, target);
        n->link_len = strlen(target);
        return 0;
    }
    default:
        return drk_err_set(DRK_EIO,
                           "pg_basebackup sent '%s', which is neither a file, a "
                           "directory nor a symlink",
                           archive_entry_pathname(e));
    }
}

/* Store d's subdirectories, then d itself; *id is its tree. */
static int
store_dir(struct pbb *b, struct pdir *d, struct blob_id *id)
{
    struct buf enc = BUF_INIT;
    int r = 0;

    for (size_t i = 0; i < d->subs.n && r == 0; i++) {
        struct pdir *s = d->subs.v[i];
        struct blob_id sub;
        struct node *n;
        if ((r = store_dir(b, s, &sub)) != 0)
            break;
        n = tree_add_node(&d->entries);
        n->name = arena_strdup(&d->entries.arena, s->name);
        n->name_len = strlen(s->name);
        n->type = NODE_DIR;
        n->mode = s->seen ? s->mode : 0700;
        n->uid = s->seen ? s->uid : b->uid; /* no header: the cluster's owner, not root */
        n->gid = s->seen ? s->gid : b->gid;
        n->user = arena_strdup(&d->entries.arena, s->seen && s->user ? s->user
                                                  : b->user          ? b->user
                                                                     : "");
        n->group = arena_strdup(&d->entries.arena, s->seen && s->group ? s->group
                                                   : b->group          ? b->group
                                                                       : "");
        n->mtime_sec = n->ctime_sec = s->seen ? s->mtime : b->now;
        n->nlink = 1;
        n->subtree = sub;
    }
    if (r)
        return r;
    tree_sort(&d->entries);
    for (size_t i = 1; i < d->entries.n; i++)
        if (!node_name_cmp(d->entries.nodes[i - 1].name, d->entries.nodes[i - 1].name_len,
                           d->entries.nodes[i].name, d->entries.nodes[i].name_len))
            return drk_err_set(DRK_EIO, "pg_basebackup sent '%s%s%s' twice", d->name,
                               *d->name ? "/" : "", d->entries.nodes[i].name);
    if ((r = tree_encode(&d->entries, &enc)) == 0)
        r = saver_put_blob(b->saver, b->o->ctx, BLOB_TREE, enc.data, enc.len, id, NULL);
    buf_release(&enc);
    return r;
}

/* The value after "KEY: " on a line of backup_label, up to a space (or with whole_line,
 * the line's end). */
static json_t *
label_value(const struct buf *label, const char *key, bool whole_line)
{
    const char *s = (const char *)label->data, *end = s + label->len;
    size_t klen = strlen(key);
    while (s && s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *le = eol ? eol : end;
        if ((size_t)(le - s) > klen + 2 && !memcmp(s, key, klen) && s[klen] == ':') {
            const char *v = s + klen + 2, *ve = v;
            while (ve < le && (whole_line || *ve != ' ') && *ve != '\r')
                ve++;
            return json_stringn(v, (size_t)(ve - v)) ?: json_null(); /* not UTF-8 */
        }
        s = eol ? eol + 1 : NULL;
    }
    return json_null();
}

/* The End-LSN of the manifest's last WAL range ("End-LSN": "0/4000100"), from its tail. */
static json_t *
end_lsn(const struct buf *tail)
{
    static const char key[] = "\"End-LSN\"";
    const char *s = (const char *)tail->data, *hit = NULL, *p, *v, *e;
    for (p = s; (p = strstr(p, key)) != NULL; p += sizeof(key) - 1)
        hit = p;
    if (!hit || !(v = strchr(hit + sizeof(key) - 1, '"')) || !(e = strchr(v + 1, '"')) ||
        e - v - 1 > 32)
        return json_null();
    return json_stringn(v + 1, (size_t)(e - v - 1)) ?: json_null();
}

/* What the snapshot says about this base backup. */
static json_t *
describe(struct pbb *b, const char *sysid)
{
    json_t *m = json_pack("{s:s, s:o*, s:o*, s:o*, s:I, s:I}", "system_identifier", sysid,
                          "start_lsn", label_value(&b->label, "START WAL LOCATION", false),
                          "checkpoint_lsn", label_value(&b->label, "CHECKPOINT LOCATION", false),
                          "label", label_value(&b->label, "LABEL", true), "files",
                          (json_int_t)b->files, "bytes", (json_int_t)b->bytes);
    json_t *tl = label_value(&b->label, "START TIMELINE", false);
    json_object_set_new(m, "timeline",
                        json_is_string(tl) ? json_integer(atoll(json_string_value(tl)))
                                           : json_null());
    json_decref(tl);
    json_object_set_new(m, "end_lsn", end_lsn(&b->manifest));
    return m;
}

/* The cluster's system identifier (tells clusters apart at restore time). */
static int
system_identifier(const struct pgconn_target *t, char *out, size_t n)
{
    PGconn *c = NULL;
    PGresult *res = NULL;
    int r;
    if ((r = pgconn_connect(t, NULL, &c)) != 0)
        return r;
    r = pgconn_query(c, "SELECT system_identifier::text FROM pg_control_system()", &res);
    if (r == 0)
        snprintf(out, n, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return r;
}

static int
read_stream(struct pbb *b, int fd)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int r = 0, ar;

    archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, 256 * 1024) != ARCHIVE_OK) {
        b->stream_error = true;
        r = drk_err_set(DRK_EIO, "reading pg_basebackup's output: %s", archive_error_string(a));
        archive_read_free(a);
        return r;
    }
    while (r == 0 && (ar = archive_read_next_header(a, &e)) == ARCHIVE_OK)
        r = read_entry(b, a, e);
    if (r == 0 && ar != ARCHIVE_EOF) {
        b->stream_error = true;
        r = drk_err_set(DRK_EIO, "pg_basebackup's output is not a whole tar archive: %s",
                        archive_error_string(a));
    }
    archive_read_free(a);
    return r;
}

int
pgbase_backup(struct saver *saver, const struct pgbase_opts *o, struct pgbase_progress *prog,
              struct blob_id *tree, json_t **meta)
{
    struct pbb b;
    struct proc p;
    char *prog_path = NULL, *ci = NULL, sysid[32] = "", label[64], rate[40];
    const char *argv[16];
    int n = 0, r, rf;

    memset(&b, 0, sizeof(b));
    b.saver = saver;
    b.o = o;
    b.prog = prog;
    b.now = (int64_t)time(NULL);
    b.root.name = xstrdup("");
    tree_init(&b.root.entries);
    buf_init(&b.label, 1024);
    buf_init(&b.manifest, 0);

    if ((r = archive_lib_load()) != 0 ||
        (r = system_identifier(o->target, sysid, sizeof(sysid))) != 0)
        goto out;
    if ((r = pgconn_conninfo_child(o->target, NULL, &ci)) != 0)
        goto out;
    prog_path = pgconn_program(o->target, "pg_basebackup");
    snprintf(label, sizeof(label), "drkit %lld", (long long)b.now);
    argv[n++] = prog_path;
    argv[n++] = "--no-password";
    argv[n++] = "--pgdata=-";
    argv[n++] = "--format=tar";
    argv[n++] = "--wal-method=fetch";
    argv[n++] = o->spread_checkpoint ? "--checkpoint=spread" : "--checkpoint=fast";
    if (o->max_rate) {
        snprintf(rate, sizeof(rate), "--max-rate=%lluk",
                 (unsigned long long)(o->max_rate + 1023) / 1024);
        argv[n++] = rate;
    }
    argv[n++] = "--label";
    argv[n++] = label;
    argv[n++] = "-d";
    argv[n++] = ci;
    argv[n] = NULL;
    if ((r = proc_start(&p, argv, pgconn_child_env(o->target), PROC_STDOUT_PIPE)) != 0)
        goto out;
    r = read_stream(&b, p.out_fd);
    if (r) {
        /* a stream that broke off usually means pg_basebackup failed: its own words are the
         * error then; otherwise (our failure) closing the pipe stops it */
        struct drk_error ours;
        drk_err_save(&ours);
        rf = proc_finish(&p);
        if (!rf || r == DRK_EINTR || !b.stream_error)
            drk_err_restore(&ours);
        else
            r = rf;
    } else {
        rf = proc_finish(&p);
        if (rf) /* never keep a base backup whose program failed, however much it wrote */
            r = rf;
    }
    proc_release(&p);
    if (r == 0 && !b.label.len)
        r = drk_err_set(DRK_EIO, "pg_basebackup's output has no backup_label: not a base backup");
    if (r == 0)
        r = store_dir(&b, &b.root, tree);
    if (r == 0 && !(*meta = describe(&b, sysid)))
        r = drk_err_set(DRK_EINTERNAL, "cannot describe the base backup");
out:
    if (r)
        drk_err_wrap(r, "physical backup (pg_basebackup)");
    pdir_free(&b.root);
    free(b.user);
    free(b.group);
    buf_release(&b.label);
    buf_release(&b.manifest);
    free(prog_path);
    free(ci);
    return r;
}
