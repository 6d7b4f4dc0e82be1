/*
 * backup: the `drkit backup` command group, split over cmd_backup*.c files that share
 * these helpers.
 */
#ifndef DRK_CLI_BACKUP_H
#define DRK_CLI_BACKUP_H

#include <stdbool.h>

#include <jansson.h>

struct app;
struct snapshot;
struct snap_list;

int cmd_backup_create(struct app *app, int argc, char **argv);
int cmd_backup_restore(struct app *app, int argc, char **argv);
int cmd_backup_test(struct app *app, int argc, char **argv);
int cmd_backup_check(struct app *app, int argc, char **argv);
int cmd_backup_prune(struct app *app, int argc, char **argv);
int cmd_backup_delete(struct app *app, int argc, char **argv);
int cmd_backup_copy(struct app *app, int argc, char **argv);

/* The JSON form of a snapshot (docs/json.md); `full` adds paths' errors and tree. */
json_t *snapshot_json(const struct snapshot *s, bool full);
/* Load the snapshot list and resolve ref; on success *out points into list. Damaged
 * snapshot files are reported as warnings; a ref that names one is DRK_ECORRUPT, and so is
 * "latest" while any is damaged (the newest snapshot may be among them). */
int load_and_resolve(struct app *app, struct snap_list *list, const char *ref,
                     struct snapshot **out);
/* DRK_ECORRUPT (exit 4) naming the damaged snapshot files of list, or 0 if there are none:
 * commands do their work with what is readable, then report the damage in their exit code. */
int damaged_snapshots_error(const struct snap_list *list);

#endif
