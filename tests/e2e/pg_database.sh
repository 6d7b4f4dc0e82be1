#!/usr/bin/env bash
# pg_database.sh: drkit database test | verify | create-test against a real PostgreSQL 15
# cluster (initdb --data-checksums, started and removed by tests/lib/pg.sh).
#
# Asserts:
#   - database test: exit 0; version, database size, connections used/max, primary, data
#     checksums, WAL archiving (last archived segment) in text and in --json
#   - a streaming standby (pg_basebackup -R): the primary's report lists it (client, state, lag);
#     the standby's says standby and streaming from the primary; verify there cannot install amcheck
#   - database create-test: creates [target "test"]'s database from template0 with the source's
#     encoding and collation; a second run says it exists and keeps it; --replace drops and
#     recreates it (a table made in it is gone); --replace refuses a database the source backs up
#   - database verify: without amcheck installed it says so and how to fix it (exit 1);
#     --install-missing installs it and passes (exit 0), row counts equal the backup's manifest
#   - rows deleted / a table dropped since the backup: warnings naming them, still exit 0;
#     --max-drop raises the threshold
#   - a user without rights on amcheck's functions: exit 1 with the GRANT to give
#   - bad input: wrong password (inline and in a passfile), unreachable port, missing database
#     (conninfo and 'databases'), no [source]: clear errors naming the connection (password
#     never shown), exit 1 (2 for the config)
#   - corruption: cluster stopped, bytes in the middle of products' heap file overwritten,
#     started: database verify exits 4, names public.products, shows pg_amcheck's report
#     verbatim and the server's checksum failure count; --json says the same
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq
pg_require
[ -x "$PG_BIN/pg_amcheck" ] || skip "no $PG_BIN/pg_amcheck"
start_s=$(date +%s.%N)

# archiving on, to a command that always succeeds: database test reports it
pg_start "wal_level = replica" "archive_mode = on" "archive_command = '/bin/true'"
pg_sql postgres "CREATE DATABASE shop"
pg_psql shop <<'SQL'
CREATE TYPE order_state AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, profile jsonb);
CREATE TABLE products (id serial PRIMARY KEY, sku text UNIQUE NOT NULL, name text NOT NULL,
                       price numeric(10,2) NOT NULL, description text);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                     product_id int NOT NULL REFERENCES products(id), qty int NOT NULL,
                     state order_state NOT NULL DEFAULT 'new');
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE reviews (id serial PRIMARY KEY, product_id int REFERENCES products(id), body text);
INSERT INTO customers (email, profile)
    SELECT 'c' || g || '@example.com', jsonb_build_object('n', g) FROM generate_series(1, 300) g;
INSERT INTO products (sku, name, price, description)
    SELECT 'SKU-' || g, 'product ' || g, g % 100 + 0.99, repeat('description ', 10)
    FROM generate_series(1, 3000) g;
INSERT INTO orders (customer_id, product_id, qty)
    SELECT 1 + g % 300, 1 + g % 3000, 1 + g % 5 FROM generate_series(1, 2000) g;
INSERT INTO reviews (product_id, body) SELECT 1 + g % 3000, 'fine' FROM generate_series(1, 50) g;
SQL
pg_sql postgres "SELECT pg_switch_wal()" >/dev/null
archived() { [ "$(pg_sql postgres "SELECT archived_count FROM pg_stat_archiver")" -ge 1 ]; }
wait_until 10 archived || fail "the server archived no WAL segment"

R=$T/repo
CONF=$T/drkit.conf
pg_drkit_conf "$CONF" "$R" shop shop_test
init_repo "$R"

# --- database test ------------------------------------------------------------------------------
run_drkit 0 database test
cp "$T/out" "$T/test.txt"
assert_contains "$T/test.txt" '^server +PostgreSQL 15\.'
assert_contains "$T/test.txt" '^role +primary'
assert_contains "$T/test.txt" '^connections +[0-9]+ used of 40'
assert_contains "$T/test.txt" '^data checksums +on'
assert_contains "$T/test.txt" '^WAL archiving +on .*last 0000000100000000000000[0-9A-F]{2} at '
assert_contains "$T/test.txt" '^shop +[0-9.]+ [KM]iB +4 +'
assert_contains "$T/test.txt" '^database test: ok'
ok "database test shows version, size, connections, role, checksums, archiving"

run_drkit 0 database test --json
cp "$T/out" "$T/test.json"
json_valid "$T/test.json"
assert_eq "$(jq_field "$T/test.json" '.ok')" true "test --json .ok"
assert_eq "$(jq_field "$T/test.json" '.role')" primary "test --json .role"
assert_eq "$(jq_field "$T/test.json" '.in_recovery')" false "test --json .in_recovery"
assert_eq "$(jq_field "$T/test.json" '.data_checksums')" true "test --json .data_checksums"
assert_eq "$(jq_field "$T/test.json" '.server.version_num / 10000 | floor')" 15 "server version"
assert_eq "$(jq_field "$T/test.json" '.connections.max')" 40 "max_connections"
assert_eq "$(jq_field "$T/test.json" '.connections.used >= 1')" true "connections used"
assert_eq "$(jq_field "$T/test.json" '.databases | map(.name) | join(",")')" shop "databases"
assert_eq "$(jq_field "$T/test.json" '.databases[0].size > 100000')" true "database size"
assert_eq "$(jq_field "$T/test.json" '.databases[0].tables')" 4 "tables"
assert_eq "$(jq_field "$T/test.json" '.replication | length')" 0 "no standby"
assert_eq "$(jq_field "$T/test.json" '.archiving.mode')" on "archive mode"
assert_eq "$(jq_field "$T/test.json" '.archiving.archived_count >= 1')" true "archived count"
assert_eq "$(jq_field "$T/test.json" '.archiving.failing')" false "archiving failing"
ok "database test --json"

# --- a streaming standby: the primary lists it, the standby says it is one ----------------------
SPORT=$(free_port)
pg_as_owner "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PG_PORT" -U postgres -D "$PG_DIR/standby" \
    -R -X stream -c fast >"$T/basebackup.log" 2>&1 || {
    cat "$T/basebackup.log" >&2
    fail "pg_basebackup for the standby failed"
}
# its copy of the settings says the primary's port: the last line read wins
printf 'port = %s\narchive_mode = off\n' "$SPORT" >>"$PG_DIR/standby/postgresql.auto.conf"
on_exit "pg_as_owner '$PG_BIN/pg_ctl' -D '$PG_DIR/standby' -m immediate -w -t 30 -s stop >/dev/null 2>&1"
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -l "$PG_DIR/standby.log" -w -t 30 -s start \
    >/dev/null || fail "the standby did not start"
streaming() { [ "$(pg_sql postgres "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; }
wait_until 20 streaming || fail "the standby does not stream"
run_drkit 0 database test
assert_contains "$T/out" '^replication +1 standby\(s\) connected'
assert_contains "$T/out" '^walreceiver +local +streaming +async +[0-9A-F]+/[0-9A-F]+ '
run_drkit 0 database test --json
assert_eq "$(jq -r '.replication | map(.client + "," + .state) | join(";")' "$T/out")" \
    "walreceiver,streaming" "primary's --json .replication"
assert_eq "$(jq -r '.replication[0].lag_bytes | type' "$T/out")" number "replication lag_bytes"
sed "s/port=$PG_PORT /port=$SPORT /" "$CONF" >"$T/standby.conf"
run_drkit 0 --config "$T/standby.conf" database test
assert_contains "$T/out" '^role +standby \(in recovery\); WAL receiver: streaming'
run_drkit 0 --config "$T/standby.conf" database test --json
assert_eq "$(jq -r '[.role, .in_recovery, .receiver.status, .receiver.sender_port] | map(tostring) | join(",")' "$T/out")" \
    "standby,true,streaming,$PG_PORT" "standby's --json role/receiver"
run_drkit 1 --config "$T/standby.conf" database verify --no-compare --install-missing
assert_contains "$T/err" 'standby, where nothing can be installed'
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -m fast -w -t 30 -s stop >/dev/null
ok "database test with a standby: listed on the primary, role and upstream on the standby"

# --- database create-test -----------------------------------------------------------------------
run_drkit 0 database create-test
assert_contains "$T/out" "^created database 'shop_test' .*encoding UTF8, collation C, ctype C"
pg_db_exists shop_test || fail "create-test did not create shop_test"
assert_eq "$(pg_sql postgres "SELECT pg_encoding_to_char(encoding) || '/' || datcollate FROM pg_database WHERE datname = 'shop_test'")" \
    "UTF8/C" "shop_test encoding/collation"
pg_sql shop_test "CREATE TABLE marker (x int)"
run_drkit 0 database create-test
assert_contains "$T/out" "^database 'shop_test' already exists"
assert_eq "$(pg_sql shop_test "SELECT count(*) FROM pg_class WHERE relname = 'marker'")" 1 \
    "create-test without --replace must leave the database alone"
run_drkit 0 database create-test --json
json_valid "$T/out"
assert_eq "$(jq -r '[.existed, .created, .replaced] | map(tostring) | join(",")' "$T/out")" \
    "true,false,false" "create-test --json on an existing database"
# a session in it does not stop --replace
pg_psql shop_test -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
sleeper=$!
track_pid "$sleeper"
in_test_db() { [ "$(pg_sql postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = 'shop_test'")" -ge 1 ]; }
wait_until 10 in_test_db || fail "the session in shop_test did not start"
run_drkit 0 database create-test --replace --json
json_valid "$T/out"
assert_eq "$(jq -r '[.existed, .created, .replaced, .from, .encoding] | map(tostring) | join(",")' "$T/out")" \
    "true,true,true,shop,UTF8" "create-test --replace --json"
assert_eq "$(pg_sql shop_test "SELECT count(*) FROM pg_class WHERE relname = 'marker'")" 0 \
    "create-test --replace must give an empty database"
wait "$sleeper" 2>/dev/null || true
# [target "test"] pointing at the source's own database: never dropped
pg_drkit_conf "$T/self.conf" "$R" shop shop
run_drkit 2 --config "$T/self.conf" database create-test --replace
assert_contains "$T/err" "refusing to replace database 'shop'"
pg_db_exists shop || fail "create-test --replace dropped the source database"
run_drkit 0 --config "$T/self.conf" database create-test
assert_contains "$T/out" "already exists"
ok "database create-test: creates, keeps, replaces, refuses the source database"

# --- a backup, then verify ----------------------------------------------------------------------
run_drkit 0 backup create --component=database --json
BACKUP=$(jq_field "$T/out" .name)

run_drkit 1 database verify
assert_contains "$T/err" "amcheck extension is not installed in database 'shop'"
assert_contains "$T/err" "CREATE EXTENSION amcheck"
assert_contains "$T/err" "--install-missing"
ok "database verify without amcheck: says so and how to fix it (exit 1)"

run_drkit 0 database verify --install-missing
cp "$T/out" "$T/verify1.txt"
assert_contains "$T/verify1.txt" "row counts compared with backup $BACKUP"
assert_contains "$T/verify1.txt" '^  pg_amcheck +ok'
assert_contains "$T/verify1.txt" '^  data checksums +on, no failures'
assert_contains "$T/verify1.txt" '^  public\.products +3,000 +3,000 +0 +ok'
assert_contains "$T/verify1.txt" '^database verify: ok'
assert_not_contains "$T/err" 'warning'
[ "$(pg_sql shop "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'")" = 1 ] ||
    fail "--install-missing did not install amcheck"

run_drkit 0 database verify --json --heapallindexed
cp "$T/out" "$T/verify1.json"
json_valid "$T/verify1.json"
assert_eq "$(jq_field "$T/verify1.json" '[.ok, .corrupt, .complete] | map(tostring) | join(",")')" \
    "true,false,true" "verify --json ok/corrupt/complete"
assert_eq "$(jq_field "$T/verify1.json" '.snapshot.name')" "$BACKUP" "verify --json snapshot"
assert_eq "$(jq_field "$T/verify1.json" '.databases[0].amcheck.state')" ok "amcheck state"
assert_eq "$(jq_field "$T/verify1.json" '.databases[0].amcheck.exit_status')" 0 "amcheck exit"
assert_eq "$(jq_field "$T/verify1.json" '.databases[0].checksum_failures')" 0 "checksum failures"
assert_eq "$(jq_field "$T/verify1.json" '[.databases[0].tables[] | select(.status == "ok" and .rows_now == .rows_backup)] | length')" \
    4 "all 4 tables counted and equal"
ok "database verify passes after --install-missing; counts equal the manifest of $BACKUP"

# --- rows deleted and a table dropped since the backup: warnings -------------------------------
pg_sql shop "DELETE FROM orders WHERE id > 500; DROP TABLE reviews; CREATE TABLE wishlist (id int)"
run_drkit 0 database verify
cp "$T/out" "$T/verify2.txt"
assert_contains "$T/err" 'warning: shop: table public\.orders has 500 rows, 2000 in backup .*75\.0% fewer'
assert_contains "$T/err" 'warning: shop: table public\.reviews is missing now \(50 rows in backup'
assert_contains "$T/verify2.txt" '^  public\.orders +2,000 +500 +-75\.0% +dropped'
assert_contains "$T/verify2.txt" '^  public\.reviews +50 +- +missing'
assert_contains "$T/verify2.txt" '^  public\.wishlist +- +0 +new'
run_drkit 0 database verify --json
json_valid "$T/out"
assert_eq "$(jq -r '.databases[0].tables | map(.name + "=" + .status) | sort | join(",")' "$T/out")" \
    "customers=ok,orders=dropped,products=ok,reviews=missing,wishlist=new" "verify --json statuses"
assert_eq "$(jq -r '.warnings | length' "$T/out")" 2 "two warnings"
run_drkit 0 database verify --max-drop=80
assert_not_contains "$T/err" 'orders'
assert_contains "$T/err" 'reviews is missing now'
run_drkit 0 database verify --no-compare
assert_not_contains "$T/out" 'TABLE'
ok "database verify warns about dropped rows and missing tables (exit 0); --max-drop, --no-compare"

# --- a user that may not run amcheck's functions -------------------------------------------------
pg_sql postgres "CREATE ROLE shopuser LOGIN PASSWORD 'right-pass'"
pg_hba_prepend "host all shopuser 127.0.0.1/32 scram-sha-256"
printf '127.0.0.1:%s:*:shopuser:right-pass\n' "$PG_PORT" >"$T/pgpass.good"
printf '127.0.0.1:%s:*:shopuser:wrong-pass\n' "$PG_PORT" >"$T/pgpass.bad"
chmod 600 "$T/pgpass.good" "$T/pgpass.bad"
src_conf() { # FILE CONNINFO [EXTRA LINE]
    {
        echo "[repository \"local\"]"
        echo "    url = $R"
        echo "[source \"database\"]"
        echo "    type = postgresql"
        echo "    conninfo = $2"
        [ -z "${3:-}" ] || echo "    $3"
    } >"$1"
}
src_conf "$T/user.conf" "host=127.0.0.1 port=$PG_PORT dbname=shop user=shopuser" \
    "passfile = $T/pgpass.good"
run_drkit 0 --config "$T/user.conf" database test
run_drkit 1 --config "$T/user.conf" database verify --no-compare
assert_contains "$T/err" 'may not run amcheck'
assert_contains "$T/err" 'GRANT EXECUTE'
ok "a user without rights on amcheck: exit 1 with the GRANT to give"

# --- bad input ----------------------------------------------------------------------------------
src_conf "$T/bad.conf" "host=127.0.0.1 port=$PG_PORT dbname=shop user=shopuser password=wrong-pass"
run_drkit 1 --config "$T/bad.conf" database test
assert_contains "$T/err" 'password authentication failed for user "shopuser"'
assert_contains "$T/err" "\\[source \"database\"\\] conninfo '.*host=127\\.0\\.0\\.1 port=$PG_PORT"
assert_not_contains "$T/err" 'wrong-pass'
run_drkit 1 --config "$T/bad.conf" database verify
assert_contains "$T/err" 'password authentication failed'
run_drkit 1 --config "$T/bad.conf" database test --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" '.ok')" false "test --json .ok on a failed connection"
assert_not_contains "$T/out" 'wrong-pass'
src_conf "$T/bad.conf" "host=127.0.0.1 port=$PG_PORT dbname=shop user=shopuser" \
    "passfile = $T/pgpass.bad"
run_drkit 1 --config "$T/bad.conf" database test
assert_contains "$T/err" 'password authentication failed for user "shopuser"'
assert_contains "$T/err" 'hint: check the password'
ok "wrong password (inline, passfile): exit 1, the server's message, the password not shown"

DEAD=$(free_port)
src_conf "$T/bad.conf" "host=127.0.0.1 port=$DEAD dbname=shop user=postgres"
run_drkit 1 --config "$T/bad.conf" database test
assert_contains "$T/err" "port=$DEAD.*Connection refused"
assert_contains "$T/err" 'hint: is the server running'
run_drkit 1 --config "$T/bad.conf" database verify --no-compare
assert_contains "$T/err" 'Connection refused'
{
    echo "[target \"test\"]"
    echo "    conninfo = host=127.0.0.1 port=$DEAD dbname=shop_test user=postgres"
} >>"$T/bad.conf"
run_drkit 1 --config "$T/bad.conf" database create-test
assert_contains "$T/err" "\\[source \"database\"\\] conninfo .*port=$DEAD.*Connection refused"
assert_contains "$T/err" 'give --encoding and --locale'
run_drkit 1 --config "$T/bad.conf" database create-test --encoding=UTF8 --locale=C
assert_contains "$T/err" "\\[target \"test\"\\] conninfo .*port=$DEAD.*Connection refused"
ok "unreachable server: exit 1, Connection refused, the port named"

src_conf "$T/bad.conf" "$(pg_conninfo nosuchdb)"
run_drkit 1 --config "$T/bad.conf" database test
assert_contains "$T/err" 'database "nosuchdb" does not exist'
src_conf "$T/bad.conf" "$(pg_conninfo shop)" "databases = shop nosuchdb"
run_drkit 1 --config "$T/bad.conf" database test
assert_contains "$T/out" '^nosuchdb .*ERROR'
assert_contains "$T/out" '^shop .*ok'
assert_contains "$T/err" '1 of 2 database\(s\).*database "nosuchdb" does not exist'
run_drkit 1 --config "$T/bad.conf" database verify --no-compare
assert_contains "$T/err" "database 'nosuchdb' not checked"
ok "missing database (conninfo, databases): exit 1 naming it"

: >"$T/empty.conf"
run_drkit 2 --config "$T/empty.conf" database test
assert_contains "$T/err" 'no \[source\] with type = postgresql'
run_drkit 2 --config "$T/empty.conf" database create-test
assert_contains "$T/err" 'no \[target "test"\]'
run_drkit 2 database verify --bogus
run_drkit 2 database frobnicate
run_drkit 0 database verify --help
assert_contains "$T/out" '^usage: drkit database verify'
ok "no [source] / [target]: exit 2; usage errors exit 2; --help"

# --- corruption: bytes overwritten in the middle of products' heap file -------------------------
REL=$(pg_sql shop "SELECT pg_relation_filepath('products')")
SIZE=$(pg_sql shop "SELECT pg_relation_size('products')")
[ "$SIZE" -ge 65536 ] || fail "products is too small to damage its middle ($SIZE bytes)"
pg_ctl_cmd -m fast -w -t 30 -s stop
# inside a page, away from its header: 200 bytes at 4000 into the middle page
off=$(((SIZE / 2 / 8192) * 8192 + 4000))
head -c 200 /dev/urandom | dd of="$PG_DATA/$REL" bs=1 seek="$off" conv=notrunc status=none
pg_ctl_cmd -l "$PG_LOG" -w -t 30 -s start >/dev/null
run_drkit 4 database verify
cp "$T/out" "$T/verify3.txt"
cp "$T/err" "$T/verify3.err"
assert_contains "$T/verify3.err" "corruption found: database 'shop':.*table public\\.products"
assert_contains "$T/verify3.err" 'data checksum failure'
assert_contains "$T/verify3.txt" '^heap table "shop\.public\.products"'
assert_contains "$T/verify3.txt" 'invalid page in block [0-9]+ of relation'
assert_contains "$T/verify3.txt" '^  pg_amcheck +CORRUPTION'
assert_contains "$T/verify3.txt" '^  public\.products +3,000 +- +corrupt'
run_drkit 4 database verify --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" '[.ok, .corrupt] | map(tostring) | join(",")')" "false,true" \
    "verify --json on a damaged table"
assert_eq "$(jq_field "$T/out" '.databases[0].amcheck.state')" corrupt "amcheck state"
assert_eq "$(jq_field "$T/out" '.databases[0].amcheck.exit_status')" 2 "pg_amcheck exit status"
assert_eq "$(jq_field "$T/out" '.databases[0].amcheck.findings | map(.table) | unique | join(",")')" \
    public.products "findings name the table"
assert_eq "$(jq_field "$T/out" '.databases[0].checksum_failures >= 1')" true "checksum failures"
run_drkit 4 database verify --quiet --no-compare
assert_contains "$T/err" 'heap table "shop\.public\.products"'
assert_not_contains "$T/out" '.'
ok "damaged heap page: database verify exits 4 and names public.products"

end_s=$(date +%s.%N)
echo "# pg_database.sh: $(awk -v a="$start_s" -v b="$end_s" 'BEGIN { printf "%.1f", b - a }') s"
