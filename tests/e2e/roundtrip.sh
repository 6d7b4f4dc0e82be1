#!/usr/bin/env bash
# roundtrip.sh: a backup of the tricky tree restores bit for bit, with every property.
#
# The tree is mktree.sh's default (files of 0 B..210 MiB, 20,000 small files, empty dirs,
# symlinks incl. dangling, hardlinks, a sparse 1 GiB file, names with spaces/newlines/non-UTF-8,
# setuid/sticky modes, owners, ns mtimes, xattrs and ACLs, a fifo and a device). Asserts:
#   - backup create exits 0; restore to a new dir exits 0 and treecmp finds the tree identical
#     (content, sparseness, hardlinks, modes, owners, mtimes, xattrs, types, rdev)
#   - the restore holds nothing but the original path (DIR/<original absolute path>)
#   - restoring the same snapshot again over the first restore (non-delta) is still identical
#   - restore --include of one subdirectory writes only it and its parent directories
#   - backup ls / ls -R / ls -l / ls --json list the known entries (non-UTF-8 names as \xNN)
#   - backup show --json is valid JSON with id, name, time, type, stats.files... that match
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq setfattr getfattr perl

: >"$T/probe"
setfattr -n user.probe -v 1 "$T/probe" 2>/dev/null || skip "no user xattrs on $T"

SRC=$T/src
R=$T/repo
bash "$TESTS/lib/mktree.sh" "$SRC" >"$T/mktree.out"
cat "$T/mktree.out"
init_repo "$R"

# --- backup -------------------------------------------------------------------------------------
run_drkit 0 --repo "$R" backup create --json "$SRC"
cp "$T/out" "$T/create.json"
json_valid "$T/create.json"
ID=$(jq_field "$T/create.json" .id)
NAME=$(jq_field "$T/create.json" .name)
[[ "$ID" =~ ^[0-9a-f]{64}$ ]] || fail "backup create --json: bad id '$ID'"
[[ "$NAME" =~ ^backup-[0-9]{8}-[0-9]{6}$ ]] || fail "backup create --json: bad name '$NAME'"
ok "backup create of the tricky tree ($NAME)"

# --- full restore -------------------------------------------------------------------------------
run_drkit 0 --repo "$R" backup restore "$NAME" --target "$T/r1"
[ -d "$T/r1$SRC" ] || fail "restore did not write $T/r1$SRC"
tree_equal "$SRC" "$T/r1$SRC"
ok "restore is identical (treecmp: content, holes, hardlinks, modes, owners, times, xattrs)"

# nothing but the path to SRC in the target
ancestors() {
    local p=${SRC#/}
    while [ "$p" != . ]; do
        echo "$p"
        p=$(dirname "$p")
    done
}
depth=$(ancestors | wc -l)
extra=$( (cd "$T/r1" && find . -mindepth 1 -maxdepth "$depth" -printf '%P\n') |
    grep -v -x -F -f <(ancestors) || true)
[ -z "$extra" ] || fail "restore wrote unexpected entries next to the original path: $extra"
ok "the target holds only the original path"

sparse_alloc=$(stat -c %b "$T/r1$SRC/sparse/sparse-1g")
[ "$((sparse_alloc * 512))" -lt $((64 * 1048576)) ] ||
    fail "sparse file restored with $((sparse_alloc * 512)) bytes allocated"
ok "the 1 GiB sparse file is restored sparse ($((sparse_alloc * 512 / 1024)) KiB allocated)"

# --- restore again over the first restore ------------------------------------------------------
run_drkit 0 --repo "$R" backup restore "$ID" --target "$T/r1"
tree_equal "$SRC" "$T/r1$SRC"
leftover=$(find "$T/r1" -name '.drkit-restore-*' | head -3)
[ -z "$leftover" ] || fail "temporary files left behind: $leftover"
ok "a second (non-delta) restore over the first is still identical"

# --- --include of one subdirectory ---------------------------------------------------------------
run_drkit 0 --repo "$R" backup restore latest --target "$T/r2" --include "$SRC/names"
tree_equal "$SRC/names" "$T/r2$SRC/names"
(cd "$T/r2" && find . -mindepth 1 -printf '%P\n') | LC_ALL=C sort >"$T/inc.list"
{
    ancestors
    (cd "$T/r2" && find "${SRC#/}/names" -printf '%p\n')
} | LC_ALL=C sort -u >"$T/inc.want"
if ! cmp -s "$T/inc.list" "$T/inc.want"; then
    diff "$T/inc.want" "$T/inc.list" | head -20 >&2
    fail "--include wrote more than the subdirectory and its parents"
fi
(cd "$T/r2" && find "${SRC#/}/names" -printf '.' | wc -c) >"$T/n1"
(cd "$SRC/names" && find . -printf '.' | wc -c) >"$T/n2"
cmp -s "$T/n1" "$T/n2" || fail "--include restored $(cat "$T/n1") entries, source has $(cat "$T/n2")"
ok "--include restores only $SRC/names and its parent directories"

# --- backup ls ----------------------------------------------------------------------------------
run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC"
for d in files big text small empty names deep links hard sparse modes xattr special times; do
    assert_contains "$T/out" "^$SRC/$d/\$"
done
ok "backup ls lists the top-level directories"

run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC" -R
want=$(find "$SRC" -mindepth 1 -printf '.' | wc -c)
got=$(wc -l <"$T/out")
assert_eq "$got" "$want" "backup ls -R: one line per entry"
assert_contains "$T/out" "^$SRC/names/new\\\\nline\$"
assert_contains "$T/out" "^$SRC/names/caf\\\\xe9\$"
assert_contains "$T/out" "^$SRC/names/dir\\\\xff/file\$"
assert_contains "$T/out" "^$SRC/small/g9/d199/f19999.txt\$"
ok "backup ls -R lists all $want entries, escaping newlines and non-UTF-8 bytes"

run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC/modes" -l
assert_contains "$T/out" "^-rwsr-xr-x .* $SRC/modes/setuid\$"
assert_contains "$T/out" "^drwxrwxrwt .* $SRC/modes/sticky\$"
run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC/links" -l
assert_contains "$T/out" " $SRC/links/dangling -> \\.\\./no/such/target\$"
ok "backup ls -l shows modes and symlink targets"

run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC/names" --json
cp "$T/out" "$T/ls.json"
json_valid "$T/ls.json"
for n in 'caf\\xe9' '\\xff\\xfe' 'dir\\xff' 'new\nline' 'tab\there' 'Überweisung €.pdf' \
    'glob*?[x]' ' spaces around '; do
    jq -e --arg n "$(printf "$n")" 'any(.[]; .name == $n)' "$T/ls.json" >/dev/null ||
        fail "backup ls --json: no entry named $(printf '%q' "$(printf "$n")")"
done
jq -e --arg p "$SRC/names/dir\\xff" \
    'any(.[]; .path == $p and .type == "dir")' "$T/ls.json" >/dev/null ||
    fail "backup ls --json: the non-UTF-8 directory's path is not escaped as \\xff"
n_json=$(jq length "$T/ls.json")
n_src=$(find "$SRC/names" -mindepth 1 -maxdepth 1 -printf '.' | wc -c)
assert_eq "$n_json" "$n_src" "backup ls --json: entries in names/"
run_drkit 0 --repo "$R" backup ls "$NAME" "$SRC" -R --json
cp "$T/out" "$T/lsr.json"
json_valid "$T/lsr.json"
jq -e --arg p "$SRC/hard/a/one" 'any(.[]; .path == $p and .links == 3 and .size == 10000)' \
    "$T/lsr.json" >/dev/null || fail "ls --json: hard/a/one without links 3 / size 10000"
jq -e --arg p "$SRC/modes/setuid" 'any(.[]; .path == $p and .mode == "4755")' \
    "$T/lsr.json" >/dev/null || fail "ls --json: modes/setuid without mode 4755"
jq -e --arg p "$SRC/links/rel" \
    'any(.[]; .path == $p and .type == "symlink" and .link_target == "../files/size-4096")' \
    "$T/lsr.json" >/dev/null || fail "ls --json: links/rel without its target"
jq -e --arg p "$SRC/times/ns-2021" \
    'any(.[]; .path == $p and (.mtime | startswith("2021-03-04T05:06:07.123456789")))' \
    "$T/lsr.json" >/dev/null || fail "ls --json: times/ns-2021 without its ns mtime"
if [ "$(id -u)" -eq 0 ]; then
    jq -e --arg p "$SRC/owners/numeric" 'any(.[]; .path == $p and .uid == 1234 and .gid == 5678)' \
        "$T/lsr.json" >/dev/null || fail "ls --json: owners/numeric without uid 1234 gid 5678"
fi
assert_eq "$(jq length "$T/lsr.json")" "$want" "backup ls -R --json: entries"
ok "backup ls --json: valid, $want entries, \\xNN escapes, modes, links, targets, ns mtimes"

# --- backup show --json -------------------------------------------------------------------------
run_drkit 0 --repo "$R" backup show "$NAME" --json
cp "$T/out" "$T/show.json"
json_valid "$T/show.json"
files=$(find "$SRC" -type f -printf '.' | wc -c)
bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
links=$(find "$SRC" -type l -printf '.' | wc -c)
jq -e --arg id "$ID" --arg name "$NAME" --arg src "$SRC" --argjson files "$files" \
    --argjson bytes "$bytes" --argjson links "$links" '
    .id == $id and .short_id == $id[0:8] and .name == $name and .type == "incremental"
    and (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})$"))
    and (.end_time | type) == "string" and .partial == false and .error_count == 0
    and .paths == [$src] and (.tree | test("^[0-9a-f]{64}$")) and (.host | length) > 0
    and .stats.files == $files and .stats.bytes == $bytes and .stats.links == $links
    and .stats.files_new == $files and .stats.dirs > 0 and .stats.bytes_added > 0
    and (.errors | length) == 0' "$T/show.json" >/dev/null || {
    cat "$T/show.json" >&2
    fail "backup show --json lacks a field or a value is wrong (files $files, bytes $bytes)"
}
ok "backup show --json: id, name, time, type, paths, tree, stats ($files files, $bytes bytes)"
