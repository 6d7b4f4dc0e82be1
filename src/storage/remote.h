/*
 * remote: what the remote backends share — libcurl set up once, a curl error turned into
 * a drkit error an operator can act on (transient ones marked retryable), and staging
 * files for uploads (an unnamed temporary file in the staging directory, handed to the
 * upload queue on commit).
 */
#ifndef DRK_STORAGE_REMOTE_H
#define DRK_STORAGE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "storage/curl_lib.h" /* after curl.h: the curl calls go to the loaded library */
#include "storage/storage.h"
#include "util/buf.h"

/* libcurl loaded and initialized, once per process (curl_lib.h); 0 or an error saying what
 * is missing. Backends call it when they open. */
int remote_global_init(void);

/* A new easy handle with drkit's defaults (timeouts, no signals, TLS trust); NULL when curl
 * cannot make one (or was never loaded). */
CURL *remote_easy(const struct stor_params *p);
/* The same defaults on a handle (after curl_easy_reset). */
void remote_easy_defaults(CURL *c, const struct stor_params *p);

/* Map a curl failure of `what` (e.g. "PUT data/ab/ab12... on s3://bucket") to an error:
 * timeouts, refused or dropped connections are DRK_ETRANSIENT (retried), TLS and host-key
 * failures DRK_EAUTH, the rest DRK_EIO. errbuf: curl's CURLOPT_ERRORBUFFER text. */
int remote_curl_error(CURLcode c, const char *errbuf, const char *what);

/* Staging: an unnamed file in p->staging_dir ($TMPDIR, /tmp). */
int remote_stage_open(const struct stor_params *p, struct stor_tmp *out);
void remote_stage_discard(struct stor_tmp *tmp);

/* curl write callback appending to a struct buf (with an optional size limit in
 * remote_sink.max: more is an error). */
struct remote_sink {
    struct buf *out;
    size_t max;
    bool too_big;
};
size_t remote_sink_write(char *data, size_t size, size_t n, void *arg);

/* curl read callback over a file descriptor (pread from 0). */
struct remote_fd_source {
    int fd;
    uint64_t off, size; /* next offset, end offset */
    uint64_t start;     /* where the body begins (for rewinds) */
};
size_t remote_fd_read(char *data, size_t size, size_t n, void *arg);

/* Percent-encode s for a URL path (keeping '/'), or fully (query values). Caller frees. */
char *remote_escape(const char *s, bool keep_slash);

#endif
