/* remote: libcurl setup, error mapping, staging files and callbacks for remote backends. */
#include "storage/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

int
remote_global_init(void)
{
    return curl_lib_load();
}

CURL *
remote_easy(const struct stor_params *p)
{
    CURL *c;
    if (remote_global_init() != 0)
        return NULL;
    c = curl_easy_init();
    if (c)
        remote_easy_defaults(c, p);
    return c;
}

void
remote_easy_defaults(CURL *c, const struct stor_params *p)
{
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    /* a stalled transfer (under 1 KiB/s for 30 s) is dropped and retried */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (p && p->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
}

int
remote_curl_error(CURLcode c, const char *errbuf, const char *what)
{
    const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(c);
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_AGAIN:
    case CURLE_SEND_FAIL_REWIND:
        return drk_err_set(DRK_ETRANSIENT, "%s: %s", what, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
        drk_err_set(DRK_EAUTH, "%s: the server's identity could not be verified: %s", what, detail);
        drk_err_hint("for SFTP check known-hosts (the server's host key); for HTTPS the "
                     "certificate (ca-file)");
        return DRK_EAUTH;
    case CURLE_LOGIN_DENIED:
        drk_err_set(DRK_EAUTH, "%s: login refused: %s", what, detail);
        return DRK_EAUTH;
    default:
        return drk_err_set(DRK_EIO, "%s: %s", what, detail);
    }
}

int
remote_stage_open(const struct stor_params *p, struct stor_tmp *out)
{
    const char *dir = p && p->staging_dir ? p->staging_dir : getenv("TMPDIR");
    char *tmpl;
    int fd;

    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (!dir || !*dir)
        dir = "/tmp";
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) { /* file systems without O_TMPFILE: a named file, unlinked at once */
        tmpl = xasprintf("%s/drkit-stage.XXXXXX", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmpl);
        free(tmpl);
    }
    if (fd < 0)
        return drk_err_errno(DRK_EIO, errno, "cannot create a staging file in %s", dir);
    out->fd = fd;
    return 0;
}

void
remote_stage_discard(struct stor_tmp *tmp)
{
    if (tmp->fd >= 0)
        close(tmp->fd);
    tmp->fd = -1;
}

size_t
remote_sink_write(char *data, size_t size, size_t n, void *arg)
{
    struct remote_sink *s = arg;
    size_t len = size * n;
    if (s->max && s->out->len + len > s->max) {
        s->too_big = true;
        return 0;
    }
    buf_add(s->out, data, len);
    return len;
}

size_t
remote_fd_read(char *data, size_t size, size_t n, void *arg)
{
    struct remote_fd_source *src = arg;
    size_t want = size * n;
    ssize_t got;
    if (src->off >= src->size)
        return 0;
    if (want > src->size - src->off)
        want = (size_t)(src->size - src->off);
    got = pread(src->fd, data, want, (off_t)src->off);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    src->off += (uint64_t)got;
    return (size_t)got;
}

char *
remote_escape(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    struct buf b = BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
            buf_addch(&b, (char)*p);
        } else {
            buf_addch(&b, '%');
            buf_addch(&b, hex[*p >> 4]);
            buf_addch(&b, hex[*p & 15]);
        }
    }
    buf_addch(&b, '\0');
    return buf_detach(&b, NULL);
}
