/*
 * fs: I/O helpers that finish the job (retry EINTR and short reads/writes) and the
 * atomic-replace habit: temp file, fsync, rename, fsync of the directory (git lockfile.h).
 * Errors are recorded with drk_err_errno and returned as DRK_E* codes.
 */
#ifndef DRK_UTIL_FS_H
#define DRK_UTIL_FS_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

int fs_write_all(int fd, const void *p, size_t n, const char *what);
int fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off, const char *what);
/* Read exactly n bytes at off; DRK_ECORRUPT-free: a short file is DRK_EIO "unexpected end". */
int fs_pread_all(int fd, void *p, size_t n, uint64_t off, const char *what);
/* Read up to n bytes; *got tells how many (less only at end of file). */
int fs_read_full(int fd, void *p, size_t n, size_t *got, const char *what);
/* Read a whole file into out (replacing its contents); DRK_ETOOBIG past max (0: no max). */
int fs_read_file(const char *path, struct buf *out, size_t max);
/* Write data to path atomically (temp + fsync + rename + dir fsync), file mode `mode`. */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
int fs_fsync_dir(const char *dir);
/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode);
/* Join dir and name with one '/'; caller frees. */
char *fs_join(const char *dir, const char *name);
/* Make path absolute against the cwd and squeeze "//", "/./" and trailing "/" without
 * resolving symlinks or "..". Caller frees. */
char *fs_abspath(const char *path);
/* rm -rf; does not follow symlinks. */
int fs_remove_tree(const char *path);
/* A DIR stream over a duplicate of dirfd (closedir leaves dirfd open); NULL with errno. */
DIR *fs_opendir_dup(int dirfd);
/* rm -rf of name in dirfd; -1 with errno on failure (no error detail recorded). */
int fs_remove_at(int dirfd, const char *name);

#endif
