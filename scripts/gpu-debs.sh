#!/bin/sh
# gpu-debs.sh [DIR] - download (not install) the Debian 12 packages that
# scripts/gpu-check.sh unpacks on a GPU machine with no OpenCL loader, headers,
# CLBlast, Check or pkg-config and no network, into DIR (default .gpu-debs/,
# which .git/info/exclude should list), and copy Fashion-MNIST beside them when
# it is installed here. Run it on a Debian 12 machine with network access.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-.gpu-debs}
mkdir -p "$dir"
(cd "$dir" && apt-get download ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers \
   opencl-clhpp-headers libclblast1 libclblast-dev check libsubunit0 libsubunit-dev \
   pkgconf pkgconf-bin libpkgconf3 pkg-config zlib1g-dev libcjson1 libcjson-dev)
if [ -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p "$dir/fashion-mnist"
  cp /usr/share/datasets/fashion-mnist/*.gz "$dir/fashion-mnist/"
fi
du -sh "$dir"
