/*
 * pgphys: the steps around restoring a physical database backup into a data directory.
 *
 * The files themselves are written by files_restore (the backup's tree is an ordinary
 * directory tree); what is PostgreSQL's own is here. The directory must be new or empty: a
 * restore never mixes two clusters' files and never lands on a live one. The files are
 * written into a staging directory inside it (.drkit-restore-<pid>, so on the same file
 * system) and moved up when all are there, global/ (pg_control) last: a restore killed
 * midway never leaves a directory a server would start on with files missing. The leftover of
 * such a restore (its process gone) is removed by the next one. At the end the directory
 * is 0700 and belongs to the files' owner, or the server refuses to start.
 */
#ifndef DRK_SOURCE_PG_PHYSRESTORE_H
#define DRK_SOURCE_PG_PHYSRESTORE_H

/* Check dir (new, empty, or holding only a dead restore's staging directory, which is
 * removed) and choose the staging directory: *staging (caller frees) is where the files go.
 * DRK_EEXIST, saying what is there, when dir holds anything else. */
int pgphys_prepare(const char *dir, char **staging);
/* Move the staged files into dir (global/ last), remove the staging directory, make dir
 * 0700 and, when run as root, give it to the owner of its PG_VERSION. */
int pgphys_finish(const char *dir, const char *staging);
/* After a failed restore: remove the staging directory (and dir, if it was created). */
void pgphys_abandon(const char *dir, const char *staging);

#endif
