#!/usr/bin/env bash
# treecmp_selftest.sh: the tree comparison used by the round-trip tests must not pass silently.
#
# Builds a tricky tree with mktree.sh, copies it with cp -a (xattrs, ACLs, hardlinks, holes),
# checks that treecmp finds the copy identical, then makes one change at a time on a fresh copy
# and checks that treecmp exits 1 with exactly the expected lines (path and kind of difference).
# Every other attribute the change touches as a side effect (parent dir mtime, file mtime) is put
# back first, so a stray line is a failure too.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail

need_cmd setfattr getfattr cp dd od
TC=${DRKIT_TOOLS:-}/treecmp
[ -x "$TC" ] || fail "treecmp not built (DRKIT_TOOLS=${DRKIT_TOOLS:-})"
: >"$T/probe"
setfattr -n user.probe -v 1 "$T/probe" 2>/dev/null || skip "no user xattrs on $T"

A=$T/a
B=$T/b
bash "$TESTS/lib/mktree.sh" "$A" --big-mib 20 --small-files 500 >"$T/mktree.out"
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

# fresh [TOP...]: make B an identical copy of A again, then note that the next change touches
# only the top-level dirs TOP (none given: anything), so the next fresh re-copies just those
dirty=.
fresh() {
    local d
    for d in $dirty; do
        if [ "$d" = . ]; then
            if [ -e "$B" ]; then
                chmod -R u+rwx "$B"
                rm -rf "$B"
            fi
            cp -a --preserve=all --sparse=always "$A" "$B"
            break
        fi
        chmod -R u+rwx "$B/$d"
        rm -rf "${B:?}/$d"
        cp -a --preserve=all --sparse=always "$A/$d" "$B/$d"
    done
    dirty=${*:-.}
}

# put back the mtime of each relative path (no follow) as it is in A
same_mtime() {
    local p
    for p in "$@"; do
        touch -h -r "$A/$p" "$B/$p"
    done
}

# expect WHAT LINES REGEX [TREECMP-OPTIONS...]: treecmp exits 1, prints LINES lines, and one of
# them matches REGEX (extended) in full
expect() {
    local what=$1 lines=$2 re=$3 rc=0 n
    shift 3
    "$TC" "$@" -- "$A" "$B" >"$T/cmp.out" 2>"$T/cmp.err" || rc=$?
    n=$(wc -l <"$T/cmp.out")
    if [ "$rc" -ne 1 ] || [ "$n" -ne "$lines" ] || ! grep -Eq -- "^($re)\$" "$T/cmp.out"; then
        cat "$T/cmp.out" "$T/cmp.err" >&2
        fail "$what: treecmp exit $rc with $n lines, expected exit 1, $lines lines, /^$re\$/"
    fi
    echo "ok - $what"
}

# same_ok WHAT [TREECMP-OPTIONS...]: treecmp exits 0 and prints nothing
same_ok() {
    local what=$1 rc=0
    shift
    "$TC" "$@" -- "$A" "$B" >"$T/cmp.out" 2>"$T/cmp.err" || rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$T/cmp.out" ]; then
        cat "$T/cmp.out" "$T/cmp.err" >&2
        fail "$what: treecmp exit $rc, expected 0 and no output"
    fi
    echo "ok - $what"
}

# flip_byte FILE OFFSET: change the byte at OFFSET of $B/FILE, keep its mtime
flip_byte() {
    local old new
    old=$(od -An -tu1 -j "$2" -N1 "$A/$1" | tr -d ' ')
    new=$(((old + 1) % 256))
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' "$new")" |
        dd of="$B/$1" bs=1 seek="$2" conv=notrunc status=none
    same_mtime "$1"
}

# --- identical ---------------------------------------------------------------------------------
fresh big
same_ok "cp -a copy is identical"
same_ok "a tree is identical to itself" --root-meta
"$TC" --summary "$A" "$B" >"$T/cmp.out"
entries=$(find "$A" -mindepth 1 -printf '.' | wc -c)
assert_contains "$T/cmp.out" "^treecmp: $entries entries compared, 0 differences\$"
echo "ok - --summary counts all $entries entries"

# --- contents ----------------------------------------------------------------------------------
flip_byte big/random-20m 12345677
expect "one byte of the big file" 1 'big/random-20m: content differs at byte 12345677'

fresh files
flip_byte files/size-4194305 4194304
expect "last byte of a 4 MiB + 1 file" 1 'files/size-4194305: content differs at byte 4194304'

fresh sparse
flip_byte sparse/sparse-1g $((1024 * 1048576 - 1))
expect "last byte of the sparse file (after holes)" 1 \
    'sparse/sparse-1g: content differs at byte 1073741823'

fresh names
printf 'x' >>"$B"/names/$'new\nline'
same_mtime names/$'new\nline'
expect "size, name with a newline escaped" 1 'names/new\\x0aline: size 8 vs 9'

# --- metadata ----------------------------------------------------------------------------------
fresh modes
chmod u+s "$B/modes/exec"
expect "setuid bit" 1 'modes/exec: mode 0755 vs 4755'

fresh times
touch -d '2021-03-04 05:06:07.123456790 UTC' "$B/times/ns-2021"
expect "file mtime by 1 ns" 1 \
    'times/ns-2021: mtime 2021-03-04T05:06:07.123456789Z vs 2021-03-04T05:06:07.123456790Z'

fresh times
touch -h -d '2019-12-31 23:59:59.999999998 UTC' "$B/times/link-ns"
expect "symlink mtime by 1 ns" 1 'times/link-ns: mtime .* vs 2019-12-31T23:59:59.999999998Z'
same_ok "--no-symlink-mtime ignores it" --no-symlink-mtime

fresh empty
touch -d '2022-04-15 05:20:00.987654322 UTC' "$B/empty/a/b/c"
expect "directory mtime by 1 ns" 1 \
    'empty/a/b/c: mtime 2022-04-15T05:20:00.987654321Z vs 2022-04-15T05:20:00.987654322Z'
same_ok "--no-dir-mtime ignores it" --no-dir-mtime

fresh .
touch -d '2001-01-01 UTC' "$B"
same_ok "root metadata is not compared by default"
expect "--root-meta compares it" 1 '\.: mtime .*' --root-meta

if [ "$is_root" -eq 1 ] && [ -e "$A/owners/numeric" ]; then
    fresh owners
    chown -h 1235 "$B/owners/numeric"
    expect "owner" 1 'owners/numeric: uid 1234 vs 1235'
    same_ok "--no-owner ignores it" --no-owner
    fresh owners
    chown -h 1234:1235 "$B/owners/link-1234"
    expect "group of a symlink" 1 'owners/link-1234: gid 1234 vs 1235'
else
    echo "ok - owner # skip: needs root"
fi

fresh special
rm "$B/special/fifo"
: >"$B/special/fifo"
same_mtime special/fifo special
expect "file type" 1 'special/fifo: type fifo vs regular'

if [ -c "$A/special/null-dev" ]; then
    fresh special
    rm "$B/special/null-dev"
    mknod "$B/special/null-dev" c 1 5
    chmod --reference="$A/special/null-dev" "$B/special/null-dev"
    same_mtime special/null-dev special
    expect "device numbers" 1 'special/null-dev: rdev 1:3 vs 1:5'
fi

# --- xattrs ------------------------------------------------------------------------------------
fresh xattr
setfattr -n user.text -v 'hello world!' "$B/xattr/multi"
expect "xattr value" 1 \
    'xattr/multi: xattr user.text value differs \("hello world" vs "hello world!"\)'
same_ok "--no-xattr ignores it" --no-xattr

fresh xattr
setfattr -x user.dir "$B/xattr/dir"
setfattr -n user.new -v 0x00ff "$B/xattr/dir"
expect "xattr removed from a directory" 2 'xattr/dir: xattr user.dir only in A'
expect "xattr added to a directory" 2 'xattr/dir: xattr user.new only in B'

fresh xattr
hex=$(getfattr --absolute-names -e hex -n user.big "$A/xattr/multi" | sed -n 's/^user\.big=0x//p')
big=$((${#hex} / 2))
last=$((16#${hex: -2} ^ 1))
setfattr -n user.big -v "0x${hex:0:${#hex}-2}$(printf '%02x' "$last")" "$B/xattr/multi"
expect "last byte of a ~4 KiB xattr" 1 \
    "xattr/multi: xattr user.big value differs at byte $((big - 1)) \\(length $big vs $big\\)"

if command -v setfacl >/dev/null; then
    fresh xattr
    setfacl -m u:4321:r "$B/xattr/acl"
    expect "POSIX ACL" 1 'xattr/acl: xattr system.posix_acl_access value differs .*'
fi

if [ "$is_root" -eq 1 ] && [ -L "$A/xattr/link" ] && getfattr -h -n trusted.link "$A/xattr/link" \
    >/dev/null 2>&1; then
    fresh xattr
    setfattr -h -n trusted.link -v 0x01020305 "$B/xattr/link"
    expect "trusted xattr on a symlink" 1 \
        'xattr/link: xattr trusted.link value differs '\
'\("\\x01\\x02\\x03\\x04" vs "\\x01\\x02\\x03\\x05"\)'
fi

if [ -e "$A/xattr/security" ]; then
    fresh xattr
    setfattr -n security.drkit -v 'other label' "$B/xattr/security"
    expect "security xattr" 1 \
        'xattr/security: xattr security.drkit value differs \("test label" vs "other label"\)'
fi

# --- symlinks, hardlinks, sparseness -----------------------------------------------------------
fresh links
ln -sfn ../files/size-4095 "$B/links/rel"
same_mtime links/rel links
expect "symlink target" 1 'links/rel: symlink target "../files/size-4096" vs "../files/size-4095"'

fresh hard
cp -p "$B/hard/b/two" "$B/hard/b/two.tmp"
mv -f "$B/hard/b/two.tmp" "$B/hard/b/two"
same_mtime hard/b
expect "broken hardlink (the lone name)" 3 \
    'hard/b/two: hardlinks differ \(linked with hard/a/one, hard/c/three vs not linked\)'
peers='linked with hard/b/two, hard/c/three vs linked with hard/c/three'
expect "broken hardlink (the rest of the group)" 3 "hard/a/one: hardlinks differ \\($peers\\)"

fresh hard
rm "$B/hard/c/pair-2"
ln "$B/hard/a/one" "$B/hard/c/pair-2"
same_mtime hard/c
"$TC" -- "$A" "$B" >"$T/cmp.out" || true
peers='linked with hard/pair-1 vs linked with hard/a/one, hard/b/two, hard/c/three'
assert_contains "$T/cmp.out" "^hard/c/pair-2: hardlinks differ \\($peers\\)\$"
echo "ok - hardlink moved to another group"

fresh sparse
dd if=/dev/zero of="$B/sparse/sparse-1g" bs=1M seek=1 count=499 conv=notrunc status=none
same_mtime sparse/sparse-1g
expect "sparse file filled" 1 'sparse/sparse-1g: not sparse \(allocated [0-9]+ vs [0-9]+\)'

# --- names -------------------------------------------------------------------------------------
fresh names
mv "$B"/names/$'caf\xe9' "$B"/names/$'caf\xe8'
same_mtime names
expect "non-UTF-8 name renamed (old)" 2 'only in A: names/caf\\xe9'
expect "non-UTF-8 name renamed (new)" 2 'only in B: names/caf\\xe8'

fresh empty
mkdir "$B/empty/extra"
same_mtime empty
expect "extra empty directory" 1 'only in B: empty/extra'
same_ok "--ignore skips it" --ignore empty/extra
same_ok "--ignore skips a whole subtree" --ignore ./empty/

fresh deep
rm "$B/$(cd "$A" && find deep -name leaf.txt)"
same_mtime "$(cd "$A" && find deep -name leaf.txt -printf '%h')"
expect "file missing at depth 30" 1 'only in A: deep/l01/.*/l30/leaf.txt'

# --- limits and errors -------------------------------------------------------------------------
fresh empty
(cd "$B/empty/plain" && touch f{0001..1200})
same_mtime empty/plain
expect "output capped at 1000 differences" 1001 '\.\.\. and 200 more'
"$TC" --summary -- "$A" "$B" >"$T/cmp.out" || true
assert_contains "$T/cmp.out" '^treecmp: [0-9]+ entries compared, 1200 differences$'
echo "ok - --summary counts differences past the cap"

rc=0
"$TC" "$A" "$T/does-not-exist" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "treecmp on a missing dir"
rc=0
"$TC" "$A" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "treecmp with one argument"
echo "ok - usage and I/O errors exit 2"

fresh
same_ok "the copy is identical again after all the changes were undone"
