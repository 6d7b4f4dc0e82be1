/* files_restore: safe, parallel restore of a snapshot's files (see files_restore.h). */
#include "source/files_restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sodium.h>

#include "repo/blob.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "source/files_backup.h"
#include "source/fsmeta.h"
#include "util/err.h"
#include "util/dwrite.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/sig.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define QUEUE_PER_THREAD 16
#define MAX_DEPTH        512
#define HOLE_BLOCK       4096

/* A tree shared by the walker and the file jobs that point into it. */
struct rtree {
    struct tree t;
    _Atomic int refs;
};

struct dir_meta {
    char *rel;
    struct node node;
};

struct link_op {
    char *from_rel, *to_rel, *orig;
};

struct hl_slot {
    uint64_t dev, ino;
    char *rel; /* NULL: empty slot */
};

/* Files from this size on bypass the page cache (measured: the copy into it is the largest
 * kernel cost of a restore; below ~64 KiB the synchronous direct write costs more). */
#define DIRECT_MIN (64 * 1024)
#define DIRECT_BUF (1024 * 1024)

struct worker_state {
    unsigned char *dbuf; /* aligned buffer for O_DIRECT writes */
    struct blob_codec codec;
    struct buf plain;
    struct blob_id last; /* the blob in plain (runs of one blob: zeros of sparse files) */
    bool have_last;
    unsigned char *cmpbuf; /* delta comparison buffer */
};

struct restorer {
    struct repo *repo;
    const struct snapshot *snap;
    const struct files_restore_opts *o;
    struct restore_progress *prog;
    struct restore_result *res;
    struct pool *pool;
    struct worker_state *ws;
    struct owner_cache *oc;
    struct restore_owner_opts own;
    pthread_mutex_t mu; /* res */
    int rootfd;
    bool tmpfile_ok;         /* O_TMPFILE + linkat through /proc/self/fd works */
    bool direct_ok;          /* and O_DIRECT on the target's file system */
    struct blob_codec codec; /* main thread: trees */
    struct arena arena;      /* dir metadata clones (main thread only) */
    VEC(struct dir_meta) dirs;
    VEC(struct link_op) links;
    struct hl_slot *hl;
    size_t hl_cap, hl_n;
};

struct fjob {
    struct restorer *R;
    int dirfd;
    const struct node *n;
    struct rtree *rt;
    char *orig; /* original path */
    char *rel;  /* path below the target */
};

static void
rtree_unref(struct rtree *rt)
{
    if (rt && atomic_fetch_sub(&rt->refs, 1) == 1) {
        tree_release(&rt->t);
        free(rt);
    }
}

static void
report(struct restorer *R, int kind, const char *path, const char *msg)
{
    if (kind == RESTORE_ERR_INTEGRITY)
        log_error("%s", msg);
    else
        log_warn("%s", msg);
    pthread_mutex_lock(&R->mu);
    if (kind == RESTORE_ERR_INTEGRITY)
        R->res->integrity_errors++;
    else if (kind == RESTORE_ERR_UNSAFE)
        R->res->unsafe_errors++;
    else
        R->res->io_errors++;
    if (R->res->errors.n < RESTORE_ERRORS_KEPT) {
        struct restore_error e = { xstrdup(path), xstrdup(msg), kind };
        vec_push(&R->res->errors, e);
    }
    pthread_mutex_unlock(&R->mu);
    atomic_fetch_add(&R->prog->errors, 1);
}

static char *
join(const char *dir, const char *name)
{
    if (!dir[0])
        return xstrdup(name);
    if (dir[0] == '/' && dir[1] == '\0')
        return xasprintf("/%s", name);
    return xasprintf("%s/%s", dir, name);
}

/* Open a directory below rootfd by a relative path, never following symlinks. */
static int
open_rel_dir(int rootfd, const char *rel)
{
    char *copy = xstrdup(rel), *p = copy, *slash;
    int fd = dup(rootfd);
    while (fd >= 0 && *p) {
        int next;
        slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        if (!slash)
            break;
        p = slash + 1;
    }
    free(copy);
    return fd;
}

static void
split_rel(const char *rel, char **dir, const char **base)
{
    const char *slash = strrchr(rel, '/');
    if (slash) {
        *dir = xstrndup(rel, (size_t)(slash - rel));
        *base = slash + 1;
    } else {
        *dir = xstrdup("");
        *base = rel;
    }
}

/* Is orig (an absolute original path) inside an include, or on the way to one? */
static void
include_state(const struct files_restore_opts *o, const char *orig, bool *all, bool *way)
{
    size_t lo = strlen(orig);
    *all = o->nincludes == 0;
    *way = false;
    for (size_t i = 0; i < o->nincludes && !*all; i++) {
        const char *inc = o->includes[i];
        size_t li = strlen(inc);
        if (li == 1 && inc[0] == '/')
            *all = true;
        else if (lo >= li && !memcmp(orig, inc, li) && (orig[li] == '\0' || orig[li] == '/'))
            *all = true;
        else if (li > lo && !memcmp(inc, orig, lo) && inc[lo] == '/')
            *way = true;
    }
}

/* Write len bytes at the current offset, leaving zero blocks as holes. */
static int
write_sparse(int fd, const unsigned char *p, size_t len, const char *what)
{
    static const unsigned char zeros[HOLE_BLOCK];
    size_t i = 0;
    while (i < len) {
        size_t n = len - i < HOLE_BLOCK ? len - i : HOLE_BLOCK;
        if (n == HOLE_BLOCK && !memcmp(p + i, zeros, HOLE_BLOCK)) {
            if (lseek(fd, HOLE_BLOCK, SEEK_CUR) < 0)
                return drk_err_errno(DRK_EIO, errno, "cannot seek in '%s'", what);
        } else {
            int r = fs_write_all(fd, p + i, n, what);
            if (r)
                return r;
        }
        i += n;
    }
    return 0;
}

/* Does the open file's content chunk and hash to exactly n's blob list? */
static bool
content_matches(struct restorer *R, struct worker_state *ws, int fd, const struct node *n)
{
    const struct cdc *cdc = &R->repo->chunker;
    size_t cap = 2 * cdc->max, start = 0, end = 0;
    uint32_t k = 0;
    bool eof = false;

    if (!ws->cmpbuf)
        ws->cmpbuf = xmalloc(cap);
    for (;;) {
        size_t c;
        struct blob_id id;
        if (!eof && end - start < cdc->max) {
            size_t got;
            memmove(ws->cmpbuf, ws->cmpbuf + start, end - start);
            end -= start;
            start = 0;
            if (fs_read_full(fd, ws->cmpbuf + end, cap - end, &got, "a file") != 0)
                return false;
            if (got < cap - end)
                eof = true;
            end += got;
        }
        if (start == end)
            break;
        c = cdc_next(cdc, ws->cmpbuf + start, end - start, eof);
        if (c == 0)
            c = end - start;
        if (k >= n->ncontent)
            return false;
        repo_blob_id(R->repo, BLOB_DATA, ws->cmpbuf + start, c, &id);
        if (memcmp(id.b, n->content[k].b, ID_LEN) != 0)
            return false;
        k++;
        start += c;
    }
    return k == n->ncontent;
}

static bool
meta_matches(const struct stat *st, const struct node *n)
{
    return (st->st_mode & 07777) == n->mode && st->st_mtim.tv_sec == n->mtime_sec &&
           (uint32_t)st->st_mtim.tv_nsec == n->mtime_nsec;
}

/* Give the anonymous file fd the name `name` in dirfd: directly when nothing is there,
 * else through a temporary name renamed over the old entry. -1 with errno on failure. */
static int
link_anon(int dirfd, int fd, const char *name, bool replace)
{
    char proc[64], tmp[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (!replace) {
        if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    snprintf(tmp, sizeof(tmp), ".drkit-restore-%08x%08x", randombytes_random(),
             randombytes_random());
    if (linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW) != 0)
        return -1;
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
}

static void
file_job(void *arg, unsigned worker)
{
    struct fjob *j = arg;
    struct restorer *R = j->R;
    struct worker_state *ws = &R->ws[worker];
    const struct node *n = j->n;
    char tmpname[64] = "";
    const char *wname = n->name;
    struct stat st;
    uint64_t written = 0;
    int fd = -1, r = 0;
    bool sparse = (n->flags & NODE_FLAG_SPARSE) != 0;
    bool existed = false, named = false, direct = false;
    struct dwrite dw;

    if (sig_interrupted())
        goto done;
    if (fstatat(j->dirfd, n->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode)) {
            if (!R->o->delta) {
                drk_err_set(DRK_EIO, "cannot restore '%s': a directory is in the way", j->orig);
                report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
                goto done;
            }
            if (fs_remove_at(j->dirfd, n->name) != 0) {
                drk_err_errno(DRK_EIO, errno, "cannot remove the directory in the way of '%s'",
                              j->orig);
                report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
                goto done;
            }
        } else if (R->o->delta && S_ISREG(st.st_mode) && (uint64_t)st.st_size == n->size) {
            int efd = openat(j->dirfd, n->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (efd >= 0 && content_matches(R, ws, efd, n)) {
                close(efd);
                if (!meta_matches(&st, n) || R->own.chown) {
                    efd = openat(j->dirfd, n->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                    if (efd >= 0) {
                        if (fsmeta_apply_fd(efd, n, R->oc, &R->own, j->orig) != 0)
                            report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
                        close(efd);
                    }
                }
                pthread_mutex_lock(&R->mu);
                R->res->files_unchanged++;
                pthread_mutex_unlock(&R->mu);
                atomic_fetch_add(&R->prog->bytes, n->size);
                goto done;
            }
            if (efd >= 0)
                close(efd);
        }
        if (!S_ISDIR(st.st_mode))
            existed = true;
    }
    /* Write into an anonymous file and give it its name only when it is complete and
     * verified: a damaged blob or a kill leaves nothing behind. */
    if (R->tmpfile_ok && R->direct_ok && !sparse && n->size >= DIRECT_MIN) {
        /* large files skip the page cache: the copy into it costs more CPU than the rest */
        fd = openat(j->dirfd, ".", O_WRONLY | O_TMPFILE | O_DIRECT | O_CLOEXEC, 0600);
        direct = fd >= 0;
    }
    if (fd < 0 && R->tmpfile_ok)
        fd = openat(j->dirfd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd < 0) {
        /* no O_TMPFILE here: a named temporary when replacing, else the name itself */
        if (existed) {
            snprintf(tmpname, sizeof(tmpname), ".drkit-restore-%08x%08x", randombytes_random(),
                     randombytes_random());
            wname = tmpname;
        }
        fd = openat(j->dirfd, wname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        named = true;
    }
    if (fd < 0) {
        drk_err_errno(DRK_EIO, errno, "cannot create '%s'", j->orig);
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
        goto done;
    }
    if (direct && !ws->dbuf && posix_memalign((void **)&ws->dbuf, DWRITE_ALIGN, DIRECT_BUF) != 0)
        abort();
    dwrite_init_buf(&dw, fd, direct, ws->dbuf, DIRECT_BUF, j->orig);
    for (uint32_t i = 0; i < n->ncontent; i++) {
        if (ws->have_last && !memcmp(ws->last.b, n->content[i].b, ID_LEN)) {
            r = 0; /* verified when it was read */
        } else {
            ws->have_last = false;
            r = blob_read(&ws->codec, R->repo, &n->content[i], BLOB_DATA, &ws->plain);
            if (r == 0) {
                ws->last = n->content[i];
                ws->have_last = true;
            }
        }
        if (r) {
            drk_err_wrap(r, "cannot restore '%s'", j->orig);
            report(R, r == DRK_EIO ? RESTORE_ERR_IO : RESTORE_ERR_INTEGRITY, j->orig,
                   drk_err_msg());
            goto fail;
        }
        r = sparse ? write_sparse(fd, ws->plain.data, ws->plain.len, j->orig)
                   : dwrite_write(&dw, ws->plain.data, ws->plain.len);
        if (r) {
            report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
            goto fail;
        }
        written += ws->plain.len;
        atomic_fetch_add(&R->prog->bytes, ws->plain.len);
        if (sig_interrupted())
            goto fail;
    }
    if ((r = dwrite_finish(&dw)) != 0) {
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
        goto fail;
    }
    if (written != n->size) {
        drk_err_set(DRK_ECORRUPT, "cannot restore '%s': content is %llu bytes, expected %llu",
                    j->orig, (unsigned long long)written, (unsigned long long)n->size);
        report(R, RESTORE_ERR_INTEGRITY, j->orig, drk_err_msg());
        goto fail;
    }
    if (sparse && ftruncate(fd, (off_t)n->size) != 0) {
        drk_err_errno(DRK_EIO, errno, "cannot set the size of '%s'", j->orig);
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
        goto fail;
    }
    if (fsmeta_apply_fd(fd, n, R->oc, &R->own, j->orig) != 0)
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
    if (!named && link_anon(j->dirfd, fd, n->name, existed) != 0) {
        drk_err_errno(DRK_EIO, errno, "cannot create '%s'", j->orig);
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
        goto fail;
    }
    close(fd);
    fd = -1;
    if (tmpname[0] && renameat(j->dirfd, tmpname, j->dirfd, n->name) != 0) {
        drk_err_errno(DRK_EIO, errno, "cannot replace '%s'", j->orig);
        report(R, RESTORE_ERR_IO, j->orig, drk_err_msg());
        unlinkat(j->dirfd, tmpname, 0);
        goto done;
    }
    pthread_mutex_lock(&R->mu);
    R->res->files_written++;
    R->res->bytes_written += written;
    pthread_mutex_unlock(&R->mu);
    goto done;
fail:
    if (fd >= 0)
        close(fd);
    if (named)
        unlinkat(j->dirfd, wname, 0); /* never leave wrong or partial bytes behind */
done:
    atomic_fetch_add(&R->prog->files, 1);
    close(j->dirfd);
    rtree_unref(j->rt);
    free(j->orig);
    free(j->rel);
    free(j);
}

/* Make sure dfd/name is a real directory (not a symlink) and open it. -1 if refused. */
static int
ensure_dir(struct restorer *R, int dfd, const char *name, const char *orig)
{
    struct stat st;
    int fd;
    if (mkdirat(dfd, name, 0700) != 0) {
        if (errno != EEXIST) {
            drk_err_errno(DRK_EIO, errno, "cannot create directory for '%s'", orig);
            report(R, RESTORE_ERR_IO, orig, drk_err_msg());
            return -1;
        }
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            drk_err_errno(DRK_EIO, errno, "cannot inspect '%s'", orig);
            report(R, RESTORE_ERR_IO, orig, drk_err_msg());
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            drk_err_set(DRK_EUNSAFE,
                        "not restoring below '%s': it is a symlink in the target "
                        "and drkit never writes through symlinks",
                        orig);
            report(R, RESTORE_ERR_UNSAFE, orig, drk_err_msg());
            return -1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (!R->o->delta || unlinkat(dfd, name, 0) != 0 || mkdirat(dfd, name, 0700) != 0) {
                drk_err_set(DRK_EIO,
                            "cannot restore directory '%s': something else is in the "
                            "way (restore with --delta to replace it)",
                            orig);
                report(R, RESTORE_ERR_IO, orig, drk_err_msg());
                return -1;
            }
        }
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        drk_err_errno(DRK_EIO, errno, "cannot open directory '%s'", orig);
        report(R, RESTORE_ERR_IO, orig, drk_err_msg());
    }
    return fd;
}

/* Remove whatever non-directory is at name (for symlinks, fifos, devices). */
static int
clear_way(struct restorer *R, int dfd, const char *name, const char *orig)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        if (!R->o->delta || fs_remove_at(dfd, name) != 0) {
            drk_err_set(DRK_EIO, "cannot restore '%s': a directory is in the way", orig);
            report(R, RESTORE_ERR_IO, orig, drk_err_msg());
            return -1;
        }
        return 0;
    }
    if (unlinkat(dfd, name, 0) != 0) {
        drk_err_errno(DRK_EIO, errno, "cannot replace '%s'", orig);
        report(R, RESTORE_ERR_IO, orig, drk_err_msg());
        return -1;
    }
    return 0;
}

static void
restore_special(struct restorer *R, int dfd, const struct node *n, const char *orig)
{
    int rc;
    if (clear_way(R, dfd, n->name, orig) != 0)
        return;
    switch (n->type) {
    case NODE_SYMLINK:
        rc = symlinkat(n->link, dfd, n->name);
        break;
    case NODE_FIFO:
        rc = mkfifoat(dfd, n->name, 0600);
        break;
    case NODE_CHARDEV:
    case NODE_BLOCKDEV:
        rc = mknodat(dfd, n->name, (n->type == NODE_CHARDEV ? S_IFCHR : S_IFBLK) | 0600,
                     (dev_t)n->rdev);
        break;
    default: /* sockets are recreated by the programs that own them */
        return;
    }
    if (rc != 0) {
        drk_err_errno(DRK_EIO, errno, "cannot create %s '%s'", node_type_name(n->type), orig);
        report(R, RESTORE_ERR_IO, orig, drk_err_msg());
        return;
    }
    if (fsmeta_apply_at(dfd, n->name, n, R->oc, &R->own, orig) != 0)
        report(R, RESTORE_ERR_IO, orig, drk_err_msg());
}

static struct node
clone_node(struct arena *a, const struct node *n)
{
    struct node c = *n;
    c.name = arena_strndup(a, n->name, n->name_len);
    c.user = arena_strdup(a, n->user);
    c.group = arena_strdup(a, n->group);
    c.link = arena_strndup(a, n->link, n->link_len);
    c.content = NULL;
    c.ncontent = 0;
    if (n->nxattrs) {
        c.xattrs = arena_alloc(a, n->nxattrs * sizeof(*c.xattrs));
        for (uint32_t i = 0; i < n->nxattrs; i++) {
            c.xattrs[i].name = arena_strdup(a, n->xattrs[i].name);
            c.xattrs[i].value = arena_memdup(a, n->xattrs[i].value, n->xattrs[i].len);
            c.xattrs[i].len = n->xattrs[i].len;
        }
    }
    return c;
}

/* Find or insert (dev, ino); returns the first path restored for it, or NULL if new. */
static const char *
hardlink_seen(struct restorer *R, const struct node *n, const char *rel)
{
    size_t mask, i;
    if ((R->hl_n + 1) * 2 > R->hl_cap) {
        struct hl_slot *old = R->hl;
        size_t oldcap = R->hl_cap;
        R->hl_cap = R->hl_cap ? R->hl_cap * 2 : 64;
        R->hl = xcalloc(R->hl_cap, sizeof(*R->hl));
        mask = R->hl_cap - 1;
        for (size_t k = 0; k < oldcap; k++) {
            if (!old[k].rel)
                continue;
            i = (old[k].ino * 0x9e3779b97f4a7c15ULL ^ old[k].dev) & mask;
            while (R->hl[i].rel)
                i = (i + 1) & mask;
            R->hl[i] = old[k];
        }
        free(old);
    }
    mask = R->hl_cap - 1;
    i = (n->ino * 0x9e3779b97f4a7c15ULL ^ n->dev) & mask;
    while (R->hl[i].rel) {
        if (R->hl[i].dev == n->dev && R->hl[i].ino == n->ino)
            return R->hl[i].rel;
        i = (i + 1) & mask;
    }
    R->hl[i].dev = n->dev;
    R->hl[i].ino = n->ino;
    R->hl[i].rel = xstrdup(rel);
    R->hl_n++;
    return NULL;
}

static struct rtree *
load_rtree(struct restorer *R, const struct blob_id *id, const char *orig)
{
    struct rtree *rt = xcalloc(1, sizeof(*rt));
    int r = tree_load(&rt->t, &R->codec, R->repo, id);
    if (r) {
        drk_err_wrap(r, "cannot restore '%s'", orig);
        report(R,
               r == DRK_EUNSAFE ? RESTORE_ERR_UNSAFE
               : r == DRK_EIO   ? RESTORE_ERR_IO
                                : RESTORE_ERR_INTEGRITY,
               orig, drk_err_msg());
        free(rt);
        return NULL;
    }
    atomic_store(&rt->refs, 1);
    return rt;
}

/* Is orig at or below one of the paths the snapshot backed up? */
static bool
within_backed(const struct snapshot *snap, const char *orig)
{
    size_t lo = strlen(orig);
    for (size_t i = 0; i < snap->paths.n; i++) {
        const char *p = snap->paths.v[i];
        size_t lp = strlen(p);
        if (lp == 1 && p[0] == '/')
            return true;
        if (lo >= lp && !memcmp(orig, p, lp) && (orig[lp] == '\0' || orig[lp] == '/'))
            return true;
    }
    return false;
}

/* Remove the entries of dfd that tree t does not hold (--delete). Runs before the
 * directory's own entries are written, so nothing restored is touched. */
static void
delete_extra(struct restorer *R, int dfd, const char *orig_dir, const struct tree *t)
{
    DIR *d = fs_opendir_dup(dfd);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char *orig;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (tree_find(t, de->d_name, strlen(de->d_name)))
            continue;
        /* (a ".drkit-restore-*" here is a leftover of a killed restore: this directory's own
         * files are only written after this pass) */
        orig = join(orig_dir, de->d_name);
        if (files_excluded((const char *const *)R->snap->excludes.v, R->snap->excludes.n, orig,
                           de->d_name)) {
            free(orig); /* left out of the backup on purpose: not ours to delete */
            continue;
        }
        if (fs_remove_at(dirfd(d), de->d_name) != 0) {
            drk_err_errno(DRK_EIO, errno, "cannot delete '%s'", orig);
            report(R, RESTORE_ERR_IO, orig, drk_err_msg());
        } else {
            log_detail("deleted '%s' (not in the snapshot)", orig);
            R->res->deleted++;
        }
        free(orig);
    }
    closedir(d);
}

static void
restore_dir(struct restorer *R, int dfd, const char *orig_dir, const char *rel_dir,
            struct rtree *rt, int depth)
{
    bool dir_all, dir_way;
    include_state(R->o, orig_dir, &dir_all, &dir_way);
    /* Only inside what the backup took in full: the directories on the way to a backed-up
     * path (/, /var, ...) hold much the snapshot never saw, and must not lose it. */
    if (R->o->delete_extra && dir_all && within_backed(R->snap, orig_dir))
        delete_extra(R, dfd, orig_dir, &rt->t);

    for (size_t i = 0; i < rt->t.n && !sig_interrupted(); i++) {
        const struct node *n = &rt->t.nodes[i];
        char *orig = join(orig_dir, n->name), *rel = join(rel_dir, n->name);
        bool all, way;

        include_state(R->o, orig, &all, &way);
        if (!all && !(way && n->type == NODE_DIR))
            goto next;
        if (n->type == NODE_DIR) {
            struct rtree *sub;
            struct dir_meta dm;
            int cfd;
            if (depth >= MAX_DEPTH) {
                report(R, RESTORE_ERR_UNSAFE, orig, "directory nesting is too deep");
                goto next;
            }
            if ((cfd = ensure_dir(R, dfd, n->name, orig)) < 0)
                goto next;
            R->res->dirs++;
            if ((sub = load_rtree(R, &n->subtree, orig)) != NULL) {
                restore_dir(R, cfd, orig, rel, sub, depth + 1);
                rtree_unref(sub);
            }
            close(cfd);
            if (all) { /* directories only passed through keep their metadata as is */
                dm.rel = rel;
                rel = NULL;
                dm.node = clone_node(&R->arena, n);
                vec_push(&R->dirs, dm);
            }
        } else if (n->type == NODE_FILE) {
            struct fjob *j;
            const char *first = n->nlink > 1 ? hardlink_seen(R, n, rel) : NULL;
            if (first) {
                struct link_op op = { xstrdup(first), rel, orig };
                vec_push(&R->links, op);
                rel = orig = NULL;
                goto next;
            }
            j = xcalloc(1, sizeof(*j));
            j->R = R;
            j->dirfd = dup(dfd);
            j->n = n;
            j->rt = rt;
            atomic_fetch_add(&rt->refs, 1);
            j->orig = orig;
            j->rel = rel;
            orig = rel = NULL;
            if (j->dirfd < 0) {
                report(R, RESTORE_ERR_IO, j->orig, "out of file descriptors");
                rtree_unref(rt);
                free(j->orig);
                free(j->rel);
                free(j);
                goto next;
            }
            pool_add(R->pool, file_job, j);
        } else {
            restore_special(R, dfd, n, orig);
            if (n->type == NODE_SYMLINK)
                R->res->links++;
            else
                R->res->others++;
            atomic_fetch_add(&R->prog->files, 1);
        }
    next:
        free(orig);
        free(rel);
    }
}

static void
make_links(struct restorer *R)
{
    for (size_t i = 0; i < R->links.n; i++) {
        struct link_op *op = &R->links.v[i];
        char *fdir, *tdir;
        const char *fbase, *tbase;
        int ffd, tfd;
        split_rel(op->from_rel, &fdir, &fbase);
        split_rel(op->to_rel, &tdir, &tbase);
        ffd = open_rel_dir(R->rootfd, fdir);
        tfd = open_rel_dir(R->rootfd, tdir);
        if (ffd < 0 || tfd < 0) {
            drk_err_errno(DRK_EIO, errno, "cannot create hardlink '%s'", op->orig);
            report(R, RESTORE_ERR_IO, op->orig, drk_err_msg());
        } else if (linkat(ffd, fbase, tfd, tbase, 0) != 0) {
            struct stat a, b;
            int e = errno;
            bool both = e == EEXIST && fstatat(ffd, fbase, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
                        fstatat(tfd, tbase, &b, AT_SYMLINK_NOFOLLOW) == 0;
            if (both && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                /* already linked (delta restore over an earlier restore) */
            } else if (both && !S_ISDIR(b.st_mode) && unlinkat(tfd, tbase, 0) == 0 &&
                       linkat(ffd, fbase, tfd, tbase, 0) == 0) {
                /* replaced what was in the way */
            } else {
                drk_err_errno(DRK_EIO, e, "cannot create hardlink '%s'", op->orig);
                report(R, RESTORE_ERR_IO, op->orig, drk_err_msg());
            }
        } else {
            R->res->files_written++;
        }
        atomic_fetch_add(&R->prog->files, 1);
        if (ffd >= 0)
            close(ffd);
        if (tfd >= 0)
            close(tfd);
        free(fdir);
        free(tdir);
    }
}

static void
apply_dir_meta(struct restorer *R)
{
    for (size_t i = 0; i < R->dirs.n; i++) {
        struct dir_meta *dm = &R->dirs.v[i];
        int fd = open_rel_dir(R->rootfd, dm->rel);
        if (fd < 0) {
            drk_err_errno(DRK_EIO, errno, "cannot reopen directory '%s'", dm->rel);
            report(R, RESTORE_ERR_IO, dm->rel, drk_err_msg());
            continue;
        }
        if (fsmeta_apply_fd(fd, &dm->node, R->oc, &R->own, dm->rel) != 0)
            report(R, RESTORE_ERR_IO, dm->rel, drk_err_msg());
        close(fd);
    }
}

static int
open_target(const char *target, int *out)
{
    int fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir(target, 0700) != 0) {
            int r =
                drk_err_errno(DRK_EIO, errno, "cannot create the target directory '%s'", target);
            drk_err_hint("create its parent directory first, or pick another --target");
            return r;
        }
        fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        return drk_err_errno(DRK_EIO, errno, "cannot open the target directory '%s'", target);
    *out = fd;
    return 0;
}

int
files_restore(struct repo *repo, const struct snapshot *snap, const struct files_restore_opts *o,
              struct restore_progress *prog, struct restore_result *res)
{
    struct restorer R;
    struct rtree *root;
    unsigned threads = o->threads ? o->threads : 1;
    int r;

    memset(res, 0, sizeof(*res));
    if (!snap->has_files && !o->root)
        return drk_err_set(DRK_ENOTFOUND, "snapshot '%s' has no files", snap->name);
    if ((r = repo_load_index(repo)) != 0)
        return r;
    memset(&R, 0, sizeof(R));
    R.repo = repo;
    R.snap = snap;
    R.o = o;
    R.prog = prog;
    R.res = res;
    R.own.numeric = o->numeric_owner;
    R.own.chown = geteuid() == 0;
    if ((r = open_target(o->target, &R.rootfd)) != 0)
        return r;
    R.oc = owner_cache_new();
    R.tmpfile_ok = access("/proc/self/fd", X_OK) == 0;
    {
        int probe = openat(R.rootfd, ".", O_WRONLY | O_TMPFILE | O_DIRECT | O_CLOEXEC, 0600);
        R.direct_ok = probe >= 0;
        if (probe >= 0)
            close(probe);
    }
    pthread_mutex_init(&R.mu, NULL);
    blob_codec_init(&R.codec);
    R.ws = xcalloc(threads, sizeof(*R.ws));
    for (unsigned i = 0; i < threads; i++)
        blob_codec_init(&R.ws[i].codec);
    if (o->nincludes == 0) {
        atomic_store(&prog->files_total,
                     o->root ? o->root_files
                             : snap->stats.files + snap->stats.links + snap->stats.others);
        atomic_store(&prog->bytes_total, o->root ? o->root_bytes : snap->stats.bytes);
    }
    R.pool = pool_new(threads, threads * QUEUE_PER_THREAD);
    root = load_rtree(&R, o->root ? o->root : &snap->files_tree, "/");
    if (root) {
        restore_dir(&R, R.rootfd, "/", "", root, 0);
        rtree_unref(root);
    }
    pool_wait(R.pool);
    pool_free(R.pool);
    if (!sig_interrupted()) {
        make_links(&R);
        apply_dir_meta(&R);
    }
    r = sig_interrupted() ? drk_err_set(DRK_EINTR, "interrupted") : 0;

    for (unsigned i = 0; i < threads; i++) {
        blob_codec_release(&R.ws[i].codec);
        buf_release(&R.ws[i].plain);
        free(R.ws[i].cmpbuf);
        free(R.ws[i].dbuf);
    }
    free(R.ws);
    for (size_t i = 0; i < R.dirs.n; i++)
        free(R.dirs.v[i].rel);
    vec_free(&R.dirs);
    for (size_t i = 0; i < R.links.n; i++) {
        free(R.links.v[i].from_rel);
        free(R.links.v[i].to_rel);
        free(R.links.v[i].orig);
    }
    vec_free(&R.links);
    for (size_t i = 0; i < R.hl_cap; i++)
        free(R.hl[i].rel);
    free(R.hl);
    arena_release(&R.arena);
    blob_codec_release(&R.codec);
    owner_cache_free(R.oc);
    pthread_mutex_destroy(&R.mu);
    close(R.rootfd);
    return r;
}

void
restore_result_release(struct restore_result *res)
{
    for (size_t i = 0; i < res->errors.n; i++) {
        free(res->errors.v[i].path);
        free(res->errors.v[i].message);
    }
    vec_free(&res->errors);
}
