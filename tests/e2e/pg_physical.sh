#!/bin/bash
# pg_physical: physical backups (method = physical / both) — a base backup of the whole
# cluster with its WAL, restored into a new data directory on which a server starts.
#
# Asserts:
#   - a base backup taken while transfers run restores to a cluster that starts, passes
#     pg_verifybackup (every file as the server's manifest says), and is consistent (the
#     transfers' invariant holds; the shop is identical to a capture made before the load)
#   - the files belong to the cluster's OS user and the directory is 0700 (a server starts)
#   - a second backup of a barely changed cluster adds a small part of its size
#   - method = both: one snapshot restores logically into a target database and physically
#     into a directory
#   - a restore killed midway leaves no global/pg_control (no server starts on a partial
#     cluster), and the next restore removes its staging directory and completes
#   - a base backup whose replication connection is cut (max-rate slows it down) fails with
#     pg_basebackup's words and records no snapshot
#   - refused, writing nothing: a non-empty directory, --table, --force or --database on a
#     physical-only snapshot, --physical on a logical-only one; a failing pg_basebackup (replication refused
#     by pg_hba) fails the backup with its own words and records no snapshot
#   - check --read-data passes
. "$DRKIT_TESTS/lib/common.sh"
. "$DRKIT_TESTS/lib/pg.sh"
require_drkit
pg_require
[ -x "$PG_BIN/pg_basebackup" ] || skip "no $PG_BIN/pg_basebackup"
need_cmd jq
set -e

pg_start "wal_level = replica" "max_wal_senders = 4"
SRC_DIR=$PG_DIR SRC_PORT=$PG_PORT
pg_make_shop shop
pg_sql shop "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g" \
    >/dev/null
pg_capture shop "$T/shop-before"
# a second database takes writes while the backup runs
pg_sql postgres "CREATE DATABASE bank" >/dev/null
pg_sql bank "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)
    ; INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 100) g
    ; CREATE TABLE events (n int)" >/dev/null

pg_drkit_conf "$T/conf" "$T/repo" shop shop "method = physical"
run_drkit 0 --config="$T/conf" init

# --- a base backup while transfers run --------------------------------------------------------
transfers() { # until $T/stop appears
    local i=0 a b
    while [ ! -e "$T/stop" ]; do
        i=$((i + 1)) a=$((RANDOM % 100 + 1)) b=$((RANDOM % 100 + 1))
        echo "BEGIN; UPDATE accounts SET balance = balance - $i WHERE id = $a;"
        echo "UPDATE accounts SET balance = balance + $i WHERE id = $b; COMMIT;"
        echo "INSERT INTO events SELECT $i;"
    done
}
transfers | pg_psql bank >/dev/null 2>&1 &
load=$!
on_exit "touch '$T/stop'; kill $load 2>/dev/null"
until [ "$(pg_sql bank "SELECT count(*) FROM events")" -gt 100 ]; do sleep 0.1; done
run_drkit 0 --config="$T/conf" backup create --component=database --json
during=$(pg_sql bank "SELECT count(*) FROM events")
touch "$T/stop"
wait "$load" || true
snap1=$(jq -r .name "$T/out")
jq -e '.database.physical.files > 500 and .database.physical.end_lsn != null' "$T/out" >/dev/null ||
    fail "the snapshot does not describe its base backup: $(jq -c .database "$T/out")"
[ "$(jq '.database.databases | length' "$T/out")" = 0 ] || fail "method = physical made a logical dump too"
size1=$(jq .database.physical.bytes "$T/out")
ok "base backup $snap1: $(jq .database.physical.files "$T/out") files, $size1 bytes"

# --- restore into a new directory, verify, start ---------------------------------------------
pg_scratch_dir
R=$PG_SCRATCH/data
run_drkit 0 --config="$T/conf" backup restore "$snap1" --database-only --target="$R"
grep -q "pg_ctl -D $R start" "$T/out" || fail "the restore does not say how to start the cluster: $(cat "$T/out")"
assert_eq "$(stat -c %a "$R")" 700 "the data directory's mode"
[ -z "$(find "$R" -perm /7007 | head -n 3)" ] ||
    fail "restored entries with setuid/setgid/sticky or world bits: $(find "$R" -perm /7007 | head -n 3)"
[ -z "$(find "$R" ! -user "$PG_OSUSER" | head -n 3)" ] ||
    fail "files not owned by $PG_OSUSER: $(find "$R" ! -user "$PG_OSUSER" | head -n 3)"
if [ -x "$PG_BIN/pg_verifybackup" ]; then
    pg_as_owner "$PG_BIN/pg_verifybackup" --no-parse-wal "$R" >"$T/verify" 2>&1 ||
        fail "pg_verifybackup rejects the restored directory: $(cat "$T/verify")"
    ok "pg_verifybackup: every file of the restored cluster matches the server's manifest"
fi
R_PORT=$(free_port)
pg_start_on "$R" "$R_PORT" "$PG_SCRATCH"
PG_DIR=$PG_SCRATCH PG_PORT=$R_PORT
assert_eq "$(pg_sql bank "SELECT sum(balance) FROM accounts")" 0 \
    "the restored cluster is not consistent (the transfers' sum)"
assert_eq "$(pg_sql bank "SELECT pg_is_in_recovery()")" f "the restored server is still recovering"
assert_eq "$(pg_table_md5 shop bulk)" "$(PG_DIR=$SRC_DIR PG_PORT=$SRC_PORT pg_table_md5 shop bulk)" \
    "table bulk differs"
pg_capture shop "$T/shop-restored"
pg_compare "$T/shop-before" "$T/shop-restored" || fail "the shop restored physically differs"
n_log=$(pg_sql bank "SELECT count(*) FROM events")
ok "the restored cluster starts, is consistent (sum 0, $n_log events of $during when the backup ended) and the shop is identical"
pg_as_owner "$PG_BIN/pg_ctl" -D "$R" -m fast -w -s stop
PG_DIR=$SRC_DIR PG_PORT=$SRC_PORT

# --- refusals that write nothing ----------------------------------------------------------------
before=$(find "$R" | wc -l)
run_drkit 1 --config="$T/conf" backup restore "$snap1" --database-only --target="$R"
grep -q "not empty" "$T/err" || fail "a non-empty directory was not refused clearly: $(cat "$T/err")"
assert_eq "$(find "$R" | wc -l)" "$before" "the refused restore changed the directory"
run_drkit 2 --config="$T/conf" backup restore "$snap1" --table=products
grep -q "physical backup only" "$T/err" || fail "--table on a physical snapshot: $(cat "$T/err")"
run_drkit 2 --config="$T/conf" backup restore "$snap1" --database-only --force --target="$T/x"
[ ! -e "$T/x" ] || fail "a refused restore created its directory"
run_drkit 2 --config="$T/conf" backup restore "$snap1" --database-only
grep -q "data-directory" "$T/err" || fail "a physical restore without a directory: $(cat "$T/err")"
run_drkit 2 --config="$T/conf" backup restore "$snap1" --database-only --database=shop --target="$T/x"
grep -q "whole cluster" "$T/err" || fail "--database with a physical restore: $(cat "$T/err")"
[ ! -e "$T/x" ] || fail "a refused restore created its directory"
ok "non-empty directory, --table, --force, --database and no directory are refused"

# --- a restore killed midway leaves nothing a server would start on; the next one finishes ------
pg_scratch_dir
K=$PG_SCRATCH/data
killed=0 midway=0
for round in 1 2 3 4 5 6; do
    rm -rf "$K"
    DRKIT_THREADS=1 "$DRKIT" --config="$T/conf" backup restore "$snap1" --database-only \
        --target="$K" --quiet >/dev/null 2>&1 &
    pid=$!
    # once it writes files (its start takes longer on a loaded machine), at a random moment of
    # the next 0.4 s (a whole restore takes about a second here)
    for _ in $(seq 200); do
        [ -n "$(find "$K" -path '*/.drkit-restore-*/*' -type f 2>/dev/null | head -n 1)" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    ms=$((RANDOM % 400))
    sleep "0.$(printf %03d "$ms")"
    kill -9 "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" 2>/dev/null || rc=$?
    [ "$rc" -eq 0 ] && continue # it had finished
    killed=$((killed + 1))
    [ -z "$(find "$K" -path '*/.drkit-restore-*/*' -type f 2>/dev/null | head -n 1)" ] ||
        midway=$((midway + 1))
    [ ! -e "$K/global/pg_control" ] ||
        fail "round $round: a killed restore left global/pg_control beside a partial cluster"
    run_drkit 0 --config="$T/conf" backup restore "$snap1" --database-only --target="$K"
    [ -z "$(find "$K" -maxdepth 1 -name '.drkit-restore-*')" ] ||
        fail "round $round: the interrupted restore's staging directory is still there"
    pg_as_owner "$PG_BIN/pg_verifybackup" --no-parse-wal "$K" >"$T/verify" 2>&1 ||
        fail "round $round: the restore after a kill is not exact: $(cat "$T/verify")"
done
echo "# $killed of 6 restores were killed, $midway of them with files written"
[ "$midway" -ge 1 ] || fail "no kill landed while files were being written"
ok "killed restores leave no startable partial cluster; the next restore completes it"

# --- a base backup whose connection drops fails, and records nothing ----------------------------
pg_drkit_conf "$T/slow.conf" "$T/repo" shop shop "method = physical
max-rate = 1MiB"
n_before=$("$DRKIT" --config="$T/slow.conf" backup list --json | jq length)
"$DRKIT" --config="$T/slow.conf" backup create --component=database >"$T/slow.out" 2>"$T/slow.err" &
pid=$!
for _ in $(seq 1 100); do
    [ "$(pg_sql postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")" = 0 ] ||
        break
    sleep 0.1
done
sleep 0.5
pg_sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE backend_type = 'walsender'" >/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || fail "a base backup whose connection dropped exited $rc: $(cat "$T/slow.err")"
grep -q "pg_basebackup" "$T/slow.err" ||
    fail "the dropped connection is not reported in pg_basebackup's words: $(cat "$T/slow.err")"
assert_eq "$("$DRKIT" --config="$T/slow.conf" backup list --json | jq length)" "$n_before" \
    "a base backup cut short recorded a snapshot"
run_drkit 0 --config="$T/conf" backup check
ok "a dropped replication connection fails the backup: $(head -c 160 "$T/slow.err" | tr '\n' ' ')"

# --- the next backup adds little -------------------------------------------------------------------
pg_sql bank "UPDATE accounts SET balance = balance WHERE id = 1" >/dev/null
run_drkit 0 --config="$T/conf" backup create --component=database --json
added=$(jq .stats.bytes_added "$T/out")
echo "# second base backup: $(jq .database.physical.bytes "$T/out") bytes, $added added"
[ "$added" -lt $((size1 / 4)) ] || fail "an unchanged cluster's base backup added $added of $size1 bytes"
ok "a second base backup adds $added bytes (of $size1)"

# --- pg_basebackup failing fails the backup ------------------------------------------------------
pg_hba_prepend "local replication all reject" "host replication all 127.0.0.1/32 reject" \
    "host replication all ::1/128 reject"
n_before=$("$DRKIT" --config="$T/conf" backup list --json | jq length)
run_drkit 1 --config="$T/conf" backup create --component=database
grep -q "pg_basebackup" "$T/err" && grep -qi "replication" "$T/err" ||
    fail "a refused replication connection is not reported in pg_basebackup's words: $(cat "$T/err")"
assert_eq "$("$DRKIT" --config="$T/conf" backup list --json | jq length)" "$n_before" \
    "a failed base backup recorded a snapshot"
sed -i '/replication all .*reject/d' "$PG_DATA/pg_hba.conf"
pg_sql postgres "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
ok "a failing pg_basebackup fails the backup: $(head -c 200 "$T/err" | tr '\n' ' ')"

# --- method = both: one snapshot, two ways back ------------------------------------------------
pg_drkit_conf "$T/both.conf" "$T/repo" shop shop_test "method = both"
run_drkit 0 --config="$T/both.conf" backup create --component=database --json
snap3=$(jq -r .name "$T/out")
jq -e '(.database.databases | length) == 1 and .database.physical != null' "$T/out" >/dev/null ||
    fail "method = both: $(jq -c .database "$T/out")"
run_drkit 0 --config="$T/both.conf" backup restore "$snap3" --database-only --target=test
for t in bulk products orders customers; do
    assert_eq "$(pg_table_md5 shop_test "$t")" "$(pg_table_md5 shop "$t")" "the logical restore of $t"
done
run_drkit 2 --config="$T/both.conf" backup restore "$snap3" --physical --target=test
grep -q "data-directory" "$T/err" || fail "--physical into a target without a directory: $(cat "$T/err")"
pg_scratch_dir
run_drkit 0 --config="$T/both.conf" backup restore "$snap3" --physical --target="$PG_SCRATCH/data"
[ -f "$PG_SCRATCH/data/backup_label" ] || fail "--physical did not write a cluster"
pg_drkit_conf "$T/logical.conf" "$T/repo" shop shop_test
run_drkit 0 --config="$T/logical.conf" backup create --component=database --json
run_drkit 2 --config="$T/logical.conf" backup restore "$(jq -r .name "$T/out")" --physical \
    --target="$T/y"
grep -q "no physical" "$T/err" || fail "--physical on a logical snapshot: $(cat "$T/err")"
[ ! -e "$T/y" ] || fail "a refused restore created its directory"
ok "method = both restores logically into a database and physically into a directory"

run_drkit 0 --config="$T/conf" backup check --read-data
ok "check --read-data passes"
