/* ddl: splitting pg_dump's plain output into entries, and finding a table's own. */
#include "source/pg/ddl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The value of "Key: value;" in a header line (up to ';' or the end). */
static char *
header_field(const char *line, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen <= len; i++) {
        if ((i == 0 || line[i - 1] == ' ') && !memcmp(line + i, key, klen)) {
            size_t s = i + klen, e = s;
            while (e < len && line[e] != ';')
                e++;
            return xstrndup(line + s, e - s);
        }
    }
    return xstrdup("");
}

static void
finish_entry(struct ddl *d, struct buf *sql, size_t *cap)
{
    (void)cap;
    if (d->n == 0) {
        free(d->preamble);
        d->preamble = buf_detach(sql, NULL);
        return;
    }
    free(d->v[d->n - 1].sql);
    d->v[d->n - 1].sql = buf_detach(sql, NULL);
}

void
ddl_parse(struct ddl *d, const char *text, size_t len)
{
    struct buf sql = BUF_INIT;
    size_t cap = 0, pos = 0;

    memset(d, 0, sizeof(*d));
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        pos += llen + (nl ? 1 : 0);
        if (llen > 9 && !memcmp(line, "-- Name: ", 9)) {
            struct ddl_entry *e;
            finish_entry(d, &sql, &cap);
            if (d->n == cap) {
                cap = cap ? cap * 2 : 64;
                d->v = xreallocarray(d->v, cap, sizeof(*d->v));
            }
            e = &d->v[d->n++];
            memset(e, 0, sizeof(*e));
            e->name = header_field(line, llen, "Name: ");
            e->type = header_field(line, llen, "Type: ");
            e->schema = header_field(line, llen, "Schema: ");
            if (!strcmp(e->schema, "-"))
                e->schema[0] = '\0';
            continue;
        }
        if (llen >= 2 && line[0] == '-' && line[1] == '-')
            continue; /* comments, the header's own "--" lines */
        if (llen >= 1 && line[0] == '\\')
            continue; /* psql meta-commands (\restrict): not SQL the server takes */
        buf_add(&sql, line, llen);
        buf_addch(&sql, '\n');
    }
    finish_entry(d, &sql, &cap);
    if (!d->preamble)
        d->preamble = xstrdup("");
    for (size_t i = 0; i < d->n; i++)
        if (!d->v[i].sql)
            d->v[i].sql = xstrdup("");
    buf_release(&sql);
}

void
ddl_release(struct ddl *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].name);
        free(d->v[i].type);
        free(d->v[i].schema);
        free(d->v[i].sql);
    }
    free(d->v);
    free(d->preamble);
    memset(d, 0, sizeof(*d));
}

char *
ddl_ident(const char *name)
{
    bool plain = name[0] && (islower((unsigned char)name[0]) || name[0] == '_');
    struct buf b = BUF_INIT;
    for (const char *p = name; *p && plain; p++)
        plain = islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_';
    if (plain)
        return xstrdup(name);
    buf_addch(&b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            buf_addch(&b, '"');
        buf_addch(&b, *p);
    }
    buf_addch(&b, '"');
    return buf_detach(&b, NULL);
}

/* Does the entry's name start with "table " (a per-table object: "products products_pkey")? */
static bool
name_is_of_table(const char *name, const char *table)
{
    size_t n = strlen(table);
    return !strncmp(name, table, n) && name[n] == ' ';
}

static bool
has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

size_t
ddl_table_entries(const struct ddl *d, const char *schema, const char *table,
                  const char *qualified_in, bool referencing, const struct ddl_entry **out,
                  size_t max)
{
    char *qs = ddl_ident(schema), *qt = ddl_ident(table);
    char *qualified = qualified_in ? xstrdup(qualified_in) : xasprintf("%s.%s", qs, qt);
    char *on = xasprintf(" ON %s ", qualified), *on_only = xasprintf(" ON ONLY %s ", qualified);
    char *owned = xasprintf(" OWNED BY %s.", qualified);
    char *refs = xasprintf("REFERENCES %s(", qualified);
    char *identity = xasprintf("ALTER TABLE %s ALTER COLUMN ", qualified);
    char *tbl_word = xasprintf("TABLE %s", table), *col_word = xasprintf("COLUMN %s.", table);
    char *seqs[64];
    size_t nseq = 0, n = 0;

    /* the sequences the table owns (serial columns) */
    for (size_t i = 0; i < d->n && nseq < 64; i++) {
        const struct ddl_entry *e = &d->v[i];
        if (!strcmp(e->type, "SEQUENCE OWNED BY") && !strcmp(e->schema, schema) &&
            has(e->sql, owned))
            seqs[nseq++] = e->name;
        /* identity columns: pg_dump writes them as a SEQUENCE entry altering the table */
        else if (!strcmp(e->type, "SEQUENCE") && !strcmp(e->schema, schema) &&
                 has(e->sql, identity))
            seqs[nseq++] = e->name;
    }
    for (size_t i = 0; i < d->n && n < max; i++) {
        const struct ddl_entry *e = &d->v[i];
        bool same_schema = !strcmp(e->schema, schema), take = false;
        if (!same_schema && strcmp(e->type, "FK CONSTRAINT") != 0)
            continue;
        if (!strcmp(e->type, "TABLE"))
            take = !strcmp(e->name, table);
        else if (!strcmp(e->type, "SEQUENCE") || !strcmp(e->type, "SEQUENCE OWNED BY")) {
            for (size_t k = 0; k < nseq && !take; k++)
                take = !strcmp(e->name, seqs[k]);
        } else if (!strcmp(e->type, "DEFAULT") || !strcmp(e->type, "CONSTRAINT") ||
                   !strcmp(e->type, "TRIGGER") || !strcmp(e->type, "POLICY") ||
                   !strcmp(e->type, "RULE"))
            take = name_is_of_table(e->name, table);
        else if (!strcmp(e->type, "FK CONSTRAINT"))
            take = (same_schema && name_is_of_table(e->name, table)) ||
                   (referencing && has(e->sql, refs));
        else if (!strcmp(e->type, "INDEX"))
            take = has(e->sql, on) || has(e->sql, on_only);
        else if (!strcmp(e->type, "COMMENT") || !strcmp(e->type, "ACL")) {
            take = !strcmp(e->name, tbl_word) || !strncmp(e->name, col_word, strlen(col_word));
            for (size_t k = 0; k < nseq && !take; k++)
                take = !strncmp(e->name, "SEQUENCE ", 9) && !strcmp(e->name + 9, seqs[k]);
        }
        if (take)
            out[n++] = e;
    }
    free(qs);
    free(qt);
    free(qualified);
    free(on);
    free(on_only);
    free(owned);
    free(refs);
    free(identity);
    free(tbl_word);
    free(col_word);
    return n;
}
