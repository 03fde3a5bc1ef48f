#!/usr/bin/env bash
# cmake --install yields the public headers, both libraries, eeclient.pc and the CMake
# package, and a program builds against the install with pkg-config and find_package.
set -euo pipefail
build=$1
here=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib* | head -1)
for f in include/ee/status.h include/ee/json.h "$(basename "$libdir")/libeeclient.a" \
         "$(basename "$libdir")/libeeclient.so" "$(basename "$libdir")/pkgconfig/eeclient.pc" \
         "$(basename "$libdir")/cmake/eeclient/eeclientConfig.cmake" \
         include/ee/pb-c/google/earthengine/v1/earthengine.pb-c.h; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
echo "ok: layout"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$prefix/app_pc" "$here/install_app.c" $(pkg-config --cflags --libs eeclient)
LD_LIBRARY_PATH="$libdir" "$prefix/app_pc" | grep -q "eeclient ok" || { echo "FAIL: pkg-config app"; exit 1; }
echo "ok: pkg-config --cflags --libs eeclient builds and runs a program"

# The static archive, with its dependencies linked as shared libraries (Debian ships no
# static libcurl dependencies such as liblber, so --static would not link).
# shellcheck disable=SC2046
cc -std=c11 -o "$prefix/app_static" "$here/install_app.c" $(pkg-config --cflags eeclient) \
  "$libdir/libeeclient.a" $(pkg-config --libs libprotobuf-c libcurl grpc) -lpthread -lm
"$prefix/app_static" | grep -q "eeclient ok" || { echo "FAIL: static app"; exit 1; }
echo "ok: static link"

mkdir -p "$prefix/cm"
cat >"$prefix/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(app C)
find_package(eeclient REQUIRED)
add_executable(app $here/install_app.c)
target_link_libraries(app eeclient::eeclient)
CM
cmake -S "$prefix/cm" -B "$prefix/cm/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cm/build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$prefix/cm/build/app" | grep -q "eeclient ok" || { echo "FAIL: find_package app"; exit 1; }
echo "ok: find_package(eeclient)"

# README's library example, as written there, against the install.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$prefix/readme_example" "$here/readme_example.c" $(pkg-config --cflags --libs eeclient)
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/readme_example")
echo "$out" | head -1 | grep -qx 'POST /v1/projects/my-proj/image:export' || { echo "FAIL: README example: $out"; exit 1; }
echo "$out" | grep -q '"maxPixels":"1000000"' || { echo "FAIL: README example body: $out"; exit 1; }
echo "ok: README library example"

# README's client example compiles against the install as the README says (it runs
# against ee-emulator in client.readme_export_*; here it must only build and link).
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$prefix/readme_export" "$here/../client/readme_export.c" $(pkg-config --cflags --libs eeclient)
echo "ok: README client example builds against the install"
