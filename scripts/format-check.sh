#!/bin/sh
# Are the C sources formatted by .clang-format (clang-format 14)? Lists the files that are
# not; exit 1 if any. `scripts/format-check.sh --fix` reformats them in place.
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null 2>&1 || { echo "format-check: clang-format not installed"; exit 77; }
bad=0
for f in $(git ls-files 'src/*.[ch]' 'tests/*.c' 'fuzz/*.c' 'bench/*.c' 2>/dev/null ||
           find src tests fuzz bench -name '*.[ch]'); do
    if [ "${1:-}" = "--fix" ]; then
        clang-format -i "$f"
    elif ! clang-format "$f" | cmp -s "$f" -; then
        echo "not formatted: $f (scripts/format-check.sh --fix)"
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "format-check: ok"
exit $bad
