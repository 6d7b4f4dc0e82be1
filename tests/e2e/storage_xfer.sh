#!/usr/bin/env bash
# storage_xfer.sh: the whole repository life cycle on an SFTP server (a private sshd, key-only)
# and on an FTP server (vsftpd, password login), both on 127.0.0.1 (tests/lib/xfer.sh), through
# the real binary.
#
# Asserts, for sftp:// (identity-file, known-hosts) and ftp:// (login-password-file) alike:
#   - init, backup create of a small tricky tree (mktree.sh, pack-size = 1MiB so that there are
#     several packs in several data/ directories), backup list, restore identical (treecmp),
#     backup test, backup check --read-data
#   - an independent client (the sftp command / the curl command) lists exactly the objects and
#     sizes that are on the server's disk, and nothing but dot-free names
#   - a second backup (changed, added, removed files), prune --keep-last 1, check --read-data,
#     the kept snapshot restores identically; the client and the disk agree again; no
#     temporary upload (.tmp-*) is left behind
# Bad input:
#   - FTP with a wrong login password: exit 1, "login refused", nothing written (backup create,
#     and init of a new repository)
#   - SFTP without known-hosts: exit 2 with the hint "known-hosts = FILE"; with an empty
#     known_hosts file, and with one holding another key for the server: exit 1, a message
#     about the host key, nothing written
#   - an unreachable port (nothing listens), retry-time = 3s: exit 1 within a few seconds of
#     the retry time, a message naming the connection; for both protocols
# FTPS (ftps://: explicit TLS, vsftpd with a self-signed certificate given as ca-file): init,
# backup create, restore identical, check --read-data; without the ca-file the certificate is
# refused (exit 1, a message about the certificate); ftps:// against the plain FTP server is
# refused (no TLS) rather than sending the password in clear
TESTS=${DRKIT_TESTS:-$(dirname "$0")/..}
# shellcheck source=SCRIPTDIR/../lib/common.sh
. "$TESTS/lib/common.sh"
# shellcheck source=SCRIPTDIR/../lib/xfer.sh
. "$TESTS/lib/xfer.sh"
set -e -o pipefail
require_drkit
need_cmd jq curl sftp find openssl
xfer_require_ftp
xfer_require_sftp
export TZ=UTC

t_start=$(date +%s)
sftp_start
ftp_start
ftps_start
echo "SFTP server: 127.0.0.1:$SFTP_PORT (root $SFTP_ROOT); FTP server: 127.0.0.1:$FTP_PORT (root $FTP_ROOT); FTPS server: 127.0.0.1:$FTPS_PORT"

printf '%s\n' "$FTP_PASS" >"$T/ftp.pass"
printf 'not-the-password\n' >"$T/wrong.pass"
: >"$T/empty_known_hosts"
xfer_wrong_known_hosts "$T/wrong_known_hosts"
down=$(free_port)

cat >"$DRKIT_CONFIG" <<EOF
[repository "sftp"]
    url = sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT$SFTP_ROOT/repo
    identity-file = $SFTP_KEY
    known-hosts = $SFTP_KNOWN_HOSTS
    retry-time = 5s
    pack-size = 1MiB
[repository "ftp"]
    url = ftp://$FTP_USER@127.0.0.1:$FTP_PORT/repo
    login-password-file = $T/ftp.pass
    retry-time = 5s
    pack-size = 1MiB
[repository "ftps"]
    url = ftps://$FTP_USER@127.0.0.1:$FTPS_PORT/repo
    login-password-file = $T/ftp.pass
    ca-file = $FTPS_CA
    retry-time = 5s
[repository "ftps-noca"]
    url = ftps://$FTP_USER@127.0.0.1:$FTPS_PORT/repo
    login-password-file = $T/ftp.pass
    retry-time = 5s
[repository "ftps-plain"]
    url = ftps://$FTP_USER@127.0.0.1:$FTP_PORT/repo
    login-password-file = $T/ftp.pass
    retry-time = 5s
[repository "ftp-wrongpass"]
    url = ftp://$FTP_USER@127.0.0.1:$FTP_PORT/repo
    login-password-file = $T/wrong.pass
    retry-time = 5s
[repository "ftp-wrongpass-new"]
    url = ftp://$FTP_USER@127.0.0.1:$FTP_PORT/fresh
    login-password-file = $T/wrong.pass
    retry-time = 5s
[repository "sftp-noknown"]
    url = sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT$SFTP_ROOT/repo
    identity-file = $SFTP_KEY
[repository "sftp-emptyknown"]
    url = sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT$SFTP_ROOT/repo
    identity-file = $SFTP_KEY
    known-hosts = $T/empty_known_hosts
    retry-time = 5s
[repository "sftp-wrongkey"]
    url = sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT$SFTP_ROOT/fresh
    identity-file = $SFTP_KEY
    known-hosts = $T/wrong_known_hosts
    retry-time = 5s
[repository "ftp-down"]
    url = ftp://$FTP_USER@127.0.0.1:$down/repo
    login-password-file = $T/ftp.pass
    retry-time = 3s
[repository "sftp-down"]
    url = sftp://$SFTP_USER@127.0.0.1:$down$SFTP_ROOT/repo
    identity-file = $SFTP_KEY
    known-hosts = $SFTP_KNOWN_HOSTS
    retry-time = 3s
EOF

SRC=$T/src
bash "$TESTS/lib/mktree.sh" "$SRC" --big-mib 3 --small-files 150 >"$T/mktree.out"
cat "$T/mktree.out"
cp -a "$SRC" "$T/orig"

# disk_objects ROOT: "<size> <path below ROOT>" of every file on the server's disk, sorted
disk_objects() {
    (cd "$1" && find . -type f -printf '%s %P\n') | LC_ALL=C sort
}

# client_objects PROTO: the same list as an independent client sees it over the network
client_objects() {
    local d
    if [ "$1" = sftp ]; then
        (cd "$SFTP_ROOT/repo" && find . -type d -printf '%P\n') | while read -r d; do
            echo "ls -ln \"$SFTP_ROOT/repo${d:+/$d}\""
        done >"$T/sftp.batch"
        sftp -q -b "$T/sftp.batch" -i "$SFTP_KEY" -P "$SFTP_PORT" -o BatchMode=yes \
            -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SFTP_KNOWN_HOSTS" \
            "$SFTP_USER@127.0.0.1" >"$T/client.raw" 2>"$T/client.err" || {
            cat "$T/client.err" >&2
            fail "sftp (the client) failed"
        }
        awk -v root="$SFTP_ROOT/repo/" '/^-/ { p = $NF; sub("^" root, "", p); print $5, p }' \
            "$T/client.raw" | LC_ALL=C sort
    else
        # one curl command for all directories (one login): each listing is followed by a
        # "=DIR= <url>" line (--write-out)
        (cd "$FTP_ROOT/repo" && find . -type d -printf '%P\n') | while read -r d; do
            printf 'url = "ftp://127.0.0.1:%s/repo/%s"\n' "$FTP_PORT" "${d:+$d/}"
        done >"$T/curl.conf"
        curl -sS --user "$FTP_USER:$FTP_PASS" -K "$T/curl.conf" --write-out '=DIR= %{url_effective}\n' \
            >"$T/client.dir" 2>"$T/client.err" || {
            cat "$T/client.err" >&2
            fail "curl (the client) cannot list the repository"
        }
        awk -v base="ftp://127.0.0.1:$FTP_PORT/repo/" '
            BEGIN { n = 0 }
            { sub(/\r$/, "") }
            /^=DIR= / { d = $2; sub("^" base, "", d); for (i = 0; i < n; i++) print sizes[i], d names[i]; n = 0; next }
            /^-/ { sizes[n] = $5; names[n] = $NF; n++ }' "$T/client.dir" >"$T/client.raw"
        LC_ALL=C sort "$T/client.raw"
    fi
}

# objects_agree PROTO ROOT: the client's listing is the server's disk, object for object
objects_agree() {
    client_objects "$1" | tr -d '\r' >"$T/client.list"
    disk_objects "$2" >"$T/disk.list"
    if ! cmp -s "$T/client.list" "$T/disk.list"; then
        diff "$T/client.list" "$T/disk.list" | head -20 >&2
        fail "$1: the client's listing differs from the server's disk"
    fi
    [ -s "$T/client.list" ] || fail "$1: no objects at all"
    if grep -q '\(^[0-9]* \|/\)\.' "$T/disk.list"; then
        fail "$1: dot files left on the server: $(grep '\(^[0-9]* \|/\)\.' "$T/disk.list")"
    fi
}

# --- the life cycle, once per protocol -----------------------------------------------------------
cycle() {
    local P=$1 ROOT=$2 N1 N2 t0
    rm -rf "$SRC"
    cp -a "$T/orig" "$SRC"

    t0=$(date +%s%N)
    run_drkit 0 --storage="$P" init --kdf-ops 1 --kdf-mem 1MiB
    assert_contains "$T/out" "$P://"
    [ -f "$ROOT/repo/config" ] || fail "$P: no config on the server after init"
    run_drkit 0 --storage="$P" backup create --json "$SRC"
    N1=$(jq_field "$T/out" .name)
    run_drkit 0 --storage="$P" backup list --json
    assert_eq "$(jq_field "$T/out" '[.[].name] | join(" ")')" "$N1" "$P: backup list"
    run_drkit 0 --storage="$P" backup restore "$N1" --target "$T/r1"
    tree_equal "$SRC" "$T/r1$SRC"
    rm -rf "$T/r1"
    run_drkit 0 --storage="$P" backup test latest
    run_drkit 0 --storage="$P" backup check --read-data
    ok "$P: init, backup create, list, restore identical, test, check --read-data ($N1, $((($(date +%s%N) - t0) / 1000000)) ms)"

    objects_agree "$P" "$ROOT/repo"
    [ "$(grep -c ' data/' "$T/disk.list")" -ge 2 ] || fail "$P: expected several packs"
    ok "$P: the client lists $(wc -l <"$T/disk.list") objects with the sizes on the server's disk"

    t0=$(date +%s%N)
    echo "changed text" >"$SRC/text/new.txt"
    head -c 1500000 /dev/urandom >"$SRC/files/new-1500k.bin"
    rm -f "$SRC/files/random-4194304"
    rm -rf "$SRC/small/g1"
    sleep 1 # distinct snapshot names (per second)
    run_drkit 0 --storage="$P" backup create --json "$SRC"
    N2=$(jq_field "$T/out" .name)
    [ "$N2" != "$N1" ] || fail "$P: the second backup has the first one's name"
    run_drkit 0 --storage="$P" backup prune --keep-last 1
    run_drkit 0 --storage="$P" backup list --json
    assert_eq "$(jq_field "$T/out" '[.[].name] | join(" ")')" "$N2" "$P: snapshots after prune"
    run_drkit 0 --storage="$P" backup check --read-data
    run_drkit 0 --storage="$P" backup restore "$N2" --target "$T/r2"
    tree_equal "$SRC" "$T/r2$SRC"
    rm -rf "$T/r2"
    objects_agree "$P" "$ROOT/repo"
    ok "$P: second backup, prune --keep-last 1, check --read-data, restore identical ($N2, $((($(date +%s%N) - t0) / 1000000)) ms)"
}

cycle sftp "$SFTP_ROOT"
cycle ftp "$FTP_ROOT"

# --- FTPS: the same backend with TLS; a short cycle ------------------------------------------------
t0=$(date +%s%N)
run_drkit 0 --storage=ftps init --kdf-ops 1 --kdf-mem 1MiB
run_drkit 0 --storage=ftps backup create --json "$SRC"
run_drkit 0 --storage=ftps backup restore latest --target "$T/r3"
tree_equal "$SRC" "$T/r3$SRC"
rm -rf "$T/r3"
run_drkit 0 --storage=ftps backup check --read-data
[ -f "$FTPS_ROOT/repo/config" ] || fail "ftps: no config on the server"
ok "ftps: init, backup create, restore identical, check --read-data ($((($(date +%s%N) - t0) / 1000000)) ms)"

# --- bad input ------------------------------------------------------------------------------------
mkdir -p "$T/small"
echo small >"$T/small/f"

# expect_fail WHAT RC REGEX MAXSECS CMD...: CMD exits RC within MAXSECS with stderr matching
# REGEX (case-insensitive); else a soft failure naming what was seen
expect_fail() {
    local what=$1 want=$2 re=$3 max=$4 rc t0 took
    shift 4
    t0=$(date +%s%N)
    rc=$(rc_of "$@")
    took=$((($(date +%s%N) - t0) / 1000000))
    sed 's/^/    | /' "$T/err"
    if [ "$rc" != "$want" ]; then
        soft_fail "$what: exit $rc, expected $want"
    elif ! grep -Eqi -- "$re" "$T/err"; then
        soft_fail "$what: the message does not match /$re/"
    elif [ "$took" -gt $((max * 1000)) ]; then
        soft_fail "$what: took ${took} ms (at most ${max} s expected)"
    else
        ok "$what: exit $rc in ${took} ms"
    fi
}

disk_objects "$FTP_ROOT" >"$T/ftp.before"
find "$FTP_ROOT" -printf '%y %P\n' | LC_ALL=C sort >"$T/ftp.tree.before"
expect_fail "ftp: backup create with a wrong password" 1 'login refused' 20 \
    "$DRKIT" --storage=ftp-wrongpass backup create "$T/small"
expect_fail "ftp: init with a wrong password" 1 'login refused' 20 \
    "$DRKIT" --storage=ftp-wrongpass-new init --kdf-ops 1 --kdf-mem 1MiB
disk_objects "$FTP_ROOT" >"$T/ftp.after"
find "$FTP_ROOT" -printf '%y %P\n' | LC_ALL=C sort >"$T/ftp.tree.after"
if cmp -s "$T/ftp.before" "$T/ftp.after" && cmp -s "$T/ftp.tree.before" "$T/ftp.tree.after"; then
    ok "ftp: nothing written with a wrong password"
else
    diff "$T/ftp.tree.before" "$T/ftp.tree.after" >&2 || true
    soft_fail "ftp: the server's files changed after logins with a wrong password"
fi

find "$SFTP_ROOT" -printf '%y %s %P\n' | LC_ALL=C sort >"$T/sftp.tree.before"
expect_fail "sftp: no known-hosts" 2 'known-hosts = FILE' 10 \
    "$DRKIT" --storage=sftp-noknown backup list
expect_fail "sftp: empty known_hosts" 1 'host key.*127\.0\.0\.1.*not in known-hosts' 10 \
    "$DRKIT" --storage=sftp-emptyknown backup create "$T/small"
expect_fail "sftp: another host key in known_hosts" 1 'host key.*does not match' 10 \
    "$DRKIT" --storage=sftp-wrongkey init --kdf-ops 1 --kdf-mem 1MiB
find "$SFTP_ROOT" -printf '%y %s %P\n' | LC_ALL=C sort >"$T/sftp.tree.after"
if cmp -s "$T/sftp.tree.before" "$T/sftp.tree.after"; then
    ok "sftp: nothing written without a verified host key"
else
    diff "$T/sftp.tree.before" "$T/sftp.tree.after" >&2 || true
    soft_fail "sftp: the server's files changed after refused host keys"
fi

expect_fail "ftps: a certificate not in ca-file" 1 'certificate' 10 \
    "$DRKIT" --storage=ftps-noca backup list
expect_fail "ftps: a server without TLS" 1 'TLS' 10 "$DRKIT" --storage=ftps-plain backup list

# retry-time = 3s: giving up takes about that long (plus a backoff step), not minutes
expect_fail "ftp: backup list against an unreachable port" 1 \
    "127\.0\.0\.1.*$down.*(connect|refused)" 8 "$DRKIT" --storage=ftp-down backup list
expect_fail "sftp: backup create against an unreachable port" 1 \
    "127\.0\.0\.1.*$down.*(connect|refused)" 8 "$DRKIT" --storage=sftp-down backup create "$T/small"

for P in sftp ftp; do
    run_drkit 0 --storage="$P" backup check
done
ok "both repositories are intact after all of it"
echo "storage_xfer.sh: $(($(date +%s) - t_start)) s"
finish_soft_fails
