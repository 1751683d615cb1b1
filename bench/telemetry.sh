#!/bin/sh
# Telemetry overhead: the read and write benchmarks with telemetry on
# (--stats: every read, write, commit and fsync recorded) and compiled out
# (a second build with -DPIO_NO_TELEMETRY=ON), alternating in the same run,
# best of N each. Target: overhead <= 2%.
# usage: bench/telemetry.sh [BUILD_DIR]   (env TM_RUNS, default 3)
set -eu
B=${1:-build}
N=$B/no-telemetry
OUT=$B/bench-results
mkdir -p "$OUT" bench/data
runs=${TM_RUNS:-3}
cmake -S . -B "$N" -DCMAKE_BUILD_TYPE=Release -DPIO_NO_TELEMETRY=ON -DPIO_BUILD_TESTS=OFF \
    -DPIO_BUILD_BENCH=OFF >/dev/null
cmake --build "$N" -j 2 --target prismio_cli >/dev/null
big=bench/data/read-100katoms-1000frames.holo
many=bench/data/read-1M-frames.holo
[ -f "$big" ] || "$B/prismio" gen "$big" --atoms 100000 --frames 1000 --seed 1 >/dev/null
[ -f "$many" ] || "$B/prismio" gen "$many" --atoms 1 --frames 1000000 --seed 1 >/dev/null
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
best() { awk 'BEGIN { m = 0 } { if ($1 > m) m = $1 } END { print m }'; }
compare() { # NAME FIELD ARGS...
    name=$1 key=$2
    shift 2
    : >"$OUT/tm_on.txt"
    : >"$OUT/tm_off.txt"
    i=0
    while [ $i -lt "$runs" ]; do
        "$B/prismio" bench "$@" --json --stats 2>/dev/null | field "$key" >>"$OUT/tm_on.txt"
        "$N/prismio" bench "$@" --json 2>/dev/null | field "$key" >>"$OUT/tm_off.txt"
        i=$((i + 1))
    done
    on=$(best <"$OUT/tm_on.txt")
    off=$(best <"$OUT/tm_off.txt")
    awk -v n="$name" -v on="$on" -v off="$off" 'BEGIN {
        printf "  %-44s on %8.3f  compiled out %8.3f  overhead %+.1f%%\n", n, on, off, (off - on) / off * 100 }'
    echo "{\"benchmark\":\"$name\",\"on\":$on,\"off\":$off}" >>"$OUT/telemetry.json"
}
: >"$OUT/telemetry.json"
"$B/bench/bench_tm_event" 2>/dev/null || true
echo "== telemetry on (--stats) vs compiled out, best of $runs (GB/s or frames/s)"
compare "read 1000 x 1.2 MB frames, pread (GB/s)" seq_gbps read "$big" --engine pread --repeat 2 --samples 1000
compare "read 1M one-atom frames, pread (frames/s)" seq_frames_per_s read "$many" --engine pread --repeat 1 --samples 1000
compare "write 200 x 1.2 MB frames, pwrite (GB/s)" write_gbps write bench/data/tm-write.holo --atoms 100000 --frames 200 --repeat 1
rm -f bench/data/tm-write.holo
