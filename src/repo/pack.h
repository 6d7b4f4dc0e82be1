/*
 * pack: writing and parsing pack files (layout in format.h). A pack_writer streams sealed
 * blobs into a staging file while hashing it; finish appends the encrypted header and the
 * trailer and yields the pack id (SHA-256 of all bytes); commit moves it into
 * data/<xx>/<id>. Until commit nothing is visible in the repository.
 */
#ifndef DRK_REPO_PACK_H
#define DRK_REPO_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "repo/index.h"
#include "storage/storage.h"
#include "util/dwrite.h"
#include "util/vec.h"

struct sha256_stream;

struct pack_writer {
    struct stor_tmp tmp;
    int active;
    struct sha256_stream *sha;
    uint64_t size;
    VEC(struct pack_entry) entries;
    uint64_t payload_bytes; /* raw bytes of the blobs in it */
    struct dwrite out;      /* O_DIRECT when the storage allows it */
};

#define PACK_DIRECT_BUF (1024 * 1024)

void pack_writer_init(struct pack_writer *pw);
void pack_writer_release(struct pack_writer *pw); /* after commit or discard */
int pack_writer_begin(struct pack_writer *pw, struct stor *stor);
int pack_writer_add(struct pack_writer *pw, uint8_t type, const struct blob_id *id,
                    const void *sealed, size_t len, uint32_t raw_len);
/* Header + trailer; the pack's id goes to id_out. */
int pack_writer_finish(struct pack_writer *pw, const unsigned char key[32], struct blob_id *id_out);
int pack_writer_commit(struct pack_writer *pw, struct stor *stor, const struct blob_id *id);
void pack_writer_discard(struct pack_writer *pw, struct stor *stor);

/* Parse a whole pack held in memory: checks magic, trailer and header, and that entries
 * lie inside the blob area without overlapping. Entries go to *out (caller frees). */
int pack_parse(const unsigned char *data, size_t len, const unsigned char key[32],
               struct pack_entry **out, size_t *nout, const char *what);

#endif
