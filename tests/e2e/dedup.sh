#!/usr/bin/env bash
# dedup.sh: content that is already in the repository is not stored again.
#
# Asserts:
#   - backing up a copy of a tree at another path (nothing to compare with, so every file is
#     read and chunked again) adds < 1% to the repository (du -sb of the repository directory
#     and bytes_added of backup create --json)
#   - a --type=full backup of the unchanged tree adds < 1% as well
#   - a 1 GiB random file, then the same file with 1 MiB of new random bytes inserted in the
#     middle: the second backup adds < 16 MiB (content-defined chunking re-synchronises after
#     the insertion); both versions restore exactly. The figure depends on the data and on the
#     repository's random chunker key: over 2000 simulated insertions (1 MiB average chunks,
#     256 KiB min, 4 MiB max) the median was 2.7 MiB, 1% were above 9.3 MiB, the largest
#     15.7 MiB; a bound of 8 MiB failed about one run in fifty.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq cp dd

R=$T/repo
init_repo "$R"

# backup ARGS...: run backup create --json ARGS; set added (bytes_added) and du_growth
backup() {
    local before after
    before=$(dir_size "$R")
    run_drkit 0 --repo "$R" backup create --json "$@"
    cp "$T/out" "$T/last.json"
    json_valid "$T/last.json"
    after=$(dir_size "$R")
    added=$(jq_field "$T/last.json" .stats.bytes_added)
    du_growth=$((after - before))
}

mib() {
    awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'
}

# --- the same tree twice ------------------------------------------------------------------------
bash "$TESTS/lib/mktree.sh" "$T/tree" --big-mib 100 --small-files 5000 --no-root-only \
    >"$T/mktree.out"
cat "$T/mktree.out"
backup "$T/tree"
first_added=$added
repo1=$(dir_size "$R")
echo "# first backup: bytes_added $(mib "$first_added"), repository $(mib "$repo1")"
[ "$first_added" -gt $((100 * 1048576)) ] ||
    fail "the first backup claims to add only $first_added bytes"

cp -a --sparse=always "$T/tree" "$T/copy"
backup "$T/copy"
echo "# copy at another path: bytes_added $(mib "$added"), du +$(mib "$du_growth")"
files_new=$(jq_field "$T/last.json" .stats.files_new)
[ "$files_new" -gt 5000 ] || fail "the copy was not read as new files (files_new $files_new)"
[ "$((du_growth * 100))" -lt "$repo1" ] ||
    fail "backing up an identical copy grew the repository by $du_growth bytes (>= 1% of $repo1)"
[ "$((added * 100))" -lt "$repo1" ] ||
    fail "backing up an identical copy added $added bytes (>= 1% of $repo1)"
ok "an identical copy at another path adds $(mib "$du_growth") (< 1%)"

backup --type=full "$T/tree"
bytes_read=$(jq_field "$T/last.json" .stats.bytes_read)
echo "# full backup of the same tree: read $(mib "$bytes_read"), added $(mib "$added"), du +$(mib "$du_growth")"
[ "$bytes_read" -gt $((100 * 1048576)) ] || fail "--type=full read only $bytes_read bytes"
[ "$((du_growth * 100))" -lt "$repo1" ] ||
    fail "a full backup of the unchanged tree grew the repository by $du_growth bytes (>= 1%)"
ok "--type=full of the unchanged tree reads everything and adds $(mib "$du_growth") (< 1%)"

rm -rf "$T/tree" "$T/copy"

# --- 1 GiB random file, then 1 MiB inserted in the middle --------------------------------------
mkdir "$T/big"
dd if=/dev/urandom of="$T/big/file" bs=1M count=1024 iflag=fullblock status=none
backup "$T/big"
snap1=$(jq_field "$T/last.json" .name)
echo "# 1 GiB random: bytes_added $(mib "$added"), du +$(mib "$du_growth")"
[ "$du_growth" -gt $((1000 * 1048576)) ] || fail "1 GiB of random data grew the repository by $du_growth"
cp "$T/big/file" "$T/v1"

{
    head -c $((512 * 1048576 + 12345)) "$T/v1"
    head -c 1048576 /dev/urandom
    tail -c +$((512 * 1048576 + 12345 + 1)) "$T/v1"
} >"$T/big/file.new"
mv "$T/big/file.new" "$T/big/file"
[ "$(stat -c %s "$T/big/file")" -eq $((1025 * 1048576)) ] || fail "could not build the second version"
backup "$T/big"
snap2=$(jq_field "$T/last.json" .name)
echo "# 1 MiB inserted in the middle: bytes_added $(mib "$added"), du +$(mib "$du_growth")"
[ "$added" -gt 1048576 ] || fail "the inserted MiB cannot have been stored: bytes_added $added"
[ "$added" -lt $((16 * 1048576)) ] ||
    fail "1 MiB inserted into a 1 GiB file added $(mib "$added") (bytes_added), expected < 16 MiB"
[ "$du_growth" -lt $((16 * 1048576)) ] ||
    fail "1 MiB inserted into a 1 GiB file grew the repository by $(mib "$du_growth"), expected < 16 MiB"
ok "1 MiB inserted into 1 GiB adds $(mib "$added") (du +$(mib "$du_growth"), < 16 MiB)"

run_drkit 0 --repo "$R" backup restore "$snap1" --target "$T/res1"
cmp "$T/v1" "$T/res1$T/big/file" || fail "version 1 of the big file does not restore exactly"
rm -rf "$T/res1" "$T/v1"
run_drkit 0 --repo "$R" backup restore "$snap2" --target "$T/res2"
cmp "$T/big/file" "$T/res2$T/big/file" || fail "version 2 of the big file does not restore exactly"
ok "both versions of the big file restore exactly"
