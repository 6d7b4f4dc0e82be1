#!/usr/bin/env bash
# prune_backup.sh: a backup and a prune started together serialize on the repository lock.
#
# Asserts:
#   - --lock-wait=60s (a common option) is accepted
#   - 15 rounds: the source changes (a new 24 MiB random file, an older one deleted, small files
#     rewritten); `backup create` (every other round with --time in the past, so that a prune
#     running after it drops it) and `backup prune --keep-last 4` start at the same moment,
#     both waiting up to 60 s for the lock; both exit 0; the backup's snapshot is listed
#     unless the prune's --json output lists it as removed (and every snapshot the prune
#     kept is listed); backup check passes; the new snapshot and one other restore exactly
#   - without waiting: a backup and a prune started together (retried until they overlap):
#     one exits 5 naming the other's command and pid (either order); a prune started while a
#     backup holds its lock exits 5 naming 'backup create' and its pid; a backup started
#     while a (repacking) prune holds its lock exits 5 naming 'backup prune' and its pid; the
#     lock holder still exits 0 (the holders are stopped with SIGSTOP while they hold the
#     lock, then continued: no race with their running time)
# If --lock-wait is refused the rounds use [core] lock-wait = 60s instead, and the test fails
# at the end.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq shuf flock

SRC=$T/src
R=$T/repo
ROUNDS=15
init_repo "$R"
mkdir -p "$SRC/small" "$T/states"
for i in $(seq 1 50); do
    head -c $((200 + RANDOM % 5000)) /dev/urandom >"$SRC/small/s$i"
done

# --- --lock-wait ------------------------------------------------------------------------------------
rc=$(rc_of "$DRKIT" --lock-wait=60s --repo "$R" backup check)
if [ "$rc" -eq 0 ]; then
    LW=(--lock-wait=60s)
    ok "--lock-wait=60s is accepted"
else
    soft_fail "'drkit --lock-wait=60s --repo R backup check' exits $rc: $(head -1 "$T/err")"
    printf '[core]\n    lock-wait = 60s\n' >"$T/lw.conf"
    LW=(--config "$T/lw.conf")
    echo "# the rounds wait through [core] lock-wait = 60s instead"
fi

# start_bg NAME ARGS...: run drkit in the background, outputs in $T/NAME.out/.err
start_bg() {
    local name=$1
    shift
    "$DRKIT" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    eval "pid_$name=$!"
    track_pid "$!"
}
# reap NAME: wait for it; its exit code goes to rc_NAME
reap() {
    local pid rc=0
    eval "pid=\$pid_$1"
    wait "$pid" || rc=$?
    eval "rc_$1=$rc"
}
restore_exact() { # NAME
    [ -d "$T/states/$1" ] || fail "snapshot $1 is listed, but this test never made it"
    rm -rf "$T/res"
    run_drkit 0 --repo "$R" backup restore "$1" --target "$T/res"
    tree_equal "$T/states/$1" "$T/res$SRC"
    rm -rf "$T/res"
}
change_source() { # ROUND
    head -c $((24 * 1048576)) /dev/urandom >"$SRC/r$1.bin"
    rm -f "$SRC/r$(($1 - 2)).bin"
    for f in $(shuf -i 1-50 -n 3); do
        head -c $((200 + RANDOM % 5000)) /dev/urandom >"$SRC/small/s$f.new"
        mv "$SRC/small/s$f.new" "$SRC/small/s$f"
    done
}

run_drkit 0 --repo "$R" backup create --json "$SRC"
cp -al "$SRC" "$T/states/$(jq_field "$T/out" .name)"

backup_first=0
prune_first=0
dropped=0
for round in $(seq 1 $ROUNDS); do
    change_source "$round"
    if [ $((round % 2)) -eq 1 ]; then
        TIME=(--time="2026-01-01 00:$(printf %02d "$round")")
    else
        TIME=()
    fi
    if [ $((RANDOM % 2)) -eq 0 ]; then
        start_bg b "${LW[@]}" --repo "$R" backup create --json "${TIME[@]}" "$SRC"
        msleep "$(rand_between 0 100)"
        start_bg p "${LW[@]}" --repo "$R" backup prune --keep-last 4 --json
    else
        start_bg p "${LW[@]}" --repo "$R" backup prune --keep-last 4 --json
        msleep "$(rand_between 0 100)"
        start_bg b "${LW[@]}" --repo "$R" backup create --json "${TIME[@]}" "$SRC"
    fi
    reap b
    reap p
    brc=$rc_b
    prc=$rc_p
    if [ "$brc" -ne 0 ] || [ "$prc" -ne 0 ]; then
        cat "$T/b.err" "$T/p.err" >&2
        fail "round $round: backup exited $brc, prune exited $prc (both should wait and succeed)"
    fi
    json_valid "$T/b.out"
    json_valid "$T/p.out"
    name=$(jq_field "$T/b.out" .name)
    cp -al "$SRC" "$T/states/$name"
    in_prune=$(jq --arg n "$name" '[.snapshots[] | select(.name == $n)] | length' "$T/p.out")
    removed=$(jq --arg n "$name" '[.snapshots[] | select(.name == $n and (.keep | not))] | length' "$T/p.out")
    snap_names "$R" >"$T/listed"
    if [ "$removed" -eq 1 ]; then
        ! grep -qx "$name" "$T/listed" || fail "round $round: prune lists $name as removed, but it is there"
        dropped=$((dropped + 1))
        how="the backup ran first, the prune dropped its (old) snapshot"
    else
        grep -qx "$name" "$T/listed" || fail "round $round: the backup's snapshot $name is gone, and prune does not list it as removed"
        if [ "$in_prune" -eq 1 ]; then how="the backup ran first"; else how="the prune ran first"; fi
    fi
    if [ "$in_prune" -eq 1 ]; then backup_first=$((backup_first + 1)); else prune_first=$((prune_first + 1)); fi
    for s in $(jq -r '.snapshots[] | select(.keep) | .name' "$T/p.out"); do
        grep -qx "$s" "$T/listed" || fail "round $round: $s, kept by prune, is not listed"
    done
    rc=$(rc_of "$DRKIT" --repo "$R" backup check --json)
    if [ "$rc" -ne 0 ] || [ "$(jq -r .ok "$T/out")" != true ]; then
        cat "$T/out" "$T/err" >&2
        fail "round $round: backup check exited $rc"
    fi
    other=$(grep -vx "$name" "$T/listed" | shuf -n 1)
    ! grep -qx "$name" "$T/listed" || restore_exact "$name"
    [ -z "$other" ] || restore_exact "$other"
    ok "round $round: backup and prune both exit 0 ($how); check passes; restores exact"
done
echo "# the backup got the lock first in $backup_first rounds ($dropped snapshots dropped), the prune in $prune_first"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
while read -r s; do restore_exact "$s"; done < <(snap_names "$R")
ok "after $ROUNDS rounds check --read-data passes and all $(snap_names "$R" | wc -l) snapshots restore exactly"

# --- without waiting: one of them exits 5 --------------------------------------------------------
# names_other ERRFILE COMMAND PID: the lock error names the holder's command and pid
names_other() {
    grep -q "locked" "$1" && grep -q "'$2'" "$1" && grep -q "pid $3 " "$1"
}
dd if=/dev/urandom of="$T/bigsrc.bin" bs=1M count=160 iflag=fullblock status=none
mkdir -p "$T/big"
seen=""
for attempt in 1 2 3 4 5 6; do
    cp "$T/bigsrc.bin" "$T/big/b$attempt.bin" # new to the repository each time
    printf 'attempt %s\n' "$attempt" >>"$T/big/b$attempt.bin"
    rm -f "$T/big/b$((attempt - 1)).bin"
    start_bg b --repo "$R" backup create "$T/big"
    start_bg p --repo "$R" backup prune --keep-last 4
    reap b
    reap p
    brc=$rc_b
    prc=$rc_p
    case "$brc $prc" in
    "0 0") continue ;; # they did not overlap
    "0 5")
        names_other "$T/p.err" "backup create" "$pid_b" ||
            { cat "$T/p.err" >&2; fail "the refused prune does not name 'backup create' and pid $pid_b"; }
        seen="the prune exits 5 naming 'backup create' pid $pid_b"
        ;;
    "5 0")
        names_other "$T/b.err" "backup prune" "$pid_p" ||
            { cat "$T/b.err" >&2; fail "the refused backup does not name 'backup prune' and pid $pid_p"; }
        seen="the backup exits 5 naming 'backup prune' pid $pid_p"
        ;;
    "5 5")
        names_other "$T/p.err" "backup create" "$pid_b" && names_other "$T/b.err" "backup prune" "$pid_p" ||
            { cat "$T/b.err" "$T/p.err" >&2; fail "both refused; a message does not name the other"; }
        seen="both exit 5, each naming the other"
        echo "# note: both refused each other (each saw the other's lock file)"
        ;;
    *)
        cat "$T/b.err" "$T/p.err" >&2
        fail "a backup and a prune without --lock-wait exited $brc and $prc"
        ;;
    esac
    break
done
[ -n "$seen" ] || fail "a backup and a prune never overlapped in 6 attempts"
ok "started together without waiting: $seen (attempt $attempt)"

# a prune while a backup holds its lock
# has_lock: a lock file whose holder has taken its kernel lock (the lock is fully in place)
has_lock() {
    local f rc
    for f in "$R"/locks/*; do
        # a shared probe as drkit's, on a descriptor (flock FILE would create a FILE just removed)
        rc=0
        flock -s -n -E 3 9 2>/dev/null 9<"$f" || rc=$?
        [ "$rc" -eq 3 ] && return 0
    done
    return 1
}
# hold PID WHAT: once PID holds its lock, stop it (SIGSTOP) so that it keeps holding it for as
# long as the test needs, whatever the machine's speed; fail if it finished first
hold() {
    wait_until 60 has_lock || fail "the $2 never took its lock"
    kill -STOP "$1" 2>/dev/null || fail "the $2 finished before it could be stopped"
    on_exit "kill -CONT $1 2>/dev/null"
    has_lock || fail "the $2 released its lock before it could be stopped"
}
rm -f "$T/big/"*.bin
cp "$T/bigsrc.bin" "$T/big/c.bin"
echo c >>"$T/big/c.bin"
start_bg b --repo "$R" backup create "$T/big"
hold "$pid_b" backup
run_drkit 5 --repo "$R" backup prune --keep-last 4
names_other "$T/err" "backup create" "$pid_b" || { cat "$T/err" >&2; fail "the prune's error does not name the backup"; }
kill -CONT "$pid_b"
reap b
assert_eq "$rc_b" 0 "the backup that held the lock"
ok "a prune during a backup exits 5 naming 'backup create' (pid $pid_b); the backup succeeds"

# a backup while a long prune holds its lock: a prune that rewrites ~150 MiB
rm -f "$T/big/"*.bin
for i in $(seq 1 64); do
    head -c $((2500 * 1024)) /dev/urandom >"$T/big/m$i.bin"
done
run_drkit 0 --repo "$R" backup create --json "$T/big"
full=$(jq_field "$T/out" .name)
rm -f "$T/big/m"*[048].bin
run_drkit 0 --repo "$R" backup create "$T/big"
run_drkit 0 --repo "$R" backup delete "$full" --no-prune
start_bg p --repo "$R" backup prune --repack-threshold 0 --json
hold "$pid_p" prune
run_drkit 5 --repo "$R" backup create "$SRC"
names_other "$T/err" "backup prune" "$pid_p" || { cat "$T/err" >&2; fail "the backup's error does not name the prune"; }
kill -CONT "$pid_p"
reap p
assert_eq "$rc_p" 0 "the prune that held the lock"
json_valid "$T/p.out"
[ "$(jq_field "$T/p.out" .prune.packs_repacked)" -ge 1 ] || fail "test bug: the prune repacked nothing"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
ok "a backup during a prune exits 5 naming 'backup prune' (pid $pid_p); the prune succeeds; check --read-data clean"
finish_soft_fails
