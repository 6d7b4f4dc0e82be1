#!/usr/bin/env bash
# pg_table_restore.sh: backup restore --table=T reconciles one table by primary key and leaves
# every other table alone (issue 5, "What must hold" 3: the guide's "deleted products" case).
#
# pg_make_shop's products (300 rows; order_items and "Cart Items" reference 1..100) is backed
# up, then: 10 unreferenced products are deleted (150..159), product 120 is updated (its BEFORE
# UPDATE trigger stamps updated_at), products 301..303 are inserted, and a new order 5001 (with
# items for products 301 and 5) is placed. The expected reconciliation is 10 inserted,
# 1 updated, 2 deleted (302, 303), 1 kept (301: referenced by the new order), 289 unchanged.
# Asserts:
#   - --dry-run prints "public.products: 10 inserted, 1 updated, 2 deleted, 1 kept
#     (referenced...), 289 unchanged" and changes nothing (rows, snapshots)
#   - --dry-run --no-delete --json: dry_run true, nothing deleted
#   - --target=test (a copy of the changed database): that copy's products are reconciled, the
#     live database is untouched
#   - the real restore (--json): the counts above; products is exactly the backup's rows plus
#     the kept product 301 (unchanged); updated_at of product 120 is the backup's (user
#     triggers were off); orders and order_items (with the new order) are untouched; every
#     foreign key into products is still there and validated, products' triggers are enabled,
#     its indexes valid; a restore point snapshot (type restore_point, tag before-restore) was
#     taken first and is named by safety_snapshot
#   - a dropped table (coupons: serial, default, check, expression index, FK, trigger) comes back
#     with --table=public.coupons --no-safety-snapshot: same definition (pg_dump -t), same rows,
#     same sequence value, and no snapshot is taken; reporting.daily_sales (5 rows deleted),
#     named in the same run, is reconciled too
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
pg_drkit_conf "$T/drkit.conf" "$R" shop shop_test

nsnaps() {
    "$DRKIT" backup list --json | jq length
}
# fk_state DB: every foreign key pointing at products, and whether it is validated
fk_state() {
    pg_sql "$1" "SELECT conname, conrelid::regclass, convalidated, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND confrelid = 'public.products'::regclass ORDER BY 1"
}
coupons_def() {
    "$PG_BIN/pg_dump" --schema-only -t public.coupons -h "$PG_DIR" -p "$PG_PORT" -U postgres shop |
        grep -v -e '^--' -e '^$' -e '^\\restrict ' -e '^\\unrestrict '
}
# want_counts FILE WHAT: the JSON in FILE reports public.products with the expected counts
want_counts() {
    local got
    got=$(jq -c '[.tables[] | select(.schema == "public" and .name == "products") |
        [.inserted, .updated, .deleted, .kept, .unchanged]] | first' "$1" 2>/dev/null || echo invalid)
    if [ "$got" = "[10,1,2,1,289]" ]; then
        ok "$2: 10 inserted, 1 updated, 2 deleted, 1 kept, 289 unchanged"
    else
        soft_fail "$2: counts [inserted,updated,deleted,kept,unchanged] are $got, want [10,1,2,1,289]: $(head -c 600 "$1")"
    fi
}

# --- backup, then the day's damage ----------------------------------------------------------------
md5_products=$(pg_table_md5 shop products)
fk0=$(fk_state shop)
def0=$(coupons_def)
md5_coupons=$(pg_table_md5 shop coupons)
md5_sales=$(pg_table_md5 shop reporting.daily_sales)
seq_coupons=$(pg_sql shop "SELECT last_value || ' ' || is_called FROM coupons_id_seq")
upd120=$(pg_sql shop "SELECT updated_at FROM products WHERE id = 120")
run_drkit 0 backup create --component=database --json
SNAP=$(jq_field "$T/out" .name)
ok "backup $SNAP"

pg_psql shop >"$T/damage.out" 2>&1 <<'SQL' || { cat "$T/damage.out" >&2; fail "changing the shop failed"; }
DELETE FROM products WHERE id BETWEEN 150 AND 159;
UPDATE products SET price = 999.99, name = 'Changed by mistake' WHERE id = 120;
INSERT INTO products (id, sku, name, price) VALUES (301, 'SKU-NEW1', 'New product', 5), (302, 'SKU-NEW2', 'Another', 6), (303, 'SKU-NEW3', 'Third', 7);
INSERT INTO orders (id, customer_id, status, placed_at, note) VALUES (5001, 1, 'paid', now(), 'placed after the backup');
INSERT INTO order_items VALUES (5001, 301, 2, 5.00), (5001, 5, 1, 15.85);
SQL
[ "$(pg_sql shop "SELECT updated_at <> '$upd120' FROM products WHERE id = 120")" = t ] ||
    fail "test bug: the products trigger did not stamp updated_at"
md5_changed=$(pg_table_md5 shop products)
md5_orders=$(pg_table_md5 shop orders)
md5_items=$(pg_table_md5 shop order_items)
row301=$(pg_table_md5 shop "(SELECT * FROM products WHERE id = 301)")
pg_sql postgres "CREATE DATABASE shop_test TEMPLATE shop" >/dev/null
n0=$(nsnaps)

# --- dry run ------------------------------------------------------------------------------------------
run_drkit 0 backup restore "$SNAP" --table=products --dry-run
cp "$T/out" "$T/dry.out"
if grep -Eq '^public\.products: 10 inserted, 1 updated, 2 deleted, 1 kept \(referenced[^)]*\), 289 unchanged$' "$T/dry.out"; then
    ok "--dry-run reports the reconciliation"
else
    soft_fail "--dry-run output lacks 'public.products: 10 inserted, 1 updated, 2 deleted, 1 kept (referenced), 289 unchanged': $(cat "$T/dry.out")"
fi
[ "$(pg_table_md5 shop products)" = "$md5_changed" ] || soft_fail "--dry-run changed products"
[ "$(nsnaps)" = "$n0" ] || soft_fail "--dry-run recorded a snapshot"

run_drkit 0 backup restore "$SNAP" --table=products --dry-run --no-delete --json
cp "$T/out" "$T/dry-nodelete.json"
json_valid "$T/dry-nodelete.json"
got=$(jq -c '[.dry_run, (.tables[0] | .inserted, .updated, .deleted)]' "$T/dry-nodelete.json")
if [ "$got" = "[true,10,1,0]" ]; then
    ok "--dry-run --no-delete --json: dry_run true, 10 inserted, 1 updated, 0 deleted"
else
    soft_fail "--dry-run --no-delete --json: [dry_run,inserted,updated,deleted] = $got, want [true,10,1,0]"
fi
[ "$(pg_table_md5 shop products)" = "$md5_changed" ] || soft_fail "--dry-run --no-delete changed products"

# --- into the scratch target --------------------------------------------------------------------------
run_drkit 0 backup restore "$SNAP" --table=products --target=test --json
cp "$T/out" "$T/target.json"
json_valid "$T/target.json"
want_counts "$T/target.json" "--table=products --target=test"
if [ "$(pg_table_md5 shop_test "(SELECT * FROM products WHERE id <> 301)")" = "$md5_products" ]; then
    ok "--target=test: the target's products are the backup's (plus the kept row)"
else
    soft_fail "--target=test: the target's products differ from the backup"
fi
[ "$(pg_table_md5 shop products)" = "$md5_changed" ] || soft_fail "--target=test changed the live products"

# --- into the live database ---------------------------------------------------------------------------
run_drkit 0 backup restore "$SNAP" --table=products --json
cp "$T/out" "$T/live.json"
json_valid "$T/live.json"
want_counts "$T/live.json" "--table=products"
[ "$(jq -r .dry_run "$T/live.json")" = false ] || soft_fail "restore --json: dry_run is not false"
[ "$(jq -r .database "$T/live.json")" = shop ] || soft_fail "restore --json: database is not shop"

if [ "$(pg_table_md5 shop "(SELECT * FROM products WHERE id <> 301)")" = "$md5_products" ]; then
    ok "products is back exactly as in the backup (rows, generated column, updated_at)"
else
    soft_fail "products differs from the backup after --table=products"
    pg_sql shop "SELECT id, name, price, updated_at FROM products WHERE id IN (120, 150, 159, 302) ORDER BY id" | sed 's/^/#   /' >&2
fi
[ "$(pg_sql shop "SELECT updated_at FROM products WHERE id = 120")" = "$upd120" ] ||
    soft_fail "product 120's updated_at is not the backup's: user triggers fired during the restore"
if [ "$(pg_table_md5 shop "(SELECT * FROM products WHERE id = 301)")" = "$row301" ]; then
    ok "product 301 (not in the backup, referenced by a newer order) is kept unchanged"
else
    soft_fail "product 301, referenced by an order placed after the backup, was not kept as it was"
fi
[ "$(pg_sql shop "SELECT count(*) FROM products WHERE id IN (302, 303)")" = 0 ] ||
    soft_fail "products 302 and 303 (not in the backup, unreferenced) were not deleted"
if [ "$(pg_table_md5 shop orders)" = "$md5_orders" ] && [ "$(pg_table_md5 shop order_items)" = "$md5_items" ]; then
    ok "orders and order_items (with the order placed after the backup) are untouched"
else
    soft_fail "orders or order_items changed during --table=products"
fi
if [ "$(fk_state shop)" = "$fk0" ]; then
    ok "every foreign key into products is still there and validated"
else
    soft_fail "foreign keys into products changed: before '$fk0', after '$(fk_state shop)'"
fi
trg=$(pg_sql shop "SELECT tgname || '=' || tgenabled::text FROM pg_trigger WHERE tgrelid = 'public.products'::regclass AND NOT tgisinternal")
[ "$trg" = "products_touch=O" ] || soft_fail "products' trigger state after the restore: '$trg' (want products_touch=O)"
bad_idx=$(pg_sql shop "SELECT count(*) FROM pg_index WHERE indrelid = 'public.products'::regclass AND NOT (indisvalid AND indisready)")
nidx=$(pg_sql shop "SELECT count(*) FROM pg_index WHERE indrelid = 'public.products'::regclass")
[ "$bad_idx" = 0 ] && [ "$nidx" = 4 ] || soft_fail "products has $nidx indexes ($bad_idx invalid), want 4 valid"
RP=$(jq -r '.safety_snapshot // empty' "$T/live.json")
"$DRKIT" backup list --json >"$T/list.json"
if [ -n "$RP" ] && [ "$(jq -r --arg n "$RP" '.[] | select(.name == $n) | [.type, (.tags | index("before-restore") != null)] | @tsv' "$T/list.json")" = "$(printf 'restore_point\ttrue')" ]; then
    ok "a restore point ($RP, type restore_point, tag before-restore) was taken first"
else
    soft_fail "no restore point named by safety_snapshot ('$RP') in backup list: $(jq -c '[.[] | {name, type, tags}]' "$T/list.json")"
fi

# --- a dropped table comes back ---------------------------------------------------------------------
pg_sql shop "DROP TABLE coupons; DELETE FROM reporting.daily_sales WHERE day < '2024-01-06'" >/dev/null
n1=$(nsnaps)
run_drkit 0 backup restore "$SNAP" --table=public.coupons --table=reporting.daily_sales --no-safety-snapshot
cp "$T/out" "$T/coupons.out"
if [ "$(pg_sql shop "SELECT to_regclass('public.coupons') IS NOT NULL")" = t ]; then
    def1=$(coupons_def)
    if [ "$def1" = "$def0" ]; then
        ok "dropped table coupons is recreated with its definition (sequence, default, check, index, FK, trigger)"
    else
        soft_fail "coupons' definition differs after --table=public.coupons"
        diff <(echo "$def0") <(echo "$def1") | head -30 | sed 's/^/#   /' >&2
    fi
    [ "$(pg_table_md5 shop coupons)" = "$md5_coupons" ] || soft_fail "coupons' rows differ from the backup"
    seq1=$(pg_sql shop "SELECT last_value || ' ' || is_called FROM coupons_id_seq" 2>/dev/null || echo missing)
    [ "$seq1" = "$seq_coupons" ] || soft_fail "coupons_id_seq is '$seq1', the backup had '$seq_coupons'"
else
    soft_fail "--table=public.coupons did not recreate the dropped table"
fi
grep -Eq '^public\.coupons: (created, )?60 inserted' "$T/coupons.out" ||
    soft_fail "--table=public.coupons output lacks 'public.coupons: [created, ]60 inserted': $(cat "$T/coupons.out")"
if grep -Eq '^reporting\.daily_sales: 5 inserted, 0 updated, 0 deleted, 0 kept[^,]*, 195 unchanged$' "$T/coupons.out" &&
    [ "$(pg_table_md5 shop reporting.daily_sales)" = "$md5_sales" ]; then
    ok "reporting.daily_sales (another schema, restored in the same run) is back: 5 inserted"
else
    soft_fail "reporting.daily_sales not restored as expected (5 inserted, 195 unchanged): $(cat "$T/coupons.out")"
fi
[ "$(nsnaps)" = "$n1" ] || soft_fail "--no-safety-snapshot still recorded a snapshot"

finish_soft_fails
