#!/bin/bash
# pg-start-restored.sh OSUSER DATADIR PGBIN PORT SOCKDIR: start a server on a data directory
# a physical restore just wrote (archiving off, so it does not push the source's WAL again)
# and wait until recovery has ended and it takes read-write sessions. Part of what bench/pg.sh
# times for pgBackRest's and drkit's physical restores.
set -e
osuser=$1 data=$2 bin=$3 port=$4 sock=$5
cd "$(dirname "$data")"
if [ "$(id -u)" = 0 ]; then as=(runuser -u "$osuser" --); else as=(); fi
"${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data.log" -w -t 600 -s \
    -o "-c port=$port -c archive_mode=off" start
for ((i = 0; i < 12000; i++)); do
    [ "$("$bin/psql" -X -A -t -h "$sock" -p "$port" -U postgres -d postgres \
        -c "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && exit 0
    sleep 0.05
done
echo "still in recovery after 600 s" >&2
exit 1
