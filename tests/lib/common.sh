# common.sh: shared helpers for drkit's end-to-end scripts (tests/e2e/*.sh).
#
# Source it first:   . "$DRKIT_TESTS/lib/common.sh"
#
# Environment (set by CTest, see tests/CMakeLists.txt): DRKIT (the drkit binary), DRKIT_TOOLS
# (where treecmp and the other test tools are built), DRKIT_TESTS (tests/ in the source tree),
# DRKIT_SOURCE (the project root).
#
# What sourcing does:
#   - set -u; a private temp dir $T (/tmp/drkit-t.XXXXXX), removed at exit
#   - an EXIT trap (also reached on INT/TERM/HUP) that, in this order, runs the commands given to
#     on_exit (last registered first), unmounts the dirs given to track_mount, kills the pids
#     given to track_pid (TERM, then KILL after 5 s), then chmod -R u+rwx and removes $T
#   - isolation from the machine's configuration: DRKIT_CONFIG is an empty file in $T (so neither
#     ./drkit.conf nor /etc/drkit/drkit.conf is read), DRKIT_PASSWORD=test-passphrase, and
#     DRKIT_REPOSITORY and DRKIT_PASSWORD_FILE are unset
#
# Functions:
#   fail MSG                      print "FAIL: MSG" on stderr, exit 1
#   skip MSG                      print "SKIP: MSG" on stderr, exit 77 (CTest: skipped)
#   need_root                     skip unless running as root
#   need_cmd CMD...               skip unless every CMD is on PATH
#   require_drkit                 fail unless $DRKIT is set and executable
#   on_exit 'CMD'                 run CMD (with eval) at exit
#   track_pid PID                 kill PID at exit
#   track_mount DIR               unmount DIR at exit (umount, fusermount -u, then umount -l)
#   run_drkit RC ARGS...          run "$DRKIT" ARGS, stdout to $T/out, stderr to $T/err; fail
#                                 with the command and both outputs unless it exits with RC
#   assert_contains FILE REGEX    fail unless FILE has a line matching the extended REGEX
#   assert_not_contains FILE RE   fail if FILE has a line matching RE
#   assert_eq A B MSG             fail with MSG unless A = B (as strings)
#   tree_equal A B [OPTS...]      fail with treecmp's report unless trees A and B are identical
#                                 (OPTS are treecmp options, e.g. --no-owner --ignore REL)
#   free_port                     print a random TCP port in 20000..60000 that nothing listens on
#   wait_port PORT [SECONDS]      wait until something listens on PORT (default 10 s), else fail
#   dir_size DIR                  print the apparent size of DIR in bytes (du -sb)
#   file_count DIR                print the number of regular files under DIR
# Scripts may add set -e themselves: every helper here is safe under it.

set -u

if [ -n "${DRKIT_COMMON_SOURCED:-}" ]; then
    return 0
fi
DRKIT_COMMON_SOURCED=1

_drkit_exit_cmds=()
_drkit_pids=()
_drkit_mounts=()

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*" >&2
    exit 77
}

need_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "needs $c"
    done
}

require_drkit() {
    [ -n "${DRKIT:-}" ] || fail "DRKIT is not set (run the test through ctest)"
    { [ -f "$DRKIT" ] && [ -x "$DRKIT" ]; } || fail "DRKIT=$DRKIT is not an executable file"
}

on_exit() {
    _drkit_exit_cmds+=("$1")
}

track_pid() {
    _drkit_pids+=("$1")
}

track_mount() {
    _drkit_mounts+=("$1")
}

_drkit_cleanup() {
    local rc=$? i pid m waited
    set +e
    trap - EXIT INT TERM HUP
    for ((i = ${#_drkit_exit_cmds[@]} - 1; i >= 0; i--)); do
        eval "${_drkit_exit_cmds[i]}"
    done
    # unmount before killing: a FUSE daemon killed first leaves a dead mount behind
    for ((i = ${#_drkit_mounts[@]} - 1; i >= 0; i--)); do
        m=${_drkit_mounts[i]}
        if mountpoint -q -- "$m" 2>/dev/null; then
            umount -- "$m" 2>/dev/null || fusermount -u -- "$m" 2>/dev/null ||
                umount -l -- "$m" 2>/dev/null || echo "common.sh: cannot unmount $m" >&2
        fi
    done
    for pid in "${_drkit_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${_drkit_pids[@]}"; do
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        chmod -R u+rwx -- "$T" 2>/dev/null
        # --one-file-system: never descend into something still mounted under $T
        rm -rf --one-file-system -- "$T" || echo "common.sh: cannot remove $T" >&2
    fi
    exit "$rc"
}

T=$(mktemp -d /tmp/drkit-t.XXXXXX) || {
    echo "FAIL: mktemp" >&2
    exit 1
}
trap _drkit_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

: >"$T/drkit.conf"
export DRKIT_CONFIG="$T/drkit.conf"
export DRKIT_PASSWORD=test-passphrase
unset DRKIT_REPOSITORY DRKIT_PASSWORD_FILE

run_drkit() {
    local want=$1 rc=0
    shift
    "$DRKIT" "$@" >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        {
            printf 'command: %q' "$DRKIT"
            printf ' %q' "$@"
            printf '\nexit code: %s (expected %s)\n--- stdout ---\n' "$rc" "$want"
            cat "$T/out"
            echo "--- stderr ---"
            cat "$T/err"
            echo "--------------"
        } >&2
        fail "drkit $* exited $rc, expected $want"
    fi
}

assert_contains() {
    grep -Eq -- "$2" "$1" && return 0
    {
        echo "--- $1 ---"
        cat "$1"
        echo "----------"
    } >&2
    fail "$1 does not match /$2/"
}

assert_not_contains() {
    grep -Eq -- "$2" "$1" || return 0
    {
        echo "--- $1 ---"
        cat "$1"
        echo "----------"
    } >&2
    fail "$1 matches /$2/"
}

assert_eq() {
    [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"
}

tree_equal() {
    local a=$1 b=$2 rc=0
    shift 2
    [ -x "${DRKIT_TOOLS:-}/treecmp" ] || fail "treecmp not found in DRKIT_TOOLS=${DRKIT_TOOLS:-}"
    "$DRKIT_TOOLS/treecmp" "$@" -- "$a" "$b" >"$T/treecmp.out" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$T/treecmp.out" >&2
        fail "trees $a and $b differ (treecmp exit $rc)"
    fi
}

free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    fail "no free port found"
}

wait_port() {
    local p=$1 timeout=${2:-10} tries
    tries=$((timeout * 10))
    while [ "$tries" -gt 0 ]; do
        [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    fail "nothing listens on port $p after ${timeout}s"
}

dir_size() {
    du -sb -- "$1" | cut -f1
}

file_count() {
    find "$1" -type f -printf '.' | wc -c
}

# --- helpers for the engine's end-to-end tests (tests/e2e/*.sh) ---------------------------------
#   ok MSG                        print "ok - MSG"
#   soft_fail MSG                 print "not ok - MSG" on stdout and stderr and remember it; the
#                                 script keeps going (to report every broken guarantee in one run)
#                                 and finish_soft_fails makes it exit 1 at the end
#   finish_soft_fails             fail if soft_fail was called; else return
#   init_repo DIR [OPTS...]       drkit init with a weak KDF (tests only), exit 0 required
#   rc_of CMD...                  run CMD, stdout to $T/out, stderr to $T/err; print its exit code
#   corrupt_byte FILE OFFSET      invert (xor 0xff) the byte at OFFSET of FILE in place
#   json_valid FILE               fail unless FILE holds exactly one valid JSON document
#   jq_field FILE FILTER          print jq -r FILTER of FILE (fail if jq fails)
#   file_manifest DIR             print "<sha256>  <relative path>" of every regular file,
#                                 sorted, plus "<type> <relative path>" of everything else
_drkit_soft_fails=0

ok() {
    echo "ok - $*"
}

soft_fail() {
    _drkit_soft_fails=$((_drkit_soft_fails + 1))
    echo "not ok - $*"
    echo "FAIL: $*" >&2
}

finish_soft_fails() {
    [ "$_drkit_soft_fails" -eq 0 ] || fail "$_drkit_soft_fails check(s) failed (see 'not ok' lines)"
}

init_repo() {
    local dir=$1
    shift
    run_drkit 0 --repo "$dir" init --kdf-ops 1 --kdf-mem 1MiB "$@"
}

rc_of() {
    local rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    echo "$rc"
}

corrupt_byte() {
    local old new
    old=$(od -An -tu1 -j "$2" -N1 -- "$1" | tr -d ' ')
    [ -n "$old" ] || fail "corrupt_byte: $1 has no byte at offset $2"
    new=$((old ^ 255))
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' "$new")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

json_valid() {
    command -v jq >/dev/null || skip "needs jq"
    [ "$(jq -s 'length' <"$1" 2>/dev/null)" = 1 ] || {
        echo "--- $1 ---" >&2
        cat "$1" >&2
        fail "$1 is not exactly one valid JSON document"
    }
}

jq_field() {
    local v
    v=$(jq -r "$2" <"$1") || fail "jq '$2' failed on $1"
    printf '%s\n' "$v"
}

file_manifest() {
    (
        cd "$1" || exit 1
        find . -mindepth 1 ! -type f -printf '%y %p\n'
        find . -type f -print0 | xargs -0 -r sha256sum
    ) | LC_ALL=C sort
}

# --- helpers for the repository lifecycle tests (prune, copy, keys, locks, policy) -------------
#   snap_names REPO [ARGS...]     print the snapshot names of REPO (oldest first); ARGS go to
#                                 drkit before the command (e.g. a --config); fail if list fails
#   msleep MS                     sleep MS milliseconds
#   rand_between LO HI            print a random integer in LO..HI
#   wait_until SECONDS CMD...     run CMD every 10 ms until it succeeds; return 1 after SECONDS
#   lock_files REPO               print the number of files in REPO/locks
snap_names() {
    local repo=$1 out
    shift
    out=$("$DRKIT" "$@" --repo "$repo" backup list --json 2>"$T/snap_names.err") || {
        cat "$T/snap_names.err" >&2
        fail "backup list of $repo failed"
    }
    printf '%s\n' "$out" | jq -r '.[].name'
}

msleep() {
    sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"
}

rand_between() {
    echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
}

wait_until() {
    local secs=$1 tries
    shift
    tries=$((secs * 100))
    while [ "$tries" -gt 0 ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.01
        tries=$((tries - 1))
    done
    return 1
}

lock_files() {
    find "$1/locks" -type f 2>/dev/null | wc -l
}
