/* archive_lib: libarchive loaded on first use (see archive_lib.h). */
#include <pthread.h>

#include "source/pg/archive_lib.h"
#include "util/dynlib.h"
#include "util/err.h"
#include "util/banned.h"

/* libarchive 3's SONAME (Debian: libarchive13, the runtime of libarchive-dev) */
#define ARCHIVE_SONAME "libarchive.so.13"

struct archive_lib drk_archive;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[256]; /* empty: loaded */

static void
load(void)
{
    const struct dynlib_sym syms[] = {
        { "archive_read_new", &drk_archive.read_new },
        { "archive_read_support_format_tar", &drk_archive.read_support_format_tar },
        { "archive_read_open_fd", &drk_archive.read_open_fd },
        { "archive_read_next_header", &drk_archive.read_next_header },
        { "archive_read_data_block", &drk_archive.read_data_block },
        { "archive_read_free", &drk_archive.read_free },
        { "archive_error_string", &drk_archive.error_string },
        { "archive_entry_pathname", &drk_archive.entry_pathname },
        { "archive_entry_symlink", &drk_archive.entry_symlink },
        { "archive_entry_filetype", &drk_archive.entry_filetype },
        { "archive_entry_perm", &drk_archive.entry_perm },
        { "archive_entry_size", &drk_archive.entry_size },
        { "archive_entry_mtime", &drk_archive.entry_mtime },
        { "archive_entry_uid", &drk_archive.entry_uid },
        { "archive_entry_gid", &drk_archive.entry_gid },
        { "archive_entry_uname", &drk_archive.entry_uname },
        { "archive_entry_gname", &drk_archive.entry_gname },
    };
    dynlib_load(ARCHIVE_SONAME, syms, sizeof(syms) / sizeof(syms[0]), load_error,
                sizeof(load_error));
}

int
archive_lib_load(void)
{
    pthread_once(&load_once, load);
    if (load_error[0]) {
        drk_err_set(DRK_EIO, "physical backups need libarchive: %s", load_error);
        drk_err_hint("install it: apt-get install libarchive13");
        return DRK_EIO;
    }
    return 0;
}
