#!/bin/sh
# install-deps.sh - the Debian 12 packages libclnn builds, tests and benchmarks
# with. Installs only what is missing; uses sudo when not run as root.
set -eu
PACKAGES="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-c-headers ocl-icd-libopencl1
pocl-opencl-icd libclblast-dev libcjson-dev check zlib1g-dev dataset-fashion-mnist clinfo oclgrind clang libclang-rt-14-dev
python3-torchvision python3-pytest openmpi-bin libopenmpi-dev"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
# apt's and dpkg's progress and debconf's notes go to a log, shown only when
# a step fails (env: sudo would drop DEBIAN_FRONTEND from the environment).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() {
  "$@" > "$log" 2>&1 || { status=$?; cat "$log"; echo "install-deps: '$*' failed ($status)"; exit "$status"; }
}
quietly $SUDO apt-get update -qq
quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
echo "installed:$missing"
