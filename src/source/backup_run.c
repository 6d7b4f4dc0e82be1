/* backup_run: orchestrate one backup (see backup_run.h). */
#include "source/backup_run.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/saver.h"
#include "repo/index.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool
same_paths(const struct snapshot *s, const char *const *paths, size_t n)
{
    if (s->paths.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = !strcmp(s->paths.v[k], paths[i]);
        if (!found)
            return false;
    }
    return true;
}

/* The newest snapshot of this host with the same paths, or the one named. */
static int
find_parent(struct repo *repo, const struct backup_run_opts *o, const char *host,
            struct snapshot *parent, bool *found)
{
    struct snap_list list;
    struct snapshot *hit = NULL;
    int r;

    *found = false;
    snap_list_init(&list);
    if ((r = snap_list_load(repo, &list)) != 0)
        goto out;
    if (o->parent_ref) {
        if ((r = snap_resolve(&list, o->parent_ref, &hit)) != 0)
            goto out;
    } else {
        for (size_t i = list.items.n; i-- > 0;) {
            struct snapshot *s = &list.items.v[i];
            if (s->has_files && o->npaths && !strcmp(s->host, host) &&
                same_paths(s, o->paths, o->npaths)) {
                hit = s;
                break;
            }
        }
    }
    if (hit) {
        *parent = *hit; /* move it out of the list */
        snap_init(hit);
        *found = true;
    }
out:
    snap_list_release(&list);
    return r;
}

int
backup_run(struct repo *repo, const struct backup_run_opts *o, struct backup_progress *prog,
           struct snapshot *snap)
{
    struct files_backup_opts fo;
    struct snapshot parent;
    struct saver *saver = NULL;
    struct saver_opts so;
    struct saver_stats *st;
    char host[256] = "", user[256] = "unknown";
    struct passwd pw, *pwr = NULL;
    char pwbuf[1024];
    bool have_parent = false;
    double t0 = dt_monotonic();
    int r;

    snap_init(snap);
    snap_init(&parent);
    if (o->host)
        snprintf(host, sizeof(host), "%s", o->host);
    else
        gethostname(host, sizeof(host) - 1);
    if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &pwr) == 0 && pwr)
        snprintf(user, sizeof(user), "%s", pwr->pw_name);
    dt_now(&snap->time);
    if (o->has_time) {
        snap->time.sec = o->time;
        snap->time.nsec = 0;
        snap->time.off = dt_local_offset(o->time);
    }
    snap->host = xstrdup(host);
    snap->username = xstrdup(user);
    snap->type = xstrdup(o->type);
    snap->program = xstrdup("drkit " DRKIT_VERSION);
    for (size_t i = 0; i < o->ntags; i++)
        vec_push(&snap->tags, xstrdup(o->tags[i]));
    for (size_t i = 0; i < o->npaths; i++)
        vec_push(&snap->paths, xstrdup(o->paths[i]));
    for (size_t i = 0; i < o->nexcludes; i++)
        vec_push(&snap->excludes, xstrdup(o->excludes[i]));

    if ((r = repo_load_index(repo)) != 0)
        return r;
    if ((r = find_parent(repo, o, host, &parent, &have_parent)) != 0)
        goto out;
    if (have_parent) {
        snprintf(snap->parent, sizeof(snap->parent), "%s", parent.id);
        snprintf(prog->parent_name, sizeof(prog->parent_name), "%s", parent.name);
    }

    memset(&so, 0, sizeof(so));
    /* file workers, the walker, the database's side jobs (schema, globals, a big table's
     * second half) */
    so.contexts = o->threads + 4;
    if ((r = saver_new(&saver, repo, &so)) != 0)
        goto out;
    prog->saver = saver_stats(saver);

    memset(&fo, 0, sizeof(fo));
    fo.paths = o->paths;
    fo.npaths = o->npaths;
    fo.excludes = o->excludes;
    fo.nexcludes = o->nexcludes;
    fo.one_file_system = o->one_file_system;
    fo.parent_tree = have_parent && parent.has_files ? &parent.files_tree : NULL;
    /* full reads everything; incremental and restore points trust unchanged metadata */
    fo.reuse_unchanged = strcmp(o->type, "full") != 0;
    fo.threads = o->threads;
    fo.scan_totals = o->scan_totals;
    if (o->npaths && (r = files_backup(repo, saver, &fo, &prog->files, snap)) != 0) {
        saver_abort(saver);
        goto out;
    }
    if (o->db) {
        struct pgdump_opts po;
        json_t *manifest = NULL;
        memset(&po, 0, sizeof(po));
        po.target = o->db;
        po.databases = o->databases;
        po.ndatabases = o->ndatabases;
        po.exclude_tables = o->exclude_tables;
        po.nexclude = o->nexclude_tables;
        po.only_tables = o->only_tables;
        po.nonly = o->nonly_tables;
        po.methods = o->db_methods;
        po.spread_checkpoint = o->db_spread_checkpoint;
        po.max_rate = o->db_max_rate;
        po.ctx = o->threads; /* the walker's context: the file workers are done */
        po.side_ctx = o->threads + 1;
        /* so their contexts 0..threads-1 are free for the workers that seal big streams */
        po.seal_pool = o->threads ? pool_new(o->threads, 8 * (size_t)o->threads) : NULL;
        atomic_store(&prog->phase, 1);
        r = pgdump_backup(repo, saver, &po, &prog->db, &snap->db_tree, &manifest);
        pool_free(po.seal_pool);
        if (r) {
            saver_abort(saver);
            goto out;
        }
        snap->has_db = true;
        snap->db_meta = manifest;
    }
    if ((r = saver_finish(saver)) != 0)
        goto out;
    st = saver_stats(saver);
    snap->stats.bytes_read = atomic_load(&st->bytes_read);
    snap->stats.data_added = atomic_load(&st->data_added);
    snap->stats.blobs_added = atomic_load(&st->blobs_added);
    snap->stats.bytes_added = atomic_load(&st->bytes_added);
    dt_now(&snap->end_time);
    snap->stats.duration = dt_monotonic() - t0;
    /* the snapshot is written last: before it, nothing of this backup is visible */
    if ((r = snap_save(repo, snap)) != 0)
        goto out;
    if (snap->partial)
        r = drk_err_set(DRK_EPARTIAL,
                        "%llu file(s) could not be read; snapshot '%s' is marked "
                        "partial",
                        (unsigned long long)snap->error_count, snap->name);
out:
    if (saver) {
        prog->saver = NULL;
        saver_free(saver);
    }
    snap_release(&parent);
    return r;
}
