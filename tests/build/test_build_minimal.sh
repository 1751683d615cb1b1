#!/bin/sh
# A build with every optional package off, as a user without liburing-dev, libcurl,
# libnetcdf-dev, libzstd-dev, libck-dev, MPI and libyaml-dev gets it: everything compiles with -Werror,
# the unit, CLI and converter tests pass, and the missing features report
# themselves unsupported (exit 69, a message naming the missing package).
# usage: test_build_minimal.sh SOURCE_DIR BUILD_DIR
set -e
SRC=$1
B=$2
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Release -DPIO_BUILD_BENCH=OFF \
    -DPIO_WITH_URING=OFF -DPIO_WITH_CURL=OFF -DPIO_WITH_NETCDF=OFF -DPIO_WITH_CK=OFF -DPIO_WITH_ZSTD=OFF \
    -DPIO_WITH_MPI=OFF -DPIO_WITH_YAML=OFF \
    >"$B.cmake.log" 2>&1 ||
    { cat "$B.cmake.log"; exit 1; }
grep -q 'io_uring engine: not built' "$B.cmake.log" || { echo "FAIL: liburing still used"; exit 1; }
grep -q 'remote files: not built' "$B.cmake.log" || { echo "FAIL: libcurl still used"; exit 1; }
grep -q 'AMBER NetCDF: not built' "$B.cmake.log" || { echo "FAIL: libnetcdf still used"; exit 1; }
grep -q 'HOLO compression: not built' "$B.cmake.log" || { echo "FAIL: libzstd still used"; exit 1; }
grep -q 'MPI: not built' "$B.cmake.log" || { echo "FAIL: MPI still used"; exit 1; }
grep -q 'prismio run: no libyaml' "$B.cmake.log" || { echo "FAIL: libyaml still used"; exit 1; }
cmake --build "$B" -j2 >"$B.build.log" 2>&1 || { tail -n 40 "$B.build.log"; exit 1; }
# nothing of the missing packages is linked
if ldd "$B/libprismio.so" | grep -Eq 'liburing|libcurl|libnetcdf|libzstd|libmpi'; then
    echo "FAIL: libprismio.so links an optional package:"; ldd "$B/libprismio.so"; exit 1
fi
if ldd "$B/prismio" | grep -q libyaml; then
    echo "FAIL: prismio links libyaml:"; ldd "$B/prismio"; exit 1
fi
P=$B/prismio
T=$B/check
rm -rf "$T" && mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
# NetCDF: refused with a clear message and EX_UNAVAILABLE
"$P" gen "$T/a.holo" --frames 3 --atoms 5 >/dev/null 2>&1 || fail "gen"
rc=0; "$P" convert "$T/a.holo" "$T/a.ncdf" 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "convert to .ncdf: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'this build has no NetCDF (libnetcdf-dev)' "$T/err" || fail "ncdf message: $(cat "$T/err")"
[ ! -e "$T/a.ncdf" ] || fail "an .ncdf output was left behind"
"$P" formats | grep -q '^ncdf .*(unavailable: this build has no NetCDF (libnetcdf-dev))' ||
    fail "formats does not say NetCDF is unavailable: $("$P" formats)"
# compression: refused, naming zstd (writing, and opening a compressed file)
rc=0; "$P" convert "$T/a.holo" "$T/c.holo" --compress lossy 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "convert --compress: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'zstd' "$T/err" || fail "compress message: $(cat "$T/err")"
rc=0; "$P" info "$SRC/tests/data/sample_v2_0_lossy.holo" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "info of a compressed file: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'no zstd' "$T/err" || fail "open message: $(cat "$T/err")"
# a parallel run (as mpirun starts each rank): refused, naming MPI; nothing written
rc=0; OMPI_COMM_WORLD_SIZE=2 "$P" convert "$T/a.holo" "$T/m.holo" 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "convert under mpirun: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'built without it (install libopenmpi-dev' "$T/err" || fail "MPI message: $(cat "$T/err")"
[ ! -e "$T/m.holo" ] || fail "a parallel convert without MPI left an output"
# a job: refused, naming libyaml-dev; nothing written
printf 'inputs: {md: a.holo}\nsteps: {c: {run: verify, from: md}}\n' >"$T/job.yaml"
rc=0; "$P" run "$T/job.yaml" 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "run without libyaml: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'no YAML parser (install libyaml-dev' "$T/err" || fail "run message: $(cat "$T/err")"
[ ! -e "$T/job.yaml.state" ] || fail "run without libyaml left a state file"
# a URL: refused, naming libcurl (nothing is contacted)
rc=0; "$P" info http://127.0.0.1:9/a.holo >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 69 ] || fail "info of a URL: exit $rc, wanted 69: $(cat "$T/err")"
grep -q 'built without libcurl' "$T/err" || fail "URL message: $(cat "$T/err")"
# io_uring asked for: read through pread, and said so
"$P" verify "$T/a.holo" --engine uring >"$T/out" 2>"$T/err" || fail "verify --engine uring: $(cat "$T/err")"
grep -q ', pread)' "$T/out" || fail "verify did not fall back to pread: $(cat "$T/out")"
grep -q 'io_uring: built without liburing' "$T/err" || fail "verify does not say io_uring is missing: $(cat "$T/err")"
# the suite's own tests in this tree (the build-variant and install tests
# are the main tree's business)
cd "$B" && ctest -j2 -L 'unit|cli|convert|fuzz' -E 'build_|install|python' --output-on-failure \
    >"$B.ctest.log" 2>&1 || { tail -n 60 "$B.ctest.log"; exit 1; }
grep -E 'tests passed|tests failed' "$B.ctest.log"
