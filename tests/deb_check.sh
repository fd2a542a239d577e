#!/bin/sh
# deb_check.sh [BUILD_DIR [SOURCE_DIR]]: make the Debian packages from a built
# BUILD_DIR (`cpack -G DEB`, cmake/packaging.cmake) into BUILD_DIR/deb and check
# what each holds and depends on. With CLNN_DEB_INSTALL=1, as root, where
# apt-get exists (CI: .ci/run), also install them, build README's quick-start
# and tests/consumer against the system paths (pkg-config, find_package), run
# them, and purge the packages again.
set -eu
build=$(cd "${1:-build}" && pwd)
src=$(cd "${2:-.}" && pwd)
out=$build/deb
fail() { echo "deb_check: $*" >&2; exit 1; }

echo "== cpack -G DEB"
rm -rf "$out"
(cd "$build" && cpack -G DEB -B "$out" > "$build/cpack.log" 2>&1) || { cat "$build/cpack.log" >&2; fail "cpack failed"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
arch=$(dpkg --print-architecture)
lib=$out/libclnn0_${version}_$arch.deb
dev=$out/libclnn-dev_${version}_$arch.deb
tools=$out/clnn-tools_${version}_$arch.deb
for deb in "$lib" "$dev" "$tools"; do
  [ -f "$deb" ] || { ls "$out" >&2; fail "no $deb"; }
done
[ "$(ls "$out"/*.deb | wc -l)" -eq 3 ] || { ls "$out" >&2; fail "expected exactly three packages"; }

# has DEB PATH: the package's file list has PATH (as dpkg-deb -c prints it, ./usr/...)
has() { dpkg-deb -c "$1" | awk '{ print $6 }' | grep -qx "$2" || fail "$(basename "$1") lacks $2"; }
lacks() { ! dpkg-deb -c "$1" | awk '{ print $6 }' | grep -q "$2" || fail "$(basename "$1") has $2"; }
# depends DEB REGEX: the package's Depends field matches REGEX
depends() {
  field=$(dpkg-deb -f "$1" Depends)
  echo "$field" | grep -Eq "$2" || fail "$(basename "$1") Depends '$field' lacks $2"
}

echo "== contents and dependencies"
for deb in "$lib" "$dev" "$tools"; do
  echo "$(dpkg-deb -f "$deb" Package): Depends: $(dpkg-deb -f "$deb" Depends)"
done
has "$lib" ./usr/lib/libclnn.so.0
has "$lib" "./usr/lib/libclnn.so.$version"
lacks "$lib" 'usr/lib/libclnn\.so$'
lacks "$lib" usr/include
lacks "$lib" usr/bin
depends "$lib" '(^|, )libclblast1( |,|$)'
depends "$lib" '(^|, )ocl-icd-libopencl1( |,|$)'
depends "$lib" '(^|, )libc6( |,|$)'
dpkg-deb -I "$lib" shlibs | grep -q '^libclnn 0 libclnn0' || fail "libclnn0 has no shlibs entry for libclnn.so.0"

has "$dev" ./usr/include/clnn.h
has "$dev" ./usr/lib/pkgconfig/clnn.pc
has "$dev" ./usr/lib/libclnn.so
has "$dev" ./usr/lib/libclnn.a
has "$dev" ./usr/lib/cmake/clnn/clnnConfig.cmake
has "$dev" ./usr/lib/cmake/clnn/clnnTargets.cmake
lacks "$dev" 'libclnn\.so\.'
depends "$dev" "(^|, )libclnn0 \(= $version\)"
depends "$dev" '(^|, )libclblast-dev( |,|$)'
depends "$dev" '(^|, )ocl-icd-opencl-dev'

for tool in clnn-info clnn-tune clnn-bench clnn-train clnn-net; do
  # clnn-train is built only where zlib is found
  [ "$tool" = clnn-train ] && [ ! -x "$build/examples/clnn-train" ] && continue
  has "$tools" "./usr/bin/$tool"
done
lacks "$tools" usr/lib
lacks "$tools" usr/include
depends "$tools" '(^|, )libclblast1( |,|$)'
depends "$tools" '(^|, )ocl-icd-libopencl1( |,|$)'
depends "$tools" '(^|, )libcjson1( |,|$)' # clnn-train and clnn-net read safetensors headers with cJSON
echo "three packages with the expected files and dependencies in $out"

if [ "${CLNN_DEB_INSTALL:-0}" != 1 ] || [ "$(id -u)" -ne 0 ] || ! command -v apt-get > /dev/null; then
  echo "not installing them (that needs CLNN_DEB_INSTALL=1, root and apt-get)"
  exit 0
fi

echo "== apt-get install the packages"
work=$(mktemp -d /tmp/clnn-deb-XXXXXX)
# purge, not just remove: libclnn0's postrm (ldconfig) would otherwise keep
# it listed in dpkg's state "rc" (removed, config remaining).
remove() {
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq libclnn0 libclnn-dev clnn-tools > "$work/remove.log" 2>&1 ||
    { cat "$work/remove.log" >&2; echo "deb_check: apt-get purge failed" >&2; }
  rm -rf "$work"
}
trap remove EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$lib" "$dev" "$tools" \
  > "$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "apt-get install failed"; }

echo "== README's quick-start through pkg-config, from the system paths"
# Nothing from a custom prefix: the system's pkg-config path and library path only.
unset PKG_CONFIG_PATH LD_LIBRARY_PATH CMAKE_PREFIX_PATH
cc -o "$work/quickstart" "$src/examples/quickstart.c" $(pkg-config --cflags --libs clnn) -lm
ldd "$work/quickstart" | grep -Eq '=> (/usr)?/lib/libclnn\.so\.0 ' || { ldd "$work/quickstart" >&2; fail "quickstart does not load the packaged libclnn.so.0"; }
status=0
"$work/quickstart" || status=$?
[ "$status" -eq 77 ] && echo "no OpenCL device: the quick-start was built but not run"
[ "$status" -eq 0 ] || [ "$status" -eq 77 ] || fail "the quick-start failed ($status)"

echo "== tests/consumer through find_package(clnn)"
cmake -S "$src/tests/consumer" -B "$work/consumer" > "$work/consumer.log" 2>&1 &&
  cmake --build "$work/consumer" >> "$work/consumer.log" 2>&1 || { cat "$work/consumer.log" >&2; fail "find_package(clnn) build failed"; }
if [ "$status" -eq 0 ]; then
  "$work/consumer/consumer_shared"
  "$work/consumer/consumer_static"
fi

echo "== the installed tools"
/usr/bin/clnn-info > "$work/info.txt" || [ "$status" -eq 77 ] || fail "/usr/bin/clnn-info failed"
/usr/bin/clnn-bench --help > /dev/null 2>&1 || fail "/usr/bin/clnn-bench --help failed"

remove
trap - EXIT
for p in libclnn0 libclnn-dev clnn-tools; do
  ! dpkg-query -W "$p" > /dev/null 2>&1 || fail "$p is still known to dpkg"
done
[ ! -e /usr/include/clnn.h ] || fail "/usr/include/clnn.h is still there"
echo "the packages install, build and run a program from the system paths, and remove again"
