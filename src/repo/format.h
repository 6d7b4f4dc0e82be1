/*
 * format: every on-disk constant of a drkit repository, in one place. The prose
 * specification (every byte, and why) is docs/repository-format.md; keep them in step.
 *
 * Layout of a repository (a directory, or a prefix in object storage):
 *   config                 sealed object (kind 'C'): repository id, version, chunker, packs
 *   keys/<id>              JSON: the master keys wrapped by a passphrase (Argon2id)
 *   data/<xx>/<id>         packs of encrypted blobs; id = SHA-256 of the pack bytes
 *   index/<id>             sealed object (kind 'I'): blob -> (pack, offset, length)
 *   snapshots/<id>         sealed object (kind 'S'): JSON snapshot description
 *   names/<name>           empty marker, created exclusively: snapshot names are unique
 *   locks/<id>             JSON lock records (plaintext; no secrets)
 *   maps/<repo id>/<id>    sealed object (kind 'M'): source -> target blob ids of copies
 *   tmp/                   staging area for packs being written (local storage)
 * Every id is 64 lowercase hex digits. Index, snapshot and pack ids are the SHA-256 of the
 * file's bytes, so anyone can check a file against its name without the key.
 * All integers are little-endian.
 */
#ifndef DRK_REPO_FORMAT_H
#define DRK_REPO_FORMAT_H

#include <stdint.h>

#define REPO_FORMAT_VERSION 1

#define ID_LEN     32 /* bytes of a blob/pack/file id */
#define ID_HEX_LEN 64

struct blob_id {
    unsigned char b[ID_LEN];
};

enum blob_type {
    BLOB_DATA = 0, /* a chunk of file or stream content */
    BLOB_TREE = 1, /* an encoded directory listing (repo/tree.h) */
};

/* --- sealed objects (config, index, snapshots) ---
 *   0  4  magic "DRKT"
 *   4  1  kind: 'C' config, 'I' index, 'S' snapshot
 *   5  1  format version (1)
 *   6  2  reserved, zero
 *   8 24  XChaCha20-Poly1305 nonce
 *  32  n  ciphertext of: 1 byte compression (0 none, 1 zstd) || payload
 * 32+n 16 tag; associated data = bytes 0..7
 */
#define SEALED_MAGIC      "DRKT"
#define SEALED_HEADER_LEN 8
#define OBJ_CONFIG        'C'
#define OBJ_INDEX         'I'
#define OBJ_SNAPSHOT      'S'
#define OBJ_MAP           'M' /* maps/<source repository id>/<id>: blob ids of copies */

#define COMP_NONE 0
#define COMP_ZSTD 1

/* --- packs ---
 *   0  8  magic "DRKPACK" + version byte 0x01
 *   8  .. blobs, each: nonce (24) || ciphertext || tag (16); associated data = type || id,
 *         plaintext = 1 byte compression || payload
 *   .. h  header: nonce || ciphertext of (u32 count, count * PACK_ENTRY_LEN entries) || tag,
 *         associated data = "DRKH"
 * end-8 4 u32 h (length of the sealed header)
 * end-4 4 magic "DRKE"
 * Entry (48 bytes): u8 type, u8[3] zero, u32 offset, u32 length (sealed bytes),
 *                   u32 raw length (uncompressed payload), 32 bytes blob id.
 */
#define PACK_MAGIC         "DRKPACK\x01"
#define PACK_MAGIC_LEN     8
#define PACK_TRAILER_MAGIC "DRKE"
#define PACK_TRAILER_LEN   8
#define PACK_HEADER_AD     "DRKH"
#define PACK_ENTRY_LEN     48
#define PACK_MAX_SIZE      (UINT32_MAX - 1) /* offsets are u32 */
#define PACK_DEFAULT_SIZE  (16u * 1024 * 1024)
#define PACK_MAX_BLOBS     (1u << 20)

/* Largest blob payload accepted on read (tree blobs of huge directories can be big). */
#define BLOB_MAX_RAW (512u * 1024 * 1024)
/* Largest sealed object (index, snapshot) accepted on read. */
#define SEALED_MAX (1024u * 1024 * 1024)
/* Largest key/lock file accepted on read. */
#define SMALL_FILE_MAX (64u * 1024)

/* Master key material wrapped in each key file: encryption key, blob-id MAC key and
 * chunker seed, 32 bytes each. */
#define MASTER_KEY_LEN 96

#endif
