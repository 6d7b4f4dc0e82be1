#!/bin/sh
# The layer rule of DESIGN §3, checked rather than remembered: each folder of src/ may
# include only from the folders below it, nothing below cli/ writes to stdout, and every .c
# file includes util/banned.h. Exit 1 with the offending lines.
set -eu
cd "$(dirname "$0")/../src"
status=0

# folder -> folders it may include from (besides itself)
allowed() {
    case $1 in
    cli) echo "ops source engine repo storage chunk crypto util" ;;
    ops) echo "source engine repo storage chunk crypto util" ;;
    source) echo "engine repo storage chunk crypto util" ;;
    engine) echo "repo storage chunk crypto util" ;;
    repo) echo "storage chunk crypto util" ;;
    storage) echo "util" ;;
    chunk | crypto) echo "util" ;;
    util) echo "" ;;
    esac
}

for dir in cli ops source engine repo storage chunk crypto util; do
    [ -d "$dir" ] || continue
    ok="$dir $(allowed "$dir")"
    for f in $(find "$dir" -name '*.[ch]'); do
        grep -o '#include "[a-z_]*/' "$f" | sed 's/#include "//; s/\///' | while read -r inc; do
            case " $ok " in
            *" $inc "*) ;;
            *) echo "layer: $f includes from $inc/ (allowed: $ok)"; echo x >>/tmp/layer-check.$$ ;;
            esac
        done
        case $dir in
        cli) ;;
        *)
            if grep -nE '\b(printf|puts|putchar)\(|\bstdout\b' "$f" | grep -v '^\s*/\*' >/tmp/layer-out.$$; then
                sed "s|^|stdout: $f:|" /tmp/layer-out.$$
                echo x >>/tmp/layer-check.$$
            fi
            ;;
        esac
        case $f in
        *.c)
            if ! grep -q 'banned.h"' "$f"; then
                echo "banned: $f does not include util/banned.h"
                echo x >>/tmp/layer-check.$$
            fi
            ;;
        esac
    done
done
[ -s /tmp/layer-check.$$ ] && status=1
rm -f /tmp/layer-check.$$ /tmp/layer-out.$$
[ $status -eq 0 ] && echo "layer-check: ok"
exit $status
