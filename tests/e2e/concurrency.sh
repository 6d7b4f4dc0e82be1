#!/usr/bin/env bash
# concurrency.sh: commands that share a repository do not disturb each other; locks work.
#
# Asserts:
#   - two backups of different trees (sharing a 24 MiB file, so both write the same blobs)
#     started at the same moment both exit 0, both snapshots are listed with distinct names,
#     both restore exactly, and backup check --read-data passes
#   - a third backup started while a restore runs: both exit 0, both exact
#   - 6 more rounds of 3 simultaneous backups (the same tree twice at once): all succeed with
#     distinct names, check --read-data stays clean, the latest restores exactly
#   - no lock file is left behind
#   - a lock file a live process holds a kernel lock on (flock ... sleep 60, exclusive): backup
#     create and restore exit 5 naming its pid and host
#     and the message names the pid and the host; the same lock with the pid of a process that
#     has exited is ignored (the backup succeeds)
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq hostname

R=$T/repo
init_repo "$R"
head -c $((24 * 1048576)) /dev/urandom >"$T/shared.bin"
for t in A B C; do
    mkdir -p "$T/$t/sub"
    head -c $((40 * 1048576)) /dev/urandom >"$T/$t/own.bin"
    cp "$T/shared.bin" "$T/$t/sub/shared.bin"
    for i in $(seq 1 300); do
        printf '%s %s\n' "$t" "$i" >"$T/$t/sub/f$i"
    done
done

# start_bg NAME ARGS...: run drkit in the background, outputs in $T/NAME.out/.err
start_bg() {
    local name=$1
    shift
    "$DRKIT" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    eval "pid_$name=$!"
    track_pid "$!"
}
# wait_bg NAME: wait for it; fail unless it exited 0
wait_bg() {
    local pid rc=0
    eval "pid=\$pid_$1"
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$T/$1.out" "$T/$1.err" >&2
        fail "$1 exited $rc"
    fi
}

# --- two backups at the same moment ---------------------------------------------------------------
start_bg a --repo "$R" backup create --json "$T/A"
start_bg b --repo "$R" backup create --json "$T/B"
wait_bg a
wait_bg b
json_valid "$T/a.out"
json_valid "$T/b.out"
SA=$(jq_field "$T/a.out" .name)
SB=$(jq_field "$T/b.out" .name)
[ "$SA" != "$SB" ] || fail "both backups got the name $SA"
run_drkit 0 --repo "$R" backup list --json
assert_eq "$(jq -r '[.[].name] | sort | join(" ")' "$T/out")" \
    "$(printf '%s\n' "$SA" "$SB" | sort | tr '\n' ' ' | sed 's/ $//')" "listed snapshots"
ok "two simultaneous backups both succeed: $SA and $SB"

run_drkit 0 --repo "$R" backup restore "$SA" --target "$T/ra"
tree_equal "$T/A" "$T/ra$T/A"
run_drkit 0 --repo "$R" backup restore "$SB" --target "$T/rb"
tree_equal "$T/B" "$T/rb$T/B"
[ ! -e "$T/ra$T/B" ] && [ ! -e "$T/rb$T/A" ] || fail "a snapshot holds the other tree"
rm -rf "$T/rb"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
ok "both restore exactly; check --read-data passes"

# --- a backup while a restore runs ------------------------------------------------------------------
rm -rf "$T/ra"
start_bg restore --repo "$R" backup restore "$SA" --target "$T/ra"
start_bg c --repo "$R" backup create --json "$T/C"
wait_bg restore
wait_bg c
SC=$(jq_field "$T/c.out" .name)
tree_equal "$T/A" "$T/ra$T/A"
run_drkit 0 --repo "$R" backup restore "$SC" --target "$T/rc"
tree_equal "$T/C" "$T/rc$T/C"
ok "a backup during a restore: both succeed and are exact ($SC)"

# --- more rounds: three backups at once, the same tree twice ------------------------------------------
for round in 1 2 3 4 5 6; do
    for t in A B C; do
        head -c $((1048576 + RANDOM)) /dev/urandom >"$T/$t/round.bin"
    done
    start_bg x1 --repo "$R" backup create "$T/A"
    start_bg x2 --repo "$R" backup create "$T/B"
    start_bg x3 --repo "$R" backup create "$T/A"
    wait_bg x1
    wait_bg x2
    wait_bg x3
done
run_drkit 0 --repo "$R" backup list --json
n=$(jq length "$T/out")
assert_eq "$n" 21 "snapshots after 6 rounds of 3 simultaneous backups"
assert_eq "$(jq '[.[].name] | unique | length' "$T/out")" 21 "distinct snapshot names"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
run_drkit 0 --repo "$R" backup restore latest --target "$T/rl2"
latest_path=$(jq -r '.[-1].paths[0]' <("$DRKIT" --repo "$R" backup list --json))
tree_equal "$latest_path" "$T/rl2$latest_path"
ok "6 rounds of 3 simultaneous backups (one tree twice at once): 21 distinct snapshots, check clean"

[ -z "$(ls -A "$R/locks")" ] || fail "lock files left behind: $(ls -A "$R/locks")"
ok "no lock file is left behind"

# --- a lock held by another live process ---------------------------------------------------------
# A holder does what drkit does: writes its lock file and keeps a kernel lock (flock) on it.
need_cmd flock
host=$(hostname)
lock_json() { # pid
    printf '{"time":"%s","exclusive":true,"hostname":"%s","username":"root","pid":%s,"process_start":0,"command":"test"}' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$host" "$1"
}
LOCK=$R/locks/$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
: >"$LOCK"
flock "$LOCK" sleep 60 &
holder=$!
track_pid "$holder"
for _ in $(seq 1 50); do flock -n "$LOCK" true 2>/dev/null || break; sleep 0.1; done
lock_json "$holder" >"$LOCK.tmp" && cat "$LOCK.tmp" >"$LOCK" && rm "$LOCK.tmp"
run_drkit 5 --repo "$R" backup create "$T/A"
assert_contains "$T/err" "pid $holder"
assert_contains "$T/err" "$host"
run_drkit 5 --repo "$R" backup restore latest --target "$T/rl"
ok "a live exclusive lock: backup create exits 5 naming pid $holder on $host"

pkill -P "$holder" sleep 2>/dev/null || true # flock's child holds the lock too
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
# the lock file stays, its kernel lock is gone with its process
run_drkit 0 --repo "$R" backup create "$T/A"
dead=$holder
ok "the same lock of a process that has exited (pid $dead) is ignored"
