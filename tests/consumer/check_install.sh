#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR: install libclnn from BUILD_DIR into a
# temporary prefix, then build and run tests/consumer/main.c against it with
# pkg-config and with CMake's find_package(clnn), README's quick-start with
# pkg-config, and check that the installed tools run from the prefix without
# LD_LIBRARY_PATH (RPATH $ORIGIN/../lib). Exit 77 (skip) without a device.
set -eu
build=$1
src=$2
work=$(mktemp -d /tmp/clnn-consumer-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1 | xargs dirname)

echo "== pkg-config"
PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} # keep where CLBlast's own .pc is
export PKG_CONFIG_PATH
cc -std=c11 -Wall -Wextra -o "$work/consumer_pc" "$src/tests/consumer/main.c" $(pkg-config --cflags --libs clnn)
status=0
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$work/consumer_pc" || status=$?
[ "$status" -eq 77 ] && exit 77
[ "$status" -eq 0 ]

echo "== README's quick-start (examples/quickstart.c) through pkg-config"
cc -std=c11 -Wall -Wextra -o "$work/quickstart" "$src/examples/quickstart.c" $(pkg-config --cflags --libs clnn) -lm
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$work/quickstart"

echo "== installed tools carry the RPATH \$ORIGIN/../lib and run from the prefix"
for tool in "$prefix"/bin/*; do
  readelf -d "$tool" | grep -q 'R.*PATH.*\$ORIGIN/\.\./lib' || { echo "$tool: no \$ORIGIN/../lib RPATH" >&2; exit 1; }
done
env -u LD_LIBRARY_PATH "$prefix/bin/clnn-info" > "$work/info.txt"

echo "== find_package(clnn)"
cmake -S "$src/tests/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" > "$work/configure.log"
cmake --build "$work/cmake-build" > "$work/build.log"
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$work/cmake-build/consumer_shared"
"$work/cmake-build/consumer_static"
echo "installed package works with pkg-config and find_package"
