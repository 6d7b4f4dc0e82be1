/*
 * prune: remove the data no snapshot needs any more. The caller holds the exclusive lock and
 * has already forgotten the snapshots to remove (snap_forget).
 *
 * Plan: walk every snapshot's trees for the blobs in use; read every index file for what each
 * pack holds; a pack whose blobs are all in use is kept, one with none in use is deleted, one
 * whose unused share reaches the threshold is repacked (its used blobs, verified, copied into
 * new packs), the rest are kept as they are. Packs no index names (left by interrupted
 * backups) are deleted, and so are staging files and name markers without a snapshot.
 *
 * Order, so that a crash at any instant leaves a valid repository and the next prune finishes
 * the job: new packs, durable; a new index of everything kept, naming the index files it
 * replaces; those index files deleted; only then packs deleted.
 *
 * prune refuses to delete anything while the repository is damaged (an unreadable snapshot,
 * tree or index file, or a blob in use that no index names): it could not know what is in use.
 */
#ifndef DRK_REPO_PRUNE_H
#define DRK_REPO_PRUNE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct repo;

struct prune_opts {
    bool dry_run;
    int repack_threshold; /* percent of unused bytes that makes a pack worth rewriting */
    /* snapshots to count as already forgotten (a dry run of a retention policy) */
    const char *const *forget_ids;
    size_t nforget;
};

struct prune_progress {
    _Atomic uint64_t packs, packs_total, bytes, bytes_total;
    _Atomic int phase; /* 0 plan, 1 repack, 2 index, 3 delete */
};

struct prune_stats {
    uint64_t snapshots;                  /* kept snapshots walked */
    uint64_t packs_before, bytes_before; /* packs present */
    uint64_t packs_kept, packs_deleted, packs_repacked, packs_unindexed, packs_written;
    uint64_t bytes_deleted, bytes_written, bytes_after;
    uint64_t blobs_used, blobs_unused, blobs_repacked;
    uint64_t unused_bytes_kept; /* in packs below the threshold */
    uint64_t index_before, index_after, staging_removed, names_removed;
};

#define PRUNE_DEFAULT_THRESHOLD 10

int repo_prune(struct repo *repo, const struct prune_opts *o, struct prune_progress *prog,
               struct prune_stats *st);

#endif
