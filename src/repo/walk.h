/*
 * walk: depth-first visit of every node below a root tree, loading subtrees as it goes.
 * Used by test, check, ls and the search for files affected by damage.
 */
#ifndef DRK_REPO_WALK_H
#define DRK_REPO_WALK_H

#include "repo/format.h"
#include "repo/tree.h"

struct repo;
struct blob_codec;

/* Called for each node with its full path ("/var/www/x"). Non-zero stops the walk. */
typedef int (*walk_node_cb)(void *arg, const char *path, const struct node *n);
/* Called when a tree cannot be loaded (path of the directory, tree id, error code with
 * the message in drk_err_msg()). Non-zero stops the walk; zero skips that subtree. */
typedef int (*walk_error_cb)(void *arg, const char *path, const struct blob_id *tree, int err);

struct walk_ops {
    walk_node_cb node;
    walk_error_cb error;
    /* Optional: called before descending into a tree; return false to skip it (e.g. a tree
     * seen before). */
    bool (*enter)(void *arg, const struct blob_id *tree);
};

int repo_walk(struct repo *repo, struct blob_codec *codec, const struct blob_id *root,
              const char *root_path, const struct walk_ops *ops, void *arg);

#endif
