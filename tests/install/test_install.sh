#!/bin/sh
# Install into a temporary prefix, then build a small program against the
# installed copy twice: with pkg-config, and with CMake's find_package.
# usage: test_install.sh BUILD_DIR EXTRA_CFLAGS
set -eu
B=$1
EXTRA=${2:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$B" --prefix "$T/prefix" >/dev/null
cat >"$T/main.c" <<'C'
#include <prismio.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    uint8_t out[32];
    pio_blake3_hash(out, sizeof(out), "abc", 3);
    if (out[0] != 0x64 || out[31] != 0x85)
        return 1;
    printf("prismio %s ok\n", pio_version());
    return strcmp(pio_version(), PIO_VERSION_STRING) != 0;
}
C
libdir=$(ls -d "$T"/prefix/lib*/pkgconfig | head -n 1)
export PKG_CONFIG_PATH="$libdir"
flags=$(pkg-config --cflags --libs prismio)
# shellcheck disable=SC2086
cc $EXTRA -o "$T/pc" "$T/main.c" $flags
LD_LIBRARY_PATH="$(dirname "$libdir")" "$T/pc"
# the shared library exports pio_* symbols only
nm -D --defined-only "$(dirname "$libdir")/libprismio.so" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
    grep -v '^pio_' | grep -v '^_' && { echo "non-pio symbol exported" >&2; exit 1; }
readelf -d "$(dirname "$libdir")/libprismio.so" | grep -q 'SONAME.*libprismio.so.0.2' ||
    { echo "SONAME missing" >&2; exit 1; }
[ -x "$T/prefix/bin/prismio" ] && "$T/prefix/bin/prismio" --version

mkdir "$T/cm"
cat >"$T/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(prismio 0.2 REQUIRED)
add_executable(consumer ../main.c)
target_link_libraries(consumer PRIVATE prismio::prismio)
CM
cmake -S "$T/cm" -B "$T/cm/b" -DCMAKE_PREFIX_PATH="$T/prefix" -DCMAKE_C_FLAGS="$EXTRA" >/dev/null
cmake --build "$T/cm/b" >/dev/null
"$T/cm/b/consumer"
echo "install: pkg-config and CMake consumers built and ran"
