/* fsmeta: metadata capture and application. */
#include "source/fsmeta.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "repo/tree.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/log.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct id_name {
    unsigned id;
    char *name; /* "" when the id has no name */
};

struct name_id {
    char *name;
    unsigned id;
    bool found;
};

struct owner_cache {
    pthread_mutex_t mu;
    VEC(struct id_name) users, groups;
    VEC(struct name_id) user_ids, group_ids;
};

struct owner_cache *
owner_cache_new(void)
{
    struct owner_cache *oc = xcalloc(1, sizeof(*oc));
    pthread_mutex_init(&oc->mu, NULL);
    return oc;
}

void
owner_cache_free(struct owner_cache *oc)
{
    if (!oc)
        return;
    for (size_t i = 0; i < oc->users.n; i++)
        free(oc->users.v[i].name);
    for (size_t i = 0; i < oc->groups.n; i++)
        free(oc->groups.v[i].name);
    for (size_t i = 0; i < oc->user_ids.n; i++)
        free(oc->user_ids.v[i].name);
    for (size_t i = 0; i < oc->group_ids.n; i++)
        free(oc->group_ids.v[i].name);
    vec_free(&oc->users);
    vec_free(&oc->groups);
    vec_free(&oc->user_ids);
    vec_free(&oc->group_ids);
    pthread_mutex_destroy(&oc->mu);
    free(oc);
}

static const char *
id_to_name(struct owner_cache *oc, unsigned id, bool group)
{
    char tmp[4096], *name;
    const char *res;
    struct id_name e;

    pthread_mutex_lock(&oc->mu);
    for (size_t i = 0; i < (group ? oc->groups.n : oc->users.n); i++) {
        struct id_name *c = group ? &oc->groups.v[i] : &oc->users.v[i];
        if (c->id == id) {
            res = c->name;
            pthread_mutex_unlock(&oc->mu);
            return res;
        }
    }
    if (group) {
        struct group gr, *g = NULL;
        name =
            getgrgid_r(id, &gr, tmp, sizeof(tmp), &g) == 0 && g ? xstrdup(g->gr_name) : xstrdup("");
    } else {
        struct passwd pw, *p = NULL;
        name =
            getpwuid_r(id, &pw, tmp, sizeof(tmp), &p) == 0 && p ? xstrdup(p->pw_name) : xstrdup("");
    }
    if (strlen(name) > 255)
        name[255] = '\0';
    e.id = id;
    e.name = name;
    if (group)
        vec_push(&oc->groups, e);
    else
        vec_push(&oc->users, e);
    pthread_mutex_unlock(&oc->mu);
    return name;
}

static bool
name_to_id(struct owner_cache *oc, const char *name, bool group, unsigned *out)
{
    char tmp[4096];
    struct name_id e;
    bool found;

    if (!name[0])
        return false;
    pthread_mutex_lock(&oc->mu);
    for (size_t i = 0; i < (group ? oc->group_ids.n : oc->user_ids.n); i++) {
        struct name_id *c = group ? &oc->group_ids.v[i] : &oc->user_ids.v[i];
        if (!strcmp(c->name, name)) {
            *out = c->id;
            found = c->found;
            pthread_mutex_unlock(&oc->mu);
            return found;
        }
    }
    e.name = xstrdup(name);
    e.id = 0;
    e.found = false;
    if (group) {
        struct group gr, *g = NULL;
        if (getgrnam_r(name, &gr, tmp, sizeof(tmp), &g) == 0 && g) {
            e.id = g->gr_gid;
            e.found = true;
        }
        vec_push(&oc->group_ids, e);
    } else {
        struct passwd pw, *p = NULL;
        if (getpwnam_r(name, &pw, tmp, sizeof(tmp), &p) == 0 && p) {
            e.id = p->pw_uid;
            e.found = true;
        }
        vec_push(&oc->user_ids, e);
    }
    *out = e.id;
    pthread_mutex_unlock(&oc->mu);
    return e.found;
}

static uint8_t
type_of(mode_t m)
{
    if (S_ISREG(m))
        return NODE_FILE;
    if (S_ISDIR(m))
        return NODE_DIR;
    if (S_ISLNK(m))
        return NODE_SYMLINK;
    if (S_ISCHR(m))
        return NODE_CHARDEV;
    if (S_ISBLK(m))
        return NODE_BLOCKDEV;
    if (S_ISFIFO(m))
        return NODE_FIFO;
    return NODE_SOCKET;
}

static void
capture_xattrs(struct node *n, struct arena *arena, const char *path)
{
    char stackbuf[4096], *names = stackbuf;
    ssize_t len = llistxattr(path, stackbuf, sizeof(stackbuf));
    size_t count = 0, k = 0;

    if (len < 0 && errno == ERANGE) {
        len = llistxattr(path, NULL, 0);
        if (len > 0) {
            names = xmalloc((size_t)len);
            len = llistxattr(path, names, (size_t)len);
        }
    }
    if (len <= 0) {
        if (len < 0 && errno != ENOTSUP && errno != ENOENT)
            log_warn("cannot list extended attributes of '%s': %s", path, strerror(errno));
        goto out;
    }
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
        count++;
    if (count > TREE_XATTR_MAX)
        count = TREE_XATTR_MAX;
    n->xattrs = arena_alloc(arena, count * sizeof(*n->xattrs));
    for (ssize_t i = 0; i < len && k < count; i += (ssize_t)strlen(names + i) + 1) {
        const char *an = names + i;
        ssize_t vl = lgetxattr(path, an, NULL, 0);
        unsigned char *val;
        if (vl < 0) {
            log_warn("cannot read extended attribute '%s' of '%s': %s", an, path, strerror(errno));
            continue;
        }
        val = arena_alloc(arena, (size_t)vl + 1);
        vl = lgetxattr(path, an, val, (size_t)vl);
        if (vl < 0)
            continue;
        n->xattrs[k].name = arena_strdup(arena, an);
        n->xattrs[k].value = val;
        n->xattrs[k].len = (uint32_t)vl;
        k++;
    }
    n->nxattrs = (uint32_t)k;
out:
    if (names != stackbuf)
        free(names);
}

int
fsmeta_capture(struct node *n, struct arena *arena, const char *path, const char *name,
               size_t name_len, const struct stat *st, struct owner_cache *oc)
{
    n->name = arena_strndup(arena, name, name_len);
    n->name_len = name_len;
    n->type = type_of(st->st_mode);
    n->flags = 0;
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->user = (char *)id_to_name(oc, st->st_uid, false);
    n->group = (char *)id_to_name(oc, st->st_gid, true);
    n->mtime_sec = st->st_mtim.tv_sec;
    n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    n->ctime_sec = st->st_ctim.tv_sec;
    n->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
    n->dev = st->st_dev;
    n->ino = st->st_ino;
    n->nlink = (uint32_t)st->st_nlink;
    n->size = n->type == NODE_FILE ? (uint64_t)st->st_size : 0;
    n->rdev = (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV) ? st->st_rdev : 0;
    if (n->type == NODE_FILE && st->st_size > 0 &&
        (uint64_t)st->st_blocks * 512 + 1048576 <= (uint64_t)st->st_size)
        n->flags |= NODE_FLAG_SPARSE;
    if (n->type == NODE_SYMLINK) {
        char target[TREE_LINK_MAX + 1];
        ssize_t len = readlink(path, target, sizeof(target));
        if (len < 0)
            return drk_err_errno(DRK_EIO, errno, "cannot read symlink '%s'", path);
        if ((size_t)len > TREE_LINK_MAX)
            return drk_err_set(DRK_ETOOBIG, "symlink '%s' has a target longer than %d bytes", path,
                               TREE_LINK_MAX);
        n->link = arena_strndup(arena, target, (size_t)len);
        n->link_len = (size_t)len;
    }
    if (n->type != NODE_SOCKET)
        capture_xattrs(n, arena, path);
    return 0;
}

bool
fsmeta_unchanged(const struct node *n, const struct stat *st)
{
    return n->type == NODE_FILE && S_ISREG(st->st_mode) && n->size == (uint64_t)st->st_size &&
           n->mtime_sec == st->st_mtim.tv_sec && n->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec &&
           n->ctime_sec == st->st_ctim.tv_sec && n->ctime_nsec == (uint32_t)st->st_ctim.tv_nsec &&
           n->ino == st->st_ino;
}

void
fsmeta_restore_ids(const struct node *n, struct owner_cache *oc, bool numeric, uid_t *uid,
                   gid_t *gid)
{
    unsigned v;
    *uid = n->uid;
    *gid = n->gid;
    if (numeric)
        return;
    if (name_to_id(oc, n->user, false, &v))
        *uid = v;
    if (name_to_id(oc, n->group, true, &v))
        *gid = v;
}

static int
apply_xattrs_fd(int fd, const struct node *n, const char *what)
{
    for (uint32_t i = 0; i < n->nxattrs; i++) {
        if (fsetxattr(fd, n->xattrs[i].name, n->xattrs[i].value, n->xattrs[i].len, 0) != 0 &&
            errno != ENOTSUP)
            return drk_err_errno(DRK_EIO, errno, "cannot set extended attribute '%s' on '%s'",
                                 n->xattrs[i].name, what);
    }
    return 0;
}

int
fsmeta_apply_fd(int fd, const struct node *n, struct owner_cache *oc,
                const struct restore_owner_opts *o, const char *what)
{
    struct timespec ts[2];
    int r;

    if (o->chown) {
        uid_t uid;
        gid_t gid;
        fsmeta_restore_ids(n, oc, o->numeric, &uid, &gid);
        if (fchown(fd, uid, gid) != 0)
            return drk_err_errno(DRK_EIO, errno, "cannot set the owner of '%s'", what);
    }
    if (fchmod(fd, n->mode) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot set the mode of '%s'", what);
    if ((r = apply_xattrs_fd(fd, n, what)) != 0)
        return r;
    ts[0].tv_sec = n->mtime_sec;
    ts[0].tv_nsec = n->mtime_nsec;
    ts[1] = ts[0];
    if (futimens(fd, ts) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot set the time of '%s'", what);
    return 0;
}

int
fsmeta_apply_at(int dirfd, const char *name, const struct node *n, struct owner_cache *oc,
                const struct restore_owner_opts *o, const char *what)
{
    struct timespec ts[2];
    char proc[64];
    int pfd;

    if (o->chown) {
        uid_t uid;
        gid_t gid;
        fsmeta_restore_ids(n, oc, o->numeric, &uid, &gid);
        if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            return drk_err_errno(DRK_EIO, errno, "cannot set the owner of '%s'", what);
    }
    if (n->type != NODE_SYMLINK && fchmodat(dirfd, name, n->mode, 0) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot set the mode of '%s'", what);
    if (n->nxattrs) {
        /* An O_PATH|O_NOFOLLOW descriptor is the entry itself, never a symlink's target;
         * following its /proc magic link with setxattr reaches exactly that inode. */
        pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
            return drk_err_errno(DRK_EIO, errno, "cannot open '%s'", what);
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        for (uint32_t i = 0; i < n->nxattrs; i++) {
            if (setxattr(proc, n->xattrs[i].name, n->xattrs[i].value, n->xattrs[i].len, 0) != 0 &&
                errno != ENOTSUP && errno != EPERM) {
                int e = errno;
                close(pfd);
                return drk_err_errno(DRK_EIO, e, "cannot set extended attribute '%s' on '%s'",
                                     n->xattrs[i].name, what);
            }
        }
        close(pfd);
    }
    ts[0].tv_sec = n->mtime_sec;
    ts[0].tv_nsec = n->mtime_nsec;
    ts[1] = ts[0];
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot set the time of '%s'", what);
    return 0;
}
