#!/usr/bin/env bash
# pg_consistency.sh: a database backup taken while pgbench writes is one instant of the
# database (issue 5, "What must hold" 2).
#
# pgbench -i -s 5 (500,000 accounts), then pgbench -c 4 runs during drkit backup create
# --component=database (it is still running when the backup ends: checked). Asserts:
#   - the backup exits 0, pgbench committed transactions while it ran
#   - restore --database-only --target=test exits 0, and in the restored database
#     sum(abalance) of pgbench_accounts = sum(tbalance) of pgbench_tellers
#     = sum(bbalance) of pgbench_branches = sum(delta) of pgbench_history, with every row of
#     the accounts, tellers and branches there, and the history as of a moment inside the
#     backup (between the counts seen before and after it)
#   - a sequence written concurrently (events.id) is restored past every restored id
#   - the live database satisfies the same invariants once pgbench stops (the control)
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq
pg_require
[ -x "$PG_BIN/pgbench" ] || skip "no $PG_BIN/pgbench"

SCALE=5
pg_start
pg_sql postgres "CREATE DATABASE shop" >/dev/null
"$PG_BIN/pgbench" -h "$PG_DIR" -p "$PG_PORT" -U postgres -i -s "$SCALE" -q shop >"$T/init.log" 2>&1 || {
    cat "$T/init.log" >&2
    fail "pgbench -i failed"
}
# a second workload: rows with ids from a sequence (sequences are not transactional: the
# restored sequence must still be past every restored id)
pg_sql shop "CREATE TABLE events (id bigserial PRIMARY KEY, aid int NOT NULL, at timestamptz NOT NULL DEFAULT now())" >/dev/null
printf '%s\n' '\set aid random(1, 100000 * :scale)' 'INSERT INTO events (aid) VALUES (:aid);' >"$T/events.sql"
R=$T/repo
init_repo "$R"
pg_drkit_conf "$T/drkit.conf" "$R" shop shop_test

# invariants DB: "accounts tellers branches history" sums, and the row counts
invariants() {
    pg_sql "$1" "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
        (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
        (SELECT sum(bbalance) FROM pgbench_branches) || ' ' ||
        (SELECT coalesce(sum(delta), 0) FROM pgbench_history)"
}
history_rows() {
    pg_sql "$1" "SELECT count(*) FROM pgbench_history"
}

# --- pgbench writes while the backup runs ---------------------------------------------------------
"$PG_BIN/pgbench" -h "$PG_DIR" -p "$PG_PORT" -U postgres -n -c 4 -j 2 -T 120 \
    -b tpcb-like@4 -f "$T/events.sql@1" shop \
    >"$T/pgbench.log" 2>&1 &
PGB=$!
track_pid "$PGB"
has_history() {
    [ "$(history_rows shop)" -gt 200 ]
}
wait_until 20 has_history ||
    fail "pgbench wrote no history in 20 s: $(cat "$T/pgbench.log")"
h0=$(history_rows shop)
start=$(date +%s)
run_drkit 0 backup create --component=database --json
cp "$T/out" "$T/create.json"
secs=$(($(date +%s) - start))
h1=$(history_rows shop)
kill -0 "$PGB" 2>/dev/null || fail "pgbench ended before the backup did: nothing ran concurrently ($(cat "$T/pgbench.log"))"
kill -TERM "$PGB" 2>/dev/null || true
wait "$PGB" 2>/dev/null || true
[ "$h1" -gt "$h0" ] || fail "pgbench committed nothing during the backup ($h0 -> $h1 history rows)"
SNAP=$(jq_field "$T/create.json" .name)
ok "backup ($SNAP, ${secs}s, $(jq_field "$T/create.json" .stats.bytes_read) bytes read) while pgbench committed $((h1 - h0)) TPC-B transactions"

read -r a t b h <<<"$(invariants shop)"
[ "$a" = "$t" ] && [ "$t" = "$b" ] && [ "$b" = "$h" ] ||
    fail "test bug: the live database breaks pgbench's invariants ($a $t $b $h)"

# --- restore and check -----------------------------------------------------------------------------
run_drkit 0 backup restore "$SNAP" --database-only --target=test
read -r a t b h <<<"$(invariants shop_test)"
echo "# restored sums: accounts $a, tellers $t, branches $b, history $h"
if [ -n "$a" ] && [ "$a" = "$t" ] && [ "$t" = "$b" ] && [ "$b" = "$h" ]; then
    ok "restored database is one instant: the four balance sums are equal ($a)"
else
    soft_fail "restored database is not consistent: sum(abalance)=$a sum(tbalance)=$t sum(bbalance)=$b sum(delta)=$h"
fi
counts=$(pg_sql shop_test "SELECT (SELECT count(*) FROM pgbench_accounts) || ' ' ||
    (SELECT count(*) FROM pgbench_tellers) || ' ' || (SELECT count(*) FROM pgbench_branches)")
if [ "$counts" = "$((SCALE * 100000)) $((SCALE * 10)) $SCALE" ]; then
    ok "every account, teller and branch restored"
else
    soft_fail "restored row counts (accounts tellers branches) are '$counts'"
fi
hr=$(history_rows shop_test)
if [ "$hr" -ge "$h0" ] && [ "$hr" -le "$h1" ]; then
    ok "restored history ($hr rows) is of an instant during the backup ($h0..$h1)"
else
    soft_fail "restored history has $hr rows; the backup ran while it grew from $h0 to $h1"
fi
seq=$(pg_sql shop_test "SELECT (SELECT last_value FROM events_id_seq) >= (SELECT coalesce(max(id), 0) FROM events)")
ev=$(pg_sql shop_test "SELECT count(*) FROM events")
if [ "$seq" = t ] && [ "$ev" -gt 0 ] &&
    pg_psql shop_test -c "INSERT INTO events (aid) SELECT 1 FROM generate_series(1, 50)" >/dev/null 2>"$T/ins.err"; then
    ok "restored sequence events_id_seq is past every restored id ($ev events): new rows insert"
else
    soft_fail "restored sequence events_id_seq behind the restored ids ($ev events, seq>=max: $seq): $(cat "$T/ins.err" 2>/dev/null)"
fi
pk=$(pg_sql shop_test "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid::regclass::text LIKE 'pgbench_%'")
[ "$pk" = 3 ] || soft_fail "restored database has $pk pgbench primary keys, want 3"

finish_soft_fails
