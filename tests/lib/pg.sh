# pg.sh: a throwaway PostgreSQL 15 cluster for drkit's end-to-end tests (tests/e2e/pg_*.sh).
#
# Source it after common.sh:   . "$DRKIT_TESTS/lib/common.sh"; . "$DRKIT_TESTS/lib/pg.sh"
#
# Recipes and pitfalls: ../shared/notes/test-infra.md (PostgreSQL section). The cluster lives in
# its own short directory /tmp/drkit-pg.XXXXXX (the unix socket path must stay < 108 bytes, and
# user postgres cannot enter $T, which is root's 0700 dir), owned by the cluster's OS user.
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_OSUSER (default postgres: the OS
# user the server runs as when the test runs as root; initdb and postgres refuse root).
#
# Functions:
#   pg_require                    skip (exit 77) unless PG_BIN has initdb/pg_ctl/psql/pg_dump and,
#                                 as root, user PG_OSUSER and runuser exist
#   pg_start [SETTING...]         initdb (--data-checksums, -A trust, superuser postgres, UTF8,
#                                 locale C), listen on 127.0.0.1 at a free port and on a unix
#                                 socket in the cluster dir, fsync=off; each SETTING
#                                 ("name = value") is appended to postgresql.conf. Sets PG_DIR
#                                 (cluster dir = socket dir), PG_DATA, PG_PORT, PG_LOG. The
#                                 cluster is stopped and removed at exit (on_exit), and by a
#                                 watchdog if the test is killed outright. One cluster per test.
#   pg_stop [DIR]                 stop the cluster (immediate) and remove its directory
#   pg_scratch_dir                set PG_SCRATCH to a new directory owned by PG_OSUSER, cleaned
#                                 up at exit like pg_start's (a server on PG_SCRATCH/data is
#                                 stopped): where a physical restore writes its cluster
#   pg_start_on DATA PORT SOCKDIR start a server on an existing data directory (a restored one:
#                                 port and socket given on the command line override its own)
#   pg_as_owner CMD...            run CMD as the cluster's OS user from a dir it can read
#   pg_ctl_cmd ARGS...            pg_ctl -D PG_DATA ARGS as the owner (e.g. pg_ctl_cmd reload)
#   pg_conninfo DB [USER]         print "host=PG_DIR port=PG_PORT dbname=DB user=USER" (postgres)
#   pg_psql DB [PSQL ARGS...]     psql -X -q -v ON_ERROR_STOP=1 on the cluster's socket as
#                                 postgres (stdin, -c, -f all work); returns psql's exit code
#   pg_sql DB SQL                 run SQL, print the rows (-At, fields separated by |); fail
#                                 with psql's message if it fails
#   pg_db_exists DB               succeed if database DB exists
#   pg_table_md5 DB TABLE         print md5 of all rows of TABLE in a stable order (row text)
#   pg_hba_prepend LINE...        put pg_hba.conf lines before the trust lines, then reload
#   pg_log_tail [N]               print the last N (40) lines of the server log on stderr
#   pg_drkit_conf FILE REPO DB TARGETDB [EXTRA]
#                                 write a drkit config: [repository "local"] url=REPO, [source
#                                 "database"] postgresql on this cluster with databases = DB
#                                 (EXTRA: more lines for that section, e.g. exclude-tables = ..),
#                                 [target "test"] whose dbname is TARGETDB

# shellcheck shell=bash disable=SC2120
if [ -n "${DRKIT_PG_SOURCED:-}" ]; then
    return 0
fi
DRKIT_PG_SOURCED=1

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_OSUSER=${PG_OSUSER:-postgres}
PG_DIR=
PG_DATA=
PG_PORT=
PG_LOG=

pg_require() {
    local p
    [ -x "$PG_BIN/initdb" ] || skip "no PostgreSQL 15 server ($PG_BIN/initdb; apt-get install postgresql-15)"
    for p in pg_ctl psql pg_dump pg_dumpall; do
        [ -x "$PG_BIN/$p" ] || skip "no $PG_BIN/$p"
    done
    if [ "$(id -u)" -eq 0 ]; then
        id -u "$PG_OSUSER" >/dev/null 2>&1 || skip "running as root and there is no user $PG_OSUSER"
        command -v runuser >/dev/null 2>&1 || skip "needs runuser"
    fi
    command -v ss >/dev/null 2>&1 || skip "needs ss (free_port)"
}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "${PG_DIR:-/}" && runuser -u "$PG_OSUSER" -- "$@")
    else
        (cd "${PG_DIR:-/}" && "$@")
    fi
}

pg_ctl_cmd() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" "$@"
}

pg_stop() {
    local dir=${1:-$PG_DIR}
    [ -n "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        PG_DIR=$dir pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 -s stop \
            >/dev/null 2>&1 || echo "pg.sh: cannot stop the cluster in $dir" >&2
    fi
    rm -rf -- "$dir"
}

# If the test dies without running its EXIT trap (SIGKILL from a CTest timeout), stop the
# cluster anyway: a detached loop polls the test's pid. It holds none of the test's pipes.
_pg_watchdog() {
    local pid=$1 dir=$2 bin=$3 user=$4
    (
        cd / || exit 0
        while kill -0 "$pid" 2>/dev/null; do
            sleep 2
        done
        [ -f "$dir/data/postmaster.pid" ] || exit 0
        if [ "$(id -u)" -eq 0 ]; then
            runuser -u "$user" -- "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 -s stop
        else
            "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 -s stop
        fi
        rm -rf -- "$dir"
    ) </dev/null >/dev/null 2>&1 &
    disown $! 2>/dev/null || true
}

pg_start() {
    local s tries
    [ -z "$PG_DIR" ] || fail "pg_start: a cluster is already running in $PG_DIR"
    PG_DIR=$(mktemp -d /tmp/drkit-pg.XXXXXX) || fail "pg_start: mktemp"
    on_exit "pg_stop '$PG_DIR'"
    PG_DATA=$PG_DIR/data
    PG_LOG=$PG_DIR/server.log
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PG_OSUSER": "$PG_DIR" || fail "pg_start: chown $PG_DIR"
    fi
    chmod 700 "$PG_DIR"
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C \
        --data-checksums --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        fail "initdb failed"
    }
    _pg_watchdog "$$" "$PG_DIR" "$PG_BIN" "$PG_OSUSER"
    # a port can be taken between free_port and the server's bind: try a few
    for tries in 1 2 3; do
        PG_PORT=$(free_port)
        {
            echo "# --- drkit test settings ---"
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $PG_PORT"
            echo "unix_socket_directories = '$PG_DIR'"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
            echo "shared_buffers = 32MB"
            echo "max_connections = 40"
            echo "logging_collector = off"
            echo "log_min_messages = warning"
            for s in "$@"; do
                echo "$s"
            done
        } >"$PG_DATA/postgresql.auto.conf"
        if pg_ctl_cmd -l "$PG_LOG" -w -t 30 -s start >/dev/null 2>&1; then
            break
        fi
        PG_PORT=
        [ "$tries" -lt 3 ] || {
            pg_log_tail
            fail "the PostgreSQL cluster did not start"
        }
    done
    pg_sql postgres "SELECT 1" >/dev/null
}

pg_scratch_dir() {
    PG_SCRATCH=$(mktemp -d /tmp/drkit-pg.XXXXXX) || fail "pg_scratch_dir: mktemp"
    on_exit "pg_stop '$PG_SCRATCH'"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PG_OSUSER": "$PG_SCRATCH" || fail "pg_scratch_dir: chown $PG_SCRATCH"
    fi
    chmod 700 "$PG_SCRATCH"
    _pg_watchdog "$$" "$PG_SCRATCH" "$PG_BIN" "$PG_OSUSER"
}

pg_start_on() {
    local data=$1 port=$2 sock=$3
    PG_DIR=$sock pg_as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$sock/server.log" -w -t 60 -s \
        -o "-p $port -k $sock -c listen_addresses=''" start >/dev/null 2>&1 || {
        tail -n 30 "$sock/server.log" >&2
        fail "no server would start on $data"
    }
}

pg_conninfo() {
    echo "host=$PG_DIR port=$PG_PORT dbname=$1 user=${2:-postgres}"
}

pg_psql() {
    local db=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

pg_sql() {
    local out rc=0
    out=$(pg_psql "$1" -At -c "$2" 2>"$T/pg_sql.err") || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$T/pg_sql.err" >&2
        fail "psql on database $1 failed (exit $rc): $2"
    fi
    [ -z "$out" ] || printf '%s\n' "$out"
}

pg_db_exists() {
    [ "$(pg_sql postgres "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]
}

pg_table_md5() {
    pg_sql "$1" "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') FROM $2 t"
}

pg_hba_prepend() {
    local l
    {
        for l in "$@"; do
            echo "$l"
        done
        cat "$PG_DATA/pg_hba.conf"
    } >"$PG_DIR/pg_hba.new"
    [ "$(id -u)" -ne 0 ] || chown "$PG_OSUSER": "$PG_DIR/pg_hba.new"
    chmod 600 "$PG_DIR/pg_hba.new"
    mv -- "$PG_DIR/pg_hba.new" "$PG_DATA/pg_hba.conf"
    pg_sql postgres "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5 # the postmaster rereads the file on SIGHUP, asynchronously
}

pg_log_tail() {
    [ -n "$PG_LOG" ] && [ -f "$PG_LOG" ] || return 0
    echo "--- PostgreSQL server log ($PG_LOG) ---" >&2
    tail -n "${1:-40}" -- "$PG_LOG" >&2
    echo "----------" >&2
}

pg_drkit_conf() {
    local file=$1 repo=$2 db=$3 tdb=$4 extra=${5:-}
    {
        echo "[repository \"local\"]"
        echo "    url = $repo"
        echo "[source \"database\"]"
        echo "    type = postgresql"
        echo "    conninfo = $(pg_conninfo "$db")"
        echo "    databases = $db"
        [ -z "$extra" ] || printf '%s\n' "$extra" | sed 's/^/    /'
        echo "[target \"test\"]"
        echo "    conninfo = $(pg_conninfo "$tdb")"
    } >"$file"
}

# --- a shop-like database for the pg_* tests ---------------------------------------------------
#   pg_make_shop DB               create role shop_owner (password 'owner-secret', if missing) and
#                                 database DB holding: extension citext, a domain, an enum, schema
#                                 reporting, tables customers (citext, jsonb, a dropped column,
#                                 identity ALWAYS), users, products (identity BY DEFAULT, bytea
#                                 2 KiB each, jsonb, a generated column, a large object reference,
#                                 a BEFORE UPDATE trigger), orders (enum), order_items (FKs to
#                                 orders and products; only products 1..100 are referenced),
#                                 coupons (serial, default, check, index, FK, trigger), sessions,
#                                 audit_log (owned by shop_owner), "Cart Items" (quoted names),
#                                 a partitioned page_views, reporting.daily_sales; sequences
#                                 invoice_no (called) and unused_seq (never called), a view, a
#                                 materialized view with a unique index, functions, a large object
#                                 (200 KiB, owned by shop_owner), comments and grants, and rows
#                                 with tabs, newlines, backslashes, NULL vs '', NaN, infinity
#   pg_user_tables DB             print schema.table of every ordinary table of DB (sorted)
#   pg_all_table_md5 DB           print "schema.table count:md5" for every ordinary table of DB
#   pg_seq_state DB               print every sequence's schema, name and last value ('not called')
#   pg_lo_state DB                print every large object's oid, owner and md5 of its content
#   pg_schema_dump DB             print pg_dump --schema-only of DB with DB's name replaced by
#                                 @DB@ and the dump's comment lines (and \restrict keys) removed
#   pg_capture DB DIR             write DB's state into DIR: schema (pg_schema_dump), tables
#                                 (pg_all_table_md5), sequences, large_objects, matviews (md5 of
#                                 the rows of every materialized view), owners (of every relation)
#   pg_compare DIR1 DIR2          succeed if two pg_capture dirs are equal; else print the first
#                                 differences on stderr and return 1
pg_make_shop() {
    local db=$1
    if [ "$(pg_sql postgres "SELECT count(*) FROM pg_roles WHERE rolname = 'shop_owner'")" = 0 ]; then
        pg_sql postgres "CREATE ROLE shop_owner LOGIN PASSWORD 'owner-secret'" >/dev/null
    fi
    pg_sql postgres "CREATE DATABASE $db" >/dev/null
    pg_psql "$db" >"$T/pg_make_shop.out" 2>&1 <<'SQL' || { cat "$T/pg_make_shop.out" >&2; fail "pg_make_shop $db failed"; }
CREATE EXTENSION citext;
CREATE DOMAIN email_address AS citext CHECK (VALUE LIKE '%_@_%');
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled', 'refunded');
CREATE SCHEMA reporting;

CREATE TABLE customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email email_address NOT NULL UNIQUE,
    name text,
    legacy_flag boolean,
    profile jsonb,
    created_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
CREATE TABLE users (
    id serial PRIMARY KEY,
    customer_id bigint REFERENCES customers(id) ON DELETE SET NULL,
    login text NOT NULL UNIQUE,
    pw_hash bytea,
    roles text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE products (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sku text NOT NULL UNIQUE,
    name text NOT NULL,
    description text,
    price numeric(10,2) NOT NULL CHECK (price >= 0),
    price_gross numeric(12,2) GENERATED ALWAYS AS (round(price * 1.19, 2)) STORED,
    attrs jsonb,
    image bytea,
    manual oid,
    weight double precision,
    updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
CREATE INDEX products_attrs_gin ON products USING gin (attrs);
CREATE INDEX products_name_lower ON products (lower(name));
CREATE TABLE orders (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers(id),
    status order_status NOT NULL DEFAULT 'new',
    placed_at timestamptz NOT NULL,
    note text
);
CREATE INDEX orders_customer_placed ON orders (customer_id, placed_at);
CREATE TABLE order_items (
    order_id bigint NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    product_id integer NOT NULL REFERENCES products(id),
    qty integer NOT NULL CHECK (qty > 0),
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX order_items_product ON order_items (product_id);
CREATE TABLE coupons (
    id serial PRIMARY KEY,
    code text NOT NULL,
    percent integer NOT NULL DEFAULT 10 CHECK (percent BETWEEN 1 AND 100),
    customer_id bigint REFERENCES customers(id),
    valid daterange,
    uses integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX coupons_code_upper ON coupons (upper(code));
CREATE TABLE sessions (
    id text PRIMARY KEY,
    user_id integer REFERENCES users(id),
    data jsonb,
    expires timestamptz
);
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    what text NOT NULL
);
ALTER TABLE audit_log OWNER TO shop_owner;
CREATE TABLE "Cart Items" ("Session Id" text NOT NULL, "Product" integer REFERENCES products(id), "qty" integer);
CREATE TABLE page_views (day date NOT NULL, path text NOT NULL, views integer NOT NULL) PARTITION BY RANGE (day);
CREATE TABLE page_views_2024h1 PARTITION OF page_views FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
CREATE TABLE page_views_2024h2 PARTITION OF page_views FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');
CREATE TABLE reporting.daily_sales (day date PRIMARY KEY, amount numeric(14,2), orders integer);
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
CREATE SEQUENCE unused_seq;

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER products_touch BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE FUNCTION coupons_upper() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.code := upper(NEW.code);
    RETURN NEW;
END $$;
CREATE TRIGGER coupons_upper BEFORE INSERT OR UPDATE ON coupons FOR EACH ROW EXECUTE FUNCTION coupons_upper();
CREATE FUNCTION order_total(bigint) RETURNS numeric LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(qty * unit_price), 0) FROM order_items WHERE order_id = $1 $$;

-- data (deterministic)
INSERT INTO customers (email, name, legacy_flag, profile, created_at)
SELECT 'customer' || g || '@example.com', 'Customer ' || g, g % 3 = 0,
       jsonb_build_object('newsletter', g % 2 = 0, 'tags', jsonb_build_array('t' || g % 7, 't' || g % 11), 'score', g * 1.5),
       '2023-01-01 00:00:00+00'::timestamptz + g * interval '37 minutes'
FROM generate_series(1, 2000) g;
ALTER TABLE customers DROP COLUMN legacy_flag;
INSERT INTO customers (email, name, profile) VALUES
    ('Tricky@Example.com', E'tab\there, newline\nthere, backslash \\ and ''quote''', '{"emoji": "😀", "nested": {"a": [1, null, "x"]}}'),
    ('empty@example.com', '', NULL),
    ('null@example.com', NULL, '{}');
INSERT INTO users (customer_id, login, pw_hash, roles)
SELECT g * 7, 'user' || g, decode(md5('pw' || g), 'hex'), CASE WHEN g % 10 = 0 THEN '{admin,editor}' ELSE '{customer}' END::text[]
FROM generate_series(1, 250) g;
INSERT INTO products (sku, name, description, price, attrs, image, weight)
SELECT 'SKU-' || lpad(g::text, 5, '0'), 'Product ' || g, repeat('Lorem ipsum ' || g || '. ', 1 + g % 20),
       (g * 3.17)::numeric(10,2),
       jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + g % 3], 'size', g % 5, 'dims', jsonb_build_array(g, g * 2)),
       (SELECT decode(string_agg(md5(g || '-' || k), ''), 'hex') FROM generate_series(1, 128) k),
       g / 7.0
FROM generate_series(1, 300) g;
UPDATE products SET name = E'Grüße\tmit Tab und \\Backslash\\ und\nZeilenumbruch', image = ''::bytea WHERE id = 1;
UPDATE products SET description = NULL, image = NULL, attrs = 'null'::jsonb, weight = 'NaN' WHERE id = 2;
UPDATE products SET description = '', weight = '-Infinity' WHERE id = 3;
UPDATE products SET updated_at = '2024-01-01 00:00:00+00';
INSERT INTO orders (customer_id, status, placed_at, note)
SELECT 1 + g % 2000, (ARRAY['new','paid','shipped','cancelled','refunded'])[1 + g % 5]::order_status,
       '2024-01-01 00:00:00+00'::timestamptz + g * interval '13 minutes',
       CASE WHEN g % 50 = 0 THEN 'gift wrap' END
FROM generate_series(1, 5000) g;
INSERT INTO order_items (order_id, product_id, qty, unit_price)
SELECT o, 1 + (o * 7 + k * 13) % 100, 1 + (o + k) % 4, (1 + (o * 7 + k * 13) % 100) * 3.17
FROM generate_series(1, 5000) o, generate_series(0, 1) k;
INSERT INTO coupons (code, percent, customer_id, valid, uses)
SELECT 'save' || g, 5 + g % 50, CASE WHEN g % 3 = 0 THEN g END, daterange('2024-01-01', '2024-12-31'), g % 4
FROM generate_series(1, 60) g;
INSERT INTO sessions SELECT md5('s' || g), 1 + g % 250, jsonb_build_object('cart', g), '2030-01-01'::timestamptz FROM generate_series(1, 1000) g;
INSERT INTO audit_log (at, what) SELECT '2024-02-01'::timestamptz + g * interval '1 hour', 'event ' || g FROM generate_series(1, 120) g;
INSERT INTO "Cart Items" SELECT 'sess' || g, 1 + g % 100, g FROM generate_series(1, 40) g;
INSERT INTO page_views SELECT '2024-01-01'::date + g % 366, '/p/' || g % 17, g FROM generate_series(1, 900) g;
INSERT INTO reporting.daily_sales SELECT '2024-01-01'::date + g, g * 10.5, g FROM generate_series(0, 199) g;
SELECT nextval('invoice_no') FROM generate_series(1, 3);

-- a large object (200 KiB, incompressible) owned by shop_owner, referenced by product 5
SELECT lo_from_bytea(0, (SELECT decode(string_agg(md5('lo' || k), ''), 'hex') FROM generate_series(1, 12800) k)) AS lo \gset
ALTER LARGE OBJECT :lo OWNER TO shop_owner;
UPDATE products SET manual = :lo, updated_at = '2024-01-01 00:00:00+00' WHERE id = 5;

CREATE VIEW order_summary AS
    SELECT o.id, c.email, o.status, order_total(o.id) AS total FROM orders o JOIN customers c ON c.id = o.customer_id;
CREATE MATERIALIZED VIEW product_sales AS
    SELECT p.id, p.sku, coalesce(sum(oi.qty), 0) AS sold FROM products p LEFT JOIN order_items oi ON oi.product_id = p.id GROUP BY p.id, p.sku;
CREATE UNIQUE INDEX product_sales_id ON product_sales (id);
COMMENT ON TABLE products IS 'what the store sells';
COMMENT ON COLUMN products.price IS 'net price, EUR';
GRANT SELECT ON products, order_summary TO shop_owner;
GRANT INSERT ON audit_log TO PUBLIC;
ANALYZE;
SQL
}

pg_user_tables() {
    pg_sql "$1" "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1"
}

pg_all_table_md5() {
    local t
    pg_user_tables "$1" >"$T/pg_tables.$1"
    while IFS= read -r t; do
        echo "$t $(pg_table_md5 "$1" "$t")"
    done <"$T/pg_tables.$1"
}

pg_seq_state() {
    pg_sql "$1" "SELECT schemaname, sequencename, coalesce(last_value::text, 'not called')
        FROM pg_sequences ORDER BY 1, 2"
}

pg_lo_state() {
    pg_sql "$1" "SELECT m.oid, pg_get_userbyid(m.lomowner), md5(lo_get(m.oid)) FROM pg_largeobject_metadata m ORDER BY 1"
}

pg_schema_dump() {
    "$PG_BIN/pg_dump" --schema-only -h "$PG_DIR" -p "$PG_PORT" -U postgres -d "$1" 2>"$T/pg_dump.err" |
        grep -v -e '^--' -e '^$' -e '^\\restrict ' -e '^\\unrestrict ' | sed "s/\\b$1\\b/@DB@/g"
    [ "${PIPESTATUS[0]}" -eq 0 ] || {
        cat "$T/pg_dump.err" >&2
        fail "pg_dump --schema-only $1 failed"
    }
}

pg_capture() {
    local db=$1 dir=$2 m
    mkdir -p "$dir"
    pg_schema_dump "$db" >"$dir/schema"
    pg_all_table_md5 "$db" >"$dir/tables"
    pg_seq_state "$db" >"$dir/sequences"
    pg_lo_state "$db" >"$dir/large_objects"
    : >"$dir/matviews"
    for m in $(pg_sql "$db" "SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews ORDER BY 1"); do
        echo "$m $(pg_table_md5 "$db" "$m")" >>"$dir/matviews"
    done
    pg_sql "$db" "SELECT format('%I.%I', n.nspname, c.relname), c.relkind, pg_get_userbyid(c.relowner)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
        ORDER BY 1" >"$dir/owners"
}

pg_compare() {
    diff -r -u "$1" "$2" >"$T/pg_compare.diff" 2>&1 && return 0
    head -60 "$T/pg_compare.diff" | sed 's/^/#   /' >&2
    return 1
}
