/*
 * ddl: pg_dump's plain-text output, split into its entries. pg_dump heads every object
 * with a comment block
 *     --
 *     -- Name: products id; Type: DEFAULT; Schema: public; Owner: shop
 *     --
 * and the statements follow until the next such block. That is enough to pick out the
 * definitions belonging to one table (the table, its sequences, defaults, indexes,
 * constraints, triggers, comments and grants) when a table restore has to create it.
 */
#ifndef DRK_SOURCE_PG_DDL_H
#define DRK_SOURCE_PG_DDL_H

#include <stdbool.h>
#include <stddef.h>

struct ddl_entry {
    char *name, *type, *schema; /* schema "" when "-" */
    char *sql;                  /* the statements */
};

struct ddl {
    char *preamble; /* the SET statements before the first entry */
    struct ddl_entry *v;
    size_t n;
};

void ddl_parse(struct ddl *d, const char *text, size_t len);
void ddl_release(struct ddl *d);

/* pg_dump's way of writing an identifier: bare if it is a plain lower-case name, else
 * double-quoted. Keywords are not known here: pass the server's quote_ident() where a
 * connection exists. Caller frees. */
char *ddl_ident(const char *name);

/* The entries that make up table schema.table, in dump order: appended to out (pointers
 * into d). qualified: how the dump writes the table ("public.\"order\"", the server's
 * quote_ident of both parts), NULL to derive it with ddl_ident. referencing: also the
 * foreign keys of other tables that point at it. */
size_t ddl_table_entries(const struct ddl *d, const char *schema, const char *table,
                         const char *qualified, bool referencing, const struct ddl_entry **out,
                         size_t max);

#endif
