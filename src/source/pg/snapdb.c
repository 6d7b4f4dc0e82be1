/* snapdb: reading a snapshot's database component back. */
#include "source/pg/snapdb.h"

#include <string.h>

#include "repo/repo.h"
#include "repo/snapshot.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/sig.h"
#include "util/banned.h"

size_t
snapdb_names(const struct snapshot *s, const char **out, size_t max)
{
    json_t *dbs = s->db_meta ? json_object_get(s->db_meta, "databases") : NULL;
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(dbs, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && n < max)
            out[n++] = name;
    }
    return n;
}

static int
load_subtree(struct tree *out, struct blob_codec *c, struct repo *repo, const struct tree *parent,
             const char *name)
{
    const struct node *n = tree_find(parent, name, strlen(name));
    if (!n || n->type != NODE_DIR)
        return drk_err_set(DRK_ECORRUPT, "the snapshot's database tree lacks '%s'", name);
    return tree_load(out, c, repo, &n->subtree);
}

int
snapdb_open(struct snapdb *d, struct repo *repo, struct blob_codec *c, const struct snapshot *s,
            const char *name)
{
    json_t *dbs, *e, *hit = NULL;
    size_t i;
    int r;

    memset(d, 0, sizeof(*d));
    d->repo = repo;
    tree_init(&d->root);
    tree_init(&d->dir);
    tree_init(&d->tables);
    if (!s->has_db || !s->db_meta)
        return drk_err_set(DRK_ENOTFOUND, "snapshot '%s' has no database", s->name);
    dbs = json_object_get(s->db_meta, "databases");
    if (!name && json_array_size(dbs) > 1) {
        struct buf b = BUF_INIT;
        json_array_foreach(dbs, i, e)
        {
            buf_addf(&b, "%s%s", i ? ", " : "", json_string_value(json_object_get(e, "name")));
        }
        r = drk_err_set(DRK_EAMBIGUOUS,
                        "snapshot '%s' holds several databases (%s): name one "
                        "with --database=NAME",
                        s->name, (const char *)b.data);
        buf_release(&b);
        return r;
    }
    json_array_foreach(dbs, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (!name || (n && !strcmp(n, name))) {
            hit = e;
            break;
        }
    }
    if (!hit)
        return drk_err_set(DRK_ENOTFOUND, "snapshot '%s' has no database '%s'", s->name,
                           name ? name : "");
    d->meta = hit;
    d->name = json_string_value(json_object_get(hit, "name"));
    if ((r = tree_load(&d->root, c, repo, &s->db_tree)) != 0)
        return r;
    if ((r = load_subtree(&d->dir, c, repo, &d->root,
                          json_string_value(json_object_get(hit, "dir")))) != 0)
        return r;
    if ((r = load_subtree(&d->tables, c, repo, &d->dir, "tables")) != 0)
        return r;
    for (i = 0; i < d->tables.n; i++)
        d->bytes_total += d->tables.nodes[i].size;
    return 0;
}

int
snapdb_physical(struct repo *repo, struct blob_codec *c, const struct snapshot *s,
                struct blob_id *root, const json_t **meta)
{
    struct tree t;
    const struct node *n;
    json_t *m = s->has_db && s->db_meta ? json_object_get(s->db_meta, "physical") : NULL;
    int r;

    if (!m)
        return drk_err_set(DRK_ENOTFOUND,
                           "snapshot '%s' has no physical database backup (method = physical "
                           "or both in the [source] makes one)",
                           s->name);
    tree_init(&t);
    if ((r = tree_load(&t, c, repo, &s->db_tree)) == 0) {
        n = tree_find(&t, "physical", 8);
        if (!n || n->type != NODE_DIR)
            r = drk_err_set(DRK_ECORRUPT, "the snapshot's database tree lacks 'physical'");
        else
            *root = n->subtree;
    }
    tree_release(&t);
    if (r == 0)
        *meta = m;
    return r;
}

void
snapdb_release(struct snapdb *d)
{
    tree_release(&d->root);
    tree_release(&d->dir);
    tree_release(&d->tables);
}

int
snapdb_stream(struct repo *repo, struct blob_codec *c, const struct node *n, snapdb_sink sink,
              void *arg)
{
    struct buf b = BUF_INIT;
    int r = 0;
    if (!n)
        return 0;
    for (uint32_t i = 0; i < n->ncontent && r == 0; i++) {
        if (sig_interrupted())
            r = drk_err_set(DRK_EINTR, "interrupted");
        else if ((r = blob_read(c, repo, &n->content[i], BLOB_DATA, &b)) == 0)
            r = sink(arg, b.data, b.len);
    }
    buf_release(&b);
    return r;
}

static int
append(void *arg, const void *data, size_t len)
{
    buf_add(arg, data, len);
    return 0;
}

int
snapdb_read(struct repo *repo, struct blob_codec *c, const struct node *n, struct buf *out)
{
    buf_reset(out);
    return snapdb_stream(repo, c, n, append, out);
}

const struct node *
snapdb_file(const struct snapdb *d, const char *name)
{
    const struct node *n = tree_find(&d->dir, name, strlen(name));
    return n && n->type == NODE_FILE ? n : NULL;
}

const struct node *
snapdb_root_file(const struct snapdb *d, const char *name)
{
    const struct node *n = tree_find(&d->root, name, strlen(name));
    return n && n->type == NODE_FILE ? n : NULL;
}

const json_t *
snapdb_table(const struct snapdb *d, const char *schema, const char *table)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(d->meta, "tables"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "schema")), schema) &&
            !strcmp(json_string_value(json_object_get(e, "name")), table))
            return e;
    }
    return NULL;
}

const struct node *
snapdb_table_file(const struct snapdb *d, const json_t *table)
{
    const char *f = json_string_value(json_object_get(table, "file"));
    const struct node *n = f ? tree_find(&d->tables, f, strlen(f)) : NULL;
    return n && n->type == NODE_FILE ? n : NULL;
}
