#!/usr/bin/env bash
# restore_safety.sh: a hostile snapshot cannot make restore write outside its target.
#
# craft_snapshot (tests/tools) writes hand-made trees into a real repository. The target is
# $T/box/a/b/target; $T/box holds sentinel files and a sentinel directory next to it. For each
# case, restore must exit 4 (or refuse clearly) and $T/box, the target excepted, must be exactly
# as before (same entries, types, sizes, contents, link targets, modes, xattrs):
#   1. an entry named ".." (at the root, and inside a directory)
#   2. names with '/': "../../escape", "a/b", and a directory named "..%2F.." with a file
#   3. a symlink "link" -> the sentinel directory (absolute path), restored; then a second
#      snapshot whose "link" is a directory holding a file, restored into the same target
#      (plain and --delta), and one with "link/evil" reached by a directory named "link"
#   4. duplicate names (two files, a symlink and a directory with the same name)
#   5. symlinks "x" -> a sentinel file and "later" -> the sentinel directory, restored; then
#      a snapshot with a file "x", a hardlink group that ends in "later/x" and "sub/x", a
#      fifo named like a symlink, and a file "h" whose first hardlink fails to restore
#   6. a symlink carrying xattrs (user.* and trusted.*) pointing at a sentinel file
# Also backup check exits 4 and names each snapshot holding an unsafe tree.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd getfattr sha256sum

CRAFT=${DRKIT_TOOLS:-}/craft_snapshot
[ -x "$CRAFT" ] || fail "craft_snapshot not built (DRKIT_TOOLS=${DRKIT_TOOLS:-})"
R=$T/repo
BOX=$T/box
TGT=$BOX/a/b/target
SENT=$BOX/sentinel
init_repo "$R"

mkdir -p "$BOX/a/b" "$SENT/sub"
printf 'victim\n' >"$SENT/victim"
printf 'deep\n' >"$SENT/sub/deep"
printf 'b file\n' >"$BOX/a/b/existing"
printf 'a file\n' >"$BOX/a/existing"

# box_state: every entry of $BOX but the target, with what matters about it
box_state() {
    (
        cd "$BOX"
        find . -path ./a/b/target -prune -o -printf '%y %m %s %p -> %l\n' | LC_ALL=C sort
        find . -path ./a/b/target -prune -o -type f -print0 | LC_ALL=C sort -z |
            xargs -0 sha256sum
        find . -path ./a/b/target -prune -o -print0 | LC_ALL=C sort -z |
            xargs -0 getfattr -h -d -m - --absolute-names 2>/dev/null || true
    )
}
box_state >"$T/box.before"

# box_untouched WHAT: fail unless $BOX (the target excepted) is as it was
box_untouched() {
    box_state >"$T/box.after"
    if ! cmp -s "$T/box.before" "$T/box.after"; then
        diff "$T/box.before" "$T/box.after" >&2 || true
        fail "$1: something outside the target changed"
    fi
}

# craft NAME SPEC...: write a snapshot from the spec lines; sets snap (its name)
craft() {
    local label=$1 out
    shift
    printf '%s\n' "$@" >"$T/spec.$label"
    out=$("$CRAFT" --repo "$R" "$T/spec.$label") || fail "craft_snapshot failed for $label"
    snap=${out%% *}
    echo "$snap" >>"$T/unsafe.$label"
}

# restore_case WHAT WANT-RC [RESTORE-OPTIONS...]: restore $snap into $TGT
restore_case() {
    local what=$1 want=$2 rc
    shift 2
    rc=$(rc_of "$DRKIT" --repo "$R" backup restore "$snap" --target "$TGT" "$@")
    if [ "$rc" != "$want" ]; then
        cat "$T/out" "$T/err" >&2
        fail "$what: restore exited $rc, expected $want"
    fi
    box_untouched "$what"
}

fresh_target() {
    rm -rf "$TGT"
    mkdir "$TGT"
}

S=$SENT # absolute paths in specs: %XX-escape nothing, the paths have no spaces

# --- 1. ".." ----------------------------------------------------------------------------------
fresh_target
craft dotdot 'dir .. {' 'file escaped-1 PWNED' '}' 'file fine hello'
restore_case "'..' at the root" 4
[ ! -e "$BOX/a/b/escaped-1" ] || fail "'..' wrote outside"
assert_contains "$T/err" 'unsafe'
fresh_target
craft dotdot2 'dir sub {' 'dir .. {' 'dir .. {' 'file escaped-2 PWNED' '}' '}' '}'
restore_case "'..' inside a directory" 4
ok "an entry named '..' is refused (exit 4), nothing outside the target changes"

# --- 2. names with '/' ----------------------------------------------------------------------------
fresh_target
craft slash1 'file ..%2F..%2Fescape-3 PWNED'
restore_case "'../../escape'" 4
[ ! -e "$BOX/a/escape-3" ] || fail "'../../escape' wrote outside"
fresh_target
craft slash2 'file a%2Fb PWNED' 'dir a {' '}'
restore_case "'a/b'" 4
[ ! -e "$TGT/a/b" ] || fail "a name with '/' was written as a path"
fresh_target
craft slash3 'dir ..%2F.. {' 'file escape-4 PWNED' '}'
restore_case "a directory named '../..'" 4
craft slash4 "file ${SENT//\//%2F}%2Fvictim PWNED"
fresh_target
restore_case "a file named like an absolute path" 4
ok "names with '/' are refused (exit 4), nothing outside the target changes"

# --- 3. a symlink, then a directory of the same name ----------------------------------------------
fresh_target
craft link1 "symlink link $S" 'file plain ok'
restore_case "a symlink to the sentinel directory" 0
[ -L "$TGT/link" ] || fail "the symlink was not restored"
craft link2 'dir link {' 'file pwned PWNED' 'dir sub {' 'file deep PWNED' '}' '}'
restore_case "a directory 'link' over the symlink" 4
[ ! -e "$SENT/pwned" ] || fail "a file was written through the symlink"
restore_case "a directory 'link' over the symlink, --delta" 4 --delta
restore_case "again with --include of the directory" 4 --include=/link
restore_case "again with --include below the directory" 4 --include=/link/sub/deep
fresh_target
craft link3 "symlink link $S" 'dir link {' 'file pwned PWNED' '}'
restore_case "a symlink and a directory 'link' in one tree" 4
ok "a directory over a symlink left by an earlier restore is refused (exit 4)"

# --- 4. duplicate names ---------------------------------------------------------------------------
fresh_target
craft dup1 'file dup one' 'file dup two'
restore_case "two files named 'dup'" 4
fresh_target
craft dup2 "symlink d $S" 'file d PWNED'
restore_case "a symlink and a file named 'd'" 4
fresh_target
craft dup3 'dir d {' 'file x one' '}' 'dir d {' 'file x two' '}'
restore_case "two directories named 'd'" 4
ok "duplicate names are refused (exit 4)"

# --- 5. symlinks in the target, then files, hardlinks and fifos of the same names -------------------
fresh_target
craft pre5 "symlink x $S/victim" "symlink later $S" "symlink f $S/victim" "symlink h $S/victim" \
    "dir sub {" "symlink x $S/victim" "}"
restore_case "symlinks to the sentinels" 0
craft hard5 'file a PWNED-A ino=42 nlink=4' 'file x PWNED-X' \
    'dir later {' 'file x PWNED-A ino=42 nlink=4' '}' \
    'dir sub {' 'file x PWNED-A ino=42 nlink=4' '}' \
    'file z PWNED-A ino=42 nlink=4' 'fifo f' \
    'file h PWNED-H ino=77 nlink=2 size=999' 'file i PWNED-H ino=77 nlink=2 size=999'
restore_case "files, hardlinks and a fifo over the symlinks" 4
restore_case "the same with --delta" 4 --delta
ok "files, hardlinks and fifos over symlinks never write through them"

# --- 6. xattrs on a symlink -----------------------------------------------------------------------
fresh_target
craft xattr6 "symlink s $S/victim xattr=user.pwn:yes" "symlink t $S/victim xattr=trusted.pwn:yes" \
    "symlink u $S xattr=user.pwn:yes"
rc=$(rc_of "$DRKIT" --repo "$R" backup restore "$snap" --target "$TGT")
box_untouched "xattrs on symlinks (exit $rc)"
ok "xattrs of a symlink are never set on its target (restore exit $rc)"

# --- check names the unsafe trees --------------------------------------------------------------
run_drkit 4 --repo "$R" backup check
for c in dotdot dotdot2 slash1 slash2 slash3 slash4 link3 dup1 dup2 dup3; do
    s=$(cat "$T/unsafe.$c")
    grep -qF "$s" "$T/err" || { cat "$T/err" >&2; fail "backup check does not name $s ($c)"; }
done
assert_contains "$T/err" 'unsafe'
for c in link1 link2 pre5 hard5 xattr6; do
    s=$(cat "$T/unsafe.$c")
    if grep -F "$s" "$T/err" | grep -q "unsafe"; then
        fail "backup check calls the safe tree of $s ($c) unsafe"
    fi
done
ok "backup check exits 4 and names every snapshot holding an unsafe tree"
box_untouched "at the end"
