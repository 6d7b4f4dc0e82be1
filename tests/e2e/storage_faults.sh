#!/usr/bin/env bash
# storage_faults.sh: drkit against an S3 server behind a proxy that drops connections, stalls,
# and answers 500/503 (tests/tools/faultproxy.py, ~25% of requests): every command completes
# (retrying) or fails with a clear error, and the repository stays consistent.
#
# Asserts:
#   - the proxy itself (curl, anonymous requests, which s3rver accepts): passes requests through
#     untouched (PUT + GET identical, keep-alive), --error 1 answers 500/503 with an S3 XML error
#     document, --drop 1 breaks every transfer, --stall delays
#   - through the proxy (--drop 0.1 --stall 0.05 --stall-seconds 2 --error 0.1; FAULT_SEED=N to
#     replay a draw sequence): 5 backups of a changing tree with 20 MiB packs (multipart), then
#     list, test, restore and prune --keep-last 4: each exits 0, or 1 with a "drkit: " message
#     (never a crash, a hang or another code) that does not blame the repository (not "damaged",
#     "not a drkit repository", ...) and only after retrying (not before half of retry-time =
#     15s); at least one backup succeeds; faults were injected
#   - afterwards, directly (no proxy): check --read-data passes; the snapshots are exactly the
#     successful backups (minus the pruned one), plus any failed one that did land — and every
#     one of them restores identical to the tree it was taken from
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/s3.sh
. "$TESTS/lib/s3.sh"
set -e -o pipefail
require_drkit
need_cmd jq curl python3
s3_require
export TZ=UTC

B=faults
s3_start "$B"
echo "S3 server: $S3_ENDPOINT"

# --- the proxy itself ------------------------------------------------------------------------------
head -c 3000000 /dev/urandom >"$T/blob"
proxy_start --seed 1
curl -sS -f -T "$T/blob" "$PROXY_ENDPOINT/$B/selftest/blob" -o /dev/null
curl -sS -f "$PROXY_ENDPOINT/$B/selftest/blob" -o "$T/blob.back" \
    "$PROXY_ENDPOINT/$B/selftest/blob" -o "$T/blob.back2" -w '%{num_connects}\n' >"$T/conns"
if ! cmp "$T/blob" "$T/blob.back" || ! cmp "$T/blob" "$T/blob.back2"; then
    fail "proxy: PUT + GET not identical"
fi
assert_eq "$(tail -n 1 "$T/conns")" 0 "proxy: second GET reused the connection (new connections)"
assert_eq "$(proxy_count passed)" 3 "proxy: requests passed untouched"
proxy_stop

proxy_start --error 1 --seed 2
codes=""
for i in 1 2 3 4 5 6; do
    codes="$codes $(curl -sS "$PROXY_ENDPOINT/$B/selftest/blob" -o "$T/errbody" -w '%{http_code}')"
done
[[ "$codes" =~ ^(\ 50[03]){6}$ ]] || fail "proxy --error 1: codes$codes"
grep -q '<Error><Code>\(InternalError\|SlowDown\)</Code>' "$T/errbody" || fail "proxy: no XML error body: $(cat "$T/errbody")"
code=$(curl -sS -T "$T/blob" "$PROXY_ENDPOINT/$B/selftest/other" -o /dev/null -w '%{http_code}')
[[ "$code" =~ ^50[03]$ ]] || fail "proxy --error 1: PUT got $code"
[ ! -e "$S3_DATA/$B/selftest/other._S3rver_object" ] || fail "proxy --error 1 forwarded a PUT"
proxy_stop

proxy_start --drop 1 --seed 3
broken=0
for i in 1 2 3 4 5 6; do
    if ! curl -sS -f "$PROXY_ENDPOINT/$B/selftest/blob" -o "$T/blob.back" 2>/dev/null ||
        ! cmp -s "$T/blob" "$T/blob.back"; then
        broken=$((broken + 1))
    fi
done
assert_eq "$broken" 6 "proxy --drop 1: broken GETs"
assert_eq "$(($(proxy_count drop_request) + $(proxy_count drop_response)))" 6 "proxy --drop 1: drops counted"
proxy_stop

proxy_start --stall 1 --stall-seconds 1 --seed 4
t0=$(date +%s%N)
curl -sS -f "$PROXY_ENDPOINT/$B/selftest/blob" -o "$T/blob.back"
ms=$((($(date +%s%N) - t0) / 1000000))
cmp "$T/blob" "$T/blob.back" || fail "proxy --stall: GET not identical"
[ "$ms" -ge 900 ] || fail "proxy --stall 1 --stall-seconds 1: GET took only ${ms} ms"
proxy_stop
ok "fault proxy: passes through, injects 500/503 with an XML body, drops, stalls"

# --- drkit through the proxy -----------------------------------------------------------------------
SEED=${FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "fault seed: $SEED (FAULT_SEED=$SEED replays the draws)"
proxy_start --drop 0.1 --stall 0.05 --stall-seconds 2 --error 0.1 --seed "$SEED" --start-disabled

{
    s3_repo_conf direct "s3://$B/repo" "retry-time = 15s" "pack-size = 20MiB"
    s3_repo_conf faulty "s3://$B/repo" --endpoint "$PROXY_ENDPOINT" "retry-time = 15s" \
        "pack-size = 20MiB"
} >"$DRKIT_CONFIG"
run_drkit 0 --storage=direct init --kdf-ops 1 --kdf-mem 1MiB
proxy_faults on

SRC=$T/src
mkdir -p "$SRC/db" "$SRC/etc" "$SRC/www"
for i in $(seq 1 40); do
    echo "setting $i = $RANDOM" >"$SRC/etc/c$i.conf"
done
head -c 24000000 /dev/urandom >"$SRC/db/base.bin"
mkdir -p "$T/states"

# run_faulty WHAT ARGS...: run drkit through the proxy, set RC. Exit 0, or 1 with a "drkit: "
# message that does not blame the repository for a network fault; anything else is a soft
# failure (the script goes on, to check the repository afterwards).
# Every fault the proxy injects is transient: giving up before half the retry time means the
# failing request was not retried.
MISLEADING='not a drkit|damaged|no key files|corrupt|ignored the byte range|too short'
RETRY=15
run_faulty() {
    local what=$1 t0
    shift
    RC=0
    t0=$(date +%s)
    timeout -k 5 120 "$DRKIT" --storage=faulty "$@" >"$T/out" 2>"$T/err" || RC=$?
    TOOK=$(($(date +%s) - t0))
    [ "$RC" -ne 0 ] || return 0
    sed 's/^/    | /' "$T/err"
    if [ "$RC" -eq 1 ] && [ "$TOOK" -lt $((RETRY / 2)) ]; then
        soft_fail "$what through the fault proxy: gave up after ${TOOK}s (retry-time = ${RETRY}s): a transient fault was not retried"
    fi
    if [ "$RC" -ne 1 ]; then
        soft_fail "$what through the fault proxy: exit $RC (expected 0, or 1 with a message)"
    elif ! grep -q '^drkit: ' "$T/err"; then
        soft_fail "$what through the fault proxy: exit 1 without a 'drkit: ' message"
    elif grep -Eqi -- "$MISLEADING" "$T/err"; then
        soft_fail "$what through the fault proxy: a network fault reported as a problem of the repository"
    fi
    return 0
}

succeeded=()
failed=()
for i in 1 2 3 4 5; do
    # change the tree: new random data (one big file: a multipart pack), a changed config
    head -c $((6000000 + i * 1000000)) /dev/urandom >"$SRC/www/upload-$i.bin"
    head -c 1000 /dev/urandom >"$SRC/db/base.bin.new" && cat "$SRC/db/base.bin" >>"$SRC/db/base.bin.new"
    mv "$SRC/db/base.bin.new" "$SRC/db/base.bin"
    echo "run $i" >"$SRC/etc/c$i.conf"
    name="backup-2026100${i}-020000"
    cp -a "$SRC" "$T/states/$name"
    run_faulty "backup create #$i" backup create --time "2026-10-0$i 02:00" "$SRC"
    echo "backup create #$i: exit $RC in ${TOOK}s; injected so far: $(proxy_count injected) of $(proxy_count requests) requests"
    if [ "$RC" -eq 0 ]; then
        succeeded+=("$name")
    else
        failed+=("$name")
    fi
done
if [ "${#succeeded[@]}" -ge 1 ]; then
    ok "${#succeeded[@]} of 5 backups through the fault proxy succeeded"
else
    soft_fail "no backup succeeded through the fault proxy (are transient failures retried?)"
fi

run_faulty "backup list" backup list --json
[ "$RC" -ne 0 ] || json_valid "$T/out"
echo "backup list: exit $RC in ${TOOK}s"
if [ "${#succeeded[@]}" -ge 1 ]; then
    last=${succeeded[-1]}
    run_faulty "backup test" backup test "$last"
    echo "backup test: exit $RC in ${TOOK}s"
    run_faulty "backup restore" backup restore "$last" --target "$T/rf"
    echo "backup restore: exit $RC in ${TOOK}s"
    [ "$RC" -ne 0 ] || tree_equal "$T/states/$last" "$T/rf$SRC"
    rm -rf "$T/rf"
fi
run_drkit 0 --storage=direct backup list --json
pre=$(jq -r '.[].name' "$T/out")
for n in "${succeeded[@]}"; do
    grep -qx -- "$n" <<<"$pre" || soft_fail "backup $n reported success but is not in the repository"
done
for n in "${failed[@]}"; do
    ! grep -qx -- "$n" <<<"$pre" || echo "note: failed backup $n did land (its snapshot is there)"
done
run_faulty "backup prune" backup prune --keep-last 4
prune_rc=$RC
echo "backup prune: exit $RC in ${TOOK}s"
ok "list, test, restore, prune through the fault proxy done"

proxy_stop
echo "proxy counts: $(cat "$PROXY_COUNTS")"
[ "$(proxy_count injected)" -ge 3 ] || soft_fail "the proxy injected only $(proxy_count injected) faults"
for k in drop_request drop_response stall_request stall_response error_500 error_503; do
    printf '  %s=%s' "$k" "$(proxy_count "$k")"
done
echo

# --- directly: consistent, and every snapshot restores ----------------------------------------------
rc=$(rc_of "$DRKIT" --storage=direct backup check --read-data)
if [ "$rc" -eq 0 ]; then
    ok "check --read-data passes after the faults"
else
    sed 's/^/    | /' "$T/out" "$T/err"
    soft_fail "check --read-data after the faults: exit $rc"
fi
run_drkit 0 --storage=direct backup list --json
names=$(jq -r '.[].name' "$T/out")
echo "snapshots before prune: $(tr '\n' ' ' <<<"$pre"); after: $(tr '\n' ' ' <<<"$names")"
want=$(tail -n 4 <<<"$pre")
for n in $names; do
    grep -qx -- "$n" <<<"$pre" || soft_fail "snapshot $n appeared during prune"
done
for n in $want; do
    grep -qx -- "$n" <<<"$names" || soft_fail "prune --keep-last 4 removed $n, one of the newest 4"
done
if [ "$prune_rc" -eq 0 ] && [ "$names" != "$want" ]; then
    soft_fail "prune --keep-last 4 succeeded but the snapshots are: $(tr '\n' ' ' <<<"$names")"
fi
for n in $names; do
    [ -d "$T/states/$n" ] || fail "unexpected snapshot $n"
    rc=$(rc_of "$DRKIT" --storage=direct backup restore "$n" --target "$T/r-$n")
    if [ "$rc" -ne 0 ]; then
        sed 's/^/    | /' "$T/err"
        soft_fail "restore of $n after the faults: exit $rc"
    else
        tree_equal "$T/states/$n" "$T/r-$n$SRC"
    fi
    rm -rf "$T/r-$n"
done
ok "every snapshot ($(wc -w <<<"$names")) restored (identical to its tree unless said above)"
pending=$(s3_pending_uploads "$B")
[ "$pending" -eq 0 ] || echo "note: $pending multipart upload(s) left open on the server (aborts lost to faults)"
leftover=$(s3_objects "$B/repo" | awk '$2 ~ /^locks\//' | wc -l)
[ "$leftover" -eq 0 ] || echo "note: $leftover lock object(s) left in the repository"
finish_soft_fails
