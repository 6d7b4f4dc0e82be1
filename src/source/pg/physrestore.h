/*
 * pgphys: the checks around restoring a physical database backup into a data directory.
 *
 * The files themselves are written by files_restore (the backup's tree is an ordinary
 * directory tree); what is PostgreSQL's own is here: the directory must be new or empty
 * (a restore never mixes two clusters' files, and never lands on a live one), and after the
 * files it must be 0700 and belong to the files' owner, or the server refuses to start.
 */
#ifndef DRK_SOURCE_PG_PHYSRESTORE_H
#define DRK_SOURCE_PG_PHYSRESTORE_H

/* 0 if dir does not exist or is an empty directory; DRK_EEXIST (saying what is there)
 * otherwise. */
int pgphys_check_dir(const char *dir);
/* After the files: mode 0700 and, when run as root, the owner of its PG_VERSION. */
int pgphys_finish(const char *dir);

#endif
