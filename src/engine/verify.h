/*
 * verify: `backup test` — read every blob a snapshot needs (its trees and all file
 * content), decrypt, decompress and check each against its id, in parallel by pack.
 * What is damaged is named (pack and blob, or tree and directory) together with the
 * files it affects.
 */
#ifndef DRK_ENGINE_VERIFY_H
#define DRK_ENGINE_VERIFY_H

#include <stdatomic.h>
#include <stdint.h>

#include "repo/check.h"
#include "repo/format.h"
#include "util/vec.h"

struct repo;
struct snapshot;
struct idset;

struct verify_progress {
    _Atomic uint64_t blobs, blobs_total, bytes, bytes_total, errors;
};

struct verify_report {
    /* object: "data/ab/ab12...", "index/...", "tree 1a2b..." */
    VEC(struct check_item) problems;
    VEC(char *) affected; /* file paths that cannot be restored exactly */
    uint64_t affected_total;
    uint64_t trees, blobs, bytes;
};

#define VERIFY_AFFECTED_KEPT 1000

int verify_snapshot(struct repo *repo, const struct snapshot *snap, unsigned threads,
                    struct verify_progress *prog, struct verify_report *rep);
void verify_report_release(struct verify_report *rep);
void verify_report_problem(struct verify_report *rep, const char *object, const char *message);

/* Append to rep->affected every file below root that uses a blob in bad. */
int verify_find_affected(struct repo *repo, const struct blob_id *root, const char *root_path,
                         const struct idset *bad, struct verify_report *rep);

#endif
