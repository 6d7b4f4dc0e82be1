#!/usr/bin/env bash
# crash.sh: kill -9 at any moment never damages the repository or an earlier snapshot.
#
# 24 rounds: change the source (a new 100-200 MiB random file, rewritten small files, a
# renamed directory), save a hardlinked copy of its state, start `backup create --type=full`,
# kill -9 it after a random 0.05 s .. the time a full backup takes (0.3 s .. 1.5 s), then:
#   - backup check exits 0 and reports no problems (notes about unindexed packs are fine)
#   - backup list exits 0 (no half-written snapshot is visible)
#   - the next backup (not killed) succeeds
# At least 14 of the kills must land while the backup runs. At the end backup check --read-data
# exits 0 and a sample of the snapshots (every 4th round, the first and the last two) restores
# exactly (treecmp against the saved state of the source).
# Then restore is killed: once into an empty directory, and three times while overwriting an
# older restore (which replaces files through temporary names); each time the next
# `restore --delta` (with --delete where an older restore was there first) into the same
# directory exits 0 and leaves a tree identical to the snapshot (no partial files, no
# temporary files).
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq

SRC=$T/src
R=$T/repo
ROUNDS=24
init_repo "$R"

mkdir -p "$SRC/base" "$SRC/new" "$T/states"
for i in $(seq 1 8); do
    head -c $((32 * 1048576 + i * 4099)) /dev/urandom >"$SRC/base/blob$i"
done
mkdir "$SRC/small"
perl -e '
    my ($dir) = @ARGV;
    open(my $r, "<", "/dev/urandom") or die "urandom: $!";
    for my $d (0 .. 14) {
        mkdir "$dir/d$d" or die "$dir/d$d: $!";
        for my $f (0 .. 99) {
            read($r, my $buf, 50 + int(rand(4000)));
            open(my $o, ">", "$dir/d$d/f$f") or die "$dir/d$d/f$f: $!";
            print $o $buf;
            close $o or die;
        }
    }' "$SRC/small"
dd if=/dev/urandom of="$SRC/new/r0" bs=1M count=150 iflag=fullblock status=none

# snapshot names, one a line
snap_names() {
    run_drkit 0 --repo "$R" backup list --json
    jq -r '.[].name' "$T/out"
}

# rand_ms LO HI
rand_ms() {
    echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
}

declare -A state_of # snapshot name -> round whose saved state it holds

t0=$(date +%s%N)
run_drkit 0 --repo "$R" backup create --type=full "$SRC"
dur_ms=$((($(date +%s%N) - t0) / 1000000))
cp -al "$SRC" "$T/states/0"
state_of[$(snap_names | tail -1)]=0
hi_ms=$dur_ms
[ "$hi_ms" -le 1500 ] || hi_ms=1500
[ "$hi_ms" -ge 300 ] || hi_ms=300
echo "# a full backup takes ${dur_ms} ms; kills land 50..${hi_ms} ms after the start"
ok "first backup"

keep_state() { # round
    [ "$1" -le 1 ] || [ $(($1 % 4)) -eq 0 ] || [ "$1" -ge $((ROUNDS - 1)) ]
}

hits=0
for round in $(seq 1 $ROUNDS); do
    # --- change the source ---------------------------------------------------------------------
    dd if=/dev/urandom of="$SRC/new/r$round" bs=1M count=$((100 + RANDOM % 101)) iflag=fullblock \
        status=none
    rm -f "$SRC/new/r$((round - 2))"
    d=$((round % 15))
    for f in $(seq 0 7); do
        n=$(((round * 13 + f * 7) % 100))
        head -c $((50 + RANDOM % 4000)) /dev/urandom >"$SRC/small/d$d/f$n.tmp"
        mv "$SRC/small/d$d/f$n.tmp" "$SRC/small/d$d/f$n"
    done
    if [ $((round % 3)) -eq 0 ]; then
        mv "$SRC/small/d$(((round + 5) % 15))" "$SRC/small/moved-$round"
        mkdir "$SRC/small/d$(((round + 5) % 15))"
    fi
    cp -al "$SRC" "$T/states/$round"
    snap_names >"$T/before"

    # --- kill a backup -------------------------------------------------------------------------
    ms=$(rand_ms 50 "$hi_ms")
    "$DRKIT" --repo "$R" backup create --type=full "$SRC" >"$T/killed.out" 2>&1 &
    pid=$!
    track_pid "$pid"
    sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
    if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
        hit=1
    else
        hit=0
    fi
    rc=0
    wait "$pid" || rc=$?
    if [ "$hit" -eq 1 ] && [ "$rc" -eq 137 ]; then
        hits=$((hits + 1))
        what="killed after $ms ms"
    elif [ "$rc" -eq 0 ]; then
        what="finished before the kill at $ms ms"
        # this backup took less than $ms ms: aim the next kills earlier (adapts to the speed
        # of the machine and of drkit, so most kills land while a backup runs)
        new_hi=$((ms * 4 / 5))
        if [ "$new_hi" -lt "$hi_ms" ] && [ "$new_hi" -ge 60 ]; then hi_ms=$new_hi; fi
    else
        cat "$T/killed.out" >&2
        fail "round $round: the backup exited $rc before it was killed"
    fi

    snap_names >"$T/after"
    while IFS= read -r s; do
        state_of[$s]=$round
    done < <(LC_ALL=C comm -13 <(LC_ALL=C sort "$T/before") <(LC_ALL=C sort "$T/after"))

    # --- the repository is intact --------------------------------------------------------------
    rc=$(rc_of "$DRKIT" --repo "$R" backup check)
    if [ "$rc" -ne 0 ] || ! grep -q '^no problems' "$T/out"; then
        cat "$T/out" "$T/err" >&2
        fail "round $round ($what): backup check exited $rc"
    fi
    notes=$(grep -c '^note:' "$T/out" || true)

    # --- the next backup works -----------------------------------------------------------------
    run_drkit 0 --repo "$R" backup create "$SRC"
    s=$(snap_names | tail -1)
    state_of[$s]=$round
    ok "round $round: backup $what; check passes ($notes note(s)); the next backup succeeds"
    keep_state "$round" || rm -rf "$T/states/$round"
done

echo "# $hits of $ROUNDS kills landed while the backup ran"
[ "$hits" -ge 14 ] || fail "only $hits of $ROUNDS kills hit a running backup: the test did not exercise crashes"

run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
ok "backup check --read-data passes after $ROUNDS crashes"

# --- older snapshots restore exactly ---------------------------------------------------------------
checked=0
for s in "${!state_of[@]}"; do
    st=${state_of[$s]}
    [ -d "$T/states/$st" ] || continue
    rm -rf "$T/res"
    run_drkit 0 --repo "$R" backup restore "$s" --target "$T/res"
    tree_equal "$T/states/$st" "$T/res$SRC"
    checked=$((checked + 1))
done
rm -rf "$T/res"
[ "$checked" -ge 6 ] || fail "only $checked snapshots were compared"
ok "$checked snapshots (rounds 0, 1, every 4th and the last two) restore exactly"

# --- kill -9 during restore --------------------------------------------------------------------
latest=$(snap_names | tail -1)
lst=${state_of[$latest]}
t0=$(date +%s%N)
run_drkit 0 --repo "$R" backup restore "$latest" --target "$T/timing"
rdur=$((($(date +%s%N) - t0) / 1000000))
rm -rf "$T/timing"
rhi=$((rdur * 8 / 10))
[ "$rhi" -ge 60 ] || rhi=60
echo "# a restore takes $rdur ms"

# kill_restore SNAPSHOT DIR: start a restore, kill -9 it after a random time; echo hit or miss
kill_restore() {
    local pid ms rc=0
    ms=$(rand_ms 30 "$rhi")
    "$DRKIT" --repo "$R" backup restore "$1" --target "$2" >/dev/null 2>&1 &
    pid=$!
    track_pid "$pid"
    sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
    if kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null; then
        wait "$pid" || rc=$?
        [ "$rc" -eq 137 ] && echo "hit after $ms ms" && return 0
    fi
    wait "$pid" 2>/dev/null || true
    echo "miss"
}

how=$(kill_restore "$latest" "$T/rk")
run_drkit 0 --repo "$R" backup restore "$latest" --target "$T/rk" --delta
tree_equal "$T/states/$lst" "$T/rk$SRC"
ok "restore into an empty dir killed ($how); restore --delta completes and is exact"

older=""
for s in "${!state_of[@]}"; do
    st=${state_of[$s]}
    if [ -d "$T/states/$st" ] && [ "$st" -lt "$lst" ] && [ "$st" -ge 1 ]; then
        older=$s
    fi
done
[ -n "$older" ] || fail "no older snapshot with a saved state"
for try in 1 2 3; do
    rm -rf "$T/rk2"
    run_drkit 0 --repo "$R" backup restore "$older" --target "$T/rk2"
    how=$(kill_restore "$latest" "$T/rk2")
    run_drkit 0 --repo "$R" backup restore "$latest" --target "$T/rk2" --delta --delete
    tree_equal "$T/states/$lst" "$T/rk2$SRC"
    leftover=$(find "$T/rk2" -name '.drkit-restore-*' | head -3)
    [ -z "$leftover" ] || fail "temporary files of the killed restore are left behind: $leftover"
    ok "restore over an older restore killed ($how, try $try); restore --delta --delete is exact"
done
