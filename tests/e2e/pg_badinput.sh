#!/usr/bin/env bash
# pg_badinput.sh: bad database input fails clearly and records nothing (issue 5, "What must
# hold" 5, and "a failing pg_dump must fail the backup").
#
# Against a throwaway cluster with pg_make_shop's database and one good snapshot. Each bad case
# runs backup create --component=database with its own config and must exit non-zero within
# 60 s, say what is wrong on stderr, and leave backup list --json exactly as it was:
#   - a wrong password (scram-sha-256 for role backup on 127.0.0.1), in the conninfo and in a
#     passfile; no password at all (must not prompt); the right password in a passfile works
#     (the control)
#   - a port nothing listens on
#   - a database in `databases =` that does not exist (alone, and after one that does)
#   - pg-bin pointing at a directory without the client programs
#   - pg_dump failing (exit 1 after some output) in the pre-data and in the post-data section,
#     pg_dump killed by a signal mid-way, pg_dumpall failing: the program's own message is
#     shown verbatim
# and for restores:
#   - --table of a table the snapshot does not have: exit 2 naming it, nothing changed in the
#     database (not even the other --table given), no snapshot (no restore point) recorded
# Afterwards backup check passes and a normal backup still works.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/pg.sh
. "$TESTS/lib/pg.sh"
set -e -o pipefail
require_drkit
need_cmd jq timeout
pg_require

pg_start
pg_make_shop shop
R=$T/repo
init_repo "$R"
pg_drkit_conf "$T/drkit.conf" "$R" shop shop_test
run_drkit 0 backup create --component=database
GOOD=$T/drkit.conf

snap_list() {
    DRKIT_CONFIG=$GOOD "$DRKIT" backup list --json | jq -c '[.[] | [.name, .type, .tags]]'
}
LIST0=$(snap_list)
[ "$(echo "$LIST0" | jq length)" = 1 ] || fail "test bug: want one snapshot to start with: $LIST0"

# conf FILE CONNINFO [EXTRA]: a config like the good one with another source connection
conf() {
    {
        echo "[repository \"local\"]"
        echo "    url = $R"
        echo "[source \"database\"]"
        echo "    type = postgresql"
        echo "    conninfo = $2"
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/    /'
        echo "[target \"test\"]"
        echo "    conninfo = $(pg_conninfo shop_test)"
    } >"$1"
}

# bad_backup WHAT REGEX CONFFILE: backup create fails, stderr matches REGEX, nothing recorded
bad_backup() {
    local what=$1 re=$2 cf=$3 rc=0 t0 secs
    t0=$(date +%s)
    DRKIT_CONFIG=$cf timeout 60 "$DRKIT" backup create --component=database </dev/null \
        >"$T/out" 2>"$T/err" || rc=$?
    secs=$(($(date +%s) - t0))
    if [ "$rc" = 124 ]; then
        soft_fail "$what: backup create still running after 60 s (killed)"
    elif [ "$rc" = 0 ]; then
        soft_fail "$what: backup create exited 0"
    elif ! grep -Eqi -- "$re" "$T/err"; then
        soft_fail "$what: exit $rc, but stderr does not match /$re/: $(head -c 600 "$T/err")"
    else
        ok "$what: exit $rc in ${secs}s: $(grep -Ei -m1 -- "$re" "$T/err" | head -c 200)"
    fi
    local now
    now=$(snap_list)
    if [ "$now" != "$LIST0" ]; then
        soft_fail "$what: the snapshot list changed: $now"
        LIST0=$now
    fi
}

# --- authentication ---------------------------------------------------------------------------------
pg_sql postgres "CREATE ROLE backup LOGIN SUPERUSER PASSWORD 'right-pass'" >/dev/null
pg_hba_prepend "host all backup 127.0.0.1/32 scram-sha-256"
TCP="host=127.0.0.1 port=$PG_PORT dbname=shop user=backup"
PGPASSFILE=/dev/null "$PG_BIN/psql" -X -w -At -d "$TCP password=wrong-pass" -c 'select 1' >/dev/null 2>&1 &&
    fail "test bug: a wrong password is accepted by the server"

conf "$T/c-wrongpw.conf" "$TCP password=wrong-pass"
bad_backup "wrong password in conninfo" "password authentication failed" "$T/c-wrongpw.conf"

echo "127.0.0.1:$PG_PORT:*:backup:wrong-pass" >"$T/pgpass-wrong"
chmod 600 "$T/pgpass-wrong"
conf "$T/c-wrongpf.conf" "$TCP" "passfile = $T/pgpass-wrong"
bad_backup "wrong password in passfile" "password authentication failed" "$T/c-wrongpf.conf"

: >"$T/pgpass-empty"
chmod 600 "$T/pgpass-empty"
conf "$T/c-nopw.conf" "$TCP" "passfile = $T/pgpass-empty"
bad_backup "no password available" "password" "$T/c-nopw.conf"

echo "127.0.0.1:$PG_PORT:*:backup:right-pass" >"$T/pgpass-right"
chmod 600 "$T/pgpass-right"
conf "$T/c-rightpf.conf" "$TCP" "passfile = $T/pgpass-right
databases = shop"
rc=$(DRKIT_CONFIG=$T/c-rightpf.conf rc_of timeout 60 "$DRKIT" backup create --component=database)
if [ "$rc" = 0 ]; then
    ok "the right password in a passfile works (scram over TCP)"
else
    soft_fail "backup with the right password in a passfile: exit $rc: $(head -c 600 "$T/err")"
fi
LIST0=$(snap_list)

# --- unreachable server, missing database, missing programs ----------------------------------------
NOPORT=$(free_port)
conf "$T/c-port.conf" "host=127.0.0.1 port=$NOPORT dbname=shop user=postgres connect_timeout=5"
bad_backup "nothing listens on port $NOPORT" "refused|could not connect|connection to server" "$T/c-port.conf"

conf "$T/c-nodb.conf" "$(pg_conninfo shop)" "databases = nosuchdb"
bad_backup "databases = nosuchdb" "nosuchdb" "$T/c-nodb.conf"
conf "$T/c-nodb2.conf" "$(pg_conninfo shop)" "databases = shop nosuchdb"
bad_backup "databases = shop nosuchdb" "nosuchdb" "$T/c-nodb2.conf"

conf "$T/c-nobin.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/no-such-bin"
bad_backup "pg-bin without the client programs" "no-such-bin|pg_dump" "$T/c-nobin.conf"

# --- failing client programs -------------------------------------------------------------------------
# fake_bin DIR PROGRAM BODY: DIR holds symlinks to every program of PG_BIN, but PROGRAM is a
# script running BODY (with REAL set to the real program)
fake_bin() {
    local dir=$1 prog=$2 body=$3 p
    mkdir -p "$dir"
    for p in "$PG_BIN"/*; do
        ln -s "$p" "$dir/$(basename "$p")"
    done
    rm -f "$dir/$prog"
    printf '#!/bin/bash\nREAL=%q\n%s\n' "$PG_BIN/$prog" "$body" >"$dir/$prog"
    chmod 755 "$dir/$prog"
}
fail_section() { # a pg_dump that, for section $1, writes some of its output, then fails
    printf 'case " $* " in\n*--section=%s*) "$REAL" "$@" | head -c 2000; echo "pg_dump: error: simulated failure in %s" >&2; exit 1 ;;\nesac\nexec "$REAL" "$@"' "$1" "$1"
}
fake_bin "$T/bin-pre" pg_dump "$(fail_section pre-data)"
conf "$T/c-pre.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/bin-pre"
bad_backup "pg_dump fails in pre-data" "simulated failure in pre-data" "$T/c-pre.conf"

fake_bin "$T/bin-post" pg_dump "$(fail_section post-data)"
conf "$T/c-post.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/bin-post"
bad_backup "pg_dump fails in post-data (after the tables were copied)" "simulated failure in post-data" "$T/c-post.conf"

fake_bin "$T/bin-kill" pg_dump 'case " $* " in
*--section=data*) "$REAL" "$@" | head -c 1000; echo "pg_dump: about to be killed" >&2; kill -KILL $$ ;;
esac
exec "$REAL" "$@"'
conf "$T/c-kill.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/bin-kill"
bad_backup "pg_dump killed by SIGKILL mid-way" "about to be killed|signal|killed" "$T/c-kill.conf"

fake_bin "$T/bin-dumpall" pg_dumpall '"$REAL" "$@" | head -c 300; echo "pg_dumpall: error: simulated failure of pg_dumpall" >&2; exit 1'
conf "$T/c-dumpall.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/bin-dumpall"
bad_backup "pg_dumpall fails" "simulated failure of pg_dumpall" "$T/c-dumpall.conf"

# the wrappers themselves work when they do not fail (the control)
fake_bin "$T/bin-pass" pg_dump 'exec "$REAL" "$@"'
conf "$T/c-pass.conf" "$(pg_conninfo shop)" "databases = shop
pg-bin = $T/bin-pass"
rc=$(DRKIT_CONFIG=$T/c-pass.conf rc_of timeout 60 "$DRKIT" backup create --component=database)
[ "$rc" = 0 ] || fail "test bug: a pass-through pg_dump wrapper in pg-bin does not work (exit $rc): $(head -c 600 "$T/err")"
ok "a pass-through pg_dump wrapper in pg-bin works"
LIST0=$(snap_list)

# --- unknown table in a restore ------------------------------------------------------------------------
pg_sql shop "DELETE FROM products WHERE id = 250" >/dev/null
md5p=$(pg_table_md5 shop products)
for args in "--table=nosuch_table" "--table=products --table=public.nosuch_table" "--table=nosuch_table --target=test"; do
    # shellcheck disable=SC2086
    rc=$(DRKIT_CONFIG=$GOOD rc_of timeout 60 "$DRKIT" backup restore latest $args)
    if [ "$rc" = 2 ] && grep -q nosuch_table "$T/err" && ! grep -qi 'unknown option' "$T/err"; then
        ok "restore $args: exit 2 naming nosuch_table"
    else
        soft_fail "restore $args: exit $rc (want 2, naming the unknown table nosuch_table): $(head -c 300 "$T/err")"
    fi
    [ "$(pg_table_md5 shop products)" = "$md5p" ] || soft_fail "restore $args changed products"
    [ "$(snap_list)" = "$LIST0" ] || {
        soft_fail "restore $args recorded a snapshot"
        LIST0=$(snap_list)
    }
done
! pg_db_exists shop_test || soft_fail "a refused --target=test restore created shop_test"

# --- the repository is sound, backups still work ------------------------------------------------------
run_drkit 0 --repo "$R" backup check
run_drkit 0 backup create --component=database
ok "backup check passes after the failures, and a backup works"

finish_soft_fails
