#!/usr/bin/env bash
# corruption.sh: one flipped byte anywhere in a repository is found, named, and never restored.
#
# A clean repository with two snapshots (S2 = S1 plus one new file) is copied for each case and
# one byte of one file is inverted:
#   pack, middle      (inside a data blob)
#   pack, header      (in the last 100 bytes: the sealed pack header and trailer)
#   index file        (the index written by the first backup)
#   snapshot file     (the newest snapshot, S2)
# and, without flipping: the pack deleted, the pack truncated to half (plain backup check
# must notice these, as it checks that every indexed pack is present with its size).
# Then, per case:
#   - backup test latest and backup check --read-data exit 4 and name the damaged file; for
#     the damaged blob they also name at least one affected file path
#   - backup restore of the snapshot exits 4, every restored file is identical to the source
#     or absent (never wrong, never partial, no temporary files), and every absent file is
#     named on stderr; for the damaged blob exactly the files backup test named are absent
#   - for the snapshot file: backup list still lists S1, names the damaged file and exits 4;
#     S1 still restores exactly
# Header-only damage leaves every blob intact (they are found through the index): there
# backup test/restore may succeed, but then the restore must be exact; check --read-data must
# still exit 4 and name the pack.
# Every case runs even if an earlier one fails ("not ok" lines); the script fails at the end.
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq od dd cmp

SRC=$T/src
CLEAN=$T/clean
mkdir -p "$SRC"
for i in 1 2 3 4 5 6 7 8; do
    mkdir -p "$SRC/big$i"
    head -c $(((i + 2) * 1048576 + i * 7919)) /dev/urandom >"$SRC/big$i/data.bin"
done
for d in 1 2 3; do
    mkdir -p "$SRC/small/d$d"
    for i in $(seq 1 100); do
        head -c $((100 + (i * 977 + d * 131) % 5000)) /dev/urandom >"$SRC/small/d$d/f$i"
    done
done
printf 'hello\n' >"$SRC/hello.txt"

init_repo "$CLEAN" --pack-size 4MiB
run_drkit 0 --repo "$CLEAN" backup create --json "$SRC"
S1=$(jq_field "$T/out" .name)
ls "$CLEAN/index" >"$T/index-s1"
mkdir "$SRC/later"
head -c $((5 * 1048576)) /dev/urandom >"$SRC/later/new.bin"
run_drkit 0 --repo "$CLEAN" backup create --json "$SRC"
S2=$(jq_field "$T/out" .name)
S2_ID=$(jq_field "$T/out" .id)
run_drkit 0 --repo "$CLEAN" backup check --read-data
ok "clean repository: $S1 and $S2, check --read-data passes"

INDEX1=$(head -1 "$T/index-s1")
[ "$(wc -l <"$T/index-s1")" -eq 1 ] || fail "expected one index file after the first backup"
PACK=$(cd "$CLEAN" && find data -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
PACK_ID=$(basename "$PACK")
echo "# largest pack $PACK ($(stat -c %s "$CLEAN/$PACK") bytes), first index $INDEX1, S2 $S2_ID"

# check_cmd RC-WANT WHAT ARGS...: run drkit, soft-fail unless it exits RC-WANT; sets rc
check_cmd() {
    local want=$1 what=$2
    shift 2
    rc=$(rc_of "$DRKIT" "$@")
    if [ "$rc" != "$want" ]; then
        soft_fail "$what: drkit $* exited $rc, expected $want"
        sed 's/^/#   stderr: /' "$T/err" | head -15
        return 1
    fi
    return 0
}

# names FILE STRING WHAT: soft-fail unless FILE contains STRING
names() {
    if ! grep -qF -- "$2" "$1"; then
        soft_fail "$3: '$2' is not named"
        sed 's/^/#   stderr: /' "$1" | head -15
        return 1
    fi
    return 0
}

# affected_of FILE: the paths listed under "affected files (N):" in FILE, one a line
affected_of() {
    sed -n '/^affected files/,$p' "$1" | sed -n 's/^  \(backup-[0-9-]*: \)\{0,1\}//p' |
        grep -v '^\.\.\. and' | LC_ALL=C sort -u
}

# verify_restore DIR WHAT [TREECMP-IGNORE]: every file restored under DIR$SRC is identical to
# its source or absent; absent ones are named in $T/err; prints the absent paths to $T/absent
verify_restore() {
    local dir=$1 what=$2 ignore=${3:-} rel bad=0
    : >"$T/absent"
    while IFS= read -r -d '' rel; do
        rel=${rel#./}
        if [ -n "$ignore" ] && [[ "$rel" == "$ignore"/* ]]; then
            continue
        fi
        if [ -e "$dir$SRC/$rel" ] || [ -L "$dir$SRC/$rel" ]; then
            if ! cmp -s "$SRC/$rel" "$dir$SRC/$rel"; then
                soft_fail "$what: $SRC/$rel was restored with wrong content"
                bad=1
            fi
        else
            echo "$SRC/$rel" >>"$T/absent"
            if ! named_or_ancestor "$SRC/$rel"; then
                soft_fail "$what: $SRC/$rel is missing from the restore but not named"
                bad=1
            fi
        fi
    done < <(cd "$SRC" && find . -type f -print0)
    if [ -d "$dir" ]; then
        local junk
        junk=$(find "$dir" -name '.drkit-restore-*' -o -name '.tmp-*' | head -3)
        if [ -n "$junk" ]; then
            soft_fail "$what: temporary files left in the target: $junk"
            bad=1
        fi
        # nothing that is not in the source
        while IFS= read -r -d '' rel; do
            rel=${rel#./}
            if [ ! -e "$SRC/$rel" ] && [ ! -L "$SRC/$rel" ]; then
                soft_fail "$what: restore wrote $SRC/$rel which is not in the source"
                bad=1
            fi
        done < <(cd "$dir$SRC" 2>/dev/null && find . -mindepth 1 -print0)
    fi
    LC_ALL=C sort -o "$T/absent" "$T/absent"
    return "$bad"
}

# named_or_ancestor PATH: $T/err names PATH, or one of its directories as 'DIR'
named_or_ancestor() {
    local p=$1
    grep -qF -- "$p" "$T/err" && return 0
    while [ "$p" != / ] && [ "$p" != . ]; do
        p=$(dirname "$p")
        grep -qF -- "'$p'" "$T/err" && return 0
    done
    return 1
}

fresh() {
    rm -rf "$T/r" "$T/x"
    cp -a "$CLEAN" "$T/r"
}

# --- pack, middle ---------------------------------------------------------------------------------
fresh
size=$(stat -c %s "$T/r/$PACK")
corrupt_byte "$T/r/$PACK" $((size / 2))
what="pack middle"
: >"$T/affected-test"
if check_cmd 4 "$what: backup test latest" --repo "$T/r" backup test latest; then
    names "$T/err" "$PACK_ID" "$what: backup test" &&
        affected_of "$T/err" >"$T/affected-test" &&
        if grep -q "^$SRC/" "$T/affected-test"; then
            ok "$what: backup test exits 4, names the pack and $(wc -l <"$T/affected-test") affected file(s)"
        else
            soft_fail "$what: backup test names no affected file"
        fi
fi
if check_cmd 4 "$what: check --read-data" --repo "$T/r" backup check --read-data; then
    names "$T/err" "$PACK_ID" "$what: check --read-data" &&
        if affected_of "$T/err" | grep -q "^$SRC/"; then
            ok "$what: check --read-data exits 4, names the pack and an affected file"
        else
            soft_fail "$what: check --read-data names no affected file"
        fi
fi
rc=$(rc_of "$DRKIT" --repo "$T/r" backup check)
echo "# $what: plain backup check (no --read-data) exits $rc (not required to notice)"
if check_cmd 4 "$what: restore" --repo "$T/r" backup restore latest --target "$T/x"; then
    if verify_restore "$T/x" "$what: restore"; then
        if [ ! -s "$T/absent" ]; then
            soft_fail "$what: restore exited 4 but every file is there"
        elif [ -s "$T/affected-test" ] && ! cmp -s "$T/absent" "$T/affected-test"; then
            soft_fail "$what: the files missing from the restore are not those backup test named"
            diff "$T/affected-test" "$T/absent" | sed 's/^/#   /' | head
        else
            ok "$what: restore exits 4; $(wc -l <"$T/absent") damaged file(s) absent and named, all others exact"
        fi
    fi
fi

# --- pack, header -----------------------------------------------------------------------------------
fresh
size=$(stat -c %s "$T/r/$PACK")
corrupt_byte "$T/r/$PACK" $((size - 50))
what="pack header"
if check_cmd 4 "$what: check --read-data" --repo "$T/r" backup check --read-data; then
    names "$T/err" "$PACK_ID" "$what: check --read-data" &&
        ok "$what: check --read-data exits 4 and names the pack"
fi
rc=$(rc_of "$DRKIT" --repo "$T/r" backup test latest)
if [ "$rc" = 4 ]; then
    names "$T/err" "$PACK_ID" "$what: backup test" && ok "$what: backup test exits 4 and names the pack"
elif [ "$rc" = 0 ]; then
    ok "$what: backup test exits 0 # every blob is intact and found through the index"
else
    soft_fail "$what: backup test exited $rc"
fi
rc=$(rc_of "$DRKIT" --repo "$T/r" backup restore latest --target "$T/x")
if [ "$rc" = 0 ] || [ "$rc" = 4 ]; then
    if verify_restore "$T/x" "$what: restore"; then
        if [ "$rc" = 0 ] && [ -s "$T/absent" ]; then
            soft_fail "$what: restore exited 0 but files are missing"
        else
            ok "$what: restore exits $rc and every restored file is exact"
        fi
    fi
else
    soft_fail "$what: restore exited $rc"
fi

# --- pack missing, pack truncated -----------------------------------------------------------------
for kind in missing truncated; do
    fresh
    if [ "$kind" = missing ]; then
        rm "$T/r/$PACK"
    else
        truncate -s $(($(stat -c %s "$T/r/$PACK") / 2)) "$T/r/$PACK"
    fi
    what="pack $kind"
    : >"$T/affected-test"
    if check_cmd 4 "$what: backup check" --repo "$T/r" backup check; then
        names "$T/err" "$PACK_ID" "$what: backup check" &&
            if affected_of "$T/err" | grep -q "^$SRC/"; then
                ok "$what: plain check exits 4, names the pack and an affected file"
            else
                soft_fail "$what: check names no affected file"
            fi
    fi
    if check_cmd 4 "$what: backup test latest" --repo "$T/r" backup test latest; then
        names "$T/err" "$PACK_ID" "$what: backup test" &&
            affected_of "$T/err" >"$T/affected-test" &&
            ok "$what: backup test exits 4 and names the pack"
    fi
    rm -rf "$T/x"
    rc=$(rc_of "$DRKIT" --repo "$T/r" backup restore latest --target "$T/x")
    if verify_restore "$T/x" "$what: restore"; then
        if [ "$rc" != 4 ]; then
            soft_fail "$what: restore exited $rc, expected 4 (damaged repository: $(grep -m1 '^drkit:' "$T/err"))"
        elif [ ! -s "$T/absent" ]; then
            soft_fail "$what: restore exited 4 but every file is there"
        else
            ok "$what: restore exits 4; $(wc -l <"$T/absent") file(s) absent and named, all others exact"
        fi
    fi
done

# --- index file --------------------------------------------------------------------------------------
fresh
size=$(stat -c %s "$T/r/index/$INDEX1")
corrupt_byte "$T/r/index/$INDEX1" $((size / 2))
what="index file"
if check_cmd 4 "$what: backup test latest" --repo "$T/r" backup test latest; then
    names "$T/err" "$INDEX1" "$what: backup test" &&
        if affected_of "$T/err" | grep -q "^$SRC"; then
            ok "$what: backup test exits 4, names the index file and affected files"
        else
            soft_fail "$what: backup test names no affected file"
        fi
fi
if check_cmd 4 "$what: check --read-data" --repo "$T/r" backup check --read-data; then
    names "$T/err" "$INDEX1" "$what: check --read-data" &&
        ok "$what: check --read-data exits 4 and names the index file"
fi
if check_cmd 4 "$what: check" --repo "$T/r" backup check; then
    names "$T/err" "$INDEX1" "$what: check" && ok "$what: plain check exits 4 and names it too"
fi
if check_cmd 4 "$what: restore" --repo "$T/r" backup restore latest --target "$T/x"; then
    if verify_restore "$T/x" "$what: restore"; then
        if [ ! -s "$T/absent" ]; then
            soft_fail "$what: restore exited 4 but every file is there"
        else
            ok "$what: restore exits 4; $(wc -l <"$T/absent") file(s) absent and named, all restored ones exact"
        fi
    fi
fi

# --- snapshot file --------------------------------------------------------------------------------
fresh
size=$(stat -c %s "$T/r/snapshots/$S2_ID")
corrupt_byte "$T/r/snapshots/$S2_ID" $((size / 2))
what="snapshot file"
if check_cmd 4 "$what: backup list" --repo "$T/r" backup list; then
    if grep -qF "$S1" "$T/out" && ! grep -qF "$S2" "$T/out"; then
        names "$T/err" "$S2_ID" "$what: backup list" &&
            ok "$what: backup list exits 4, still lists $S1 and names the damaged file"
    else
        soft_fail "$what: backup list does not list exactly the intact snapshot"
    fi
fi
if check_cmd 4 "$what: check" --repo "$T/r" backup check; then
    names "$T/err" "$S2_ID" "$what: check" && ok "$what: check exits 4 and names the snapshot file"
fi
if check_cmd 4 "$what: check --read-data" --repo "$T/r" backup check --read-data; then
    names "$T/err" "$S2_ID" "$what: check --read-data" &&
        ok "$what: check --read-data exits 4 and names the snapshot file"
fi
if check_cmd 4 "$what: backup test latest" --repo "$T/r" backup test latest; then
    names "$T/err" "${S2_ID:0:16}" "$what: backup test latest" &&
        ok "$what: backup test latest exits 4 and names the damaged snapshot"
fi
if check_cmd 4 "$what: backup test by id" --repo "$T/r" backup test "${S2_ID:0:12}"; then
    names "$T/err" "${S2_ID:0:16}" "$what: backup test by id" &&
        ok "$what: backup test <id prefix> exits 4 and names it"
fi
rm -rf "$T/x"
if check_cmd 4 "$what: restore latest" --repo "$T/r" backup restore latest --target "$T/x"; then
    if [ -n "$(find "$T/x" -type f 2>/dev/null | head -1)" ]; then
        soft_fail "$what: restore latest exited 4 but wrote files (of which snapshot?)"
    else
        ok "$what: restore latest exits 4 and writes nothing"
    fi
fi
rm -rf "$T/x"
if check_cmd 4 "$what: restore by id" --repo "$T/r" backup restore "${S2_ID:0:12}" --target "$T/x"; then
    ok "$what: restore <id prefix> exits 4"
fi
rm -rf "$T/x"
if check_cmd 0 "$what: restore of the intact S1" --repo "$T/r" backup restore "$S1" --target "$T/x"; then
    if "$DRKIT_TOOLS/treecmp" --ignore later -- "$SRC" "$T/x$SRC" >"$T/cmp.out" 2>&1; then
        ok "$what: the other snapshot ($S1) still restores exactly"
    else
        soft_fail "$what: $S1 does not restore exactly: $(head -3 "$T/cmp.out")"
    fi
fi

finish_soft_fails
