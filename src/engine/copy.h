/*
 * copy: replicate snapshots from one repository into another (the 3-2-1 rule's off-site leg).
 *
 * Blob ids are MACs keyed per repository, so a blob has another id in the target: each blob
 * the target lacks is read, decrypted and verified, then stored through the target's saver
 * (which gives it its target id and encrypts it with the target's key), and trees are
 * rewritten with the target ids. The source -> target id map is kept in the target
 * (maps/<source repository id>/, sealed): a second copy skips every subtree it already
 * mapped, reads nothing of it, and writes nothing. Order as for backups: packs and index,
 * then the map, then the snapshot, which keeps its name and time and records its origin.
 */
#ifndef DRK_ENGINE_COPY_H
#define DRK_ENGINE_COPY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct repo;
struct snapshot;
struct copy;

struct copy_progress {
    _Atomic uint64_t blobs, bytes, trees;
};

struct copy_stats {
    uint64_t blobs_read;  /* read from the source */
    uint64_t bytes_read;  /* their raw bytes */
    uint64_t blobs_added; /* stored in the target */
    uint64_t bytes_added; /* bytes written into the target's packs */
    uint64_t trees_reused, trees_written;
};

/* Load what earlier copies mapped. Both repositories stay the caller's. */
int copy_open(struct copy **out, struct repo *src, struct repo *dst, struct copy_progress *prog);
void copy_free(struct copy *c);
/* Copy one snapshot; *skipped if the target holds it already (then *out is unset).
 * DRK_EEXIST if the target has another snapshot of that name. */
int copy_snapshot(struct copy *c, const struct snapshot *s, struct snapshot *out, bool *skipped,
                  struct copy_stats *st);

#endif
