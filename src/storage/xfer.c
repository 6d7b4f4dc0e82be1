/*
 * xfer: a repository on an SFTP, FTP or FTPS server, through libcurl.
 *
 * Locations are whole URLs: sftp://user@host:port/abs/path (an absolute path; /~/path is
 * relative to the user's home), ftp://user@host:port/path (relative to the login directory;
 * /%2Fabs/path for an absolute one) and ftps://... (FTP with explicit TLS: AUTH TLS on the
 * control connection, protected data connections; a ftps:// location never talks in clear).
 *
 * Writes: an object is uploaded under "<its directory>/.tmp-<random>" (dot names are never
 * listed) and renamed into place by a command run after the upload on the same connection
 * (SFTP "rename", FTP RNFR/RNTO), so a reader sees it complete or not at all. Directories are
 * created as needed. The SFTP rename of OpenSSH's server (protocol 3: link() then unlink())
 * fails when the target exists, which makes STOR_PUT_EXCL atomic there; a replacing put
 * removes the old object first (a moment without it, never a partial one). FTP has no
 * exclusive rename (RNTO replaces on vsftpd and most servers), so STOR_PUT_EXCL is a check
 * followed by the upload and rename: two writers racing for one new name within that window
 * (milliseconds) can both succeed, the later one replacing the earlier. Of drkit's exclusive
 * objects, lock files have random names and never collide; what can race is two inits of
 * one location, or two backups reserving the same snapshot name (names/backup-<second>) in
 * the same moment. Also on both protocols: when a rename succeeded but its reply was lost,
 * the retry of an exclusive put finds the object and reports DRK_EEXIST.
 *
 * Reads: whole objects, ranges (CURLOPT_RANGE; the length is checked), sizes (CURLOPT_NOBODY:
 * FTP SIZE, SFTP stat). Listings: FTP MLSD where the server has it, else LIST; SFTP
 * directory reads; both long formats ("ls -l" lines, also DOS and ISO-date variants) are
 * parsed for type, size and name; a line that cannot be parsed fails the listing rather than
 * hiding an object from prune or check.
 *
 * Connections: a small pool of easy handles (each keeps its connection open between requests),
 * one handle per request at a time; uploads of staged files (packs) go through the upload
 * queue (upq) with p->connections threads. Every request is retried on transient failures
 * (refused or dropped connections, timeouts, FTP 4xx replies) with backoff until retry_time
 * has passed, then fails for good: the storage layer does not retry what we gave up on.
 *
 * SFTP host keys are always checked against p->known_hosts (required): a server missing from
 * it or with another key is refused (DRK_EAUTH, never retried).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "storage/rangecache.h"
#include "storage/remote.h"
#include "storage/storage.h"
#include "storage/upq.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LISTING_MAX     (256u << 20) /* one directory listing, as text */
#define PERFORM_POLL_MS 5            /* see conn_perform */

enum xfer_proto {
    XFER_SFTP,
    XFER_FTP,
    XFER_FTPS,
};

#define RC_OBJECT_MAX (32u << 20) /* FTP: larger packs are always read by range */

struct xfer;

/* An easy handle and what its callbacks report. */
struct conn {
    CURL *c;
    CURLM *m; /* drives c (see conn_perform) and holds its connection between requests */
    struct xfer *x;
    int key_match; /* the host key check of the last request: a CURLKHMATCH_*, or -1 */
    char errbuf[CURL_ERROR_SIZE];
    struct conn *next;
};

struct xfer {
    enum xfer_proto proto;
    char *display;   /* the URL for messages (no password) */
    char *url_base;  /* "sftp://host:port" or "ftp://host:port" */
    char *root_url;  /* the root's path in URLs (escaped), "" or "/..." without a final '/' */
    char *root_path; /* SFTP: the absolute root path; FTP: the root relative to the login dir
                        ("" for the login dir itself), or absolute if it starts with '/' */
    char *host;
    long port;
    char *user, *password, *identity_file, *known_hosts, *ca_file, *staging_dir;
    struct stor_params p; /* its strings point at the copies above */
    double retry_time;
    char token[20]; /* random, names this process's temporary uploads */
    pthread_mutex_t mu;
    struct conn *idle; /* handles not in use */
    char *entry;       /* the login (FTP) or home (SFTP) directory, once known */
    bool no_mlsd;      /* the FTP server has no MLSD: list with LIST */
    struct upq *q;     /* uploads of staged files, started on the first commit */
    bool q_transient;  /* the queue's last failed attempt was a transient failure */
    /* FTP: whole packs read more than once, in staging files (see fetch_whole) */
    struct rangecache *packs;
};

/* ---- URLs and paths ------------------------------------------------------------------------ */

static bool
is_ftp(const struct xfer *x)
{
    return x->proto != XFER_SFTP;
}

/* The URL of key below the root; dir_slash: a directory (ends with '/'). key may be "". */
static char *
key_url(const struct xfer *x, const char *key, bool dir_slash)
{
    char *esc = remote_escape(key, true);
    char *u = xasprintf("%s%s%s%s%s", x->url_base, x->root_url, *esc ? "/" : "", esc,
                        dir_slash ? "/" : "");
    free(esc);
    if (!*x->root_url && !*key) { /* the root itself: "scheme://host:port/" */
        free(u);
        u = xasprintf("%s/", x->url_base);
    }
    return u;
}

static char *
path_join(const char *a, const char *b)
{
    size_t n = strlen(a);
    if (!*b)
        return xstrdup(a);
    if (!n)
        return xstrdup(b);
    return xasprintf("%s%s%s", a, a[n - 1] == '/' ? "" : "/", b);
}

static char *
dir_part(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash ? xstrndup(key, (size_t)(slash - key)) : xstrdup("");
}

/* An argument of an SFTP quote command: quoted, with '"' and '\' escaped (libcurl unquotes). */
static char *
sftp_quote_arg(const char *path)
{
    struct buf b = BUF_INIT;
    buf_addch(&b, '"');
    for (const char *s = path; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_addch(&b, '\\');
        buf_addch(&b, *s);
    }
    buf_addch(&b, '"');
    buf_addch(&b, '\0');
    return buf_detach(&b, NULL);
}

/* ---- handles ------------------------------------------------------------------------------- */

static size_t
discard_write(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* Replaces libcurl's default host key policy: only a key that matches known_hosts passes. */
static int
ssh_key_check(CURL *easy, const struct curl_khkey *knownkey, const struct curl_khkey *foundkey,
              enum curl_khmatch match, void *arg)
{
    struct conn *k = arg;
    (void)easy;
    (void)knownkey;
    (void)foundkey;
    k->key_match = (int)match;
    return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

static struct conn *
conn_new(struct xfer *x)
{
    struct conn *k = xcalloc(1, sizeof(*k));
    CURL *c = remote_easy(&x->p);

    if (!c) {
        free(k);
        return NULL;
    }
    k->m = curl_multi_init();
    if (!k->m) {
        curl_easy_cleanup(c);
        free(k);
        return NULL;
    }
    k->c = c;
    k->x = x;
    k->key_match = -1;
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, x->proto == XFER_SFTP ? "sftp" : "ftp");
    if (x->retry_time < 15) /* a connect attempt never outlasts the retry budget */
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(x->retry_time < 1 ? 1000 : x->retry_time * 1000));
    if (x->user)
        curl_easy_setopt(c, CURLOPT_USERNAME, x->user);
    if (x->password)
        curl_easy_setopt(c, CURLOPT_PASSWORD, x->password);
    if (x->proto == XFER_SFTP) {
        long auth = CURLSSH_AUTH_DEFAULT;
        if (x->identity_file) {
            curl_easy_setopt(c, CURLOPT_SSH_PRIVATE_KEYFILE, x->identity_file);
            auth = CURLSSH_AUTH_PUBLICKEY;
            if (x->password) { /* the key's passphrase, or a password login after the key */
                curl_easy_setopt(c, CURLOPT_KEYPASSWD, x->password);
                auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
            }
        } else if (x->password) {
            auth = CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
        }
        curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES, auth);
        curl_easy_setopt(c, CURLOPT_SSH_KNOWNHOSTS, x->known_hosts);
        curl_easy_setopt(c, CURLOPT_SSH_KEYFUNCTION, ssh_key_check);
        curl_easy_setopt(c, CURLOPT_SSH_KEYDATA, k);
        curl_easy_setopt(c, CURLOPT_NEW_FILE_PERMS, 0600L);
        curl_easy_setopt(c, CURLOPT_NEW_DIRECTORY_PERMS, 0700L);
    } else {
        if (x->proto == XFER_FTPS)
            curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    }
    return k;
}

static void
conn_free(struct conn *k)
{
    if (!k)
        return;
    curl_multi_cleanup(k->m); /* closes the cached connection */
    curl_easy_cleanup(k->c);
    free(k);
}

/* curl_easy_perform, with a short poll interval: libcurl 7.88 sets up an FTP data connection
 * without a timer when the EPSV reply came in the same read as an earlier one, and
 * curl_easy_perform then sleeps in its poll for a full second before connecting (about one
 * transfer in ten on a fast server). Waking every few milliseconds caps that at a few
 * milliseconds. */
static CURLcode
conn_perform(struct conn *k)
{
    CURLcode rc = CURLE_OK;
    CURLMcode mc;
    CURLMsg *msg;
    int running = 1, left;
    bool done = false;

    if ((mc = curl_multi_add_handle(k->m, k->c)) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    while (running) {
        if ((mc = curl_multi_perform(k->m, &running)) != CURLM_OK)
            break;
        if (running && (mc = curl_multi_poll(k->m, NULL, 0, PERFORM_POLL_MS, NULL)) != CURLM_OK)
            break;
    }
    while ((msg = curl_multi_info_read(k->m, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == k->c) {
            rc = msg->data.result;
            done = true;
        }
    }
    curl_multi_remove_handle(k->m, k->c);
    if (!done) {
        snprintf(k->errbuf, sizeof(k->errbuf), "%s", curl_multi_strerror(mc));
        rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    }
    return rc;
}

/* A handle for this thread's request (never shared while in use). */
static int
conn_get(struct xfer *x, struct conn **out)
{
    struct conn *k;
    pthread_mutex_lock(&x->mu);
    k = x->idle;
    if (k)
        x->idle = k->next;
    pthread_mutex_unlock(&x->mu);
    if (!k && !(k = conn_new(x)))
        return drk_err_set(DRK_ENOMEM, "cannot set up a connection to %s", x->display);
    k->next = NULL;
    *out = k;
    return 0;
}

static void
conn_put(struct xfer *x, struct conn *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&x->mu);
    k->next = x->idle;
    x->idle = k;
    pthread_mutex_unlock(&x->mu);
}

/* Every option a request may change, back to the neutral state, and the URL. */
static void
req_begin(struct conn *k, const char *url)
{
    CURL *c = k->c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(c, CURLOPT_QUOTE, NULL);
    curl_easy_setopt(c, CURLOPT_POSTQUOTE, NULL);
    curl_easy_setopt(c, CURLOPT_RANGE, NULL);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(c, CURLOPT_DIRLISTONLY, 0L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_NONE);
    /* no CWD: the path goes with the command, so a missing directory reads as a missing
     * file and the working directory stays the login directory (uploads switch to CWD) */
    curl_easy_setopt(c, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_NOCWD);
    k->errbuf[0] = '\0';
    k->key_match = -1;
}

static long
response_code(struct conn *k)
{
    long code = 0;
    curl_easy_getinfo(k->c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* Remember the login (FTP PWD) or home (SFTP) directory libcurl learnt on connecting. */
static void
note_entry(struct xfer *x, struct conn *k)
{
    char *entry = NULL;
    pthread_mutex_lock(&x->mu);
    if (!x->entry && curl_easy_getinfo(k->c, CURLINFO_FTP_ENTRY_PATH, &entry) == CURLE_OK &&
        entry && *entry)
        x->entry = xstrdup(entry);
    pthread_mutex_unlock(&x->mu);
}

/* Turn a failed request into a drkit error an operator can act on. what: "cannot read
 * 'config' from <url>" (the subject of the message). */
static int
req_error(struct xfer *x, struct conn *k, CURLcode rc, const char *what)
{
    const char *detail = k->errbuf[0] ? k->errbuf : curl_easy_strerror(rc);
    long code = is_ftp(x) ? response_code(k) : 0;

    if (x->proto == XFER_SFTP && (rc == CURLE_PEER_FAILED_VERIFICATION ||
                                  (k->key_match >= 0 && k->key_match != CURLKHMATCH_OK))) {
        if (k->key_match == CURLKHMATCH_MISMATCH) {
            drk_err_set(DRK_EAUTH,
                        "%s: the host key of %s:%ld does not match the one in known-hosts '%s': "
                        "someone may be intercepting the connection, or the server's key changed",
                        what, x->host, x->port, x->known_hosts);
            drk_err_hint("check the server's key fingerprint with its administrator; if it "
                         "really changed, replace its line in %s",
                         x->known_hosts);
        } else {
            drk_err_set(DRK_EAUTH,
                        "%s: the host key of %s:%ld is not in known-hosts '%s', so the server "
                        "cannot be verified",
                        what, x->host, x->port, x->known_hosts);
            drk_err_hint("add the server's key (ssh-keyscan -p %ld %s >> %s) after checking its "
                         "fingerprint (ssh-keygen -lf %s) with the server's administrator",
                         x->port, x->host, x->known_hosts, x->known_hosts);
        }
        return DRK_EAUTH;
    }
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION: /* FTPS: the certificate */
        drk_err_set(DRK_EAUTH, "%s: the server's TLS certificate could not be verified: %s", what,
                    detail);
        drk_err_hint("set ca-file to the certificate (or its CA) in the repository's section "
                     "if the server's certificate is not signed by a CA this system trusts");
        return DRK_EAUTH;
    case CURLE_LOGIN_DENIED:
        if (is_ftp(x)) {
            drk_err_set(DRK_EAUTH,
                        "%s: login refused: check the user and login password (server said: %s)",
                        what, detail);
            drk_err_hint("the password comes from login-password-file in the [repository] "
                         "section or $DRKIT_LOGIN_PASSWORD%s",
                         x->password ? "" : " (none was given)");
        } else {
            drk_err_set(DRK_EAUTH, "%s: login refused for user '%s': %s", what,
                        x->user ? x->user : "", detail);
            if (!x->user)
                drk_err_hint("the URL names no user: sftp://USER@host/path");
            else
                drk_err_hint("check identity-file (its public key must be in the user's "
                             "authorized_keys on the server) or the login password");
        }
        return DRK_EAUTH;
    case CURLE_REMOTE_FILE_NOT_FOUND:
        return drk_err_set(DRK_ENOTFOUND, "%s: no such file", what);
    case CURLE_FILESIZE_EXCEEDED:
        return drk_err_set(DRK_ETOOBIG, "%s: larger than allowed", what);
    case CURLE_REMOTE_ACCESS_DENIED:
        return drk_err_set(DRK_EPERM, "%s: access denied: %s", what, detail);
    case CURLE_SSH:
        /* libssh2 failures below the SFTP layer: mostly a connection cut */
        return drk_err_set(DRK_ETRANSIENT, "%s: %s", what, detail);
    case CURLE_FAILED_INIT:
        /* SFTP: "Failure establishing ssh session": the server closed the connection during
         * the handshake (sshd's MaxStartups when many connect at once, a restart) */
        if (x->proto == XFER_SFTP)
            return drk_err_set(DRK_ETRANSIENT, "%s: %s", what, detail);
        break;
    case CURLE_USE_SSL_FAILED:
        drk_err_set(DRK_EIO, "%s: the server does not offer TLS (AUTH TLS): %s", what, detail);
        drk_err_hint("ftps:// needs a server with explicit FTPS; use ftp:// only on a network "
                     "you trust");
        return DRK_EIO;
    default:
        break;
    }
    /* FTP replies 4xx are "transient negative completion": try again later */
    if (code >= 400 && code < 500)
        return drk_err_set(DRK_ETRANSIENT, "%s: %s (reply %ld)", what, detail, code);
    return remote_curl_error(rc, detail, what);
}

/* Retrying: each operation is one attempt, run by upq_retry until it succeeds, fails for
 * good, or retry_time has passed. A failure that was still transient when the time ran out
 * is final (DRK_EIO: the storage layer must not start another round of retries), with a hint
 * for the usual cause. */
struct retry {
    int (*fn)(void *arg);
    void *arg;
    bool transient; /* the last attempt failed with a retryable error */
};

static int
retry_attempt(void *arg)
{
    struct retry *t = arg;
    int r = t->fn(t->arg);
    t->transient = r != 0 && drk_err_retryable(r);
    return r;
}

static int
settle(int r, bool transient)
{
    struct drk_error e;
    if (r == 0 || (!transient && !drk_err_retryable(r)))
        return r;
    drk_err_save(&e);
    e.code = DRK_EIO;
    drk_err_restore(&e);
    if (!*drk_err_hint_msg())
        drk_err_hint("check that the server is up and reachable from here (host and port in "
                     "the URL); retry-time sets how long drkit keeps trying");
    return DRK_EIO;
}

static int
with_retries(struct xfer *x, const char *what, int (*fn)(void *arg), void *arg)
{
    struct retry t = { fn, arg, false };
    int r = upq_retry(x->retry_time, what, retry_attempt, &t);
    return settle(r, r != 0 && t.transient);
}

/* ---- paths for commands -------------------------------------------------------------------- */

/* Is the root relative to the login directory (FTP) or the home directory (SFTP "/~/...")? */
static bool
root_relative(const struct xfer *x)
{
    if (is_ftp(x))
        return x->root_path[0] != '/';
    return !strcmp(x->root_path, "/~") || !strncmp(x->root_path, "/~/", 3);
}

/* The absolute path of the root, for commands (DELE, RNFR, rename, mkdir...): FTP commands run
 * in whatever directory the connection is in, and libcurl expands SFTP's "/~/" only in unquoted
 * arguments. */
static int
abs_root(struct xfer *x, struct conn *k, char **out)
{
    char *entry = NULL;
    const char *rest;

    if (!root_relative(x)) {
        *out = xstrdup(x->root_path[0] ? x->root_path : "/");
        return 0;
    }
    pthread_mutex_lock(&x->mu);
    if (x->entry)
        entry = xstrdup(x->entry);
    pthread_mutex_unlock(&x->mu);
    if (!entry) { /* log in once to learn the login (home) directory */
        CURLcode rc;
        char *url = xasprintf("%s/%s", x->url_base, is_ftp(x) ? "" : "~/");
        req_begin(k, url);
        curl_easy_setopt(k->c, CURLOPT_NOBODY, 1L);
        rc = conn_perform(k);
        free(url);
        if (rc != CURLE_OK) {
            char *what = xasprintf("cannot log in to %s", x->display);
            int r = req_error(x, k, rc, what);
            free(what);
            return r;
        }
        note_entry(x, k);
        pthread_mutex_lock(&x->mu);
        if (x->entry)
            entry = xstrdup(x->entry);
        pthread_mutex_unlock(&x->mu);
        if (!entry)
            return drk_err_set(DRK_EIO, "%s: the server did not tell its %s directory", x->display,
                               is_ftp(x) ? "login" : "home");
    }
    rest = is_ftp(x) ? x->root_path : x->root_path + 2; /* SFTP: after "/~" */
    while (*rest == '/')
        rest++;
    *out = path_join(entry, rest);
    free(entry);
    return 0;
}

/* The path of key for a command (SFTP: quoted). */
static int
cmd_path(struct xfer *x, struct conn *k, const char *key, char **out)
{
    char *root, *p;
    int r;
    if ((r = abs_root(x, k, &root)) != 0)
        return r;
    p = path_join(root, key);
    free(root);
    if (is_ftp(x)) {
        *out = p;
    } else {
        *out = sftp_quote_arg(p);
        free(p);
    }
    return 0;
}

/* Run quote commands alone (no transfer) on the server's root or login directory. */
static CURLcode
run_quote(struct xfer *x, struct conn *k, struct curl_slist *cmds)
{
    char *url = xasprintf("%s/", x->url_base);
    CURLcode rc;
    req_begin(k, url);
    curl_easy_setopt(k->c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(k->c, CURLOPT_QUOTE, cmds);
    rc = conn_perform(k);
    curl_easy_setopt(k->c, CURLOPT_QUOTE, NULL);
    free(url);
    if (rc == CURLE_OK)
        note_entry(x, k);
    return rc;
}

static struct curl_slist *slist_addf(struct curl_slist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct curl_slist *
slist_addf(struct curl_slist *l, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    struct curl_slist *n;
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    n = curl_slist_append(l, buf_cstr(&b));
    buf_release(&b);
    if (!n) {
        fprintf(stderr, "drkit: out of memory\n");
        abort();
    }
    return n;
}

/* ---- open, close --------------------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

static void
xfer_free(struct xfer *x)
{
    if (!x)
        return;
    upq_free(x->q);
    while (x->idle) {
        struct conn *k = x->idle;
        x->idle = k->next;
        conn_free(k);
    }
    rangecache_free(x->packs);
    pthread_mutex_destroy(&x->mu);
    free(x->display);
    free(x->url_base);
    free(x->root_url);
    free(x->root_path);
    free(x->host);
    free(x->user);
    if (x->password) {
        sodium_memzero(x->password, strlen(x->password));
        free(x->password);
    }
    free(x->identity_file);
    free(x->known_hosts);
    free(x->ca_file);
    free(x->staging_dir);
    free(x->entry);
    free(x);
}

static int
check_readable(const char *location, const char *what, const char *key, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        drk_err_errno(DRK_ECONFIG, errno, "%s: cannot read the %s '%s'", location, what, path);
        drk_err_hint("check '%s = %s' in the repository's section of the config", key, path);
        return DRK_ECONFIG;
    }
    close(fd);
    return 0;
}

/* Split the URL into what the requests need (curl's URL parser, so that hosts, IPv6
 * literals, ports and escapes are read the way libcurl itself reads them). */
static int
parse_location(struct xfer *x, const char *location)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL, *path = NULL;
    const char *rel;
    char *trimmed = NULL;
    size_t n;
    int r = 0;

    if (!u)
        return drk_err_set(DRK_ENOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, location, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        r = drk_err_set(DRK_ECONFIG, "'%s' is not a valid URL (scheme://user@host:port/path)",
                        location);
        goto out;
    }
    if (!strcmp(scheme, "sftp")) {
        x->proto = XFER_SFTP;
        x->port = 22;
    } else if (!strcmp(scheme, "ftp")) {
        x->proto = XFER_FTP;
        x->port = 21;
    } else if (!strcmp(scheme, "ftps")) {
        x->proto = XFER_FTPS;
        x->port = 21; /* explicit TLS on the FTP port */
    } else {
        r = drk_err_set(DRK_ECONFIG, "'%s': not an sftp://, ftp:// or ftps:// URL", location);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
        x->port = strtol(port, NULL, 10);
    if (curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_OK && user && *user)
        x->user = xstrdup(user);
    if (curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE) == CURLUE_OK && pass && *pass)
        x->password = xstrdup(pass);
    if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK || !path) {
        r = drk_err_set(DRK_ECONFIG, "'%s': cannot read the path of the URL", location);
        goto out;
    }
    if (strchr(path, '\n') || strchr(path, '\r')) {
        r = drk_err_set(DRK_ECONFIG, "'%s': the path holds a line break", location);
        goto out;
    }
    x->host = xstrdup(host);
    x->url_base = xasprintf("%s://%s:%ld", x->proto == XFER_SFTP ? "sftp" : "ftp", host, x->port);
    x->display = xasprintf("%s://%s%s%s:%ld", scheme, x->user ? x->user : "", x->user ? "@" : "",
                           host, x->port);

    trimmed = xstrdup(path);
    n = strlen(trimmed);
    while (n > 1 && trimmed[n - 1] == '/')
        trimmed[--n] = '\0';
    if (x->proto == XFER_SFTP) {
        /* absolute; "/" alone is the server's root */
        x->root_path = xstrdup(strcmp(trimmed, "/") ? trimmed : "");
        x->root_url = remote_escape(x->root_path, true);
    } else {
        /* the first '/' separates host and path: "/repo" is "repo" in the login dir, and
         * "/%2Fsrv/x" (decoded "//srv/x") the absolute "/srv/x" */
        rel = trimmed[0] == '/' ? trimmed + 1 : trimmed;
        x->root_path = xstrdup(rel);
        if (rel[0] == '/') {
            char *esc = remote_escape(rel + 1, true);
            x->root_url = xasprintf("/%%2F%s", esc);
            free(esc);
        } else if (rel[0]) {
            char *esc = remote_escape(rel, true);
            x->root_url = xasprintf("/%s", esc);
            free(esc);
        } else {
            x->root_url = xstrdup("");
        }
    }
    {
        char *d = xasprintf("%s%s", x->display, x->root_url);
        free(x->display);
        x->display = d;
    }
out:
    free(trimmed);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    if (pass)
        sodium_memzero(pass, strlen(pass));
    curl_free(pass);
    curl_free(path);
    curl_url_cleanup(u);
    return r;
}

static int fetch_whole(void *be, const char *key, int fd, uint64_t max, uint64_t *size);

static int
xfer_open(void **out, const char *location, const struct stor_params *p)
{
    struct xfer *x = xcalloc(1, sizeof(*x));
    int r;

    pthread_mutex_init(&x->mu, NULL);
    snprintf(x->token, sizeof(x->token), "%08x", randombytes_random());
    if ((r = remote_global_init()) != 0 || (r = parse_location(x, location)) != 0)
        goto fail;
    if (p->login_password && *p->login_password) {
        if (x->password) {
            sodium_memzero(x->password, strlen(x->password));
            free(x->password);
        }
        x->password = xstrdup(p->login_password);
    }
    x->identity_file = dup_or_null(p->identity_file);
    x->known_hosts = dup_or_null(p->known_hosts);
    x->ca_file = dup_or_null(p->ca_file);
    x->staging_dir = dup_or_null(p->staging_dir);
    x->retry_time = p->retry_time > 0 ? p->retry_time : 120;
    x->p.connections = p->connections ? p->connections : 4;
    x->p.retry_time = x->retry_time;
    x->p.staging_dir = x->staging_dir;
    x->p.ca_file = x->ca_file;

    if (x->proto == XFER_SFTP) {
        if (!x->known_hosts) {
            r = drk_err_set(DRK_ECONFIG,
                            "'%s': no known-hosts file: drkit checks the SFTP server's host key "
                            "and needs the file that holds it",
                            x->display);
            drk_err_hint("add 'known-hosts = FILE' to the repository's section of the config, "
                         "FILE holding the server's key (ssh-keyscan -p %ld %s > FILE, then "
                         "compare its fingerprint with the server's)",
                         x->port, x->host);
            goto fail;
        }
        if ((r = check_readable(x->display, "known-hosts file", "known-hosts", x->known_hosts)))
            goto fail;
        if (x->identity_file &&
            (r = check_readable(x->display, "identity file", "identity-file", x->identity_file)))
            goto fail;
    } else if (x->identity_file || x->known_hosts) {
        log_detail("%s: identity-file and known-hosts apply to sftp:// only", x->display);
    }
    if (x->ca_file && (r = check_readable(x->display, "CA file", "ca-file", x->ca_file)))
        goto fail;
    /* FTP has no ranged read that keeps its connection: packs read again go whole */
    if (is_ftp(x))
        x->packs = rangecache_new(&x->p, fetch_whole, x);
    *out = x;
    return 0;
fail:
    xfer_free(x);
    return r;
}

static void
xfer_close(void *be)
{
    xfer_free(be);
}

/* ---- single attempts ----------------------------------------------------------------------- */

/* Each operation is one attempt on one handle; run() retries it. */
struct op {
    struct xfer *x;
    struct conn *k;
    const char *key;
    const char *what;
    /* put and upload */
    char *tmp; /* the temporary name, kept across attempts (a retry overwrites it) */
    const void *data;
    size_t len;
    int fd;
    uint64_t fd_size;
    unsigned mode;
    /* get */
    struct buf *out;
    size_t max;
    /* get_range */
    uint64_t off;
    void *dst;
    /* stat */
    uint64_t size;
    /* list */
    struct buf *text;
    bool mlsd;
};

static int
run(struct op *o, int (*fn)(void *arg))
{
    int r = conn_get(o->x, &o->k);
    if (r)
        return r;
    r = with_retries(o->x, o->what, fn, o);
    conn_put(o->x, o->k);
    o->k = NULL;
    return r;
}

static int
attempt_stat(void *arg)
{
    struct op *o = arg;
    char *url = key_url(o->x, o->key, false);
    curl_off_t len = -1;
    CURLcode rc;

    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_NOBODY, 1L);
    rc = conn_perform(o->k);
    free(url);
    if (rc != CURLE_OK)
        return req_error(o->x, o->k, rc, o->what);
    note_entry(o->x, o->k);
    if (curl_easy_getinfo(o->k->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) != CURLE_OK || len < 0)
        return drk_err_set(DRK_EIO, "%s: the server did not tell the size", o->what);
    o->size = (uint64_t)len;
    return 0;
}

static int
do_stat(struct xfer *x, const char *key, uint64_t *size)
{
    struct op o = { .x = x, .key = key };
    char *what = xasprintf("cannot stat '%s' on %s", key, x->display);
    int r;
    o.what = what;
    r = run(&o, attempt_stat);
    if (r == 0)
        *size = o.size;
    free(what);
    return r;
}

static int
attempt_get(void *arg)
{
    struct op *o = arg;
    char *url = key_url(o->x, o->key, false);
    struct remote_sink sink = { o->out, o->max, false };
    CURLcode rc;

    buf_reset(o->out);
    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEFUNCTION, remote_sink_write);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEDATA, &sink);
    if (o->max)
        curl_easy_setopt(o->k->c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max);
    rc = conn_perform(o->k);
    free(url);
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        buf_reset(o->out);
        return drk_err_set(DRK_ETOOBIG, "'%s' on %s is larger than %zu bytes", o->key,
                           o->x->display, o->max);
    }
    if (rc != CURLE_OK) {
        buf_reset(o->out);
        return req_error(o->x, o->k, rc, o->what);
    }
    note_entry(o->x, o->k);
    return 0;
}

static int
xfer_get(void *be, const char *key, struct buf *out, size_t max)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key, .out = out, .max = max };
    char *what = xasprintf("cannot read '%s' from %s", key, x->display);
    int r;
    o.what = what;
    r = run(&o, attempt_get);
    free(what);
    return r;
}

struct range_sink {
    unsigned char *dst;
    size_t len, got;
    bool overflow;
};

static size_t
range_write(char *data, size_t size, size_t n, void *arg)
{
    struct range_sink *s = arg;
    size_t len = size * n;
    if (len > s->len - s->got) {
        s->overflow = true;
        return 0;
    }
    memcpy(s->dst + s->got, data, len);
    s->got += len;
    return len;
}

static int
attempt_get_range(void *arg)
{
    struct op *o = arg;
    char *url = key_url(o->x, o->key, false);
    struct range_sink sink = { o->dst, o->len, 0, false };
    char range[64];
    CURLcode rc;

    snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)o->off,
             (unsigned long long)(o->off + o->len - 1));
    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_RANGE, range);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEFUNCTION, range_write);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEDATA, &sink);
    rc = conn_perform(o->k);
    free(url);
    if (sink.overflow)
        return drk_err_set(DRK_EIO, "%s: the server sent more than the %zu bytes asked for",
                           o->what, o->len);
    if (rc == CURLE_BAD_DOWNLOAD_RESUME) /* the range starts past the end */
        return drk_err_set(DRK_ECORRUPT,
                           "'%s' on %s is shorter than expected (truncated or damaged)", o->key,
                           o->x->display);
    if (rc != CURLE_OK)
        return req_error(o->x, o->k, rc, o->what);
    note_entry(o->x, o->k);
    if (sink.got != o->len)
        return drk_err_set(DRK_ECORRUPT,
                           "'%s' on %s is shorter than expected (truncated or damaged): %zu of "
                           "%zu bytes at offset %llu",
                           o->key, o->x->display, sink.got, o->len, (unsigned long long)o->off);
    return 0;
}

/* ---- FTP: packs read whole ----------------------------------------------------------------- *
 * FTP has no ranged read that keeps the connection: libcurl ends a partial download with ABOR
 * and closes the control connection, so every range costs a new login (~40 ms on loopback,
 * far more with TLS over a WAN). Restores, tests and prune read many blobs of the same pack
 * one after another, so the second range read of a pack fetches all of it into a staging file
 * and later reads are local. Packs are named by their content, so a held copy is never out of
 * date; a deleted one is dropped. A pack read once (a single small file restored) costs one
 * ranged read and nothing more. */

struct fd_sink {
    int fd;
    uint64_t off, max;
    bool too_big, failed;
};

static size_t
fd_sink_write(char *data, size_t size, size_t n, void *arg)
{
    struct fd_sink *s = arg;
    size_t len = size * n, done = 0;
    if (s->off + len > s->max) {
        s->too_big = true;
        return 0;
    }
    while (done < len) {
        ssize_t w = pwrite(s->fd, data + done, len - done, (off_t)(s->off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->failed = true;
            return 0;
        }
        done += (size_t)w;
    }
    s->off += len;
    return len;
}

static int
attempt_get_whole(void *arg)
{
    struct op *o = arg;
    char *url = key_url(o->x, o->key, false);
    struct fd_sink sink = { o->fd, 0, o->max, false, false };
    CURLcode rc;

    if (ftruncate(o->fd, 0) != 0) {
        free(url);
        return drk_err_errno(DRK_EIO, errno, "cannot truncate a staging file");
    }
    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEFUNCTION, fd_sink_write);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(o->k->c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max);
    rc = conn_perform(o->k);
    free(url);
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return DRK_ETOOBIG; /* no message: the caller reads by range instead */
    if (sink.failed)
        return drk_err_set(DRK_EIO, "%s: cannot write a staging file", o->what);
    if (rc != CURLE_OK)
        return req_error(o->x, o->k, rc, o->what);
    note_entry(o->x, o->k);
    o->size = sink.off;
    return 0;
}

/* rangecache_fetch_fn: the whole pack into a staging file */
static int
fetch_whole(void *be, const char *key, int fd, uint64_t max, uint64_t *size)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key };
    char *what = xasprintf("cannot read '%s' from %s", key, x->display);
    int r;
    o.what = what;
    o.fd = fd;
    o.max = (size_t)(max < RC_OBJECT_MAX ? max : RC_OBJECT_MAX);
    r = run(&o, attempt_get_whole);
    free(what);
    if (r == 0)
        *size = o.size;
    return r;
}

static int
xfer_get_range(void *be, const char *key, uint64_t off, size_t len, void *dst)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key, .off = off, .len = len, .dst = dst };
    char *what;
    int r;
    if (len == 0) {
        uint64_t size;
        return do_stat(x, key, &size);
    }
    if (x->packs && (r = rangecache_read(x->packs, key, off, len, dst)) != 1)
        return r;
    what = xasprintf("cannot read '%s' from %s", key, x->display);
    o.what = what;
    r = run(&o, attempt_get_range);
    free(what);
    return r;
}

static int
xfer_stat(void *be, const char *key, uint64_t *size)
{
    return do_stat(be, key, size);
}

/* What an upload does when its final name is taken. */
enum upload_mode {
    UPLOAD_REPLACE, /* replace it (put) */
    UPLOAD_EXCL,    /* fail with DRK_EEXIST (put STOR_PUT_EXCL) */
    UPLOAD_KEEP,    /* keep it and drop ours: same name, same content (staged packs) */
};

struct mem_source {
    const unsigned char *p;
    size_t len, off;
};

static size_t
mem_read(char *dst, size_t size, size_t n, void *arg)
{
    struct mem_source *s = arg;
    size_t want = size * n;
    if (want > s->len - s->off)
        want = s->len - s->off;
    if (want == 0)
        return 0;
    memcpy(dst, s->p + s->off, want);
    s->off += want;
    return want;
}

/* Does key exist? 1 yes, 0 no, else an error. */
static int
exists(struct op *o, const char *key)
{
    struct op s = { .x = o->x, .k = o->k, .key = key };
    char *what = xasprintf("cannot stat '%s' on %s", key, o->x->display);
    int r;
    s.what = what;
    r = attempt_stat(&s);
    free(what);
    if (r == DRK_ENOTFOUND)
        return 0;
    return r == 0 ? 1 : r;
}

/* Best-effort removal of a temporary upload (its name is never listed anyway). */
static void
remove_quietly(struct op *o, const char *key)
{
    struct curl_slist *cmds = NULL;
    char *path = NULL;
    struct drk_error saved;

    drk_err_save(&saved);
    if (cmd_path(o->x, o->k, key, &path) == 0) {
        cmds = slist_addf(NULL, "%s %s", is_ftp(o->x) ? "DELE" : "rm", path);
        if (run_quote(o->x, o->k, cmds) != CURLE_OK)
            log_detail("could not remove the temporary '%s' on %s: %s", key, o->x->display,
                       o->k->errbuf);
    }
    curl_slist_free_all(cmds);
    free(path);
    drk_err_restore(&saved);
}

static int
attempt_upload(void *arg)
{
    struct op *o = arg;
    struct xfer *x = o->x;
    struct mem_source mem = { o->data, o->len, 0 };
    struct remote_fd_source fds = { o->fd, 0, o->fd_size, 0 };
    char *url = NULL, *ptmp = NULL, *pkey = NULL;
    const char *tmp = o->tmp;
    struct curl_slist *post = NULL;
    CURLcode rc;
    int r;

    if (o->mode == UPLOAD_EXCL && (r = exists(o, o->key)) != 0) {
        if (r == 1)
            r = drk_err_set(DRK_EEXIST, "'%s' already exists on %s", o->key, x->display);
        goto out;
    }
    if ((r = cmd_path(x, o->k, tmp, &ptmp)) != 0 || (r = cmd_path(x, o->k, o->key, &pkey)) != 0)
        goto out;
    if (is_ftp(x)) {
        /* RNTO replaces an existing file: for UPLOAD_EXCL the check above is all FTP offers */
        post = slist_addf(post, "RNFR %s", ptmp);
        post = slist_addf(post, "RNTO %s", pkey);
    } else {
        /* OpenSSH's SFTP rename never replaces: remove the old one first when replacing (a
         * moment without the object, never a partial one) */
        if (o->mode == UPLOAD_REPLACE)
            post = slist_addf(post, "*rm %s", pkey);
        post = slist_addf(post, "rename %s %s", ptmp, pkey);
    }

    url = key_url(x, tmp, false);
    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_UPLOAD, 1L);
    if (o->data || o->fd < 0) {
        curl_easy_setopt(o->k->c, CURLOPT_READFUNCTION, mem_read);
        curl_easy_setopt(o->k->c, CURLOPT_READDATA, &mem);
        curl_easy_setopt(o->k->c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->len);
    } else {
        curl_easy_setopt(o->k->c, CURLOPT_READFUNCTION, remote_fd_read);
        curl_easy_setopt(o->k->c, CURLOPT_READDATA, &fds);
        curl_easy_setopt(o->k->c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)o->fd_size);
    }
    curl_easy_setopt(o->k->c, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
    if (is_ftp(x)) /* creating missing directories needs CWD into them */
        curl_easy_setopt(o->k->c, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_MULTICWD);
    curl_easy_setopt(o->k->c, CURLOPT_POSTQUOTE, post);
    rc = conn_perform(o->k);
    curl_easy_setopt(o->k->c, CURLOPT_POSTQUOTE, NULL);
    curl_easy_setopt(o->k->c, CURLOPT_READFUNCTION, NULL);
    curl_easy_setopt(o->k->c, CURLOPT_READDATA, NULL);
    if (rc == CURLE_OK) {
        note_entry(x, o->k);
        r = 0;
        goto out;
    }
    if (rc != CURLE_QUOTE_ERROR) {
        r = req_error(x, o->k, rc, o->what);
        if (!drk_err_retryable(r) && r != DRK_EAUTH) /* a retry overwrites it */
            remove_quietly(o, tmp);
        goto out;
    }
    /* uploaded, but the rename failed */
    r = req_error(x, o->k, rc, o->what);
    if (!is_ftp(x) && o->mode != UPLOAD_REPLACE) {
        int e = exists(o, o->key);
        if (e == 1 && o->mode == UPLOAD_EXCL)
            r = drk_err_set(DRK_EEXIST, "'%s' already exists on %s", o->key, x->display);
        else if (e == 1)
            r = 0; /* UPLOAD_KEEP: the same content is there already */
    }
    remove_quietly(o, tmp);
out:
    curl_slist_free_all(post);
    free(url);
    free(ptmp);
    free(pkey);
    return r;
}

/* "<dir of key>/.tmp-<name>" */
static char *
tmp_name(const char *key, const char *name)
{
    char *dir = dir_part(key), *base = xasprintf(".tmp-%s", name), *t = path_join(dir, base);
    free(dir);
    free(base);
    return t;
}

static int
xfer_put(void *be, const char *key, const void *data, size_t len, unsigned flags)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key, .data = data, .len = len, .fd = -1 };
    char *what = xasprintf("cannot upload '%s' to %s", key, x->display);
    char rnd[24];
    int r;
    snprintf(rnd, sizeof(rnd), "%08x%08x", randombytes_random(), randombytes_random());
    o.tmp = tmp_name(key, rnd);
    o.what = what;
    o.mode = (flags & STOR_PUT_EXCL) ? UPLOAD_EXCL : UPLOAD_REPLACE;
    r = run(&o, attempt_upload);
    free(o.tmp);
    free(what);
    return r;
}

/* The upload queue's function: one attempt (the queue retries). The temporary name is this
 * process's for this upload (its descriptor stays open through the retries, so no other
 * upload of the process has it meanwhile): a retry overwrites what a failed attempt left. */
static int
upload_staged(void *be, int fd, uint64_t size, const char *key)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key, .fd = fd, .fd_size = size, .mode = UPLOAD_KEEP };
    char *what = xasprintf("cannot upload '%s' to %s", key, x->display);
    char *name = xasprintf("%s-%d", x->token, fd);
    int r = conn_get(x, &o.k);
    o.tmp = tmp_name(key, name);
    free(name);
    o.what = what;
    if (r == 0)
        r = attempt_upload(&o);
    conn_put(x, o.k);
    if (r) {
        pthread_mutex_lock(&x->mu);
        x->q_transient = drk_err_retryable(r);
        pthread_mutex_unlock(&x->mu);
    }
    free(o.tmp);
    free(what);
    return r;
}

static int
attempt_del(void *arg)
{
    struct op *o = arg;
    struct curl_slist *cmds = NULL;
    char *path = NULL;
    CURLcode rc;
    int r;

    if ((r = cmd_path(o->x, o->k, o->key, &path)) != 0)
        return r;
    cmds = slist_addf(NULL, "%s %s", is_ftp(o->x) ? "DELE" : "rm", path);
    rc = run_quote(o->x, o->k, cmds);
    curl_slist_free_all(cmds);
    free(path);
    if (rc == CURLE_OK)
        return 0;
    if (rc == CURLE_QUOTE_ERROR) {
        /* which failure: SFTP says it, FTP answers 550 for most; ask */
        if (!is_ftp(o->x) && strstr(o->k->errbuf, "No such file"))
            return drk_err_set(DRK_ENOTFOUND, "'%s' does not exist on %s", o->key, o->x->display);
        if (is_ftp(o->x) && response_code(o->k) == 550) {
            char errbuf[CURL_ERROR_SIZE];
            memcpy(errbuf, o->k->errbuf, sizeof(errbuf));
            if ((r = exists(o, o->key)) == 0)
                return drk_err_set(DRK_ENOTFOUND, "'%s' does not exist on %s", o->key,
                                   o->x->display);
            if (r < 0)
                return r;
            memcpy(o->k->errbuf, errbuf, sizeof(errbuf));
        }
    }
    return req_error(o->x, o->k, rc, o->what);
}

static int
xfer_del(void *be, const char *key)
{
    struct xfer *x = be;
    struct op o = { .x = x, .key = key };
    char *what = xasprintf("cannot delete '%s' on %s", key, x->display);
    int r;
    if (x->packs)
        rangecache_forget(x->packs, key);
    o.what = what;
    r = run(&o, attempt_del);
    free(what);
    return r;
}

/* ---- listings ------------------------------------------------------------------------------ */

struct entry {
    char *name;
    char type; /* 'f' file, 'd' directory */
    uint64_t size;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static bool
all_digits(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (!all_digits(s, n) || n > 19)
        return false;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    *out = v;
    return true;
}

struct tok {
    const char *s;
    size_t n;
};

static bool
tok_is(const struct tok *t, const char *pattern)
{
    /* pattern: '9' a digit, 'A' a letter, others literal; same length */
    if (t->n != strlen(pattern))
        return false;
    for (size_t i = 0; i < t->n; i++) {
        char c = t->s[i], p = pattern[i];
        if (p == '9' ? !isdigit((unsigned char)c) : p == 'A' ? !isalpha((unsigned char)c) : c != p)
            return false;
    }
    return true;
}

static bool
is_month(const struct tok *t)
{
    static const char *const months[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec" };
    if (t->n != 3)
        return false;
    for (size_t i = 0; i < 12; i++)
        if (!strncasecmp(t->s, months[i], 3))
            return true;
    return false;
}

/* One line of a long listing: Unix "ls -l" ("drwx------ 2 u g 4096 Nov 26 01:27 name", also
 * with a year or an ISO date), or DOS/IIS ("11-26-24  01:27AM  <DIR>  name"). Returns false
 * if the line is none of these; *e gets type 0 for entries to skip (links, specials, "total"). */
static bool
parse_long_line(const char *line, struct entry *e)
{
    struct tok t[16];
    size_t nt = 0;
    const char *s = line, *name = NULL;

    memset(e, 0, sizeof(*e));
    while (*s && nt < 16) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        t[nt].s = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        t[nt].n = (size_t)(s - t[nt].s);
        nt++;
    }
    if (nt == 0)
        return false;
    if (nt == 2 && tok_is(&t[0], "total") && all_digits(t[1].s, t[1].n))
        return true; /* "total N" */

    /* DOS: date time <DIR>|size name */
    if (nt >= 4 && (tok_is(&t[0], "99-99-99") || tok_is(&t[0], "99-99-9999")) &&
        (tok_is(&t[1], "99:99AA") || tok_is(&t[1], "99:99"))) {
        name = t[2].s + t[2].n;
        while (*name == ' ' || *name == '\t')
            name++;
        if (!*name)
            return false;
        if (t[2].n == 5 && !strncasecmp(t[2].s, "<DIR>", 5))
            e->type = 'd';
        else if (parse_u64(t[2].s, t[2].n, &e->size))
            e->type = 'f';
        else
            return false;
        e->name = xstrdup(name);
        return true;
    }

    /* Unix: find the date; the size is the token before it, the name what follows */
    if (strchr("-dlbcpsDL", line[0]) == NULL || t[0].n < 10)
        return false;
    for (size_t i = 2; i + 1 < nt; i++) {
        const struct tok *end = NULL;
        if (is_month(&t[i]) && i + 2 < nt &&
            (t[i + 1].n <= 2 && all_digits(t[i + 1].s, t[i + 1].n)) &&
            (tok_is(&t[i + 2], "99:99") || tok_is(&t[i + 2], "9999")))
            end = &t[i + 2];
        else if (tok_is(&t[i], "9999-99-99") &&
                 (tok_is(&t[i + 1], "99:99") || tok_is(&t[i + 1], "99:99:99")))
            end = &t[i + 1];
        if (!end || !parse_u64(t[i - 1].s, t[i - 1].n, &e->size))
            continue;
        name = end->s + end->n;
        if (*name != ' ' && *name != '\t')
            return false;
        name++; /* exactly one separator: names may start with spaces */
        if (!*name)
            return false;
        if (line[0] == '-')
            e->type = 'f';
        else if (line[0] == 'd' || line[0] == 'D')
            e->type = 'd';
        e->name = e->type ? xstrdup(name) : NULL;
        return true;
    }
    return false;
}

/* One MLSD line: "type=file;size=123;modify=...; name". */
static bool
parse_mlsd_line(const char *line, struct entry *e)
{
    const char *sp = strchr(line, ' '), *f = line;
    bool have_size = false;

    memset(e, 0, sizeof(*e));
    if (!sp || !sp[1])
        return false;
    while (f < sp) {
        const char *semi = memchr(f, ';', (size_t)(sp - f));
        const char *eq;
        size_t n;
        if (!semi)
            semi = sp;
        n = (size_t)(semi - f);
        eq = memchr(f, '=', n);
        if (eq) {
            size_t kn = (size_t)(eq - f), vn = (size_t)(semi - eq - 1);
            const char *v = eq + 1;
            if (kn == 4 && !strncasecmp(f, "type", 4)) {
                if (vn == 4 && !strncasecmp(v, "file", 4))
                    e->type = 'f';
                else if (vn == 3 && !strncasecmp(v, "dir", 3))
                    e->type = 'd';
                else
                    e->type = 0; /* cdir, pdir, links, devices */
            } else if (kn == 4 && !strncasecmp(f, "size", 4)) {
                have_size = parse_u64(v, vn, &e->size);
            }
        }
        f = semi + 1;
    }
    if (e->type == 'f' && !have_size)
        return false;
    if (e->type)
        e->name = xstrdup(sp + 1);
    return true;
}

static int
attempt_listing(void *arg)
{
    struct op *o = arg;
    char *url = key_url(o->x, o->key, true);
    struct remote_sink sink = { o->text, LISTING_MAX, false };
    CURLcode rc;
    long code;

    buf_reset(o->text);
    req_begin(o->k, url);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEFUNCTION, remote_sink_write);
    curl_easy_setopt(o->k->c, CURLOPT_WRITEDATA, &sink);
    if (o->mlsd)
        curl_easy_setopt(o->k->c, CURLOPT_CUSTOMREQUEST, "MLSD");
    rc = conn_perform(o->k);
    free(url);
    if (sink.too_big)
        return drk_err_set(DRK_ETOOBIG, "%s: the listing is larger than %u MiB", o->what,
                           LISTING_MAX >> 20);
    if (rc == CURLE_OK) {
        note_entry(o->x, o->k);
        return 0;
    }
    code = is_ftp(o->x) ? response_code(o->k) : 0;
    if (o->mlsd && (code == 500 || code == 501 || code == 502 || code == 504)) {
        pthread_mutex_lock(&o->x->mu);
        o->x->no_mlsd = true; /* vsftpd, for one */
        pthread_mutex_unlock(&o->x->mu);
        o->mlsd = false;
        return attempt_listing(o);
    }
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND || (is_ftp(o->x) && code == 550)) {
        buf_reset(o->text); /* no such directory: nothing in it */
        return 0;
    }
    return req_error(o->x, o->k, rc, o->what);
}

/* The entries of one directory (dir relative to the root, "" for the root). */
static int
list_one(struct xfer *x, const char *dir, struct entries *out)
{
    struct buf text = BUF_INIT;
    struct op o = { .x = x, .key = dir, .text = &text };
    char *what = xasprintf("cannot list '%s' on %s", *dir ? dir : "/", x->display);
    char *line, *next;
    int r;

    o.what = what;
    pthread_mutex_lock(&x->mu);
    o.mlsd = is_ftp(x) && !x->no_mlsd;
    pthread_mutex_unlock(&x->mu);
    if ((r = run(&o, attempt_listing)) != 0)
        goto out;
    buf_addch(&text, '\0');
    for (line = (char *)text.data; line && *line; line = next) {
        struct entry e;
        size_t n;
        bool ok;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (!n)
            continue;
        ok = o.mlsd ? parse_mlsd_line(line, &e) : parse_long_line(line, &e);
        if (!ok) {
            r = drk_err_set(DRK_EIO, "%s: cannot read this line of the %s listing: '%s'", what,
                            o.mlsd ? "MLSD" : "directory", line);
            goto out;
        }
        if (!e.type || !e.name || e.name[0] == '.' || strchr(e.name, '/')) {
            free(e.name);
            continue;
        }
        vec_push(out, e);
    }
out:
    buf_release(&text);
    free(what);
    return r;
}

static void
entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].name);
    vec_free(e);
}

/* Listing subdirectories in parallel: a directory listing costs a few round trips, and a
 * repository's data/ has 256 subdirectories (minutes over a slow link, one after another). */
struct list_fetch {
    struct xfer *x;
    char **dirs;
    struct entries *res;
    int *rc;
    struct drk_error *err;
    size_t n, next;
    pthread_mutex_t mu;
};

static void *
list_fetch_worker(void *arg)
{
    struct list_fetch *f = arg;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&f->mu);
        i = f->next++;
        pthread_mutex_unlock(&f->mu);
        if (i >= f->n)
            break;
        if ((f->rc[i] = list_one(f->x, f->dirs[i], &f->res[i])) != 0)
            drk_err_save(&f->err[i]);
    }
    return NULL;
}

/* The listings of dirs[0..n) into res[]; the first failure (in order) is returned. */
static int
list_fetch_all(struct xfer *x, char **dirs, size_t n, struct entries *res)
{
    struct list_fetch f = { x, dirs, res, NULL, NULL, n, 0, PTHREAD_MUTEX_INITIALIZER };
    pthread_t th[16];
    size_t nth = x->p.connections < 2 ? 2 : x->p.connections, started = 0;
    int r = 0;

    if (nth > n)
        nth = n;
    if (nth > sizeof(th) / sizeof(th[0]))
        nth = sizeof(th) / sizeof(th[0]);
    f.rc = xcalloc(n, sizeof(*f.rc));
    f.err = xcalloc(n, sizeof(*f.err));
    for (size_t i = 1; i < nth; i++) /* this thread is one of them */
        if (pthread_create(&th[started], NULL, list_fetch_worker, &f) == 0)
            started++;
    list_fetch_worker(&f);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < n; i++) {
        if (f.rc[i]) {
            r = f.rc[i];
            drk_err_restore(&f.err[i]);
            break;
        }
    }
    free(f.rc);
    free(f.err);
    pthread_mutex_destroy(&f.mu);
    return r;
}

/* Report the objects of dir (whose entries are ents), recursively, in listing order. */
static int
list_entries(struct xfer *x, const char *dir, const char *rel, const struct entries *ents,
             stor_list_cb cb, void *arg)
{
    char **subdirs = xcalloc(ents->n + 1, sizeof(*subdirs));
    struct entries *subents;
    size_t nsub = 0, j = 0;
    int r;

    for (size_t i = 0; i < ents->n; i++)
        if (ents->v[i].type == 'd')
            subdirs[nsub++] = path_join(dir, ents->v[i].name);
    subents = xcalloc(nsub + 1, sizeof(*subents));
    r = nsub ? list_fetch_all(x, subdirs, nsub, subents) : 0;
    for (size_t i = 0; r == 0 && i < ents->n; i++) {
        const struct entry *e = &ents->v[i];
        char *name = *rel ? xasprintf("%s/%s", rel, e->name) : xstrdup(e->name);
        if (e->type == 'd') {
            r = list_entries(x, subdirs[j], name, &subents[j], cb, arg);
            j++;
        } else {
            r = cb(arg, name, e->size);
        }
        free(name);
    }
    for (size_t i = 0; i < nsub; i++) {
        free(subdirs[i]);
        entries_free(&subents[i]);
    }
    free(subdirs);
    free(subents);
    return r;
}

static int
xfer_list(void *be, const char *dir, stor_list_cb cb, void *arg)
{
    struct xfer *x = be;
    struct entries ents = { NULL, 0, 0 };
    char *d = xstrdup(dir ? dir : "");
    size_t n = strlen(d);
    int r;
    while (n && d[n - 1] == '/')
        d[--n] = '\0';
    if ((r = list_one(x, d, &ents)) == 0)
        r = list_entries(x, d, "", &ents, cb, arg);
    entries_free(&ents);
    free(d);
    return r;
}

/* ---- create, staging, sync ----------------------------------------------------------------- */

struct create_arg {
    struct op *o;
    const char *const *dirs;
};

static int
attempt_create(void *arg)
{
    struct create_arg *a = arg;
    struct op *o = a->o;
    struct xfer *x = o->x;
    struct curl_slist *cmds = NULL;
    char *root = NULL;
    CURLcode rc;
    int r;

    if ((r = exists(o, "config")) != 0) {
        if (r == 1)
            r = drk_err_set(DRK_EEXIST, "'%s' already holds a repository", x->display);
        return r;
    }
    /* every directory from the top down; those that exist fail, which '*' ignores */
    if ((r = abs_root(x, o->k, &root)) != 0)
        return r;
    for (char *s = strchr(root + 1, '/');; s = strchr(s + 1, '/')) {
        char *part = s ? xstrndup(root, (size_t)(s - root)) : xstrdup(root);
        if (is_ftp(x)) {
            cmds = slist_addf(cmds, "*MKD %s", part);
        } else {
            char *q = sftp_quote_arg(part);
            cmds = slist_addf(cmds, "*mkdir %s", q);
            free(q);
        }
        free(part);
        if (!s)
            break;
    }
    for (size_t i = 0; a->dirs && a->dirs[i]; i++) {
        char *p = path_join(root, a->dirs[i]);
        if (is_ftp(x)) {
            cmds = slist_addf(cmds, "*MKD %s", p);
        } else {
            char *q = sftp_quote_arg(p);
            cmds = slist_addf(cmds, "*mkdir %s", q);
            free(q);
        }
        free(p);
    }
    rc = run_quote(x, o->k, cmds);
    curl_slist_free_all(cmds);
    free(root);
    if (rc != CURLE_OK)
        return req_error(x, o->k, rc, o->what);
    /* the quotes' failures were ignored: check that the root is a directory now (FTP: CWD
     * into it; SFTP: open it for reading) */
    {
        char *url = key_url(x, "", true);
        req_begin(o->k, url);
        if (is_ftp(x)) {
            curl_easy_setopt(o->k->c, CURLOPT_NOBODY, 1L);
            curl_easy_setopt(o->k->c, CURLOPT_FTP_FILEMETHOD, (long)CURLFTPMETHOD_MULTICWD);
        } else {
            curl_easy_setopt(o->k->c, CURLOPT_DIRLISTONLY, 1L);
        }
        rc = conn_perform(o->k);
        free(url);
        if (rc != CURLE_OK)
            return req_error(x, o->k, rc, o->what);
    }
    return 0;
}

static int
xfer_create(void *be, const char *const *dirs)
{
    struct xfer *x = be;
    struct op o = { .x = x };
    struct create_arg a = { &o, dirs };
    char *what = xasprintf("cannot create the repository directories on %s", x->display);
    int r;

    o.what = what;
    if ((r = conn_get(x, &o.k)) != 0)
        goto out;
    r = with_retries(x, what, attempt_create, &a);
    conn_put(x, o.k);
out:
    free(what);
    return r;
}

static int
xfer_tmp_open(void *be, struct stor_tmp *out, unsigned flags)
{
    struct xfer *x = be;
    (void)flags; /* no O_DIRECT for staging files: they are read back at once */
    return remote_stage_open(&x->p, out);
}

static void
xfer_tmp_discard(void *be, struct stor_tmp *tmp)
{
    (void)be;
    remote_stage_discard(tmp);
}

/* An error of the upload queue (an earlier upload's, given up on after retrying). */
static int
queue_error(struct xfer *x, int r)
{
    bool transient;
    pthread_mutex_lock(&x->mu);
    transient = x->q_transient;
    pthread_mutex_unlock(&x->mu);
    return settle(r, r != 0 && transient);
}

static int
xfer_tmp_commit(void *be, struct stor_tmp *tmp, const char *key)
{
    struct xfer *x = be;
    struct upq *q;
    int fd = tmp->fd;

    tmp->fd = -1;
    pthread_mutex_lock(&x->mu);
    if (!x->q)
        x->q = upq_new(x->p.connections, upload_staged, x, x->retry_time);
    q = x->q;
    pthread_mutex_unlock(&x->mu);
    return queue_error(x, upq_push(q, fd, key));
}

static int
xfer_sync(void *be)
{
    struct xfer *x = be;
    struct upq *q;
    pthread_mutex_lock(&x->mu);
    q = x->q;
    pthread_mutex_unlock(&x->mu);
    return q ? queue_error(x, upq_wait(q)) : 0;
}

const struct stor_ops stor_xfer_ops = {
    .version = 1,
    .scheme = "sftp",
    .open = xfer_open,
    .close = xfer_close,
    .create = xfer_create,
    .put = xfer_put,
    .get = xfer_get,
    .get_range = xfer_get_range,
    .list = xfer_list,
    .del = xfer_del,
    .stat = xfer_stat,
    .tmp_open = xfer_tmp_open,
    .tmp_commit = xfer_tmp_commit,
    .tmp_discard = xfer_tmp_discard,
    .sync = xfer_sync,
};
