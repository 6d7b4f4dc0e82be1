#!/bin/bash
# pg_newcluster: the disaster case — the shop's database restored into a brand-new cluster
# that has never seen its roles. The roles come back from the backup's globals (with their
# password hashes), own what they owned, and the database is identical; a role that already
# exists on the target keeps its own password.
. "$DRKIT_TESTS/lib/common.sh"
. "$DRKIT_TESTS/lib/pg.sh"
require_drkit
pg_require
need_cmd diff
set -e

# the old server
pg_start
A_DIR=$PG_DIR A_PORT=$PG_PORT
pg_make_shop shop
pg_sql postgres "CREATE ROLE auditor LOGIN PASSWORD 'audit-secret'" >/dev/null
pg_sql shop "GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor" >/dev/null
pg_capture shop "$T/before"
old_hash=$(pg_sql postgres "SELECT rolpassword FROM pg_authid WHERE rolname = 'shop_owner'")

pg_drkit_conf "$T/a.conf" "$T/repo" shop shop
run_drkit 0 --config="$T/a.conf" init
run_drkit 0 --config="$T/a.conf" backup create --component=database

# the new server: nothing but postgres, and a role of its own named like one of ours
PG_DIR= PG_PORT=
pg_start
B_DIR=$PG_DIR B_PORT=$PG_PORT
pg_sql postgres "CREATE ROLE auditor LOGIN PASSWORD 'new-server-secret'" >/dev/null
auditor_hash=$(pg_sql postgres "SELECT rolpassword FROM pg_authid WHERE rolname = 'auditor'")
{
    echo "[repository \"local\"]"
    echo "    url = $T/repo"
    echo "[target \"dr\"]"
    echo "    conninfo = $(pg_conninfo shop)"
} >"$T/b.conf"

run_drkit 0 --config="$T/b.conf" backup restore latest --database-only --target=dr --json
[ "$(jq -r '.databases[0].destination' "$T/out")" = shop ] || fail "restored into the wrong database"
jq -e '.databases[0].roles_created | index("shop_owner")' "$T/out" >/dev/null ||
    fail "shop_owner was not reported as created: $(cat "$T/out")"
jq -e '.databases[0].roles_created | index("auditor") | not' "$T/out" >/dev/null ||
    fail "auditor existed on the new server and must not be recreated"

pg_capture shop "$T/after"
pg_compare "$T/before" "$T/after" || fail "the database restored into a new cluster differs"
new_hash=$(pg_sql postgres "SELECT rolpassword FROM pg_authid WHERE rolname = 'shop_owner'")
assert_eq "$new_hash" "$old_hash" "shop_owner's password hash was not restored"
assert_eq "$(pg_sql postgres "SELECT rolpassword FROM pg_authid WHERE rolname = 'auditor'")" \
    "$auditor_hash" "an existing role's password was overwritten by the restore"
# the restored owner can log in with its old password over TCP
pg_hba_prepend "host all shop_owner 127.0.0.1/32 scram-sha-256"
PGPASSWORD=owner-secret "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$B_PORT" -U shop_owner -d shop \
    -c "SELECT count(*) FROM audit_log" >/dev/null ||
    fail "shop_owner cannot log in to the new cluster with its old password"

# the old server is untouched by all this
PG_DIR=$A_DIR PG_PORT=$A_PORT
pg_capture shop "$T/old-again"
pg_compare "$T/before" "$T/old-again" || fail "the old server changed"
echo "ok: restored into a new cluster with its roles ($B_DIR)"
