/* pgphys: checks around a physical restore's data directory. */
#include "source/pg/physrestore.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/banned.h"

int
pgphys_check_dir(const char *dir)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (lstat(dir, &st) != 0)
        return errno == ENOENT ? 0 : drk_err_errno(DRK_EIO, errno, "cannot look at '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return drk_err_set(DRK_EEXIST, "'%s' exists and is not a directory", dir);
    if (!(d = opendir(dir)))
        return drk_err_errno(DRK_EIO, errno, "cannot read directory '%s'", dir);
    while ((de = readdir(d)) != NULL && r == 0) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        r = drk_err_set(DRK_EEXIST,
                        "'%s' is not empty (it has '%s'%s): a physical restore writes a whole "
                        "cluster into a new or empty directory; move it aside or choose another",
                        dir, de->d_name,
                        !strcmp(de->d_name, "postmaster.pid") ? ", a server may be running there"
                                                              : "");
    }
    closedir(d);
    return r;
}

int
pgphys_finish(const char *dir)
{
    char *version = fs_join(dir, "PG_VERSION");
    struct stat st;
    int r = 0;

    if (stat(version, &st) != 0)
        r = drk_err_errno(DRK_EIO, errno, "the restored cluster has no '%s'", version);
    else if (chmod(dir, 0700) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot make '%s' private (0700)", dir);
    else if (geteuid() == 0 && chown(dir, st.st_uid, st.st_gid) != 0)
        r = drk_err_errno(DRK_EIO, errno, "cannot give '%s' to the cluster's owner", dir);
    free(version);
    return r;
}
