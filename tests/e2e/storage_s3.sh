#!/usr/bin/env bash
# storage_s3.sh: the whole repository life cycle against an S3 server that checks signatures
# (@20minutes/s3rver 4.0.4 on 127.0.0.1, tests/lib/s3.sh), through the real binary.
#
# Asserts:
#   - [repository "s3"] url = s3://shop-backups/drkit with endpoint, region, key files,
#     path-style, retry-time, pack-size = 32MiB: init, backup create of a tree with a 40 MiB
#     random file (mktree.sh), list, restore identical (treecmp), backup test, check --read-data
#   - multipart upload was used: an object > 16 MiB exists, no multipart upload is left open
#   - rclone (an independent S3 client) lists exactly the objects and sizes the server holds
#     on disk, and the bytes are drkit's: the prefix downloaded with rclone is a local
#     repository that passes check --read-data and restores the snapshot identically
#   - second backup (changed, added, removed files), prune --keep-last 1, check --read-data,
#     the kept snapshot restores identically, the pruned one is gone; rclone and the server's
#     disk agree again
#   - backup copy --all --to=offsite (an S3 repository with its own passphrase file) from a
#     local repository, then on a "new machine" (empty cache dir, a config with only that
#     section, its passphrase file, no DRKIT_PASSWORD) list and restore: identical
#   - a wrong secret key: exit 1, a message about the signature/secret, no object written
#     (backup create, and init into an empty prefix); an unknown access key id: exit 1, a
#     message about the credentials
#   - a missing bucket: exit 1, "bucket ... does not exist"
#   - an unreachable endpoint (nothing listens): exit 1 within retry-time (3 s) + 12 s, a message
#     about the connection
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/s3.sh
. "$TESTS/lib/s3.sh"
set -e -o pipefail
require_drkit
need_cmd jq
s3_require
export TZ=UTC

B=shop-backups
s3_start "$B" offsite-bucket
echo "S3 server: $S3_ENDPOINT (data in $S3_DATA)"

# $1: a config for the main S3 repository (pack-size 32MiB: packs above the multipart threshold)
write_conf() {
    s3_repo_conf s3 "s3://$B/drkit" "retry-time = 10s" "pack-size = 32MiB" >"$DRKIT_CONFIG"
}
write_conf

SRC=$T/src
bash "$TESTS/lib/mktree.sh" "$SRC" --big-mib 40 --small-files 300 >"$T/mktree.out"
cat "$T/mktree.out"

# objects_agree PREFIX: rclone's listing is the server's data dir, object for object and size
objects_agree() {
    s3_objects "$1" >"$T/rclone.list"
    s3_data_objects "$1" >"$T/disk.list"
    if ! cmp -s "$T/rclone.list" "$T/disk.list"; then
        diff "$T/rclone.list" "$T/disk.list" | head -20 >&2
        return 1
    fi
    [ -s "$T/rclone.list" ]
}

# --- init, first backup, list, restore, test, check ---------------------------------------------
run_drkit 0 --storage=s3 init --kdf-ops 1 --kdf-mem 1MiB
assert_contains "$T/out" 's3://shop-backups/drkit'
s3_objects "$B/drkit" >"$T/after-init.list"
grep -q ' config$' "$T/after-init.list" || fail "no config object after init: $(cat "$T/after-init.list")"
ok "init: $(wc -l <"$T/after-init.list") objects in s3://$B/drkit"

t0=$(date +%s%N)
run_drkit 0 --storage=s3 backup create --json "$SRC"
N1=$(jq_field "$T/out" .name)
echo "backup create: $((($(date +%s%N) - t0) / 1000000)) ms, $(jq_field "$T/out" .stats.bytes_added) bytes added"
cp -al "$SRC" "$T/state1"

run_drkit 0 --storage=s3 backup list --json
assert_eq "$(jq_field "$T/out" '[.[].name] | join(" ")')" "$N1" "backup list"
ok "backup create + list ($N1)"

run_drkit 0 --storage=s3 backup restore "$N1" --target "$T/r1"
tree_equal "$SRC" "$T/r1$SRC"
rm -rf "$T/r1"
ok "restore from S3 is identical"

run_drkit 0 --storage=s3 backup test latest
run_drkit 0 --storage=s3 backup check --read-data
ok "backup test + check --read-data"

# listings page by page (continuation tokens): pages of 3 keys must see every object
run_drkit 0 --storage=s3 backup check --json
whole=$(jq -c '[.packs, .index_files, .snapshots]' "$T/out")
DRKIT_S3_LIST_PAGE=3 run_drkit 0 --storage=s3 backup check --json
assert_eq "$(jq -c '[.packs, .index_files, .snapshots]' "$T/out")" "$whole" \
    "a listing in pages of 3 keys saw a different repository"
ok "listing with continuation tokens (pages of 3) sees the same repository"

# --- multipart, rclone, the bytes ----------------------------------------------------------------
objects_agree "$B/drkit" || fail "rclone's listing differs from the server's data dir"
big=$(awk '$1 > 16777216' "$T/rclone.list" | wc -l)
[ "$big" -ge 1 ] || fail "no object > 16 MiB (pack-size = 32MiB, 40 MiB random file): multipart not exercised"
pending=$(s3_pending_uploads "$B")
assert_eq "$pending" 0 "multipart uploads left open"
ok "rclone lists $(wc -l <"$T/rclone.list") objects = the server's disk; $big over 16 MiB (multipart), none pending"

s3_rclone copy "s3:$B/drkit" "$T/mirror" 2>"$T/rclone.err" || {
    cat "$T/rclone.err" >&2
    fail "rclone copy of the repository failed"
}
run_drkit 0 --repo "$T/mirror" backup check --read-data
run_drkit 0 --repo "$T/mirror" backup restore "$N1" --target "$T/r1m"
tree_equal "$SRC" "$T/r1m$SRC"
rm -rf "$T/r1m" "$T/mirror"
ok "what rclone downloads is a valid repository holding the same snapshot"

# --- second backup, prune, check, restore --------------------------------------------------------
echo "changed text" >"$SRC/text/new.txt"
head -c 3000000 /dev/urandom >"$SRC/files/new-3m.bin"
rm -f "$SRC/files/random-4194304"
rm -rf "$SRC/small/g1"
sleep 1 # distinct snapshot names (per second)
run_drkit 0 --storage=s3 backup create --json "$SRC"
N2=$(jq_field "$T/out" .name)
[ "$N2" != "$N1" ] || fail "second backup has the first one's name"
run_drkit 0 --storage=s3 backup prune --keep-last 1
run_drkit 0 --storage=s3 backup list --json
assert_eq "$(jq_field "$T/out" '[.[].name] | join(" ")')" "$N2" "snapshots after prune --keep-last 1"
run_drkit 0 --storage=s3 backup check --read-data
run_drkit 0 --storage=s3 backup restore latest --target "$T/r2"
tree_equal "$SRC" "$T/r2$SRC"
rm -rf "$T/r2"
objects_agree "$B/drkit" || fail "after prune, rclone's listing differs from the server's data dir"
assert_eq "$(s3_pending_uploads "$B")" 0 "multipart uploads left open after the second backup"
ok "second backup, prune --keep-last 1, check --read-data, restore identical ($N2)"

# --- copy --to=s3 from a local repository, restore on a "new machine" ---------------------------
L=$T/local
init_repo "$L"
run_drkit 0 --repo "$L" backup create --time "2026-10-01 02:00" "$T/state1"
echo "offsite change" >"$T/state1.extra"
run_drkit 0 --repo "$L" backup create --time "2026-10-02 02:00" "$T/state1" "$T/state1.extra"
echo "offsite-passphrase" >"$T/offsite.pass"
{
    write_conf
    s3_repo_conf offsite "s3://offsite-bucket/shop/monthly" "password-file = $T/offsite.pass" \
        "retry-time = 10s"
} >"$T/both.conf"
mv "$T/both.conf" "$DRKIT_CONFIG"
cat "$DRKIT_CONFIG"
run_drkit 0 --storage=offsite init --kdf-ops 1 --kdf-mem 1MiB
run_drkit 0 --repo "$L" backup copy --all --to=offsite
local_names=$(snap_names "$L")

mkdir -p "$T/newmachine/cache"
s3_repo_conf offsite "s3://offsite-bucket/shop/monthly" "password-file = $T/offsite.pass" \
    >"$T/newmachine/drkit.conf"
# shellcheck disable=SC2030 # (the new machine's environment stays in this subshell)
(
    export DRKIT_CONFIG=$T/newmachine/drkit.conf XDG_CACHE_HOME=$T/newmachine/cache
    unset DRKIT_PASSWORD DRKIT_CACHE_DIR
    cd "$T/newmachine"
    run_drkit 0 --storage=offsite backup list --json
    assert_eq "$(jq -r '.[].name' "$T/out")" "$local_names" "snapshots in the off-site copy"
    run_drkit 0 --storage=offsite backup restore latest --target "$T/r3"
    run_drkit 0 --storage=offsite backup check --read-data
)
tree_equal "$T/state1" "$T/r3$T/state1"
cmp "$T/state1.extra" "$T/r3$T/state1.extra" || fail "state1.extra differs after restore from S3"
rm -rf "$T/r3"
[ -n "$(find "$T/newmachine/cache" -type f | head -1)" ] ||
    echo "note: nothing was cached in the fresh cache dir $T/newmachine/cache"
ok "copy --all --to=offsite (S3) then restore with only the config + passphrase file: identical"

# --- bad input ------------------------------------------------------------------------------------
mkdir -p "$T/small"
echo "small" >"$T/small/f"
write_conf
s3_objects "$B" >"$T/before.list"

printf 'not-the-secret\n' >"$T/wrong.secret"
printf 'AKIAUNKNOWNKEY\n' >"$T/wrong.keyid"
port=$(free_port)
# shellcheck disable=SC2031 # (DRKIT_CONFIG changed only in the new-machine subshell)
{
    s3_repo_conf wrong "s3://$B/drkit" --secret-file "$T/wrong.secret" "retry-time = 5s"
    s3_repo_conf wrongnew "s3://$B/fresh" --secret-file "$T/wrong.secret" "retry-time = 5s"
    s3_repo_conf wrongid "s3://$B/drkit" --key-file "$T/wrong.keyid" "retry-time = 5s"
    s3_repo_conf nobucket "s3://no-such-bucket/drkit" "retry-time = 5s"
    s3_repo_conf down "s3://$B/drkit" --endpoint "http://127.0.0.1:$port" "retry-time = 3s"
} >>"$DRKIT_CONFIG"

# expect_fail WHAT REGEX MAXSECS CMD...: CMD exits 1 within MAXSECS with stderr matching REGEX
# (case-insensitive); else a soft failure naming what was seen
expect_fail() {
    local what=$1 re=$2 max=$3 rc t0 took
    shift 3
    t0=$(date +%s)
    rc=$(rc_of "$@")
    took=$(($(date +%s) - t0))
    sed 's/^/    | /' "$T/err"
    if [ "$rc" != 1 ]; then
        soft_fail "$what: exit $rc, expected 1"
    elif ! grep -Eqi -- "$re" "$T/err"; then
        soft_fail "$what: the message does not match /$re/"
    elif [ "$took" -gt "$max" ]; then
        soft_fail "$what: took ${took}s (at most ${max}s expected)"
    else
        ok "$what: exit 1 in ${took}s"
    fi
}

expect_fail "backup create with a wrong secret" 'signature|secret|credential|access key' 30 \
    "$DRKIT" --storage=wrong backup create "$T/small"
expect_fail "init with a wrong secret" 'signature|secret|credential|access key' 30 \
    "$DRKIT" --storage=wrongnew init --kdf-ops 1 --kdf-mem 1MiB
expect_fail "backup list with an unknown access key id" 'access key|credential|InvalidAccessKeyId' 30 \
    "$DRKIT" --storage=wrongid backup list
s3_objects "$B" >"$T/after.list"
if cmp -s "$T/before.list" "$T/after.list"; then
    ok "nothing written with a wrong secret"
else
    diff "$T/before.list" "$T/after.list" >&2 || true
    soft_fail "objects changed in the bucket after requests with a wrong secret"
fi

expect_fail "init into a missing bucket" "bucket.*does not exist|NoSuchBucket" 30 \
    "$DRKIT" --storage=nobucket init --kdf-ops 1 --kdf-mem 1MiB
expect_fail "backup list of a missing bucket" "bucket.*does not exist|NoSuchBucket" 30 \
    "$DRKIT" --storage=nobucket backup list
expect_fail "backup create into a missing bucket" "bucket.*does not exist|NoSuchBucket" 30 \
    "$DRKIT" --storage=nobucket backup create "$T/small"
[ ! -e "$S3_DATA/no-such-bucket" ] || soft_fail "a bucket no-such-bucket appeared"

# retry-time = 3s: giving up takes the retries' time plus a connect or two, not minutes
expect_fail "backup list against an unreachable endpoint" \
    "127\.0\.0\.1:$port|connect|refused|unreachable" 15 "$DRKIT" --storage=down backup list
expect_fail "backup create against an unreachable endpoint" \
    "127\.0\.0\.1:$port|connect|refused|unreachable" 15 "$DRKIT" --storage=down backup create "$T/small"

run_drkit 0 --storage=s3 backup check
run_drkit 0 --storage=s3 backup list --json
assert_eq "$(jq_field "$T/out" '[.[].name] | join(" ")')" "$N2" "snapshots after the bad-input tests"
ok "the repository is intact after all of it"
finish_soft_fails
