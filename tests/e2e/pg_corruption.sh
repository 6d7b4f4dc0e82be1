#!/usr/bin/env bash
# pg_corruption.sh: a database restore from a damaged repository refuses (exit 4) and writes
# nothing into the target (issue 5, "What must hold" 4, the repository half).
#
# pg_make_shop's database plus a 4 MiB incompressible table (media), backed up into a
# repository with 1 MiB packs, so the table's data spans packs that hold nothing else.
# backup test latest exiting 4 is the control that the damage is real. Asserts:
#   - one byte flipped in the middle of a pack holding the media table's data (read late in a
#     restore; backup test names only media's file): restore --database-only --target=test exits 4, names the damage on stderr,
#     does not create shop_test, leaves no other database behind
#   - the same with shop_test already there (holding a marker table): exit 4, shop_test as it was
#   - restore --table=media (live database, one media row deleted since): exit 4, media as it was
#   - 64 bytes overwritten at the start, middle and end of every pack: restore
#     --database-only --target=test exits 4, shop_test as it was
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
pg_sql shop "CREATE TABLE media (id int PRIMARY KEY, data bytea NOT NULL);
    INSERT INTO media SELECT g, (SELECT decode(string_agg(md5(g || ':' || k), ''), 'hex') FROM generate_series(1, 2048) k)
    FROM generate_series(1, 128) g" >/dev/null
R=$T/repo
init_repo "$R" --pack-size=1MiB --compression=off
pg_drkit_conf "$T/drkit.conf" "$R" shop shop_test
run_drkit 0 backup create --component=database --json
SNAP=$(jq_field "$T/out" .name)
npacks=$(file_count "$R/data")
[ "$npacks" -ge 4 ] || fail "test bug: only $npacks pack(s) in $R/data, want the media table over several"
ok "backup $SNAP ($npacks packs)"
run_drkit 0 backup test latest

extra_dbs() {
    pg_sql postgres "SELECT coalesce(string_agg(datname, ' '), '') FROM pg_database
        WHERE datname NOT IN ('postgres', 'template0', 'template1', 'shop', 'shop_test')"
}
# refused WHAT ARGS...: backup restore ARGS exits 4 and says why
refused() {
    local what=$1 rc
    shift
    rc=$(rc_of timeout 120 "$DRKIT" backup restore "$@")
    if [ "$rc" = 4 ] && [ -s "$T/err" ]; then
        ok "$what: exit 4: $(head -n 2 "$T/err" | tr '\n' ' ' | head -c 200)"
    else
        soft_fail "$what: exit $rc, want 4 with a message: $(head -c 400 "$T/err")"
    fi
}

# --- one flipped byte in a pack of the media table ----------------------------------------------
cp -a "$R/data" "$T/data.good"
# flip a byte in the middle of a pack until backup test names the media table's file (and only
# it) as damaged: the largest packs hold its data
run_drkit 0 backup show latest --json
MEDIA_FILE=$(jq -r '.database.databases[0].tables[] | select(.name == "media") | .file' "$T/out")
[ -n "$MEDIA_FILE" ] || fail "test bug: backup show --json names no file for table media"
big=
while read -r _ p; do
    cp -p "$p" "$T/pack.orig"
    chmod u+w "$p"
    corrupt_byte "$p" $(($(stat -c %s "$p") / 2))
    rc=$(rc_of "$DRKIT" backup test latest)
    if [ "$rc" = 4 ] && grep -q "^affected files (1)" "$T/out" "$T/err" &&
        grep -q "/tables/$MEDIA_FILE\$" "$T/out" "$T/err"; then
        big=$p
        break
    fi
    cp -p "$T/pack.orig" "$p"
done < <(find "$R/data" -type f -printf '%s %p\n' | sort -rn)
[ -n "$big" ] || fail "test bug: no pack whose middle byte damages only table media's data"
rc=$(rc_of "$DRKIT" backup check --read-data)
[ "$rc" = 4 ] || fail "test bug: backup check --read-data does not see the flipped byte in $big (exit $rc)"

! pg_db_exists shop_test || fail "test bug: shop_test exists"
refused "restore --database-only --target=test, one damaged pack" "$SNAP" --database-only --target=test
! pg_db_exists shop_test || soft_fail "the refused restore created shop_test"
[ -z "$(extra_dbs)" ] || soft_fail "the refused restore left databases behind: $(extra_dbs)"

pg_sql postgres "CREATE DATABASE shop_test" >/dev/null
pg_sql shop_test "CREATE TABLE marker (note text); INSERT INTO marker VALUES ('before the restore')" >/dev/null
pg_capture shop_test "$T/target-before"
refused "restore --database-only --target=test over an existing target, one damaged pack" "$SNAP" --database-only --target=test
pg_capture shop_test "$T/target-after"
pg_compare "$T/target-before" "$T/target-after" || soft_fail "the refused restore changed shop_test"
[ -z "$(extra_dbs)" ] || soft_fail "the refused restore left databases behind: $(extra_dbs)"

pg_sql shop "DELETE FROM media WHERE id = 7" >/dev/null
md5m=$(pg_table_md5 shop media)
refused "restore --table=media, one damaged pack" "$SNAP" --table=media --no-safety-snapshot
[ "$(pg_table_md5 shop media)" = "$md5m" ] || soft_fail "the refused --table=media restore changed media"

# --- every pack damaged ----------------------------------------------------------------------------------
rm -rf "$R/data"
cp -a "$T/data.good" "$R/data"
while IFS= read -r -d '' p; do
    chmod u+w "$p"
    size=$(stat -c %s "$p")
    for off in 0 $((size / 2)) $((size - 64)); do
        head -c 64 /dev/urandom | dd of="$p" bs=1 seek="$off" conv=notrunc status=none
    done
done < <(find "$R/data" -type f -print0)
refused "restore --database-only --target=test, every pack damaged" "$SNAP" --database-only --target=test
pg_capture shop_test "$T/target-after2"
pg_compare "$T/target-before" "$T/target-after2" || soft_fail "the refused restore changed shop_test"
[ -z "$(extra_dbs)" ] || soft_fail "the refused restore left databases behind: $(extra_dbs)"

finish_soft_fails
