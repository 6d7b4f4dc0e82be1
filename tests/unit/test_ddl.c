/* test_ddl: splitting pg_dump's plain output and picking one table's definitions
 * (src/source/pg/ddl.c), on text shaped like PostgreSQL 15's pg_dump. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "source/pg/ddl.h"
#include "util/banned.h"

static const char pre_data[] =
    "--\n-- PostgreSQL database dump\n--\n\n"
    "\\restrict abc123\n\n"
    "SET statement_timeout = 0;\n"
    "SELECT pg_catalog.set_config('search_path', '', false);\n\n"
    "--\n-- Name: order_status; Type: TYPE; Schema: public; Owner: shop\n--\n\n"
    "CREATE TYPE public.order_status AS ENUM ('new', 'paid');\n\n"
    "--\n-- Name: products; Type: TABLE; Schema: public; Owner: shop\n--\n\n"
    "CREATE TABLE public.products (\n    id bigint NOT NULL,\n    sku text NOT NULL\n);\n\n"
    "ALTER TABLE public.products OWNER TO shop;\n\n"
    "--\n-- Name: products_id_seq; Type: SEQUENCE; Schema: public; Owner: shop\n--\n\n"
    "CREATE SEQUENCE public.products_id_seq START WITH 1;\n\n"
    "--\n-- Name: products_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: shop\n--\n\n"
    "ALTER SEQUENCE public.products_id_seq OWNED BY public.products.id;\n\n"
    "--\n-- Name: products_archive; Type: TABLE; Schema: public; Owner: shop\n--\n\n"
    "CREATE TABLE public.products_archive (id bigint);\n\n"
    "--\n-- Name: Odd Name; Type: TABLE; Schema: public; Owner: shop\n--\n\n"
    "CREATE TABLE public.\"Odd Name\" (id int);\n\n"
    "--\n-- Name: products id; Type: DEFAULT; Schema: public; Owner: shop\n--\n\n"
    "ALTER TABLE ONLY public.products ALTER COLUMN id SET DEFAULT "
    "nextval('public.products_id_seq'::regclass);\n\n"
    "--\n-- Name: TABLE products; Type: ACL; Schema: public; Owner: shop\n--\n\n"
    "GRANT SELECT ON TABLE public.products TO reader;\n\n"
    "\\unrestrict abc123\n";

static const char post_data[] =
    "SET statement_timeout = 0;\n\n"
    "--\n-- Name: products products_pkey; Type: CONSTRAINT; Schema: public; Owner: shop\n--\n\n"
    "ALTER TABLE ONLY public.products\n    ADD CONSTRAINT products_pkey PRIMARY KEY (id);\n\n"
    "--\n-- Name: products_name; Type: INDEX; Schema: public; Owner: shop\n--\n\n"
    "CREATE INDEX products_name ON public.products USING btree (sku);\n\n"
    "--\n-- Name: products_archive_id; Type: INDEX; Schema: public; Owner: shop\n--\n\n"
    "CREATE INDEX products_archive_id ON public.products_archive USING btree (id);\n\n"
    "--\n-- Name: order_items order_items_product_fkey; Type: FK CONSTRAINT; Schema: public; "
    "Owner: shop\n--\n\n"
    "ALTER TABLE ONLY public.order_items\n    ADD CONSTRAINT order_items_product_fkey FOREIGN "
    "KEY (product_id) REFERENCES public.products(id);\n\n"
    "--\n-- Name: products_archive products_archive_fk; Type: FK CONSTRAINT; Schema: public; "
    "Owner: shop\n--\n\n"
    "ALTER TABLE ONLY public.products_archive ADD CONSTRAINT products_archive_fk FOREIGN KEY "
    "(id) REFERENCES public.products_archive(id);\n\n"
    "--\n-- Name: products touch; Type: TRIGGER; Schema: public; Owner: shop\n--\n\n"
    "CREATE TRIGGER touch BEFORE INSERT ON public.products FOR EACH ROW EXECUTE "
    "FUNCTION public.touch();\n";

static void
test_parse_entries(void **state)
{
    struct ddl d;
    (void)state;
    ddl_parse(&d, pre_data, strlen(pre_data));
    assert_int_equal(d.n, 8);
    assert_non_null(strstr(d.preamble, "SET statement_timeout"));
    assert_null(strstr(d.preamble, "\\restrict")); /* psql meta-commands are not SQL */
    assert_string_equal(d.v[1].name, "products");
    assert_string_equal(d.v[1].type, "TABLE");
    assert_string_equal(d.v[1].schema, "public");
    assert_non_null(strstr(d.v[1].sql, "OWNER TO shop"));
    assert_null(strstr(d.v[1].sql, "--"));
    assert_string_equal(d.v[3].type, "SEQUENCE OWNED BY");
    assert_null(strstr(d.v[7].sql, "unrestrict"));
    ddl_release(&d);
}

static void
test_table_entries_pre(void **state)
{
    struct ddl d;
    const struct ddl_entry *v[16];
    size_t n;
    (void)state;
    ddl_parse(&d, pre_data, strlen(pre_data));
    n = ddl_table_entries(&d, "public", "products", NULL, false, v, 16);
    /* the table, its sequence and ownership, its default and grant — not products_archive */
    assert_int_equal(n, 5);
    assert_string_equal(v[0]->type, "TABLE");
    assert_string_equal(v[0]->name, "products");
    assert_string_equal(v[1]->type, "SEQUENCE");
    assert_string_equal(v[2]->type, "SEQUENCE OWNED BY");
    assert_string_equal(v[3]->type, "DEFAULT");
    assert_string_equal(v[4]->type, "ACL");
    ddl_release(&d);
}

static void
test_table_entries_post(void **state)
{
    struct ddl d;
    const struct ddl_entry *v[16];
    size_t n;
    (void)state;
    ddl_parse(&d, post_data, strlen(post_data));
    n = ddl_table_entries(&d, "public", "products", NULL, false, v, 16);
    assert_int_equal(n, 3); /* pkey, index, trigger; not the other table's index */
    assert_string_equal(v[0]->name, "products products_pkey");
    assert_string_equal(v[1]->name, "products_name");
    assert_string_equal(v[2]->type, "TRIGGER");
    /* with the foreign keys that point at it */
    n = ddl_table_entries(&d, "public", "products", NULL, true, v, 16);
    assert_int_equal(n, 4);
    assert_string_equal(v[2]->name, "order_items order_items_product_fkey");
    /* the archive table: its own index and self-reference only */
    n = ddl_table_entries(&d, "public", "products_archive", NULL, true, v, 16);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->name, "products_archive_id");
    assert_string_equal(v[1]->name, "products_archive products_archive_fk");
    ddl_release(&d);
}

static void
test_ident(void **state)
{
    char *a = ddl_ident("products"), *b = ddl_ident("Odd Name"), *c = ddl_ident("a\"b");
    char *e = ddl_ident("t_1");
    (void)state;
    assert_string_equal(a, "products");
    assert_string_equal(b, "\"Odd Name\"");
    assert_string_equal(c, "\"a\"\"b\"");
    assert_string_equal(e, "t_1");
    free(a);
    free(b);
    free(c);
    free(e);
}

static void
test_quoted_table(void **state)
{
    struct ddl d;
    const struct ddl_entry *v[16];
    (void)state;
    ddl_parse(&d, pre_data, strlen(pre_data));
    assert_int_equal(ddl_table_entries(&d, "public", "Odd Name", NULL, false, v, 16), 1);
    assert_non_null(strstr(v[0]->sql, "public.\"Odd Name\""));
    ddl_release(&d);
}

/* A table named by a keyword: pg_dump writes public."order"; the caller passes that. */
static void
test_keyword_table(void **state)
{
    static const char text[] =
        "--\n-- Name: order; Type: TABLE; Schema: public; Owner: shop\n--\n\n"
        "CREATE TABLE public.\"order\" (id integer NOT NULL);\n\n"
        "--\n-- Name: order_id_seq; Type: SEQUENCE; Schema: public; Owner: shop\n--\n\n"
        "CREATE SEQUENCE public.order_id_seq;\n\n"
        "--\n-- Name: order_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: shop\n--\n\n"
        "ALTER SEQUENCE public.order_id_seq OWNED BY public.\"order\".id;\n";
    struct ddl d;
    const struct ddl_entry *v[16];
    (void)state;
    ddl_parse(&d, text, strlen(text));
    assert_int_equal(ddl_table_entries(&d, "public", "order", "public.\"order\"", false, v, 16), 3);
    /* without the server's spelling the sequence is missed: hence the parameter */
    assert_int_equal(ddl_table_entries(&d, "public", "order", NULL, false, v, 16), 1);
    ddl_release(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_entries),      cmocka_unit_test(test_table_entries_pre),
        cmocka_unit_test(test_table_entries_post), cmocka_unit_test(test_ident),
        cmocka_unit_test(test_quoted_table),       cmocka_unit_test(test_keyword_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
