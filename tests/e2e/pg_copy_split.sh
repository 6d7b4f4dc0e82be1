#!/usr/bin/env bash
# pg_copy_split.sh: a big table backed up by two COPYs at once (each over half of its heap by
# TID range, the second on its own connection in the same snapshot), right or not at all.
#
# DRKIT_PG_COPY_SPLIT_MIN = 1 MiB (instead of 64 MiB) makes the ~10 MiB table items "big".
# items has a generated column, text that COPY escapes, dead tuples in the middle of its
# heap (deleted and updated rows) and an inheriting child table with rows of its own; a small
# table stays below the threshold. Asserts:
#   - backup: exit 0; items read by two COPYs (ctid < and ctid >=) and the small table by
#     one plain COPY (server log); items' manifest rows and bytes equal count(*) and the length
#     of a plain COPY; the child's rows appear only in the child's file (FROM ONLY)
#   - the restored database equals the source (schema, every table's rows, sequences)
#   - rows moved by transfers committed while the backup runs (one transaction moves amount
#     between two rows and rewrites both at the end of the heap): the restore holds every row
#     once (count and ids) and the sum the snapshot saw
#   - the stored file is one COPY's bytes in order (items restored by one COPY in file order,
#     then a plain COPY of source and restore compared)
#   - a second backup of the unchanged database adds no table data (the halves cut alike)
#   - an ACCESS EXCLUSIVE request (an ALTER TABLE's) queued behind the backup's locks: no
#     deadlock; pg_dump beside it gives up and the database is backed up again, or the second
#     half steps back (see below); exit 0 and the restore equals the source
#   - either half's backend terminated as soon as its COPY runs: exit 1 naming the table and
#     that half (the first half's failure is not blamed on the second, which loses the
#     exported snapshot with it); no new snapshot; check passes
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq
pg_require

export DRKIT_PG_COPY_SPLIT_MIN=$((1 << 20))
pg_start "log_statement = 'all'" "log_line_prefix = '%m [%p] '"
pg_sql postgres "CREATE DATABASE split" >/dev/null
pg_psql split >"$T/make.out" 2>&1 <<'SQL' || { cat "$T/make.out" >&2; fail "making database split failed"; }
CREATE TABLE items (
    id int PRIMARY KEY,
    amount bigint NOT NULL,
    label text NOT NULL,
    twice int GENERATED ALWAYS AS (id * 2) STORED
);
INSERT INTO items (id, amount, label)
SELECT g, 1000, 'item ' || g || E'\twith a tab\nand a newline \\ ' || md5(g::text)
FROM generate_series(1, 120000) g;
DELETE FROM items WHERE id % 7 = 0;
UPDATE items SET label = label || ' (edited)' WHERE id BETWEEN 30000 AND 40000;
CREATE TABLE items_archive (archived_at date NOT NULL DEFAULT '2024-01-01') INHERITS (items);
INSERT INTO items_archive (id, amount, label) SELECT g, 5, 'archived ' || g FROM generate_series(1, 5000) g;
CREATE TABLE small (id serial PRIMARY KEY, note text);
INSERT INTO small (note) SELECT 'note ' || g FROM generate_series(1, 100) g;
VACUUM ANALYZE;
SQL
heap=$(pg_sql split "SELECT pg_relation_size('items')")
[ "$heap" -gt $((4 << 20)) ] || fail "test bug: items' heap is only $heap bytes"

R=$T/repo
init_repo "$R"
pg_drkit_conf "$T/drkit.conf" "$R" split split_test

# --- the split backup ---------------------------------------------------------------------------
log_from=$(wc -l <"$PG_LOG")
run_drkit 0 backup create --component=database --json
log=$(tail -n +"$((log_from + 1))" "$PG_LOG")
n_lt=$(grep -c 'COPY (SELECT .* FROM ONLY "public"."items" WHERE ctid < ' <<<"$log" || true)
n_ge=$(grep -c 'COPY (SELECT .* FROM ONLY "public"."items" WHERE ctid >= ' <<<"$log" || true)
n_small=$(grep -c 'COPY "public"."small" (.*) TO STDOUT' <<<"$log" || true)
if [ "$n_lt" = 1 ] && [ "$n_ge" = 1 ] && [ "$n_small" = 1 ]; then
    ok "items read by two COPYs (halves by ctid), small by one"
else
    soft_fail "COPYs in the server log: items ctid< $n_lt, ctid>= $n_ge (want 1 each), small $n_small (want 1)"
fi
run_drkit 0 backup show latest --json
jq -c '.database.databases[0].tables[] | {name, rows, bytes}' "$T/out" >"$T/manifest"
want_rows=$(pg_sql split "SELECT count(*) FROM ONLY items")
want_bytes=$(pg_psql split -c "COPY items (id, amount, label) TO STDOUT" | wc -c)
got=$(jq -r 'select(.name == "items") | "\(.rows) \(.bytes)"' "$T/manifest")
if [ "$got" = "$want_rows $want_bytes" ]; then
    ok "items: $want_rows rows, $want_bytes bytes, as a plain COPY"
else
    soft_fail "items in the manifest: '$got', want '$want_rows $want_bytes'"
fi
got=$(jq -r 'select(.name == "items_archive") | .rows' "$T/manifest")
[ "$got" = 5000 ] || soft_fail "items_archive: $got rows in the manifest, want 5000"

run_drkit 0 backup restore latest --database-only --target=test
pg_capture split "$T/source"
pg_capture split_test "$T/restored"
if pg_compare "$T/source" "$T/restored"; then
    ok "split_test equals split (schema, rows, sequences)"
else
    soft_fail "split_test differs from split"
fi
# items (below the restore's 32 MiB split) was loaded by one COPY in the file's order, so the
# restored heap holds its rows in the stored order: a plain COPY of both gives the same bytes
# only if the two halves' file is byte for byte the source's single COPY
want=$(pg_psql split -c "COPY items (id, amount, label) TO STDOUT" | md5sum)
got=$(pg_psql split_test -c "COPY items (id, amount, label) TO STDOUT" | md5sum)
if [ "$got" = "$want" ]; then
    ok "the stored file of items is the bytes of one COPY, in order"
else
    soft_fail "the restored items in heap order differ from the source's COPY (order or bytes)"
fi

# --- a second backup adds no table data -----------------------------------------------------------
run_drkit 0 backup create --component=database --json
added=$(jq '.stats.bytes_added' "$T/out")
if [ "$added" -lt 65536 ]; then
    ok "unchanged database: the second backup added $added bytes"
else
    soft_fail "unchanged database: the second backup added $added bytes (want < 64 KiB)"
fi

# --- transfers committed while the backup runs ------------------------------------------------------
sum_before=$(pg_sql split "SELECT sum(amount) FROM ONLY items")
ids_before=$(pg_sql split "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM ONLY items")
cat >"$T/transfers.sql" <<'SQL'
BEGIN;
UPDATE items SET amount = amount - 1 WHERE id = (SELECT id FROM ONLY items WHERE id % 7 <> 0 ORDER BY random() LIMIT 1);
UPDATE items SET amount = amount + 1 WHERE id = (SELECT id FROM ONLY items WHERE id % 7 <> 0 ORDER BY random() LIMIT 1);
COMMIT;
SQL
(
    for _ in $(seq 400); do
        [ -f "$T/stop-writer" ] && break
        pg_psql split -f "$T/transfers.sql" >/dev/null 2>&1 || true
    done
) &
writer=$!
sleep 0.5
run_drkit 0 backup create --component=database
touch "$T/stop-writer"
wait "$writer" || true
[ "$(pg_sql split "SELECT sum(amount) FROM ONLY items")" = "$sum_before" ] ||
    fail "test bug: the transfers changed the sum"
pg_sql postgres "DROP DATABASE split_test" >/dev/null
run_drkit 0 backup restore latest --database-only --target=test
got_sum=$(pg_sql split_test "SELECT sum(amount) FROM ONLY items")
got_ids=$(pg_sql split_test "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM ONLY items")
if [ "$got_sum" = "$sum_before" ] && [ "$got_ids" = "$ids_before" ]; then
    ok "rows moved during the backup: every id once, sum $got_sum as the snapshot saw"
else
    soft_fail "rows moved during the backup: sum $got_sum (want $sum_before), ids md5 $got_ids (want $ids_before)"
fi

# --- a schema change during the backup ----------------------------------------------------------
# A session waits (busy, in one DO block) until the backup's connection runs a given statement,
# then asks for an ACCESS EXCLUSIVE lock on items, as an ALTER TABLE would: the request queues
# behind the backup's lock (held from the start), and every lock request on items after it
# queues behind it. The backup must neither deadlock nor lose data:
#   - seen at the backup's LOCK of all tables (before pg_dump beside it has its locks): pg_dump
#     gives up its wait after 1 s, the attempt ends (the ALTER gets its lock and commits), and
#     the database is backed up again from the start: a warning says so
#   - seen at the first half's COPY: the second half's LOCK ... NOWAIT fails at once, and the
#     first connection reads that half too
# (the race decides which paths a run takes; both runs must end with exit 0 and a restore equal
# to the source)
schema_change_during_backup() {
    local what=$1 when=$2 tag=$3
    pg_sql postgres "DROP DATABASE IF EXISTS split_test" >/dev/null
    log_from=$(wc -l <"$PG_LOG")
    pg_psql split >"$T/locker.out" 2>&1 <<SQL &
BEGIN;
SET LOCAL lock_timeout = '10s';
DO \$\$
DECLARE stop timestamptz := clock_timestamp() + interval '30 s';
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        EXIT WHEN $when;
        IF clock_timestamp() > stop THEN
            RAISE EXCEPTION 'the backup was never seen';
        END IF;
    END LOOP;
    LOCK TABLE items IN ACCESS EXCLUSIVE MODE;
END
\$\$;
COMMIT;
SQL
    local locker=$!
    sleep 0.5
    run_drkit 0 backup create --component=database
    wait "$locker" || true
    grep -q ERROR "$T/locker.out" && fail "test bug: the ALTER's stand-in failed: $(cat "$T/locker.out")"
    log=$(tail -n +"$((log_from + 1))" "$PG_LOG")
    RETRIED=0
    if grep -q 'starting the database over' "$T/err"; then
        RETRIED=1
        ok "$what: the database was backed up again: $(grep -m1 'starting the database over' "$T/err" | head -c 160)"
    else
        echo "# $what: pg_dump had its locks before the exclusive request: no second attempt"
    fi
    if grep -q 'could not obtain lock on relation "public.items"' <<<"$log"; then
        ok "$what: the second half stepped back"
    else
        echo "# $what: the second half had its lock before the exclusive request"
    fi
    run_drkit 0 backup restore latest --database-only --target=test
    pg_capture split "$T/source-$tag"
    pg_capture split_test "$T/restored-$tag"
    if pg_compare "$T/source-$tag" "$T/restored-$tag"; then
        ok "$what: split_test equals split"
    else
        soft_fail "$what: split_test differs from split"
    fi
}
# the backup's own connection (application_name drkit; pg_dump's and psql's have theirs) holds
# its lock on items (not the moment's lock of its table listing's pg_relation_size)
schema_change_during_backup "exclusive request once the backup holds its locks" "EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.relation = 'items'::regclass AND l.mode = 'AccessShareLock' AND l.granted
      AND a.application_name = 'drkit' AND a.query NOT LIKE 'SELECT c.oid, n.nspname%')" locks
[ "$RETRIED" = 1 ] ||
    soft_fail "exclusive request once the backup holds its locks: no second attempt (want one)"
schema_change_during_backup "exclusive request at the first half's COPY" "EXISTS (
    SELECT 1 FROM pg_stat_activity
    WHERE query LIKE 'COPY (SELECT % FROM ONLY \"public\".\"items\" WHERE ctid < %')" copy

# --- one half's backend terminated ------------------------------------------------------------------
# A session polls pg_stat_activity (every millisecond, in one DO block) for the half's COPY
# and terminates its backend as soon as it runs.
kill_half() {
    local which=$1 op=$2 want=$3 snaps_before rc=0 killer
    run_drkit 0 backup list --json
    snaps_before=$(jq length "$T/out")
    pg_psql split -v ON_ERROR_STOP=1 >"$T/killer.out" 2>&1 <<SQL &
DO \$\$
DECLARE p int;
BEGIN
    FOR i IN 1..60000 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid INTO p FROM pg_stat_activity WHERE state = 'active'
            AND query LIKE 'COPY (SELECT % FROM ONLY "public"."items" WHERE ctid $op %';
        IF p IS NOT NULL THEN
            PERFORM pg_terminate_backend(p);
            RAISE NOTICE 'terminated %', p;
            RETURN;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
END
\$\$;
SQL
    killer=$!
    sleep 0.5
    rc=$(rc_of "$DRKIT" backup create --component=database)
    wait "$killer" || true
    grep -q 'terminated' "$T/killer.out" || fail "the $which half's backend was never seen: $(cat "$T/killer.out")"
    # (killed before or during its COPY: "PostgreSQL: ..." or "COPY of ... broke off/failed")
    if [ "$rc" = 1 ] && head -n 1 "$T/err" | grep -q -E -- "$want"; then
        ok "$which half terminated: exit 1: $(head -n 1 "$T/err" | head -c 200)"
    else
        soft_fail "$which half terminated: exit $rc, want 1 and '$want': $(head -c 400 "$T/err")"
    fi
    run_drkit 0 backup list --json
    [ "$(jq length "$T/out")" = "$snaps_before" ] || soft_fail "$which half terminated: a snapshot was recorded"
}
kill_half second '>=' ": the second half of table \"public\".\"items\" "
kill_half first '<' ": database 'split': (COPY of|PostgreSQL: .*|the backup's connection to database 'split' (ended|broke).*) \"public\".\"items\""
run_drkit 0 backup check
ok "check passes after the failed backups"

finish_soft_fails
