/*
 * sealed: the envelope of config, index and snapshot files (format.h), and the
 * content-addressed save/load of such files: the name is the SHA-256 of the bytes.
 */
#ifndef DRK_REPO_SEALED_H
#define DRK_REPO_SEALED_H

#include <stddef.h>

#include "repo/format.h"
#include "util/buf.h"

struct repo;

/* Seal plain into out (replacing its contents), compressing with zstd when it helps. */
int sealed_seal(struct buf *out, const unsigned char key[32], char kind, const void *plain,
                size_t len);
/* Open data (checking magic, kind, version and tag) into plain. DRK_ECORRUPT if altered,
 * DRK_EVERSION if a newer format, DRK_EFOREIGN if it is not a drkit object at all. `what`
 * names the object in messages. */
int sealed_open(struct buf *plain, const unsigned char key[32], char kind, const void *data,
                size_t len, const char *what);

/* Seal and store under dir/<sha256 hex>; the id goes to id_out (65 bytes). */
int sealed_save(struct repo *repo, const char *dir, char kind, const void *plain, size_t len,
                char id_out[ID_HEX_LEN + 1]);
/* Load dir/id, verify its bytes hash to id, open. */
int sealed_load(struct repo *repo, const char *dir, const char *id, char kind, struct buf *plain);

#endif
