/* fs: complete reads/writes, atomic file replacement, directory helpers. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "err.h"
#include "xalloc.h"
#include "banned.h"

int
fs_write_all(int fd, const void *p, size_t n, const char *what)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return drk_err_errno(DRK_EIO, errno, "cannot write '%s'", what);
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int
fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off, const char *what)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return drk_err_errno(DRK_EIO, errno, "cannot write '%s'", what);
        }
        c += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int
fs_pread_all(int fd, void *p, size_t n, uint64_t off, const char *what)
{
    unsigned char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return drk_err_errno(DRK_EIO, errno, "cannot read '%s'", what);
        }
        if (r == 0)
            return drk_err_set(DRK_EIO, "cannot read '%s': unexpected end of file", what);
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int
fs_read_full(int fd, void *p, size_t n, size_t *got, const char *what)
{
    unsigned char *c = p;
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, c + done, n - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return drk_err_errno(DRK_EIO, errno, "cannot read '%s'", what);
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int
fs_read_file(const char *path, struct buf *out, size_t max)
{
    int fd, r = 0;
    struct stat st;
    size_t got;

    buf_reset(out);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return drk_err_errno(DRK_EIO, errno, "cannot open '%s'", path);
    if (fstat(fd, &st) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot stat '%s'", path);
        goto out;
    }
    if (max && (uint64_t)st.st_size > max) {
        r = drk_err_set(DRK_ETOOBIG, "'%s' is larger than %zu bytes", path, max);
        goto out;
    }
    for (;;) {
        size_t chunk = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
        unsigned char *dst;
        if (max && out->len + chunk > max + 1)
            chunk = max + 1 - out->len;
        if ((dst = buf_reserve(out, chunk)) == NULL) {
            r = drk_err_code();
            goto out;
        }
        if ((r = fs_read_full(fd, dst, chunk, &got, path)) != 0)
            goto out;
        buf_setlen(out, out->len + got);
        if (max && out->len > max) {
            r = drk_err_set(DRK_ETOOBIG, "'%s' is larger than %zu bytes", path, max);
            goto out;
        }
        if (got < chunk)
            break;
    }
out:
    close(fd);
    return r;
}

int
fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return drk_err_errno(DRK_EIO, errno, "cannot open directory '%s'", dir);
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return drk_err_errno(DRK_EIO, e, "cannot sync directory '%s'", dir);
    }
    close(fd);
    return 0;
}

int
fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char *tmp = xasprintf("%s.tmp-%ld-%u", path, (long)getpid(), randombytes_random());
    char *dir = xstrdup(path), *slash;
    int fd, r = 0;

    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else {
        free(dir);
        dir = xstrdup(".");
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot create '%s'", tmp);
        goto out;
    }
    if ((r = fs_write_all(fd, data, len, tmp)) != 0)
        goto fail;
    if (fsync(fd) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot sync '%s'", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        r = drk_err_errno(DRK_EIO, errno, "cannot close '%s'", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto fail;
    }
    r = fs_fsync_dir(dir);
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dir);
    return r;
}

int
fs_mkdir_p(const char *path, mode_t mode)
{
    char *p;
    int r = 0;
    if (!*path)
        return drk_err_set(DRK_EIO, "cannot create a directory with an empty name");
    p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, mode) != 0 && errno != EEXIST) {
                r = drk_err_errno(DRK_EIO, errno, "cannot create directory '%s'", p);
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (r == 0) {
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            r = drk_err_set(DRK_EIO, "'%s' exists and is not a directory", path);
    }
    free(p);
    return r;
}

char *
fs_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/')
        return xasprintf("%s%s", dir, name);
    return xasprintf("%s/%s", dir, name);
}

char *
fs_abspath(const char *path)
{
    char cwd[PATH_MAX];
    char *full, *out;
    size_t o = 0;

    if (path[0] == '/') {
        full = xstrdup(path);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return xstrdup(path);
        full = fs_join(cwd, path);
    }
    out = xmalloc(strlen(full) + 2);
    for (size_t i = 0; full[i];) {
        if (full[i] == '/') {
            /* skip repeated slashes and "." components */
            while (full[i] == '/')
                i++;
            if (full[i] == '.' && (full[i + 1] == '/' || full[i + 1] == '\0')) {
                i++;
                continue;
            }
            out[o++] = '/';
            continue;
        }
        out[o++] = full[i++];
    }
    while (o > 1 && out[o - 1] == '/')
        o--;
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(full);
    return out;
}

int
fs_remove_at(int parent, const char *name)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        if (fd < 0)
            return -1;
        d = fdopendir(fd);
        if (!d) {
            close(fd);
            return -1;
        }
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (fs_remove_at(dirfd(d), de->d_name) != 0) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
        return unlinkat(parent, name, AT_REMOVEDIR);
    }
    return unlinkat(parent, name, 0);
}

int
fs_remove_tree(const char *path)
{
    if (fs_remove_at(AT_FDCWD, path) != 0)
        return drk_err_errno(DRK_EIO, errno, "cannot remove '%s'", path);
    return 0;
}

DIR *
fs_opendir_dup(int dfd)
{
    int fd2 = dup(dfd);
    DIR *d;
    if (fd2 < 0)
        return NULL;
    d = fdopendir(fd2);
    if (!d) {
        int e = errno;
        close(fd2);
        errno = e;
    }
    return d;
}
