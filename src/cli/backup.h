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

/* The JSON form of a snapshot (docs/json.md); `full` adds paths' errors and tree. */
json_t *snapshot_json(const struct snapshot *s, bool full);
/* Load the snapshot list and resolve ref; on success *out points into list. Damaged
 * snapshots are reported as warnings. */
int load_and_resolve(struct app *app, struct snap_list *list, const char *ref,
                     struct snapshot **out);

#endif
