# xfer.sh: throwaway FTP (vsftpd) and SFTP (a second sshd) servers on 127.0.0.1 for drkit's
# end-to-end tests of the sftp://, ftp:// and ftps:// storage backend.
#
# Source it after common.sh:   . "$DRKIT_TESTS/lib/common.sh"; . "$DRKIT_TESTS/lib/xfer.sh"
#
# Recipes and pitfalls: ../shared/notes/test-infra.md sections 3 (vsftpd) and 4 (sshd). Both
# servers need root: vsftpd authenticates local users through PAM, sshd runs beside any system
# one with its own config and host key. Both log in as the local user XFER_USER (default
# drtest), created if missing (useradd -m -s /bin/bash, password XFER_PASS). Each server lives
# in its own /tmp/drkit-ftp.XXXXXX or /tmp/drkit-sftp.XXXXXX directory (mode 755: the session
# runs as the user, who cannot enter root's 0700 $T), removed at exit with the server stopped.
#
# Functions:
#   xfer_require_ftp              skip (exit 77) unless root, vsftpd, ss and useradd are there
#   xfer_require_sftp             skip (exit 77) unless root, /usr/sbin/sshd, ssh-keygen, ss
#   ftp_start                     start vsftpd (passive mode, local user, no TLS) on a free port;
#                                 sets FTP_PORT FTP_USER FTP_PASS FTP_ROOT (the login directory,
#                                 owned by the user; ftp:// paths are relative to it) FTP_DIR
#                                 FTP_PID FTP_LOG
#   ftps_start                    like ftp_start, with explicit TLS required for logins and data
#                                 (AUTH TLS, a self-signed certificate for IP 127.0.0.1); sets
#                                 FTPS_PORT FTPS_CA (the certificate, for ca-file) FTPS_ROOT
#                                 FTPS_DIR FTPS_PID (user and password as for ftp_start); skips
#                                 without openssl
#   sftp_start                    start sshd (key-only, internal-sftp) on a free port; sets
#                                 SFTP_PORT SFTP_USER SFTP_KEY (client private key, no passphrase)
#                                 SFTP_KNOWN_HOSTS ("[127.0.0.1]:PORT ssh-ed25519 ...")
#                                 SFTP_HOSTKEY_SHA256 SFTP_ROOT (absolute, owned by the user)
#                                 SFTP_DIR SFTP_PID SFTP_LOG
#   xfer_stop DIR PID             stop one server and remove its directory (also done at exit)
#   xfer_wrong_known_hosts FILE   write a known_hosts FILE naming the SFTP server with another
#                                 (freshly generated) host key

# shellcheck shell=bash disable=SC2034
if [ -n "${DRKIT_XFER_SOURCED:-}" ]; then
    return 0
fi
DRKIT_XFER_SOURCED=1

XFER_USER=${XFER_USER:-drtest}
XFER_PASS=${XFER_PASS:-drtest-pass}

_xfer_need_root() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (the FTP/SFTP test servers log in as a local user)"
    command -v ss >/dev/null 2>&1 || skip "needs ss (free_port)"
    command -v useradd >/dev/null 2>&1 || skip "needs useradd"
}

xfer_require_ftp() {
    _xfer_need_root
    command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] ||
        skip "needs vsftpd (apt-get install vsftpd)"
}

xfer_require_sftp() {
    _xfer_need_root
    [ -x /usr/sbin/sshd ] || skip "needs /usr/sbin/sshd (apt-get install openssh-server)"
    command -v ssh-keygen >/dev/null 2>&1 || skip "needs ssh-keygen"
}

# The login user: a real password and a shell from /etc/shells for PAM (vsftpd); unlocked for
# sshd with UsePAM no (a locked account is refused even for key logins).
_xfer_user() {
    if ! id "$XFER_USER" >/dev/null 2>&1; then
        useradd -m -s /bin/bash "$XFER_USER" 2>/dev/null || id "$XFER_USER" >/dev/null 2>&1 ||
            fail "cannot create user $XFER_USER"
    fi
    echo "$XFER_USER:$XFER_PASS" | chpasswd || fail "cannot set the password of $XFER_USER"
}

xfer_stop() {
    local dir=$1 pid=$2 i
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    case $dir in
    /tmp/drkit-ftp.* | /tmp/drkit-sftp.*) rm -rf -- "$dir" ;;
    esac
    return 0
}

# _vsftpd_start TLS: start one vsftpd (TLS: yes/no); sets _V_PORT _V_DIR _V_PID
_vsftpd_start() {
    local tls=$1 dir port pasv bin
    xfer_require_ftp
    _xfer_user
    bin=$(command -v vsftpd || echo /usr/sbin/vsftpd)
    dir=$(mktemp -d /tmp/drkit-ftp.XXXXXX) || fail "mktemp"
    chmod 755 "$dir"
    mkdir -p "$dir/empty" "$dir/root"
    chmod 555 "$dir/empty" # secure_chroot_dir: root-owned, not writable
    chown "$XFER_USER": "$dir/root"
    port=$(free_port)
    pasv=$(free_port) # a passive range of 20 ports from here
    cat >"$dir/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=077
local_root=$dir/root
chroot_local_user=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$pasv
pasv_max_port=$((pasv + 19))
port_enable=YES
connect_from_port_20=NO
secure_chroot_dir=$dir/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
xferlog_enable=YES
vsftpd_log_file=$dir/vsftpd.log
xferlog_file=$dir/xfer.log
delay_failed_login=0
utf8_filesystem=YES
EOF
    if [ "$tls" = yes ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
            -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
            >/dev/null 2>&1 || fail "openssl cannot make a certificate"
        cat >>"$dir/vsftpd.conf" <<EOF
ssl_enable=YES
rsa_cert_file=$dir/cert.pem
rsa_private_key_file=$dir/key.pem
force_local_logins_ssl=YES
force_local_data_ssl=YES
EOF
    else
        echo "ssl_enable=NO" >>"$dir/vsftpd.conf"
    fi
    "$bin" "$dir/vsftpd.conf" >"$dir/stderr.log" 2>&1 &
    _V_PID=$!
    track_pid "$_V_PID"
    on_exit "xfer_stop '$dir' '$_V_PID'"
    wait_port "$port" 10
    _V_PORT=$port
    _V_DIR=$dir
}

ftp_start() {
    _vsftpd_start no
    FTP_PORT=$_V_PORT
    FTP_USER=$XFER_USER
    FTP_PASS=$XFER_PASS
    FTP_ROOT=$_V_DIR/root
    FTP_DIR=$_V_DIR
    FTP_PID=$_V_PID
    FTP_LOG=$_V_DIR/vsftpd.log
}

ftps_start() {
    command -v openssl >/dev/null 2>&1 || skip "needs openssl (a certificate for the FTPS server)"
    _vsftpd_start yes
    FTPS_PORT=$_V_PORT
    FTPS_CA=$_V_DIR/cert.pem
    FTPS_ROOT=$_V_DIR/root
    FTPS_DIR=$_V_DIR
    FTPS_PID=$_V_PID
}

sftp_start() {
    local dir port
    xfer_require_sftp
    _xfer_user
    mkdir -p /run/sshd && chmod 755 /run/sshd # privilege separation dir (compiled in)
    dir=$(mktemp -d /tmp/drkit-sftp.XXXXXX) || fail "mktemp"
    chmod 755 "$dir"
    mkdir -p "$dir/root"
    chown "$XFER_USER": "$dir/root"
    ssh-keygen -q -t ed25519 -N '' -C hostkey -f "$dir/hostkey" || fail "ssh-keygen"
    ssh-keygen -q -t ed25519 -N '' -C client -f "$dir/client_key" || fail "ssh-keygen"
    cp "$dir/client_key.pub" "$dir/authorized_keys"
    chmod 644 "$dir/authorized_keys"
    port=$(free_port)
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/hostkey.pub")" >"$dir/known_hosts"
    # StrictModes no: the authorized keys live under /tmp, which StrictModes rejects
    cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
PermitRootLogin no
AllowUsers $XFER_USER
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTTY no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel VERBOSE
EOF
    /usr/sbin/sshd -t -f "$dir/sshd_config" || fail "sshd -t rejects $dir/sshd_config"
    # -D: foreground (we keep the PID), -e: log to stderr; sshd needs its absolute path
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
    SFTP_PID=$!
    track_pid "$SFTP_PID"
    on_exit "xfer_stop '$dir' '$SFTP_PID'"
    wait_port "$port" 10
    SFTP_PORT=$port
    SFTP_USER=$XFER_USER
    SFTP_KEY=$dir/client_key
    SFTP_KNOWN_HOSTS=$dir/known_hosts
    SFTP_HOSTKEY_SHA256=$(ssh-keygen -l -E sha256 -f "$dir/hostkey.pub" | awk '{print $2}' |
        sed 's/^SHA256://')
    SFTP_ROOT=$dir/root
    SFTP_DIR=$dir
    SFTP_LOG=$dir/sshd.log
}

xfer_wrong_known_hosts() {
    local out=$1 k
    k=$(mktemp -u "$T/otherkey.XXXXXX")
    ssh-keygen -q -t ed25519 -N '' -C other -f "$k" || fail "ssh-keygen"
    echo "[127.0.0.1]:$SFTP_PORT $(cut -d' ' -f1,2 "$k.pub")" >"$out"
}
