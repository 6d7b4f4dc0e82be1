#!/usr/bin/env bash
# badinput.sh: wrong input gives the documented exit code and a message that says what is wrong.
#
# Asserts:
#   - wrong passphrase: exit 1, "wrong passphrase"
#   - a repository path that does not exist: exit 1, the path is named; an empty directory:
#     exit 1, "no repository"; a restic-like repository / a foreign `config` file: exit 1,
#     "not a drkit repository"
#   - an unreadable source file (backup run as nobody, one file root-owned 0000): exit 3, the
#     file named on stderr and in backup show (text and --json errors), partial: true in
#     list --json and show --json, and everything else restores exactly
#   - restore to a target whose parent does not exist: exit 1, the target is named
#   - a full disk (24 MiB tmpfs, 60 MiB of random data): exit 1 with "no space"; after the
#     space is freed backup check passes with no problems, no temporary or half-written
#     file is visible (tmp/ empty, no dot files), the earlier snapshot restores exactly and a
#     new backup succeeds and restores exactly
#   - config errors (unknown key, bad value, missing quote): exit 2 with file:line and the key
#   - backup create with no paths and no config: exit 2; unknown options: exit 2; restore
#     without --target and without --delta: exit 2
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
set -e -o pipefail
require_drkit
need_cmd jq

R=$T/repo
init_repo "$R"
mkdir -p "$T/src/sub"
head -c 100000 /dev/urandom >"$T/src/sub/data"
run_drkit 0 --repo "$R" backup create "$T/src"

# --- passphrase and repository location ----------------------------------------------------------
DRKIT_PASSWORD=not-the-passphrase run_drkit 1 --repo "$R" backup list
assert_contains "$T/err" 'wrong passphrase'
ok "wrong passphrase: exit 1, 'wrong passphrase'"

run_drkit 1 --repo "$T/no/such/repo" backup list
assert_contains "$T/err" "$T/no/such/repo"
assert_contains "$T/err" 'no repository'
ok "a repository path that does not exist: exit 1, named"

mkdir "$T/empty"
run_drkit 1 --repo "$T/empty" backup list
assert_contains "$T/err" "no repository at '$T/empty'"
ok "an empty directory: exit 1, 'no repository'"

# a restic repository: an encrypted binary config and restic's directories
mkdir -p "$T/restic"/{data,index,keys,locks,snapshots}
head -c 187 /dev/urandom >"$T/restic/config"
printf '{"created":"2024-01-01T00:00:00Z","username":"root","kdf":"scrypt"}\n' \
    >"$T/restic/keys/0123456789abcdef"
run_drkit 1 --repo "$T/restic" backup list
assert_contains "$T/err" 'not a drkit repository'
run_drkit 1 --repo "$T/restic" backup create "$T/src"
assert_contains "$T/err" 'not a drkit repository'
mkdir "$T/foreign"
printf '[core]\n\trepositoryformatversion = 0\n' >"$T/foreign/config"
run_drkit 1 --repo "$T/foreign" backup list
assert_contains "$T/err" 'not a drkit repository'
run_drkit 1 --repo "$T/foreign" init --kdf-ops 1 --kdf-mem 1MiB
[ ! -e "$T/foreign/keys" ] || fail "init wrote into a directory holding a foreign config"
ok "a restic repository or a foreign config file: exit 1, 'not a drkit repository'"

# --- unreadable source file ----------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    ng=$(id -gn nobody)
    chmod 755 "$T"
    NB=$T/nb
    mkdir -p "$NB/src/d" "$NB/src/e"
    head -c 200000 /dev/urandom >"$NB/src/d/readable.bin"
    printf 'fine\n' >"$NB/src/e/ok.txt"
    printf 'secret\n' >"$NB/src/d/locked.txt"
    chown -R nobody:"$ng" "$NB"
    chown root:root "$NB/src/d/locked.txt"
    chmod 000 "$NB/src/d/locked.txt"
    as_nobody() {
        setpriv --reuid=nobody --regid="$ng" --clear-groups -- "$DRKIT" "$@"
    }
    rc=$(rc_of as_nobody --repo "$NB/repo" init --kdf-ops 1 --kdf-mem 1MiB)
    [ "$rc" -eq 0 ] || { cat "$T/err" >&2; fail "init as nobody exited $rc"; }
    rc=$(rc_of as_nobody --repo "$NB/repo" backup create "$NB/src")
    if [ "$rc" -ne 3 ]; then
        cat "$T/out" "$T/err" >&2
        fail "a backup with an unreadable file exited $rc, expected 3"
    fi
    assert_contains "$T/err" "$NB/src/d/locked.txt"
    ok "an unreadable file: exit 3, named on stderr"

    run_drkit 0 --repo "$NB/repo" backup show latest
    assert_contains "$T/out" "$NB/src/d/locked.txt"
    assert_contains "$T/out" 'partial'
    run_drkit 0 --repo "$NB/repo" backup show latest --json
    json_valid "$T/out"
    jq -e --arg p "$NB/src/d/locked.txt" \
        '.partial == true and .error_count == 1 and any(.errors[]; .path == $p and (.error | length) > 0)' \
        "$T/out" >/dev/null || { cat "$T/out" >&2; fail "backup show --json: no error for the file"; }
    run_drkit 0 --repo "$NB/repo" backup list --json
    jq -e 'length == 1 and .[0].partial == true and .[0].error_count == 1' "$T/out" >/dev/null ||
        { cat "$T/out" >&2; fail "backup list --json: the snapshot is not marked partial"; }
    run_drkit 0 --repo "$NB/repo" backup list
    assert_contains "$T/out" 'partial'
    ok "backup show names the file as an error; list --json says partial: true"

    run_drkit 0 --repo "$NB/repo" backup restore latest --target "$T/nbres"
    [ ! -e "$T/nbres$NB/src/d/locked.txt" ] || fail "the unreadable file was restored"
    tree_equal "$NB/src" "$T/nbres$NB/src" --ignore d/locked.txt
    tree_equal "$NB/src/e" "$T/nbres$NB/src/e"
    ok "everything else of the partial snapshot restores exactly"
else
    echo "ok - unreadable file # skip: needs root, setpriv and a nobody user"
fi

# --- restore target -----------------------------------------------------------------------------
run_drkit 1 --repo "$R" backup restore latest --target "$T/missing-parent/target"
assert_contains "$T/err" "$T/missing-parent/target"
[ ! -e "$T/missing-parent" ] || fail "restore created the missing parent"
ok "restore to a target whose parent does not exist: exit 1, named"

# --- full disk ----------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    FD=$T/small-fs
    mkdir "$FD"
    mount -t tmpfs -o size=24m tmpfs "$FD" || skip "cannot mount a tmpfs"
    track_mount "$FD"
    init_repo "$FD/repo"
    mkdir -p "$T/s0" "$T/s1"
    head -c 2000000 /dev/urandom >"$T/s0/first.bin"
    printf 'small\n' >"$T/s0/small.txt"
    run_drkit 0 --repo "$FD/repo" backup create --json "$T/s0"
    S0=$(jq_field "$T/out" .name)
    for i in 1 2 3; do
        head -c 20000000 /dev/urandom >"$T/s1/big$i"
    done
    run_drkit 1 --repo "$FD/repo" backup create "$T/s1"
    assert_contains "$T/err" '[Nn]o space'
    ok "a full disk: exit 1, 'no space' ($(head -1 "$T/err"))"
    nsnap=$(find "$FD/repo/snapshots" -type f | wc -l)
    assert_eq "$nsnap" 1 "snapshot files after the failed backup"

    mount -o remount,size=200m "$FD"
    junk=$(find "$FD/repo" -name '.*' | head -5)
    [ -z "$junk" ] || fail "half-written files are left: $junk"
    [ -z "$(ls -A "$FD/repo/tmp")" ] || fail "tmp/ holds leftovers: $(ls -A "$FD/repo/tmp")"
    [ -z "$(ls -A "$FD/repo/locks")" ] || fail "the failed backup left its lock behind"
    run_drkit 0 --repo "$FD/repo" backup check
    assert_contains "$T/out" '^no problems'
    assert_not_contains "$T/out" '^note: tmp'
    run_drkit 0 --repo "$FD/repo" backup check --read-data
    assert_contains "$T/out" '^no problems'
    ok "after freeing space: check --read-data passes, no temporary or half-written files"

    run_drkit 0 --repo "$FD/repo" backup restore "$S0" --target "$T/fdres0"
    tree_equal "$T/s0" "$T/fdres0$T/s0"
    run_drkit 0 --repo "$FD/repo" backup create "$T/s1"
    run_drkit 0 --repo "$FD/repo" backup restore latest --target "$T/fdres1"
    tree_equal "$T/s1" "$T/fdres1$T/s1"
    ok "the earlier snapshot restores, a new backup succeeds and restores exactly"
else
    echo "ok - full disk # skip: needs root to mount a tmpfs"
fi

# --- config errors ------------------------------------------------------------------------------
printf '[core]\n    threads = 2\n    bogus-key = 1\n' >"$T/c1.conf"
run_drkit 2 --config "$T/c1.conf" --repo "$R" backup list
assert_contains "$T/err" "c1\\.conf:3:.*bogus-key"
printf '[core]\n    threads = many\n' >"$T/c2.conf"
run_drkit 2 --config "$T/c2.conf" --repo "$R" backup list
assert_contains "$T/err" "c2\\.conf:2:.*threads"
assert_contains "$T/err" "many"
printf '[core]\n    host = "unterminated\n' >"$T/c3.conf"
run_drkit 2 --config "$T/c3.conf" --repo "$R" backup list
assert_contains "$T/err" "c3\\.conf:2:.*(quote|host)"
printf '[repository "name]\n    url = /tmp\n' >"$T/c4.conf"
run_drkit 2 --config "$T/c4.conf" --repo "$R" backup list
assert_contains "$T/err" "c4\\.conf:1:.*quote"
DRKIT_CONFIG=$T/c2.conf run_drkit 2 --repo "$R" backup create "$T/src"
assert_contains "$T/err" "c2\\.conf:2:.*threads"
run_drkit 2 --config "$T/does-not-exist.conf" --repo "$R" backup list
assert_contains "$T/err" "does-not-exist\\.conf"
ok "config errors: exit 2 with file:line and the key"

# --- usage errors -------------------------------------------------------------------------------
run_drkit 2 --repo "$R" backup create
assert_contains "$T/err" 'nothing to back up'
run_drkit 2 --repo "$R" backup create --no-such-option "$T/src"
assert_contains "$T/err" "unknown option '--no-such-option'"
run_drkit 2 --no-such-option
assert_contains "$T/err" "unknown option"
run_drkit 2 --repo "$R" backup list --bogus
run_drkit 2 --repo "$R" backup restore latest
assert_contains "$T/err" '--target'
run_drkit 2 --repo "$R" backup restore latest --delete --target "$T/x"
run_drkit 2 --repo "$R" backup create --type=weekly "$T/src"
run_drkit 2 --repo "$R" backup list --before=not-a-date
run_drkit 2 --repo "$R" frobnicate
run_drkit 2 --repo "$R" backup frobnicate
run_drkit 2 --repo "$R" backup restore
[ ! -e "$T/x" ] || fail "a usage error wrote a target"
ok "usage errors exit 2 (no paths, unknown options, restore without --target/--delta, bad values)"
