/*
 * craft_snapshot: write a hand-made (possibly hostile) file tree into a real drkit repository
 * as a new snapshot, for the restore safety tests (tests/e2e/restore_safety.sh).
 *
 * usage: craft_snapshot --repo DIR [--path /ORIG]... [--no-sort] [--tag TAG] [--type TYPE]
 *                       [--id-prefix HEX] SPEC
 *
 * The passphrase comes from $DRKIT_PASSWORD. SPEC is a file ("-" for stdin) describing the
 * root tree (which stands for "/"), one entry per line:
 *
 *   file NAME CONTENT [mode=0644] [ino=N] [nlink=N] [dev=N] [size=N] [uid=N] [gid=N]
 *   symlink NAME TARGET [xattr=NAME:VALUE]
 *   fifo NAME
 *   dir NAME [mode=0755] {
 *       ...entries of the directory...
 *   }
 *
 * NAME, CONTENT and TARGET are single words in which %XX stands for the byte 0xXX (so
 * "..%2F..%2Fescape" is the name "../../escape"); CONTENT "-" is the empty file. Blank lines
 * and lines starting with '#' are ignored. Names are not validated: tree_encode stores
 * whatever it is given, which is the point. Each directory's entries are sorted by name with a
 * stable sort (duplicate names keep their order in SPEC) unless --no-sort is given.
 *
 * --id-prefix HEX (1..6 hex digits) re-seals the snapshot (fresh random nonce each time) until
 * its id, the SHA-256 of the file, starts with HEX: two snapshots with the same short prefix
 * make an ambiguous reference for the CLI tests.
 *
 * Prints "<snapshot name> <snapshot id>" on stdout. Exit 0 on success, 1 on error, 2 on usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/mac.h"
#include "engine/saver.h"
#include "repo/repo.h"
#include "repo/sealed.h"
#include "repo/snapshot.h"
#include "repo/tree.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/datetime.h"
#include "util/err.h"
#include "util/str.h"

static struct saver *saver;
static bool no_sort;
static FILE *spec;
static const char *spec_name;
static unsigned lineno;

static void
die(const char *msg, const char *arg)
{
    fprintf(stderr, "craft_snapshot: %s%s\n", msg, arg);
    exit(1);
}

static void
die_drk(const char *what, int r)
{
    fprintf(stderr, "craft_snapshot: %s: %s (%s)\n", what, drk_err_msg(), drk_err_name(r));
    exit(1);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode %XX escapes in place; returns the decoded length. */
static size_t
unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '%' && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

#define MAX_WORDS 32

/* Next non-blank, non-comment line split into words; 0 at end of file. */
static int
next_line(char *buf, size_t cap, char **words)
{
    while (fgets(buf, (int)cap, spec)) {
        int n = 0;
        char *p = buf, *save = NULL, *w;
        lineno++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        for (w = strtok_r(p, " \t\r\n", &save); w && n < MAX_WORDS;
             w = strtok_r(NULL, " \t\r\n", &save))
            words[n++] = w;
        if (n > 0)
            return n;
    }
    return 0;
}

static void
bad_line(const char *why)
{
    fprintf(stderr, "craft_snapshot: %s:%u: %s\n", spec_name, lineno, why);
    exit(2);
}

static void
apply_opts(struct tree *t, struct node *n, char **words, int first, int nwords)
{
    for (int i = first; i < nwords; i++) {
        char *eq = strchr(words[i], '=');
        unsigned long long v;
        char *end;
        if (!strcmp(words[i], "{"))
            continue;
        if (!eq)
            bad_line("expected key=value");
        *eq = '\0';
        if (!strcmp(words[i], "xattr")) { /* xattr=NAME:VALUE, one per node */
            char *colon = strchr(eq + 1, ':');
            size_t vl;
            if (!colon)
                bad_line("xattr=NAME:VALUE");
            *colon = '\0';
            vl = unescape(colon + 1);
            n->xattrs = arena_alloc(&t->arena, sizeof(*n->xattrs));
            n->xattrs[0].name = arena_strdup(&t->arena, eq + 1);
            n->xattrs[0].value = arena_memdup(&t->arena, colon + 1, vl);
            n->xattrs[0].len = (uint32_t)vl;
            n->nxattrs = 1;
            continue;
        }
        errno = 0;
        v = strtoull(eq + 1, &end, !strcmp(words[i], "mode") ? 8 : 10);
        if (errno || *end)
            bad_line("bad number");
        if (!strcmp(words[i], "mode"))
            n->mode = (uint32_t)v;
        else if (!strcmp(words[i], "ino"))
            n->ino = v;
        else if (!strcmp(words[i], "nlink"))
            n->nlink = (uint32_t)v;
        else if (!strcmp(words[i], "dev"))
            n->dev = v;
        else if (!strcmp(words[i], "size"))
            n->size = v;
        else if (!strcmp(words[i], "uid"))
            n->uid = (uint32_t)v;
        else if (!strcmp(words[i], "gid"))
            n->gid = (uint32_t)v;
        else
            bad_line("unknown key");
    }
}

static void
stable_sort(struct tree *t)
{
    for (size_t i = 1; i < t->n; i++) {
        struct node cur = t->nodes[i];
        size_t k = i;
        while (k > 0 && node_name_cmp(t->nodes[k - 1].name, t->nodes[k - 1].name_len, cur.name,
                                      cur.name_len) > 0) {
            t->nodes[k] = t->nodes[k - 1];
            k--;
        }
        t->nodes[k] = cur;
    }
}

/* Read entries up to "}" (or the end of the file at depth 0), store the tree, return its id. */
static struct blob_id
build_tree(int depth)
{
    struct tree t;
    struct buf enc = BUF_INIT;
    struct blob_id id;
    struct dt now;
    char line[8192], *w[MAX_WORDS];
    int nw, r;

    tree_init(&t);
    dt_now(&now);
    while ((nw = next_line(line, sizeof(line), w)) > 0) {
        struct node *n;
        size_t len;
        if (!strcmp(w[0], "}")) {
            if (depth == 0)
                bad_line("'}' without a directory");
            goto done;
        }
        if (nw < 2)
            bad_line("expected TYPE NAME ...");
        n = tree_add_node(&t);
        len = unescape(w[1]);
        n->name = arena_strndup(&t.arena, w[1], len);
        n->name_len = len;
        n->uid = n->gid = 0;
        n->user = arena_strdup(&t.arena, "root");
        n->group = arena_strdup(&t.arena, "root");
        n->mtime_sec = now.sec;
        n->ctime_sec = now.sec;
        n->nlink = 1;
        if (!strcmp(w[0], "file")) {
            struct blob_id *cid;
            if (nw < 3)
                bad_line("file NAME CONTENT");
            len = strcmp(w[2], "-") ? unescape(w[2]) : 0;
            n->type = NODE_FILE;
            n->mode = 0644;
            n->size = len;
            if (len) {
                cid = arena_alloc(&t.arena, sizeof(*cid));
                if ((r = saver_put_blob(saver, 0, BLOB_DATA, w[2], len, cid, NULL)) != 0)
                    die_drk("cannot store file content", r);
                n->content = cid;
                n->ncontent = 1;
            }
            apply_opts(&t, n, w, 3, nw);
        } else if (!strcmp(w[0], "symlink")) {
            if (nw < 3)
                bad_line("symlink NAME TARGET");
            len = unescape(w[2]);
            n->type = NODE_SYMLINK;
            n->mode = 0777;
            n->link = arena_strndup(&t.arena, w[2], len);
            n->link_len = len;
            apply_opts(&t, n, w, 3, nw);
        } else if (!strcmp(w[0], "fifo")) {
            n->type = NODE_FIFO;
            n->mode = 0644;
            apply_opts(&t, n, w, 2, nw);
        } else if (!strcmp(w[0], "dir")) {
            if (strcmp(w[nw - 1], "{") != 0)
                bad_line("dir NAME [mode=...] {");
            n->type = NODE_DIR;
            n->mode = 0755;
            n->nlink = 2;
            apply_opts(&t, n, w, 2, nw);
            /* n stays valid: the recursion builds another struct tree */
            n->subtree = build_tree(depth + 1);
        } else {
            bad_line("unknown entry type");
        }
    }
    if (depth > 0)
        bad_line("missing '}' at the end of the file");
done:
    if (!no_sort)
        stable_sort(&t);
    if ((r = tree_encode(&t, &enc)) != 0)
        die_drk("cannot encode a tree", r);
    if ((r = saver_put_blob(saver, 0, BLOB_TREE, enc.data, enc.len, &id, NULL)) != 0)
        die_drk("cannot store a tree", r);
    buf_release(&enc);
    tree_release(&t);
    return id;
}

/* Like snap_save, but re-seal until the file's id starts with prefix. */
static int
save_with_prefix(struct repo *repo, struct snapshot *s, const char *prefix)
{
    char *json = NULL, key[ID_HEX_LEN + 16], hex[ID_HEX_LEN + 1], compact[20];
    unsigned char hash[SHA256_LEN];
    struct buf sealed = BUF_INIT;
    size_t plen = strlen(prefix);
    int r = DRK_EEXIST;

    for (int i = 0; i < 3600 && r == DRK_EEXIST; i++) {
        dt_format_compact_utc(s->time.sec + i, compact);
        free(s->name);
        if (asprintf(&s->name, "backup-%s", compact) < 0)
            die("out of memory", "");
        snprintf(key, sizeof(key), "names/%s", s->name);
        r = stor_put(repo->stor, key, "{}\n", 3, STOR_PUT_EXCL);
    }
    if (r)
        return r;
    if ((r = snap_encode(s, &json)) != 0)
        return r;
    for (unsigned long tries = 0;; tries++) {
        if (tries > 400000000UL)
            die("no id with the prefix ", prefix);
        if ((r = sealed_seal(&sealed, repo_enc_key(repo), OBJ_SNAPSHOT, json, strlen(json))) != 0)
            return r;
        sha256(sealed.data, sealed.len, hash);
        hex_encode(hex, hash, sizeof(hash));
        if (!strncmp(hex, prefix, plen))
            break;
    }
    snprintf(key, sizeof(key), "snapshots/%s", hex);
    r = stor_put(repo->stor, key, sealed.data, sealed.len, 0);
    if (r == 0)
        snprintf(s->id, sizeof(s->id), "%s", hex);
    free(json);
    buf_release(&sealed);
    return r;
}

int
main(int argc, char **argv)
{
    const char *repo_dir = NULL, *pass = getenv("DRKIT_PASSWORD");
    const char *paths[64], *tags[16], *type = "full", *id_prefix = NULL;
    size_t npaths = 0, ntags = 0;
    struct stor *stor;
    struct repo *repo;
    struct saver_opts so = { 1 };
    struct snapshot s;
    char host[256] = "craft";
    int i, r;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repo") && i + 1 < argc)
            repo_dir = argv[++i];
        else if (!strcmp(argv[i], "--path") && i + 1 < argc && npaths < 64)
            paths[npaths++] = argv[++i];
        else if (!strcmp(argv[i], "--tag") && i + 1 < argc && ntags < 16)
            tags[ntags++] = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc)
            type = argv[++i];
        else if (!strcmp(argv[i], "--id-prefix") && i + 1 < argc)
            id_prefix = argv[++i];
        else if (!strcmp(argv[i], "--no-sort"))
            no_sort = true;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            break;
        else if (!spec_name)
            spec_name = argv[i];
        else
            break;
    }
    if (i < argc || !repo_dir || !spec_name) {
        fprintf(stderr, "usage: craft_snapshot --repo DIR [--path /ORIG]... [--no-sort] "
                        "[--tag TAG] SPEC\n");
        return 2;
    }
    if (!pass || !*pass)
        die("DRKIT_PASSWORD is not set", "");
    if (sodium_init() < 0)
        die("cannot initialise libsodium", "");
    spec = strcmp(spec_name, "-") ? fopen(spec_name, "r") : stdin;
    if (!spec)
        die("cannot open ", spec_name);
    if ((r = stor_open(&stor, repo_dir)) != 0)
        die_drk("cannot open the storage", r);
    if ((r = repo_open(&repo, stor, pass, strlen(pass))) != 0)
        die_drk("cannot open the repository", r);
    if ((r = repo_load_index(repo)) != 0)
        die_drk("cannot load the index", r);
    if ((r = saver_new(&saver, repo, &so)) != 0)
        die_drk("cannot start the saver", r);

    snap_init(&s);
    s.files_tree = build_tree(0);
    s.has_files = true;
    if ((r = saver_finish(saver)) != 0)
        die_drk("cannot finish writing", r);
    saver_free(saver);

    dt_now(&s.time);
    s.end_time = s.time;
    s.host = strdup(host);
    s.username = strdup("root");
    s.type = strdup(type);
    s.program = strdup("craft_snapshot");
    if (npaths == 0)
        paths[npaths++] = "/";
    for (size_t k = 0; k < npaths; k++)
        vec_push(&s.paths, strdup(paths[k]));
    for (size_t k = 0; k < ntags; k++)
        vec_push(&s.tags, strdup(tags[k]));
    if (id_prefix && (strlen(id_prefix) > 6 || !is_hex_string(id_prefix, 1, 6)))
        die("--id-prefix takes 1 to 6 lowercase hex digits, not ", id_prefix);
    if ((r = id_prefix ? save_with_prefix(repo, &s, id_prefix) : snap_save(repo, &s)) != 0)
        die_drk("cannot save the snapshot", r);
    printf("%s %s\n", s.name, s.id);
    snap_release(&s);
    repo_free(repo);
    if (spec != stdin)
        fclose(spec);
    return 0;
}
