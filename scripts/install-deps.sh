#!/bin/sh
# install-deps.sh - the Debian 12 packages libclnn builds, tests and benchmarks
# with. Installs only what is missing; uses sudo when not run as root.
set -eu
PACKAGES="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-c-headers ocl-icd-libopencl1
pocl-opencl-icd libclblast-dev libcjson-dev check zlib1g-dev dataset-fashion-mnist clinfo oclgrind clang libclang-rt-14-dev
python3-torchvision python3-pytest"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
