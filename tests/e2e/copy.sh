#!/usr/bin/env bash
# copy.sh: backup copy replicates snapshots into another repository (other passphrase, other
# keys) exactly, incrementally, and survives being killed.
#
# Asserts:
#   - copy --all --to=offsite (a [repository "offsite"] with its own password-file): the
#     target lists the same snapshots (name, time, type, tags, host, paths); each restores
#     identically to the source's and to the saved source tree
#   - a second copy --all copies nothing: --json copied 0, blobs_read 0, bytes_added 0, and
#     the target's size is unchanged
#   - after a new backup (1 MiB changed in a 40 MiB tree) copy reads only the new data
#     (bytes_read < 3 MiB, blobs_read small) and the new snapshot restores identically
#   - --to-repo with $DRKIT_TO_PASSWORD works too
#   - a copy of a ~300 MiB snapshot killed (kill -9) after its first pack reached the target,
#     after a random 2..5 packs, and after its first checkpoint (a map file in the target):
#     after each the target passes check and lacks the snapshot; the next copy resumes (reads
#     at most 200 of the 300 MiB) and completes, every snapshot restores identically from the
#     target, its check --read-data passes, and a further copy transfers nothing
#   - a target that has another snapshot of the same name: copy fails (not 0), names the
#     snapshot, and leaves the target's snapshot as it was
#   - a wrong target passphrase: exit 1, "wrong passphrase"
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq
export TZ=UTC

SRC=$T/src
S=$T/source
O=$T/offsite
init_repo "$S"
echo "offsite-passphrase" >"$T/offsite.pass"
DRKIT_PASSWORD=offsite-passphrase init_repo "$O"
cat >"$DRKIT_CONFIG" <<CONF
[repository "offsite"]
    url = $O
    password-file = $T/offsite.pass
    medium = s3
    offsite = true
CONF

mkdir -p "$SRC/data" "$SRC/etc" "$T/states"
for i in $(seq 1 8); do
    head -c $((5 * 1048576 + i * 1000)) /dev/urandom >"$SRC/data/d$i.bin"
done
for i in $(seq 1 100); do
    echo "setting $i = $RANDOM" >"$SRC/etc/c$i.conf"
done
ln -s etc/c1.conf "$SRC/link"

# snap ARGS...: back up $SRC into the source, save the tree's state under the snapshot's name
snap() {
    local name
    run_drkit 0 --repo "$S" backup create --json "$@" "$SRC"
    name=$(jq_field "$T/out" .name)
    cp -al "$SRC" "$T/states/$name"
    echo "$name"
}
snap --time="2026-10-01 02:00" >/dev/null
echo "changed" >"$SRC/etc/c7.conf.new" && mv "$SRC/etc/c7.conf.new" "$SRC/etc/c7.conf"
head -c 2000000 /dev/urandom >"$SRC/data/extra.bin"
snap --time="2026-10-02 02:00" >/dev/null
rm "$SRC/data/d3.bin"
snap --time="2026-10-02 14:00" --type=restore_point --tag=before-upgrade >/dev/null
echo "after" >"$SRC/etc/c9.conf.new" && mv "$SRC/etc/c9.conf.new" "$SRC/etc/c9.conf"
snap --time="2026-10-03 02:00" >/dev/null

# meta REPO [ARGS...]: what must survive a copy, one line per snapshot
meta() {
    local repo=$1
    shift
    "$DRKIT" "$@" --repo "$repo" backup list --json |
        jq -c '.[] | {name, time, type, tags, host, username, paths, partial}'
}
# same_restore NAME [TARGET-ARGS...]: the snapshot restores identically from both repositories
# (the source with its passphrase, the target with TARGET-ARGS and the caller's DRKIT_PASSWORD)
same_restore() {
    local name=$1
    shift
    rm -rf "$T/ra" "$T/rb"
    # the source's own passphrase (callers may set DRKIT_PASSWORD for the target)
    DRKIT_PASSWORD=test-passphrase run_drkit 0 --repo "$S" backup restore "$name" --target "$T/ra"
    run_drkit 0 "$@" backup restore "$name" --target "$T/rb"
    tree_equal "$T/ra" "$T/rb"
    tree_equal "$T/states/$name" "$T/rb$SRC"
    rm -rf "$T/ra" "$T/rb"
}

# --- copy --all -------------------------------------------------------------------------------------
run_drkit 0 --repo "$S" backup copy --all --to=offsite --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .copied)" 4 "snapshots copied"
first_read=$(jq_field "$T/out" .bytes_read)
meta "$S" >"$T/meta.s"
meta "$O" --storage=offsite >"$T/meta.o"
cmp -s "$T/meta.s" "$T/meta.o" || {
    diff "$T/meta.s" "$T/meta.o" >&2
    fail "the target's snapshots differ from the source's"
}
for name in $(snap_names "$S"); do
    same_restore "$name" --storage=offsite
done
: >"$T/empty.conf" # without it, --repo "$O" would pick up offsite's password-file
rc=$(rc_of env DRKIT_CONFIG="$T/empty.conf" "$DRKIT" --repo "$O" backup list)
assert_eq "$rc" 1 "the target opened with the source's passphrase"
assert_contains "$T/err" "wrong passphrase"
run_drkit 0 --storage=offsite backup check --read-data
assert_contains "$T/out" '^no problems'
ok "copy --all: 4 snapshots with the same names, times, types and tags; each restores identically; the target has its own passphrase"

# --- again: nothing to do ----------------------------------------------------------------------------
size=$(dir_size "$O")
run_drkit 0 --repo "$S" backup copy --all --to=offsite --json
json_valid "$T/out"
assert_eq "$(jq -c '[.copied, .skipped, .blobs_read, .blobs_added, .bytes_added]' "$T/out")" \
    "[0,4,0,0,0]" "[copied, skipped, blobs_read, blobs_added, bytes_added] of a second copy"
assert_eq "$(dir_size "$O")" "$size" "target bytes after a second copy"
ok "a second copy transfers nothing (blobs_read 0, bytes_added 0, target size unchanged)"

# --- a new backup: only the new data --------------------------------------------------------------------
head -c 1048576 /dev/urandom >"$SRC/data/new.bin"
new=$(snap --time="2026-10-04 02:00")
run_drkit 0 --repo "$S" backup copy --all --to=offsite --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .copied)" 1 "snapshots copied after a new backup"
br=$(jq_field "$T/out" .bytes_read)
bl=$(jq_field "$T/out" .blobs_read)
[ "$br" -lt $((3 * 1048576)) ] || fail "copy of a snapshot that adds 1 MiB read $br bytes (first copy: $first_read)"
[ "$bl" -le 20 ] || fail "copy of a snapshot that adds one file read $bl blobs"
same_restore "$new" --storage=offsite
ok "after a new backup copy reads only the new data ($bl blobs, $br bytes; the first copy read $first_read)"

# --- --to-repo with $DRKIT_TO_PASSWORD ----------------------------------------------------------------
O2=$T/second
DRKIT_PASSWORD=second-passphrase init_repo "$O2"
DRKIT_TO_PASSWORD=second-passphrase run_drkit 0 --repo "$S" backup copy "$new" --to-repo="$O2" --json
assert_eq "$(jq_field "$T/out" .copied)" 1 "copied with --to-repo"
DRKIT_PASSWORD=second-passphrase same_restore "$new" --repo "$O2"
rc=$(rc_of env DRKIT_TO_PASSWORD=wrong "$DRKIT" --repo "$S" backup copy "$new" --to-repo="$O2")
assert_eq "$rc" 1 "copy with a wrong target passphrase"
assert_contains "$T/err" "wrong passphrase"
ok "--to-repo with \$DRKIT_TO_PASSWORD copies; a wrong target passphrase exits 1"

# --- kill -9 during the copy of a big snapshot ------------------------------------------------------
# The kills are placed by what the copy has written (new packs, a new map file in the
# target), not by the clock, so each lands while the copy runs, on a slow machine too.
mkdir -p "$SRC/big"
for i in 1 2 3; do
    dd if=/dev/urandom of="$SRC/big/b$i.bin" bs=1M count=100 iflag=fullblock status=none
done
BIG_BYTES=$((300 * 1048576))
big=$(snap --time="2026-10-05 02:00")

# kill_copy WHAT N: start the copy, kill -9 it once N new packs (WHAT=packs) or N new map
# files (WHAT=maps) are in the target; print "killed" or "finished"
kill_copy() {
    local what=$1 n=$2 dir base pid rc=0
    dir=$O/data
    [ "$what" = packs ] || dir=$O/maps
    # only complete files: a dot-named one is a temporary file not yet renamed into place
    files_in() { { find "$dir" -type f ! -name '.*' 2>/dev/null || true; } | wc -l; }
    base=$(files_in)
    "$DRKIT" --repo "$S" backup copy "$big" --to=offsite >"$T/kc.out" 2>&1 &
    pid=$!
    track_pid "$pid"
    grown() { [ "$(files_in)" -ge $((base + n)) ] || ! kill -0 "$pid"; }
    wait_until 300 grown || true
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    if [ "$rc" -eq 137 ]; then echo "killed"; elif [ "$rc" -eq 0 ]; then echo "finished"; else
        cat "$T/kc.out" >&2
        echo "exit $rc"
    fi
}
# after_kill HOW: the target is sound and does not list the snapshot
after_kill() {
    [ "$1" = killed ] || fail "the copy was not killed ($1)"
    run_drkit 0 --storage=offsite backup check
    assert_contains "$T/out" '^no problems'
    ! snap_names "$O" --storage=offsite | grep -qx "$big" || fail "a killed copy left its snapshot in the target"
}
k=$(rand_between 2 5)
after_kill "$(kill_copy packs 1)"
after_kill "$(kill_copy packs "$k")"
after_kill "$(kill_copy maps 1)"
ok "a copy of a 300 MiB snapshot killed (kill -9) after its first pack, after $k packs, after its first checkpoint (a map file): the target passes check and lacks the snapshot"

run_drkit 0 --repo "$S" backup copy --all --to=offsite --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .copied)" 1 "snapshots copied by the copy after the kills"
br=$(jq_field "$T/out" .bytes_read)
[ "$br" -le $((BIG_BYTES - 100 * 1048576)) ] ||
    fail "the copy after a killed one read $br bytes of a $BIG_BYTES-byte snapshot: it did not resume from the checkpoint"
same_restore "$big" --storage=offsite
for name in $(snap_names "$S"); do
    same_restore "$name" --storage=offsite
done
run_drkit 0 --storage=offsite backup check --read-data
assert_contains "$T/out" '^no problems'
run_drkit 0 --repo "$S" backup copy --all --to=offsite --json
assert_eq "$(jq -c '[.copied, .blobs_read, .bytes_added]' "$T/out")" "[0,0,0]" \
    "[copied, blobs_read, bytes_added] after the resumed copy"
ok "the next copy resumes ($br of $BIG_BYTES bytes read), every snapshot restores identically from the target, check --read-data passes, a further copy transfers nothing"
# what the killed copies wrote after their last checkpoint is garbage that prune collects
run_drkit 0 --storage=offsite backup prune --json
unindexed=$(jq_field "$T/out" .prune.packs_unindexed)
[ "$unindexed" -ge 1 ] || fail "prune found no packs of the killed copies: $(jq -c .prune "$T/out")"
run_drkit 0 --storage=offsite backup check --read-data --json
assert_eq "$(jq -c '[.ok, (.notes | length)]' "$T/out")" "[true,0]" "[ok, notes] of check after prune"
same_restore "$big" --storage=offsite
ok "prune removes the $unindexed pack(s) the killed copies left; check --read-data is clean; $big still restores"

# --- another snapshot of the same name in the target -------------------------------------------------
O4=$T/clash
DRKIT_PASSWORD=clash init_repo "$O4"
mkdir -p "$T/other"
echo "something else" >"$T/other/file"
DRKIT_PASSWORD=clash run_drkit 0 --repo "$O4" backup create --time="2026-10-02 02:00" "$T/other"
DRKIT_PASSWORD=clash meta "$O4" >"$T/meta.clash"
rc=$(rc_of env DRKIT_TO_PASSWORD=clash "$DRKIT" --repo "$S" backup copy backup-20261002-020000 --to-repo="$O4")
[ "$rc" -ne 0 ] || fail "copy into a target with another snapshot of the same name exited 0"
assert_contains "$T/err" "backup-20261002-020000"
clash_msg=$(head -1 "$T/err")
DRKIT_PASSWORD=clash meta "$O4" >"$T/meta.clash2"
cmp -s "$T/meta.clash" "$T/meta.clash2" || fail "the target's snapshot changed"
DRKIT_PASSWORD=clash run_drkit 0 --repo "$O4" backup restore backup-20261002-020000 --target "$T/rc"
tree_equal "$T/other" "$T/rc$T/other"
ok "a name clash in the target: copy exits $rc naming the snapshot ($clash_msg); the target's snapshot is intact"
