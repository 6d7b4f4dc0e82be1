#!/usr/bin/env bash
# pg_split_load.sh: a big table's rows loaded over several connections at once (copysplit) in a
# database restore, right or not at all.
#
# Database "big": table events (~40 MiB of COPY text, above the 32 MiB split threshold) whose
# values hold what COPY text escapes (newlines, tabs, backslashes, carriage returns) and
# multi-byte characters, a CHECK calling a function, a small table with a foreign key into it.
# [core] threads = 2, so that a second loader helps whatever the machine's CPUs. Asserts:
#   - restore --database-only --target=test: exit 0; events arrived over 2 COPYs (server log);
#     the restored database equals the source (schema, every table's rows, sequences); --json
#     counts the manifest's tables, rows and bytes
#   - a row the server refuses in the middle of events (the CHECK's function refuses row 200000
#     once a setting of role postgres names it), over an existing target holding a marker: exit
#     1 naming the check; the target as it was; no temporary database left behind
#   - one byte flipped in the middle of the biggest pack (events' rows), read while events
#     loads: exit 4; the target as it was; no temporary database left behind
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq
pg_require

pg_start "log_statement = 'all'"
pg_sql postgres "CREATE DATABASE big" >/dev/null
pg_psql big >"$T/make.out" 2>&1 <<'SQL' || { cat "$T/make.out" >&2; fail "making database big failed"; }
CREATE FUNCTION event_ok(id int) RETURNS boolean LANGUAGE sql IMMUTABLE
    AS $$ SELECT id::text IS DISTINCT FROM current_setting('drkit_test.refuse', true) $$;
CREATE TABLE events (
    id int PRIMARY KEY CHECK (event_ok(id)),
    kind text NOT NULL,
    body text,
    at timestamptz NOT NULL
);
CREATE INDEX events_kind ON events (kind);
INSERT INTO events
SELECT g, 'kind ' || (g % 17),
       'line one ' || g || E'\nline two\twith a tab \\ and a backslash\r\n' ||
           'Größe ' || repeat(md5(g::text), 1 + g % 3),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, 400000) g;
CREATE TABLE notes (id serial PRIMARY KEY, event_id int NOT NULL REFERENCES events(id), note text);
INSERT INTO notes (event_id, note) SELECT g * 1000, 'note ' || g FROM generate_series(1, 400) g;
SQL
bytes=$(pg_sql big "SELECT sum(length(body) + length(kind) + 40) FROM events")
[ "$bytes" -gt $((36 << 20)) ] || fail "test bug: events holds only $bytes bytes, want > 36 MiB"

R=$T/repo
init_repo "$R"
pg_drkit_conf "$T/drkit.conf" "$R" big big_test
printf '[core]\n    threads = 2\n' >>"$T/drkit.conf"
run_drkit 0 backup create --component=database --json
run_drkit 0 backup show latest --json
want_tables=$(jq '.database.databases[0].tables | length' "$T/out")
want_rows=$(jq '[.database.databases[0].tables[].rows] | add' "$T/out")
want_bytes=$(jq '[.database.databases[0].tables[].bytes] | add' "$T/out")
ok "backup: $want_tables tables, $want_rows rows, $want_bytes bytes"

# --- the split load ---------------------------------------------------------------------------
log_from=$(wc -l <"$PG_LOG")
run_drkit 0 backup restore latest --database-only --target=test --json
ncopy=$(tail -n +"$((log_from + 1))" "$PG_LOG" | grep -c 'COPY "public"."events" .* FROM STDIN' || true)
if [ "$ncopy" -ge 2 ]; then
    ok "events loaded over $ncopy COPYs"
else
    soft_fail "events loaded over $ncopy COPY(s), want 2 (the split did not happen)"
fi
got=$(jq -c '.databases[0] | [.tables, .rows, .bytes]' "$T/out")
if [ "$got" = "[$want_tables,$want_rows,$want_bytes]" ]; then
    ok "restore counts $got"
else
    soft_fail "restore counts $got, want [$want_tables,$want_rows,$want_bytes]"
fi
pg_capture big "$T/source"
pg_capture big_test "$T/restored"
if pg_compare "$T/source" "$T/restored"; then
    ok "big_test equals big (schema, rows, sequences)"
else
    soft_fail "big_test differs from big"
fi

# --- a row refused in the middle of the split table -------------------------------------------
pg_sql postgres "DROP DATABASE big_test" >/dev/null
pg_sql postgres "CREATE DATABASE big_test" >/dev/null
pg_sql big_test "CREATE TABLE marker (note text); INSERT INTO marker VALUES ('before')" >/dev/null
# every new session of postgres (the restore's included) now refuses row 200000
pg_sql postgres "ALTER ROLE postgres SET drkit_test.refuse = '200000'" >/dev/null
pg_capture big_test "$T/target-before"
rc=$(rc_of "$DRKIT" backup restore latest --database-only --target=test)
if [ "$rc" = 1 ] && grep -q 'events_id_check' "$T/err"; then
    ok "refused row: exit 1: $(head -n 1 "$T/err" | head -c 200)"
else
    soft_fail "refused row: exit $rc, want 1 naming events_id_check: $(head -c 400 "$T/err")"
fi
pg_capture big_test "$T/target-after"
pg_compare "$T/target-before" "$T/target-after" || soft_fail "the failed restore changed big_test"
left=$(pg_sql postgres "SELECT coalesce(string_agg(datname, ' '), '') FROM pg_database
    WHERE datname LIKE '%drkit%'")
[ -z "$left" ] || soft_fail "the failed restore left databases behind: $left"

# --- a damaged blob in the middle of the split table -------------------------------------------
pg_sql postgres "ALTER ROLE postgres RESET drkit_test.refuse" >/dev/null
# the biggest pack holds events' rows (everything else is a few KiB)
big_pack=$(find "$R/data" -type f -printf '%s %p\n' | sort -rn | head -n 1 | cut -d' ' -f2-)
chmod u+w "$big_pack"
corrupt_byte "$big_pack" $(($(stat -c %s "$big_pack") / 2))
log_from=$(wc -l <"$PG_LOG")
rc=$(rc_of "$DRKIT" backup restore latest --database-only --target=test)
ncopy=$(tail -n +"$((log_from + 1))" "$PG_LOG" | grep -c 'COPY "public"."events" .* FROM STDIN' || true)
if [ "$rc" = 4 ] && [ "$ncopy" -ge 1 ]; then
    ok "damaged blob during the load of events: exit 4: $(head -n 1 "$T/err" | head -c 200)"
else
    soft_fail "damaged blob: exit $rc (want 4), $ncopy COPY(s) into events (want 1+): $(head -c 400 "$T/err")"
fi
pg_capture big_test "$T/target-after2"
pg_compare "$T/target-before" "$T/target-after2" || soft_fail "the failed restore changed big_test"
left=$(pg_sql postgres "SELECT coalesce(string_agg(datname, ' '), '') FROM pg_database
    WHERE datname LIKE '%drkit%'")
[ -z "$left" ] || soft_fail "the failed restore left databases behind: $left"

finish_soft_fails
