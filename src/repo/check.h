/*
 * check: the structure of a whole repository. Without read_data: key files parse, every
 * index, snapshot and key file matches its name's hash and opens, every indexed pack is
 * present with the recorded size, every tree of every snapshot loads and every blob a
 * file needs is indexed. With read_data: also every pack is read in full, hashed against
 * its name, its header checked against the index, and every blob decrypted and verified.
 *
 * Problems (damage) and notes (harmless leftovers such as packs of an interrupted backup
 * that no index names; prune removes them) are reported separately.
 */
#ifndef DRK_REPO_CHECK_H
#define DRK_REPO_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/vec.h"

struct repo;

struct check_opts {
    bool read_data;
    unsigned threads;
};

struct check_progress {
    _Atomic uint64_t packs, packs_total, bytes, bytes_total, errors;
    _Atomic int phase; /* 0 structure, 1 trees, 2 data */
};

struct check_item {
    char *object;
    char *message;
};

struct check_report {
    VEC(struct check_item) problems;
    VEC(struct check_item) notes;
    VEC(char *) affected; /* "backup-...: /path" */
    uint64_t affected_total;
    uint64_t snapshots, packs, blobs, trees, index_files, keys;
    uint64_t unindexed_packs, unindexed_bytes, staging_files;
};

#define CHECK_AFFECTED_KEPT 1000

int repo_check(struct repo *repo, const struct check_opts *o, struct check_progress *prog,
               struct check_report *rep);
void check_report_release(struct check_report *rep);

#endif
