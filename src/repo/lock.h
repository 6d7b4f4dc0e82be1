/*
 * lock: repository locks. Commands that add or read data (backup, restore, test, check)
 * take a shared lock; commands that remove data (prune, delete) take an exclusive one.
 * A lock is a plaintext JSON file locks/<random id>:
 *
 *   {"time":"<rfc3339>","exclusive":false,"hostname":"h","username":"u","pid":123,
 *    "process_start":4567,"command":"backup create"}
 *
 * It is refreshed (rewritten under a new id, the old one deleted) every LOCK_REFRESH
 * seconds while held. On local storage the holder also keeps a kernel flock on its lock
 * file: a lock file nobody holds belongs to a process that is gone, whatever host or pid
 * namespace it ran in (or, for LOCK_TAKING seconds, to a live one taking it right now). Where the
 * storage has no trustworthy kernel lock, a lock is stale when its time is older than LOCK_STALE
 * seconds, or when it was taken on this host by a process that no longer exists (pid gone, or
 * reused by one with another start time). So a crashed drkit never leaves a lock that needs a
 * human. Stale locks are ignored, and removed by `drkit unlock`.
 */
#ifndef DRK_REPO_LOCK_H
#define DRK_REPO_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/datetime.h"

struct repo;
struct repo_lock;

#define LOCK_REFRESH 300
#define LOCK_STALE   1800
/* a lock file this young whose process runs on this host is being taken (its flock follows
 * its creation by moments), even where the kernel says nobody holds it yet */
#define LOCK_TAKING 10

struct lock_info {
    char *id;
    char *hostname, *username, *command;
    long pid;
    uint64_t process_start;
    struct dt time;
    bool exclusive;
    bool stale;
    bool damaged; /* could not be parsed */
};

/* DRK_ELOCKED (message says who holds it and since when) if a live conflicting lock
 * exists. `command` is recorded for others to see. */
int lock_acquire(struct repo *repo, bool exclusive, const char *command, struct repo_lock **out);
void lock_release(struct repo_lock *l); /* NULL ok */

struct stor;

/* All lock files, parsed; caller frees with lock_info_free. Needs no key: locks are
 * plaintext. */
int lock_list(struct stor *stor, struct lock_info **out, size_t *n);
int lock_remove(struct stor *stor, const char *id);
void lock_info_free(struct lock_info *v, size_t n);

#endif
