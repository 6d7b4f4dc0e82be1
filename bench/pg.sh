# shellcheck shell=bash disable=SC2034 # CMD, M_SRV, PG_BASE...: read by run.sh
# bench/pg.sh: the PostgreSQL scenario of bench/run.sh (`--scenarios pg`). Sourced by run.sh,
# whose log, die, is_uint, measure, record, failure, tool_env, repo_bytes and CMD/ENV
# conventions it uses. See bench/README.md, "PostgreSQL".
#
# Two throwaway clusters (PostgreSQL 15, unix sockets only, in $RUNDIR/pg): "src" holds a
# pgbench database and archives its WAL (to pgBackRest, or to /bin/true when pgBackRest is not
# run); "dst" receives the logical restores (drkit, pg_restore) and does not archive, so that a
# restore's WAL is not compressed and pushed by a background archiver while the next tool is
# timed. pgBackRest restores into a new data directory and a third server is started on it.
#
# Per round, in rotating tool order, each tool with a fresh repository:
#   pg-backup   a full backup of database bench
#   pg-restore  a restore (verified untimed: rows, sum of balances, indexes, constraints),
#               then dropped/stopped (untimed)
#   pg-update   `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE random() < 0.01`
#               and a scan that sets the hint bits (once per round, untimed), then the next
#               backup; its repository column is the bytes that backup added
# Every timed step is preceded by CHECKPOINT on the running clusters and sync. Server CPU is
# the CPU the server's processes used meanwhile (see pg_server_cpu).

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
PG_OSUSER=${PG_OSUSER:-postgres}
# Unix sockets only (listen_addresses = '') in a private directory: the port numbers only name
# the socket files, so they cannot clash with anything else on the machine.
PG_SRC_PORT=5433
PG_DST_PORT=5434
PG_PBR_PORT=5435
PG_PHYS_PORT=5436
PG_DIR="$RUNDIR/pg"
PG_CONF="$PG_DIR/pgbackrest.conf"
PG_SOCK=
PG_RUNNING=()
PG_HZ=$(getconf CLK_TCK)
PG_BASE=drkit
[[ ",$PG_TOOLS," == *",drkit,"* ]] || PG_BASE=${PG_TOOL_LIST[0]}
PG_UPDATE_SQL='UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE random() < 0.01'
PG_SCENS="pg-backup pg-restore pg-update"
PG_NOTES=()

if [ "$(id -u)" = 0 ]; then
    PG_AS=(runuser -u "$PG_OSUSER" --) # initdb and postgres refuse to run as root
else
    PG_AS=()
fi

# as_pg CMD...: as the cluster owner, from a directory it can enter
as_pg() {
    (cd "$PG_DIR" && "${PG_AS[@]}" "$@")
}

# pg_sql PORT DB SQL: unaligned, tuples only
pg_sql() {
    "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$1" -U postgres -d "$2" -c "$3"
}

pg_tool_available() {
    case "$1" in
    drkit | drkit-physical) [ -x "$DRKIT" ] ;;
    pg_dump) [ -x "$PGBIN/pg_dump" ] && [ -x "$PGBIN/pg_restore" ] ;;
    pgbackrest) command -v pgbackrest >/dev/null ;;
    esac
}

pg_versions() {
    [ -x "$PGBIN/postgres" ] && echo "- $("$PGBIN/postgres" --version) ($PGBIN)"
    [ -x "$PGBIN/pg_dump" ] && echo "- $("$PGBIN/pg_dump" --version), pg_restore, pgbench"
    if command -v pgbackrest >/dev/null; then
        echo "- $(pgbackrest version 2>&1 | head -n1)"
    else
        echo "- pgBackRest: not installed"
    fi
}

# pg_init NAME PORT ARCHIVE_MODE: initdb $PG_DIR/NAME with the benchmark's settings (untimed).
# Durability settings are PostgreSQL's defaults (fsync, full_page_writes, synchronous_commit on).
pg_init() {
    local d="$PG_DIR/$1"
    as_pg "$PGBIN/initdb" -D "$d" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$LOGDIR/pg-initdb-$1.log" 2>&1 ||
        die "initdb of the $1 cluster failed: $LOGDIR/pg-initdb-$1.log"
    cat >>"$d/postgresql.conf" <<EOF
# --- bench/pg.sh ---
listen_addresses = ''
port = $2
unix_socket_directories = '$PG_SOCK'
max_connections = 40
archive_mode = $3
archive_command = '/bin/true'
logging_collector = off
log_min_messages = warning
EOF
}

# pg_start NAME: starts the cluster in $PG_DIR/NAME
pg_start() {
    local d="$PG_DIR/$1"
    as_pg "$PGBIN/pg_ctl" -D "$d" -l "$PG_DIR/$1.log" -w -t 600 -s start ||
        die "starting the $1 cluster failed: $PG_DIR/$1.log"
    PG_RUNNING+=("$d")
}

# pg_stop DATADIR: stops the server of DATADIR if it runs, forgets it
pg_stop() {
    local d rest=()
    if [ -f "$1/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$1" -m fast -w -t 120 -s stop >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 60 -s stop >/dev/null 2>&1
    fi
    for d in "${PG_RUNNING[@]}"; do
        [ "$d" = "$1" ] || rest+=("$d")
    done
    PG_RUNNING=("${rest[@]}")
}

pg_stop_all() {
    local d
    for d in "${PG_RUNNING[@]}"; do
        pg_stop "$d"
    done
    [ -n "$PG_SOCK" ] && rm -rf "$PG_SOCK"
    PG_SOCK=
}

# On any exit before the end of the scenario (die, ^C): stop the servers and, unless --keep,
# remove the clusters (1 GB+), the repositories and the restores.
pg_on_exit() {
    pg_stop_all
    [ "$KEEP" = 1 ] || rm -rf "$PG_DIR"
}

# pg_server_cpu DATADIR: CPU seconds (user + system) the server of DATADIR has used so far: the
# postmaster's own and that of its reaped children (backends, parallel workers, archive_command
# runs), plus every live descendant's own and reaped children's. A difference of two readings
# is what the server spent in between. 0 when the server does not run.
pg_server_cpu() {
    local pm
    pm=$(head -n1 "$1/postmaster.pid" 2>/dev/null)
    if ! is_uint "${pm:-x}"; then
        echo 0
        return
    fi
    ps -e -o pid= -o ppid= | awk -v root="$pm" -v hz="$PG_HZ" '
        { parent[$1] = $2; pid[++n] = $1 }
        END {
            sel[root] = 1
            for (changed = 1; changed;) {
                changed = 0
                for (i = 1; i <= n; i++)
                    if (!(pid[i] in sel) && (parent[pid[i]] in sel)) {
                        sel[pid[i]] = 1
                        changed = 1
                    }
            }
            t = 0
            for (p in sel) {
                f = "/proc/" p "/stat"
                if ((getline line < f) > 0) {
                    sub(/^.*\) /, "", line)    # after "pid (comm) ": field k is a[k - 2]
                    split(line, a, " ")
                    t += a[12] + a[13] + a[14] + a[15]    # utime stime cutime cstime
                }
                close(f)
            }
            printf "%.2f\n", t / hz
        }'
}

# pg_measure NAME DATADIR: CHECKPOINT on the running clusters, then measure (sync, GNU time);
# M_SRV = the CPU seconds the server of DATADIR used meanwhile.
pg_measure() {
    local before after
    pg_sql "$PG_SRC_PORT" postgres CHECKPOINT >/dev/null 2>&1
    pg_sql "$PG_DST_PORT" postgres CHECKPOINT >/dev/null 2>&1
    before=$(pg_server_cpu "$2")
    measure "$1"
    after=$(pg_server_cpu "$2")
    M_SRV=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
}

# pg_fingerprint PORT DB: what a right restore reproduces
pg_fingerprint() {
    pg_sql "$1" "$2" "SELECT concat_ws(' ',
        (SELECT count(*) FROM pgbench_accounts), (SELECT sum(abalance) FROM pgbench_accounts),
        (SELECT count(*) FROM pgbench_branches), (SELECT count(*) FROM pgbench_tellers),
        (SELECT count(*) FROM pgbench_history),
        (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'),
        (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace))" 2>&1
}

# pg_wait_archived: switches to a new WAL segment and waits until the archiver has pushed the
# one it closed (so that no archive-push runs while the next step is timed)
pg_wait_archived() {
    local seg last i
    seg=$(pg_sql "$PG_SRC_PORT" postgres "SELECT pg_walfile_name(pg_switch_wal())") || return 1
    for ((i = 0; i < 3000; i++)); do
        last=$(pg_sql "$PG_SRC_PORT" postgres \
            "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") || return 1
        # the same timeline throughout: segment names sort in WAL order
        if [ "$last" = "$seg" ] || [[ "$last" > "$seg" ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "warning: WAL segment $seg not archived after 300 s"
    return 1
}

# pgbr ARGS...: sets CMD to pgBackRest (as the cluster owner) with the run's config
pgbr() {
    CMD=(env -C "$PG_DIR" "${PG_AS[@]}" pgbackrest "--config=$PG_CONF" --stanza=bench "$@")
}

# pg_cmd TOOL OP RD [N]: sets CMD (and ENV for drkit) for OP = backup | restore.
# N is the backup's number in the round (1: full, 2: after the update).
pg_cmd() {
    local tool=$1 op=$2 rd=$3 n=${4:-1}
    case "$tool:$op" in
    drkit:*)
        tool_env drkit "$rd"
        ENV+=("DRKIT_CONFIG=$rd/drkit.conf")
        if [ "$op" = backup ]; then
            CMD=("${ENV[@]}" "$DRKIT" backup create --component=database --json)
        else
            CMD=("${ENV[@]}" "$DRKIT" backup restore latest --database-only --target=test --quiet)
        fi
        ;;
    drkit-physical:backup)
        tool_env drkit-physical "$rd"
        CMD=("${ENV[@]}" "DRKIT_CONFIG=$rd/drkit-physical.conf" "$DRKIT" backup create
            --component=database --json)
        ;;
    drkit-physical:restore)
        # like pgBackRest's: the data directory, then a server on it until it takes sessions
        tool_env drkit-physical "$rd"
        CMD=("${ENV[@]}" "DRKIT_CONFIG=$rd/drkit-physical.conf" bash -c '
            "$1" backup restore latest --database-only --target="$3" --quiet &&
                "$2" "${@:4}"' _ "$DRKIT" "$BENCH_DIR/pg-start-restored.sh"
            "$rd/drkit-physical-restore" "$PG_OSUSER" "$rd/drkit-physical-restore" "$PGBIN"
            "$PG_PHYS_PORT" "$PG_SOCK")
        ;;
    pg_dump:backup)
        CMD=("$PGBIN/pg_dump" -Fc -h "$PG_SOCK" -p "$PG_SRC_PORT" -U postgres -d bench
            -f "$rd/repo-pg_dump/a$n.dump")
        ;;
    pg_dump:restore)
        CMD=(bash -c '"$1/createdb" -h "$2" -p "$3" -U postgres bench_restored &&
            "$1/pg_restore" -j 2 -h "$2" -p "$3" -U postgres -d bench_restored "$4"' _
            "$PGBIN" "$PG_SOCK" "$PG_DST_PORT" "$rd/repo-pg_dump/a1.dump")
        ;;
    pgbackrest:backup)
        if [ "$n" = 1 ]; then pgbr backup --type=full; else pgbr backup --type=incr; fi
        ;;
    pgbackrest:restore)
        # restore, start a server on the copy, and wait until recovery has ended and it
        # accepts read-write sessions
        CMD=(env -C "$PG_DIR" bash -c '
            as() { if [ "$(id -u)" = 0 ]; then runuser -u "$1" -- "${@:2}"; else "${@:2}"; fi; }
            as "$1" pgbackrest "--config=$2" --stanza=bench "--pg1-path=$3" restore &&
                "$4" "$1" "$3" "${@:5}"' _ "$PG_OSUSER" "$PG_CONF" "$rd/pgbackrest-restore"
            "$BENCH_DIR/pg-start-restored.sh" "$PGBIN" "$PG_PBR_PORT" "$PG_SOCK")
        ;;
    *) die "internal: no pg command for $tool $op" ;;
    esac
}

# pg_setup TOOL RD: the round's repository (untimed)
pg_setup() {
    local tool=$1 rd=$2
    case "$tool" in
    drkit)
        cat >"$rd/drkit.conf" <<EOF
[core]
    repository = local
[repository "local"]
    url = $rd/repo-drkit
[source "database"]
    type = postgresql
    conninfo = host=$PG_SOCK port=$PG_SRC_PORT dbname=bench user=postgres
    databases = bench
    pg-bin = $PGBIN
[target "test"]
    conninfo = host=$PG_SOCK port=$PG_DST_PORT dbname=bench_restored user=postgres
EOF
        tool_env drkit "$rd"
        CMD=("${ENV[@]}" "DRKIT_CONFIG=$rd/drkit.conf" "$DRKIT" init)
        run_untimed "pg-r$round-init-drkit"
        ;;
    drkit-physical)
        cat >"$rd/drkit-physical.conf" <<EOF
[core]
    repository = local
[repository "local"]
    url = $rd/repo-drkit-physical
[source "database"]
    type = postgresql
    conninfo = host=$PG_SOCK port=$PG_SRC_PORT dbname=bench user=postgres
    method = physical
    pg-bin = $PGBIN
EOF
        tool_env drkit-physical "$rd"
        CMD=("${ENV[@]}" "DRKIT_CONFIG=$rd/drkit-physical.conf" "$DRKIT" init)
        run_untimed "pg-r$round-init-drkit-physical"
        ;;
    pg_dump)
        CMD=(mkdir -p "$rd/repo-pg_dump")
        run_untimed "pg-r$round-init-pg_dump"
        ;;
    pgbackrest)
        # a fresh repository per round: what is to be archived goes to the old one first
        [ -f "$PG_CONF" ] && pg_wait_archived
        cat >"$PG_CONF" <<EOF
[global]
repo1-path=$rd/repo-pgbackrest
repo1-retention-full=2
compress-type=zst
process-max=2
start-fast=y
log-path=$PG_DIR/pgbackrest-log
lock-path=$PG_DIR/pgbackrest-lock
log-level-console=warn
log-level-file=info

[bench]
pg1-path=$PG_DIR/src
pg1-port=$PG_SRC_PORT
pg1-socket-path=$PG_SOCK
EOF
        chmod 644 "$PG_CONF"
        pgbr stanza-create
        run_untimed "pg-r$round-init-pgbackrest" || return 1
        if [ "$(pg_sql "$PG_SRC_PORT" postgres "SHOW archive_command")" = /bin/true ]; then
            pg_sql "$PG_SRC_PORT" postgres "ALTER SYSTEM SET archive_command =
                'pgbackrest --config=$PG_CONF --stanza=bench archive-push %p'" &&
                pg_sql "$PG_SRC_PORT" postgres "SELECT pg_reload_conf()" >/dev/null ||
                die "setting archive_command failed"
        fi
        pgbr check # archiving into this repository works
        run_untimed "pg-r$round-check-pgbackrest"
        ;;
    esac
}

# pg_load: creates database bench with pgbench -i (untimed) and points archiving at pgBackRest
pg_load() {
    local t0=$SECONDS
    log "pg: pgbench -i -s $PG_SCALE (untimed)"
    "$PGBIN/createdb" -h "$PG_SOCK" -p "$PG_SRC_PORT" -U postgres bench ||
        die "createdb bench failed"
    "$PGBIN/pgbench" -i -q -s "$PG_SCALE" -h "$PG_SOCK" -p "$PG_SRC_PORT" -U postgres bench \
        >"$LOGDIR/pg-pgbench-init.log" 2>&1 || die "pgbench -i failed: $LOGDIR/pg-pgbench-init.log"
    PG_LOAD_S=$((SECONDS - t0))
    # archive_command becomes pgBackRest's when its first repository exists (pg_setup)
    if [[ " ${PG_TOOL_LIST[*]} " == *" pgbackrest "* ]] && pg_tool_available pgbackrest; then
        PG_ARCHIVE="pgBackRest \`archive-push\` (zst; \`/bin/true\` during the load)"
    else
        PG_ARCHIVE="\`/bin/true\` (pgBackRest not run)"
    fi
    pg_sql "$PG_SRC_PORT" bench CHECKPOINT
    pg_wait_archived
    PG_DB_BYTES=$(pg_sql "$PG_SRC_PORT" bench "SELECT pg_database_size('bench')")
    PG_ACC_BYTES=$(pg_sql "$PG_SRC_PORT" bench \
        "SELECT pg_relation_size('pgbench_accounts') || ' ' ||
                pg_relation_size('pgbench_accounts_pkey')")
    PG_ACC_ROWS=$(pg_sql "$PG_SRC_PORT" bench "SELECT count(*) FROM pgbench_accounts")
    PG_SERVER_VERSION=$(pg_sql "$PG_SRC_PORT" bench "SHOW server_version")
    log "pg: database bench: $((PG_DB_BYTES / 1048576)) MiB, $PG_ACC_ROWS accounts," \
        "loaded in ${PG_LOAD_S} s"
}

# pg_warm_dst: a fresh cluster creates (zero-fills) a 16 MiB WAL segment file for every segment
# of its first big load and recycles them afterwards: the first restore into "dst" measured
# 12.5 s where the next ones took 7-9 s. Write about a database's worth of WAL there once,
# untimed, so that no tool pays for it.
pg_warm_dst() {
    local t0=$SECONDS
    pg_sql "$PG_DST_PORT" postgres "CREATE TABLE bench_warmup AS
        SELECT g AS id, repeat('x', 84) AS filler
        FROM generate_series(1, $((PG_SCALE * 100000))) g" &&
        pg_sql "$PG_DST_PORT" postgres "DROP TABLE bench_warmup" &&
        pg_sql "$PG_DST_PORT" postgres CHECKPOINT || die "warming up the dst cluster failed"
    log "pg: dst cluster's WAL files created in $((SECONDS - t0)) s (untimed)"
}

# pg_record_rest ROUND TOOL STATUS NOTE SCENARIO...: the same record in each of those scenarios
pg_record_rest() {
    local round=$1 tool=$2 status=$3 note=$4 s
    shift 4
    for s in "$@"; do
        record "$round" "$s" "$tool" "$status" - - - - "$note"
    done
}

pg_round() {
    local round=$1
    local rd="$PG_DIR/r$round" tool n i bytes before after fp note
    local -a order=()
    local -A ready=()
    mkdir -p "$rd"
    chmod 755 "$rd"
    [ "$(id -u)" = 0 ] && chown "$PG_OSUSER": "$rd"
    n=${#PG_TOOL_LIST[@]}
    for ((i = 0; i < n; i++)); do
        order+=("${PG_TOOL_LIST[$(((i + round - 1) % n))]}")
    done
    log "pg round $round/$RUNS, order: ${order[*]}"

    for tool in "${order[@]}"; do
        ready[$tool]=0
        if ! pg_tool_available "$tool"; then
            pg_record_rest "$round" "$tool" n/a "not installed" $PG_SCENS
            continue
        fi
        if ! pg_setup "$tool" "$rd"; then
            failure "$round" pg-setup "$tool" "repository setup failed" "$M_ERR"
            pg_record_rest "$round" "$tool" FAILED "setup failed" $PG_SCENS
            continue
        fi
        ready[$tool]=1
    done

    # full backups
    PG_SRC_FP=$(pg_fingerprint "$PG_SRC_PORT" bench)
    for tool in "${order[@]}"; do
        [ "${ready[$tool]}" = 1 ] || continue
        pg_cmd "$tool" backup "$rd" 1
        log "  pg-backup: $tool"
        pg_measure "pg-r$round-backup-$tool" "$PG_DIR/src"
        if [ "$M_RC" -ne 0 ]; then
            record "$round" pg-backup "$tool" FAILED - - - - "exit $M_RC"
            failure "$round" pg-backup "$tool" "backup failed" "$M_ERR"
            pg_record_rest "$round" "$tool" FAILED "backup failed" pg-restore pg-update
            ready[$tool]=0
            continue
        fi
        bytes=$(repo_bytes "$rd/repo-$tool")
        # pgbench rows compress ~100x; still, an empty repository is a failure, not a record
        if [ "${bytes:-0}" -lt $((PG_DB_BYTES / 1000)) ]; then
            failure "$round" pg-backup "$tool" "repository implausibly small: ${bytes:-0} bytes" \
                "$M_ERR"
            record "$round" pg-backup "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" "${bytes:-0}" \
                "repository too small"
            pg_record_rest "$round" "$tool" FAILED "backup failed" pg-restore pg-update
            ready[$tool]=0
            continue
        fi
        note=
        [[ "$tool" == drkit* ]] &&
            note="bytes_added $(pg_json_bytes_added "$LOGDIR/pg-r$round-backup-$tool.out")"
        record "$round" pg-backup "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" "$bytes" "$note"
    done

    # restores, each verified and then removed (untimed)
    for tool in "${order[@]}"; do
        [ "${ready[$tool]}" = 1 ] || continue
        local port=$PG_DST_PORT db=bench_restored dd="$PG_DIR/dst"
        if [ "$tool" = pgbackrest ] || [ "$tool" = drkit-physical ]; then
            port=$PG_PBR_PORT db=bench dd="$rd/$tool-restore"
            [ "$tool" = pgbackrest ] || port=$PG_PHYS_PORT
            as_pg mkdir -m 700 "$dd"
            PG_RUNNING+=("$dd") # started by the timed command; stopped below or on exit
        else
            "$PGBIN/dropdb" --if-exists -h "$PG_SOCK" -p "$PG_DST_PORT" -U postgres bench_restored \
                2>/dev/null
        fi
        pg_cmd "$tool" restore "$rd"
        log "  pg-restore: $tool"
        if [ "$tool" = pgbackrest ] || [ "$tool" = drkit-physical ]; then
            measure "pg-r$round-restore-$tool"
            M_SRV=$(pg_server_cpu "$dd") # the new server's whole life so far
        else
            pg_measure "pg-r$round-restore-$tool" "$dd"
        fi
        if [ "$M_RC" -ne 0 ]; then
            record "$round" pg-restore "$tool" FAILED - - - - "exit $M_RC"
            failure "$round" pg-restore "$tool" "restore failed" "$M_ERR"
        else
            fp=$(pg_fingerprint "$port" "$db")
            if [ "$fp" != "$PG_SRC_FP" ]; then
                record "$round" pg-restore "$tool" FAILED "$M_WALL" "$M_CPU" "$M_RSS" - \
                    "restored: $fp; source: $PG_SRC_FP"
                failure "$round" pg-restore "$tool" \
                    "wrong restore: $fp instead of $PG_SRC_FP" "$M_ERR"
            else
                record "$round" pg-restore "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" - ""
            fi
        fi
        if [ "$tool" = pgbackrest ] || [ "$tool" = drkit-physical ]; then
            pg_stop "$dd"
        else
            "$PGBIN/dropdb" --if-exists -h "$PG_SOCK" -p "$PG_DST_PORT" -U postgres bench_restored
        fi
    done

    # 1% of the accounts updated, then the next backup: what does it add?
    local t0=$SECONDS wal0 wal1 upd
    log "  pg: $PG_UPDATE_SQL"
    wal0=$(repo_bytes "$rd/repo-pgbackrest/archive" 2>/dev/null)
    upd=$("$PGBIN/psql" -X -A -t -h "$PG_SOCK" -p "$PG_SRC_PORT" -U postgres -d bench \
        -c "$PG_UPDATE_SQL" 2>&1) || die "the update failed: $upd"
    # The first reader of the updated rows sets their hint bits and writes the pages back: the
    # first logical backup after the update measured 1.5 s more server CPU than the next ones.
    # Let an untimed scan pay for that, as the day's queries would have on a live shop.
    pg_sql "$PG_SRC_PORT" bench "SELECT sum(abalance) FROM pgbench_accounts" >/dev/null ||
        die "scanning pgbench_accounts failed"
    pg_wait_archived
    wal1=$(repo_bytes "$rd/repo-pgbackrest/archive" 2>/dev/null)
    note="round $round: ${upd#UPDATE } rows updated in $((SECONDS - t0)) s"
    note="$note (untimed, archiving included)"
    if [ -n "$wal1" ]; then
        note="$note; pgBackRest archived $(awk -v a="$wal1" -v b="${wal0:-0}" \
            'BEGIN { printf "%.1f", (a - b) / 1048576 }') MiB of WAL for it (not counted in its row)"
    fi
    PG_NOTES+=("$note")
    for tool in "${order[@]}"; do
        [ "${ready[$tool]}" = 1 ] || continue
        before=$(repo_bytes "$rd/repo-$tool")
        pg_cmd "$tool" backup "$rd" 2
        log "  pg-update: $tool"
        pg_measure "pg-r$round-update-$tool" "$PG_DIR/src"
        if [ "$M_RC" -ne 0 ]; then
            record "$round" pg-update "$tool" FAILED - - - - "exit $M_RC"
            failure "$round" pg-update "$tool" "backup after the update failed" "$M_ERR"
            continue
        fi
        after=$(repo_bytes "$rd/repo-$tool")
        note=
        [[ "$tool" == drkit* ]] &&
            note="bytes_added $(pg_json_bytes_added "$LOGDIR/pg-r$round-update-$tool.out")"
        record "$round" pg-update "$tool" ok "$M_WALL" "$M_CPU" "$M_RSS" "$((after - before))" \
            "$note"
    done
}

# pg_json_bytes_added FILE: stats.bytes_added of drkit's --json output
pg_json_bytes_added() {
    grep -o '"bytes_added": *[0-9]*' "$1" 2>/dev/null | head -n1 | grep -o '[0-9]*$'
}

pg_scenario() {
    local round tool
    if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pgbench" ]; then
        log "pg: no PostgreSQL server binaries (apt-get install postgresql-15): skipped"
        for tool in "${PG_TOOL_LIST[@]}"; do
            pg_record_rest 1 "$tool" n/a "no PostgreSQL server" $PG_SCENS
        done
        PG_SKIPPED=1
        return 0
    fi
    PG_SKIPPED=0
    PG_START=$SECONDS
    PG_LOADAVG0=$(cut -d' ' -f1-3 /proc/loadavg)
    # a short socket path (107 bytes at most), in a directory of our own
    PG_SOCK=$(mktemp -d /tmp/drkit-bench-pg.XXXXXX) || die "mktemp failed"
    chmod 755 "$PG_SOCK"
    mkdir -p "$PG_DIR" || die "cannot create $PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        id "$PG_OSUSER" >/dev/null 2>&1 || die "no user $PG_OSUSER to run PostgreSQL as"
        chown "$PG_OSUSER": "$PG_SOCK" "$PG_DIR"
    fi
    trap pg_on_exit EXIT
    trap 'exit 130' INT TERM
    log "pg: clusters in $PG_DIR, sockets in $PG_SOCK"
    pg_init src "$PG_SRC_PORT" on
    pg_init dst "$PG_DST_PORT" off
    pg_start src
    pg_start dst
    pg_load
    pg_warm_dst
    for ((round = 1; round <= RUNS; round++)); do
        pg_round "$round"
    done
    pg_stop_all
    trap - EXIT INT TERM
    PG_SECONDS=$((SECONDS - PG_START))
    PG_LOADAVG1=$(cut -d' ' -f1-3 /proc/loadavg)
    log "pg: done in $PG_SECONDS s"
}

# pg_report: the PostgreSQL section of the report
pg_report() {
    echo "## PostgreSQL"
    echo
    if [ "${PG_SKIPPED:-1}" = 1 ]; then
        echo "Not run: no PostgreSQL server binaries."
        echo
        return
    fi
    local acc idx
    read -r acc idx <<<"$PG_ACC_BYTES"
    echo "Database: \`pgbench -i -s $PG_SCALE\` ($PG_ACC_ROWS accounts),"
    echo "$((PG_DB_BYTES / 1048576)) MiB by \`pg_database_size\`" \
        "(pgbench_accounts $((acc / 1048576)) MiB,"
    echo "its primary key $((idx / 1048576)) MiB), loaded in $PG_LOAD_S s (untimed)."
    echo "PostgreSQL $PG_SERVER_VERSION with default settings (fsync and full_page_writes on,"
    echo "shared_buffers 128MB, max_wal_size 1GB), unix sockets only; the source cluster archives"
    echo "its WAL with $PG_ARCHIVE."
    echo "$RUNS round(s), tool order rotated each round, a fresh repository per tool and round,"
    echo "\`CHECKPOINT\` on the running clusters and \`sync\` before every timed command."
    echo "The pg part took $PG_SECONDS s; load average $PG_LOADAVG0 at its start,"
    echo "$PG_LOADAVG1 at its end (other work on the machine shows there, and makes wall times"
    echo "noisier)."
    echo
    echo "$PG_TABLE"
    echo
    cat <<'EOF'
What each row measures:
- pg-backup: a full backup of database bench. drkit: `backup create --component=database`
  (globals, schema and sequences through pg_dump/pg_dumpall, every table as its own COPY
  stream, in one exported snapshot) into an empty repository. drkit-physical: the same
  command with `method = physical` (a base backup of the whole cluster: pg_basebackup's tar
  stream with the WAL it needs, taken apart into the repository's trees). pg_dump: `pg_dump -Fc` into a
  file (the "repository" is that file). pgBackRest: `backup --type=full` of the whole cluster
  (zst, process-max=2, start-fast), repository including the WAL archived for it.
- pg-restore: drkit: `backup restore latest --database-only --target=test` into a scratch
  database of the second cluster (built under a temporary name, then renamed). pg_dump:
  `createdb` + `pg_restore -j 2` into the second cluster. pgBackRest and drkit-physical:
  `restore` (drkit: `backup restore latest --database-only --target=DIR`) into a new data
  directory + `pg_ctl start` + waiting until recovery has ended (`pg_is_in_recovery()` false):
  the time until the restored cluster takes read-write sessions. Every restore is checked
  afterwards, untimed (row counts, sum of balances, indexes, constraints).
- pg-update: after `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE random() < 0.01`
  and a `SELECT sum(abalance)` that sets the new rows' hint bits (both untimed; otherwise the
  first logical reader pays ~1.5 s of server CPU for writing them), the next backup: drkit
  `backup create --component=database` into the same repository (drkit-physical: another base
  backup, deduplicated against the first), pg_dump another full `-Fc`
  file, pgBackRest `backup --type=incr`. Its repository row is the bytes that backup added
  (`du -sb` before and after).
- client CPU and peak RSS are GNU time's for the command (and its children: pg_dump, psql,
  pgBackRest's local processes). Server CPU is the CPU the PostgreSQL server's processes used
  during the command (backends, parallel workers, checkpointer, archiver and its archive-push
  runs): for pgBackRest's and drkit-physical's restores, that of the restored server from its
  start.
EOF
    echo
    if [ ${#PG_NOTES[@]} -gt 0 ]; then
        echo "The updates:"
        local x
        for x in "${PG_NOTES[@]}"; do
            echo "- $x"
        done
        echo
    fi
}
