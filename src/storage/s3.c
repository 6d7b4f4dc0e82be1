/*
 * s3: S3-compatible object storage (AWS, MinIO, Ceph, ...) through libcurl.
 *
 * Requests are signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4); the payload
 * hash is sent as UNSIGNED-PAYLOAD (curl 7.88 sends no x-amz-content-sha256 itself, which
 * servers require; TLS protects the body in transit and every object is authenticated by
 * drkit anyway). Query parameters are written in sorted order and escaped, because curl signs
 * them as written. Objects larger than MULTIPART_MIN are uploaded in parts; packs read range
 * after range (a restore) are fetched whole once (rangecache). Uploads of
 * staged packs run in the upload queue (several at once); sync waits for them.
 */
#include "storage/storage.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/rangecache.h"
#include "storage/remote.h"
#include "storage/upq.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MULTIPART_MIN (24u << 20) /* objects above this go up in parts (packs: ~16 MiB) */
#define PART_SIZE     (8u << 20)
#define HANDLES_MAX   32
#define XML_ERROR_MAX (64 << 10)

struct s3 {
    char *bucket, *prefix; /* prefix: "" or "dir/sub/" */
    char *base;            /* scheme://host[:port] of the endpoint */
    bool path_style;
    char *region, *sigv4, *key_id, *secret, *token;
    char *ca_file, *staging_dir;
    char *url_for_msgs; /* s3://bucket/prefix */
    struct stor_params params;
    pthread_mutex_t mu;
    CURL *handles[HANDLES_MAX];
    size_t nhandles;
    struct upq *uploads;
    struct rangecache *packs; /* packs read range after range, fetched whole */
};

/* --- handles ------------------------------------------------------------------------- */

static CURL *
handle_get(struct s3 *s)
{
    CURL *c = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->nhandles)
        c = s->handles[--s->nhandles];
    pthread_mutex_unlock(&s->mu);
    if (!c)
        c = remote_easy(&s->params);
    else /* pooled handles come back reset (request_once) */
        remote_easy_defaults(c, &s->params);
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s->key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret);
    return c;
}

static void
handle_put(struct s3 *s, CURL *c)
{
    pthread_mutex_lock(&s->mu);
    if (s->nhandles < HANDLES_MAX) {
        s->handles[s->nhandles++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c)
        curl_easy_cleanup(c);
}

/* --- URLs and errors ----------------------------------------------------------------- */

/* The URL of an object (key relative to the prefix; NULL: the bucket), with a query. */
static char *
object_url(const struct s3 *s, const char *key, const char *query)
{
    char *full = key ? xasprintf("%s%s", s->prefix, key) : xstrdup("");
    char *esc = remote_escape(full, true);
    char *url;
    if (s->path_style) /* the bucket itself without a trailing slash: signed as written */
        url = xasprintf("%s/%s%s%s%s%s", s->base, s->bucket, key ? "/" : "", esc, query ? "?" : "",
                        query ? query : "");
    else {
        const char *host = strstr(s->base, "://") + 3;
        url = xasprintf("%.*s%s.%s/%s%s%s", (int)(host - s->base), s->base, s->bucket, host, esc,
                        query ? "?" : "", query ? query : "");
    }
    free(full);
    free(esc);
    return url;
}

/* The text of <Tag>...</Tag> in xml (first one), unescaped; NULL if absent. */
static char *
xml_value(const char *xml, size_t len, const char *tag, const char **after)
{
    char open[64], close[64];
    const char *a, *b;
    struct buf v = BUF_INIT;
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    a = memmem(xml, len, open, strlen(open));
    if (!a)
        return NULL;
    a += strlen(open);
    b = memmem(a, len - (size_t)(a - xml), close, strlen(close));
    if (!b)
        return NULL;
    if (after)
        *after = b + strlen(close);
    for (const char *p = a; p < b; p++) {
        static const struct {
            const char *ent;
            char ch;
        } ents[] = { { "&amp;", '&' },
                     { "&lt;", '<' },
                     { "&gt;", '>' },
                     { "&quot;", '"' },
                     { "&apos;", '\'' } };
        bool done = false;
        for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
            size_t n = strlen(ents[i].ent);
            if ((size_t)(b - p) >= n && !memcmp(p, ents[i].ent, n)) {
                buf_addch(&v, ents[i].ch);
                p += n - 1;
                done = true;
            }
        }
        if (!done)
            buf_addch(&v, *p);
    }
    buf_addch(&v, '\0');
    return buf_detach(&v, NULL);
}

/* An error answer of the server, as an operator can read it. */
static int
http_error(const struct s3 *s, long status, const struct buf *body, const char *what)
{
    char *code = body->len ? xml_value((const char *)body->data, body->len, "Code", NULL) : NULL;
    char *msg = body->len ? xml_value((const char *)body->data, body->len, "Message", NULL) : NULL;
    const char *c = code ? code : "";
    int r;

    if (!strcmp(c, "SignatureDoesNotMatch")) {
        r = drk_err_set(DRK_EAUTH,
                        "%s: the server rejected the request signature "
                        "(SignatureDoesNotMatch): the secret access key is wrong",
                        what);
        drk_err_hint("check secret-access-key-file (or $AWS_SECRET_ACCESS_KEY) of the repository");
    } else if (!strcmp(c, "InvalidAccessKeyId")) {
        r = drk_err_set(DRK_EAUTH,
                        "%s: the server does not know the access key id "
                        "(InvalidAccessKeyId)",
                        what);
        drk_err_hint("check access-key-id-file (or $AWS_ACCESS_KEY_ID) of the repository");
    } else if (!strcmp(c, "NoSuchBucket")) {
        r = drk_err_set(DRK_ENOREPO, "%s: bucket '%s' does not exist at %s", what, s->bucket,
                        s->base);
        drk_err_hint("create the bucket first (drkit does not create buckets), or check the url "
                     "and endpoint");
    } else if (status == 403 && !*c) { /* HEAD answers carry no error document */
        r = drk_err_set(DRK_EAUTH, "%s: access denied (403)", what);
        drk_err_hint("check the access key id and secret access key of the repository, and "
                     "that they may use bucket '%s'",
                     s->bucket);
    } else if (status == 403) {
        r = drk_err_set(DRK_EPERM, "%s: access denied (%s%s%s)", what, c, msg ? ": " : "",
                        msg ? msg : "");
    } else if (status == 404) {
        r = drk_err_set(DRK_ENOTFOUND, "%s: no such object", what);
    } else if (status >= 500 || status == 429 || status == 408 || !strcmp(c, "RequestTimeout") ||
               !strcmp(c, "SlowDown")) {
        r = drk_err_set(DRK_ETRANSIENT, "%s: the server answered %ld %s%s%s", what, status, c,
                        msg ? ": " : "", msg ? msg : "");
    } else {
        r = drk_err_set(DRK_EIO, "%s: the server answered %ld %s%s%s", what, status, c,
                        msg ? ": " : "", msg ? msg : "");
    }
    free(code);
    free(msg);
    return r;
}

/* --- one request --------------------------------------------------------------------- */

struct req {
    const char *method; /* GET PUT HEAD DELETE POST */
    const char *key;    /* NULL: the bucket */
    const char *query;
    /* request body: from memory or from a file range */
    const void *body;
    size_t body_len;
    int body_fd;
    uint64_t body_off, body_size;
    bool has_body;
    const char *const *headers;
    /* response */
    struct buf *out; /* body (NULL: discarded; error bodies are kept anyway) */
    size_t out_max;
    int out_fd; /* or the body into this file (>= 0), at most out_max bytes */
    uint64_t out_fd_len;
    bool out_fd_too_big, out_fd_failed;
    long status;
    char etag[128];
    uint64_t length; /* Content-Length of a HEAD */
};

static size_t
header_cb(char *data, size_t size, size_t n, void *arg)
{
    struct req *q = arg;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(data, "ETag:", 5)) {
        const char *v = data + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        snprintf(q->etag, sizeof(q->etag), "%.*s", (int)vl, v);
    }
    return len;
}

struct mem_source {
    const char *p, *start;
    size_t left, len;
};

static size_t
mem_read(char *data, size_t size, size_t n, void *arg)
{
    struct mem_source *m = arg;
    size_t want = size * n;
    if (want > m->left)
        want = m->left;
    memcpy(data, m->p, want);
    m->p += want;
    m->left -= want;
    return want;
}

/* curl rewinds a body to send it again (a reused connection that turned out dead) */
static int
mem_seek(void *arg, curl_off_t off, int origin)
{
    struct mem_source *m = arg;
    if (origin != SEEK_SET || off < 0 || (size_t)off > m->len)
        return CURL_SEEKFUNC_FAIL;
    m->p = m->start + off;
    m->left = m->len - (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static int
fd_seek(void *arg, curl_off_t off, int origin)
{
    struct remote_fd_source *f = arg;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > f->size - f->start)
        return CURL_SEEKFUNC_FAIL;
    f->off = f->start + (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t
fd_write(char *data, size_t size, size_t n, void *arg)
{
    struct req *q = arg;
    size_t len = size * n, done = 0;
    if (q->out_max && q->out_fd_len + len > q->out_max) {
        q->out_fd_too_big = true;
        return 0;
    }
    while (done < len) {
        ssize_t w = pwrite(q->out_fd, data + done, len - done, (off_t)(q->out_fd_len + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            q->out_fd_failed = true;
            return 0;
        }
        done += (size_t)w;
    }
    q->out_fd_len += len;
    return len;
}

static int
request_once(struct s3 *s, struct req *q)
{
    CURL *c = handle_get(s);
    struct curl_slist *hdrs = NULL;
    struct buf errbody = BUF_INIT;
    struct remote_sink sink;
    struct mem_source ms;
    struct remote_fd_source fs;
    char errbuf[CURL_ERROR_SIZE] = "", *url, *what;
    CURLcode cc;
    int r = 0;

    if (!c)
        return drk_err_set(DRK_ENOMEM, "cannot create a libcurl handle");
    url = object_url(s, q->key, q->query);
    what = xasprintf("%s %s/%s", q->method, s->url_for_msgs, q->key ? q->key : "");
    hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (s->token) {
        char *t = xasprintf("x-amz-security-token: %s", s->token);
        hdrs = curl_slist_append(hdrs, t);
        free(t);
    }
    for (size_t i = 0; q->headers && q->headers[i]; i++)
        hdrs = curl_slist_append(hdrs, q->headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
    memset(&sink, 0, sizeof(sink));
    sink.out = q->out ? q->out : &errbody;
    /* room for an error document even where the object asked for is tiny */
    sink.max = q->out && q->out_max ? q->out_max + XML_ERROR_MAX : q->out ? 0 : XML_ERROR_MAX;
    if (q->out_fd >= 0) {
        q->out_fd_len = 0;
        q->out_fd_too_big = q->out_fd_failed = false;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fd_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, remote_sink_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    }
    if (!strcmp(q->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(q->method, "PUT") || !strcmp(q->method, "POST")) {
        if (!strcmp(q->method, "PUT"))
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        else
            curl_easy_setopt(c, CURLOPT_POST, 1L);
        if (q->body_fd >= 0 && q->has_body) {
            fs.fd = q->body_fd;
            fs.off = fs.start = q->body_off;
            fs.size = q->body_off + q->body_size;
            curl_easy_setopt(c, CURLOPT_READFUNCTION, remote_fd_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &fs);
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, fd_seek);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, &fs);
        } else {
            ms.p = ms.start = q->body;
            ms.left = ms.len = q->body_len;
            curl_easy_setopt(c, CURLOPT_READFUNCTION, mem_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &ms);
            curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, mem_seek);
            curl_easy_setopt(c, CURLOPT_SEEKDATA, &ms);
        }
        if (!strcmp(q->method, "PUT"))
            curl_easy_setopt(
                c, CURLOPT_INFILESIZE_LARGE,
                (curl_off_t)(q->body_fd >= 0 && q->has_body ? q->body_size : q->body_len));
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR && q->out_fd_too_big)
            r = DRK_ETOOBIG; /* no message: the caller reads by range instead */
        else if (cc == CURLE_WRITE_ERROR && q->out_fd_failed)
            r = drk_err_errno(DRK_EIO, errno, "%s: cannot write a staging file", what);
        else if (cc == CURLE_WRITE_ERROR && sink.too_big)
            r = drk_err_set(DRK_ETOOBIG, "%s: the object is larger than %zu bytes", what,
                            q->out_max);
        else
            r = remote_curl_error(cc, errbuf, what);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
    {
        /* an answer cut inside its headers comes back from libcurl as a success with what it
         * got: an object (or a HEAD) without its length is not an answer */
        curl_off_t cl = -1;
        bool is_get = !strcmp(q->method, "GET") && q->key;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (q->status == 0)
            r = drk_err_set(DRK_ETRANSIENT, "%s: no answer", what);
        else if (!strcmp(q->method, "HEAD") && q->status < 300 && cl < 0)
            r = drk_err_set(DRK_ETRANSIENT, "%s: an answer without its length", what);
        else if (!strcmp(q->method, "HEAD"))
            q->length = cl > 0 ? (uint64_t)cl : 0;
        else if (q->status < 300 && q->out_fd >= 0 && cl >= 0 && (uint64_t)cl != q->out_fd_len)
            r = drk_err_set(DRK_ETRANSIENT, "%s: %llu bytes received of %lld", what,
                            (unsigned long long)q->out_fd_len, (long long)cl);
        else if (q->status < 300 && q->out && cl >= 0 && (uint64_t)cl != q->out->len)
            r = drk_err_set(DRK_ETRANSIENT, "%s: %zu bytes received of %lld", what, q->out->len,
                            (long long)cl);
        else if (q->status < 300 && is_get && cl < 0 && q->out && q->out->len == 0)
            r = drk_err_set(DRK_ETRANSIENT, "%s: an empty answer without its length", what);
    }
    if (r == 0 && q->status >= 300)
        r = http_error(s, q->status, sink.out, what);
    else if (r == 0 && q->out && q->out_max && q->out->len > q->out_max)
        r = drk_err_set(DRK_ETOOBIG, "%s: the object is larger than %zu bytes", what, q->out_max);
out:
    if (r && q->out)
        buf_reset(q->out);
    curl_easy_reset(c); /* drop the pointers into this frame before the handle is pooled */
    curl_slist_free_all(hdrs);
    handle_put(s, c);
    buf_release(&errbody);
    free(url);
    free(what);
    return r;
}

struct retry_arg {
    struct s3 *s;
    struct req *q;
};

static int
request_try(void *arg)
{
    struct retry_arg *a = arg;
    a->q->status = 0;
    a->q->etag[0] = '\0';
    if (a->q->out)
        buf_reset(a->q->out);
    return request_once(a->s, a->q);
}

/* One request, retried while it fails transiently (dropped connections, timeouts, 5xx,
 * SlowDown) for up to retry-time; a body is sent again from its start each time. */
static int
request(struct s3 *s, struct req *q)
{
    struct retry_arg a = { s, q };
    char what[256];
    snprintf(what, sizeof(what), "%s %s", q->method, q->key ? q->key : "(bucket)");
    return upq_retry(s->params.retry_time, what, request_try, &a);
}

static void
req_init(struct req *q, const char *method, const char *key)
{
    memset(q, 0, sizeof(*q));
    q->method = method;
    q->key = key;
    q->body_fd = -1;
    q->out_fd = -1;
}

/* --- operations ---------------------------------------------------------------------- */

static int
s3_stat(void *be, const char *key, uint64_t *size)
{
    struct req q;
    int r;
    req_init(&q, "HEAD", key);
    r = request(be, &q);
    if (r == 0 && size)
        *size = q.length;
    /* a HEAD answer has no error document: "no repository here" may really be "no such
     * bucket", which deserves its own message */
    if (r == DRK_EAUTH && strstr(drk_err_msg(), "(403)")) {
        /* a HEAD answer has no error document: a listing says which credential is wrong */
        struct req b;
        req_init(&b, "GET", NULL);
        b.query = "list-type=2&max-keys=1";
        if (request_once(be, &b) == 0)
            drk_err_set(DRK_EAUTH, "HEAD %s: access denied (403)", key);
        return drk_err_code() ? drk_err_code() : r;
    }
    if (r == DRK_ENOTFOUND && !strcmp(key, "config")) {
        char *msg = xstrdup(drk_err_msg());
        struct req b;
        int rb;
        req_init(&b, "GET", NULL);
        b.query = "list-type=2&max-keys=1";
        if ((rb = request(be, &b)) != 0)
            r = rb; /* the bucket is missing, or the credentials are refused */
        else
            drk_err_set(DRK_ENOTFOUND, "%s", msg);
        free(msg);
    }
    return r;
}

static int
s3_get(void *be, const char *key, struct buf *out, size_t max)
{
    struct req q;
    req_init(&q, "GET", key);
    buf_reset(out);
    q.out = out;
    q.out_max = max;
    return request(be, &q);
}

static int
s3_get_range(void *be, const char *key, uint64_t off, size_t len, void *dst)
{
    char range[96];
    const char *hdrs[2] = { range, NULL };
    struct buf b = BUF_INIT;
    struct req q;
    int r;
    if (len == 0)
        return 0;
    if ((r = rangecache_read(((struct s3 *)be)->packs, key, off, len, dst)) != 1)
        return r;
    snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    req_init(&q, "GET", key);
    q.headers = hdrs;
    q.out = &b;
    q.out_max = len + 1;
    r = request(be, &q);
    if (r && q.status == 416)
        r = drk_err_set(DRK_ECORRUPT, "%s: %zu bytes at %llu asked: the object is shorter", key,
                        len, (unsigned long long)off);
    if (r == 0 && q.status == 206 && b.len == len)
        memcpy(dst, b.data, len);
    else if (r == 0 && q.status == 206 && b.len < len)
        r = drk_err_set(DRK_ECORRUPT,
                        "%s: %zu bytes at %llu asked, %zu returned (object too "
                        "short)",
                        key, len, (unsigned long long)off, b.len);
    else if (r == 0) /* 200: the whole object, or something that is not our range */
        r = drk_err_set(DRK_ETRANSIENT,
                        "%s: asked for %zu bytes at %llu, got status %ld with "
                        "%zu bytes",
                        key, len, (unsigned long long)off, q.status, b.len);
    else if (r == DRK_ETOOBIG) /* more than the range: a confused connection, or a server
                                  that ignores Range; retried like any transient failure */
        r = drk_err_set(DRK_ETRANSIENT, "%s: the server ignored the byte range", key);
    buf_release(&b);
    return r;
}

static int
put_mem(struct s3 *s, const char *key, const void *data, size_t len, const char *const *headers)
{
    struct req q;
    req_init(&q, "PUT", key);
    q.body = data;
    q.body_len = len;
    q.headers = headers;
    return request(s, &q);
}

static int
s3_put(void *be, const char *key, const void *data, size_t len, unsigned flags)
{
    struct s3 *s = be;
    /* S3 writes are atomic (an object appears whole or not at all). For an exclusive create,
     * If-None-Match makes AWS refuse an existing object (412); servers without conditional
     * writes are checked with a HEAD first — a narrow race remains there, which the callers
     * (names/ markers, keys, config) tolerate: they read back what they created. */
    static const char *const excl[] = { "If-None-Match: *", NULL };
    int r;
    if (flags & STOR_PUT_EXCL) {
        r = s3_stat(s, key, NULL);
        if (r == 0)
            return drk_err_set(DRK_EEXIST, "%s/%s exists", s->url_for_msgs, key);
        if (r != DRK_ENOTFOUND)
            return r;
        r = put_mem(s, key, data, len, excl);
        if (r && strstr(drk_err_msg(), " 412 "))
            return drk_err_set(DRK_EEXIST, "%s/%s exists", s->url_for_msgs, key);
        return r;
    }
    return put_mem(s, key, data, len, NULL);
}

static int
s3_del(void *be, const char *key)
{
    struct req q;
    rangecache_forget(((struct s3 *)be)->packs, key);
    req_init(&q, "DELETE", key);
    return request(be, &q);
}

/* rangecache_fetch_fn: the whole object into fd */
static int
fetch_whole(void *be, const char *key, int fd, uint64_t max, uint64_t *size)
{
    struct req q;
    int r;
    req_init(&q, "GET", key);
    q.out_fd = fd;
    q.out_max = (size_t)max;
    r = request(be, &q);
    if (r == 0)
        *size = q.out_fd_len;
    return r;
}

/* One page of a listing: a page cut short (no closing tag) is tried again like any
 * transient failure. */
static int
page_try(void *arg)
{
    struct retry_arg *a = arg;
    int r = request_try(arg);
    if (r == 0 && !memmem(a->q->out->data, a->q->out->len, "</ListBucketResult>", 19))
        r = drk_err_set(DRK_ETRANSIENT, "listing %s: the answer is incomplete", a->s->url_for_msgs);
    return r;
}

/* ListObjectsV2 of prefix+dir, page by page. */
static int
s3_list(void *be, const char *dir, stor_list_cb cb, void *arg)
{
    struct s3 *s = be;
    char *full = xasprintf("%s%s%s", s->prefix, dir, *dir ? "/" : "");
    char *eprefix = remote_escape(full, false), *token = NULL;
    struct buf page = BUF_INIT;
    size_t skip = strlen(full);
    int r = 0;

    for (;;) {
        char *query, *etoken = token ? remote_escape(token, false) : NULL;
        struct req q;
        const char *p, *end;
        char *truncated;
        /* parameters in sorted order: curl signs the query as written. $DRKIT_S3_LIST_PAGE
         * asks for smaller pages (servers give at most 1000 keys a page anyway). */
        const char *page_env = getenv("DRKIT_S3_LIST_PAGE");
        long per_page = page_env ? strtol(page_env, NULL, 10) : 0;
        char max_keys[32] = "";
        if (per_page > 0 && per_page < 1000)
            snprintf(max_keys, sizeof(max_keys), "&max-keys=%ld", per_page);
        query = xasprintf("%s%s%slist-type=2%s&prefix=%s", etoken ? "continuation-token=" : "",
                          etoken ? etoken : "", etoken ? "&" : "", max_keys, eprefix);
        free(etoken);
        req_init(&q, "GET", NULL);
        q.query = query;
        q.out = &page;
        q.out_max = 64 << 20;
        {
            struct retry_arg a = { s, &q };
            r = upq_retry(s->params.retry_time, "listing", page_try, &a);
        }
        free(query);
        if (r)
            break;
        p = (const char *)page.data;
        end = p + page.len;
        while (p < end && r == 0) {
            const char *contents = memmem(p, (size_t)(end - p), "<Contents>", 10), *after = NULL;
            const char *cend;
            char *key, *size;
            if (!contents)
                break;
            cend = memmem(contents, (size_t)(end - contents), "</Contents>", 11);
            if (!cend)
                break;
            key = xml_value(contents, (size_t)(cend - contents), "Key", &after);
            size = xml_value(contents, (size_t)(cend - contents), "Size", NULL);
            if (key && strlen(key) > skip) {
                const char *name = key + skip, *base = strrchr(name, '/');
                base = base ? base + 1 : name;
                if (base[0] != '.')
                    r = cb(arg, name, size ? strtoull(size, NULL, 10) : 0);
            }
            free(key);
            free(size);
            p = cend + 11;
        }
        truncated = xml_value((const char *)page.data, page.len, "IsTruncated", NULL);
        free(token);
        token = NULL;
        if (r == 0 && truncated && !strcmp(truncated, "true")) {
            token = xml_value((const char *)page.data, page.len, "NextContinuationToken", NULL);
            if (!token) /* a partial listing must never pass for a whole one (prune, check) */
                r = drk_err_set(DRK_EIO, "listing %s/%s: truncated without a continuation token",
                                s->url_for_msgs, dir);
        }
        free(truncated);
        if (!token)
            break;
    }
    free(token);
    free(full);
    free(eprefix);
    buf_release(&page);
    return r;
}

static int
s3_create(void *be, const char *const *dirs)
{
    struct s3 *s = be;
    struct req q;
    int r;
    (void)dirs; /* an object store has no directories to make */
    /* the bucket must exist (and the credentials work): a listing of nothing tells */
    req_init(&q, "GET", NULL);
    q.query = "list-type=2&max-keys=1";
    r = request(s, &q);
    if (r)
        return r;
    r = s3_stat(s, "config", NULL);
    if (r == 0)
        return drk_err_set(DRK_EEXIST, "%s already holds a repository", s->url_for_msgs);
    return r == DRK_ENOTFOUND ? 0 : r;
}

/* --- uploads of staged files ---------------------------------------------------------- */

struct part_ctx {
    struct s3 *s;
    const char *key, *upload_id;
    int fd;
    uint64_t off, size;
    int number;
    char etag[128];
};

static int
put_part_once(void *arg)
{
    struct part_ctx *p = arg;
    char query[512];
    char *eid = remote_escape(p->upload_id, false);
    struct req q;
    int r;
    snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", p->number, eid);
    free(eid);
    req_init(&q, "PUT", p->key);
    q.query = query;
    q.body_fd = p->fd;
    q.body_off = p->off;
    q.body_size = p->size;
    q.has_body = true;
    r = request(p->s, &q);
    if (r == 0 && !q.etag[0])
        r = drk_err_set(DRK_ETRANSIENT, "part %d of %s: the answer has no ETag", p->number, p->key);
    if (r == 0)
        snprintf(p->etag, sizeof(p->etag), "%s", q.etag);
    return r;
}

static int
multipart(struct s3 *s, int fd, uint64_t size, const char *key)
{
    struct buf out = BUF_INIT, xml = BUF_INIT;
    struct req q;
    char *upload_id = NULL, *query, *eid;
    uint64_t part = PART_SIZE;
    int r, nparts;

    while (size / part >= 10000)
        part *= 2;
    req_init(&q, "POST", key);
    q.query = "uploads=";
    q.out = &out;
    q.out_max = 1 << 20;
    if ((r = request(s, &q)) != 0)
        goto out;
    upload_id = xml_value((const char *)out.data, out.len, "UploadId", NULL);
    if (!upload_id) {
        r = drk_err_set(DRK_EIO, "%s/%s: the server started no multipart upload", s->url_for_msgs,
                        key);
        goto out;
    }
    buf_addf(&xml, "<CompleteMultipartUpload>");
    nparts = (int)((size + part - 1) / part);
    for (int i = 0; i < nparts && r == 0; i++) {
        struct part_ctx pc;
        memset(&pc, 0, sizeof(pc));
        pc.s = s;
        pc.key = key;
        pc.upload_id = upload_id;
        pc.fd = fd;
        pc.off = (uint64_t)i * part;
        pc.size = pc.off + part > size ? size - pc.off : part;
        pc.number = i + 1;
        r = upq_retry(s->params.retry_time, key, put_part_once, &pc);
        if (r == 0)
            buf_addf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1,
                     pc.etag);
    }
    buf_addf(&xml, "</CompleteMultipartUpload>");
    eid = remote_escape(upload_id, false);
    query = xasprintf("uploadId=%s", eid);
    free(eid);
    if (r == 0) {
        buf_reset(&out);
        req_init(&q, "POST", key);
        q.query = query;
        q.body = xml.data;
        q.body_len = xml.len;
        q.out = &out;
        q.out_max = 1 << 20;
        r = request(s, &q);
        /* a 200 can still carry an error document */
        if (r == 0 && memmem(out.data, out.len, "<Error>", 7))
            r = http_error(s, 500, &out, "completing a multipart upload");
    }
    if (r) { /* leave no parts behind to be billed (one try: the cause is what matters) */
        struct drk_error cause;
        struct req a;
        drk_err_save(&cause);
        req_init(&a, "DELETE", key);
        a.query = query;
        request_once(s, &a);
        drk_err_restore(&cause);
    }
    free(query);
out:
    free(upload_id);
    buf_release(&out);
    buf_release(&xml);
    return r;
}

/* upq_upload_fn: one staged file up, in one piece or in parts. */
static int
upload_staged(void *be, int fd, uint64_t size, const char *key)
{
    struct s3 *s = be;
    struct req q;
    if (size > MULTIPART_MIN)
        return multipart(s, fd, size, key);
    req_init(&q, "PUT", key);
    q.body_fd = fd;
    q.body_size = size;
    q.has_body = true;
    return request(s, &q);
}

static int
s3_tmp_open(void *be, struct stor_tmp *out, unsigned flags)
{
    struct s3 *s = be;
    (void)flags; /* O_DIRECT is for local disks */
    return remote_stage_open(&s->params, out);
}

static int
s3_tmp_commit(void *be, struct stor_tmp *tmp, const char *key)
{
    struct s3 *s = be;
    int fd = tmp->fd;
    tmp->fd = -1;
    return upq_push(s->uploads, fd, key);
}

static void
s3_tmp_discard(void *be, struct stor_tmp *tmp)
{
    (void)be;
    remote_stage_discard(tmp);
}

static int
s3_sync(void *be)
{
    struct s3 *s = be;
    return upq_wait(s->uploads);
}

/* --- open and close ----------------------------------------------------------------- */

static void
s3_close(void *be)
{
    struct s3 *s = be;
    if (!s)
        return;
    upq_free(s->uploads);
    rangecache_free(s->packs);
    for (size_t i = 0; i < s->nhandles; i++)
        curl_easy_cleanup(s->handles[i]);
    pthread_mutex_destroy(&s->mu);
    free(s->bucket);
    free(s->prefix);
    free(s->base);
    free(s->region);
    free(s->sigv4);
    free(s->key_id);
    if (s->secret) {
        explicit_bzero(s->secret, strlen(s->secret));
        free(s->secret);
    }
    free(s->token);
    free(s->ca_file);
    free(s->staging_dir);
    free(s->url_for_msgs);
    free(s);
}

static bool
host_is_address(const char *base)
{
    const char *h = strstr(base, "://");
    h = h ? h + 3 : base;
    return !strncmp(h, "localhost", 9) || (*h >= '0' && *h <= '9') || *h == '[';
}

static int
s3_open(void **out, const char *location, const struct stor_params *p)
{
    const char *rest = location + strlen("s3://"), *slash = strchr(rest, '/');
    struct s3 *s;
    size_t blen = slash ? (size_t)(slash - rest) : strlen(rest);

    if (blen == 0)
        return drk_err_set(DRK_EUSAGE, "'%s': no bucket (write s3://BUCKET/PREFIX)", location);
    if (!p->access_key_id || !p->secret_access_key) {
        drk_err_set(DRK_ECONFIG, "'%s': no S3 credentials", location);
        drk_err_hint("set access-key-id-file and secret-access-key-file in the repository's "
                     "section, or $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY");
        return DRK_ECONFIG;
    }
    if (remote_global_init() != 0)
        return drk_err_code();
    s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->bucket = xstrndup(rest, blen);
    if (slash) {
        size_t n = strlen(slash + 1);
        while (n && slash[n] == '/')
            n--;
        s->prefix = n ? xasprintf("%.*s/", (int)n, slash + 1) : xstrdup("");
    } else {
        s->prefix = xstrdup("");
    }
    s->region = xstrdup(p->region ? p->region : "us-east-1");
    if (p->endpoint) {
        size_t n = strlen(p->endpoint);
        while (n && p->endpoint[n - 1] == '/')
            n--;
        s->base = strstr(p->endpoint, "://") ? xstrndup(p->endpoint, n)
                                             : xasprintf("https://%.*s", (int)n, p->endpoint);
    } else {
        s->base = xasprintf("https://s3.%s.amazonaws.com", s->region);
    }
    s->path_style = p->path_style >= 0 ? p->path_style != 0 : host_is_address(s->base);
    s->sigv4 = xasprintf("aws:amz:%s:s3", s->region);
    s->key_id = xstrdup(p->access_key_id);
    s->secret = xstrdup(p->secret_access_key);
    s->token = p->session_token ? xstrdup(p->session_token) : NULL;
    s->ca_file = p->ca_file ? xstrdup(p->ca_file) : NULL;
    s->url_for_msgs = xasprintf("s3://%s%s%.*s", s->bucket, *s->prefix ? "/" : "",
                                (int)(*s->prefix ? strlen(s->prefix) - 1 : 0), s->prefix);
    s->params.retry_time = p->retry_time;
    s->params.connections = p->connections;
    s->staging_dir = p->staging_dir ? xstrdup(p->staging_dir) : NULL;
    s->params.staging_dir = s->staging_dir; /* the caller's strings are freed after open */
    s->params.ca_file = s->ca_file;
    s->uploads = upq_new(p->connections, upload_staged, s, p->retry_time);
    s->packs = rangecache_new(&s->params, fetch_whole, s);
    *out = s;
    return 0;
}

const struct stor_ops stor_s3_ops = {
    .version = 1,
    .scheme = "s3",
    .open = s3_open,
    .close = s3_close,
    .create = s3_create,
    .put = s3_put,
    .get = s3_get,
    .get_range = s3_get_range,
    .list = s3_list,
    .del = s3_del,
    .stat = s3_stat,
    .tmp_open = s3_tmp_open,
    .tmp_commit = s3_tmp_commit,
    .tmp_discard = s3_tmp_discard,
    .sync = s3_sync,
};
