# s3.sh: a local S3 server (@20minutes/s3rver 4.0.4) and a fault-injecting proxy for drkit's
# end-to-end tests (tests/e2e/storage_*.sh).
#
# Source it after common.sh:   . "$DRKIT_TESTS/lib/common.sh"; . "$DRKIT_TESTS/lib/s3.sh"
#
# The server is tests/s3/s3-server.js on node (>= 20); its npm modules are installed by
# scripts/install-deps.sh (npm ci of tests/s3/package*.json) into DRKIT_NPM_DIR (default
# /var/cache/drkit-test/s3rver). Recipes and pitfalls: ../shared/notes/test-infra.md §2. The
# server checks SigV4 signatures (a wrong secret is a 403 SignatureDoesNotMatch) but accepts
# anonymous requests. Use path-style addressing. Objects land as plain files in
# $S3_DATA/<bucket>/<key>._S3rver_object (multipart parts in <bucket>/._S3rver_uploads/<id>/).
# What s3rver 4.0.4 does not do like S3 (seen here): AbortMultipartUpload is a 405
# MethodNotAllowed (parts of an abandoned upload stay in ._S3rver_uploads), part ETags are not
# checked by CompleteMultipartUpload (a wrong or empty one goes through), a multipart object's
# ETag lacks the "-N" suffix, and a listing with delimiter=/ leaves out a "directory" holding
# only "directories" (see s3_rclone).
#
# Sourcing it also keeps the machine's S3 settings out of the tests: the AWS_* variables drkit
# reads and DRKIT_CACHE_DIR are unset, and XDG_CACHE_HOME is $T/cache (drkit's cache of remote
# repositories lands there).
#
# Functions:
#   s3_require                    skip (exit 77) unless node >= 20, the s3rver modules and rclone
#                                 are there
#   s3_start [BUCKET...]          start a server on a free port with those buckets; sets S3_PORT,
#                                 S3_ENDPOINT (http://127.0.0.1:PORT), S3_ACCESS_KEY, S3_SECRET_KEY,
#                                 S3_DATA (the server's data dir), S3_DIR (its work dir: logs and
#                                 the key files S3_KEY_FILE and S3_SECRET_FILE holding the key
#                                 pair). Stopped at exit (on_exit); the server also exits by itself
#                                 when the test's shell is gone. Calling it again after s3_stop
#                                 restarts the server on the same data (a new port)
#   s3_stop                       stop the server (TERM, KILL after 5 s)
#   s3_rclone ARGS...             rclone (--fast-list, no retries) with no config file; an
#                                 argument "s3:BUCKET/PATH" is rewritten into an inline remote on
#                                 this server with its keys (e.g. s3_rclone lsf -R s3:bucket/dir)
#   s3_objects BUCKET/PREFIX      print "<size> <key below PREFIX>" of every object, sorted, as
#                                 rclone sees it (fail if rclone fails)
#   s3_data_objects BUCKET/PREFIX the same, read from the server's data dir (not via S3)
#   s3_pending_uploads BUCKET     print the number of multipart uploads started and neither
#                                 completed nor aborted
#   s3_repo_conf NAME URL [--endpoint E] [--key-file F] [--secret-file F] [LINE...]
#                                 print a [repository "NAME"] section for drkit: url, endpoint
#                                 (default S3_ENDPOINT), region us-east-1, the key files (default
#                                 S3_KEY_FILE/S3_SECRET_FILE), path-style = true, then each LINE
#                                 (e.g. "retry-time = 10s")
#   proxy_start ARGS...           start tests/tools/faultproxy.py in front of the server with the
#                                 faultproxy options ARGS (--drop P --stall P --error P ...); sets
#                                 PROXY_PORT, PROXY_ENDPOINT, PROXY_PID, PROXY_COUNTS (its JSON
#                                 counts file, rewritten after every request), PROXY_LOG
#   proxy_stop                    stop it; its final counts stay in PROXY_COUNTS
#   proxy_faults on|off           turn injection on or off (SIGUSR2 / SIGUSR1)
#   proxy_count KEY               print one counter of PROXY_COUNTS (injected, requests, passed,
#                                 drop_request, drop_response, stall_request, stall_response,
#                                 error_500, error_503, ...)

# shellcheck shell=bash disable=SC2034
if [ -n "${DRKIT_S3_SOURCED:-}" ]; then
    return 0
fi
DRKIT_S3_SOURCED=1

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_REGION \
    AWS_DEFAULT_REGION DRKIT_CACHE_DIR
export XDG_CACHE_HOME=$T/cache

S3_NPM_DIR=${DRKIT_NPM_DIR:-/var/cache/drkit-test/s3rver}
S3_PORT=
S3_ENDPOINT=
S3_ACCESS_KEY=drkit-test-key
S3_SECRET_KEY=drkit-test-secret-$RANDOM$RANDOM
S3_DATA=
S3_DIR=
S3_PID=
S3_KEY_FILE=
S3_SECRET_FILE=
PROXY_PORT=
PROXY_ENDPOINT=
PROXY_PID=
PROXY_COUNTS=
PROXY_LOG=

s3_require() {
    local v
    command -v node >/dev/null 2>&1 || skip "needs node >= 20 (the S3 test server)"
    v=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || v=0
    [ "$v" -ge 20 ] 2>/dev/null || skip "needs node >= 20 for @20minutes/s3rver (have $(node --version 2>&1))"
    [ -f "$S3_NPM_DIR/node_modules/@20minutes/s3rver/package.json" ] ||
        skip "no @20minutes/s3rver in $S3_NPM_DIR/node_modules (run scripts/install-deps.sh, or set DRKIT_NPM_DIR)"
    command -v rclone >/dev/null 2>&1 || skip "needs rclone (the independent S3 client)"
}

s3_start() {
    [ -z "$S3_PID" ] || fail "s3_start: a server is already running (pid $S3_PID)"
    if [ -z "$S3_DIR" ]; then
        S3_DIR=$T/s3
        S3_DATA=$S3_DIR/data
        mkdir -p "$S3_DATA" || fail "s3_start: mkdir $S3_DATA"
        S3_KEY_FILE=$S3_DIR/access-key-id
        S3_SECRET_FILE=$S3_DIR/secret-access-key
        printf '%s\n' "$S3_ACCESS_KEY" >"$S3_KEY_FILE"
        printf '%s\n' "$S3_SECRET_KEY" >"$S3_SECRET_FILE"
        chmod 600 "$S3_KEY_FILE" "$S3_SECRET_FILE"
        on_exit s3_stop
    fi
    : >"$S3_DIR/server.out" # here, not in the job's redirection (see proxy_start)
    # --openssl-legacy-provider: s3rver makes continuation tokens with DES (else listings of
    # more than 1000 keys fail with HTTP 500)
    S3_ACCESS_KEY=$S3_ACCESS_KEY S3_SECRET_KEY=$S3_SECRET_KEY S3_PARENT_PID=$$ \
        NODE_PATH="$S3_NPM_DIR/node_modules" \
        node --openssl-legacy-provider "$DRKIT_TESTS/s3/s3-server.js" "$S3_DATA" 0 "$@" \
        >>"$S3_DIR/server.out" 2>>"$S3_DIR/server.err" </dev/null &
    S3_PID=$!
    S3_PORT=$(_s3_port_of "$S3_DIR/server.out" "$S3_PID" 300)
    if [ -z "$S3_PORT" ]; then
        cat "$S3_DIR/server.err" >&2
        s3_stop
        fail "the S3 server did not start"
    fi
    S3_ENDPOINT=http://127.0.0.1:$S3_PORT
}

# _s3_port_of FILE PID TRIES: the port a server prints as "PORT n" in FILE, waiting 0.05 s
# between TRIES looks while PID lives; empty if it never comes.
_s3_port_of() {
    local i port=
    for ((i = 0; i < $3; i++)); do
        port=$(awk '/^PORT [0-9]+$/ { print $2 }' "$1")
        [ -z "$port" ] || break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    echo "$port"
}

# _s3_stop_pid PID: TERM, up to 5 s to go, then KILL; reaped.
_s3_stop_pid() {
    local w=0
    kill -TERM "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null && [ "$w" -lt 50 ]; do
        sleep 0.1
        w=$((w + 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

s3_stop() {
    [ -n "$S3_PID" ] || return 0
    _s3_stop_pid "$S3_PID"
    S3_PID=
    return 0
}

s3_rclone() {
    local a args=() remote
    remote=":s3,provider=Other,access_key_id=$S3_ACCESS_KEY,secret_access_key=$S3_SECRET_KEY,endpoint='$S3_ENDPOINT',force_path_style=true,region=us-east-1:"
    for a in "$@"; do
        case $a in
        s3:*) args+=("$remote${a#s3:}") ;;
        *) args+=("$a") ;;
        esac
    done
    # AWS_CA_BUNDLE (set on some machines) makes rclone 1.60 fail before any request:
    # "LoadCustomCABundleError ... unsupported transport".
    # --fast-list: list without a delimiter. s3rver 4.0.4's delimiter listing never descends into
    # a "directory" that holds only "directories": prefix=drkit/&delimiter=/ leaves out
    # drkit/data/ (whose objects are all in data/XX/), so a plain rclone copy skips every pack.
    env -u AWS_CA_BUNDLE RCLONE_CONFIG=/dev/null rclone --fast-list --low-level-retries 1 \
        --retries 1 "${args[@]}"
}

s3_objects() {
    local out
    out=$(s3_rclone lsf -R --files-only --format ps --separator $'\t' "s3:$1" 2>"$T/s3_objects.err") || {
        cat "$T/s3_objects.err" >&2
        fail "rclone cannot list s3:$1"
    }
    [ -z "$out" ] || printf '%s\n' "$out" | awk -F '\t' '{ print $2, $1 }' | LC_ALL=C sort -k2
}

s3_data_objects() {
    local bucket=${1%%/*} prefix="" base
    case $1 in */*) prefix=${1#*/} ;; esac
    base=$S3_DATA/$bucket${prefix:+/$prefix}
    [ -d "$base" ] || return 0
    (
        cd "$base" || exit 1
        find . -type f -name '*._S3rver_object' ! -path './._S3rver_uploads/*' -printf '%s %P\n' |
            sed 's/\._S3rver_object$//'
    ) | LC_ALL=C sort -k2
}

s3_pending_uploads() {
    local d=$S3_DATA/$1/._S3rver_uploads
    [ -d "$d" ] || {
        echo 0
        return 0
    }
    find "$d" -mindepth 1 -maxdepth 1 -type d | wc -l
}

s3_repo_conf() {
    local name=$1 url=$2 ep=$S3_ENDPOINT kf=$S3_KEY_FILE sf=$S3_SECRET_FILE l
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
        --endpoint) ep=$2 ;;
        --key-file) kf=$2 ;;
        --secret-file) sf=$2 ;;
        *) break ;;
        esac
        shift 2
    done
    echo "[repository \"$name\"]"
    echo "    url = $url"
    echo "    endpoint = $ep"
    echo "    region = us-east-1"
    echo "    access-key-id-file = $kf"
    echo "    secret-access-key-file = $sf"
    echo "    path-style = true"
    for l in "$@"; do
        echo "    $l"
    done
}

proxy_start() {
    [ -z "$PROXY_PID" ] || fail "proxy_start: a proxy is already running (pid $PROXY_PID)"
    [ -n "$S3_PORT" ] || fail "proxy_start: no S3 server (s3_start first)"
    command -v python3 >/dev/null 2>&1 || skip "needs python3 (the fault-injecting proxy)"
    command -v jq >/dev/null 2>&1 || skip "needs jq (proxy_count)"
    PROXY_COUNTS=$S3_DIR/proxy-counts.json
    PROXY_LOG=$S3_DIR/proxy.log
    rm -f -- "$PROXY_COUNTS"
    # empty it here, not in the background job's redirection: the loop below could read the
    # previous proxy's PORT line before the new process has truncated the file
    : >"$S3_DIR/proxy.out"
    python3 "$DRKIT_TESTS/tools/faultproxy.py" --target "127.0.0.1:$S3_PORT" --port 0 \
        --counts "$PROXY_COUNTS" --log "$PROXY_LOG" --parent-pid $$ "$@" \
        >>"$S3_DIR/proxy.out" 2>>"$S3_DIR/proxy.err" </dev/null &
    PROXY_PID=$!
    [ -n "${_s3_proxy_registered:-}" ] || {
        on_exit proxy_stop
        _s3_proxy_registered=1
    }
    PROXY_PORT=$(_s3_port_of "$S3_DIR/proxy.out" "$PROXY_PID" 200)
    if [ -z "$PROXY_PORT" ]; then
        cat "$S3_DIR/proxy.err" >&2
        proxy_stop
        fail "the fault proxy did not start"
    fi
    PROXY_ENDPOINT=http://127.0.0.1:$PROXY_PORT
}

proxy_stop() {
    [ -n "$PROXY_PID" ] || return 0
    _s3_stop_pid "$PROXY_PID"
    PROXY_PID=
    return 0
}

proxy_faults() {
    [ -n "$PROXY_PID" ] || fail "proxy_faults: no proxy running"
    case $1 in
    on) kill -USR2 "$PROXY_PID" ;;
    off) kill -USR1 "$PROXY_PID" ;;
    *) fail "proxy_faults: on or off, not $1" ;;
    esac
    sleep 0.1
}

proxy_count() {
    [ -f "$PROXY_COUNTS" ] || {
        echo 0
        return 0
    }
    jq -r --arg k "$1" '.[$k] // 0' "$PROXY_COUNTS"
}
