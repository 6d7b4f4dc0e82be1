/*
 * tree: a directory listing, stored as a blob of type BLOB_TREE. Entries (nodes) are
 * sorted by name bytes, names unique. Binary encoding (little-endian):
 *
 *   u32 version (1), u32 count, then per node:
 *     u16 name_len, name bytes          (1..4095 bytes; no NUL, no '/', not "." or "..")
 *     u8 type (enum node_type), u8 flags (NODE_FLAG_*)
 *     u32 mode (permission bits incl. setuid/setgid/sticky), u32 uid, u32 gid
 *     u8 user_len, user; u8 group_len, group        (names as on the backed-up machine)
 *     i64 mtime seconds, u32 mtime nanoseconds, i64 ctime seconds, u32 ctime nanoseconds
 *     u64 device, u64 inode, u32 link count         (hardlinks; change detection)
 *     u64 size, u64 rdev                            (rdev: device nodes)
 *     u16 link_len, symlink target bytes
 *     u16 xattr count, per xattr: u16 name_len, name, u32 value_len, value
 *     u32 content count, content count * 32-byte data blob ids   (regular files)
 *     32-byte subtree id                                         (directories only)
 *
 * Decoding validates everything, including names, so a hostile tree cannot steer a restore
 * outside its target: unsafe names are DRK_EUNSAFE, structural damage DRK_ECORRUPT.
 * Nodes and their strings live in the tree's arena.
 */
#ifndef DRK_REPO_TREE_H
#define DRK_REPO_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/format.h"
#include "util/arena.h"
#include "util/buf.h"

struct repo;
struct blob_codec;

enum node_type {
    NODE_FILE = 1,
    NODE_DIR = 2,
    NODE_SYMLINK = 3,
    NODE_CHARDEV = 4,
    NODE_BLOCKDEV = 5,
    NODE_FIFO = 6,
    NODE_SOCKET = 7,
};

#define NODE_FLAG_SPARSE 1 /* had holes when backed up: restore writes holes for zeros */

#define TREE_NAME_MAX  4095
#define TREE_LINK_MAX  4095
#define TREE_XATTR_MAX 1024 /* attributes per node */

struct xattr {
    char *name; /* NUL-terminated */
    unsigned char *value;
    uint32_t len;
};

struct node {
    char *name; /* NUL-terminated copy of the name bytes */
    size_t name_len;
    uint8_t type;
    uint8_t flags;
    uint32_t mode, uid, gid;
    char *user, *group; /* "" when unknown */
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    int64_t ctime_sec;
    uint32_t ctime_nsec;
    uint64_t dev, ino;
    uint32_t nlink;
    uint64_t size, rdev;
    char *link;
    size_t link_len;
    struct xattr *xattrs;
    uint32_t nxattrs;
    struct blob_id *content;
    uint32_t ncontent;
    struct blob_id subtree;
};

struct tree {
    struct node *nodes;
    size_t n, cap;
    struct arena arena;
};

void tree_init(struct tree *t);
void tree_release(struct tree *t);
/* Append a zeroed node (its strings to be set from t->arena); pointer valid until the next
 * tree_add_node. */
struct node *tree_add_node(struct tree *t);
void tree_sort(struct tree *t);
int tree_encode(const struct tree *t, struct buf *out);
/* On failure out is released (nothing to free). */
int tree_decode(struct tree *out, const void *data, size_t len);
/* Binary search by name. */
const struct node *tree_find(const struct tree *t, const char *name, size_t len);
/* Could this name be created safely inside a directory? */
bool tree_name_safe(const char *name, size_t len);
int node_name_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* Read and decode tree blob id. */
int tree_load(struct tree *out, struct blob_codec *c, struct repo *repo, const struct blob_id *id);
const char *node_type_name(uint8_t type); /* "file", "dir", ... */

#endif
