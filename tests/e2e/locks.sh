#!/usr/bin/env bash
# locks.sh: shared and exclusive repository locks; who holds a lock is named; a crashed holder
# never blocks anyone; unlock removes stale locks only, --remove-all every lock.
#
# Holders are real drkit processes, held at a known point without timing luck: a backup
# create that is stopped (SIGSTOP) once its lock file exists and its kernel lock is taken,
# and key add / key passwd blocked reading their new passphrase from a FIFO (after taking
# their lock: shared for add, exclusive for passwd).
#
# Asserts:
#   - a shared holder (backup create): its lock file says exclusive false, its command, pid
#     and host; backup create, restore (exact), test, check, prune --dry-run and key add
#     run beside it (exit 0); prune, delete, key remove and key passwd exit 5 with
#     "locked (shared) by 'backup create' (pid P on HOST, user U) since T", T the lock's
#     time, and change nothing
#   - --lock-wait=2s: prune still exits 5, after waiting at least 2 s; with --lock-wait=60s
#     it waits (still running while the holder is stopped), and once the backup finishes it
#     runs (exit 0) and sees the backup's snapshot (if --lock-wait is refused: a failure,
#     reported at the end; the waits are then checked with [core] lock-wait)
#   - an exclusive holder (key passwd): backup create, restore, test, check and prune exit 5
#     naming "exclusively by 'key passwd'" and its pid; unlock keeps its lock (stale false);
#     released, it exits 0 and leaves no lock file
#   - locks of processes killed with kill -9 (a backup and a key passwd) and a damaged lock
#     file stay on disk but block nobody: prune and backup create exit 0 beside them
#   - unlock (needs no passphrase) with those three and one live lock: removes exactly the
#     three (stale true, removed true), keeps the live one; unlock --remove-all then removes
#     the live one too; the holder still finishes (exit 0)
#   - 30 times: a key add started while another process keeps probing the lock files (as
#     every starting drkit does) still gets its kernel lock
#   - at the end no lock file is left, check --read-data passes, every snapshot restores
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq flock hostname mkfifo
export TZ=UTC

R=$T/repo
SRC=$T/src
BIG=$T/big
KDF=(--kdf-ops 1 --kdf-mem 1MiB)
HOST=$(hostname)
init_repo "$R"
mkdir -p "$SRC/d" "$BIG" "$T/states"
for i in $(seq 1 30); do echo "small $i" >"$SRC/d/f$i"; done
head -c 2000000 /dev/urandom >"$SRC/d/mid.bin"
run_drkit 0 --repo "$R" backup create --json "$SRC"
FIRST=$(jq_field "$T/out" .name)
cp -a "$SRC" "$T/states/$FIRST"

# --- helpers ---------------------------------------------------------------------------------------
# lock_of PID: the lock file of process PID (empty if none)
lock_of() {
    local f
    for f in "$R"/locks/*; do
        [ -f "$f" ] || continue
        [ "$(jq -r .pid "$f" 2>/dev/null)" = "$1" ] && echo "$f" && return 0
    done
    return 0
}
# kernel_held FILE: someone holds a kernel lock on FILE (a shared probe, as drkit's; on a
# descriptor opened for reading: flock FILE would create FILE if it had just been removed)
kernel_held() {
    local rc=0
    flock -s -n -E 3 9 2>/dev/null 9<"$1" || rc=$?
    [ "$rc" -eq 3 ]
}
# has_held_lock PID: PID's lock file exists and its kernel lock is taken
has_held_lock() {
    local f
    f=$(lock_of "$1")
    [ -n "$f" ] && kernel_held "$f"
}
# wait_held PID WHAT [SECONDS]: wait (60 s by the clock, or SECONDS) until PID holds its lock
wait_held() {
    local end=$((SECONDS + ${3:-60}))
    until has_held_lock "$1"; do
        [ "$SECONDS" -lt "$end" ] || {
            cat "$T/$2.err" >&2 2>/dev/null || true
            fail "$2 (pid $1) never held a lock"
        }
        sleep 0.01
    done
}
# since_of FILE: the lock's time as drkit shows it (UTC here)
since_of() {
    date -u -d "$(jq -r .time "$1")" '+%Y-%m-%d %H:%M:%S'
}
# start_backup NAME: a backup create of the big tree (new data each time) in the background,
# stopped once it holds its lock; its pid in $bpid. Retries if it finished first.
start_backup() {
    local name=$1 try
    for try in 1 2 3; do
        rm -f "$BIG"/*.bin
        dd if=/dev/urandom of="$BIG/$name-$try.bin" bs=1M count=200 iflag=fullblock status=none
        "$DRKIT" --repo "$R" backup create --json "$BIG" >"$T/$name.out" 2>"$T/$name.err" &
        bpid=$!
        track_pid "$bpid"
        on_exit "kill -CONT $bpid 2>/dev/null"
        wait_held "$bpid" "$name"
        kill -STOP "$bpid"
        has_held_lock "$bpid" && return 0
        # it finished between the check and the stop
        kill -CONT "$bpid"
        wait "$bpid" || true
        echo "# $name finished before it could be stopped; again"
    done
    fail "a 200 MiB backup finished three times before it could be stopped"
}
# start_key SUB NAME [SECONDS]: drkit key SUB --file FIFO in the background: it takes its
# lock, then waits for the new passphrase; its pid in $kpid, the fifo $T/NAME.fifo
start_key() {
    local sub=$1 name=$2 secs=${3:-60}
    mkfifo "$T/$name.fifo"
    "$DRKIT" --repo "$R" key "$sub" --file "$T/$name.fifo" "${KDF[@]}" --json \
        >"$T/$name.out" 2>"$T/$name.err" &
    kpid=$!
    track_pid "$kpid"
    on_exit "kill -9 $kpid 2>/dev/null" # blocked in open(), it would wait for TERM in vain
    wait_held "$kpid" "$name" "$secs"
}
# feed NAME PASS: give the blocked key command its new passphrase
feed() {
    printf '%s\n' "$2" >"$T/$1.fifo"
}
# blocked WHO-REGEX PID LOCKFILE DRKIT-ARGS...: the command exits 5 and names the holder
blocked() {
    local who=$1 pid=$2 lf=$3
    shift 3
    run_drkit 5 "$@"
    assert_contains "$T/err" "locked $who by '[^']*' \(pid $pid on $HOST, user [^ )]+\) since $(since_of "$lf")"
    [ ! -s "$T/out" ] || fail "drkit $* printed on stdout while refused: $(cat "$T/out")"
}
snapshots_now() { snap_names "$R" | LC_ALL=C sort; }
keys_now() { find "$R/keys" -type f -printf '%f\n' | LC_ALL=C sort; }

# --- a shared lock: a running backup create --------------------------------------------------------
start_backup b1
LB=$(lock_of "$bpid")
assert_eq "$(jq -c '[.exclusive, .command, .pid, .hostname]' "$LB")" \
    "[false,\"backup create\",$bpid,\"$HOST\"]" "the running backup's lock"
[ "$(lock_files "$R")" -eq 1 ] || fail "test bug: other lock files: $(ls "$R/locks")"

echo "beside" >"$SRC/d/beside"
run_drkit 0 --repo "$R" backup create --json "$SRC"
BESIDE=$(jq_field "$T/out" .name)
cp -a "$SRC" "$T/states/$BESIDE"
run_drkit 0 --repo "$R" backup restore "$FIRST" --target "$T/res"
tree_equal "$T/states/$FIRST" "$T/res$SRC"
rm -rf "$T/res"
run_drkit 0 --repo "$R" backup test "$BESIDE"
run_drkit 0 --repo "$R" backup check
assert_contains "$T/out" '^no problems'
run_drkit 0 --repo "$R" backup prune --keep-last 1 --dry-run
DRKIT_NEW_PASSWORD=beside-key run_drkit 0 --repo "$R" key add "${KDF[@]}" --json
KB=$(jq_field "$T/out" .added)
[ "$(lock_files "$R")" -eq 1 ] || fail "the shared commands left lock files: $(ls "$R/locks")"
ok "beside a running backup (shared lock, pid $bpid): backup create, restore, test, check, prune --dry-run and key add run"

snapshots_now >"$T/snaps.before"
keys_now >"$T/keys.before"
blocked '\(shared\)' "$bpid" "$LB" --repo "$R" backup prune --keep-last 1
blocked '\(shared\)' "$bpid" "$LB" --repo "$R" backup delete "$FIRST"
blocked '\(shared\)' "$bpid" "$LB" --repo "$R" key remove "$KB"
assert_contains "$T/err" "by 'backup create'"
echo "other" >"$T/other.pass"
blocked '\(shared\)' "$bpid" "$LB" --repo "$R" key passwd --file "$T/other.pass" "${KDF[@]}"
snapshots_now | cmp -s - "$T/snaps.before" || fail "a refused command changed the snapshots"
keys_now | cmp -s - "$T/keys.before" || fail "a refused command changed the keys"
ok "prune, delete, key remove, key passwd exit 5: 'locked (shared) by 'backup create' (pid $bpid on $HOST, user ...) since $(since_of "$LB")'; nothing changed"

# --lock-wait: gives up after the wait, or runs once the holder is gone. If the option is
# refused, that is reported and the same waits are checked through [core] lock-wait.
rc=$(rc_of "$DRKIT" --repo "$R" --lock-wait=2s backup list)
if [ "$rc" -eq 0 ]; then
    W2=(--lock-wait=2s)
    W60=(--lock-wait=60s)
else
    soft_fail "the common option --lock-wait is refused (exit $rc: $(head -1 "$T/err"))"
    printf '[core]\n    lock-wait = 2s\n' >"$T/w2.conf"
    printf '[core]\n    lock-wait = 60s\n' >"$T/w60.conf"
    W2=(--config "$T/w2.conf")
    W60=(--config "$T/w60.conf")
fi
t0=$(date +%s%N)
blocked '\(shared\)' "$bpid" "$LB" --repo "$R" "${W2[@]}" backup prune --keep-last 1
waited=$((($(date +%s%N) - t0) / 1000000))
[ "$waited" -ge 2000 ] || fail "prune ${W2[*]} gave up after $waited ms"
"$DRKIT" --repo "$R" "${W60[@]}" backup prune --keep-last 100 --json >"$T/pw.out" 2>"$T/pw.err" &
pw=$!
track_pid "$pw"
sleep 1
kill -0 "$pw" 2>/dev/null || {
    cat "$T/pw.err" >&2
    fail "prune --lock-wait=60s did not wait for the stopped backup"
}
kill -CONT "$bpid"
rc=0
wait "$bpid" || rc=$?
[ "$rc" -eq 0 ] || {
    cat "$T/b1.err" >&2
    fail "the stopped and continued backup exited $rc"
}
B1=$(jq_field "$T/b1.out" .name)
mv "$BIG" "$T/states/$B1" # the next backups of the big tree write new data anyway
mkdir "$BIG"
rc=0
wait "$pw" || rc=$?
[ "$rc" -eq 0 ] || {
    cat "$T/pw.err" >&2
    fail "prune --lock-wait=60s exited $rc after the backup finished"
}
json_valid "$T/pw.out"
assert_eq "$(jq --arg n "$B1" '[.snapshots[] | select(.name == $n)] | length' "$T/pw.out")" 1 \
    "the waiting prune sees the backup's snapshot"
[ "$(lock_files "$R")" -eq 0 ] || fail "lock files left: $(ls "$R/locks")"
ok "${W2[*]} gives up after $waited ms (exit 5); ${W60[*]} waits, then runs after the backup ($B1)"

# --- an exclusive lock: key passwd --------------------------------------------------------------------
start_key passwd kp
LK=$(lock_of "$kpid")
assert_eq "$(jq -c '[.exclusive, .command, .pid]' "$LK")" "[true,\"key passwd\",$kpid]" \
    "the lock of key passwd"
snapshots_now >"$T/snaps.before"
blocked exclusively "$kpid" "$LK" --repo "$R" backup create "$SRC"
assert_contains "$T/err" "by 'key passwd'"
blocked exclusively "$kpid" "$LK" --repo "$R" backup restore "$FIRST" --target "$T/res"
[ ! -e "$T/res" ] || fail "a refused restore wrote $T/res"
blocked exclusively "$kpid" "$LK" --repo "$R" backup test "$FIRST"
blocked exclusively "$kpid" "$LK" --repo "$R" backup check
blocked exclusively "$kpid" "$LK" --repo "$R" backup prune --keep-last 1
snapshots_now | cmp -s - "$T/snaps.before" || fail "a refused command changed the snapshots"
run_drkit 0 --repo "$R" unlock --json
json_valid "$T/out"
assert_eq "$(jq -c '[.removed, (.locks | length), .locks[0].stale, .locks[0].removed, .locks[0].pid]' "$T/out")" \
    "[0,1,false,false,$kpid]" "unlock --json beside a live exclusive lock: [removed, locks, stale, removed, pid]"
[ -f "$LK" ] || fail "unlock removed the live lock"
# backup copy into the locked repository waits for its lock too
init_repo "$T/other"
run_drkit 0 --repo "$T/other" backup create "$SRC"
DRKIT_TO_PASSWORD=$DRKIT_PASSWORD "$DRKIT" --repo "$T/other" "${W60[@]}" backup copy --all \
    --to-repo="$R" >"$T/cw.out" 2>"$T/cw.err" &
cw=$!
track_pid "$cw"
sleep 1
kill -0 "$cw" 2>/dev/null || {
    cat "$T/cw.err" >&2
    fail "backup copy ${W60[*]} did not wait for the target's exclusive lock"
}
feed kp "passwd-new"
rc=0
wait "$kpid" || rc=$?
[ "$rc" -eq 0 ] || {
    cat "$T/kp.err" >&2
    fail "key passwd exited $rc"
}
rc=0
wait "$cw" || rc=$?
[ "$rc" -eq 0 ] || {
    cat "$T/cw.err" >&2
    fail "backup copy ${W60[*]} exited $rc once the target's lock was free"
}
[ "$(lock_files "$R")" -eq 0 ] || fail "lock files left after key passwd: $(ls "$R/locks")"
export DRKIT_PASSWORD=passwd-new
ok "beside key passwd (exclusive, pid $kpid): backup create, restore, test, check, prune exit 5 naming it; unlock keeps its lock; backup copy into it waits (${W60[*]})"

# --- stale locks: kill -9 ------------------------------------------------------------------------------
start_backup b2
dead_b=$bpid
LDB=$(lock_of "$dead_b")
kill -9 "$dead_b"
wait "$dead_b" 2>/dev/null || true
start_key passwd kd
dead_k=$kpid
LDK=$(lock_of "$dead_k")
kill -9 "$dead_k"
wait "$dead_k" 2>/dev/null || true
DAMAGED=$R/locks/$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "this is no lock {" >"$DAMAGED"
for f in "$LDB" "$LDK" "$DAMAGED"; do
    [ -f "$f" ] || fail "test bug: the lock file $f is gone"
    ! kernel_held "$f" || fail "test bug: $f is still held"
done
ok "a killed backup (pid $dead_b) and key passwd (pid $dead_k) left their lock files; with a damaged one, 3 stale locks"

run_drkit 0 --repo "$R" backup prune --keep-last 100
run_drkit 0 --repo "$R" backup create --json "$SRC"
AFTER=$(jq_field "$T/out" .name)
cp -a "$SRC" "$T/states/$AFTER"
run_drkit 0 --repo "$R" backup restore "$AFTER" --target "$T/res"
tree_equal "$SRC" "$T/res$SRC"
rm -rf "$T/res"
ok "stale locks (a killed exclusive one among them) block neither prune nor backup create"

# --- unlock: stale only, then --remove-all ------------------------------------------------------------
start_key add ka
LA=$(lock_of "$kpid")
[ "$(lock_files "$R")" -eq 4 ] || fail "expected 4 lock files, found: $(ls "$R/locks")"
DRKIT_PASSWORD=not-needed run_drkit 0 --repo "$R" unlock --json
json_valid "$T/out"
assert_eq "$(jq .removed "$T/out")" 3 "locks unlock removed"
assert_eq "$(jq -c '[.locks[] | select(.removed) | .stale] | unique' "$T/out")" "[true]" \
    "stale flags of the removed locks"
assert_eq "$(jq -c --arg p "$kpid" '[.locks[] | select(.removed | not) | [.pid, .stale, .command, .exclusive]]' "$T/out")" \
    "[[$kpid,false,\"key add\",false]]" "the lock unlock kept: [pid, stale, command, exclusive]"
assert_eq "$(jq -c '[.locks[] | select(.removed) | .pid] | sort' "$T/out")" \
    "$(printf '%s\n' "$dead_b" "$dead_k" 0 | sort -n | jq -sc .)" "pids of the removed locks"
for f in "$LDB" "$LDK" "$DAMAGED"; do [ ! -e "$f" ] || fail "unlock left the stale lock $f"; done
[ -f "$LA" ] || fail "unlock removed the live lock of key add"
run_drkit 0 --repo "$R" unlock
assert_contains "$T/out" "^kept lock $(basename "$LA" | cut -c1-8) of 'key add' \\(pid $kpid on $HOST\\)"
assert_contains "$T/out" '^0 lock\(s\) removed, 1 kept'
ok "unlock removes the 3 stale locks (no passphrase needed) and keeps the live one of key add (pid $kpid)"

run_drkit 0 --repo "$R" unlock --remove-all --json
json_valid "$T/out"
assert_eq "$(jq -c '[.removed, .locks[0].pid, .locks[0].stale, .locks[0].removed]' "$T/out")" \
    "[1,$kpid,false,true]" "unlock --remove-all: [removed, pid, stale, removed]"
[ "$(lock_files "$R")" -eq 0 ] || fail "unlock --remove-all left: $(ls "$R/locks")"
feed ka "added-late"
rc=0
wait "$kpid" || rc=$?
[ "$rc" -eq 0 ] || {
    cat "$T/ka.err" >&2
    fail "key add exited $rc after its lock was removed"
}
DRKIT_PASSWORD=added-late run_drkit 0 --repo "$R" backup list
ok "unlock --remove-all removes the live lock too; its holder still finishes"

# --- a live lock keeps its kernel lock while others look at it --------------------------------------
# Every drkit that starts probes the kernel lock of each lock file. A probe that comes while a
# holder has just written its lock file, before it took its kernel lock, must not leave that
# lock without one (it would look stale to everyone from then on).
probe_loop() {
    set +e
    while :; do
        for f in "$R"/locks/*; do
            # hold the probe a few ms: a prober that is descheduled at the wrong moment
            { flock -s -n 9 && sleep 0.005; } 2>/dev/null 9<"$f"
        done
    done
}
lost=0
for i in $(seq 1 30); do
    probe_loop &
    prober=$!
    track_pid "$prober"
    start_key add "probe$i" 10 # a lock that lost its kernel lock never gets it back
    kill "$prober"
    wait "$prober" 2>/dev/null || true
    feed "probe$i" "probe-$i"
    wait "$kpid" || fail "key add $i failed: $(cat "$T/probe$i.err")"
done
[ "$(lock_files "$R")" -eq 0 ] || fail "lock files left: $(ls "$R/locks")"
ok "30 times a lock taken while another process probed lock files kept its kernel lock"

# --- the end ---------------------------------------------------------------------------------------
[ "$(lock_files "$R")" -eq 0 ] || fail "lock files left: $(ls "$R/locks")"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
n=0
for s in $(snap_names "$R"); do
    [ -d "$T/states/$s" ] || continue # the killed backup's, if it got that far: never written
    rm -rf "$T/res"
    run_drkit 0 --repo "$R" backup restore "$s" --target "$T/res"
    src=$(jq -r --arg n "$s" '.[] | select(.name == $n) | .paths[0]' <("$DRKIT" --repo "$R" backup list --json))
    tree_equal "$T/states/$s" "$T/res$src"
    n=$((n + 1))
done
rm -rf "$T/res"
[ "$n" -eq 4 ] || fail "restored $n snapshots, expected 4 ($(snap_names "$R" | tr '\n' ' '))"
ok "no lock file left; check --read-data passes; all $n snapshots restore exactly"
finish_soft_fails
