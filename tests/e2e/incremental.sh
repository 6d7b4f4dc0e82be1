#!/usr/bin/env bash
# incremental.sh: incremental backups see every change, and only re-read what changed.
#
# Asserts:
#   - a file rewritten with new bytes of the same length whose mtime is put back (only its
#     ctime changes) is re-read by the next incremental backup (files_changed, bytes_read) and
#     restores with the new content
#   - a new file, a deleted file and a renamed file are right after restore (the whole restored
#     tree is compared with treecmp); the previous snapshot still restores the old tree
#   - an incremental backup of the unchanged tree reports every file unchanged, reads nothing
#     and adds almost nothing
#   - --type=full re-reads everything (bytes_read = total size) but still adds almost nothing
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq dd

SRC=$T/src
R=$T/repo
init_repo "$R"
bash "$TESTS/lib/mktree.sh" "$SRC" --big-mib 20 --small-files 2000 >"$T/mktree.out"
cat "$T/mktree.out"
mkdir "$SRC/work"
head -c 300000 /dev/urandom >"$SRC/work/same-size.bin"
printf 'to be deleted\n' >"$SRC/work/gone.txt"
head -c 70000 /dev/urandom >"$SRC/work/old-name.bin"
printf 'unchanged\n' >"$SRC/work/keep.txt"
touch -d '2020-01-02 03:04:05.123456789 UTC' "$SRC/work/same-size.bin"

# backup ARGS...: backup create --json; the document is kept in $T/last.json
backup() {
    run_drkit 0 --repo "$R" backup create --json "$@"
    cp "$T/out" "$T/last.json"
    json_valid "$T/last.json"
}
stat_of() {
    jq_field "$T/last.json" ".stats.$1"
}

backup "$SRC"
S1=$(jq_field "$T/last.json" .name)
cp -a --sparse=always "$SRC" "$T/src-v1"
ok "first backup ($S1)"

# --- changes ------------------------------------------------------------------------------------
f=$SRC/work/same-size.bin
before=$(stat -c '%s %Y.%y' "$f")
ctime_before=$(stat -c %Z.%z "$f")
old_sum=$(sha256sum <"$f")
sleep 1.1 # so the ctime moves even on coarse clocks
head -c 300000 /dev/urandom | dd of="$f" conv=notrunc status=none
touch -d '2020-01-02 03:04:05.123456789 UTC' "$f"
after=$(stat -c '%s %Y.%y' "$f")
assert_eq "$after" "$before" "size and mtime must be back to the old values"
[ "$(stat -c %Z.%z "$f")" != "$ctime_before" ] || fail "the ctime did not change"
[ "$(sha256sum <"$f")" != "$old_sum" ] || fail "the content did not change"
printf 'brand new\n' >"$SRC/work/new.txt"
rm "$SRC/work/gone.txt"
mv "$SRC/work/old-name.bin" "$SRC/work/new-name.bin"
ok "changed a file keeping size and mtime, added, deleted and renamed files"

backup "$SRC"
S2=$(jq_field "$T/last.json" .name)
assert_eq "$(jq_field "$T/last.json" .parent_name)" "$S1" "the incremental backup's parent"
assert_eq "$(jq_field "$T/last.json" .type)" incremental "type"
changed=$(stat_of files_changed)
new=$(stat_of files_new)
bytes_read=$(stat_of bytes_read)
echo "# second backup: $new new, $changed changed, $(stat_of files_unchanged) unchanged, read $bytes_read bytes"
[ "$changed" -ge 1 ] || fail "the rewritten file was not seen as changed (files_changed $changed)"
[ "$new" -ge 2 ] || fail "the new and the renamed file are not both new (files_new $new)"
[ "$bytes_read" -ge 300000 ] || fail "the rewritten file was not re-read (bytes_read $bytes_read)"
[ "$bytes_read" -lt $((20 * 1048576)) ] ||
    fail "the incremental backup re-read $bytes_read bytes: unchanged files were read again"
ok "the incremental backup re-read the file whose only trace of change is its ctime"

run_drkit 0 --repo "$R" backup restore "$S2" --target "$T/r2"
cmp "$f" "$T/r2$f" || fail "the rewritten file does not restore with its new content"
[ ! -e "$T/r2$SRC/work/gone.txt" ] || fail "the deleted file is restored"
[ ! -e "$T/r2$SRC/work/old-name.bin" ] || fail "the renamed file is restored under its old name"
cmp "$SRC/work/new-name.bin" "$T/r2$SRC/work/new-name.bin" || fail "the renamed file is wrong"
cmp "$SRC/work/new.txt" "$T/r2$SRC/work/new.txt" || fail "the new file is wrong"
tree_equal "$SRC" "$T/r2$SRC"
rm -rf "$T/r2"
ok "the second snapshot restores the new content, new, deleted and renamed files exactly"

run_drkit 0 --repo "$R" backup restore "$S1" --target "$T/r1"
tree_equal "$T/src-v1" "$T/r1$SRC"
cmp -s "$T/src-v1/work/same-size.bin" "$T/r1$SRC/work/same-size.bin" ||
    fail "the first snapshot lost the old content of the rewritten file"
rm -rf "$T/r1"
ok "the first snapshot still restores the old tree"

# --- unchanged tree -----------------------------------------------------------------------------
before=$(dir_size "$R")
backup "$SRC"
growth=$(($(dir_size "$R") - before))
files=$(stat_of files)
echo "# unchanged: $(stat_of files_unchanged)/$files unchanged, read $(stat_of bytes_read), added $(stat_of bytes_added), du +$growth"
assert_eq "$(stat_of files_unchanged)" "$files" "files_unchanged of an unchanged tree"
assert_eq "$(stat_of files_new)/$(stat_of files_changed)" 0/0 "files_new/files_changed"
assert_eq "$(stat_of bytes_read)" 0 "bytes_read of an unchanged tree"
[ "$(stat_of bytes_added)" -lt 65536 ] || fail "an unchanged tree added $(stat_of bytes_added) bytes"
[ "$growth" -lt 262144 ] || fail "an unchanged tree grew the repository by $growth bytes"
ok "an incremental backup of the unchanged tree: all $files files unchanged, nothing read, +$growth bytes"

# --- full ---------------------------------------------------------------------------------------
before=$(dir_size "$R")
backup --type=full "$SRC"
growth=$(($(dir_size "$R") - before))
total=$(stat_of bytes)
read_b=$(stat_of bytes_read)
echo "# full: read $read_b of $total bytes, added $(stat_of bytes_added), du +$growth"
assert_eq "$(jq_field "$T/last.json" .type)" full "type"
[ "$read_b" -ge "$total" ] || fail "--type=full read $read_b bytes of $total"
[ "$read_b" -le $((total + total / 100)) ] || fail "--type=full read $read_b bytes, total is $total"
[ "$(stat_of bytes_added)" -lt 65536 ] || fail "--type=full added $(stat_of bytes_added) bytes"
[ "$growth" -lt 262144 ] || fail "--type=full grew the repository by $growth bytes"
assert_eq "$(stat_of files_unchanged)" "$files" "files_unchanged of a full backup of the same tree"
ok "--type=full re-reads all $total bytes and adds only $growth bytes"
