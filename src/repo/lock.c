/* lock: lock files, liveness, refresh thread. */
#include "repo/lock.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "repo/repo.h"
#include "util/err.h"
#include "util/log.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct repo_lock {
    struct repo *repo;
    bool exclusive;
    char *command;
    char id[ID_HEX_LEN + 1];
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    int handle; /* kernel lock on our lock file, -1 if none */
};

/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), 0 if
 * unknown. With the pid it identifies a process even after pid reuse. */
static uint64_t
proc_start_time(long pid)
{
    char path[64], line[1024];
    FILE *f;
    char *p;
    unsigned long long start = 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return 0;
    }
    fclose(f);
    p = strrchr(line, ')'); /* the command name may contain spaces */
    if (!p)
        return 0;
    /* after ") " come fields 3.. ; start time is field 22 */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
               "%*d %llu",
               &start) != 1)
        return 0;
    return start;
}

static void
my_identity(char *host, size_t hn, char *user, size_t un)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    host[0] = '\0';
    gethostname(host, hn - 1);
    host[hn - 1] = '\0';
    if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) == 0 && res)
        snprintf(user, un, "%s", res->pw_name);
    else
        snprintf(user, un, "%u", (unsigned)getuid());
}

static int
write_lock(struct repo_lock *l, char id_out[ID_HEX_LEN + 1])
{
    char host[256], user[256], t[DT_RFC3339_MAX], key[80];
    unsigned char rnd[ID_LEN];
    struct dt now;
    json_t *j;
    char *text;
    int r;

    my_identity(host, sizeof(host), user, sizeof(user));
    dt_now(&now);
    dt_format_rfc3339(&now, t);
    j = json_pack("{s:s, s:b, s:s, s:s, s:I, s:I, s:s}", "time", t, "exclusive", l->exclusive,
                  "hostname", host, "username", user, "pid", (json_int_t)getpid(), "process_start",
                  (json_int_t)proc_start_time(getpid()), "command", l->command);
    text = j ? json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return drk_err_set(DRK_EINTERNAL, "cannot encode lock");
    randombytes_buf(rnd, sizeof(rnd));
    hex_encode(id_out, rnd, sizeof(rnd));
    snprintf(key, sizeof(key), "locks/%s", id_out);
    r = stor_put(l->repo->stor, key, text, strlen(text), STOR_PUT_EXCL);
    free(text);
    return r;
}

/* Does the lock's process (on this host) still run, and is it the same process? */
static bool
holder_alive(const struct lock_info *li)
{
    if (li->pid <= 0)
        return false;
    if (kill((pid_t)li->pid, 0) != 0 && errno == ESRCH)
        return false;
    return !li->process_start || proc_start_time(li->pid) == li->process_start;
}

static void
parse_lock(struct stor *stor, struct lock_info *li, const struct buf *raw)
{
    char key[300];
    int held;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)raw->data, raw->len, 0, &jerr);
    const char *t;
    char host[256], user[256];
    struct dt now;

    if (!j || !(t = json_string_value(json_object_get(j, "time"))) ||
        dt_parse_rfc3339(t, &li->time) != 0) {
        li->damaged = li->stale = true;
        json_decref(j);
        return;
    }
    li->exclusive = json_is_true(json_object_get(j, "exclusive"));
    li->hostname = xstrdup(json_string_value(json_object_get(j, "hostname")) ?: "?");
    li->username = xstrdup(json_string_value(json_object_get(j, "username")) ?: "?");
    li->command = xstrdup(json_string_value(json_object_get(j, "command")) ?: "?");
    li->pid = (long)json_integer_value(json_object_get(j, "pid"));
    li->process_start = (uint64_t)json_integer_value(json_object_get(j, "process_start"));
    json_decref(j);

    snprintf(key, sizeof(key), "locks/%s", li->id);
    held = stor_lock_held(stor, key);
    dt_now(&now);
    my_identity(host, sizeof(host), user, sizeof(user));
    if (held == 1) /* the kernel knows, and it knows best */
        return;
    if (held == 0) {
        /* ... except in the instant between the file's creation and its holder's flock:
         * a lock file seconds old whose process is alive here is being taken, not stale */
        li->stale = !(now.sec - li->time.sec <= LOCK_TAKING && !strcmp(host, li->hostname) &&
                      holder_alive(li));
        return;
    }
    if (now.sec - li->time.sec > LOCK_STALE)
        li->stale = true;
    else if (!strcmp(host, li->hostname) && li->pid > 0)
        li->stale = !holder_alive(li);
}

struct names {
    VEC(char *) v;
};

static int
collect(void *arg, const char *name, uint64_t size)
{
    struct names *n = arg;
    (void)size;
    vec_push(&n->v, xstrdup(name));
    return 0;
}

int
lock_list(struct stor *stor, struct lock_info **out, size_t *nout)
{
    struct names names = { VEC_INIT };
    VEC(struct lock_info) infos = VEC_INIT;
    struct buf raw = BUF_INIT;
    int r;

    if ((r = stor_list(stor, "locks", collect, &names)) != 0)
        goto out;
    for (size_t i = 0; i < names.v.n; i++) {
        struct lock_info li;
        char key[300];
        memset(&li, 0, sizeof(li));
        snprintf(key, sizeof(key), "locks/%s", names.v.v[i]);
        r = stor_get(stor, key, &raw, SMALL_FILE_MAX);
        if (r == DRK_ENOTFOUND) { /* released meanwhile */
            r = 0;
            continue;
        }
        if (r)
            goto out;
        li.id = xstrdup(names.v.v[i]);
        parse_lock(stor, &li, &raw);
        vec_push(&infos, li);
    }
out:
    for (size_t i = 0; i < names.v.n; i++)
        free(names.v.v[i]);
    vec_free(&names.v);
    buf_release(&raw);
    if (r) {
        lock_info_free(infos.v, infos.n);
        return r;
    }
    *out = infos.v;
    *nout = infos.n;
    return 0;
}

void
lock_info_free(struct lock_info *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].hostname);
        free(v[i].username);
        free(v[i].command);
    }
    free(v);
}

/* DRK_ELOCKED if a live lock other than ours conflicts with ours. */
static int
find_conflict(struct repo_lock *l, const char *ours)
{
    struct lock_info *v;
    size_t n;
    int r = lock_list(l->repo->stor, &v, &n);
    if (r)
        return r;
    for (size_t i = 0; i < n; i++) {
        char since[DT_RFC3339_MAX];
        if ((ours && !strcmp(v[i].id, ours)) || v[i].stale)
            continue;
        if (!v[i].exclusive && !l->exclusive)
            continue;
        v[i].time.off = dt_local_offset(v[i].time.sec);
        dt_format_human(&v[i].time, since);
        r = drk_err_set(DRK_ELOCKED,
                        "repository is locked %s by '%s' (pid %ld on %s, user %s) since %s",
                        v[i].exclusive ? "exclusively" : "(shared)", v[i].command, v[i].pid,
                        v[i].hostname, v[i].username, since);
        drk_err_hint("wait for it to finish; a lock of a process that died is ignored "
                     "automatically (on another host after %d minutes); 'drkit unlock' "
                     "removes stale locks",
                     LOCK_STALE / 60);
        break;
    }
    lock_info_free(v, n);
    return r;
}

static void *
refresh_main(void *arg)
{
    struct repo_lock *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += LOCK_REFRESH;
        while (!l->stop && pthread_cond_timedwait(&l->cond, &l->mu, &until) != ETIMEDOUT)
            ;
        if (l->stop)
            break;
        {
            char newid[ID_HEX_LEN + 1], key[80];
            if (write_lock(l, newid) == 0) {
                int handle;
                snprintf(key, sizeof(key), "locks/%s", newid);
                stor_lock_hold(l->repo->stor, key, &handle);
                snprintf(key, sizeof(key), "locks/%s", l->id);
                stor_del(l->repo->stor, key);
                stor_lock_drop(l->repo->stor, l->handle);
                l->handle = handle;
                memcpy(l->id, newid, sizeof(newid));
            } else {
                log_warn("cannot refresh the repository lock: %s", drk_err_msg());
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int
lock_acquire(struct repo *repo, bool exclusive, const char *command, struct repo_lock **out)
{
    struct repo_lock *l = xcalloc(1, sizeof(*l));
    int r;

    l->repo = repo;
    l->handle = -1;
    l->exclusive = exclusive;
    l->command = xstrdup(command);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    if ((r = find_conflict(l, NULL)) != 0)
        goto fail;
    if ((r = write_lock(l, l->id)) != 0)
        goto fail;
    {
        char key[80];
        snprintf(key, sizeof(key), "locks/%s", l->id);
        stor_lock_hold(repo->stor, key, &l->handle);
    }
    /* Someone may have locked at the same moment: look again with ours in place. */
    if ((r = find_conflict(l, l->id)) != 0) {
        char key[80];
        struct drk_error e;
        drk_err_save(&e);
        snprintf(key, sizeof(key), "locks/%s", l->id);
        stor_del(repo->stor, key);
        stor_lock_drop(repo->stor, l->handle);
        drk_err_restore(&e);
        l->id[0] = '\0';
        goto fail;
    }
    if (pthread_create(&l->thread, NULL, refresh_main, l) == 0)
        l->thread_started = true;
    *out = l;
    return 0;
fail:
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    free(l->command);
    free(l);
    return r;
}

void
lock_release(struct repo_lock *l)
{
    char key[80];
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    if (l->id[0]) {
        snprintf(key, sizeof(key), "locks/%s", l->id);
        if (stor_del(l->repo->stor, key) != 0)
            log_warn("cannot remove the repository lock '%s': %s", key, drk_err_msg());
    }
    stor_lock_drop(l->repo->stor, l->handle);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    free(l->command);
    free(l);
}

int
lock_remove(struct stor *stor, const char *id)
{
    char key[300];
    if (!is_hex_string(id, ID_HEX_LEN, ID_HEX_LEN))
        return drk_err_set(DRK_EUSAGE, "'%s' is not a lock id", id);
    snprintf(key, sizeof(key), "locks/%s", id);
    return stor_del(stor, key);
}
