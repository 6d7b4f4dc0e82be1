#!/usr/bin/env bash
# pg_roundtrip.sh: a shop database backed up by drkit restores with identical content (issue 5,
# "What must hold" 1), into the scratch target and back into the original cluster.
#
# Against a throwaway PostgreSQL 15 cluster (tests/lib/pg.sh) holding pg_make_shop's schema:
# FKs, indexes, identity/serial/free sequences, a view, a materialized view, functions,
# triggers, an enum, a domain over an extension type, a partitioned table, a quoted table name,
# a dropped column, a generated column, bytea, JSONB, a large object, a role with a password
# owning a table and the large object; public.sessions is in exclude-tables. Asserts:
#   - backup create --component=database exits 0, backup list shows the snapshot
#   - a second backup after changing a few rows of one small table adds less than 10% of the
#     first backup's bytes (dedup of unchanged tables), and one with no change at all (backup
#     create without arguments: every configured source) < 5%
#   - backup restore --database-only --target=test: the target database has the same
#     pg_dump --schema-only (database name normalised), the same rows in every table (md5 of
#     the ordered row texts), the same materialized view rows, sequence values, large objects
#     (content and owner) and relation owners; sessions is there but empty; the live database
#     is untouched
#   - restoring again over an existing (changed) target database replaces it
#   - --database-only into the original cluster while the database exists: exit 2, a hint
#     naming --force, nothing changed, no snapshot recorded
#   - with --force: a restore point snapshot (type restore_point, tag before-restore) of the
#     live database is taken first, and the database is back as in the backup; the restore
#     point itself restores (to the target) the state it saved
#   - --force --no-safety-snapshot takes no snapshot; a dropped database is restored without
#     --force
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq
pg_require

pg_start
pg_make_shop shop
R=$T/repo
init_repo "$R"
pg_drkit_conf "$T/drkit.conf" "$R" shop shop_test "exclude-tables = public.sessions"

nsnaps() {
    "$DRKIT" backup list --json | jq length
}

# capture DB DIR: pg_capture without the rows of public.sessions (excluded from backups)
capture() {
    pg_capture "$1" "$2"
    grep -v '^public.sessions ' "$2/tables" >"$2/tables.x" || true
    mv "$2/tables.x" "$2/tables"
}

# --- backup ------------------------------------------------------------------------------------
capture shop "$T/orig"
run_drkit 0 backup create --component=database --json
cp "$T/out" "$T/create1.json"
json_valid "$T/create1.json"
SNAP=$(jq_field "$T/create1.json" .name)
added1=$(jq_field "$T/create1.json" .stats.bytes_added)
[ "$(nsnaps)" = 1 ] || fail "backup list does not show exactly the one snapshot"
ok "backup create --component=database ($SNAP, $added1 bytes added)"

# --- dedup: a small change adds a small fraction -------------------------------------------------
pg_sql shop "UPDATE users SET roles = roles || '{changed}'::text[] WHERE id <= 5" >/dev/null
run_drkit 0 backup create --component=database --json
added2=$(jq_field "$T/out" .stats.bytes_added)
# without --component or paths: every configured source, here the database
run_drkit 0 backup create --json
added3=$(jq_field "$T/out" .stats.bytes_added)
run_drkit 0 backup show latest --json
[ "$(jq -r '[.database.databases[]?.name] | join(",")' "$T/out")" = shop ] ||
    soft_fail "backup create without arguments did not back up the configured database: $(head -c 300 "$T/out")"
echo "# bytes added: first $added1, after changing 5 rows of users $added2, unchanged $added3"
if [ "$added1" -gt 500000 ] && [ $((added2 * 10)) -lt "$added1" ]; then
    ok "a backup after changing one small table adds $added2 of $added1 bytes (< 10%)"
else
    soft_fail "a backup after changing one small table adds $added2 bytes, the first added $added1 (want < 10%)"
fi
if [ $((added3 * 20)) -lt "$added1" ]; then
    ok "a backup of an unchanged database adds $added3 bytes (< 5%)"
else
    soft_fail "a backup of an unchanged database adds $added3 bytes, the first added $added1 (want < 5%)"
fi
pg_sql shop "UPDATE users SET roles = roles[1:array_length(roles, 1) - 1] WHERE id <= 5" >/dev/null
capture shop "$T/orig-again"
pg_compare "$T/orig" "$T/orig-again" || fail "test bug: undoing the users change did not restore the state"

# --- restore into the scratch target --------------------------------------------------------------
! pg_db_exists shop_test || fail "test bug: shop_test exists before the restore"
run_drkit 0 backup restore "$SNAP" --database-only --target=test
pg_db_exists shop_test || fail "restore --database-only --target=test did not create shop_test"
capture shop_test "$T/restored"
# the excluded table's data is not in the backup: its definition must be, empty
if [ "$(pg_sql shop_test "SELECT count(*) FROM public.sessions")" = 0 ]; then
    ok "excluded table public.sessions restored empty"
else
    soft_fail "excluded table public.sessions has rows in the restore"
fi
if pg_compare "$T/orig" "$T/restored"; then
    ok "restored database identical: schema, $(wc -l <"$T/orig/tables") tables' rows, sequences, large objects, owners"
else
    soft_fail "the database restored to the target differs from the original (diff above)"
fi
[ "$(pg_sql shop_test "SELECT count(*) FROM product_sales")" = 300 ] ||
    soft_fail "materialized view product_sales not populated in the restore"
capture shop "$T/live"
pg_compare "$T/orig" "$T/live" || soft_fail "restoring to the target changed the live database"

# --- again over an existing, changed target ------------------------------------------------------
pg_sql shop_test "DELETE FROM order_items WHERE order_id < 100; CREATE TABLE junk (x int); DROP VIEW order_summary" >/dev/null
run_drkit 0 backup restore "$SNAP" --database-only --target=test
capture shop_test "$T/restored2"
if pg_compare "$T/orig" "$T/restored2"; then
    ok "restoring over an existing target database replaces it"
else
    soft_fail "restore over an existing target database left it different from the backup"
fi

# --- into the original cluster -------------------------------------------------------------------
pg_sql shop "DELETE FROM order_items WHERE order_id > 4000; UPDATE products SET price = 0 WHERE id < 10;
    CREATE TABLE added_after_backup (x int); INSERT INTO added_after_backup VALUES (42);
    REFRESH MATERIALIZED VIEW product_sales" >/dev/null
capture shop "$T/damaged"
n0=$(nsnaps)
rc=$(rc_of "$DRKIT" backup restore "$SNAP" --database-only)
if [ "$rc" = 2 ] && grep -q -- '--force' "$T/err" && grep -qw shop "$T/err"; then
    ok "restore --database-only over the existing database is refused (exit 2, hint names --force)"
else
    soft_fail "restore --database-only over the existing database: exit $rc (want 2, a hint naming shop and --force): $(head -c 400 "$T/err")"
fi
[ "$(nsnaps)" = "$n0" ] || soft_fail "a refused restore recorded a snapshot"
capture shop "$T/after-refusal"
pg_compare "$T/damaged" "$T/after-refusal" || soft_fail "a refused restore changed the database"

run_drkit 0 backup restore "$SNAP" --database-only --force
capture shop "$T/forced"
if pg_compare "$T/orig" "$T/forced"; then
    ok "restore --database-only --force brings the live database back as in the backup"
else
    soft_fail "after restore --database-only --force the live database differs from the backup"
fi
"$DRKIT" backup list --json >"$T/list.json"
RP=$(jq -r '[.[] | select(.type == "restore_point" and (.tags | index("before-restore")))] | last | .name // empty' "$T/list.json")
if [ -n "$RP" ] && [ "$(jq length "$T/list.json")" = $((n0 + 1)) ]; then
    ok "a restore point snapshot ($RP, tag before-restore) was taken before the forced restore"
    # the restore point holds the state the restore overwrote
    run_drkit 0 backup restore "$RP" --database-only --target=test
    capture shop_test "$T/rp"
    if pg_compare "$T/damaged" "$T/rp"; then
        ok "the restore point restores the overwritten state"
    else
        soft_fail "the restore point does not hold the state the forced restore overwrote"
    fi
else
    soft_fail "no single new restore_point snapshot tagged before-restore after restore --force: $(jq -c '[.[] | {name, type, tags}]' "$T/list.json")"
fi
leftover=$(pg_sql postgres "SELECT string_agg(datname, ' ') FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1', 'shop', 'shop_test')")
[ -z "$leftover" ] || soft_fail "databases left behind by the restore: $leftover"

n1=$(nsnaps)
pg_sql shop "DELETE FROM coupons" >/dev/null
run_drkit 0 backup restore "$SNAP" --database-only --force --no-safety-snapshot
[ "$(nsnaps)" = "$n1" ] || soft_fail "--no-safety-snapshot still recorded a snapshot"
[ "$(pg_table_md5 shop coupons)" = "$(grep '^public.coupons ' "$T/orig/tables" | cut -d' ' -f2)" ] ||
    soft_fail "restore --force --no-safety-snapshot did not bring coupons back"
ok "restore --force --no-safety-snapshot: no snapshot, data back"

pg_sql postgres "DROP DATABASE shop" >/dev/null
run_drkit 0 backup restore "$SNAP" --database-only
capture shop "$T/recreated"
if pg_compare "$T/orig" "$T/recreated"; then
    ok "a dropped database is restored without --force"
else
    soft_fail "the dropped database, restored, differs from the backup"
fi

finish_soft_fails
