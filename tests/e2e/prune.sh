#!/usr/bin/env bash
# prune.sh: retention policies and prune keep exactly what they promise and free the rest.
#
# (a) A history of 44 snapshots made with --time over two months (2026-08-01 .. 09-30, UTC):
#     a snapshot at 02:00 every other day, then every day for the last 15 days, three restore
#     points (01:00, before that day's 02:00 one), one snapshot tagged "keepme" and one tagged
#     "other" (12:00), and a second snapshot at 23:30 on Aug 31. Between snapshots the source
#     changes: a new file every day, files older than 10 days deleted, a file rewritten, a big
#     log file appended to, and a 20 MiB random file on three days that the policy drops.
#     The expected kept set of --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --keep-tag
#     keepme is computed here (newest snapshot of each of the N newest days/ISO weeks/months,
#     restore points, the tag); then:
#       - prune --dry-run --json lists every snapshot, keeps exactly that set with reasons
#         ("restore point", "tag keepme", "monthly ..."), and changes no byte of the repository
#       - the real prune keeps exactly that set; backup list shows it
#       - every kept snapshot restores byte-exactly (treecmp with the source saved when it was
#         made); backup check --read-data passes
# (b) The repository shrinks by at least 90% of the 60 MiB present only in removed snapshots,
#     and by no more than what the removed snapshots added (plus index and snapshot files).
# (c) [retention "shop"] is used with --storage=shop; a --keep-last flag overrides only that
#     key (keep-daily and keep-tag of the section still apply).
# (d) --repack-threshold: a pack with a little unused data is kept at 50 (packs_repacked 0,
#     unused_bytes_kept > 0) and rewritten at 0 (packs_repacked >= 1, unused_bytes_kept 0);
#     everything still restores and check --read-data passes.
# (e) prune without a policy keeps every snapshot, removes the data of a snapshot deleted with
#     --no-prune and the packs a killed (kill -9) backup left: check notes unindexed packs
#     before, none after; check --read-data passes.
# (f) A damaged snapshot file (one byte flipped): prune with a policy and prune without one
#     exit 4 and change no byte of the repository.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq
export TZ=UTC

SRC=$T/src
R=$T/repo
init_repo "$R"
mkdir -p "$SRC/docs" "$SRC/stable" "$T/states"
head -c $((3 * 1048576)) /dev/urandom >"$SRC/stable/base.bin"
for i in 1 2 3 4 5; do
    head -c $((1000 + i * 300)) /dev/urandom | base64 >"$SRC/stable/note$i.txt"
done

# log_lines SEED COUNT: log-like text (compresses well, as logs do)
log_lines() {
    awk -v s="$1" -v n="$2" 'BEGIN { for (k = 0; k < n; k++)
        printf "day %02d %02d:%02d:%02d shop[%d]: GET /item/%d 200 in %d ms\n", s,
            int(k / 3600) % 24, int(k / 60) % 60, k % 60, 4000 + s, k % 500, 10 + (k * 7) % 90 }'
}
log_lines 0 60000 >"$SRC/log.txt"

# replace FILE: write stdin to FILE through a new inode (the saved states share inodes)
replace() {
    cat >"$1.new"
    mv -f "$1.new" "$1"
}

# --- the schedule ----------------------------------------------------------------------------------
# "i HH:MM type tags" in time order; i is the day number from 2026-08-01
BIG_DAYS=" 4 16 36 "
: >"$T/schedule"
for i in $(seq 0 60); do
    case $i in 10 | 24 | 50) echo "$i 01:00 restore_point rp" >>"$T/schedule" ;; esac
    if [ "$i" -ge 46 ] || [ $((i % 2)) -eq 0 ]; then
        echo "$i 02:00 incremental -" >>"$T/schedule"
    fi
    case $i in
    7) echo "$i 12:00 incremental keepme" >>"$T/schedule" ;;
    13) echo "$i 12:00 incremental other" >>"$T/schedule" ;;
    30) echo "$i 23:30 incremental -" >>"$T/schedule" ;;
    esac
done

# --- build the history -----------------------------------------------------------------------------
# $T/snaps: "epoch name type tags day week month bytes_added" per snapshot, in time order
: >"$T/snaps"
prev_day=-1
t0=$(date +%s)
while read -r i hm type tags; do
    if [ "$i" != "$prev_day" ]; then
        # the day's changes
        log_lines $((i + 1)) 800 | cat "$SRC/log.txt" - | replace "$SRC/log.txt"
        head -c 3000 /dev/urandom | base64 >"$SRC/docs/day-$i.txt"
        rm -f "$SRC/docs/day-$((i - 10)).txt" "$SRC/docs/day-$((i - 11)).txt"
        rm -rf "$SRC/tmpbig"
        if [[ $BIG_DAYS == *" $i "* ]]; then
            mkdir "$SRC/tmpbig"
            head -c $((20 * 1048576)) /dev/urandom >"$SRC/tmpbig/big-$i.bin"
        fi
        prev_day=$i
    fi
    # every snapshot differs from the one before
    { echo "config of day $i at $hm"; head -c 1500 /dev/urandom | base64; } | replace "$SRC/conf.txt"
    when=$(date -u -d "2026-08-01 +$i days" +%Y-%m-%d)
    args=(--type="$type")
    [ "$tags" = - ] || args+=(--tag="$tags")
    run_drkit 0 --repo "$R" backup create --json --time="$when $hm" "${args[@]}" "$SRC"
    name=$(jq_field "$T/out" .name)
    added=$(jq_field "$T/out" .stats.bytes_added)
    epoch=$(date -u -d "$when $hm" +%s)
    keys=$(date -u -d "@$epoch" '+%Y%m%d %G%V %Y%m')
    echo "$epoch $name $type $tags $keys $added" >>"$T/snaps"
    cp -al "$SRC" "$T/states/$name"
done <"$T/schedule"
rm -rf "$SRC/tmpbig"
NSNAP=$(wc -l <"$T/snaps")
echo "# $NSNAP snapshots made in $(($(date +%s) - t0)) s"
[ "$(snap_names "$R" | wc -l)" -eq "$NSNAP" ] || fail "backup list does not show $NSNAP snapshots"
ok "a history of $NSNAP snapshots over two months (--time), the source changing daily"

# --- the expected kept set -------------------------------------------------------------------------
# newest first; each rule counts buckets that have snapshots, newest bucket first
sort -k1,1nr "$T/snaps" | awk -v D=7 -v W=4 -v M=12 -v TAG=keepme '
    function rule(n, want, key, kind) {
        if (want <= 0 || got[kind] >= want || (kind in last && last[kind] == key)) return 0
        last[kind] = key; got[kind]++; return 1
    }
    {
        keep = 0
        if (rule(NR, D, $5, "d")) keep = 1
        if (rule(NR, W, $6, "w")) keep = 1
        if (rule(NR, M, $7, "m")) keep = 1
        if ($3 == "restore_point") keep = 1
        if (index("," $4 ",", "," TAG ",")) keep = 1
        print $2, (keep ? "keep" : "remove")
    }' | sort >"$T/expected"
awk '$2 == "keep" { print $1 }' "$T/expected" >"$T/expected.keep"
awk '$2 == "remove" { print $1 }' "$T/expected" >"$T/expected.remove"
NKEEP=$(wc -l <"$T/expected.keep")
echo "# expected: keep $NKEEP, remove $(wc -l <"$T/expected.remove")"
# sanity of the test itself: the restore points, the tagged snapshot and the 23:30 one of Aug 31
# are old enough that only their own rule keeps them; the big days are all removed
grep -q ' restore_point ' "$T/snaps" || fail "test bug: no restore point"
for n in $(awk '$3 == "restore_point" || $4 == "keepme" || $2 == "backup-20260831-233000" { print $2 }' "$T/snaps"); do
    grep -qx "$n" "$T/expected.keep" || fail "test bug: $n is not expected to be kept"
done
for i in $BIG_DAYS; do
    d=$(date -u -d "2026-08-01 +$i days" +%Y%m%d)
    ! grep -q "^backup-$d-" "$T/expected.keep" || fail "test bug: day $i with a big file is kept"
done
grep -qx backup-20260831-020000 "$T/expected.remove" ||
    fail "test bug: the 02:00 snapshot of Aug 31 should be removed (the 23:30 one is newer)"

POLICY=(--keep-daily 7 --keep-weekly 4 --keep-monthly 12 --keep-tag keepme)

# check_listed FILE: the prune JSON in FILE keeps exactly the expected set, with reasons
check_listed() {
    local f=$1
    json_valid "$f"
    assert_eq "$(jq '.snapshots | length' "$f")" "$NSNAP" "snapshots listed by prune"
    jq -r '.snapshots[] | select(.keep) | .name' "$f" | sort >"$T/got.keep"
    if ! diff -u "$T/expected.keep" "$T/got.keep" >"$T/keep.diff"; then
        cat "$T/keep.diff" >&2
        fail "prune keeps another set than the policy's ($f)"
    fi
    [ "$(jq '[.snapshots[] | select(.keep and (.reasons == ""))] | length' "$f")" = 0 ] ||
        fail "a kept snapshot has no reason: $(jq -c '[.snapshots[] | select(.keep and .reasons == "") | .name]' "$f")"
    [ "$(jq '[.snapshots[] | select((.keep | not) and (.reasons != ""))] | length' "$f")" = 0 ] ||
        fail "a removed snapshot has reasons"
    [ "$(jq '[.snapshots[] | select(.type == "restore_point" and ((.reasons | test("restore point")) | not))] | length' "$f")" = 0 ] ||
        fail "a restore point is not kept as one"
    jq -r '.snapshots[] | select(.name | test("^backup-20260808-12")) | .reasons' "$f" |
        grep -q 'tag keepme' || fail "the snapshot tagged keepme has no 'tag keepme' reason"
    jq -r '.snapshots[] | select(.name == "backup-20260831-233000") | .reasons' "$f" |
        grep -q 'monthly' || fail "Aug 31 23:30 is not kept as the monthly one"
    jq -r '.snapshots[] | select(.name == "backup-20260930-020000") | .reasons' "$f" |
        grep -Eq 'daily 1' || fail "the newest snapshot is not 'daily 1'"
}

# --- (a) dry run --------------------------------------------------------------------------------
file_manifest "$R" >"$T/manifest.before"
size_before=$(dir_size "$R")
run_drkit 0 --repo "$R" backup prune "${POLICY[@]}" --dry-run --json
cp "$T/out" "$T/dry.json"
check_listed "$T/dry.json"
assert_eq "$(jq -r .dry_run "$T/dry.json")" true "dry_run"
file_manifest "$R" >"$T/manifest.after"
cmp -s "$T/manifest.before" "$T/manifest.after" || {
    diff "$T/manifest.before" "$T/manifest.after" | head -20 >&2
    fail "prune --dry-run changed the repository"
}
assert_eq "$(dir_size "$R")" "$size_before" "repository bytes after --dry-run"
assert_eq "$(snap_names "$R" | wc -l)" "$NSNAP" "snapshots after --dry-run"
run_drkit 0 --repo "$R" backup prune "${POLICY[@]}" --dry-run
assert_contains "$T/out" "^$((NSNAP - NKEEP)) snapshot\(s\) would be removed, $NKEEP kept"
ok "prune --dry-run keeps exactly the $NKEEP snapshots the policy keeps (with reasons), changes nothing"

# --- (a) the real prune ---------------------------------------------------------------------------
idx_size=$(dir_size "$R/index")
run_drkit 0 --repo "$R" backup prune "${POLICY[@]}" --json
cp "$T/out" "$T/prune.json"
check_listed "$T/prune.json"
assert_eq "$(jq -r .dry_run "$T/prune.json")" false "dry_run"
size_after=$(dir_size "$R")
snap_names "$R" | sort >"$T/after.list"
if ! diff -u "$T/expected.keep" "$T/after.list" >"$T/list.diff"; then
    cat "$T/list.diff" >&2
    fail "backup list after prune is not the kept set"
fi
ok "prune removes $((NSNAP - NKEEP)) snapshots and lists exactly the kept ones"

while read -r name; do
    rm -rf "$T/res"
    run_drkit 0 --repo "$R" backup restore "$name" --target "$T/res"
    tree_equal "$T/states/$name" "$T/res$SRC"
done <"$T/expected.keep"
rm -rf "$T/res"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
ok "all $NKEEP kept snapshots restore exactly; check --read-data passes"

# --- (b) space ------------------------------------------------------------------------------------
BIG=$((60 * 1048576))
freed=$((size_before - size_after))
removed_added=$(awk 'NR == FNR { rm[$1] = 1; next } ($2 in rm) { s += $8 } END { printf "%d", s }' \
    "$T/expected.remove" "$T/snaps")
snapfiles=$(( (NSNAP - NKEEP) * 4096 ))
upper=$((removed_added + idx_size + snapfiles + 262144))
echo "# repository $size_before -> $size_after bytes: freed $freed; removed snapshots added" \
    "$removed_added (60 MiB of it only in them); bound $upper"
[ "$freed" -ge $((BIG * 9 / 10)) ] ||
    fail "prune freed $freed bytes, less than 90% of the $BIG bytes only removed snapshots held"
[ "$freed" -le "$upper" ] ||
    fail "prune freed $freed bytes, more than the removed snapshots added ($removed_added) plus index and snapshot files: data still in use is gone?"
small_margin=$((removed_added - BIG))
echo "# other data added by removed snapshots (the margin): $small_margin bytes"
[ "$small_margin" -le $((6 * 1048576)) ] || fail "test bug: the margin ($small_margin) is not small"
ok "space: freed $((freed / 1024)) KiB, >= 90% of the 60 MiB only removed days held, <= that plus $(((upper - BIG) / 1024)) KiB"

# --- (c) [retention "NAME"] from the config, a flag over one key ---------------------------------
RC=$T/rc
init_repo "$RC"
mkdir -p "$T/small"
cat >"$T/c.conf" <<CONF
[repository "shop"]
    url = $RC
[retention "shop"]
    keep-last = 1
    keep-daily = 2
    keep-tag = pin
CONF
i=0
for when in "2026-09-01 02:00 pin" "2026-09-02 02:00 -" "2026-09-03 02:00 -" "2026-09-03 12:00 -" \
    "2026-09-03 18:00 -"; do
    set -- $when
    i=$((i + 1))
    echo "$i" >"$T/small/f"
    if [ "$3" = - ]; then tag=(); else tag=(--tag="$3"); fi
    run_drkit 0 --config "$T/c.conf" --storage=shop backup create --time="$1 $2" "${tag[@]}" "$T/small"
done
# kept_by ARGS...: the names prune --dry-run --json keeps, space-separated
kept_by() {
    run_drkit 0 --config "$T/c.conf" "$@" --dry-run --json
    jq -r '[.snapshots[] | select(.keep) | .name] | join(" ")' "$T/out"
}
assert_eq "$(kept_by --storage=shop backup prune)" \
    "backup-20260901-020000 backup-20260902-020000 backup-20260903-180000" \
    "kept by [retention \"shop\"] (last 1, daily 2, tag pin)"
assert_eq "$(kept_by --storage=shop backup prune --keep-last 2)" \
    "backup-20260901-020000 backup-20260902-020000 backup-20260903-120000 backup-20260903-180000" \
    "kept by the section with --keep-last 2 over its keep-last"
assert_eq "$(kept_by --storage=shop backup prune --keep-last 2 --keep-tag none)" \
    "backup-20260902-020000 backup-20260903-120000 backup-20260903-180000" \
    "--keep-tag over the section's keep-tag"
# the same section reached through --repo with the section's url
assert_eq "$(kept_by --repo "$RC" backup prune)" \
    "backup-20260901-020000 backup-20260902-020000 backup-20260903-180000" \
    "kept through --repo matching the section's url"
run_drkit 0 --config "$T/c.conf" --storage=shop backup prune --keep-last 2
assert_eq "$(snap_names "$RC" | tr '\n' ' ')" \
    "backup-20260901-020000 backup-20260902-020000 backup-20260903-120000 backup-20260903-180000 " \
    "snapshots after prune --storage=shop --keep-last 2"
ok "[retention \"shop\"] applies with --storage=shop; --keep-last overrides only keep-last"

# --- (d) --repack-threshold ---------------------------------------------------------------------
RD=$T/rd
init_repo "$RD"
mkdir -p "$T/dsrc"
for i in $(seq 1 60); do
    head -c 102400 /dev/urandom >"$T/dsrc/f$i"
done
run_drkit 0 --repo "$RD" backup create --json "$T/dsrc"
first=$(jq_field "$T/out" .name)
rm "$T/dsrc/f17"
sleep 1.1 # another second: another snapshot name
run_drkit 0 --repo "$RD" backup create "$T/dsrc"
run_drkit 0 --repo "$RD" backup delete "$first" --no-prune
run_drkit 0 --repo "$RD" backup prune --repack-threshold 50 --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .prune.packs_repacked)" 0 "packs repacked at threshold 50"
kept=$(jq_field "$T/out" .prune.unused_bytes_kept)
[ "$kept" -ge 100000 ] || fail "unused_bytes_kept $kept: the pack holding f17 should keep its 100 KiB unused"
size50=$(dir_size "$RD")
run_drkit 0 --repo "$RD" backup prune --repack-threshold 0 --json
json_valid "$T/out"
repacked=$(jq_field "$T/out" .prune.packs_repacked)
[ "$repacked" -ge 1 ] || fail "threshold 0 repacked no pack"
assert_eq "$(jq_field "$T/out" .prune.unused_bytes_kept)" 0 "unused bytes kept at threshold 0"
size0=$(dir_size "$RD")
[ $((size50 - size0)) -ge 100000 ] || fail "repacking freed only $((size50 - size0)) bytes (f17 is 100 KiB)"
run_drkit 0 --repo "$RD" backup restore latest --target "$T/dres"
tree_equal "$T/dsrc" "$T/dres$T/dsrc"
run_drkit 0 --repo "$RD" backup check --read-data
assert_contains "$T/out" '^no problems'
run_drkit 0 --repo "$RD" backup prune --repack-threshold 0 --json
assert_eq "$(jq_field "$T/out" .prune.packs_repacked)" 0 "packs repacked by a second prune"
ok "--repack-threshold: unused $kept B kept at 50; $repacked pack(s) rewritten at 0; restores, checks"

# --- (e) no policy: garbage only, including a killed backup's packs -----------------------------
victim=$(sed -n 2p "$T/expected.keep")
run_drkit 0 --repo "$R" backup delete "$victim" --no-prune
grep -vx "$victim" "$T/expected.keep" >"$T/remaining"
mkdir -p "$T/ksrc"
dd if=/dev/urandom of="$T/ksrc/big" bs=1M count=400 iflag=fullblock status=none
packs0=$(file_count "$R/data")
"$DRKIT" --repo "$R" backup create "$T/ksrc" >"$T/killed.out" 2>&1 &
kpid=$!
track_pid "$kpid"
# kill it once its first new pack is in data/ (the index comes only at the end)
new_pack() { [ "$(file_count "$R/data")" -gt "$packs0" ]; }
wait_until 60 new_pack || true
kill -9 "$kpid" 2>/dev/null || true
rc=0
wait "$kpid" || rc=$?
[ "$rc" -eq 137 ] || { cat "$T/killed.out" >&2; fail "the backup was not killed mid-way (exit $rc)"; }
run_drkit 0 --repo "$R" backup check --json
json_valid "$T/out"
assert_eq "$(jq_field "$T/out" .ok)" true "check after the killed backup"
jq -r '.notes[].message' "$T/out" | grep -q 'named by no index' ||
    fail "check does not note the killed backup's packs: $(jq -c .notes "$T/out")"
snap_names "$R" | sort >"$T/before.e"
cmp -s "$T/before.e" "$T/remaining" || fail "the snapshot list changed unexpectedly before (e)"
run_drkit 0 --repo "$R" backup prune --json
json_valid "$T/out"
unidx=$(jq_field "$T/out" .prune.packs_unindexed)
[ "$unidx" -ge 1 ] || fail "prune removed no unindexed pack"
del=$(jq_field "$T/out" .prune.packs_deleted)
assert_eq "$(jq '.snapshots | map(select(.keep | not)) | length' "$T/out")" 0 "snapshots removed without a policy"
snap_names "$R" | sort >"$T/after.e"
cmp -s "$T/before.e" "$T/after.e" || fail "prune without a policy changed the snapshot list"
run_drkit 0 --repo "$R" backup check --json
assert_eq "$(jq_field "$T/out" .ok)" true "check after prune"
assert_eq "$(jq '.notes | length' "$T/out")" 0 "check notes after prune ($(jq -c .notes "$T/out"))"
[ -z "$(ls -A "$R/tmp")" ] || fail "staging files left after prune: $(ls -A "$R/tmp")"
run_drkit 0 --repo "$R" backup check --read-data
assert_contains "$T/out" '^no problems'
n=0
while read -r name; do
    n=$((n + 1))
    [ $((n % 3)) -eq 0 ] || continue
    rm -rf "$T/res"
    run_drkit 0 --repo "$R" backup restore "$name" --target "$T/res"
    tree_equal "$T/states/$name" "$T/res$SRC"
done <"$T/remaining"
rm -rf "$T/res"
ok "prune without a policy: snapshots unchanged, $unidx unindexed pack(s) of a killed backup and $del unused pack(s) removed, no notes after"

# --- (f) a damaged snapshot: prune refuses --------------------------------------------------------
run_drkit 0 --repo "$R" backup delete "$(sed -n 3p "$T/remaining")" --no-prune # garbage to collect
snapfile=$(find "$R/snapshots" -type f | head -1)
corrupt_byte "$snapfile" $(($(stat -c %s "$snapfile") / 2))
file_manifest "$R" >"$T/manifest.before"
rc=$(rc_of "$DRKIT" --repo "$R" backup prune --keep-last 1)
assert_eq "$rc" 4 "prune with a policy and a damaged snapshot"
assert_contains "$T/err" "damaged"
rc=$(rc_of "$DRKIT" --repo "$R" backup prune)
assert_eq "$rc" 4 "prune without a policy and a damaged snapshot"
assert_contains "$T/err" "damaged"
rc=$(rc_of "$DRKIT" --repo "$R" backup prune --keep-last 1 --dry-run)
assert_eq "$rc" 4 "prune --dry-run with a damaged snapshot"
file_manifest "$R" >"$T/manifest.after"
cmp -s "$T/manifest.before" "$T/manifest.after" || {
    diff "$T/manifest.before" "$T/manifest.after" | head -20 >&2
    fail "prune changed the repository although a snapshot is damaged"
}
ok "a damaged snapshot file: prune (policy, none, dry run) exits 4 and changes nothing"
