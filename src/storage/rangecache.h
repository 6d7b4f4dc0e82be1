/*
 * rangecache: whole copies of packs that are read range after range (a restore, a check of
 * every blob), for remote backends where each range is a request. The first range read of a
 * pack goes to the server as usual; the second fetches the whole pack (up to a size limit)
 * into a staging file, and every later range is read from there. A few packs are kept, the
 * least recently used dropped; threads asking for a pack being fetched wait for it.
 */
#ifndef DRK_STORAGE_RANGECACHE_H
#define DRK_STORAGE_RANGECACHE_H

#include <stddef.h>
#include <stdint.h>

struct stor_params;
struct rangecache;

/* Fetch all of key into fd (empty, positioned at 0); *size: its length. DRK_ETOOBIG (without
 * a message) when it is larger than max: it is then always read by range. */
typedef int (*rangecache_fetch_fn)(void *be, const char *key, int fd, uint64_t max, uint64_t *size);

struct rangecache *rangecache_new(const struct stor_params *p, rangecache_fetch_fn fetch, void *be);
void rangecache_free(struct rangecache *rc);
/* Serve len bytes at off of key: 0 (or an error) when served, 1 when the caller should read
 * the range from the server itself. An object too short for the range is DRK_ECORRUPT. */
int rangecache_read(struct rangecache *rc, const char *key, uint64_t off, size_t len, void *dst);
/* key was deleted: drop any copy. */
void rangecache_forget(struct rangecache *rc, const char *key);

#endif
