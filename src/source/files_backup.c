/* files_backup: the parallel tree walk of a backup (see files_backup.h). */
#include "source/files_backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/saver.h"
#include "repo/blob.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "source/fsmeta.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define QUEUE_PER_THREAD 32
#define MAX_DEPTH        512

/* The selected paths as a trie of names; `all` means "everything below". */
struct sel {
    char *name;
    bool all;
    bool requested; /* a path the user named (its absence is an error) */
    VEC(struct sel) kids;
};

struct walker {
    struct repo *repo;
    struct saver *saver;
    struct pool *pool;
    const struct files_backup_opts *o;
    struct files_progress *prog;
    struct owner_cache *oc;
    unsigned main_ctx;
    struct blob_codec codec; /* main thread: parent trees */

    pthread_mutex_t mu; /* snap errors, fatal */
    struct snapshot *snap;
    _Atomic int fatal;
    struct drk_error fatal_err;

    struct blob_id root_tree;
    _Atomic int root_done;
    _Atomic uint64_t n_files, n_dirs, n_links, n_others, n_bytes;
};

struct dirjob {
    struct walker *w;
    struct dirjob *parent;
    size_t slot;
    struct tree tree;
    bool *drop; /* per node: leave out of the tree */
    _Atomic int pending;
    char *path;
};

struct filejob {
    struct dirjob *dir;
    size_t slot;
    char *path;
    struct blob_id *old; /* parent snapshot's content, for classification */
    uint32_t nold;
    bool had_old;
};

static void
sel_free(struct sel *s)
{
    for (size_t i = 0; i < s->kids.n; i++)
        sel_free(&s->kids.v[i]);
    vec_free(&s->kids);
    free(s->name);
}

static struct sel *
sel_child(struct sel *s, const char *name, size_t len)
{
    struct sel k;
    for (size_t i = 0; i < s->kids.n; i++)
        if (strlen(s->kids.v[i].name) == len && !memcmp(s->kids.v[i].name, name, len))
            return &s->kids.v[i];
    memset(&k, 0, sizeof(k));
    k.name = xstrndup(name, len);
    vec_push(&s->kids, k);
    return &s->kids.v[s->kids.n - 1];
}

static void
sel_add(struct sel *root, const char *path)
{
    struct sel *cur = root;
    const char *p = path;
    if (root->all)
        return;
    while (*p == '/')
        p++;
    if (!*p) {
        root->all = true;
        root->requested = true;
        return;
    }
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        cur = sel_child(cur, p, len);
        if (cur->all)
            return;
        p += len;
        while (*p == '/')
            p++;
    }
    cur->all = true;
    cur->requested = true;
}

bool
files_excluded(const char *const *excludes, size_t n, const char *path, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *pat = excludes[i];
        if (strchr(pat, '/')) {
            if (fnmatch(pat, path, FNM_PATHNAME | FNM_PERIOD) == 0)
                return true;
        } else if (fnmatch(pat, name, 0) == 0) {
            return true;
        }
    }
    return false;
}

static void
set_fatal(struct walker *w, int r)
{
    pthread_mutex_lock(&w->mu);
    if (!atomic_load(&w->fatal)) {
        drk_err_save(&w->fatal_err);
        atomic_store(&w->fatal, r);
    }
    pthread_mutex_unlock(&w->mu);
}

static void
source_error(struct walker *w, const char *path, const char *msg)
{
    log_warn("%s", msg);
    pthread_mutex_lock(&w->mu);
    snap_add_error(w->snap, path, msg);
    pthread_mutex_unlock(&w->mu);
    atomic_fetch_add(&w->prog->errors, 1);
}

static char *
join_path(const char *dir, const char *name)
{
    if (dir[0] == '/' && dir[1] == '\0')
        return xasprintf("/%s", name);
    return xasprintf("%s/%s", dir, name);
}

static void finalize_dir(struct dirjob *dj, unsigned ctx);

static void
dir_done_one(struct dirjob *dj, unsigned ctx)
{
    if (atomic_fetch_sub(&dj->pending, 1) == 1)
        finalize_dir(dj, ctx);
}

static void
free_dirjob(struct dirjob *dj)
{
    for (size_t i = 0; i < dj->tree.n; i++)
        if (dj->tree.nodes[i].type == NODE_FILE)
            free(dj->tree.nodes[i].content);
    tree_release(&dj->tree);
    free(dj->drop);
    free(dj->path);
    free(dj);
}

/* Encode and store dj's tree, hand its id to the parent, free dj. */
static void
finalize_dir(struct dirjob *dj, unsigned ctx)
{
    struct walker *w = dj->w;
    struct dirjob *parent = dj->parent;
    size_t slot = dj->slot;
    struct blob_id id;

    memset(&id, 0, sizeof(id));
    if (!atomic_load(&w->fatal)) {
        struct tree kept;
        struct buf enc = BUF_INIT;
        int r;
        tree_init(&kept);
        kept.nodes = xcalloc(dj->tree.n ? dj->tree.n : 1, sizeof(*kept.nodes));
        for (size_t i = 0; i < dj->tree.n; i++)
            if (!dj->drop[i])
                kept.nodes[kept.n++] = dj->tree.nodes[i];
        r = tree_encode(&kept, &enc);
        if (r == 0)
            r = saver_put_blob(w->saver, ctx, BLOB_TREE, enc.data, enc.len, &id, NULL);
        if (r)
            set_fatal(w, drk_err_wrap(r, "cannot store the tree of '%s'", dj->path));
        free(kept.nodes);
        buf_release(&enc);
    }
    free_dirjob(dj);
    if (parent) {
        parent->tree.nodes[slot].subtree = id;
        dir_done_one(parent, ctx);
    } else {
        w->root_tree = id;
        atomic_store(&w->root_done, 1);
    }
}

static bool
content_indexed(struct walker *w, const struct node *old)
{
    for (uint32_t i = 0; i < old->ncontent; i++)
        if (!idx_has(w->repo->idx, &old->content[i]))
            return false;
    return true;
}

static void
classify(struct walker *w, bool had_old, const struct blob_id *old, uint32_t nold,
         const struct blob_list *now)
{
    if (!had_old)
        atomic_fetch_add(&w->prog->files_new, 1);
    else if (nold == now->n && (nold == 0 || !memcmp(old, now->v, nold * sizeof(*old))))
        atomic_fetch_add(&w->prog->files_unchanged, 1);
    else
        atomic_fetch_add(&w->prog->files_changed, 1);
}

static void
file_job(void *arg, unsigned worker)
{
    struct filejob *fj = arg;
    struct dirjob *dj = fj->dir;
    struct walker *w = dj->w;
    struct node *n = &dj->tree.nodes[fj->slot];
    struct blob_list ids = { 0 };
    uint64_t nbytes = 0;
    bool read_failed = false;
    struct stat st;
    int fd = -1, r;

    if (atomic_load(&w->fatal))
        goto done;
    fd = open(fj->path, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
    if (fd < 0 && errno == EPERM)
        fd = open(fj->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        drk_err_errno(DRK_EIO, e, "cannot read '%s'", fj->path);
        if (e != ENOENT) /* a file deleted since the listing is simply gone */
            source_error(w, fj->path, drk_err_msg());
        dj->drop[fj->slot] = true;
        goto done;
    }
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        source_error(w, fj->path, "file was replaced by something else while reading");
        dj->drop[fj->slot] = true;
        goto done;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    r = saver_put_fd(w->saver, worker, fd, (n->flags & NODE_FLAG_SPARSE) != 0, fj->path, &ids,
                     &nbytes, &read_failed);
    if (r && read_failed) {
        source_error(w, fj->path, drk_err_msg());
        dj->drop[fj->slot] = true;
        goto done;
    }
    if (r) {
        set_fatal(w, r);
        goto done;
    }
    n->size = nbytes; /* what was read is what the content holds */
    n->content = ids.v;
    n->ncontent = (uint32_t)ids.n;
    classify(w, fj->had_old, fj->old, fj->nold, &ids);
    ids.v = NULL;
    atomic_fetch_add(&w->n_bytes, nbytes);
    atomic_fetch_add(&w->prog->bytes, nbytes);
done:
    blob_list_free(&ids);
    if (fd >= 0)
        close(fd);
    atomic_fetch_add(&w->prog->files, 1);
    free(fj->path);
    free(fj->old);
    free(fj);
    dir_done_one(dj, worker);
}

struct name_ent {
    char *name;
    size_t len;
    struct sel *sel; /* for intermediate directories */
};

static int
cmp_names(const void *pa, const void *pb)
{
    const struct name_ent *a = pa, *b = pb;
    return node_name_cmp(a->name, a->len, b->name, b->len);
}

static void walk_dir(struct walker *w, struct dirjob *dj, int dfd, struct sel *sel,
                     const struct tree *old, dev_t fs_dev, int depth);

/* Collect the names to visit in dfd: all of them, or the selection's children. */
static int
list_names(struct walker *w, struct dirjob *dj, int dfd, struct sel *sel, struct name_ent **out,
           size_t *nout)
{
    VEC(struct name_ent) names = VEC_INIT;
    if (sel && !sel->all) {
        for (size_t i = 0; i < sel->kids.n; i++) {
            struct name_ent e = { xstrdup(sel->kids.v[i].name), strlen(sel->kids.v[i].name),
                                  &sel->kids.v[i] };
            vec_push(&names, e);
        }
    } else {
        DIR *d = fs_opendir_dup(dfd);
        struct dirent *de;
        if (!d) {
            drk_err_errno(DRK_EIO, errno, "cannot list '%s'", dj->path);
            source_error(w, dj->path, drk_err_msg());
            *out = NULL;
            *nout = 0;
            return 0;
        }
        errno = 0;
        while ((de = readdir(d)) != NULL) {
            struct name_ent e;
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            e.len = strlen(de->d_name);
            e.name = xstrndup(de->d_name, e.len);
            e.sel = NULL;
            vec_push(&names, e);
        }
        if (errno) {
            drk_err_errno(DRK_EIO, errno, "cannot list all of '%s'", dj->path);
            source_error(w, dj->path, drk_err_msg());
        }
        closedir(d);
    }
    if (names.n > 1)
        qsort(names.v, names.n, sizeof(*names.v), cmp_names);
    *out = names.v;
    *nout = names.n;
    return 0;
}

static void
walk_dir(struct walker *w, struct dirjob *dj, int dfd, struct sel *sel, const struct tree *old,
         dev_t fs_dev, int depth)
{
    struct name_ent *names = NULL;
    size_t nnames = 0;
    struct stat *sts = NULL;
    char **paths = NULL;
    struct sel **sels = NULL;
    int pending;

    list_names(w, dj, dfd, sel, &names, &nnames);
    sts = xcalloc(nnames ? nnames : 1, sizeof(*sts));
    paths = xcalloc(nnames ? nnames : 1, sizeof(*paths));
    sels = xcalloc(nnames ? nnames : 1, sizeof(*sels));

    /* Pass 1: stat and capture every entry; the node array is final afterwards. */
    for (size_t i = 0; i < nnames; i++) {
        struct stat st;
        char *path = join_path(dj->path, names[i].name);
        struct node *n;
        int r;

        if (sig_interrupted()) {
            set_fatal(w, drk_err_set(DRK_EINTR, "interrupted"));
            free(path);
            break;
        }
        if (fstatat(dfd, names[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT || (names[i].sel && names[i].sel->requested)) {
                drk_err_errno(DRK_EIO, errno, "cannot back up '%s'", path);
                source_error(w, path, drk_err_msg());
            }
            free(path);
            continue;
        }
        if (!names[i].sel && files_excluded(w->o->excludes, w->o->nexcludes, path, names[i].name)) {
            free(path);
            continue;
        }
        if (names[i].sel && !names[i].sel->all && !S_ISDIR(st.st_mode)) {
            /* an intermediate component that is not a directory: nothing below to reach */
            drk_err_set(DRK_EIO, "cannot back up below '%s': not a directory", path);
            source_error(w, path, drk_err_msg());
            free(path);
            continue;
        }
        n = tree_add_node(&dj->tree);
        if ((r = fsmeta_capture(n, &dj->tree.arena, path, names[i].name, names[i].len, &st,
                                w->oc)) != 0) {
            source_error(w, path, drk_err_msg());
            dj->tree.n--;
            free(path);
            continue;
        }
        sts[dj->tree.n - 1] = st;
        paths[dj->tree.n - 1] = path;
        sels[dj->tree.n - 1] = names[i].sel;
    }
    dj->drop = xcalloc(dj->tree.n ? dj->tree.n : 1, sizeof(*dj->drop));

    /* Pass 2: decide what needs work, then count it before starting any of it. */
    pending = 1;
    for (size_t i = 0; i < dj->tree.n; i++) {
        struct node *n = &dj->tree.nodes[i];
        if (n->type == NODE_DIR)
            pending++;
        else if (n->type == NODE_FILE && n->size > 0) {
            const struct node *on = old ? tree_find(old, n->name, n->name_len) : NULL;
            if (w->o->reuse_unchanged && on && on->type == NODE_FILE && on->size == n->size &&
                on->mtime_sec == n->mtime_sec && on->mtime_nsec == n->mtime_nsec &&
                on->ctime_sec == n->ctime_sec && on->ctime_nsec == n->ctime_nsec &&
                on->ino == n->ino && content_indexed(w, on)) {
                n->content = xmemdup(on->content, on->ncontent * sizeof(*on->content));
                n->ncontent = on->ncontent;
                n->flags |= 0x80; /* marker: reused, no job (cleared below) */
            } else {
                pending++;
            }
        }
    }
    atomic_store(&dj->pending, pending);

    for (size_t i = 0; i < dj->tree.n; i++) {
        struct node *n = &dj->tree.nodes[i];
        switch (n->type) {
        case NODE_FILE: {
            const struct node *on;
            atomic_fetch_add(&w->n_files, 1);
            if (n->flags & 0x80) {
                n->flags &= (uint8_t)~0x80;
                atomic_fetch_add(&w->prog->files_unchanged, 1);
                atomic_fetch_add(&w->prog->files, 1);
                atomic_fetch_add(&w->prog->bytes, n->size);
                atomic_fetch_add(&w->n_bytes, n->size);
                break;
            }
            on = old ? tree_find(old, n->name, n->name_len) : NULL;
            if (n->size == 0) {
                struct blob_list none = { 0 };
                classify(w, on && on->type == NODE_FILE, on ? on->content : NULL,
                         on ? on->ncontent : 0, &none);
                atomic_fetch_add(&w->prog->files, 1);
                break;
            }
            {
                struct filejob *fj = xcalloc(1, sizeof(*fj));
                fj->dir = dj;
                fj->slot = i;
                fj->path = paths[i];
                paths[i] = NULL;
                if (on && on->type == NODE_FILE) {
                    fj->had_old = true;
                    fj->nold = on->ncontent;
                    fj->old = on->ncontent
                                  ? xmemdup(on->content, on->ncontent * sizeof(*on->content))
                                  : NULL;
                }
                pool_add(w->pool, file_job, fj);
            }
            break;
        }
        case NODE_DIR:
            atomic_fetch_add(&w->n_dirs, 1);
            break;
        case NODE_SYMLINK:
            atomic_fetch_add(&w->n_links, 1);
            atomic_fetch_add(&w->prog->files, 1);
            break;
        default:
            atomic_fetch_add(&w->n_others, 1);
            atomic_fetch_add(&w->prog->files, 1);
            break;
        }
    }

    /* Pass 3: descend. */
    for (size_t i = 0; i < dj->tree.n; i++) {
        struct node *n = &dj->tree.nodes[i];
        struct dirjob *child;
        struct tree subold;
        const struct tree *subold_p = NULL;
        const struct node *on;
        dev_t dev;
        int cfd = -1;

        if (n->type != NODE_DIR)
            continue;
        child = xcalloc(1, sizeof(*child));
        child->w = w;
        child->parent = dj;
        child->slot = i;
        child->path = paths[i];
        paths[i] = NULL;
        tree_init(&child->tree);
        tree_init(&subold);
        on = old ? tree_find(old, n->name, n->name_len) : NULL;
        if (on && on->type == NODE_DIR && !atomic_load(&w->fatal)) {
            if (tree_load(&subold, &w->codec, w->repo, &on->subtree) == 0)
                subold_p = &subold;
            else
                log_detail("parent tree of '%s' unreadable, reading everything: %s", child->path,
                           drk_err_msg());
        }
        /* a path the user named starts its own file system for --one-file-system */
        dev = sels[i] ? sts[i].st_dev : fs_dev;
        atomic_fetch_add(&w->prog->dirs, 1);
        if (atomic_load(&w->fatal)) {
            atomic_store(&child->pending, 1);
        } else if (w->o->one_file_system && !sels[i] && sts[i].st_dev != fs_dev) {
            atomic_store(&child->pending, 1); /* a mount point: keep it, do not enter it */
        } else if (depth >= MAX_DEPTH) {
            source_error(w, child->path, "directory nesting is too deep; contents left out");
            atomic_store(&child->pending, 1);
        } else if ((cfd = openat(dfd, n->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
                   0) {
            drk_err_errno(DRK_EIO, errno, "cannot open directory '%s'", child->path);
            source_error(w, child->path, drk_err_msg());
            atomic_store(&child->pending, 1);
        } else {
            walk_dir(w, child, cfd, sels[i], subold_p, dev, depth + 1);
            close(cfd);
            tree_release(&subold);
            continue;
        }
        tree_release(&subold);
        dir_done_one(child, w->main_ctx);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i].name);
    for (size_t i = 0; i < dj->tree.n; i++)
        free(paths[i]);
    free(names);
    free(paths);
    free(sts);
    free(sels);
    dir_done_one(dj, w->main_ctx);
}

/* Count files and bytes of the selection (for the ETA), on its own thread. */
struct scan_arg {
    struct walker *w;
    struct sel *root;
};

static void
scan_dir(struct walker *w, int dfd, const char *path, struct sel *sel, int depth)
{
    if (depth > MAX_DEPTH || atomic_load(&w->fatal) || atomic_load(&w->root_done))
        return;
    /* list without reporting errors: the real walk reports them */
    if (sel && !sel->all) {
        for (size_t i = 0; i < sel->kids.n; i++) {
            struct stat st;
            int cfd;
            if (fstatat(dfd, sel->kids.v[i].name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            if (S_ISREG(st.st_mode)) {
                atomic_fetch_add(&w->prog->files_total, 1);
                atomic_fetch_add(&w->prog->bytes_total, (uint64_t)st.st_size);
            } else if (S_ISDIR(st.st_mode)) {
                char *p = join_path(path, sel->kids.v[i].name);
                cfd = openat(dfd, sel->kids.v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (cfd >= 0) {
                    scan_dir(w, cfd, p, &sel->kids.v[i], depth + 1);
                    close(cfd);
                }
                free(p);
            } else {
                atomic_fetch_add(&w->prog->files_total, 1);
            }
        }
        return;
    }
    {
        DIR *d = fs_opendir_dup(dfd);
        struct dirent *de;
        if (!d)
            return;
        while ((de = readdir(d)) != NULL) {
            struct stat st;
            char *p;
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            p = join_path(path, de->d_name);
            if (files_excluded(w->o->excludes, w->o->nexcludes, p, de->d_name)) {
                free(p);
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (cfd >= 0) {
                    scan_dir(w, cfd, p, NULL, depth + 1);
                    close(cfd);
                }
            } else {
                atomic_fetch_add(&w->prog->files_total, 1);
                if (S_ISREG(st.st_mode))
                    atomic_fetch_add(&w->prog->bytes_total, (uint64_t)st.st_size);
            }
            free(p);
        }
        closedir(d);
    }
}

static void *
scan_main(void *arg)
{
    struct scan_arg *sa = arg;
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        scan_dir(sa->w, fd, "/", sa->root, 0);
        close(fd);
    }
    atomic_store(&sa->w->prog->scan_done, 1);
    return NULL;
}

int
files_backup(struct repo *repo, struct saver *saver, const struct files_backup_opts *o,
             struct files_progress *prog, struct snapshot *snap)
{
    struct walker w;
    struct sel root;
    struct dirjob *rootjob;
    struct tree parent_root;
    const struct tree *parent_p = NULL;
    struct scan_arg sa;
    pthread_t scanner;
    bool scanning = false;
    struct stat rst;
    int rfd, r = 0;

    memset(&w, 0, sizeof(w));
    memset(&root, 0, sizeof(root));
    for (size_t i = 0; i < o->npaths; i++)
        sel_add(&root, o->paths[i]);
    w.repo = repo;
    w.saver = saver;
    w.o = o;
    w.prog = prog;
    w.snap = snap;
    w.oc = owner_cache_new();
    w.main_ctx = o->threads;
    blob_codec_init(&w.codec);
    pthread_mutex_init(&w.mu, NULL);
    tree_init(&parent_root);

    if (o->parent_tree) {
        if (tree_load(&parent_root, &w.codec, repo, o->parent_tree) == 0)
            parent_p = &parent_root;
        else
            log_warn("cannot read the parent snapshot's tree; reading every file: %s",
                     drk_err_msg());
    }
    rfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0 || fstat(rfd, &rst) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot open '/'");
        goto out;
    }
    if (o->scan_totals) {
        sa.w = &w;
        sa.root = &root;
        scanning = pthread_create(&scanner, NULL, scan_main, &sa) == 0;
    }
    w.pool = pool_new(o->threads, (size_t)o->threads * QUEUE_PER_THREAD);
    rootjob = xcalloc(1, sizeof(*rootjob));
    rootjob->w = &w;
    rootjob->path = xstrdup("/");
    tree_init(&rootjob->tree);
    walk_dir(&w, rootjob, rfd, &root, parent_p, rst.st_dev, 0);
    pool_wait(w.pool);
    pool_free(w.pool);
    w.pool = NULL;
    if (scanning)
        pthread_join(scanner, NULL);

    if ((r = atomic_load(&w.fatal)) != 0) {
        drk_err_restore(&w.fatal_err);
        goto out;
    }
    if (!atomic_load(&w.root_done)) {
        r = drk_err_set(DRK_EINTERNAL, "the backup walk ended without a root tree");
        goto out;
    }
    if (snap->error_count && snap->error_count >= o->npaths && atomic_load(&w.n_files) == 0 &&
        atomic_load(&w.n_dirs) <= o->npaths && atomic_load(&w.n_links) == 0) {
        /* nothing at all could be read: that is a failed backup, not a partial one */
        r = drk_err_set(DRK_EIO, "nothing to back up: %s",
                        snap->errors.n ? snap->errors.v[0].message : "no readable path");
        goto out;
    }
    snap->files_tree = w.root_tree;
    snap->has_files = true;
    snap->stats.files = atomic_load(&w.n_files);
    snap->stats.dirs = atomic_load(&w.n_dirs);
    snap->stats.links = atomic_load(&w.n_links);
    snap->stats.others = atomic_load(&w.n_others);
    snap->stats.bytes = atomic_load(&w.n_bytes);
    snap->stats.files_new = atomic_load(&prog->files_new);
    snap->stats.files_changed = atomic_load(&prog->files_changed);
    snap->stats.files_unchanged = atomic_load(&prog->files_unchanged);
out:
    if (rfd >= 0)
        close(rfd);
    tree_release(&parent_root);
    blob_codec_release(&w.codec);
    owner_cache_free(w.oc);
    pthread_mutex_destroy(&w.mu);
    sel_free(&root);
    return r;
}
