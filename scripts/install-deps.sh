#!/bin/sh
# Install what drkit needs to build and test on Debian 12 (run as root, or with sudo).
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the peers the benchmarks compare against
set -eu

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi

# Keep apt from starting daemons it installs (no systemd here, and the tests start
# their own servers on free ports).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
fi

PKGS="build-essential cmake pkg-config git
      libsodium-dev libssl-dev libzstd-dev libjansson-dev libpq-dev postgresql-15
      libcurl4-openssl-dev libarchive-dev libcmocka-dev
      vsftpd openssh-server rclone python3
      attr acl jq util-linux procps iproute2 e2fsprogs
      clang clang-format libclang-rt-14-dev"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS restic borgbackup pgbackrest time hyperfine zstd"
fi

$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends $PKGS

# The S3 test server (@20minutes/s3rver, pinned by tests/s3/package-lock.json), for the
# tests/e2e/storage_*.sh tests; they find it in DRKIT_NPM_DIR and skip without it. Only with
# node >= 20 (Debian 12's own nodejs is 18: the tests then skip).
NPM_DIR=${DRKIT_NPM_DIR:-/var/cache/drkit-test/s3rver}
S3_SRC=$(cd "$(dirname "$0")/.." && pwd)/tests/s3
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]; then
    if [ -f "$NPM_DIR/node_modules/@20minutes/s3rver/package.json" ] &&
        cmp -s "$S3_SRC/package-lock.json" "$NPM_DIR/package-lock.json"; then
        echo "install-deps: S3 test server already in $NPM_DIR"
    else
        $SUDO mkdir -p "$NPM_DIR"
        $SUDO cp "$S3_SRC/package.json" "$S3_SRC/package-lock.json" "$NPM_DIR/"
        (cd "$NPM_DIR" && $SUDO npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "install-deps: no node >= 20: the S3 end-to-end tests will be skipped" >&2
fi
