/*
 * cache: a local copy of what a remote repository is read for again and again — index
 * files and snapshots (so `list` and every backup do not download them each time) and whole
 * packs of tree blobs (so an incremental backup reads its parent's trees locally). It lives
 * in <cache-dir>/<repository id>/ with the object names of the repository.
 *
 * Only content-addressed objects are cached (an index file, snapshot or pack is named by the
 * SHA-256 of its bytes), so a cached copy is verified on use by hashing it: a damaged or
 * foreign file is dropped and fetched again. Objects never change once written, so a copy is
 * never stale; one deleted from the repository (prune) is deleted here too, and a listing of
 * index/ or snapshots/ drops copies of objects that are gone.
 */
#ifndef DRK_STORAGE_CACHE_H
#define DRK_STORAGE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct stor;
struct stor_cache;

/* The cached copy of key into out (verified); DRK_ENOTFOUND if there is none (or it was
 * damaged and has been removed). */
int cache_get(struct stor_cache *c, const char *key, struct buf *out);
/* Keep a copy of key (already verified by the caller or content-addressed). Failures to
 * write the cache are not errors: it only speeds things up. */
void cache_put(struct stor_cache *c, const char *key, const void *data, size_t len);
/* Read len bytes at off of a cached whole object; DRK_ENOTFOUND if it is not cached. */
int cache_get_range(struct stor_cache *c, const char *key, uint64_t off, size_t len, void *dst);
void cache_del(struct stor_cache *c, const char *key);
/* Objects of dir present in the cache but not in names (sorted array): removed. */
void cache_prune_dir(struct stor_cache *c, const char *dir, char *const *names, size_t n);

/* Is key content-addressed (its last component is the hex SHA-256 of its bytes)? */
bool cache_key_addressed(const char *key);

struct stor_cache *cache_open(const char *dir);
void cache_close(struct stor_cache *c);

#endif
