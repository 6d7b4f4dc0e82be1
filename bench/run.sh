#!/usr/bin/env bash
# bench/run.sh: drkit side by side with restic, borg and tar | zstd on a generated shop-like tree,
# and (scenario pg, bench/pg.sh) with pg_dump -Fc and pgBackRest on a pgbench database, and
# (scenario s3, bench/s3.sh) with restic's S3 backend against a local S3 server.
# See bench/README.md for the scenarios, how to read the table, and the traps.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

SIZE_MIB=1024
RUNS=3
TOOLS=drkit,restic,borg,tar
SCENARIOS=initial,nochange,mutate,restore,check
DRKIT="$REPO_DIR/build/drkit"
WORKDIR="$BENCH_DIR/work"
RESULTS_DIR="$BENCH_DIR/results"
SEED=1
MUTATE_SEED=7
MUTATE_PERCENT=5
SMALL_COUNT=100000
BASE=drkit
KEEP=0
NO_WAIT=0
PASSWORD=bench
PG_SCALE=70
PG_TOOLS=drkit,drkit-physical,pg_dump,pgbackrest
S3_SIZE_MIB=256
S3_TOOLS=drkit,restic

ALL_TOOLS="drkit restic borg tar"
ALL_SCENARIOS="initial nochange mutate restore check smallfiles prune pg s3"
ALL_PG_TOOLS="drkit drkit-physical pg_dump pgbackrest"
ALL_S3_TOOLS="drkit restic"

usage() {
    cat <<EOF
usage: bench/run.sh [options]
  --size-mib N         data set size (default $SIZE_MIB)
  --runs N             rounds (default $RUNS)
  --tools LIST         comma list of: ${ALL_TOOLS// /,} (default $TOOLS)
  --scenarios LIST     comma list of: ${ALL_SCENARIOS// /,}
                       (default $SCENARIOS; smallfiles, prune, pg and s3 are opt-in)
  --pg-scale N         pgbench scale of the pg scenario's database (default $PG_SCALE: ~1 GB)
  --pg-tools LIST      comma list of: ${ALL_PG_TOOLS// /,} (default $PG_TOOLS)
  --s3-size-mib N      data set size of the s3 scenario (default $S3_SIZE_MIB)
  --s3-tools LIST      comma list of: ${ALL_S3_TOOLS// /,} (default $S3_TOOLS)
  --drkit PATH         drkit binary (default $DRKIT)
  --workdir DIR        data, repositories, restores (default $WORKDIR)
  --results DIR        where the YYYY-MM-DD-HHMM.md report goes (default $RESULTS_DIR)
  --base TOOL          ratio denominator (default drkit; the first tool if drkit is not run)
  --seed N             datagen seed (default $SEED)
  --mutate-percent P   size of the "day of activity" (default $MUTATE_PERCENT)
  --small-count N      files for the smallfiles scenario (default $SMALL_COUNT)
  --quick              smoke test: --size-mib 256 --runs 1 --pg-scale 10 --s3-size-mib 64
  --keep               keep this run's repositories and restores (default: deleted at the end)
  --no-wait            start at once even if the previous run deleted its trees < 6 min ago
                       (the first round's restores are then skewed; fine for smoke tests)
EOF
}

while [ $# -gt 0 ]; do
    opt=$1
    val=
    case "$opt" in
    --*=*)
        val=${opt#*=}
        opt=${opt%%=*}
        ;;
    --quick | --keep | --no-wait | -h | --help) ;;
    --*)
        [ $# -ge 2 ] || { echo "run.sh: $opt needs a value" >&2; exit 2; }
        val=$2
        shift
        ;;
    esac
    case "$opt" in
    --size-mib) SIZE_MIB=$val ;;
    --runs) RUNS=$val ;;
    --tools) TOOLS=$val ;;
    --scenarios) SCENARIOS=$val ;;
    --drkit) DRKIT=$val ;;
    --workdir) WORKDIR=$val ;;
    --results) RESULTS_DIR=$val ;;
    --base) BASE=$val ;;
    --seed) SEED=$val ;;
    --mutate-percent) MUTATE_PERCENT=$val ;;
    --small-count) SMALL_COUNT=$val ;;
    --pg-scale) PG_SCALE=$val ;;
    --pg-tools) PG_TOOLS=$val ;;
    --s3-size-mib) S3_SIZE_MIB=$val ;;
    --s3-tools) S3_TOOLS=$val ;;
    --quick)
        SIZE_MIB=256
        RUNS=1
        PG_SCALE=10
        S3_SIZE_MIB=64
        ;;
    --keep) KEEP=1 ;;
    --no-wait) NO_WAIT=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "run.sh: unknown option $opt" >&2
        usage >&2
        exit 2
        ;;
    esac
    shift
done

die() {
    echo "run.sh: $*" >&2
    exit 1
}

log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

is_uint() {
    case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

is_uint "$SIZE_MIB" && [ "$SIZE_MIB" -gt 0 ] || die "--size-mib must be a positive integer"
is_uint "$RUNS" && [ "$RUNS" -gt 0 ] || die "--runs must be a positive integer"
is_uint "$SEED" || die "--seed must be a non-negative integer"
is_uint "$SMALL_COUNT" || die "--small-count must be a non-negative integer"
is_uint "$PG_SCALE" && [ "$PG_SCALE" -gt 0 ] || die "--pg-scale must be a positive integer"
is_uint "$S3_SIZE_MIB" && [ "$S3_SIZE_MIB" -gt 0 ] || die "--s3-size-mib must be a positive integer"

IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
IFS=, read -r -a SCEN_LIST <<<"$SCENARIOS"
for t in "${TOOL_LIST[@]}"; do
    [[ " $ALL_TOOLS " == *" $t "* ]] || die "unknown tool '$t' (known: $ALL_TOOLS)"
done
for s in "${SCEN_LIST[@]}"; do
    [[ " $ALL_SCENARIOS " == *" $s "* ]] || die "unknown scenario '$s' (known: $ALL_SCENARIOS)"
done
# Scenarios always run in this order, whatever order they were given in.
ORDERED_SCENS=()
for s in $ALL_SCENARIOS; do
    [[ ",$SCENARIOS," == *",$s,"* ]] && ORDERED_SCENS+=("$s")
done
want() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
# The scenarios of the file tools' rounds (all but pg and s3, which bring their own tools).
FILE_SCENS=()
for s in "${ORDERED_SCENS[@]}"; do
    [ "$s" = pg ] || [ "$s" = s3 ] || FILE_SCENS+=("$s")
done
IFS=, read -r -a PG_TOOL_LIST <<<"$PG_TOOLS"
for t in "${PG_TOOL_LIST[@]}"; do
    [[ " $ALL_PG_TOOLS " == *" $t "* ]] || die "unknown --pg-tools entry '$t' (known: $ALL_PG_TOOLS)"
done
IFS=, read -r -a S3_TOOL_LIST <<<"$S3_TOOLS"
for t in "${S3_TOOL_LIST[@]}"; do
    [[ " $ALL_S3_TOOLS " == *" $t "* ]] || die "unknown --s3-tools entry '$t' (known: $ALL_S3_TOOLS)"
done
if [[ ",$TOOLS," != *",$BASE,"* ]]; then
    BASE=${TOOL_LIST[0]}
fi
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is required: apt-get install time"

mkdir -p "$WORKDIR" "$RESULTS_DIR" || die "cannot create $WORKDIR or $RESULTS_DIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
case "$DRKIT" in /*) ;; *) DRKIT="$(pwd)/$DRKIT" ;; esac

STAMP=$(date +%Y-%m-%d-%H%M)
RUNDIR="$WORKDIR/runs/$STAMP-$$"
TRASH="$WORKDIR/trash"
LOGDIR="$RUNDIR/logs"
RAW="$RUNDIR/raw.tsv"
FAILS="$RUNDIR/failures.md"
mkdir -p "$LOGDIR" "$TRASH" || die "cannot create $RUNDIR"
: >"$RAW"
: >"$FAILS"

# ext4 without a journal skips inodes freed in the last 60 s when it allocates new ones, and in
# the last 360 s while their inode table block is dirty (which creating files makes it): creating
# many files within ~6 minutes of a big delete costs many seconds of system time (restores of
# the 1 GiB tree measured 2-3x slower). The cleanup at the end of a run records when it
# finished; a run that starts within SETTLE_S of it waits (--no-wait skips that).
SETTLE_S=370
WAITED=0
LAST_DELETE="$WORKDIR/.last-delete"
if [ -f "$LAST_DELETE" ] && [ "$NO_WAIT" = 0 ]; then
    wait_s=$(($(cat "$LAST_DELETE" 2>/dev/null || echo 0) + SETTLE_S - $(date +%s)))
    if [ "$wait_s" -gt 0 ]; then
        log "waiting ${wait_s} s: the previous run deleted its trees less than $SETTLE_S s ago" \
            "(ext4 skips recently freed inodes; --no-wait to skip)"
        sync
        sleep "$wait_s"
        WAITED=$wait_s
    fi
fi
RUN_START=$SECONDS

# drkit is rebuilt while others work on it: benchmark a frozen copy, and record which one.
DRKIT_SRC=$DRKIT
DRKIT_SHA=
if [ -x "$DRKIT" ] && [ -f "$DRKIT" ]; then
    mkdir -p "$RUNDIR/bin"
    cp "$DRKIT" "$RUNDIR/bin/drkit" || die "cannot copy $DRKIT"
    DRKIT="$RUNDIR/bin/drkit"
    DRKIT_SHA=$(sha256sum "$DRKIT" | cut -c1-16)
fi

# Trees left over by interrupted runs are moved aside now and deleted after the last
# measurement: deleting big trees slows down creating files right afterwards.
for old in "$WORKDIR"/runs/*; do
    [ "$old" = "$RUNDIR" ] || [ ! -e "$old" ] || mv "$old" "$TRASH/" 2>/dev/null
done

# ------------------------------------------------------------------------------------------
# Tools

tool_available() {
    case "$1" in
    drkit) [ -x "$DRKIT" ] ;;
    restic) command -v restic >/dev/null ;;
    borg) command -v borg >/dev/null ;;
    tar) command -v tar >/dev/null && command -v zstd >/dev/null ;;
    esac
}

tool_version() {
    case "$1" in
    drkit)
        if [ -x "$DRKIT" ]; then
            local v
            v=$(timeout 10 "$DRKIT" --version 2>&1 | head -n1)
            echo "drkit ($DRKIT_SRC, sha256 $DRKIT_SHA...): ${v:-no output from --version}"
        else
            echo "drkit: not found at $DRKIT_SRC"
        fi
        ;;
    restic)
        if command -v restic >/dev/null; then restic version 2>&1 | head -n1; else
            echo "restic: not installed"; fi
        ;;
    borg)
        if command -v borg >/dev/null; then borg --version 2>&1 | head -n1; else
            echo "borg: not installed"; fi
        ;;
    tar)
        echo "$(tar --version 2>&1 | head -n1); $(zstd --version 2>&1 | head -n1)"
        ;;
    esac
}

# tool_env TOOL ROUNDDIR: the per-tool, per-round environment (private caches and HOME).
tool_env() {
    local tool=$1 rd=$2
    local home="$rd/home-$tool"
    mkdir -p "$home"
    ENV=(env "HOME=$home" "XDG_CACHE_HOME=$home/.cache" "XDG_CONFIG_HOME=$home/.config")
    case "$tool" in
    drkit | drkit-physical) ENV+=("DRKIT_PASSWORD=$PASSWORD") ;;
    restic) ENV+=("RESTIC_PASSWORD=$PASSWORD" "RESTIC_CACHE_DIR=$home/restic-cache") ;;
    borg) ENV+=("BORG_PASSPHRASE=$PASSWORD" "BORG_BASE_DIR=$home" "BORG_DISPLAY_PASSPHRASE=no"
        "BORG_RELOCATED_REPO_ACCESS_IS_OK=yes") ;;
    esac
}

# Sets CMD for: init REPO | backup REPO DATA N | restore REPO TARGET N | check REPO
# N is the archive number: 1 for the first (full) backup, 2.. for the following ones.
tool_cmd() {
    local tool=$1 op=$2 repo=$3
    case "$tool:$op" in
    drkit:init) CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" init) ;;
    drkit:backup)
        local type=incremental
        [ "$5" = 1 ] && type=full
        CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" backup create "--type=$type" --quiet "$4")
        ;;
    drkit:restore)
        CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" backup restore latest "--target=$4" --quiet)
        ;;
    drkit:check) CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" backup check --read-data --quiet) ;;
    restic:init) CMD=("${ENV[@]}" restic -r "$repo" init) ;;
    restic:backup) CMD=("${ENV[@]}" restic -r "$repo" backup --quiet "$4") ;;
    restic:restore) CMD=("${ENV[@]}" restic -r "$repo" restore latest --target "$4") ;;
    restic:check) CMD=("${ENV[@]}" restic -r "$repo" check --read-data) ;;
    borg:init) CMD=("${ENV[@]}" borg init -e repokey "$repo") ;;
    borg:backup) CMD=("${ENV[@]}" borg create --compression 'zstd,3' "$repo::a$5" "$4") ;;
    borg:restore) CMD=(env -C "$4" "${ENV[@]:1}" borg extract "$repo::a$5") ;;
    borg:check) CMD=("${ENV[@]}" borg check --verify-data "$repo") ;;
    tar:init) CMD=(mkdir -p "$repo") ;;
    tar:backup)
        CMD=(bash -c 'set -o pipefail; tar -cf - -C "$1" . | zstd -3 -T0 -q -o "$2"' _
            "$4" "$repo/a$5.tar.zst")
        ;;
    tar:restore)
        CMD=(bash -c 'set -o pipefail; zstd -dc "$1" | tar -xf - -C "$2"' _
            "$repo/a$5.tar.zst" "$4")
        ;;
    tar:check) CMD=(bash -c 'zstd -t -q "$1"/*.tar.zst' _ "$repo") ;;
    *) die "internal: no command for $tool $op" ;;
    esac
}

# Exit codes that mean success (borg: 1 is "completed with warnings").
rc_ok() {
    local tool=$1 rc=$2
    [ "$rc" -eq 0 ] && return 0
    [ "$tool" = borg ] && [ "$rc" -eq 1 ] && return 0
    return 1
}

cmd_string() {
    local s
    printf -v s '%q ' "${CMD[@]}"
    echo "${s% }"
}

# ------------------------------------------------------------------------------------------
# Measuring and recording

# measure NAME: sync, then runs CMD under GNU time; sets M_RC M_WALL M_CPU M_RSS (MiB) and
# M_USER M_SYS.
# %M is the peak RSS of the largest process: for a `bash -c 'a | b'` pipeline the rusage that
# wait4 reports covers bash's waited-for children, so it is the largest pipeline member.
measure() {
    local base="$LOGDIR/$1"
    M_SRV=- M_REQ=- M_MBPS=-
    sync
    /usr/bin/time -f '%e %U %S %M' -o "$base.time" "${CMD[@]}" >"$base.out" 2>"$base.err" </dev/null
    M_RC=$?
    M_ERR="$base.err"
    local e u s m
    read -r e u s m < <(tail -n1 "$base.time" 2>/dev/null)
    if is_uint "${m:-x}"; then
        M_WALL=$e
        M_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
        M_USER=$u M_SYS=$s
        M_RSS=$(awk -v m="$m" 'BEGIN { printf "%.1f", m / 1024 }')
    else
        M_WALL=- M_CPU=- M_RSS=- M_USER=- M_SYS=-
        [ "$M_RC" -ne 0 ] || M_RC=255
    fi
}

# run_untimed NAME: runs CMD with output to the log; returns its exit code.
run_untimed() {
    local base="$LOGDIR/$1"
    "${CMD[@]}" >"$base.out" 2>"$base.err" </dev/null
    M_RC=$?
    M_ERR="$base.err"
    return $M_RC
}

# record ROUND SCENARIO TOOL STATUS WALL CPU RSS REPO_BYTES NOTE
# (user and system seconds of the last measurement are appended when WALL is a number, and the
# server's CPU seconds meanwhile, M_SRV, which only the pg and s3 scenarios measure, and the
# S3 requests and MiB/s, M_REQ and M_MBPS, which only the s3 scenario measures)
record() {
    local user=- sys=- srv=- req=- mbps=-
    if [ "$5" != - ]; then
        user=${M_USER:--} sys=${M_SYS:--} srv=${M_SRV:--} req=${M_REQ:--} mbps=${M_MBPS:--}
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "$user" "$sys" "$srv" \
        "$req" "$mbps" >>"$RAW"
}

# failure ROUND SCENARIO TOOL REASON [STDERR_FILE]
failure() {
    {
        echo "### round $1, $2, $3: $4"
        echo
        echo '```'
        echo "\$ $(cmd_string)"
        echo "exit code: ${M_RC:-?}"
        if [ -n "${5:-}" ] && [ -s "$5" ]; then
            echo "--- stderr (last 20 lines) ---"
            tail -n 20 "$5" | cut -c1-300
        fi
        echo '```'
        echo
    } >>"$FAILS"
    log "FAILED: round $1 $2 $3: $4"
}

repo_bytes() {
    du -sb "$1" 2>/dev/null | cut -f1
}

# ------------------------------------------------------------------------------------------
# Data

log "building datagen"
make -s -C "$BENCH_DIR" WORK="$WORKDIR" >"$LOGDIR/make.log" 2>&1 || {
    cat "$LOGDIR/make.log" >&2
    die "building datagen failed"
}
DATAGEN="$WORKDIR/bin/datagen"
# Identifies the generator: whitespace-only edits (reformatting) keep the data set valid.
GEN_ID=$(tr -d ' \t\n' <"$BENCH_DIR/datagen.c" | cksum | cut -d' ' -f1)

# ensure_tree KIND DIR ARGS...: generates DIR once; reused while the generator is unchanged.
ensure_tree() {
    local dir=$1
    shift
    local want="$* datagen.c:$GEN_ID"
    if [ -d "$dir" ] && [ "$(cat "$dir.done" 2>/dev/null)" = "$want" ]; then
        log "reusing $dir"
        return 0
    fi
    if [ -e "$dir" ]; then
        log "moving stale $dir aside"
        mv "$dir" "$TRASH/$(basename "$dir").$$" || die "cannot move $dir aside"
    fi
    rm -f "$dir.done"
    mkdir -p "$(dirname "$dir")"
    log "generating $dir"
    "$DATAGEN" "$@" || die "datagen $* failed"
    echo "$want" >"$dir.done"
}

# The tree scenarios' rounds run only when one of them was asked for (not for --scenarios pg).
FILE_ROUNDS=0
DATA_FILES=0 DATA_BYTES=0 DATA_DIRS=0
if [ ${#FILE_SCENS[@]} -gt 0 ]; then
    FILE_ROUNDS=$RUNS
    PRISTINE="$WORKDIR/data/shop-${SIZE_MIB}m-s$SEED"
    ensure_tree "$PRISTINE" generate --out "$PRISTINE" --size-mib "$SIZE_MIB" --seed "$SEED"
    read -r DATA_FILES DATA_BYTES < <(find "$PRISTINE" -type f -printf '%s\n' |
        awk '{ n++; b += $1 } END { printf "%d %d\n", n, b }')
    DATA_DIRS=$(find "$PRISTINE" -type d | wc -l)
    if want smallfiles; then
        SMALL="$WORKDIR/data/small-$SMALL_COUNT-s$SEED"
        ensure_tree "$SMALL" smallfiles --out "$SMALL" --count "$SMALL_COUNT" --seed "$SEED"
    fi

    # Rough disk need: per round a data copy, a restore and a repository per tool.
    avail_kib=$(df -Pk "$WORKDIR" | awk 'NR == 2 { print $4 }')
    need_kib=$((RUNS * (2 + 2 * ${#TOOL_LIST[@]}) * DATA_BYTES / 1024))
    if [ "${avail_kib:-0}" -lt "$need_kib" ]; then
        log "warning: about $((need_kib / 1048576)) GiB needed, $((avail_kib / 1048576)) GiB free"
    fi
fi

# warm_tree DIR: reads every file once, untimed. The copy's atimes equal its mtimes, so with
# relatime the first read of each file also writes its inode; without this pass the first tool
# of a round pays for that (and for any page not yet cached), not the others.
warm_tree() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
    sync
}

# tree_stats DIR -> "files bytes"
tree_stats() {
    find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %d\n", n, b }'
}

# prepare_verify DATA DIR: what verify_restore compares against: REF_STATS, and SAMPLE (DIR/
# sample.lst): about 200 files spread over the tree, plus the 5 largest (the dump and the logs)
prepare_verify() {
    REF_STATS=$(tree_stats "$1")
    SAMPLE="$2/sample.lst"
    (cd "$1" && find . -type f -printf '%s %P\n' | sort -k2) >"$2/files.lst"
    {
        awk -v step=$(($(wc -l <"$2/files.lst") / 200 + 1)) \
            'NR % step == 1 || step == 1 { sub(/^[0-9]+ /, ""); print }' "$2/files.lst"
        sort -rn "$2/files.lst" | head -n 5 | sed 's/^[0-9]* //'
    } | sort -u >"$SAMPLE"
}

# verify_restore DATA TARGET: sets V_REASON (empty when the restore is right) and V_NOTE.
verify_restore() {
    local data=$1 target=$2 found root
    V_REASON='' V_NOTE=''
    found=$(find "$target" -path '*/database/shop-dump.sql' -type f -print -quit 2>/dev/null)
    if [ -z "$found" ]; then
        V_REASON="restored tree not found under $target"
        return
    fi
    root=${found%/database/shop-dump.sql}
    local got
    got=$(tree_stats "$root")
    if [ "$got" != "$REF_STATS" ]; then
        V_REASON="files/bytes differ: restored $got, expected $REF_STATS"
        return
    fi
    local bad=0 mbad=0 n=0 rel
    while IFS= read -r rel; do
        n=$((n + 1))
        if ! cmp -s "$data/$rel" "$root/$rel"; then
            bad=$((bad + 1))
        elif [ "$(stat -c %Y "$data/$rel")" != "$(stat -c %Y "$root/$rel" 2>/dev/null)" ]; then
            mbad=$((mbad + 1))
        fi
    done <"$SAMPLE"
    if [ "$bad" -gt 0 ]; then
        V_REASON="$bad of $n sampled files differ"
    elif [ "$mbad" -gt 0 ]; then
        V_NOTE="mtime differs on $mbad of $n sampled files"
    fi
}

# ------------------------------------------------------------------------------------------
# Rounds

RESTIC_REPO_VERSION=
declare -A READY ARCH

for ((round = 1; round <= FILE_ROUNDS; round++)); do
    RD="$RUNDIR/r$round"
    mkdir -p "$RD"
    # Tool order rotates every round so that no tool always runs first or last.
    ORDER=()
    n=${#TOOL_LIST[@]}
    for ((i = 0; i < n; i++)); do
        ORDER+=("${TOOL_LIST[$(((i + round - 1) % n))]}")
    done
    log "round $round/$RUNS, order: ${ORDER[*]}"

    DATA="$RD/data"
    log "copying the data set to $DATA"
    cp -a "$PRISTINE" "$DATA" || die "cp -a $PRISTINE $DATA failed"
    warm_tree "$DATA"

    # initial backup (or untimed setup when only later scenarios were asked for)
    for tool in "${ORDER[@]}"; do
        READY[$tool]=0
        ARCH[$tool]=0
        if ! tool_available "$tool"; then
            for s in "${FILE_SCENS[@]}"; do
                [ "$s" = smallfiles ] || [ "$s" = prune ] ||
                    record "$round" "$s" "$tool" n/a - - - - "not installed"
            done
            continue
        fi
        tool_env "$tool" "$RD"
        repo="$RD/repo-$tool"
        tool_cmd "$tool" init "$repo"
        if ! run_untimed "r$round-init-$tool" && ! rc_ok "$tool" "$M_RC"; then
            failure "$round" init "$tool" "repository init failed" "$M_ERR"
            for s in "${FILE_SCENS[@]}"; do
                [ "$s" = smallfiles ] || [ "$s" = prune ] ||
                    record "$round" "$s" "$tool" FAILED - - - - "init failed"
            done
            continue
        fi
        if [ "$tool" = restic ] && [ -z "$RESTIC_REPO_VERSION" ]; then
            RESTIC_REPO_VERSION=$("${ENV[@]}" restic -r "$repo" cat config 2>/dev/null |
                sed -n 's/.*"version": *\([0-9]*\).*/\1/p' | head -n1)
        fi
        tool_cmd "$tool" backup "$repo" "$DATA" 1
        log "  initial: $tool"
        measure "r$round-initial-$tool"
        if ! rc_ok "$tool" "$M_RC"; then
            want initial && record "$round" initial "$tool" FAILED - - - - "exit $M_RC"
            failure "$round" initial "$tool" "backup failed" "$M_ERR"
            for s in nochange mutate restore check; do
                want "$s" && record "$round" "$s" "$tool" FAILED - - - - "initial backup failed"
            done
            continue
        fi
        bytes=$(repo_bytes "$repo")
        # A backup that "succeeds" without storing the data must not look fast: the images
        # alone (58%) cannot be compressed, so a real repository holds over half the bytes.
        if [ "${bytes:-0}" -lt $((DATA_BYTES / 4)) ]; then
            M_RC=0
            failure "$round" initial "$tool" \
                "repository implausibly small: ${bytes:-0} of $DATA_BYTES bytes" "$M_ERR"
            want initial && record "$round" initial "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" \
                "${bytes:-0}" "repository too small"
            for s in nochange mutate restore check; do
                want "$s" && record "$round" "$s" "$tool" FAILED - - - - "initial backup failed"
            done
            continue
        fi
        want initial && record "$round" initial "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" "$bytes" ""
        READY[$tool]=1
        ARCH[$tool]=1
    done

    # incremental backups: nothing changed, then after a "day of activity"
    for scen in nochange mutate; do
        want "$scen" || continue
        if [ "$scen" = mutate ]; then
            log "mutating $DATA ($MUTATE_PERCENT%, seed $MUTATE_SEED)"
            "$DATAGEN" mutate --dir "$DATA" --seed "$MUTATE_SEED" --percent "$MUTATE_PERCENT" \
                2>"$LOGDIR/r$round-mutate-datagen.err" || die "datagen mutate failed"
            warm_tree "$DATA"
        fi
        for tool in "${ORDER[@]}"; do
            [ "${READY[$tool]}" = 1 ] || continue
            tool_env "$tool" "$RD"
            repo="$RD/repo-$tool"
            next=$((ARCH[$tool] + 1))
            tool_cmd "$tool" backup "$repo" "$DATA" "$next"
            log "  $scen: $tool"
            measure "r$round-$scen-$tool"
            if rc_ok "$tool" "$M_RC"; then
                record "$round" "$scen" "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" \
                    "$(repo_bytes "$repo")" ""
                ARCH[$tool]=$next
            else
                record "$round" "$scen" "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" "$scen" "$tool" "backup failed" "$M_ERR"
            fi
        done
    done

    # restore of the latest backup into an empty directory, verified untimed
    if want restore; then
        prepare_verify "$DATA" "$RD"
        for tool in "${ORDER[@]}"; do
            [ "${READY[$tool]}" = 1 ] || continue
            tool_env "$tool" "$RD"
            repo="$RD/repo-$tool"
            target="$RD/restore-$tool"
            mkdir -p "$target"
            tool_cmd "$tool" restore "$repo" "$target" "${ARCH[$tool]}"
            log "  restore: $tool"
            measure "r$round-restore-$tool"
            if ! rc_ok "$tool" "$M_RC"; then
                record "$round" restore "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" restore "$tool" "restore failed" "$M_ERR"
                continue
            fi
            verify_restore "$DATA" "$target"
            if [ -n "$V_REASON" ]; then
                record "$round" restore "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" - "$V_REASON"
                failure "$round" restore "$tool" "wrong restore: $V_REASON" "$M_ERR"
            else
                record "$round" restore "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" - "$V_NOTE"
            fi
        done
    fi

    # read-all verification of the repository
    if want check; then
        for tool in "${ORDER[@]}"; do
            [ "${READY[$tool]}" = 1 ] || continue
            tool_env "$tool" "$RD"
            repo="$RD/repo-$tool"
            tool_cmd "$tool" check "$repo"
            log "  check: $tool"
            measure "r$round-check-$tool"
            if rc_ok "$tool" "$M_RC"; then
                record "$round" check "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" - ""
            else
                record "$round" check "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" check "$tool" "check failed" "$M_ERR"
            fi
        done
    fi

    # many small files, nothing changed: a second backup (the first one is untimed)
    if want smallfiles; then
        for tool in "${ORDER[@]}"; do
            tool_available "$tool" || {
                record "$round" smallfiles "$tool" n/a - - - - "not installed"
                continue
            }
            tool_env "$tool" "$RD"
            repo="$RD/repo-small-$tool"
            tool_cmd "$tool" init "$repo"
            if ! run_untimed "r$round-small-init-$tool" && ! rc_ok "$tool" "$M_RC"; then
                record "$round" smallfiles "$tool" FAILED - - - - "init failed"
                failure "$round" smallfiles "$tool" "repository init failed" "$M_ERR"
                continue
            fi
            tool_cmd "$tool" backup "$repo" "$SMALL" 1
            if ! run_untimed "r$round-small-full-$tool" && ! rc_ok "$tool" "$M_RC"; then
                record "$round" smallfiles "$tool" FAILED - - - - "first backup failed"
                failure "$round" smallfiles "$tool" "first backup failed" "$M_ERR"
                continue
            fi
            tool_cmd "$tool" backup "$repo" "$SMALL" 2
            log "  smallfiles: $tool"
            measure "r$round-smallfiles-$tool"
            if rc_ok "$tool" "$M_RC"; then
                record "$round" smallfiles "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" \
                    "$(repo_bytes "$repo")" ""
            else
                record "$round" smallfiles "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" smallfiles "$tool" "backup failed" "$M_ERR"
            fi
        done
    fi

    # 30 daily backups of a shop that changes a little every day, then a timed prune that
    # keeps 7 dailies: drkit prune, restic forget --prune, borg prune + compact. Round 1 only
    # (30 backups per tool take minutes).
    if want prune && [ "$round" = 1 ]; then
        PD="$RD/prune-data"
        log "prune: copying the data set to $PD"
        cp -a "$PRISTINE" "$PD" || die "cp -a $PRISTINE $PD failed"
        PTOOLS=()
        for tool in "${ORDER[@]}"; do
            [ "$tool" = tar ] && { record "$round" prune tar n/a - - - - "no prune"; continue; }
            tool_available "$tool" || { record "$round" prune "$tool" n/a - - - - "not installed"; continue; }
            tool_env "$tool" "$RD"
            tool_cmd "$tool" init "$RD/repo-prune-$tool"
            if run_untimed "r$round-prune-init-$tool" || rc_ok "$tool" "$M_RC"; then
                PTOOLS+=("$tool")
            else
                record "$round" prune "$tool" FAILED - - - - "init failed"
            fi
        done
        declare -A PFAIL=()
        for day in $(seq 1 30); do
            stamp=$(printf '2024-01-%02d 02:00:00' "$day")
            if [ "$day" -gt 1 ]; then
                "$DATAGEN" mutate --dir "$PD" --seed "$((MUTATE_SEED + day))" --percent 2 \
                    2>>"$LOGDIR/prune-mutate.err" || die "datagen mutate failed"
            fi
            for tool in "${PTOOLS[@]}"; do
                [ -z "${PFAIL[$tool]:-}" ] || continue
                tool_env "$tool" "$RD"
                repo="$RD/repo-prune-$tool"
                case $tool in
                drkit) CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" backup create --quiet \
                    "--time=$stamp" "$PD") ;;
                restic) CMD=("${ENV[@]}" restic -r "$repo" backup --quiet --time "$stamp" "$PD") ;;
                borg) CMD=("${ENV[@]}" borg create --compression 'zstd,3' \
                    --timestamp "${stamp/ /T}" "$repo::d$day" "$PD") ;;
                esac
                if ! run_untimed "r$round-prune-day$day-$tool" && ! rc_ok "$tool" "$M_RC"; then
                    PFAIL[$tool]=1
                    record "$round" prune "$tool" FAILED - - - - "daily backup $day failed"
                    failure "$round" prune "$tool" "daily backup $day failed" "$M_ERR"
                fi
            done
        done
        for tool in "${PTOOLS[@]}"; do
            [ -z "${PFAIL[$tool]:-}" ] || continue
            tool_env "$tool" "$RD"
            repo="$RD/repo-prune-$tool"
            case $tool in
            drkit) CMD=("${ENV[@]}" "$DRKIT" --repo "$repo" backup prune --keep-daily 7 --quiet) ;;
            restic) CMD=("${ENV[@]}" restic -r "$repo" forget --keep-daily 7 --prune --quiet) ;;
            borg) CMD=("${ENV[@]}" bash -c 'borg prune --keep-daily 7 "$1" && borg compact "$1"' _ \
                "$repo") ;;
            esac
            sync
            log "  prune: $tool"
            measure "r$round-prune-$tool"
            if rc_ok "$tool" "$M_RC"; then
                record "$round" prune "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" "$(repo_bytes "$repo")" ""
            else
                record "$round" prune "$tool" FAILED - - - - "exit $M_RC"
                failure "$round" prune "$tool" "prune failed" "$M_ERR"
            fi
        done
    fi
done

# ------------------------------------------------------------------------------------------
# PostgreSQL: drkit's database backup and restore against pg_dump -Fc and pgBackRest

PG_TABLE=
if want pg; then
    # shellcheck source=SCRIPTDIR/pg.sh
    . "$BENCH_DIR/pg.sh"
    pg_scenario
fi

# ------------------------------------------------------------------------------------------
# S3: drkit's S3 backend against restic's, on a local S3 server (s3rver)

S3_TABLE=
if want s3; then
    # shellcheck source=SCRIPTDIR/s3.sh
    . "$BENCH_DIR/s3.sh"
    s3_scenario
fi

# ------------------------------------------------------------------------------------------
# Table

# make_table "TOOLS" "SCENARIOS" BASE: markdown table from the raw measurements: one row per
# scenario x metric, one column per tool ("median (min–max)"), then one "peer/base" ratio
# column per peer.
make_table() {
    awk -F'\t' -v tools="$1" -v scens="$2" -v base="$3" '
    function sort_nums(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) {
            t = a[i]
            for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
    }
    function stat_of(key,    n, a, i) {
        n = split(vals[key], a, " ")
        for (i = 1; i <= n; i++) a[i] += 0
        sort_nums(a, n)
        s_n = n
        s_min = a[1]
        s_max = a[n]
        s_med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(v, m) {
        if (m == "rss" || m == "req") return sprintf("%.0f", v)
        if (m == "mbps") return sprintf("%.1f", v)
        if (m == "repo") return sprintf("%.1f", v)
        return sprintf("%.2f", v)
    }
    function cell(s, t, m,    key) {
        key = s SUBSEP t
        has_med = 0
        if (nfail[key] > 0) {
            if (nok[key] > 0) return sprintf("FAILED (%d/%d)", nfail[key], nfail[key] + nok[key])
            return "FAILED"
        }
        if (nok[key] == 0) return "n/a"
        stat_of(key SUBSEP m)
        if (s_n == 0) return "n/a"
        has_med = 1
        med = s_med
        if (s_n == 1) return fmt(s_med, m)
        return fmt(s_med, m) " (" fmt(s_min, m) "–" fmt(s_max, m) ")"
    }
    {
        key = $2 SUBSEP $3
        if ($4 == "ok") nok[key]++
        else if ($4 == "FAILED") nfail[key]++
        if ($4 != "ok") next
        if ($5 != "-") vals[key SUBSEP "wall"] = vals[key SUBSEP "wall"] " " $5
        if ($6 != "-") vals[key SUBSEP "cpu"] = vals[key SUBSEP "cpu"] " " $6
        if ($7 != "-") vals[key SUBSEP "rss"] = vals[key SUBSEP "rss"] " " $7
        if ($8 != "-" && $8 != "")
            vals[key SUBSEP "repo"] = vals[key SUBSEP "repo"] " " ($8 / 1048576)
        if (NF >= 12 && $12 != "-" && $12 != "") {
            vals[key SUBSEP "srv"] = vals[key SUBSEP "srv"] " " $12
            if ($6 != "-") vals[key SUBSEP "tot"] = vals[key SUBSEP "tot"] " " ($6 + $12)
        }
        if (NF >= 13 && $13 != "-" && $13 != "")
            vals[key SUBSEP "req"] = vals[key SUBSEP "req"] " " $13
        if (NF >= 14 && $14 != "-" && $14 != "")
            vals[key SUBSEP "mbps"] = vals[key SUBSEP "mbps"] " " $14
    }
    END {
        nt = split(tools, T, " ")
        ns = split(scens, S, " ")
        mname["wall"] = "wall s"; mname["cpu"] = "CPU s (user+sys)"
        mname["rss"] = "peak RSS MiB"; mname["repo"] = "repository MiB"
        pgname["wall"] = "wall s"; pgname["cpu"] = "client CPU s (user+sys)"
        pgname["srv"] = "server CPU s"; pgname["tot"] = "client + server CPU s"
        pgname["rss"] = "client peak RSS MiB"; pgname["repo"] = "repository MiB"
        s3name["wall"] = "wall s"; s3name["mbps"] = "MiB/s (data / wall)"
        s3name["cpu"] = "client CPU s (user+sys)"; s3name["srv"] = "server (s3rver) CPU s"
        s3name["tot"] = "client + server CPU s"; s3name["rss"] = "client peak RSS MiB"
        s3name["repo"] = "stored on the server MiB"; s3name["req"] = "S3 requests"
        hdr = "| scenario | metric |"
        sep = "|---|---|"
        for (i = 1; i <= nt; i++) { hdr = hdr " " T[i] " |"; sep = sep "---:|" }
        for (i = 1; i <= nt; i++) {
            if (T[i] == base) continue
            hdr = hdr " " T[i] "/" base " |"
            sep = sep "---:|"
        }
        print hdr
        print sep
        for (si = 1; si <= ns; si++) {
            s = S[si]
            mlist = (s == "restore" || s == "check") ? "wall cpu rss" : "wall cpu rss repo"
            # pg: the server works for the clients (COPY, index builds): its CPU has rows too
            if (s ~ /^pg-/)
                mlist = (s == "pg-restore") ? "wall cpu srv tot rss" : "wall cpu srv tot rss repo"
            # s3: the S3 server does much of the work too; throughput and requests as well
            if (s == "s3-initial") mlist = "wall mbps cpu srv tot rss repo req"
            else if (s == "s3-nochange") mlist = "wall cpu srv tot rss repo req"
            else if (s ~ /^s3-/) mlist = "wall mbps cpu srv tot rss req"
            nm = split(mlist, M, " ")
            for (mi = 1; mi <= nm; mi++) {
                m = M[mi]
                label = mname[m]
                if (s ~ /^pg-/) label = pgname[m]
                if (s ~ /^s3-/) label = s3name[m]
                if (s == "pg-update" && m == "repo") label = "added to the repository MiB"
                row = "| " s " | " label " |"
                delete meds
                for (i = 1; i <= nt; i++) {
                    row = row " " cell(s, T[i], m) " |"
                    if (has_med) meds[T[i]] = med
                }
                for (i = 1; i <= nt; i++) {
                    if (T[i] == base) continue
                    if ((T[i] in meds) && (base in meds) && meds[base] > 0)
                        row = row " " sprintf("%.2f", meds[T[i]] / meds[base]) " |"
                    else
                        row = row " – |"
                }
                print row
            }
        }
    }' "$RAW"
}

TABLE=
if [ ${#FILE_SCENS[@]} -gt 0 ]; then
    TABLE=$(make_table "${TOOL_LIST[*]}" "${FILE_SCENS[*]}" "$BASE")
fi
if want pg; then
    PG_TABLE=$(make_table "${PG_TOOL_LIST[*]}" "pg-backup pg-restore pg-update" "$PG_BASE")
fi
if want s3; then
    S3_TABLE=$(make_table "${S3_TOOL_LIST[*]}" "$S3_SCENS" "$S3_BASE")
fi
RUN_SECONDS=$((SECONDS - RUN_START))

RESULT_FILE="$RESULTS_DIR/$STAMP.md"
k=2
while [ -e "$RESULT_FILE" ]; do
    RESULT_FILE="$RESULTS_DIR/$STAMP-$k.md"
    k=$((k + 1))
done

CMDLINE="bench/run.sh"
[ ${#FILE_SCENS[@]} -gt 0 ] && CMDLINE="$CMDLINE --size-mib $SIZE_MIB --tools $TOOLS"
CMDLINE="$CMDLINE --runs $RUNS --scenarios $SCENARIOS"
want pg && CMDLINE="$CMDLINE --pg-scale $PG_SCALE --pg-tools $PG_TOOLS"
want s3 && CMDLINE="$CMDLINE --s3-size-mib $S3_SIZE_MIB --s3-tools $S3_TOOLS"
[ "$KEEP" = 1 ] && CMDLINE="$CMDLINE --keep"
{
    echo "# drkit benchmark, $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "\`$CMDLINE\` (drkit: \`$DRKIT_SRC\`), whole run ${RUN_SECONDS} s"
    echo "(after waiting ${WAITED} s for the previous run's deletes to settle, not counted)."
    echo
    if [ ${#FILE_SCENS[@]} -gt 0 ]; then
        echo "Data set: datagen seed $SEED, $SIZE_MIB MiB requested: $DATA_FILES files,"
        echo "$DATA_DIRS directories,"
        echo "$DATA_BYTES bytes ($(awk -v b="$DATA_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)."
        echo "mutate: \`datagen mutate --percent $MUTATE_PERCENT --seed $MUTATE_SEED\` once per round."
        want smallfiles && echo "smallfiles: $SMALL_COUNT files (\`datagen smallfiles --seed $SEED\`)."
        echo "$RUNS round(s); tool order rotated each round; warm page cache; \`sync\` before every"
        echo "timed command; a fresh repository per tool and round."
        echo
        echo "## Results"
        echo
        echo "$TABLE"
        echo
        echo "Cells: median (min–max) over the rounds. Ratio columns: peer median / $BASE median, so"
        echo "a ratio above 1 means $BASE is faster, uses less CPU or memory, or stores fewer bytes."
        echo "Repository MiB is \`du -sb\` after the step (tar keeps one archive per backup)."
        echo "Peak RSS is GNU time's %M; for tar it is the largest process of the pipeline."
        echo
    fi
    if want pg; then
        pg_report
    fi
    if want s3; then
        s3_report
    fi
    echo "## Machine"
    echo
    cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
    cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -E '^(sha_ni|aes|vaes|avx2|avx512f)$' | tr '\n' ' ')
    echo "- CPU: $cpu_model, $(nproc) cores; crypto/vector flags: $cpu_flags"
    echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "- file system of the work dir: $(findmnt -no FSTYPE,OPTIONS -T "$WORKDIR" 2>/dev/null)"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "## Tool versions"
    echo
    if [ ${#FILE_SCENS[@]} -gt 0 ]; then
        for t in "${TOOL_LIST[@]}"; do
            echo "- $(tool_version "$t")"
        done
    elif want pg || want s3; then
        echo "- $(tool_version drkit)"
    fi
    if [ ${#FILE_SCENS[@]} -gt 0 ] && [[ ",$TOOLS," == *",restic,"* ]]; then
        echo "- restic repository version: ${RESTIC_REPO_VERSION:-unknown}" \
            "(the \`restic init\` default, compression auto)"
    fi
    want pg && pg_versions
    want s3 && s3_versions
    echo
    if [ ${#FILE_SCENS[@]} -gt 0 ]; then
        echo "## Commands"
        echo
        echo "R is the repository, DATA the round's copy of the data set, DIR an empty directory."
        echo
        cat <<'EOF'
- drkit: `drkit --repo R init` (untimed); `backup create --type=full --quiet DATA`;
  `backup create --type=incremental --quiet DATA`;
  `backup restore latest --target=DIR --quiet`; `backup check --read-data --quiet`
  (DRKIT_PASSWORD set)
- restic: `restic -r R init` (untimed); `restic -r R backup --quiet DATA` (same for the
  incrementals, restic picks the parent itself); `restore latest --target DIR`;
  `check --read-data`
- borg: `borg init -e repokey R` (untimed);
  `borg create --compression zstd,3 R::aN DATA`; `cd DIR && borg extract R::aN` (the latest
  archive); `borg check --verify-data R`
- tar: `tar -cf - -C DATA . | zstd -3 -T0 -q -o R/aN.tar.zst` (each backup is a full one);
  `zstd -dc R/aN.tar.zst | tar -xf - -C DIR`; `zstd -t R/*.tar.zst`
EOF
        echo
    fi
    echo "## Failures"
    echo
    if [ -s "$FAILS" ]; then
        cat "$FAILS"
    else
        echo "None."
    fi
    echo
    echo "## Raw measurements"
    echo
    echo '```'
    printf '%s\t' round scenario tool status wall_s cpu_s rss_mib repo_bytes note user_s sys_s
    printf 'server_cpu_s\ts3_requests\tmib_per_s\n'
    cat "$RAW"
    echo '```'
} >"$RESULT_FILE"

echo
[ -n "$TABLE" ] && printf '%s\n\n' "$TABLE"
[ -n "$PG_TABLE" ] && printf 'PostgreSQL (pgbench scale %s):\n\n%s\n\n' "$PG_SCALE" "$PG_TABLE"
[ -n "$S3_TABLE" ] && printf 'S3 (%s MiB data set):\n\n%s\n\n' "$S3_SIZE_MIB" "$S3_TABLE"
log "results: $RESULT_FILE (whole run ${RUN_SECONDS} s)"

# Deleting comes last, after every measurement.
if [ "$KEEP" = 1 ]; then
    log "kept $RUNDIR"
    [ -d "$TRASH" ] && rm -rf "$TRASH"
else
    log "deleting $RUNDIR and $TRASH"
    rm -rf "$RUNDIR" "$TRASH"
fi
sync
date +%s >"$LAST_DELETE"
exit 0
