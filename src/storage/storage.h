/*
 * storage: one interface to the places a repository lives (STYLE #9). Storage knows
 * nothing of repositories: it stores named objects ("data/ab/ab12...", "config") and
 * lists, reads, stats and deletes them.
 *
 * Callers use the stor_* wrappers, never the vtable: the wrappers add retries with
 * backoff for retryable errors and one aggregated message.
 *
 * Guarantees every backend gives:
 *  - an object is either absent or complete (written under a temporary name, then moved);
 *  - STOR_PUT_EXCL fails with DRK_EEXIST if the object exists (atomic create);
 *  - names starting with '.' are internal and never listed.
 */
#ifndef DRK_STORAGE_STORAGE_H
#define DRK_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum stor_put_flags {
    STOR_PUT_EXCL = 1, /* fail with DRK_EEXIST if the object exists */
};

/* Called once per object; return non-zero to stop the listing with that code. */
typedef int (*stor_list_cb)(void *arg, const char *name, uint64_t size);

/* A staging file: written locally, then committed under its final name. */
struct stor_tmp {
    int fd;
    char *path;  /* NULL when the file has no name yet (O_TMPFILE) */
    bool direct; /* opened with O_DIRECT: writes must be STOR_DIRECT_ALIGN-aligned */
    void *be_data;
};

enum stor_tmp_flags {
    STOR_TMP_DIRECT = 1, /* try O_DIRECT (bypass the page cache); check tmp.direct */
};

#define STOR_DIRECT_ALIGN 4096

/* What a remote location needs besides its URL (from the repository's config section and
 * the environment). Every field may be NULL/0. The caller frees the strings (secrets are
 * wiped) right after open: a backend copies what it keeps. */
struct stor_params {
    /* S3 */
    const char *endpoint;      /* https://s3.eu-central-1.amazonaws.com, a MinIO URL... */
    const char *region;        /* default us-east-1 */
    const char *access_key_id; /* the secrets themselves, already read from their files */
    const char *secret_access_key;
    const char *session_token;
    int path_style; /* 1 path-style, 0 virtual-host, -1 automatic */
    /* SFTP, FTP, FTPS */
    const char *identity_file;  /* SFTP private key */
    const char *known_hosts;    /* SFTP host keys (required: drkit never skips the check) */
    const char *login_password; /* FTP (or SFTP password auth) */
    /* every remote backend */
    unsigned connections;    /* uploads at once (default 4) */
    double retry_time;       /* give up a request after retrying this long (s, default 120) */
    const char *staging_dir; /* where uploads are staged (default $TMPDIR or /tmp) */
    const char *ca_file;     /* TLS trust anchors (default: the system's) */
    const char *cache_dir;   /* root of the local caches of remote repositories */
};

struct stor_ops {
    unsigned version; /* 1 */
    const char *scheme;
    int (*open)(void **out, const char *location, const struct stor_params *p);
    void (*close)(void *be);
    /* Create the location and its fixed layout (init). DRK_EEXIST if it holds a repository. */
    int (*create)(void *be, const char *const *dirs);
    int (*put)(void *be, const char *key, const void *data, size_t len, unsigned flags);
    /* DRK_ENOTFOUND if missing; DRK_ETOOBIG past max (0: no max). */
    int (*get)(void *be, const char *key, struct buf *out, size_t max);
    /* Exactly len bytes at off; an object too short for the range is DRK_ECORRUPT, a
     * missing one DRK_ENOTFOUND. */
    int (*get_range)(void *be, const char *key, uint64_t off, size_t len, void *dst);
    /* Every object below dir (recursively); names are relative to dir. */
    int (*list)(void *be, const char *dir, stor_list_cb cb, void *arg);
    int (*del)(void *be, const char *key);
    int (*stat)(void *be, const char *key, uint64_t *size);
    int (*tmp_open)(void *be, struct stor_tmp *out, unsigned flags);
    /* fsync + move into place under key; the tmp is consumed whatever the outcome. */
    int (*tmp_commit)(void *be, struct stor_tmp *tmp, const char *key);
    void (*tmp_discard)(void *be, struct stor_tmp *tmp);
    /* Make committed objects durable (e.g. fsync the directories they went into). */
    int (*sync)(void *be);
    /* Optional: kernel locks on lock objects, so liveness needs no clock or pid. hold takes a
     * lock on key for as long as *handle stays open; held says whether anyone holds one
     * (1), nobody does (0), or it cannot tell (2); DRK_ENOTFOUND when the object is gone. */
    int (*lock_hold)(void *be, const char *key, int *handle);
    void (*lock_drop)(void *be, int handle);
    int (*lock_held)(void *be, const char *key);
};

struct stor_cache;

struct stor {
    const struct stor_ops *ops;
    void *be;
    char *location;           /* for messages: the path or URL */
    char *cache_root;         /* remote: where repositories' caches live (NULL: no cache) */
    struct stor_cache *cache; /* attached once the repository id is known */
};

/* Open storage for a location: a path (or file:// URL) for local storage; s3://bucket/prefix,
 * sftp://user@host:port/path, ftp:// and ftps:// URLs for the remote ones (p may be NULL). */
int stor_open(struct stor **out, const char *location);
int stor_open_params(struct stor **out, const char *location, const struct stor_params *p);
/* Is this location remote (a URL other than file://)? */
bool stor_is_remote(const char *location);
void stor_close(struct stor *s);

int stor_create(struct stor *s, const char *const *dirs);
int stor_put(struct stor *s, const char *key, const void *data, size_t len, unsigned flags);
int stor_get(struct stor *s, const char *key, struct buf *out, size_t max);
int stor_get_range(struct stor *s, const char *key, uint64_t off, size_t len, void *dst);
int stor_list(struct stor *s, const char *dir, stor_list_cb cb, void *arg);
int stor_del(struct stor *s, const char *key);
int stor_stat(struct stor *s, const char *key, uint64_t *size);
int stor_tmp_open(struct stor *s, struct stor_tmp *out, unsigned flags);
int stor_tmp_commit(struct stor *s, struct stor_tmp *tmp, const char *key);
void stor_tmp_discard(struct stor *s, struct stor_tmp *tmp);
int stor_sync(struct stor *s);
/* Keep a local cache of this remote repository in <cache root>/<name> (its id): index files
 * and snapshots, and packs read with stor_get_range_whole. No-op for local storage or
 * without a cache root. */
void stor_cache_attach(struct stor *s, const char *name);
/* Like stor_get_range, for objects read again and again (packs of trees): with a cache the
 * whole object (up to 64 MiB) is fetched once and later reads are local. */
int stor_get_range_whole(struct stor *s, const char *key, uint64_t off, size_t len, void *dst);
/* Kernel lock helpers: without backend support hold gives handle -1 and held answers 2
 * ("cannot tell"). */
int stor_lock_hold(struct stor *s, const char *key, int *handle);
void stor_lock_drop(struct stor *s, int handle);
int stor_lock_held(struct stor *s, const char *key);

extern const struct stor_ops stor_local_ops;
extern const struct stor_ops stor_s3_ops;
extern const struct stor_ops stor_xfer_ops; /* sftp://, ftp://, ftps:// through libcurl */

#endif
