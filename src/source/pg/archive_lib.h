/*
 * archive_lib: libarchive, loaded when a physical backup first needs it (util/dynlib.h).
 * Linked in, it brings libxml2, ICU and the C++ runtime into every drkit command (~2 MiB of
 * memory at start) for the one that takes pg_basebackup's tar stream apart.
 *
 * Include after <archive.h> and <archive_entry.h>: the calls basebackup.c makes go through
 * the loaded table. archive_lib_load() must have succeeded first.
 */
#ifndef DRK_SOURCE_PG_ARCHIVE_LIB_H
#define DRK_SOURCE_PG_ARCHIVE_LIB_H

#include <archive.h>
#include <archive_entry.h>

struct archive_lib {
    __typeof__(&archive_read_new) read_new;
    __typeof__(&archive_read_support_format_tar) read_support_format_tar;
    __typeof__(&archive_read_open_fd) read_open_fd;
    __typeof__(&archive_read_next_header) read_next_header;
    __typeof__(&archive_read_data_block) read_data_block;
    __typeof__(&archive_read_free) read_free;
    __typeof__(&archive_error_string) error_string;
    __typeof__(&archive_entry_pathname) entry_pathname;
    __typeof__(&archive_entry_symlink) entry_symlink;
    __typeof__(&archive_entry_filetype) entry_filetype;
    __typeof__(&archive_entry_perm) entry_perm;
    __typeof__(&archive_entry_size) entry_size;
    __typeof__(&archive_entry_mtime) entry_mtime;
    __typeof__(&archive_entry_uid) entry_uid;
    __typeof__(&archive_entry_gid) entry_gid;
    __typeof__(&archive_entry_uname) entry_uname;
    __typeof__(&archive_entry_gname) entry_gname;
};

extern struct archive_lib drk_archive;

/* Load libarchive, once per process; 0, or DRK_EIO saying what is missing. */
int archive_lib_load(void);

#define archive_read_new(...)                (drk_archive.read_new(__VA_ARGS__))
#define archive_read_support_format_tar(...) (drk_archive.read_support_format_tar(__VA_ARGS__))
#define archive_read_open_fd(...)            (drk_archive.read_open_fd(__VA_ARGS__))
#define archive_read_next_header(...)        (drk_archive.read_next_header(__VA_ARGS__))
#define archive_read_data_block(...)         (drk_archive.read_data_block(__VA_ARGS__))
#define archive_read_free(...)               (drk_archive.read_free(__VA_ARGS__))
#define archive_error_string(...)            (drk_archive.error_string(__VA_ARGS__))
#define archive_entry_pathname(...)          (drk_archive.entry_pathname(__VA_ARGS__))
#define archive_entry_symlink(...)           (drk_archive.entry_symlink(__VA_ARGS__))
#define archive_entry_filetype(...)          (drk_archive.entry_filetype(__VA_ARGS__))
#define archive_entry_perm(...)              (drk_archive.entry_perm(__VA_ARGS__))
#define archive_entry_size(...)              (drk_archive.entry_size(__VA_ARGS__))
#define archive_entry_mtime(...)             (drk_archive.entry_mtime(__VA_ARGS__))
#define archive_entry_uid(...)               (drk_archive.entry_uid(__VA_ARGS__))
#define archive_entry_gid(...)               (drk_archive.entry_gid(__VA_ARGS__))
#define archive_entry_uname(...)             (drk_archive.entry_uname(__VA_ARGS__))
#define archive_entry_gname(...)             (drk_archive.entry_gname(__VA_ARGS__))

#endif
