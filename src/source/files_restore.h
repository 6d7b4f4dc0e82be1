/*
 * files_restore: write a snapshot's files back to disk, exactly.
 *
 * Safety: a snapshot is untrusted input. Every path is opened component by component
 * relative to the target directory with O_NOFOLLOW, so nothing is ever written through a
 * symlink, and tree decoding already refused names with '/', "." or "..". An existing
 * symlink where the snapshot has a directory is never followed: the subtree is refused.
 *
 * Integrity: a file whose blobs fail verification is not left behind half-written: it is
 * removed (or, when replacing an existing file, the old one is kept) and reported.
 *
 * Order: directories are created on the way down; file contents are written by a pool of
 * workers; hardlinks are made after all files exist; directory metadata (mode, owner,
 * mtime) is applied last, deepest first, so writing inside does not disturb it.
 */
#ifndef DRK_SOURCE_FILES_RESTORE_H
#define DRK_SOURCE_FILES_RESTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "util/vec.h"

struct repo;
struct snapshot;

struct files_restore_opts {
    const char *target;          /* existing directory (or one whose parent exists) */
    const char *const *includes; /* original absolute paths (or globs) to restore; */
    size_t nincludes;            /* none: everything */
    bool delta;                  /* rewrite only files whose content differs */
    bool delete_extra;           /* remove what the snapshot does not have (in directories
                                    restored in full) */
    bool numeric_owner;          /* restore uid/gid numbers even if names exist here */
    unsigned threads;
    /* another tree of the snapshot to restore instead of its files (the physical database
     * backup's data directory), with its totals for the progress line; NULL: the files */
    const struct blob_id *root;
    uint64_t root_files, root_bytes;
};

struct restore_progress {
    _Atomic uint64_t files, bytes, files_total, bytes_total;
    _Atomic uint64_t errors;
};

enum restore_error_kind {
    RESTORE_ERR_IO = 1,
    RESTORE_ERR_INTEGRITY = 2, /* damaged data in the repository */
    RESTORE_ERR_UNSAFE = 3,    /* a hostile or impossible tree */
};

struct restore_error {
    char *path; /* original path in the snapshot */
    char *message;
    int kind;
};

struct restore_result {
    uint64_t files_written, files_unchanged, dirs, links, others, bytes_written;
    uint64_t deleted; /* entries removed by delete_extra */
    uint64_t integrity_errors, io_errors, unsafe_errors;
    VEC(struct restore_error) errors; /* the first RESTORE_ERRORS_KEPT */
};

#define RESTORE_ERRORS_KEPT 1000

int files_restore(struct repo *repo, const struct snapshot *snap,
                  const struct files_restore_opts *o, struct restore_progress *prog,
                  struct restore_result *res);
void restore_result_release(struct restore_result *res);

#endif
