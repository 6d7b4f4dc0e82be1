/* walk: recursive tree traversal. */
#include "repo/walk.h"

#include <stdlib.h>
#include <string.h>

#include "repo/blob.h"
#include "repo/repo.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define WALK_MAX_DEPTH 512

static char *
join(const char *dir, const char *name)
{
    if (dir[0] == '/' && dir[1] == '\0')
        return xasprintf("/%s", name);
    return xasprintf("%s/%s", dir, name);
}

static int
walk_tree(struct repo *repo, struct blob_codec *codec, const struct blob_id *id, const char *path,
          const struct walk_ops *ops, void *arg, int depth)
{
    struct tree t;
    int r;

    if (ops->enter && !ops->enter(arg, id))
        return 0;
    if (depth > WALK_MAX_DEPTH) {
        r = drk_err_set(DRK_EUNSAFE, "directory nesting below '%s' is too deep", path);
        return ops->error ? ops->error(arg, path, id, r) : r;
    }
    if ((r = tree_load(&t, codec, repo, id)) != 0)
        return ops->error ? ops->error(arg, path, id, r) : r;
    for (size_t i = 0; i < t.n && r == 0; i++) {
        const struct node *n = &t.nodes[i];
        char *p = join(path, n->name);
        if (ops->node)
            r = ops->node(arg, p, n);
        if (r == 0 && n->type == NODE_DIR)
            r = walk_tree(repo, codec, &n->subtree, p, ops, arg, depth + 1);
        free(p);
    }
    tree_release(&t);
    return r;
}

int
repo_walk(struct repo *repo, struct blob_codec *codec, const struct blob_id *root,
          const char *root_path, const struct walk_ops *ops, void *arg)
{
    return walk_tree(repo, codec, root, root_path, ops, arg, 0);
}
