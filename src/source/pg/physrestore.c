/* pgphys: staging and checks around a physical restore's data directory. */
#include "source/pg/physrestore.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define STAGING_PREFIX ".drkit-restore-"

/* Is name the staging directory of a restore whose process is gone? */
static bool
dead_staging(const char *name)
{
    size_t plen = strlen(STAGING_PREFIX);
    char *end;
    long pid;
    if (strncmp(name, STAGING_PREFIX, plen) != 0)
        return false;
    pid = strtol(name + plen, &end, 10);
    if (*end || pid <= 0)
        return false;
    if ((pid_t)pid == getpid()) /* ours is not made yet: a killed run that had our pid */
        return true;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int
pgphys_prepare(const char *dir, char **staging)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int r = 0;

    *staging = NULL;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT)
            return drk_err_errno(DRK_EIO, errno, "cannot look at '%s'", dir);
    } else if (!S_ISDIR(st.st_mode)) {
        return drk_err_set(DRK_EEXIST, "'%s' exists and is not a directory", dir);
    } else {
        if (!(d = opendir(dir)))
            return drk_err_errno(DRK_EIO, errno, "cannot read directory '%s'", dir);
        while ((de = readdir(d)) != NULL && r == 0) {
            char *path;
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (!dead_staging(de->d_name)) {
                r = drk_err_set(
                    DRK_EEXIST,
                    "'%s' is not empty (it has '%s'%s): a physical restore writes a whole "
                    "cluster into a new or empty directory; move it aside or choose another",
                    dir, de->d_name,
                    !strcmp(de->d_name, "postmaster.pid") ? ", a server may be running there"
                    : !strncmp(de->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX))
                        ? ", another restore is writing there"
                        : "");
                break;
            }
            path = fs_join(dir, de->d_name);
            log_info("removing '%s', left by an interrupted restore", path);
            r = fs_remove_tree(path);
            free(path);
        }
        closedir(d);
        if (r)
            return r;
    }
    if ((r = fs_mkdir_p(dir, 0700)) != 0)
        return r;
    *staging = xasprintf("%s/" STAGING_PREFIX "%ld", dir, (long)getpid());
    if (mkdir(*staging, 0700) != 0) {
        r = drk_err_errno(DRK_EIO, errno, "cannot create '%s'", *staging);
        free(*staging);
        *staging = NULL;
    }
    return r;
}

/* Move staging/name to dir/name, never over something already there (a second restore
 * racing into the same directory fails instead of mixing two clusters). */
static int
move_up(const char *dir, const char *staging, const char *name)
{
    char *from = fs_join(staging, name), *to = fs_join(dir, name);
    int r = 0;
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot move '%s' to '%s'", from, to);
    free(from);
    free(to);
    return r;
}

int
pgphys_finish(const char *dir, const char *staging)
{
    char *version = fs_join(dir, "PG_VERSION"), *global = fs_join(staging, "global");
    struct dirent *de;
    struct stat st;
    DIR *d;
    int r = 0;

    if (lstat(global, &st) != 0 || !S_ISDIR(st.st_mode)) {
        r = drk_err_set(DRK_ECORRUPT, "the backup has no global/ directory: not a cluster");
        goto out;
    }
    if (!(d = opendir(staging))) {
        r = drk_err_errno(DRK_EIO, errno, "cannot read directory '%s'", staging);
        goto out;
    }
    while ((de = readdir(d)) != NULL && r == 0) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (strcmp(de->d_name, "global") != 0) /* pg_control: no server starts without it */
            r = move_up(dir, staging, de->d_name);
    }
    closedir(d);
    if (r == 0)
        r = move_up(dir, staging, "global");
    if (r == 0 && rmdir(staging) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot remove '%s'", staging);
    if (r)
        goto out;
    if (lstat(version, &st) != 0 || !S_ISREG(st.st_mode))
        r = drk_err_set(DRK_ECORRUPT, "the restored cluster has no regular file '%s'", version);
    else if (chmod(dir, 0700) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot make '%s' private (0700)", dir);
    else if (geteuid() == 0 && chown(dir, st.st_uid, st.st_gid) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot give '%s' to the cluster's owner", dir);
out:
    free(version);
    free(global);
    return r;
}

void
pgphys_abandon(const char *dir, const char *staging)
{
    struct drk_error e;
    drk_err_save(&e);
    (void)fs_remove_tree(staging);
    (void)rmdir(dir); /* only if it is empty: it was new, or empty before */
    drk_err_restore(&e);
}
