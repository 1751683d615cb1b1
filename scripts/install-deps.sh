#!/bin/sh
# Install the Debian packages prism-io needs to build, test and benchmark.
#
# Idempotent: asks dpkg which packages are missing and installs only those.
# As root it runs apt-get itself; otherwise it prints the exact command to
# run and exits non-zero. PIO_SKIP_DEPS=1 skips it entirely (for packagers
# and machines whose dependencies are managed some other way).
set -eu

[ "${PIO_SKIP_DEPS:-0}" = 1 ] && exit 0

# Build and test toolchain.
PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev"
# Reference BLAKE3 (test vectors, benchmark baseline).
PKGS="$PKGS b3sum"
# Benchmark baselines.
PKGS="$PKGS fio hyperfine"
# /usr/bin/time -v: peak RSS in the pipeline benchmark
PKGS="$PKGS time"
# io_uring engine; AMBER NetCDF; zstd (HOLO compression).
PKGS="$PKGS liburing-dev libnetcdf-dev libzstd-dev"
# Lock-free peer for the ring benchmark.
PKGS="$PKGS libck-dev"
# Independent readers the converter tests compare with (Debian's Python).
PKGS="$PKGS python3-numpy python3-mdanalysis gromacs"
# Compression benchmark peers (prismio bench compress): HDF5 with
# shuffle+gzip, zarr with blosc-zstd.
PKGS="$PKGS python3-h5py python3-zarr"
# Structure datasets (issue 26): ASE (extxyz and ase.db, the round-trip
# tests' reference reader), PyTorch (prismio.torch) and LMDB (the
# benchmark's fairchem-style baseline).
PKGS="$PKGS python3-ase python3-torch python3-lmdb"
# Beyond one machine (issue 27): Dask arrays of HOLO files (prismio.dask),
# and MPI-IO (OpenMPI, mpi4py).
PKGS="$PKGS python3-dask python3-distributed"
PKGS="$PKGS libopenmpi-dev openmpi-bin python3-mpi4py"
# Declarative jobs (issue 28): prismio run reads YAML (and JSON) with libyaml;
# its Dask executor uses python3-distributed (above).
PKGS="$PKGS libyaml-dev"
# The Python package: headers and its test runner.
PKGS="$PKGS python3-dev python3-pytest"
# Remote files (HTTP range and S3 reads): libcurl, any TLS flavour (Debian's
# libnetcdf-dev already pulls in the GnuTLS one, which conflicts with the
# OpenSSL one); nginx serves the remote tests' files on 127.0.0.1.
curl_dev=""
for p in libcurl4-openssl-dev libcurl4-gnutls-dev libcurl4-nss-dev; do
    case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
    *"install ok installed"*) curl_dev=$p ;;
    esac
done
PKGS="$PKGS ${curl_dev:-libcurl4-openssl-dev} nginx"
# The remote tests' and bench remote's baseline downloads (curl), and the
# certificate of their HTTPS server (openssl).
PKGS="$PKGS curl openssl"
# The Arrow tests read files with apache-arrow and flechette (npm, installed
# by the test itself): node and npm from Debian unless some other node is
# already on PATH (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian system (no dpkg-query); install these yourself: $PKGS" >&2
    exit 0
fi

missing=""
for p in $PKGS; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing" >&2
    echo "install-deps: run as root: apt-get update && $cmd" >&2
    exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A stale package list makes apt-get fail to find packages: refresh it once.
apt-get update -qq >&2
# Packages with a service (nginx) must not start it: the tests run their
# own on 127.0.0.1. policy-rc.d says so to invoke-rc.d during the install.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
fi
rc=0
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2 || rc=$?
[ -n "$policy" ] && rm -f "$policy"
exit $rc
