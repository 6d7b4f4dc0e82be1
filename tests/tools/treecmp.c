/*
 * treecmp: compare two directory trees exactly, for drkit's end-to-end tests.
 *
 * usage: treecmp [options] A B
 *
 * Walks A and B side by side without following symlinks (fstatat with AT_SYMLINK_NOFOLLOW,
 * openat with O_NOFOLLOW, every lookup relative to an open directory fd) and prints each
 * difference on its own line on stdout:
 *
 *     only in A: <path>                     only in B: <path>
 *     <path>: type regular vs symlink       <path>: mode 4755 vs 0755
 *     <path>: uid 0 vs 1234                 <path>: gid 0 vs 1234
 *     <path>: mtime <iso>.<ns>Z vs <iso>.<ns>Z
 *     <path>: rdev 1:3 vs 1:5               <path>: symlink target "a" vs "b"
 *     <path>: size 10 vs 12                 <path>: content differs at byte 4096
 *     <path>: xattr user.x only in A        <path>: xattr user.x value differs ("a" vs "b")
 *     <path>: not sparse (allocated 3145728 vs 526385152)
 *     <path>: hardlinks differ (linked with x, y vs not linked)
 *
 * Paths are relative to the roots ("." is the root itself); bytes outside printable ASCII are
 * written as \xNN and a backslash as \\, so every difference is one line whatever the names hold.
 * Exit status: 0 identical, 1 differences, 2 usage or I/O error (an I/O error wins over
 * differences: the comparison is then incomplete).
 *
 * Options:
 *     --no-owner          do not compare uid and gid
 *     --no-symlink-mtime  do not compare the mtime of symlinks
 *     --no-dir-mtime      do not compare the mtime of directories
 *     --no-xattr          do not compare extended attributes (this includes POSIX ACLs)
 *     --root-meta         also compare the metadata (mode, owner, mtime, xattrs) of A and B
 *     --ignore REL        skip REL and everything below it (repeatable)
 *     --summary           end with "treecmp: N entries compared, M differences"
 *
 * Hard links: the regular files present in both trees are partitioned by inode on each side and
 * the partitions must match (links to files outside the tree do not count). Sparseness: a file
 * whose allocation in A is at least 1 MiB below its size may be allocated in B at most
 * max(1 MiB, 10%) more than in A. Contents are streamed in 1 MiB blocks; ranges that are holes
 * in both files are skipped with SEEK_DATA.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAX_PRINTED 1000
#define BLOCK_SIZE  (1024 * 1024)
#define MIB         (1024LL * 1024LL)
#define SHOW_VALUE  64 /* xattr values up to this length are printed in full */
#define SHOW_LINKS  4  /* at most this many other names of a hardlink group are printed */

/* A growable byte string, always NUL-terminated past len. */
struct sbuf {
    char *data;
    size_t len;
    size_t cap;
};

/* One regular file present in both trees with more than one link on either side. */
struct link_rec {
    char *path;
    size_t path_len;
    dev_t dev[2];
    ino_t ino[2];
    size_t order;    /* walk order, for stable output */
    size_t group[2]; /* start of this record's group in the per-side sorted order */
    size_t group_len[2];
};

/* The extended attributes of one entry: the raw list and the names sorted. */
struct xlist {
    char *raw;
    size_t raw_len;
    const char **names;
    size_t count;
};

struct options {
    bool owner;
    bool symlink_mtime;
    bool dir_mtime;
    bool xattr;
    bool root_meta;
    bool summary;
    char **ignore;
    size_t n_ignore;
};

struct cmp {
    struct options opt;
    const char *root[2];
    bool have_proc;
    struct sbuf path;        /* relative path of the entry being compared, raw bytes */
    unsigned char *block[2]; /* content buffers */
    struct sbuf val[2];      /* xattr values */
    struct sbuf scratch[2];  /* formatting */
    struct link_rec *links;
    size_t n_links;
    size_t cap_links;
    uint64_t entries;
    uint64_t diffs;
    uint64_t errors;
};

static const char side_name[2] = { 'A', 'B' };

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL) {
        fprintf(stderr, "treecmp: out of memory\n");
        exit(2);
    }
    return p;
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "treecmp: out of memory\n");
        exit(2);
    }
    return p;
}

static void
sb_grow(struct sbuf *sb, size_t extra)
{
    size_t need = sb->len + extra + 1;

    if (need <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    sb->data = xrealloc(sb->data, cap);
    sb->cap = cap;
}

static void
sb_reset(struct sbuf *sb)
{
    sb_grow(sb, 0);
    sb->len = 0;
    sb->data[0] = '\0';
}

static void
sb_add(struct sbuf *sb, const void *p, size_t n)
{
    sb_grow(sb, n);
    memcpy(sb->data + sb->len, p, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void
sb_truncate(struct sbuf *sb, size_t len)
{
    sb->len = len;
    if (sb->data != NULL)
        sb->data[len] = '\0';
}

static void
sb_release(struct sbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

/* Append bytes with everything outside printable ASCII as \xNN and a backslash as \\. */
static void
sb_add_escaped(struct sbuf *sb, const void *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;

    sb_grow(sb, n * 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        char *d = sb->data + sb->len;
        if (ch == '\\') {
            d[0] = '\\';
            d[1] = '\\';
            sb->len += 2;
        } else if (ch < 0x20 || ch >= 0x7f) {
            d[0] = '\\';
            d[1] = 'x';
            d[2] = hex[ch >> 4];
            d[3] = hex[ch & 15];
            sb->len += 4;
        } else {
            d[0] = (char)ch;
            sb->len += 1;
        }
    }
    sb->data[sb->len] = '\0';
}

/* Escape bytes into one of the scratch buffers and return it as a string. */
static const char *
esc(struct cmp *c, int slot, const void *p, size_t n)
{
    sb_reset(&c->scratch[slot]);
    sb_add_escaped(&c->scratch[slot], p, n);
    return c->scratch[slot].data;
}

static void
print_path(FILE *f, const char *path, size_t len)
{
    struct sbuf sb = { 0 };

    if (len == 0) {
        fputs(".", f);
        return;
    }
    sb_add_escaped(&sb, path, len);
    fputs(sb.data, f);
    sb_release(&sb);
}

/* Count a difference at path and print it unless the limit is reached. */
static void vdiff_at(struct cmp *c, const char *path, size_t len, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
vdiff_at(struct cmp *c, const char *path, size_t len, const char *fmt, va_list ap)
{
    c->diffs++;
    if (c->diffs > MAX_PRINTED)
        return;
    print_path(stdout, path, len);
    fputs(": ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
}

static void diff_at(struct cmp *c, const char *path, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
diff_at(struct cmp *c, const char *path, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiff_at(c, path, len, fmt, ap);
    va_end(ap);
}

/* The entry being compared (c->path) differs: print "<path>: <what>". */
static void diff(struct cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
diff(struct cmp *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vdiff_at(c, c->path.data, c->path.len, fmt, ap);
    va_end(ap);
}

static void
diff_only(struct cmp *c, int side)
{
    c->diffs++;
    if (c->diffs > MAX_PRINTED)
        return;
    fprintf(stdout, "only in %c: ", side_name[side]);
    print_path(stdout, c->path.data, c->path.len);
    fputc('\n', stdout);
}

/* An I/O error on one side: reported on stderr, makes the exit status 2. */
static void
io_error(struct cmp *c, int side, const char *what, int err)
{
    c->errors++;
    fprintf(stderr, "treecmp: %s/", c->root[side]);
    print_path(stderr, c->path.data, c->path.len);
    fprintf(stderr, ": %s: %s\n", what, strerror(err));
}

static bool
is_ignored(const struct cmp *c)
{
    for (size_t i = 0; i < c->opt.n_ignore; i++) {
        if (strcmp(c->opt.ignore[i], c->path.data) == 0)
            return true;
    }
    return false;
}

static const char *
type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "regular";
    case S_IFDIR:
        return "directory";
    case S_IFLNK:
        return "symlink";
    case S_IFIFO:
        return "fifo";
    case S_IFSOCK:
        return "socket";
    case S_IFCHR:
        return "char-device";
    case S_IFBLK:
        return "block-device";
    default:
        return "unknown";
    }
}

static void
format_time(char *out, size_t n, const struct timespec *ts)
{
    struct tm tm;
    time_t t = ts->tv_sec;

    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, n, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
        return;
    }
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec);
}

/* Compare what stat tells: type, permission bits, owner, mtime, device numbers. */
static bool
cmp_stat(struct cmp *c, const struct stat *a, const struct stat *b)
{
    if ((a->st_mode & S_IFMT) != (b->st_mode & S_IFMT)) {
        diff(c, "type %s vs %s", type_name(a->st_mode), type_name(b->st_mode));
        return false;
    }
    if ((a->st_mode & 07777) != (b->st_mode & 07777))
        diff(c, "mode %04o vs %04o", (unsigned)(a->st_mode & 07777),
             (unsigned)(b->st_mode & 07777));
    if (c->opt.owner) {
        if (a->st_uid != b->st_uid)
            diff(c, "uid %u vs %u", (unsigned)a->st_uid, (unsigned)b->st_uid);
        if (a->st_gid != b->st_gid)
            diff(c, "gid %u vs %u", (unsigned)a->st_gid, (unsigned)b->st_gid);
    }
    bool check_mtime = true;
    if (S_ISDIR(a->st_mode) && !c->opt.dir_mtime)
        check_mtime = false;
    if (S_ISLNK(a->st_mode) && !c->opt.symlink_mtime)
        check_mtime = false;
    if (check_mtime &&
        (a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec)) {
        char ta[64], tb[64];
        format_time(ta, sizeof(ta), &a->st_mtim);
        format_time(tb, sizeof(tb), &b->st_mtim);
        diff(c, "mtime %s vs %s", ta, tb);
    }
    if ((S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode)) && a->st_rdev != b->st_rdev)
        diff(c, "rdev %u:%u vs %u:%u", major(a->st_rdev), minor(a->st_rdev), major(b->st_rdev),
             minor(b->st_rdev));
    return true;
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * The path an l*xattr call can use for entry name in directory dirfd without following a symlink
 * at the end: /proc/self/fd/N/name, or the full path when /proc is not mounted.
 */
static void
entry_path(struct cmp *c, int side, int dirfd, const char *name, struct sbuf *out)
{
    char prefix[64];

    sb_reset(out);
    if (c->have_proc) {
        int n = snprintf(prefix, sizeof(prefix), "/proc/self/fd/%d/", dirfd);
        sb_add(out, prefix, (size_t)n);
        sb_add(out, name, strlen(name));
        return;
    }
    sb_add(out, c->root[side], strlen(c->root[side]));
    if (c->path.len > 0) {
        sb_add(out, "/", 1);
        sb_add(out, c->path.data, c->path.len);
    }
}

static void
xlist_release(struct xlist *x)
{
    free(x->raw);
    free(x->names);
    memset(x, 0, sizeof(*x));
}

/* List the xattr names of an open fd (fd >= 0) or a path (no follow). */
static int
xlist_load(struct xlist *out, int fd, const char *path)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        ssize_t n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
        if (n < 0) {
            if (errno == ENOTSUP)
                return 0;
            return -errno;
        }
        out->raw = xrealloc(out->raw, (size_t)n + 1);
        ssize_t got =
            fd >= 0 ? flistxattr(fd, out->raw, (size_t)n) : llistxattr(path, out->raw, (size_t)n);
        if (got < 0 && errno == ERANGE)
            continue; /* grew in between */
        if (got < 0)
            return -errno;
        out->raw_len = (size_t)got;
        break;
    }
    size_t count = 0;
    for (size_t i = 0; i < out->raw_len; i += strlen(out->raw + i) + 1)
        count++;
    out->names = xmalloc(count * sizeof(*out->names));
    for (size_t i = 0; i < out->raw_len; i += strlen(out->raw + i) + 1)
        out->names[out->count++] = out->raw + i;
    if (out->count > 1)
        qsort(out->names, out->count, sizeof(*out->names), cmp_str);
    return 0;
}

static int
xattr_value(struct sbuf *out, int fd, const char *path, const char *name)
{
    for (;;) {
        ssize_t n = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
        if (n < 0)
            return -errno;
        sb_reset(out);
        sb_grow(out, (size_t)n);
        ssize_t got = fd >= 0 ? fgetxattr(fd, name, out->data, (size_t)n)
                              : lgetxattr(path, name, out->data, (size_t)n);
        if (got < 0 && errno == ERANGE)
            continue;
        if (got < 0)
            return -errno;
        sb_truncate(out, (size_t)got);
        return 0;
    }
}

/*
 * Compare the extended attributes of the current entry. fd[side] is an open fd of the entry or
 * -1, then the entry is named by (dirfd[side], name).
 */
static void
cmp_xattrs(struct cmp *c, const int fd[2], const int dirfd[2], const char *name)
{
    struct xlist xl[2];
    struct sbuf path[2] = { { 0 }, { 0 } };
    int r;

    if (!c->opt.xattr)
        return;
    for (int s = 0; s < 2; s++) {
        if (fd[s] < 0)
            entry_path(c, s, dirfd[s], name, &path[s]);
        if ((r = xlist_load(&xl[s], fd[s], path[s].data)) != 0) {
            io_error(c, s, "listxattr", -r);
            if (s == 1)
                xlist_release(&xl[0]);
            sb_release(&path[0]);
            sb_release(&path[1]);
            return;
        }
    }
    size_t i = 0, j = 0;
    while (i < xl[0].count || j < xl[1].count) {
        int order;
        if (i == xl[0].count)
            order = 1;
        else if (j == xl[1].count)
            order = -1;
        else
            order = strcmp(xl[0].names[i], xl[1].names[j]);
        if (order < 0) {
            diff(c, "xattr %s only in A", esc(c, 0, xl[0].names[i], strlen(xl[0].names[i])));
            i++;
            continue;
        }
        if (order > 0) {
            diff(c, "xattr %s only in B", esc(c, 0, xl[1].names[j], strlen(xl[1].names[j])));
            j++;
            continue;
        }
        const char *xname = xl[0].names[i];
        bool ok = true;
        for (int s = 0; s < 2; s++) {
            if ((r = xattr_value(&c->val[s], fd[s], path[s].data, xname)) != 0) {
                io_error(c, s, "getxattr", -r);
                ok = false;
            }
        }
        if (ok && (c->val[0].len != c->val[1].len ||
                   memcmp(c->val[0].data, c->val[1].data, c->val[0].len) != 0)) {
            struct sbuf xn = { 0 };
            sb_add_escaped(&xn, xname, strlen(xname));
            if (c->val[0].len <= SHOW_VALUE && c->val[1].len <= SHOW_VALUE) {
                diff(c, "xattr %s value differs (\"%s\" vs \"%s\")", xn.data,
                     esc(c, 0, c->val[0].data, c->val[0].len),
                     esc(c, 1, c->val[1].data, c->val[1].len));
            } else {
                size_t k = 0;
                while (k < c->val[0].len && k < c->val[1].len &&
                       c->val[0].data[k] == c->val[1].data[k])
                    k++;
                diff(c, "xattr %s value differs at byte %zu (length %zu vs %zu)", xn.data, k,
                     c->val[0].len, c->val[1].len);
            }
            sb_release(&xn);
        }
        i++;
        j++;
    }
    xlist_release(&xl[0]);
    xlist_release(&xl[1]);
    sb_release(&path[0]);
    sb_release(&path[1]);
}

/* Read exactly n bytes at off; a short read means the file shrank under us. */
static int
read_at(int fd, unsigned char *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t got = pread(fd, buf + done, n - done, off + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            return -EIO;
        done += (size_t)got;
    }
    return 0;
}

/* The offset of the next data at or after off, end when there is none, -1 on error. */
static off_t
next_data(int fd, off_t off, off_t end)
{
    off_t d = lseek(fd, off, SEEK_DATA);

    if (d < 0)
        return errno == ENXIO ? end : -1;
    return d < end ? d : end;
}

static void
cmp_content(struct cmp *c, const int fd[2], const struct stat st[2])
{
    off_t end = st[0].st_size < st[1].st_size ? st[0].st_size : st[1].st_size;
    bool holes = st[0].st_blocks * 512LL < (long long)st[0].st_size &&
                 st[1].st_blocks * 512LL < (long long)st[1].st_size;
    off_t off = 0;
    int r;

    if (st[0].st_size != st[1].st_size)
        diff(c, "size %lld vs %lld", (long long)st[0].st_size, (long long)st[1].st_size);
    if (end >= BLOCK_SIZE) {
        posix_fadvise(fd[0], 0, 0, POSIX_FADV_SEQUENTIAL);
        posix_fadvise(fd[1], 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    while (off < end) {
        if (holes) {
            /* a range that is a hole in both files reads as zeros in both */
            off_t da = next_data(fd[0], off, end);
            off_t db = next_data(fd[1], off, end);
            if (da < 0 || db < 0) {
                holes = false;
            } else {
                off = da < db ? da : db;
                if (off >= end)
                    break;
            }
        }
        size_t n = end - off < BLOCK_SIZE ? (size_t)(end - off) : BLOCK_SIZE;
        for (int s = 0; s < 2; s++) {
            if ((r = read_at(fd[s], c->block[s], n, off)) != 0) {
                io_error(c, s, "read", -r);
                return;
            }
        }
        if (memcmp(c->block[0], c->block[1], n) != 0) {
            size_t k = 0;
            while (c->block[0][k] == c->block[1][k])
                k++;
            diff(c, "content differs at byte %lld", (long long)(off + (off_t)k));
            return;
        }
        off += (off_t)n;
    }
}

static void
cmp_sparse(struct cmp *c, const struct stat st[2])
{
    long long alloc_a = (long long)st[0].st_blocks * 512LL;
    long long alloc_b = (long long)st[1].st_blocks * 512LL;

    if ((long long)st[0].st_size - alloc_a < MIB)
        return;
    long long slack = alloc_a / 10 > MIB ? alloc_a / 10 : MIB;
    if (alloc_b > alloc_a + slack)
        diff(c, "not sparse (allocated %lld vs %lld)", alloc_a, alloc_b);
}

static void
link_add(struct cmp *c, const struct stat st[2])
{
    if (c->n_links == c->cap_links) {
        c->cap_links = c->cap_links ? c->cap_links * 2 : 256;
        c->links = xrealloc(c->links, c->cap_links * sizeof(*c->links));
    }
    struct link_rec *l = &c->links[c->n_links];
    memset(l, 0, sizeof(*l));
    l->path = xmalloc(c->path.len + 1);
    memcpy(l->path, c->path.data, c->path.len + 1);
    l->path_len = c->path.len;
    for (int s = 0; s < 2; s++) {
        l->dev[s] = st[s].st_dev;
        l->ino[s] = st[s].st_ino;
    }
    l->order = c->n_links++;
}

static int
open_nofollow(int dirfd, const char *name, int flags)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NOATIME);

    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    return fd;
}

static void cmp_dir(struct cmp *c, const int fd[2]);

/* Compare the entry name present in both directories; c->path names it. */
static void
cmp_entry(struct cmp *c, const int dirfd[2], const char *name)
{
    struct stat st[2];
    int fd[2] = { -1, -1 };

    for (int s = 0; s < 2; s++) {
        if (fstatat(dirfd[s], name, &st[s], AT_SYMLINK_NOFOLLOW) != 0) {
            io_error(c, s, "lstat", errno);
            return;
        }
    }
    if (!cmp_stat(c, &st[0], &st[1]))
        return;

    if (S_ISREG(st[0].st_mode) || S_ISDIR(st[0].st_mode)) {
        int flags = S_ISDIR(st[0].st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK;
        for (int s = 0; s < 2; s++) {
            if ((fd[s] = open_nofollow(dirfd[s], name, flags)) < 0) {
                io_error(c, s, "open", errno);
                goto out;
            }
        }
    }
    switch (st[0].st_mode & S_IFMT) {
    case S_IFREG:
        cmp_content(c, fd, st);
        cmp_xattrs(c, fd, dirfd, name);
        cmp_sparse(c, st);
        if (st[0].st_nlink > 1 || st[1].st_nlink > 1)
            link_add(c, st);
        break;
    case S_IFDIR:
        cmp_xattrs(c, fd, dirfd, name);
        cmp_dir(c, fd);
        break;
    case S_IFLNK: {
        struct sbuf *t = c->val;
        for (int s = 0; s < 2; s++) {
            size_t want = (size_t)st[s].st_size + 1;
            for (;;) {
                sb_reset(&t[s]);
                sb_grow(&t[s], want);
                ssize_t n = readlinkat(dirfd[s], name, t[s].data, want);
                if (n < 0) {
                    io_error(c, s, "readlink", errno);
                    goto out;
                }
                if ((size_t)n < want) {
                    sb_truncate(&t[s], (size_t)n);
                    break;
                }
                want *= 2;
            }
        }
        if (t[0].len != t[1].len || memcmp(t[0].data, t[1].data, t[0].len) != 0)
            diff(c, "symlink target \"%s\" vs \"%s\"", esc(c, 0, t[0].data, t[0].len),
                 esc(c, 1, t[1].data, t[1].len));
        cmp_xattrs(c, fd, dirfd, name);
        break;
    }
    default:
        cmp_xattrs(c, fd, dirfd, name);
        break;
    }
out:
    for (int s = 0; s < 2; s++) {
        if (fd[s] >= 0)
            close(fd[s]);
    }
}

struct names {
    char **v;
    size_t n;
    size_t cap;
};

static void
names_release(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    memset(ns, 0, sizeof(*ns));
}

static int
names_load(struct names *out, int fd)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d;
    struct dirent *de;

    memset(out, 0, sizeof(*out));
    if (dup_fd < 0)
        return -errno;
    if ((d = fdopendir(dup_fd)) == NULL) {
        int err = errno;
        close(dup_fd);
        return -err;
    }
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL)
            break;
        if (de->d_name[0] == '.' &&
            (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 32;
            out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        size_t len = strlen(de->d_name);
        out->v[out->n] = xmalloc(len + 1);
        memcpy(out->v[out->n], de->d_name, len + 1);
        out->n++;
    }
    int err = errno;
    closedir(d);
    if (err != 0) {
        names_release(out);
        return -err;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_str);
    return 0;
}

/* Compare the contents of two open directories; c->path names them. */
static void
cmp_dir(struct cmp *c, const int fd[2])
{
    struct names ns[2];
    int r;

    for (int s = 0; s < 2; s++) {
        if ((r = names_load(&ns[s], fd[s])) != 0) {
            io_error(c, s, "readdir", -r);
            if (s == 1)
                names_release(&ns[0]);
            return;
        }
    }
    size_t base = c->path.len;
    size_t i = 0, j = 0;
    while (i < ns[0].n || j < ns[1].n) {
        int order;
        if (i == ns[0].n)
            order = 1;
        else if (j == ns[1].n)
            order = -1;
        else
            order = strcmp(ns[0].v[i], ns[1].v[j]);
        const char *name = order <= 0 ? ns[0].v[i] : ns[1].v[j];
        if (base > 0)
            sb_add(&c->path, "/", 1);
        sb_add(&c->path, name, strlen(name));
        if (!is_ignored(c)) {
            c->entries++;
            if (order < 0)
                diff_only(c, 0);
            else if (order > 0)
                diff_only(c, 1);
            else
                cmp_entry(c, fd, name);
        }
        sb_truncate(&c->path, base);
        if (order <= 0)
            i++;
        if (order >= 0)
            j++;
    }
    names_release(&ns[0]);
    names_release(&ns[1]);
}

static int
link_cmp_a(const void *x, const void *y)
{
    const struct link_rec *a = *(struct link_rec *const *)x, *b = *(struct link_rec *const *)y;

    if (a->dev[0] != b->dev[0])
        return a->dev[0] < b->dev[0] ? -1 : 1;
    if (a->ino[0] != b->ino[0])
        return a->ino[0] < b->ino[0] ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int
link_cmp_b(const void *x, const void *y)
{
    const struct link_rec *a = *(struct link_rec *const *)x, *b = *(struct link_rec *const *)y;

    if (a->dev[1] != b->dev[1])
        return a->dev[1] < b->dev[1] ? -1 : 1;
    if (a->ino[1] != b->ino[1])
        return a->ino[1] < b->ino[1] ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static bool
same_inode(const struct link_rec *a, const struct link_rec *b, int side)
{
    return a->dev[side] == b->dev[side] && a->ino[side] == b->ino[side];
}

/* Describe the other members of rec's group on one side into the scratch buffer. */
static const char *
link_peers(struct cmp *c, int side, struct link_rec **sorted, const struct link_rec *rec)
{
    struct sbuf *sb = &c->scratch[side];
    size_t shown = 0;

    sb_reset(sb);
    for (size_t k = rec->group[side]; k < rec->group[side] + rec->group_len[side]; k++) {
        if (sorted[k] == rec)
            continue;
        if (shown == SHOW_LINKS) {
            sb_add(sb, ", ...", 5);
            break;
        }
        sb_add(sb, shown ? ", " : "linked with ", shown ? 2 : 12);
        sb_add_escaped(sb, sorted[k]->path, sorted[k]->path_len);
        shown++;
    }
    if (shown == 0)
        sb_add(sb, "not linked", 10);
    return sb->data;
}

/*
 * The partition of the common regular files into inode groups must be the same in A and B. A
 * group of A is fine when all its members share one inode in B and that B group has no other
 * members; every member of a group that is not fine has a different set of peers in B.
 */
static void
cmp_links(struct cmp *c)
{
    struct link_rec **by[2];
    size_t n = c->n_links;

    if (n == 0)
        return;
    for (int s = 0; s < 2; s++) {
        by[s] = xmalloc(n * sizeof(*by[s]));
        for (size_t k = 0; k < n; k++)
            by[s][k] = &c->links[k];
        qsort(by[s], n, sizeof(*by[s]), s == 0 ? link_cmp_a : link_cmp_b);
        for (size_t k = 0; k < n;) {
            size_t e = k + 1;
            while (e < n && same_inode(by[s][e], by[s][k], s))
                e++;
            for (size_t m = k; m < e; m++) {
                by[s][m]->group[s] = k;
                by[s][m]->group_len[s] = e - k;
            }
            k = e;
        }
    }
    for (size_t k = 0; k < n;) {
        size_t len = by[0][k]->group_len[0];
        bool fine = true;
        for (size_t m = k; m < k + len; m++) {
            if (by[0][m]->group[1] != by[0][k]->group[1] || by[0][m]->group_len[1] != len)
                fine = false;
        }
        if (!fine) {
            for (size_t m = k; m < k + len; m++) {
                const struct link_rec *rec = by[0][m];
                link_peers(c, 0, by[0], rec);
                link_peers(c, 1, by[1], rec);
                diff_at(c, rec->path, rec->path_len, "hardlinks differ (%s vs %s)",
                        c->scratch[0].data, c->scratch[1].data);
            }
        }
        k += len;
    }
    free(by[0]);
    free(by[1]);
}

static void
usage(FILE *f)
{
    fputs("usage: treecmp [--no-owner] [--no-symlink-mtime] [--no-dir-mtime] [--no-xattr]\n"
          "               [--root-meta] [--ignore REL]... [--summary] A B\n"
          "compare the trees A and B exactly; exit 0 identical, 1 different, 2 error\n",
          f);
}

/* "./a/b/" and "a/b" name the same relative path. */
static char *
normalize_rel(const char *rel)
{
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    while (rel[0] == '/')
        rel++;
    size_t len = strlen(rel);
    while (len > 0 && rel[len - 1] == '/')
        len--;
    char *out = xmalloc(len + 1);
    memcpy(out, rel, len);
    out[len] = '\0';
    return out;
}

/* Parse the command line into c and pos; 0 to go on, else the exit status. */
static int
parse_args(struct cmp *c, int argc, char **argv, const char *pos[2])
{
    size_t n_pos = 0;
    bool opts_done = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (n_pos == 2) {
                usage(stderr);
                return 2;
            }
            pos[n_pos++] = a;
        } else if (strcmp(a, "--") == 0) {
            opts_done = true;
        } else if (strcmp(a, "--no-owner") == 0) {
            c->opt.owner = false;
        } else if (strcmp(a, "--no-symlink-mtime") == 0) {
            c->opt.symlink_mtime = false;
        } else if (strcmp(a, "--no-dir-mtime") == 0) {
            c->opt.dir_mtime = false;
        } else if (strcmp(a, "--no-xattr") == 0) {
            c->opt.xattr = false;
        } else if (strcmp(a, "--root-meta") == 0) {
            c->opt.root_meta = true;
        } else if (strcmp(a, "--summary") == 0) {
            c->opt.summary = true;
        } else if (strcmp(a, "--ignore") == 0) {
            if (i + 1 == argc) {
                fprintf(stderr, "treecmp: --ignore needs a relative path\n");
                return 2;
            }
            c->opt.ignore[c->opt.n_ignore++] = normalize_rel(argv[++i]);
        } else if (strncmp(a, "--ignore=", 9) == 0) {
            c->opt.ignore[c->opt.n_ignore++] = normalize_rel(a + 9);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        } else {
            fprintf(stderr, "treecmp: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (n_pos != 2) {
        usage(stderr);
        return 2;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct cmp c;
    const char *pos[2] = { NULL, NULL };
    int fd[2] = { -1, -1 };
    struct stat st[2];
    int rc;

    memset(&c, 0, sizeof(c));
    c.opt.owner = c.opt.symlink_mtime = c.opt.dir_mtime = c.opt.xattr = true;
    c.opt.ignore = xmalloc((size_t)argc * sizeof(*c.opt.ignore));
    if ((rc = parse_args(&c, argc, argv, pos)) != 0) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    rc = 2;
    for (int s = 0; s < 2; s++) {
        c.root[s] = pos[s];
        fd[s] = open(pos[s], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd[s] < 0 || fstat(fd[s], &st[s]) != 0) {
            fprintf(stderr, "treecmp: %s: %s\n", pos[s], strerror(errno));
            goto out;
        }
    }
    c.have_proc = access("/proc/self/fd", X_OK) == 0;
    c.block[0] = xmalloc(BLOCK_SIZE);
    c.block[1] = xmalloc(BLOCK_SIZE);
    sb_reset(&c.path);

    if (c.opt.root_meta) {
        int no_dir[2] = { -1, -1 };
        cmp_stat(&c, &st[0], &st[1]);
        cmp_xattrs(&c, fd, no_dir, NULL);
    }
    cmp_dir(&c, fd);
    cmp_links(&c);

    if (c.diffs > MAX_PRINTED)
        printf("... and %" PRIu64 " more\n", c.diffs - MAX_PRINTED);
    if (c.opt.summary)
        printf("treecmp: %" PRIu64 " entries compared, %" PRIu64 " differences\n", c.entries,
               c.diffs);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "treecmp: write: %s\n", strerror(errno));
        goto out;
    }
    if (c.errors == 0)
        rc = c.diffs > 0 ? 1 : 0;
out:
    for (int s = 0; s < 2; s++) {
        if (fd[s] >= 0)
            close(fd[s]);
        free(c.block[s]);
        sb_release(&c.val[s]);
        sb_release(&c.scratch[s]);
    }
    for (size_t k = 0; k < c.n_links; k++)
        free(c.links[k].path);
    free(c.links);
    for (size_t k = 0; k < c.opt.n_ignore; k++)
        free(c.opt.ignore[k]);
    free(c.opt.ignore);
    sb_release(&c.path);
    return rc;
}
