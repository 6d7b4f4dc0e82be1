/*
 * snapshot: the description of one backup, stored as snapshots/<id> (sealed kind 'S')
 * holding JSON (schema in docs/repository-format.md). A snapshot names the root tree of
 * each component it contains; the files component's root tree stands for "/", so an
 * original path /a/b is the entry b in the tree of entry a of the root tree.
 *
 * Names are unique per repository: before the snapshot is written, names/<name> is
 * created with an exclusive put; a taken name moves the name one second on.
 */
#ifndef DRK_REPO_SNAPSHOT_H
#define DRK_REPO_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "repo/format.h"
#include "util/datetime.h"
#include "util/vec.h"

struct repo;

#define SNAP_ERRORS_KEPT 1000 /* unreadable-file records kept in a snapshot */

struct snap_error {
    char *path;
    char *message;
};

struct snap_stats {
    uint64_t files, dirs, links, others;
    uint64_t bytes; /* sum of file sizes */
    uint64_t files_new, files_changed, files_unchanged;
    uint64_t bytes_read;  /* bytes of file content read from disk */
    uint64_t bytes_added; /* bytes written to the repository (packs) */
    uint64_t data_added;  /* raw bytes of the new blobs */
    uint64_t blobs_added;
    double duration;
};

struct snapshot {
    char id[ID_HEX_LEN + 1]; /* "" until saved/loaded */
    char *name;              /* backup-YYYYMMDD-HHMMSS */
    struct dt time;          /* when the backup started */
    struct dt end_time;
    char *host, *username;
    char *type; /* "full", "incremental", "restore_point" */
    VEC(char *) tags;
    char parent[ID_HEX_LEN + 1]; /* "" if none */
    VEC(char *) paths;
    VEC(char *) excludes; /* patterns the backup skipped (restore --delete spares them) */
    bool has_files;
    struct blob_id files_tree;
    bool has_db;
    struct blob_id db_tree;
    struct json_t *db_meta; /* the "database" object (manifest); owned, may be NULL */
    bool partial;
    uint64_t error_count; /* may exceed errors.n (only SNAP_ERRORS_KEPT are kept) */
    VEC(struct snap_error) errors;
    struct snap_stats stats;
    char *program;
    /* a copy made by `backup copy`: the source repository id and snapshot id, else "" */
    char copied_from_repo[ID_HEX_LEN + 1];
    char copied_from[ID_HEX_LEN + 1];
};

/* The root trees of every component of s (files, database): the roots of everything it
 * needs. Returns how many (at most SNAP_MAX_ROOTS); names[i] is "/" or "/@database". */
#define SNAP_MAX_ROOTS 2
size_t snap_roots(const struct snapshot *s, struct blob_id out[SNAP_MAX_ROOTS],
                  const char *names[SNAP_MAX_ROOTS]);

void snap_init(struct snapshot *s);
void snap_release(struct snapshot *s);
void snap_add_error(struct snapshot *s, const char *path, const char *message);

int snap_encode(const struct snapshot *s, char **json_out);
int snap_decode(struct snapshot *s, const void *data, size_t len);

/* Reserve a unique name (from s->time unless s->name is set) and write the snapshot;
 * sets s->name and s->id. */
int snap_save(struct repo *repo, struct snapshot *s);
int snap_load(struct repo *repo, const char *id, struct snapshot *s);
/* Save under exactly s->name; DRK_EEXIST if the name is taken (copies keep their names). */
int snap_save_named(struct repo *repo, struct snapshot *s);
/* A deep copy of src's description (not its id, parent or copy origin). */
void snap_clone(struct snapshot *dst, const struct snapshot *src);
/* Remove a snapshot (its file, then its name marker). Its data stays until prune. The
 * caller holds the repository's exclusive lock. */
int snap_forget(struct repo *repo, const struct snapshot *s);

struct snap_damaged {
    char *id;
    char *message;
};

struct snap_list {
    VEC(struct snapshot) items; /* sorted by time, oldest first */
    VEC(struct snap_damaged) damaged;
};

void snap_list_init(struct snap_list *l);
void snap_list_release(struct snap_list *l);
/* Load every snapshot; damaged ones are listed in l->damaged, not fatal. */
int snap_list_load(struct repo *repo, struct snap_list *l);
/* "latest", a name ("backup-20240113-020000"), or a unique id prefix (4+ hex digits).
 * "latest" is the newest snapshot not tagged before-restore (the restore points drkit takes
 * before overwriting live data), unless there are only such. DRK_ENOTFOUND, DRK_EAMBIGUOUS. */
bool snap_has_tag(const struct snapshot *s, const char *tag);
int snap_resolve(struct snap_list *l, const char *ref, struct snapshot **out);

#endif
