#!/usr/bin/env bash
# mktree.sh: create a "tricky" file tree for backup/restore round-trip tests.
#
# usage: bash tests/lib/mktree.sh DIR [--big-mib N] [--small-files N] [--no-root-only]
#
# DIR must not exist. The tree holds (top-level folders):
#   files/   random files of 0, 1, 4095, 4096, 4097, 262143, 262144, 1 Mi, 4 Mi, 4 Mi+1 bytes
#   big/     one random file of N MiB (default 210)
#   text/    one compressible ~5 MiB text file (numbered lines)
#   small/   N small files (default 20000, 20..2000 bytes) in g<G>/d<DDD>/f<NNNNN>.txt (210 dirs)
#   empty/   empty dirs: empty/a/b/c, empty/plain, empty/private (0700)
#   links/   symlinks: relative, absolute, dangling, to a dir, to a symlink, target with spaces
#   hard/    hardlink group of 3 (hard/a/one, hard/b/two, hard/c/three), group of 2
#   sparse/  sparse-1g: 1 GiB apparent, 1 MiB of data at 0, 500 MiB and the last MiB
#   names/   spaces, newline, tab, backslash, glob chars, \xff\xfe, caf\xe9, UTF-8, leading dash,
#            a 255-byte name
#   deep/    a chain of 30 directories l01/.../l30 with a file at the bottom
#   modes/   4755, 2755, 0000 (root only), 0600, 0755 files; sticky 1777 dir; read-only dir
#            (0444 as root, 0555 otherwise: a non-root backup could not read inside 0444)
#   owners/  (root) 1234:5678 file, nobody:nogroup file, 4321:4321 dir, 1234 symlink
#   times/   mtimes with nanoseconds, 1970-01-01 00:00:01 UTC, 2035 on files, dirs, a symlink
#   xattr/   user.* text, binary, empty and ~4 KiB values on one file, one on a dir, (root)
#            trusted.* on a symlink and security.* on a file, POSIX ACLs if setfacl exists
#   special/ a FIFO, (root) a char device 1:3 (skipped if mknod fails)
# Every directory gets mtime 2022-04-15 05:20:00.987654321 UTC (set last, deepest first),
# except the times/dir-* ones. Without root, or with --no-root-only, the owner, device,
# trusted.* and security.* parts are skipped. Ends with a one-line summary on stdout.
set -euo pipefail

die() {
    echo "mktree: $*" >&2
    exit 1
}
trap 'echo "mktree: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

dir=""
big_mib=210
small_files=20000
root_parts=1
while [ $# -gt 0 ]; do
    case "$1" in
    --big-mib) big_mib=${2:?--big-mib needs a value}; shift 2 ;;
    --small-files) small_files=${2:?--small-files needs a value}; shift 2 ;;
    --no-root-only) root_parts=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) [ -z "$dir" ] || die "only one DIR"; dir=$1; shift ;;
    esac
done
[ -n "$dir" ] || die "usage: mktree.sh DIR [--big-mib N] [--small-files N] [--no-root-only]"
[[ "$big_mib" =~ ^[0-9]+$ ]] || die "--big-mib: not a number: $big_mib"
[[ "$small_files" =~ ^[0-9]+$ ]] || die "--small-files: not a number: $small_files"
if [ -e "$dir" ] || [ -L "$dir" ]; then
    die "$dir already exists"
fi
for cmd in perl setfattr truncate dd awk; do
    command -v "$cmd" >/dev/null || die "needs $cmd"
done

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
[ "$is_root" -eq 1 ] || root_parts=0

umask 022
mkdir -p -- "$(dirname -- "$dir")"
mkdir -- "$dir"
cd -- "$dir"

# random FILE BYTES: BYTES random bytes, fast (whole MiB blocks with dd, the rest with head)
random() {
    local mib=$(($2 / 1048576)) rest=$(($2 % 1048576))
    : >"$1"
    if [ "$mib" -gt 0 ]; then
        dd if=/dev/urandom of="$1" bs=1M count="$mib" iflag=fullblock status=none
    fi
    if [ "$rest" -gt 0 ]; then
        head -c "$rest" /dev/urandom >>"$1"
    fi
}

# --- regular files at size boundaries, the big file, compressible text ---------------------
mkdir files big text
for size in 0 1 4095 4096 4097 262143 262144 1048576 4194304 4194305; do
    random "files/size-$size" "$size"
done
random "big/random-${big_mib}m" $((big_mib * 1048576))
awk 'BEGIN {
    total = 0
    for (i = 1; total < 5 * 1048576; i++) {
        line = sprintf("line %07d: the quick brown fox jumps over the lazy dog, %d times\n",
                       i, i % 97)
        printf "%s", line
        total += length(line)
    }
}' >text/counter.txt

# --- many small files, written by one perl process --------------------------------------------
mkdir small
perl -e '
    use strict;
    use warnings;
    my ($root, $n) = @ARGV;
    srand(20240517);
    open(my $r, "<", "/dev/urandom") or die "urandom: $!";
    binmode $r;
    read($r, my $pool, 65536) == 65536 or die "short read";
    close $r;
    my @words = qw(alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike
                   november oscar papa quebec romeo sierra tango uniform victor whiskey xray);
    my $text = "";
    $text .= $words[int(rand(@words))] . (rand() < 0.1 ? "\n" : " ") while length($text) < 65536;
    for my $g (0 .. 9) {
        mkdir "$root/g$g" or die "$root/g$g: $!";
        for my $d (0 .. 19) {
            my $p = sprintf("%s/g%d/d%03d", $root, $g, $g * 20 + $d);
            mkdir $p or die "$p: $!";
        }
    }
    for my $i (0 .. $n - 1) {
        my $d = $i % 200;
        my $path = sprintf("%s/g%d/d%03d/f%05d.txt", $root, int($d / 20), $d, $i);
        my $len = 20 + int(rand(1981));
        my $data;
        if ($i % 4 == 0) {
            $data = substr($pool, int(rand(65536 - $len)), $len);
        } else {
            $data = substr("file $i\n" . substr($text, int(rand(length($text) - $len)), $len),
                           0, $len);
        }
        open(my $fh, ">", $path) or die "$path: $!";
        binmode $fh;
        print $fh $data or die "$path: $!";
        close $fh or die "$path: $!";
    }
' small "$small_files"

# --- empty directories ------------------------------------------------------------------------
mkdir -p empty/a/b/c empty/plain empty/private

# --- names ------------------------------------------------------------------------------------
mkdir names
printf 'two spaces\n' >'names/with  two spaces.txt'
printf 'newline\n' >names/$'new\nline'
printf 'tab\n' >names/$'tab\there'
printf 'backslash\n' >'names/back\slash'
printf 'glob\n' >'names/glob*?[x]'
printf 'spaces around\n' >'names/ spaces around '
printf 'ff fe\n' >names/$'\xff\xfe'
printf 'latin1\n' >names/$'caf\xe9'
printf 'utf8\n' >'names/Überweisung €.pdf'
printf 'dash\n' >names/-leading-dash
long=$(printf 'n%.0s' $(seq 251)).txt
[ "${#long}" -eq 255 ] || die "long name is ${#long} bytes"
printf 'long\n' >"names/$long"
mkdir names/$'dir\xff'
printf 'inside a non-UTF-8 dir\n' >names/$'dir\xff'/file

# --- deep chain -------------------------------------------------------------------------------
deep=deep
for i in $(seq -w 1 30); do
    deep="$deep/l$i"
done
mkdir -p "$deep"
printf 'at depth 30\n' >"$deep/leaf.txt"

# --- symlinks ---------------------------------------------------------------------------------
mkdir links
ln -s ../files/size-4096 links/rel
ln -s /etc/hostname links/abs
ln -s ../no/such/target links/dangling
ln -s ../empty/a links/todir
ln -s rel links/chain
ln -s '../names/with  two spaces.txt' 'links/to spaces'

# --- hardlinks --------------------------------------------------------------------------------
mkdir -p hard/a hard/b hard/c
random hard/a/one 10000
ln hard/a/one hard/b/two
ln hard/a/one hard/c/three
random hard/pair-1 3000
ln hard/pair-1 hard/c/pair-2

# --- sparse file ------------------------------------------------------------------------------
mkdir sparse
truncate -s 1G sparse/sparse-1g
for at in 0 500 1023; do
    dd if=/dev/urandom of=sparse/sparse-1g bs=1M count=1 seek="$at" conv=notrunc \
        iflag=fullblock status=none
done

# --- modes ------------------------------------------------------------------------------------
mkdir -p modes/sticky modes/readonly
for m in setuid setgid private exec; do
    printf '%s\n' "$m" >"modes/$m"
done
printf 'inside a read-only dir\n' >modes/readonly/inside.txt
chmod 4755 modes/setuid
chmod 2755 modes/setgid
chmod 0600 modes/private
chmod 0755 modes/exec
if [ "$is_root" -eq 1 ]; then
    printf 'no permissions\n' >modes/zero
    chmod 0000 modes/zero
fi

# --- owners (root) ----------------------------------------------------------------------------
if [ "$root_parts" -eq 1 ]; then
    mkdir -p owners/dir-4321
    printf 'numeric ids\n' >owners/numeric
    printf 'nobody\n' >owners/nobody
    printf 'in a dir of 4321\n' >owners/dir-4321/file
    ln -s numeric owners/link-1234
    chown 1234:5678 owners/numeric
    chown nobody:nogroup owners/nobody
    chown 4321:4321 owners/dir-4321
    chown -h 1234:1234 owners/link-1234
fi

# --- xattrs and ACLs --------------------------------------------------------------------------
mkdir -p xattr/dir
printf 'many attributes\n' >xattr/multi
setfattr -n user.text -v 'hello world' xattr/multi
setfattr -n user.binary -v 0x00ff10fe7f800a0d xattr/multi
setfattr -n user.empty xattr/multi
setfattr -n user.unicode -v 'grüße €' xattr/multi
big_hex=$(head -c 4096 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
if ! setfattr -n user.big -v "0x$big_hex" xattr/multi 2>/dev/null; then
    # ext4 without ea_inode keeps all attributes of a file in one 4 KiB block
    setfattr -n user.big -v "0x${big_hex:0:7800}" xattr/multi
fi
setfattr -n user.dir -v 'on a directory' xattr/dir
ln -s multi xattr/link
if [ "$root_parts" -eq 1 ]; then
    setfattr -h -n trusted.link -v 0x01020304 xattr/link
    printf 'security attribute\n' >xattr/security
    setfattr -n security.drkit -v 'test label' xattr/security
fi
if command -v setfacl >/dev/null; then
    printf 'acl\n' >xattr/acl
    setfacl -m u:1234:r xattr/acl
    mkdir xattr/acl-dir
    setfacl -d -m u:1234:rx xattr/acl-dir
fi

# --- special files ----------------------------------------------------------------------------
mkdir special
mkfifo special/fifo
if [ "$root_parts" -eq 1 ]; then
    mknod special/null-dev c 1 3 2>/dev/null || echo "mktree: mknod failed, no device" >&2
fi

# --- mtimes of files and symlinks -------------------------------------------------------------
mkdir -p times/dir-ns times/dir-1970 times/dir-2035
printf 'ns\n' >times/ns-2021
printf 'epoch\n' >times/epoch-1
printf 'future\n' >times/future-2035
ln -s ns-2021 times/link-ns
touch -d '2021-03-04 05:06:07.123456789 UTC' times/ns-2021
touch -d '1970-01-01 00:00:01 UTC' times/epoch-1
touch -d '2035-06-07 08:09:10.5 UTC' times/future-2035
touch -h -d '2019-12-31 23:59:59.999999999 UTC' times/link-ns
touch -h -d '2020-02-02 02:02:02.020202020 UTC' links/*
touch -d '2021-03-04 05:06:07.123456789 UTC' modes/readonly/inside.txt

# --- directory modes, then directory mtimes deepest first -------------------------------------
chmod 0700 empty/private
chmod 1777 modes/sticky
if [ "$is_root" -eq 1 ]; then
    chmod 0444 modes/readonly
else
    chmod 0555 modes/readonly
fi
find . -depth -type d -exec touch -h -d '2022-04-15 05:20:00.987654321 UTC' {} +
touch -d '2023-05-06 07:08:09.000000001 UTC' times/dir-ns
touch -d '1970-01-01 00:00:01 UTC' times/dir-1970
touch -d '2035-01-02 03:04:05.678901234 UTC' times/dir-2035
touch -d '2035-01-02 03:04:05.678901234 UTC' times

find . -printf '%y %s\n' | awk -v dir="$dir" '
    { n[$1]++; if ($1 == "f") bytes += $2 }
    END {
        printf "mktree: %s: %d files, %d dirs, %d symlinks, %d special, %d bytes (%.1f MiB)\n",
            dir, n["f"], n["d"], n["l"], n["p"] + n["c"] + n["b"] + n["s"], bytes,
            bytes / 1048576
    }'
