/*
 * local: a repository in a directory of the local filesystem.
 *
 * Small objects are written to a dot-named temporary file in their directory, fsynced and
 * renamed (or hard-linked for STOR_PUT_EXCL, which fails atomically when the name exists).
 * Staging files (packs) are anonymous O_TMPFILE files in <root>/tmp, so a crash leaves
 * nothing behind; they get their name with linkat() once complete and synced. Where
 * O_TMPFILE is unsupported, a dot-named file in <root>/tmp is renamed instead.
 * Reads of pack ranges go through a small cache of open descriptors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <sodium.h>

#include "storage/storage.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define FD_CACHE_SLOTS 48
#define FILE_MODE      0600
#define DIR_MODE       0700

struct fd_slot {
    char *key;
    int fd;
    unsigned refs;
    uint64_t last_use;
};

struct local {
    char *root;
    pthread_mutex_t mu;
    struct fd_slot slots[FD_CACHE_SLOTS];
    uint64_t tick;
    VEC(char *) dirty_dirs; /* directories that got new entries since the last sync */
};

static char *
key_path(const struct local *l, const char *key)
{
    return fs_join(l->root, key);
}

static int
local_open(void **out, const char *location, const struct stor_params *params)
{
    (void)params;
    struct local *l = xcalloc(1, sizeof(*l));
    size_t n;
    l->root = xstrdup(location);
    n = strlen(l->root);
    while (n > 1 && l->root[n - 1] == '/')
        l->root[--n] = '\0';
    pthread_mutex_init(&l->mu, NULL);
    for (int i = 0; i < FD_CACHE_SLOTS; i++)
        l->slots[i].fd = -1;
    *out = l;
    return 0;
}

static void
local_close(void *be)
{
    struct local *l = be;
    for (int i = 0; i < FD_CACHE_SLOTS; i++) {
        if (l->slots[i].fd >= 0)
            close(l->slots[i].fd);
        free(l->slots[i].key);
    }
    for (size_t i = 0; i < l->dirty_dirs.n; i++)
        free(l->dirty_dirs.v[i]);
    vec_free(&l->dirty_dirs);
    pthread_mutex_destroy(&l->mu);
    free(l->root);
    free(l);
}

static int
local_create(void *be, const char *const *dirs)
{
    struct local *l = be;
    char *cfg = key_path(l, "config");
    struct stat st;
    int r;

    if (stat(cfg, &st) == 0) {
        free(cfg);
        return drk_err_set(DRK_EEXIST, "'%s' already holds a repository", l->root);
    }
    free(cfg);
    if ((r = fs_mkdir_p(l->root, DIR_MODE)) != 0)
        return r;
    for (size_t i = 0; dirs && dirs[i]; i++) {
        char *p = key_path(l, dirs[i]);
        r = fs_mkdir_p(p, DIR_MODE);
        free(p);
        if (r)
            return r;
    }
    return fs_fsync_dir(l->root);
}

static void
mark_dirty(struct local *l, const char *dir)
{
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->dirty_dirs.n; i++) {
        if (!strcmp(l->dirty_dirs.v[i], dir)) {
            pthread_mutex_unlock(&l->mu);
            return;
        }
    }
    vec_push(&l->dirty_dirs, xstrdup(dir));
    pthread_mutex_unlock(&l->mu);
}

static char *
dir_of(const char *path)
{
    char *d = xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash && slash != d)
        *slash = '\0';
    return d;
}

/* Write data to a fresh temporary file in dir; returns its path (caller frees) or NULL. */
static char *
write_temp(const char *dir, const void *data, size_t len, int *rc)
{
    char *tmp = xasprintf("%s/.tmp-%08x%08x", dir, randombytes_random(), randombytes_random());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
    if (fd < 0 && errno == ENOENT) {
        if ((*rc = fs_mkdir_p(dir, DIR_MODE)) != 0) {
            free(tmp);
            return NULL;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
    }
    if (fd < 0) {
        *rc = drk_err_errno(DRK_EIO, errno, "cannot create '%s'", tmp);
        free(tmp);
        return NULL;
    }
    if ((*rc = fs_write_all(fd, data, len, tmp)) == 0 && fsync(fd) != 0)
        *rc = drk_err_errno(DRK_EIO, errno, "cannot sync '%s'", tmp);
    if (close(fd) != 0 && *rc == 0)
        *rc = drk_err_errno(DRK_EIO, errno, "cannot close '%s'", tmp);
    if (*rc) {
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

static int
local_put(void *be, const char *key, const void *data, size_t len, unsigned flags)
{
    struct local *l = be;
    char *path = key_path(l, key), *dir = dir_of(path), *tmp;
    int r = 0;

    tmp = write_temp(dir, data, len, &r);
    if (!tmp)
        goto out;
    if (flags & STOR_PUT_EXCL) {
        if (link(tmp, path) != 0) {
            r = errno == EEXIST ? drk_err_set(DRK_EEXIST, "'%s' already exists", path)
                                : drk_err_errno(DRK_EIO, errno, "cannot create '%s'", path);
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot rename '%s' to '%s'", tmp, path);
        unlink(tmp);
    }
    if (r == 0)
        r = fs_fsync_dir(dir);
    free(tmp);
out:
    free(path);
    free(dir);
    return r;
}

static int
local_get(void *be, const char *key, struct buf *out, size_t max)
{
    struct local *l = be;
    char *path = key_path(l, key);
    int r = fs_read_file(path, out, max);
    free(path);
    return r;
}

/* Take a cached descriptor for key (opening it if needed); *slot is -1 if uncached. */
static int
fd_acquire(struct local *l, const char *key, int *slot_out, int *fd_out)
{
    int free_slot = -1, lru = -1, fd;
    char *path;

    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < FD_CACHE_SLOTS; i++) {
        struct fd_slot *s = &l->slots[i];
        if (s->key && !strcmp(s->key, key)) {
            s->refs++;
            s->last_use = ++l->tick;
            *slot_out = i;
            *fd_out = s->fd;
            pthread_mutex_unlock(&l->mu);
            return 0;
        }
        if (!s->key && free_slot < 0)
            free_slot = i;
        if (s->key && s->refs == 0 && (lru < 0 || s->last_use < l->slots[lru].last_use))
            lru = i;
    }
    pthread_mutex_unlock(&l->mu);

    path = key_path(l, key);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = drk_err_errno(DRK_EIO, errno, "cannot open '%s'", path);
        free(path);
        return r;
    }
    free(path);

    pthread_mutex_lock(&l->mu);
    if (free_slot >= 0 && l->slots[free_slot].key)
        free_slot = -1; /* taken meanwhile */
    if (free_slot < 0 && lru >= 0 && l->slots[lru].key && l->slots[lru].refs == 0) {
        close(l->slots[lru].fd);
        free(l->slots[lru].key);
        l->slots[lru].key = NULL;
        l->slots[lru].fd = -1;
        free_slot = lru;
    }
    if (free_slot >= 0 && !l->slots[free_slot].key) {
        struct fd_slot *s = &l->slots[free_slot];
        s->key = xstrdup(key);
        s->fd = fd;
        s->refs = 1;
        s->last_use = ++l->tick;
        *slot_out = free_slot;
    } else {
        *slot_out = -1;
    }
    pthread_mutex_unlock(&l->mu);
    *fd_out = fd;
    return 0;
}

static void
fd_release(struct local *l, int slot, int fd)
{
    if (slot < 0) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->slots[slot].refs--;
    pthread_mutex_unlock(&l->mu);
}

static void
fd_forget(struct local *l, const char *key)
{
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < FD_CACHE_SLOTS; i++) {
        struct fd_slot *s = &l->slots[i];
        if (s->key && !strcmp(s->key, key) && s->refs == 0) {
            close(s->fd);
            free(s->key);
            s->key = NULL;
            s->fd = -1;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

static int
local_get_range(void *be, const char *key, uint64_t off, size_t len, void *dst)
{
    struct local *l = be;
    int slot = -1, fd = -1, r;
    if ((r = fd_acquire(l, key, &slot, &fd)) != 0)
        return r;
    r = fs_pread_all(fd, dst, len, off, key);
    fd_release(l, slot, fd);
    if (r == DRK_EIO && strstr(drk_err_msg(), "unexpected end of file"))
        r = drk_err_set(DRK_ECORRUPT, "'%s' is shorter than expected (truncated or damaged)", key);
    return r;
}

static int
list_dir(const char *abs, const char *rel, stor_list_cb cb, void *arg)
{
    DIR *d = opendir(abs);
    struct dirent *de;
    int r = 0;

    if (!d) {
        if (errno == ENOENT)
            return 0;
        return drk_err_errno(DRK_EIO, errno, "cannot list '%s'", abs);
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char *name;
        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* vanished meanwhile */
        name = rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        if (S_ISDIR(st.st_mode)) {
            char *sub = fs_join(abs, de->d_name);
            r = list_dir(sub, name, cb, arg);
            free(sub);
        } else if (S_ISREG(st.st_mode)) {
            r = cb(arg, name, (uint64_t)st.st_size);
        }
        free(name);
        if (r)
            break;
    }
    closedir(d);
    return r;
}

static int
local_list(void *be, const char *dir, stor_list_cb cb, void *arg)
{
    struct local *l = be;
    char *abs = key_path(l, dir);
    int r = list_dir(abs, NULL, cb, arg);
    free(abs);
    return r;
}

static int
local_del(void *be, const char *key)
{
    struct local *l = be;
    char *path = key_path(l, key);
    int r = 0;
    fd_forget(l, key);
    if (unlink(path) != 0)
        r = errno == ENOENT ? drk_err_set(DRK_ENOTFOUND, "'%s' does not exist", path)
                            : drk_err_errno(DRK_EIO, errno, "cannot delete '%s'", path);
    free(path);
    return r;
}

static int
local_stat(void *be, const char *key, uint64_t *size)
{
    struct local *l = be;
    char *path = key_path(l, key);
    struct stat st;
    int r = 0;
    if (stat(path, &st) != 0)
        r = errno == ENOENT ? drk_err_set(DRK_ENOTFOUND, "'%s' does not exist", path)
                            : drk_err_errno(DRK_EIO, errno, "cannot stat '%s'", path);
    else
        *size = (uint64_t)st.st_size;
    free(path);
    return r;
}

static int
local_tmp_open(void *be, struct stor_tmp *out, unsigned flags)
{
    struct local *l = be;
    char *dir = fs_join(l->root, "tmp");
    int fd = -1;

    memset(out, 0, sizeof(*out));
    if (flags & STOR_TMP_DIRECT) {
        /* Packs are written once and not read back soon: O_DIRECT spares the page cache
         * (and its copy, which costs more CPU than the encryption on some machines). */
        fd = open(dir, O_RDWR | O_TMPFILE | O_DIRECT | O_CLOEXEC, FILE_MODE);
        if (fd >= 0) {
            out->fd = fd;
            out->direct = true;
            free(dir);
            return 0;
        }
    }
    fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, FILE_MODE);
    if (fd < 0 && errno == ENOENT) {
        int r = fs_mkdir_p(dir, DIR_MODE);
        if (r) {
            free(dir);
            return r;
        }
        fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, FILE_MODE);
    }
    if (fd >= 0) {
        out->fd = fd;
        free(dir);
        return 0;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        int r = drk_err_errno(DRK_EIO, errno, "cannot create a temporary file in '%s'", dir);
        free(dir);
        return r;
    }
    out->path = xasprintf("%s/.pack-%08x%08x", dir, randombytes_random(), randombytes_random());
    free(dir);
    fd = open(out->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
    if (fd < 0) {
        int r = drk_err_errno(DRK_EIO, errno, "cannot create '%s'", out->path);
        free(out->path);
        out->path = NULL;
        return r;
    }
    out->fd = fd;
    return 0;
}

static void
local_tmp_discard(void *be, struct stor_tmp *tmp)
{
    (void)be;
    if (tmp->fd >= 0)
        close(tmp->fd);
    if (tmp->path) {
        unlink(tmp->path);
        free(tmp->path);
    }
    tmp->fd = -1;
    tmp->path = NULL;
}

static int
local_tmp_commit(void *be, struct stor_tmp *tmp, const char *key)
{
    struct local *l = be;
    char *path = key_path(l, key), *dir = dir_of(path);
    int r = 0, rc = -1;

    if (fsync(tmp->fd) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot sync a new file for '%s'", path);
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (tmp->path) {
            rc = rename(tmp->path, path);
        } else {
            char proc[64];
            snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tmp->fd);
            rc = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
        }
        if (rc == 0 || errno != ENOENT || attempt > 0)
            break;
        if ((r = fs_mkdir_p(dir, DIR_MODE)) != 0)
            goto out;
    }
    if (rc != 0 && errno != EEXIST) /* EEXIST: same name, same content-addressed bytes */
        r = drk_err_errno(DRK_EIO, errno, "cannot create '%s'", path);
    else
        mark_dirty(l, dir);
out:
    local_tmp_discard(be, tmp);
    free(path);
    free(dir);
    return r;
}

static int
local_sync(void *be)
{
    struct local *l = be;
    int r = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->dirty_dirs.n; i++) {
        if (r == 0)
            r = fs_fsync_dir(l->dirty_dirs.v[i]);
        free(l->dirty_dirs.v[i]);
    }
    l->dirty_dirs.n = 0;
    pthread_mutex_unlock(&l->mu);
    return r;
}

/* Network file systems may not carry flock between machines: there, liveness falls back to
 * the lock file's host, pid and age. */
static bool
flock_trustworthy(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return false;
    switch ((unsigned long)sf.f_type) {
    case 0x6969:     /* NFS */
    case 0xFF534D42: /* CIFS */
    case 0xFE534D42: /* SMB2 */
    case 0x65735546: /* FUSE */
    case 0x517B:     /* SMB */
        return false;
    default:
        return true;
    }
}

/* The holder takes an exclusive flock and waits for it: the lock file is new and randomly
 * named, so the only others that can hold a flock on it are local_lock_held's probes, for a
 * moment. (Giving up when a probe happened to hold it would leave a live lock without its
 * kernel lock, which every later probe takes for the lock of a dead process.) */
static int
local_lock_hold(void *be, const char *key, int *handle)
{
    struct local *l = be;
    char *path = key_path(l, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;
    *handle = -1;
    while (fd >= 0 && (r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r == 0)
        *handle = fd;
    else if (fd >= 0)
        close(fd);
    free(path);
    return 0; /* without a kernel lock the lock file alone still works */
}

static void
local_lock_drop(void *be, int handle)
{
    (void)be;
    if (handle >= 0)
        close(handle); /* releases the flock */
}

static int
local_lock_held(void *be, const char *key)
{
    struct local *l = be;
    char *path = key_path(l, key);
    int fd, r;
    if (!flock_trustworthy(path)) {
        free(path);
        return 2;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return errno == ENOENT ? DRK_ENOTFOUND : 2;
    /* shared: probes of several processes at once do not see each other as the holder */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        r = 0; /* nobody holds it: its process is gone */
    else
        r = errno == EWOULDBLOCK ? 1 : 2;
    close(fd); /* and with it our probe lock */
    return r;
}

const struct stor_ops stor_local_ops = {
    .version = 1,
    .scheme = "file",
    .open = local_open,
    .close = local_close,
    .create = local_create,
    .put = local_put,
    .get = local_get,
    .get_range = local_get_range,
    .list = local_list,
    .del = local_del,
    .stat = local_stat,
    .tmp_open = local_tmp_open,
    .tmp_commit = local_tmp_commit,
    .tmp_discard = local_tmp_discard,
    .sync = local_sync,
    .lock_hold = local_lock_hold,
    .lock_drop = local_lock_drop,
    .lock_held = local_lock_held,
};
