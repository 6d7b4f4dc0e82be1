/*
 * files_backup: back up file system paths into a tree of the repository.
 *
 * The main thread walks depth-first: it lists a directory, stats every entry, and queues
 * each regular file that must be read on a pool of workers, which stream it through the
 * saver. A directory's tree blob is written when its last entry completes, by whichever
 * thread completed it, so trees are built bottom-up without holding the whole file system
 * in memory: only the directories still in flight are.
 *
 * The root tree stands for "/": a path /var/www/shop becomes the entries var -> www -> shop,
 * with the real metadata of /var and /var/www but only the selected children.
 *
 * Incremental: a file whose size, mtime, ctime and inode equal those in the parent
 * snapshot's tree (and whose blobs are all still in the index) is not read; its content
 * list is reused.
 */
#ifndef DRK_SOURCE_FILES_BACKUP_H
#define DRK_SOURCE_FILES_BACKUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"

struct repo;
struct saver;
struct snapshot;

struct files_backup_opts {
    const char *const *paths; /* absolute, normalized (fs_abspath) */
    size_t npaths;
    const char *const *excludes; /* globs; see docs: with '/' full path, else base name */
    size_t nexcludes;
    bool one_file_system;
    const struct blob_id *parent_tree; /* root tree of the parent snapshot, or NULL */
    bool reuse_unchanged;              /* incremental: skip reading unchanged files */
    unsigned threads;                  /* workers; the saver needs threads + 1 contexts */
    bool scan_totals;                  /* count files and bytes first (for an ETA) */
};

/* Live counters for a progress display; any thread may read them. */
struct files_progress {
    _Atomic uint64_t files, dirs, bytes; /* entries done, content bytes of files done */
    _Atomic uint64_t files_total, bytes_total;
    _Atomic int scan_done;
    _Atomic uint64_t files_new, files_changed, files_unchanged;
    _Atomic uint64_t errors;
};

/*
 * Walk o->paths and store everything through saver. On success snap->files_tree,
 * snap->has_files, the file statistics and the list of unreadable files are set (an
 * unreadable file is left out and makes the snapshot partial). A failure of the
 * repository, or an interrupt, fails the whole call.
 */
int files_backup(struct repo *repo, struct saver *saver, const struct files_backup_opts *o,
                 struct files_progress *prog, struct snapshot *snap);

/* Does path (with base name `name`) match one of the exclude globs? */
bool files_excluded(const char *const *excludes, size_t n, const char *path, const char *name);

#endif
