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
      libcmocka-dev
      attr acl jq util-linux procps iproute2 e2fsprogs
      clang clang-format libclang-rt-14-dev"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS restic borgbackup pgbackrest time hyperfine zstd"
fi

$SUDO apt-get update -q
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends $PKGS
