/* cmd_backup: `drkit backup <subcommand>` dispatch, and list, show, ls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/backup.h"
#include "cli/cli.h"
#include "cli/out.h"
#include "repo/blob.h"
#include "repo/repo.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "repo/walk.h"
#include "util/err.h"
#include "util/log.h"
#include "util/size.h"
#include "util/str.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char backup_usage[] =
    "usage: drkit backup <subcommand> [<options>]\n"
    "\n"
    "  create [PATH...]     back up PATHs (or the config's [source] paths)\n"
    "  list                 list snapshots\n"
    "  show ID              show one snapshot\n"
    "  ls ID [PATH]         list files in a snapshot\n"
    "  restore ID           restore files\n"
    "  test ID              read and verify every blob of a snapshot\n"
    "  check                check the whole repository\n"
    "  prune                apply the retention policy and remove unused data\n"
    "  delete ID...         remove snapshots (and the data only they needed)\n"
    "  copy ID...|--all     copy snapshots to another repository (--to=NAME)\n"
    "\n"
    "ID is a snapshot name (backup-20240113-020000), a unique prefix of its id, or latest.\n"
    "Run 'drkit backup <subcommand> --help' for its options.\n";

static const char list_usage[] =
    "usage: drkit backup list [--before=DATE] [--after=DATE] [--type=TYPE] [--host=HOST]\n"
    "                         [--tag=TAG] [--json]\n"
    "\n"
    "DATE is YYYY-MM-DD or 'YYYY-MM-DD HH:MM[:SS]' in local time (or with Z/+HH:MM),\n"
    "'today' or 'yesterday'. --before excludes that instant, --after includes it.\n"
    "TYPE is full, incremental or restore_point.\n";

static const char show_usage[] = "usage: drkit backup show ID [--json]\n";

static const char ls_usage[] =
    "usage: drkit backup ls ID [PATH] [--long|-l] [--recursive|-R] [--json]\n"
    "\n"
    "Lists the entries of directory PATH (default /) in snapshot ID; PATH is an original\n"
    "absolute path such as /var/www/shop. With --recursive, everything below it.\n";

json_t *
snapshot_json(const struct snapshot *s, bool full)
{
    char t[DT_RFC3339_MAX], short_id[9];
    json_t *j, *tags = json_array(), *paths = json_array(), *st;
    for (size_t i = 0; i < s->tags.n; i++)
        json_array_append_new(tags, out_json_bytes(s->tags.v[i], strlen(s->tags.v[i])));
    for (size_t i = 0; i < s->paths.n; i++)
        json_array_append_new(paths, out_json_bytes(s->paths.v[i], strlen(s->paths.v[i])));
    dt_format_rfc3339(&s->time, t);
    snprintf(short_id, sizeof(short_id), "%.8s", s->id);
    st = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files",
                   (json_int_t)s->stats.files, "dirs", (json_int_t)s->stats.dirs, "links",
                   (json_int_t)s->stats.links, "others", (json_int_t)s->stats.others, "bytes",
                   (json_int_t)s->stats.bytes, "files_new", (json_int_t)s->stats.files_new,
                   "files_changed", (json_int_t)s->stats.files_changed, "files_unchanged",
                   (json_int_t)s->stats.files_unchanged, "bytes_read",
                   (json_int_t)s->stats.bytes_read, "bytes_added", (json_int_t)s->stats.bytes_added,
                   "blobs_added", (json_int_t)s->stats.blobs_added, "duration", s->stats.duration);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s?, s:b, s:I, s:o}", "id", s->id,
                  "short_id", short_id, "name", s->name, "time", t, "type", s->type, "host",
                  out_json_bytes(s->host, strlen(s->host)), "username",
                  out_json_bytes(s->username, strlen(s->username)), "tags", tags, "parent",
                  s->parent[0] ? s->parent : NULL, "partial", s->partial, "error_count",
                  (json_int_t)s->error_count, "paths", paths);
    json_object_set_new(j, "stats", st);
    if (full) {
        char hex[ID_HEX_LEN + 1], end[DT_RFC3339_MAX];
        json_t *errs = json_array();
        for (size_t i = 0; i < s->errors.n; i++)
            json_array_append_new(
                errs,
                json_pack("{s:o, s:o}", "path",
                          out_json_bytes(s->errors.v[i].path, strlen(s->errors.v[i].path)), "error",
                          out_json_bytes(s->errors.v[i].message, strlen(s->errors.v[i].message))));
        json_object_set_new(j, "errors", errs);
        dt_format_rfc3339(&s->end_time, end);
        json_object_set_new(j, "end_time", json_string(end));
        json_object_set_new(j, "program", json_string(s->program ? s->program : ""));
        if (s->has_files) {
            json_t *ex = json_array();
            id_to_hex(&s->files_tree, hex);
            json_object_set_new(j, "tree", json_string(hex));
            for (size_t i = 0; i < s->excludes.n; i++)
                json_array_append_new(ex,
                                      out_json_bytes(s->excludes.v[i], strlen(s->excludes.v[i])));
            json_object_set_new(j, "excludes", ex);
        }
        if (s->has_db && s->db_meta) {
            json_t *db = json_deep_copy(s->db_meta);
            id_to_hex(&s->db_tree, hex);
            json_object_set_new(db, "tree", json_string(hex));
            json_object_set_new(j, "database", db);
        }
    }
    return j;
}

/* The database component: per database, its tables with rows and sizes. */
static void
show_database(const struct snapshot *s)
{
    json_t *dbs = json_object_get(s->db_meta, "databases"), *db, *phys;
    size_t i;
    printf("database:   PostgreSQL %s%s\n",
           json_string_value(json_object_get(s->db_meta, "server_version")),
           json_is_true(json_object_get(s->db_meta, "globals")) ? ", roles and tablespaces" : "");
    if ((phys = json_object_get(s->db_meta, "physical")) != NULL) {
        char files[32], size[SIZE_FMT_MAX];
        const char *end = json_string_value(json_object_get(phys, "end_lsn"));
        out_count(files, sizeof(files),
                  (uint64_t)json_integer_value(json_object_get(phys, "files")));
        size_format((uint64_t)json_integer_value(json_object_get(phys, "bytes")), size);
        printf("physical:   base backup of cluster %s: %s files, %s, WAL %s to %s (timeline "
               "%lld)\n",
               json_string_value(json_object_get(phys, "system_identifier")), files, size,
               json_string_value(json_object_get(phys, "start_lsn")), end ? end : "?",
               (long long)json_integer_value(json_object_get(phys, "timeline")));
    }
    json_array_foreach(dbs, i, db)
    {
        json_t *tables = json_object_get(db, "tables"), *t;
        struct out_table *tab = out_table_new(5);
        char size[SIZE_FMT_MAX];
        size_t k;
        size_format((uint64_t)json_integer_value(json_object_get(db, "size")), size);
        printf("\n%s (%s, %zu tables, %s on the server):\n",
               json_string_value(json_object_get(db, "name")),
               json_string_value(json_object_get(db, "encoding")), json_array_size(tables), size);
        out_table_row(tab, "TABLE", "ROWS", "SIZE", "DUMPED", "FILE");
        json_array_foreach(tables, k, t)
        {
            char name[256], rows[32], sz[SIZE_FMT_MAX], dumped[SIZE_FMT_MAX];
            snprintf(name, sizeof(name), "%s.%s", json_string_value(json_object_get(t, "schema")),
                     json_string_value(json_object_get(t, "name")));
            out_count(rows, sizeof(rows), (uint64_t)json_integer_value(json_object_get(t, "rows")));
            size_format((uint64_t)json_integer_value(json_object_get(t, "size")), sz);
            size_format((uint64_t)json_integer_value(json_object_get(t, "bytes")), dumped);
            out_table_row(tab, name, rows, sz, dumped,
                          json_string_value(json_object_get(t, "file")));
        }
        out_table_print(tab);
    }
}

int
load_and_resolve(struct app *app, struct snap_list *list, const char *ref, struct snapshot **out)
{
    size_t n = strlen(ref);
    int r;
    snap_list_init(list);
    if ((r = snap_list_load(app->repo, list)) != 0)
        return r;
    for (size_t i = 0; i < list->damaged.n; i++)
        log_warn("snapshot file '%s' is damaged: %s", list->damaged.v[i].id,
                 list->damaged.v[i].message);
    if (!strcmp(ref, "latest") && list->damaged.n) {
        /* a damaged file may be the newest snapshot: "latest" cannot be known */
        r = drk_err_set(DRK_ECORRUPT,
                        "%zu snapshot file(s) cannot be read, so 'latest' is "
                        "uncertain",
                        list->damaged.n);
        if (list->items.n)
            drk_err_hint("the newest readable snapshot is '%s'; name a snapshot explicitly",
                         list->items.v[list->items.n - 1].name);
        return r;
    }
    r = snap_resolve(list, ref, out);
    if (r == DRK_ENOTFOUND && n >= 4 && is_hex_string(ref, 4, ID_HEX_LEN)) {
        for (size_t i = 0; i < list->damaged.n; i++)
            if (!strncmp(list->damaged.v[i].id, ref, n))
                return drk_err_set(DRK_ECORRUPT, "snapshot '%s' is damaged: %s", ref,
                                   list->damaged.v[i].message);
    }
    return r;
}

int
damaged_snapshots_error(const struct snap_list *list)
{
    if (!list->damaged.n)
        return 0;
    drk_err_set(DRK_ECORRUPT,
                "%zu snapshot file(s) of the repository are damaged (named "
                "above); run 'drkit backup check'",
                list->damaged.n);
    return DRK_ECORRUPT;
}

/* --- list --- */

enum { OPT_BEFORE = OPT_FIRST_COMMAND_OPTION, OPT_AFTER, OPT_TYPE, OPT_HOST, OPT_TAG };

struct list_ctx {
    bool have_before, have_after;
    int64_t before, after;
    const char *type, *host;
    VEC(const char *) tags;
};

static int
list_opt(struct app *app, void *arg, int c, const char *val)
{
    struct list_ctx *l = arg;
    (void)app;
    switch (c) {
    case OPT_BEFORE:
    case OPT_AFTER:
        if (dt_parse_user(val, c == OPT_BEFORE ? &l->before : &l->after) != 0)
            return cli_usage_error(list_usage, "bad date '%s' for --%s", val,
                                   c == OPT_BEFORE ? "before" : "after");
        if (c == OPT_BEFORE)
            l->have_before = true;
        else
            l->have_after = true;
        return 0;
    case OPT_TYPE:
        if (strcmp(val, "full") && strcmp(val, "incremental") && strcmp(val, "restore_point"))
            return cli_usage_error(list_usage, "bad --type '%s'", val);
        l->type = val;
        return 0;
    case OPT_HOST:
        l->host = val;
        return 0;
    case OPT_TAG:
        vec_push(&l->tags, val);
        return 0;
    }
    return cli_usage_error(list_usage, "unknown option");
}

static bool
list_match(const struct list_ctx *l, const struct snapshot *s)
{
    if (l->have_before && s->time.sec >= l->before)
        return false;
    if (l->have_after && s->time.sec < l->after)
        return false;
    if (l->type && strcmp(l->type, s->type))
        return false;
    if (l->host && strcmp(l->host, s->host))
        return false;
    if (l->tags.n) {
        bool any = false;
        for (size_t i = 0; i < l->tags.n && !any; i++)
            for (size_t k = 0; k < s->tags.n && !any; k++)
                any = !strcmp(l->tags.v[i], s->tags.v[k]);
        if (!any)
            return false;
    }
    return true;
}

static int
backup_list(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "before", required_argument, NULL, OPT_BEFORE },
        { "after", required_argument, NULL, OPT_AFTER },
        { "type", required_argument, NULL, OPT_TYPE },
        { "host", required_argument, NULL, OPT_HOST },
        { "tag", required_argument, NULL, OPT_TAG },
        { NULL, 0, NULL, 0 },
    };
    struct list_ctx l;
    struct snap_list list;
    int first, r;

    memset(&l, 0, sizeof(l));
    app->command = "backup list";
    r = app_parse(app, argc, argv, opts, list_usage, list_opt, &l, &first);
    if (r) {
        vec_free(&l.tags);
        return r == 1 ? 0 : r;
    }
    if (first < argc) {
        vec_free(&l.tags);
        return cli_usage_error(list_usage, "unexpected argument '%s'", argv[first]);
    }
    app_apply_output(app);
    if ((r = app_open_repo(app, 0)) != 0) {
        vec_free(&l.tags);
        return r;
    }
    snap_list_init(&list);
    if ((r = snap_list_load(app->repo, &list)) != 0)
        goto out;
    if (app->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < list.items.n; i++)
            if (list_match(&l, &list.items.v[i]))
                json_array_append_new(arr, snapshot_json(&list.items.v[i], false));
        out_json(arr);
    } else {
        struct out_table *t = out_table_new(8);
        size_t shown = 0;
        out_table_row(t, "NAME", "ID", "TIME", "TYPE", "HOST", "FILES", "SIZE", "NOTE");
        for (size_t i = 0; i < list.items.n; i++) {
            const struct snapshot *s = &list.items.v[i];
            char id[9], time[DT_RFC3339_MAX], files[32], size[SIZE_FMT_MAX];
            struct buf note = BUF_INIT;
            struct dt local = s->time;
            if (!list_match(&l, s))
                continue;
            local.off = dt_local_offset(s->time.sec);
            snprintf(id, sizeof(id), "%.8s", s->id);
            dt_format_human(&local, time);
            out_count(files, sizeof(files), s->stats.files);
            size_format(s->stats.bytes, size);
            if (!s->has_files) {
                snprintf(files, sizeof(files), "-");
                snprintf(size, sizeof(size), "-");
            }
            if (s->has_db) {
                size_t ndb = json_array_size(json_object_get(s->db_meta, "databases"));
                if (ndb || !json_object_get(s->db_meta, "physical"))
                    buf_addf(&note, "%s%zu database%s ", s->has_files ? "+ " : "", ndb,
                             ndb == 1 ? "" : "s");
                if (json_object_get(s->db_meta, "physical"))
                    buf_addf(&note, "%sphysical ", s->has_files || ndb ? "+ " : "");
            }
            if (s->partial)
                buf_addf(&note, "partial (%llu unreadable) ", (unsigned long long)s->error_count);
            for (size_t k = 0; k < s->tags.n; k++)
                buf_addf(&note, "%s%s", k ? "," : "tags:", s->tags.v[k]);
            out_table_row(t, s->name, id, time, s->type, s->host, files, size, (char *)note.data);
            buf_release(&note);
            shown++;
        }
        if (shown)
            out_table_print(t);
        else {
            out_table_free(t);
            if (!app->quiet)
                printf("no snapshots%s\n", list.items.n ? " match" : " yet");
        }
    }
    for (size_t i = 0; i < list.damaged.n; i++)
        log_warn("snapshot file '%s' is damaged: %s", list.damaged.v[i].id,
                 list.damaged.v[i].message);
    if (r == 0)
        r = damaged_snapshots_error(&list);
out:
    snap_list_release(&list);
    vec_free(&l.tags);
    return r;
}

/* --- show --- */

static int
backup_show(struct app *app, int argc, char **argv)
{
    struct snap_list list;
    struct snapshot *s;
    int first, r;

    app->command = "backup show";
    r = app_parse(app, argc, argv, NULL, show_usage, app_no_options, (void *)show_usage, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (argc - first != 1)
        return cli_usage_error(show_usage, "give one snapshot: a name, an id prefix or latest");
    app_apply_output(app);
    if ((r = app_open_repo(app, 0)) != 0)
        return r;
    if ((r = load_and_resolve(app, &list, argv[first], &s)) != 0)
        goto out;
    if (app->json) {
        out_json(snapshot_json(s, true));
    } else {
        char t0[DT_RFC3339_MAX], t1[DT_RFC3339_MAX], v[64], dur[24], hex[ID_HEX_LEN + 1];
        struct dt local = s->time, lend = s->end_time;
        struct buf esc = BUF_INIT;
        local.off = dt_local_offset(local.sec);
        lend.off = dt_local_offset(lend.sec);
        dt_format_human(&local, t0);
        dt_format_human(&lend, t1);
        printf("name:       %s\n", s->name);
        printf("id:         %s\n", s->id);
        printf("type:       %s%s\n", s->type, s->partial ? " (partial)" : "");
        printf("time:       %s (finished %s)\n", t0, t1);
        printf("host:       %s (user %s)\n", s->host, s->username);
        if (s->parent[0])
            printf("parent:     %.16s\n", s->parent);
        if (s->tags.n) {
            printf("tags:      ");
            for (size_t i = 0; i < s->tags.n; i++)
                printf(" %s", s->tags.v[i]);
            printf("\n");
        }
        printf("contents:   %s%s%s\n", s->has_files ? "files" : "",
               s->has_files && s->has_db ? " and " : "", s->has_db ? "database" : "");
        for (size_t i = 0; i < s->paths.n; i++)
            printf("%s %s\n", i ? "           " : "paths:     ", s->paths.v[i]);
        if (s->has_files) {
            out_count(v, sizeof(v), s->stats.files);
            size_format(s->stats.bytes, t0);
            printf("files:      %s in %llu directories, %s\n", v, (unsigned long long)s->stats.dirs,
                   t0);
            printf("changes:    %llu new, %llu changed, %llu unchanged\n",
                   (unsigned long long)s->stats.files_new,
                   (unsigned long long)s->stats.files_changed,
                   (unsigned long long)s->stats.files_unchanged);
        }
        size_format(s->stats.bytes_read, t0);
        size_format(s->stats.bytes_added, t1);
        dt_format_duration(s->stats.duration, dur);
        printf("work:       %s read, %s added to the repository, in %s\n", t0, t1, dur);
        if (s->has_files) {
            id_to_hex(&s->files_tree, hex);
            printf("tree:       %s\n", hex);
        }
        if (s->error_count) {
            printf("unreadable: %llu file(s)\n", (unsigned long long)s->error_count);
            for (size_t i = 0; i < s->errors.n; i++) {
                str_escape_display(&esc, s->errors.v[i].message, strlen(s->errors.v[i].message),
                                   true);
                printf("  %s\n", (char *)esc.data);
            }
        }
        buf_release(&esc);
        if (s->has_db && s->db_meta)
            show_database(s);
    }
out:
    snap_list_release(&list);
    return r;
}

/* --- ls --- */

enum { OPT_LONG = OPT_FIRST_COMMAND_OPTION, OPT_RECURSIVE };

struct ls_ctx {
    struct app *app;
    bool longfmt, recursive;
    json_t *arr;
    struct buf esc;
};

static int
ls_opt(struct app *app, void *arg, int c, const char *val)
{
    struct ls_ctx *l = arg;
    (void)app;
    (void)val;
    if (c == OPT_LONG || c == 'l')
        l->longfmt = true;
    else if (c == OPT_RECURSIVE || c == 'R')
        l->recursive = true;
    else
        return cli_usage_error(ls_usage, "unknown option");
    return 0;
}

static void
mode_string(const struct node *n, char out[11])
{
    static const char types[] = "?-dlcbps";
    uint32_t m = n->mode;
    out[0] = types[n->type < 8 ? n->type : 0];
    out[1] = m & 0400 ? 'r' : '-';
    out[2] = m & 0200 ? 'w' : '-';
    out[3] = m & 04000 ? (m & 0100 ? 's' : 'S') : (m & 0100 ? 'x' : '-');
    out[4] = m & 040 ? 'r' : '-';
    out[5] = m & 020 ? 'w' : '-';
    out[6] = m & 02000 ? (m & 010 ? 's' : 'S') : (m & 010 ? 'x' : '-');
    out[7] = m & 04 ? 'r' : '-';
    out[8] = m & 02 ? 'w' : '-';
    out[9] = m & 01000 ? (m & 01 ? 't' : 'T') : (m & 01 ? 'x' : '-');
    out[10] = '\0';
}

static void
ls_print(struct ls_ctx *l, const char *path, const struct node *n)
{
    if (l->arr) {
        char mode[8], t[DT_RFC3339_MAX];
        struct dt mt = { n->mtime_sec, (int32_t)n->mtime_nsec, 0 };
        json_t *j;
        snprintf(mode, sizeof(mode), "%04o", n->mode);
        dt_format_rfc3339(&mt, t);
        j = json_pack(
            "{s:o, s:o, s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:s}", "path",
            out_json_bytes(path, strlen(path)), "name", out_json_bytes(n->name, n->name_len),
            "type", node_type_name(n->type), "mode", mode, "uid", (json_int_t)n->uid, "gid",
            (json_int_t)n->gid, "user", out_json_bytes(n->user, strlen(n->user)), "group",
            out_json_bytes(n->group, strlen(n->group)), "size", (json_int_t)n->size, "mtime", t);
        if (n->type == NODE_SYMLINK)
            json_object_set_new(j, "link_target", out_json_bytes(n->link, n->link_len));
        if (n->nlink > 1 && n->type == NODE_FILE)
            json_object_set_new(j, "links", json_integer(n->nlink));
        json_array_append_new(l->arr, j);
        return;
    }
    str_escape_display(&l->esc, path, strlen(path), true);
    if (l->longfmt) {
        char mode[11], t[DT_RFC3339_MAX], size[32], owner[600];
        struct dt mt = { n->mtime_sec, (int32_t)n->mtime_nsec, dt_local_offset(n->mtime_sec) };
        mode_string(n, mode);
        dt_format_human(&mt, t);
        snprintf(size, sizeof(size), "%llu", (unsigned long long)n->size);
        snprintf(owner, sizeof(owner), "%s/%s", n->user[0] ? n->user : "?",
                 n->group[0] ? n->group : "?");
        if (!n->user[0] || !n->group[0])
            snprintf(owner, sizeof(owner), "%u/%u", n->uid, n->gid);
        printf("%s %-17s %12s %s %s", mode, owner, size, t, (char *)l->esc.data);
        if (n->type == NODE_SYMLINK) {
            struct buf tgt = BUF_INIT;
            str_escape_display(&tgt, n->link, n->link_len, true);
            printf(" -> %s", (char *)tgt.data);
            buf_release(&tgt);
        }
        printf("\n");
    } else {
        printf("%s%s\n", (char *)l->esc.data, n->type == NODE_DIR ? "/" : "");
    }
}

static int
ls_node(void *arg, const char *path, const struct node *n)
{
    ls_print(arg, path, n);
    return 0;
}

static int
ls_error(void *arg, const char *path, const struct blob_id *tree, int err)
{
    (void)arg;
    (void)tree;
    log_error("cannot list '%s': %s", path, drk_err_msg());
    return err;
}

static int
backup_ls(struct app *app, int argc, char **argv)
{
    static const struct option opts[] = {
        { "long", no_argument, NULL, OPT_LONG },
        { "recursive", no_argument, NULL, OPT_RECURSIVE },
        { NULL, 0, NULL, 0 },
    };
    struct ls_ctx l;
    struct snap_list list;
    struct snapshot *s;
    struct blob_codec codec;
    struct blob_id cur;
    struct tree t;
    const char *path = "/";
    char *norm = NULL;
    int first, r;

    memset(&l, 0, sizeof(l));
    l.app = app;
    app->command = "backup ls";
    /* -l and -R as short options: rewrite them to the long forms for app_parse */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-l"))
            argv[i] = (char *)"--long";
        else if (!strcmp(argv[i], "-R"))
            argv[i] = (char *)"--recursive";
        else if (!strcmp(argv[i], "-lR") || !strcmp(argv[i], "-Rl")) {
            argv[i] = (char *)"--long";
            l.recursive = true;
        }
    }
    r = app_parse(app, argc, argv, opts, ls_usage, ls_opt, &l, &first);
    if (r)
        return r == 1 ? 0 : r;
    if (argc - first < 1 || argc - first > 2)
        return cli_usage_error(ls_usage, "give a snapshot and optionally a path");
    if (argc - first == 2)
        path = argv[first + 1];
    if (path[0] != '/')
        return cli_usage_error(ls_usage, "PATH must be absolute (as backed up), not '%s'", path);
    app_apply_output(app);
    if ((r = app_open_repo(app, 0)) != 0)
        return r;
    if ((r = repo_load_index(app->repo)) != 0)
        return r;
    blob_codec_init(&codec);
    tree_init(&t);
    if ((r = load_and_resolve(app, &list, argv[first], &s)) != 0)
        goto out;
    if (!s->has_files) {
        r = drk_err_set(DRK_ENOTFOUND, "snapshot '%s' has no files", s->name);
        goto out;
    }
    if (app->json)
        l.arr = json_array();
    /* walk down to PATH */
    norm = xstrdup(path);
    cur = s->files_tree;
    {
        char *p = norm + 1, *slash;
        const struct node *n = NULL;
        char *walked = xstrdup("");
        while (*p) {
            char *nw;
            slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            if (*p) {
                tree_release(&t);
                if ((r = tree_load(&t, &codec, app->repo, &cur)) != 0) {
                    free(walked);
                    goto out;
                }
                n = tree_find(&t, p, strlen(p));
                nw = xasprintf("%s/%s", walked, p);
                free(walked);
                walked = nw;
                if (!n) {
                    r = drk_err_set(DRK_ENOTFOUND, "'%s' is not in snapshot '%s'", walked, s->name);
                    free(walked);
                    goto out;
                }
                if (n->type != NODE_DIR) {
                    if (slash && slash[1]) {
                        r = drk_err_set(DRK_ENOTFOUND, "'%s' is not a directory in '%s'", walked,
                                        s->name);
                        free(walked);
                        goto out;
                    }
                    ls_print(&l, walked, n); /* a single entry */
                    free(walked);
                    goto done;
                }
                cur = n->subtree;
            }
            if (!slash)
                break;
            p = slash + 1;
        }
        if (l.recursive) {
            struct walk_ops ops = { ls_node, ls_error, NULL };
            r = repo_walk(app->repo, &codec, &cur, walked[0] ? walked : "/", &ops, &l);
        } else {
            tree_release(&t);
            if ((r = tree_load(&t, &codec, app->repo, &cur)) == 0) {
                for (size_t i = 0; i < t.n; i++) {
                    char *child = xasprintf("%s/%s", walked, t.nodes[i].name);
                    ls_print(&l, child, &t.nodes[i]);
                    free(child);
                }
            }
        }
        free(walked);
    }
done:
    if (l.arr && r == 0) {
        out_json(l.arr);
        l.arr = NULL;
    }
out:
    json_decref(l.arr);
    buf_release(&l.esc);
    free(norm);
    tree_release(&t);
    blob_codec_release(&codec);
    snap_list_release(&list);
    return r;
}

struct subcommand {
    const char *name;
    int (*fn)(struct app *, int, char **);
};

static const struct subcommand subs[] = {
    /* one subcommand per line */
    { "create", cmd_backup_create },
    { "list", backup_list },
    { "show", backup_show },
    { "ls", backup_ls },
    { "restore", cmd_backup_restore },
    { "test", cmd_backup_test },
    { "check", cmd_backup_check },
    { "prune", cmd_backup_prune },
    { "delete", cmd_backup_delete },
    { "copy", cmd_backup_copy },
    { NULL, NULL },
};

int
cmd_backup(struct app *app, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(backup_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? cli_usage_error(NULL, "give a subcommand") : 0;
    }
    for (const struct subcommand *s = subs; s->name; s++)
        if (!strcmp(s->name, argv[1]))
            return s->fn(app, argc - 1, argv + 1);
    return cli_usage_error(backup_usage, "'%s' is not a backup subcommand", argv[1]);
}
