#!/usr/bin/env bash
# cli.sh: exit codes, filters, references, JSON documents and quiet output of the CLI.
#
# Asserts:
#   - drkit --help lists the exit codes 0..5; a command's --help exits 0
#   - backup list --type / --before / --after filter (three snapshots of distinct types made
#     in distinct seconds; dates are the snapshots' own times and today/yesterday)
#   - every --json (init, create, list, show, ls, restore, test, check) is exactly one valid
#     JSON document on stdout with its documented fields
#   - backup show by name, by an 8-digit id prefix and by latest finds the same snapshot; an
#     ambiguous prefix (two snapshots forced to share 4 hex digits by craft_snapshot) exits 2
#     and an unknown name or prefix exits 1, each with a clear message
#   - with stdout and stderr not a terminal nothing but the result is printed (stderr empty);
#     with stderr a terminal but stdout not, no progress line either
#   - --quiet prints nothing at all on success (init, create, restore, test, check)
#   - a common option after the command (version --json) works like before it
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq

R=$T/repo
SRC=$T/src
mkdir -p "$SRC/d"
head -c 3000000 /dev/urandom >"$SRC/d/data.bin"
printf 'hello\n' >"$SRC/hello.txt"

# --- help ---------------------------------------------------------------------------------------
run_drkit 0 --help
for re in 'Exit codes' '0 ok' '1 error' '2 usage' '3 backup finished' '4 integrity' '5 repository locked'; do
    tr '\n' ' ' <"$T/out" | grep -q -- "$re" || { cat "$T/out" >&2; fail "drkit --help: no '$re'"; }
done
run_drkit 0 backup restore --help
assert_contains "$T/out" '--target'
run_drkit 0 help backup
run_drkit 2
ok "drkit --help lists exit codes 0-5; subcommand --help exits 0; no command exits 2"

# --- init --json, create --json -------------------------------------------------------------------
run_drkit 0 --repo "$R" init --kdf-ops 1 --kdf-mem 1MiB --json
json_valid "$T/out"
jq -e --arg r "$R" '.location == $r and (.id | test("^[0-9a-f]{64}$")) and .version == 1' \
    "$T/out" >/dev/null || { cat "$T/out" >&2; fail "init --json fields"; }
[ ! -s "$T/err" ] || fail "init --json wrote to stderr: $(cat "$T/err")"

# check_doc WHAT JQ-EXPR: $T/out is one JSON document for which JQ-EXPR is true; stderr empty
check_doc() {
    json_valid "$T/out"
    jq -e "$2" "$T/out" >/dev/null || { cat "$T/out" >&2; fail "$1: a documented field is missing or wrong"; }
    [ ! -s "$T/err" ] || fail "$1 wrote to stderr: $(cat "$T/err")"
}
snap_fields='(.id | test("^[0-9a-f]{64}$")) and .short_id == .id[0:8]
    and (.name | test("^backup-[0-9]{8}-[0-9]{6}$")) and (.time | type) == "string"
    and (.type | IN("full", "incremental", "restore_point")) and (.host | type) == "string"
    and (.username | type) == "string" and (.tags | type) == "array"
    and (.parent == null or (.parent | test("^[0-9a-f]{64}$")))
    and (.partial | type) == "boolean" and (.error_count | type) == "number"
    and (.paths | type) == "array" and (.stats | type) == "object"
    and ([.stats | keys[]] | contains(["files", "dirs", "links", "others",
             "bytes", "files_new", "files_changed", "files_unchanged", "bytes_read",
             "bytes_added", "blobs_added", "duration"]))'
full_fields="$snap_fields"' and (.errors | type) == "array" and (.end_time | type) == "string"
    and (.program | type) == "string" and (.tree | test("^[0-9a-f]{64}$"))
    and (.excludes | type) == "array"'

run_drkit 0 --repo "$R" backup create --type=full --json "$SRC"
check_doc "backup create --json" "$full_fields"' and .type == "full" and .stats.files == 2
    and has("parent_name")'
S1=$(jq_field "$T/out" .name)
S1_ID=$(jq_field "$T/out" .id)
T1=$(jq_field "$T/out" .time)
sleep 1.1
printf 'more\n' >"$SRC/more.txt"
run_drkit 0 --repo "$R" backup create --json "$SRC"
check_doc "backup create --json (incremental)" "$full_fields"' and .type == "incremental"
    and .parent_name == "'"$S1"'" and .parent == "'"$S1_ID"'"'
S2=$(jq_field "$T/out" .name)
T2=$(jq_field "$T/out" .time)
sleep 1.1
run_drkit 0 --repo "$R" backup create --type=restore_point --tag before-upgrade --json "$SRC"
check_doc "backup create --json (restore point)" "$full_fields"' and .type == "restore_point"
    and .tags == ["before-upgrade"]'
S3=$(jq_field "$T/out" .name)
S3_ID=$(jq_field "$T/out" .id)
ok "create --json: full, incremental (with parent) and restore_point (with tag)"

# --- list filters ---------------------------------------------------------------------------------
# listed WANT ARGS...: backup list --json ARGS lists exactly the snapshots WANT (oldest first)
listed() {
    local want=$1 got
    shift
    run_drkit 0 --repo "$R" backup list --json "$@"
    check_doc "backup list --json $*" "type == \"array\" and all(.[]; $snap_fields)"
    got=$(jq -r '[.[].name] | join(" ")' "$T/out")
    assert_eq "$got" "$want" "backup list $*"
}
listed "$S1 $S2 $S3"
listed "$S1" --type=full
listed "$S2" --type=incremental
listed "$S3" --type=restore_point
listed "$S3" --tag=before-upgrade
sec2=$(date -d "$T2" +%s)
utc() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%SZ'; }
local_time() { date -d "@$1" '+%Y-%m-%d %H:%M:%S'; }
listed "$S1" --before="$(utc "$sec2")"
listed "$S2 $S3" --after="$(utc "$sec2")"
listed "$S2 $S3" --after="$(local_time "$sec2")"
listed "$S2" --after="$(utc "$sec2")" --before="$(utc $((sec2 + 1)))"
listed "" --after="$(utc "$sec2")" --type=full
listed "$S1 $S2 $S3" --after=yesterday
listed "" --before=yesterday
listed "$S1 $S2 $S3" --before="$(date -d '+1 day' +%Y-%m-%d)"
listed "" --after="$(date -d '+1 day' +%Y-%m-%d)"
run_drkit 0 --repo "$R" backup list --type=restore_point
assert_contains "$T/out" "$S3"
assert_not_contains "$T/out" "$S1"
assert_contains "$T/out" 'tags:before-upgrade'
run_drkit 0 --repo "$R" backup list --after=2099-01-01
assert_contains "$T/out" 'no snapshots match'
ok "backup list filters by --type, --tag, --before, --after (UTC, local, today/yesterday)"

# --- show by reference ----------------------------------------------------------------------------
for ref in "$S3" "${S3_ID:0:8}" latest "$S3_ID"; do
    run_drkit 0 --repo "$R" backup show "$ref" --json
    check_doc "backup show $ref --json" "$full_fields"
    assert_eq "$(jq_field "$T/out" .id)" "$S3_ID" "backup show $ref"
done
run_drkit 0 --repo "$R" backup show "$S1"
assert_contains "$T/out" "^name: +$S1\$"
assert_contains "$T/out" "^id: +$S1_ID\$"
assert_contains "$T/out" "^type: +full"
ok "backup show by name, 8-digit id prefix, full id and latest"

run_drkit 1 --repo "$R" backup show backup-19990101-000000
assert_contains "$T/err" "no snapshot 'backup-19990101-000000'"
run_drkit 1 --repo "$R" backup show "$(printf '%s' "${S1_ID:0:8}" | tr '0-9a-f' '1-9a-f0')"
assert_contains "$T/err" 'no snapshot'
run_drkit 1 --repo "$R" backup restore backup-19990101-000000 --target "$T/nope"
[ ! -e "$T/nope" ] || fail "restore of an unknown snapshot created the target"
ok "an unknown name or id prefix exits 1: 'no snapshot ...'"

if [ -x "${DRKIT_TOOLS:-}/craft_snapshot" ]; then
    printf 'file a 1\n' >"$T/spec"
    "$DRKIT_TOOLS/craft_snapshot" --repo "$R" --id-prefix beef "$T/spec" >"$T/c1"
    "$DRKIT_TOOLS/craft_snapshot" --repo "$R" --id-prefix beef "$T/spec" >"$T/c2"
    run_drkit 2 --repo "$R" backup show beef
    assert_contains "$T/err" "'beef' matches 2 snapshots"
    run_drkit 2 --repo "$R" backup restore beef --target "$T/nope"
    [ ! -e "$T/nope" ] || fail "restore of an ambiguous reference created the target"
    run_drkit 0 --repo "$R" backup show "$(cut -d' ' -f2 <"$T/c1" | cut -c1-12)"
    ok "an ambiguous id prefix exits 2: 'matches 2 snapshots'"
else
    fail "craft_snapshot not built"
fi

# --- ls, restore, test, check --json -------------------------------------------------------------
run_drkit 0 --repo "$R" backup ls "$S2" "$SRC" --json
check_doc "backup ls --json" 'type == "array" and length == 3 and all(.[]; (.path | type) == "string"
    and (.name | type) == "string" and (.type | IN("file", "dir")) and (.mode | test("^[0-7]{4}$"))
    and (.uid | type) == "number" and (.gid | type) == "number" and has("user") and has("group")
    and (.size | type) == "number" and (.mtime | type) == "string")'
run_drkit 0 --repo "$R" backup restore "$S2" --target "$T/res" --json
check_doc "backup restore --json" '.snapshot == "'"$S2"'" and .target == "'"$T/res"'"
    and .files_written == 3 and .integrity_errors == 0 and .io_errors == 0
    and .unsafe_errors == 0 and (.errors | length) == 0 and has("bytes_written")
    and has("files_unchanged") and has("dirs") and has("duration")'
tree_equal "$SRC" "$T/res$SRC"
run_drkit 0 --repo "$R" backup restore "$S2" --target "$T/res" --delta --json
check_doc "backup restore --delta --json" '.files_written == 0 and .files_unchanged == 3'
run_drkit 0 --repo "$R" backup test "$S2" --json
check_doc "backup test --json" '.ok == true and .snapshot == "'"$S2"'" and .blobs > 0
    and .trees > 0 and .bytes > 0 and (.problems | length) == 0 and (.affected | length) == 0
    and .affected_total == 0 and has("duration") and has("id")'
run_drkit 0 --repo "$R" backup check --json
check_doc "backup check --json" '.ok == true and .read_data == false and .snapshots == 5
    and .index_files > 0 and .packs > 0 and .blobs > 0 and .trees > 0
    and (.problems | length) == 0 and (.notes | type) == "array" and .affected_total == 0
    and has("bytes_read") and has("duration")'
run_drkit 0 --repo "$R" backup check --read-data --json
check_doc "backup check --read-data --json" '.ok == true and .read_data == true and .bytes_read > 0'
run_drkit 0 --json version
check_doc "drkit --json version" '.program == "drkit" and (.version | type) == "string"'
ok "ls, restore, test, check and version --json are valid JSON with the documented fields"

# --- no progress and no chatter when not on a terminal ---------------------------------------------
"$DRKIT" --repo "$R" backup create "$SRC" >"$T/plain.out" 2>"$T/plain.err"
[ ! -s "$T/plain.err" ] || fail "a successful backup wrote to stderr: $(cat "$T/plain.err")"
assert_contains "$T/plain.out" 'saved'
"$DRKIT" --repo "$R" backup restore latest --target "$T/res2" >"$T/plain.out" 2>"$T/plain.err"
[ ! -s "$T/plain.err" ] || fail "a successful restore wrote to stderr: $(cat "$T/plain.err")"
ok "without a terminal a successful backup or restore writes nothing to stderr"
if command -v script >/dev/null; then
    # a backup long enough for the progress thread (redraws every 200 ms) to draw
    mkdir "$T/slow"
    dd if=/dev/zero of="$T/slow/zeros" bs=1M count=1024 status=none
    script -qefc "'$DRKIT' --repo '$R' backup create --type=full '$T/slow'" "$T/ts-both" \
        >/dev/null 2>&1 </dev/null || fail "backup under script failed"
    if grep -a -q '\[00:' "$T/ts-both"; then
        # stderr on a pseudo-terminal, stdout to a file: no progress line
        script -qefc "'$DRKIT' --repo '$R' backup create --type=full '$T/slow' >'$T/tty.out'" \
            "$T/ts-err" >/dev/null 2>&1 </dev/null || fail "backup under script failed"
        if grep -a -q '\[00:' "$T/ts-err"; then
            fail "progress was drawn although stdout is not a terminal"
        fi
        assert_contains "$T/tty.out" 'saved'
        ok "progress is drawn on a terminal, but not when stdout is not one"
    else
        echo "ok - progress on a terminal # skip: no progress line seen with both on a terminal"
    fi
    rm -rf "$T/slow"
fi

# --- --quiet ------------------------------------------------------------------------------------
quiet_ok() { # what args...
    local what=$1
    shift
    "$DRKIT" "$@" >"$T/q.out" 2>"$T/q.err" || fail "$what --quiet failed: $(cat "$T/q.err")"
    [ ! -s "$T/q.out" ] && [ ! -s "$T/q.err" ] ||
        fail "$what --quiet printed: $(cat "$T/q.out" "$T/q.err")"
}
quiet_ok "init" --repo "$T/repo2" init --quiet --kdf-ops 1 --kdf-mem 1MiB
quiet_ok "backup create" --repo "$R" backup create --quiet "$SRC"
quiet_ok "backup create -q" -q --repo "$R" backup create "$SRC"
quiet_ok "backup restore" --repo "$R" backup restore latest --target "$T/res3" --quiet
quiet_ok "backup test" --repo "$R" backup test latest --quiet
quiet_ok "backup check" --repo "$R" backup check --quiet
ok "--quiet prints nothing on success"

# --- common options after the command (cli.h: "Options every command accepts (after the
# command too)"): version --json must print JSON like --json version does ----------------------
run_drkit 0 version --json
check_doc "drkit version --json" '.program == "drkit" and (.version | type) == "string"'
ok "drkit version --json prints JSON"
