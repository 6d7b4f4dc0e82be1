# shellcheck shell=bash disable=SC2034 # CMD, M_SRV, M_REQ, S3_BASE...: read by run.sh
# bench/s3.sh: the S3 scenario of bench/run.sh (`--scenarios s3`). Sourced by run.sh, whose log,
# die, is_uint, measure, record, failure, run_untimed, tool_env, ensure_tree, warm_tree,
# tree_stats, prepare_verify, verify_restore and CMD/ENV conventions it uses. See
# docs/performance.md, "S3".
#
# drkit's S3 backend against restic 0.14's, both on one local S3 server: @20minutes/s3rver 4.0.4
# (node), started from the test suite's tests/s3/s3-server.js with a preload (below) that
#   - fixes the server's SigV4 check for restic: s3rver computes the canonical URI of a
#     bucket-level request as "/bucket" even when the request line says "/bucket/", while AWS
#     (and minio-go, restic's S3 client) sign the path as sent, so every bucket-level request
#     restic makes (GET /bench/?location=, HEAD /bench/, GET /bench/?list-type=2...) is answered
#     403 SignatureDoesNotMatch without it; signatures are still checked,
#   - counts the requests by kind, and the bytes in and out (SIGUSR2 writes them to a file).
#
# The data set is the generated shop tree (default 256 MiB, --s3-size-mib), backed up in place
# (nothing here changes it). Per round, in rotating tool order, each tool with a fresh
# repository (prefix rN/TOOL in bucket "bench"):
#   s3-initial        the first backup into the empty repository
#   s3-nochange       a second backup, nothing changed
#   s3-restore        a restore of the latest backup into an empty directory with an empty
#                     cache (drkit: a fresh XDG_CACHE_HOME; restic: a fresh --cache-dir), verified
#                     untimed
#   s3-restore-warm   the same with the cache the backups left
# Every timed step is preceded by sync. Server CPU is the node process's CPU meanwhile
# (/proc/PID/stat, all its threads); stored bytes are the sizes of the objects under the
# repository's prefix in the server's data directory (s3rver's metadata files not counted).

S3_NPM_DIR=${DRKIT_NPM_DIR:-/var/cache/drkit-test/s3rver}
S3_SERVER_JS="$REPO_DIR/tests/s3/s3-server.js"
S3_DIR="$RUNDIR/s3"
S3_DATA_DIR="$S3_DIR/data" # the server's
S3_BUCKET=bench
S3_KEY=bench-key
S3_SECRET=bench-secret-$RANDOM$RANDOM
S3_PID=
S3_PORT=
S3_ENDPOINT=
S3_HZ=$(getconf CLK_TCK)
S3_BASE=drkit
[[ ",$S3_TOOLS," == *",drkit,"* ]] || S3_BASE=${S3_TOOL_LIST[0]}
S3_SCENS="s3-initial s3-nochange s3-restore s3-restore-warm"
S3_SKIPPED=1
S3_SKIP_REASON=
S3_REQ_LOG="$S3_DIR/requests.tsv"

s3_tool_available() {
    case "$1" in
    drkit) [ -x "$DRKIT" ] ;;
    restic) command -v restic >/dev/null ;;
    esac
}

# s3_server_usable: node >= 20, the s3rver modules and the test suite's server script
s3_server_usable() {
    local v
    command -v node >/dev/null 2>&1 || { S3_SKIP_REASON="no node"; return 1; }
    v=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || v=0
    [ "$v" -ge 20 ] 2>/dev/null || { S3_SKIP_REASON="node $(node --version) < 20"; return 1; }
    [ -f "$S3_NPM_DIR/node_modules/@20minutes/s3rver/package.json" ] || {
        S3_SKIP_REASON="no @20minutes/s3rver in $S3_NPM_DIR/node_modules (scripts/install-deps.sh)"
        return 1
    }
    [ -f "$S3_SERVER_JS" ] || { S3_SKIP_REASON="no $S3_SERVER_JS"; return 1; }
}

s3_versions() {
    local t
    for t in "${S3_TOOL_LIST[@]}"; do
        [ "$t" = restic ] && echo "- $(tool_version restic) (S3 scenario)"
    done
    if command -v node >/dev/null; then
        echo "- node $(node --version 2>&1), @20minutes/s3rver" \
            "$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
                "$S3_NPM_DIR/node_modules/@20minutes/s3rver/package.json" 2>/dev/null | head -n1)"
    fi
}

# The preload: see the top of this file.
s3_write_preload() {
    cat >"$S3_DIR/bench-preload.js" <<'EOF'
'use strict';
// Written by bench/s3.sh; loaded with `node -r` before tests/s3/s3-server.js.
const fs = require('fs');
const p = require.resolve('@20minutes/s3rver/lib/middleware/authentication');
const factory = require(p);
const counts = { seq: 0 };
function kind(ctx) {
  const q = ctx.query;
  const m = ctx.method;
  if (!ctx.params.key) {
    if (m === 'GET' && 'location' in q) return 'GET location';
    if (m === 'GET') return 'GET list';
    return m + ' bucket';
  }
  if (m === 'PUT' && 'partNumber' in q) return 'PUT part';
  if (m === 'POST' && 'uploads' in q) return 'POST start-multipart';
  if (m === 'POST' && 'uploadId' in q) return 'POST complete-multipart';
  if (m === 'GET' && ctx.headers.range) return 'GET range';
  return m + ' object';
}
function add(name, n) {
  counts[name] = (counts[name] || 0) + n;
}
require.cache[p].exports = function benchAuthentication(...args) {
  const inner = factory(...args);
  return async function authentication(ctx, next) {
    add('requests', 1);
    add(kind(ctx), 1);
    add('bytes_in', Number(ctx.get('content-length')) || 0);
    // s3rver signs "/bucket/" as "/bucket"; its vhost branch builds "/" + bucket + mountPath
    let patched = false;
    if (ctx.params.bucket && !ctx.params.key && !ctx.state.vhost && !ctx.mountPath &&
        ctx.path === '/' + ctx.params.bucket + '/') {
      patched = true;
      ctx.state.vhost = true;
      ctx.mountPath = '/';
    }
    const unpatch = () => {
      if (patched) {
        patched = false;
        ctx.state.vhost = false;
        ctx.mountPath = undefined;
      }
    };
    try {
      await inner(ctx, () => {
        unpatch();
        return next();
      });
    } catch (e) {
      add('errors', 1);
      add('error ' + (e.code || e.status || 'other'), 1);
      throw e;
    } finally {
      unpatch();
      add('bytes_out', Number(ctx.length) || 0);
    }
  };
};
process.on('SIGUSR2', () => {
  counts.seq++;
  const f = process.env.S3_COUNTS_FILE;
  if (f) {
    fs.writeFileSync(f + '.tmp', JSON.stringify(counts) + '\n');
    fs.renameSync(f + '.tmp', f);
  }
});
EOF
}

s3_server_start() {
    local i
    mkdir -p "$S3_DATA_DIR" || die "cannot create $S3_DATA_DIR"
    s3_write_preload
    printf '%s\n' "$S3_KEY" >"$S3_DIR/access-key-id"
    printf '%s\n' "$S3_SECRET" >"$S3_DIR/secret-access-key"
    chmod 600 "$S3_DIR/access-key-id" "$S3_DIR/secret-access-key"
    : >"$S3_DIR/server.out"
    # --openssl-legacy-provider: s3rver makes listing continuation tokens with DES
    S3_ACCESS_KEY=$S3_KEY S3_SECRET_KEY=$S3_SECRET S3_PARENT_PID=$$ \
        S3_COUNTS_FILE="$S3_DIR/counts.json" NODE_PATH="$S3_NPM_DIR/node_modules" \
        node --openssl-legacy-provider -r "$S3_DIR/bench-preload.js" "$S3_SERVER_JS" \
        "$S3_DATA_DIR" 0 "$S3_BUCKET" >>"$S3_DIR/server.out" 2>>"$S3_DIR/server.err" </dev/null &
    S3_PID=$!
    for ((i = 0; i < 300; i++)); do
        S3_PORT=$(awk '/^PORT [0-9]+$/ { print $2 }' "$S3_DIR/server.out")
        [ -z "$S3_PORT" ] || break
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$S3_PORT" ]; then
        cat "$S3_DIR/server.err" >&2
        s3_server_stop
        die "the S3 server did not start"
    fi
    S3_ENDPOINT=http://127.0.0.1:$S3_PORT
}

s3_server_stop() {
    local w=0
    [ -n "$S3_PID" ] || return 0
    kill -TERM "$S3_PID" 2>/dev/null
    while kill -0 "$S3_PID" 2>/dev/null && [ "$w" -lt 50 ]; do
        sleep 0.1
        w=$((w + 1))
    done
    kill -KILL "$S3_PID" 2>/dev/null
    wait "$S3_PID" 2>/dev/null
    S3_PID=
}

s3_on_exit() {
    s3_server_stop
    [ "$KEEP" = 1 ] || rm -rf "$S3_DIR"
}

# s3_server_cpu: CPU seconds (user + system, all threads) the server has used so far
s3_server_cpu() {
    awk -v hz="$S3_HZ" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
        "/proc/$S3_PID/stat" 2>/dev/null || echo 0
}

# s3_counts FILE: the server's request counters (JSON) into FILE
s3_counts() {
    local seq0 seq i
    seq0=$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' "$S3_DIR/counts.json" 2>/dev/null)
    kill -USR2 "$S3_PID" 2>/dev/null || return 1
    for ((i = 0; i < 200; i++)); do
        seq=$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' "$S3_DIR/counts.json" 2>/dev/null)
        if [ -n "$seq" ] && [ "$seq" != "${seq0:-}" ]; then
            cp "$S3_DIR/counts.json" "$1"
            return 0
        fi
        sleep 0.01
    done
    return 1
}

# s3_counts_diff BEFORE AFTER: "requests N" and then "kind=N" for every counter that changed
s3_counts_diff() {
    node -e '
        const fs = require("fs");
        const a = JSON.parse(fs.readFileSync(process.argv[1]));
        const b = JSON.parse(fs.readFileSync(process.argv[2]));
        const out = [];
        for (const k of Object.keys(b).sort()) {
            if (k === "seq") continue;
            const d = b[k] - (a[k] || 0);
            if (d) out.push(k.replace(/ /g, "_") + "=" + d);
        }
        console.log(out.join(" "));' "$1" "$2" 2>/dev/null
}

# s3_measure NAME BYTES: measure with the server's CPU (M_SRV), the requests (M_REQ) and, when
# BYTES is not -, the throughput BYTES / wall in MiB/s (M_MBPS); the request kinds go to
# $S3_REQ_LOG
s3_measure() {
    local name=$1 bytes=$2 c0 c1 detail
    s3_counts "$S3_DIR/c0.json"
    c0=$(s3_server_cpu)
    measure "$name"
    c1=$(s3_server_cpu)
    M_SRV=$(awk -v a="$c1" -v b="$c0" 'BEGIN { printf "%.2f", a - b }')
    M_REQ=- M_MBPS=-
    if s3_counts "$S3_DIR/c1.json"; then
        detail=$(s3_counts_diff "$S3_DIR/c0.json" "$S3_DIR/c1.json")
        M_REQ=$(printf '%s\n' "$detail" | tr ' ' '\n' | sed -n 's/^requests=//p')
        M_REQ=${M_REQ:-0}
        printf '%s\t%s\n' "$name" "$detail" >>"$S3_REQ_LOG"
    fi
    if [ "$bytes" != - ] && [ "$M_WALL" != - ]; then
        M_MBPS=$(awk -v b="$bytes" -v w="$M_WALL" \
            'BEGIN { printf "%.2f", (w > 0 ? b / 1048576 / w : 0) }')
    fi
}

# s3_stored PREFIX: S3_STORED_BYTES and S3_STORED_OBJECTS of the objects under bucket/PREFIX
# on the server
s3_stored() {
    local d="$S3_DATA_DIR/$S3_BUCKET/$1" n b
    read -r n b < <(find "$d" -type f -name '*._S3rver_object' ! -path '*/._S3rver_uploads/*' \
        -printf '%s\n' 2>/dev/null | awk '{ n++; b += $1 } END { printf "%d %d\n", n, b }')
    S3_STORED_OBJECTS=${n:-0}
    S3_STORED_BYTES=${b:-0}
}

# s3_env TOOL RD [CACHE]: the tool's environment for round dir RD, without the machine's S3
# settings; CACHE: a cache directory instead of the tool's own
s3_env() {
    local tool=$1 rd=$2 cache=${3:-}
    tool_env "$tool" "$rd"
    ENV=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
        -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_ENDPOINT_URL -u AWS_CA_BUNDLE
        -u DRKIT_CACHE_DIR -u RESTIC_REPOSITORY "${ENV[@]:1}")
    case "$tool" in
    drkit)
        ENV+=("DRKIT_CONFIG=$rd/drkit-s3.conf")
        [ -z "$cache" ] || ENV+=("XDG_CACHE_HOME=$cache")
        ;;
    restic)
        ENV+=("AWS_ACCESS_KEY_ID=$S3_KEY" "AWS_SECRET_ACCESS_KEY=$S3_SECRET"
            "AWS_DEFAULT_REGION=us-east-1")
        [ -z "$cache" ] || ENV+=("RESTIC_CACHE_DIR=$cache")
        ;;
    esac
}

# s3_cmd TOOL OP RD ROUND [ARG]: sets CMD for OP = init | backup (ARG: 1 full, 2 incremental) |
# restore (ARG: target) | restore-cold (ARG: target)
s3_cmd() {
    local tool=$1 op=$2 rd=$3 round=$4 arg=${5:-}
    local cache=
    [ "$op" = restore-cold ] && cache="$rd/s3-cold-cache-$tool"
    s3_env "$tool" "$rd" "$cache"
    local restic_repo="s3:$S3_ENDPOINT/$S3_BUCKET/r$round/restic"
    case "$tool:$op" in
    drkit:init) CMD=("${ENV[@]}" "$DRKIT" --storage=s3 init) ;;
    drkit:backup)
        local type=incremental
        [ "$arg" = 1 ] && type=full
        CMD=("${ENV[@]}" "$DRKIT" --storage=s3 backup create "--type=$type" --quiet "$S3_DATA")
        ;;
    drkit:restore*)
        CMD=("${ENV[@]}" "$DRKIT" --storage=s3 backup restore latest "--target=$arg" --quiet)
        ;;
    restic:init) CMD=("${ENV[@]}" restic -r "$restic_repo" -o s3.bucket-lookup=path init) ;;
    restic:backup)
        CMD=("${ENV[@]}" restic -r "$restic_repo" -o s3.bucket-lookup=path backup --quiet
            "$S3_DATA")
        ;;
    restic:restore*)
        CMD=("${ENV[@]}" restic -r "$restic_repo" -o s3.bucket-lookup=path restore latest
            --target "$arg")
        ;;
    *) die "internal: no s3 command for $tool $op" ;;
    esac
}

# s3_setup TOOL RD ROUND: the round's repository (untimed)
s3_setup() {
    local tool=$1 rd=$2 round=$3
    if [ "$tool" = drkit ]; then
        cat >"$rd/drkit-s3.conf" <<EOF
[repository "s3"]
    url = s3://$S3_BUCKET/r$round/drkit
    endpoint = $S3_ENDPOINT
    region = us-east-1
    access-key-id-file = $S3_DIR/access-key-id
    secret-access-key-file = $S3_DIR/secret-access-key
    path-style = true
EOF
    fi
    s3_cmd "$tool" init "$rd" "$round"
    run_untimed "s3-r$round-init-$tool"
}

s3_record_rest() {
    local round=$1 tool=$2 status=$3 note=$4 s
    shift 4
    for s in "$@"; do
        record "$round" "$s" "$tool" "$status" - - - - "$note"
    done
}

s3_round() {
    local round=$1
    local rd="$S3_DIR/r$round" tool n i bytes target op scen
    local -a order=()
    local -A ready=()
    mkdir -p "$rd"
    n=${#S3_TOOL_LIST[@]}
    for ((i = 0; i < n; i++)); do
        order+=("${S3_TOOL_LIST[$(((i + round - 1) % n))]}")
    done
    log "s3 round $round/$RUNS, order: ${order[*]}"

    for tool in "${order[@]}"; do
        ready[$tool]=0
        if ! s3_tool_available "$tool"; then
            s3_record_rest "$round" "$tool" n/a "not installed" $S3_SCENS
            continue
        fi
        if ! s3_setup "$tool" "$rd" "$round"; then
            failure "$round" s3-init "$tool" "repository init failed" "$M_ERR"
            s3_record_rest "$round" "$tool" FAILED "init failed" $S3_SCENS
            continue
        fi
        ready[$tool]=1
    done

    # the first backup, then one with nothing changed
    for scen in s3-initial s3-nochange; do
        for tool in "${order[@]}"; do
            [ "${ready[$tool]}" = 1 ] || continue
            if [ "$scen" = s3-initial ]; then
                s3_cmd "$tool" backup "$rd" "$round" 1
                log "  $scen: $tool"
                s3_measure "s3-r$round-initial-$tool" "$S3_DATA_BYTES"
            else
                s3_cmd "$tool" backup "$rd" "$round" 2
                log "  $scen: $tool"
                s3_measure "s3-r$round-nochange-$tool" -
            fi
            if [ "$M_RC" -ne 0 ]; then
                record "$round" "$scen" "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" "$scen" "$tool" "backup failed" "$M_ERR"
                if [ "$scen" = s3-initial ]; then
                    s3_record_rest "$round" "$tool" FAILED "initial backup failed" \
                        s3-nochange s3-restore s3-restore-warm
                    ready[$tool]=0
                fi
                continue
            fi
            s3_stored "r$round/$tool"
            bytes=$S3_STORED_BYTES
            # as in run.sh: a backup that stores less than a quarter of the data did not store it
            if [ "$scen" = s3-initial ] && [ "${bytes:-0}" -lt $((S3_DATA_BYTES / 4)) ]; then
                failure "$round" "$scen" "$tool" \
                    "repository implausibly small: ${bytes:-0} of $S3_DATA_BYTES bytes" "$M_ERR"
                record "$round" "$scen" "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" "${bytes:-0}" \
                    "repository too small"
                s3_record_rest "$round" "$tool" FAILED "initial backup failed" \
                    s3-nochange s3-restore s3-restore-warm
                ready[$tool]=0
                continue
            fi
            record "$round" "$scen" "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" "$bytes" \
                "$S3_STORED_OBJECTS objects"
        done
    done

    # restores of the latest backup into empty directories (verified untimed; deleted at the end
    # of the run with the run directory: see "Traps" in bench/README.md)
    for scen in s3-restore s3-restore-warm; do
        op=restore
        [ "$scen" = s3-restore ] && op=restore-cold
        for tool in "${order[@]}"; do
            [ "${ready[$tool]}" = 1 ] || continue
            target="$rd/$scen-$tool"
            mkdir -p "$target"
            s3_cmd "$tool" "$op" "$rd" "$round" "$target"
            log "  $scen: $tool"
            s3_measure "s3-r$round-${scen#s3-}-$tool" "$S3_DATA_BYTES"
            if [ "$M_RC" -ne 0 ]; then
                record "$round" "$scen" "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" "$scen" "$tool" "restore failed" "$M_ERR"
                continue
            fi
            verify_restore "$S3_DATA" "$target"
            if [ -n "$V_REASON" ]; then
                record "$round" "$scen" "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" - "$V_REASON"
                failure "$round" "$scen" "$tool" "wrong restore: $V_REASON" "$M_ERR"
            else
                record "$round" "$scen" "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" - "$V_NOTE"
            fi
        done
    done
}

s3_scenario() {
    local round tool
    if ! s3_server_usable; then
        log "s3: $S3_SKIP_REASON: skipped"
        for tool in "${S3_TOOL_LIST[@]}"; do
            s3_record_rest 1 "$tool" n/a "no S3 server" $S3_SCENS
        done
        return 0
    fi
    S3_SKIPPED=0
    S3_START=$SECONDS
    S3_DATA="$WORKDIR/data/shop-${S3_SIZE_MIB}m-s$SEED"
    ensure_tree "$S3_DATA" generate --out "$S3_DATA" --size-mib "$S3_SIZE_MIB" --seed "$SEED"
    read -r S3_DATA_FILES S3_DATA_BYTES < <(tree_stats "$S3_DATA")
    warm_tree "$S3_DATA"
    mkdir -p "$S3_DIR" || die "cannot create $S3_DIR"
    : >"$S3_REQ_LOG"
    prepare_verify "$S3_DATA" "$S3_DIR"
    trap s3_on_exit EXIT
    trap 'exit 130' INT TERM
    s3_server_start
    log "s3: server pid $S3_PID at $S3_ENDPOINT, data in $S3_DATA_DIR"
    S3_LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
    for ((round = 1; round <= RUNS; round++)); do
        s3_round "$round"
    done
    S3_LOADAVG1=$(cut -d' ' -f1-3 /proc/loadavg)
    s3_counts "$S3_DIR/c-end.json" && S3_ERRORS=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' \
        "$S3_DIR/c-end.json")
    s3_server_stop
    trap - EXIT INT TERM
    S3_SECONDS=$((SECONDS - S3_START))
    log "s3: done in $S3_SECONDS s"
}

# s3_report: the S3 section of the report
s3_report() {
    echo "## S3"
    echo
    if [ "$S3_SKIPPED" = 1 ]; then
        echo "Not run: ${S3_SKIP_REASON:-not asked for}."
        echo
        return
    fi
    echo "Data set: \`datagen generate --size-mib $S3_SIZE_MIB --seed $SEED\`:" \
        "$S3_DATA_FILES files,"
    local mib
    mib=$(awk -v b="$S3_DATA_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')
    echo "$S3_DATA_BYTES bytes ($mib MiB), backed up in place."
    echo "Server: @20minutes/s3rver 4.0.4 on node (tests/s3/s3-server.js, one process, path-style,"
    echo "SigV4 checked) on 127.0.0.1, objects as plain files in the run directory; with a preload"
    echo "that makes it sign \`/bucket/\` as sent (restic gets 403 SignatureDoesNotMatch otherwise)"
    echo "and counts requests. One server for all rounds, a fresh prefix per tool and round."
    echo "$RUNS round(s), tool order rotated each round, \`sync\` before every timed command."
    echo "The S3 part took $S3_SECONDS s; load average $S3_LOADAVG0 at its start, $S3_LOADAVG1 at"
    echo "its end. Requests the server answered with an error over the whole scenario:" \
        "${S3_ERRORS:-0} (404s of existence checks included)."
    echo
    echo "$S3_TABLE"
    echo
    cat <<'EOF'
What each row measures:
- s3-initial: the first backup into an empty repository. drkit: `drkit --storage=s3 backup
  create --type=full --quiet DATA`; restic: `restic -r s3:http://127.0.0.1:PORT/bench/rN/restic
  -o s3.bucket-lookup=path backup --quiet DATA` (AWS_DEFAULT_REGION=us-east-1). "Stored on the
  server" is the sum of the object sizes under the repository's prefix.
- s3-nochange: the same command again, nothing changed (drkit `--type=incremental`).
- s3-restore: `backup restore latest --target=DIR --quiet` / `restore latest --target DIR` into
  an empty directory with an empty cache directory (drkit: a fresh XDG_CACHE_HOME; restic: a
  fresh RESTIC_CACHE_DIR): everything comes from the server. Verified afterwards, untimed.
- s3-restore-warm: the same with the cache directory the tool's backups filled.
- MiB/s: data set bytes / wall seconds. Server CPU: the s3rver node process's CPU during the
  command (/proc/PID/stat, all threads). S3 requests: as the server counted them.
- Ratio columns: peer / base as everywhere; for MiB/s a ratio below 1 means the base is faster.
EOF
    echo
    if [ -s "$S3_REQ_LOG" ]; then
        echo "Requests by kind, per timed command (as the server counted them; bytes_in/out are"
        echo "request and response bodies):"
        echo
        echo '```'
        cat "$S3_REQ_LOG"
        echo '```'
        echo
    fi
}
