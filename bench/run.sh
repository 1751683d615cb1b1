#!/bin/sh
# make bench: every benchmark, each against a baseline measured in the same
# run; JSON results go to BUILD/bench-results/. Figures depend on the
# machine and its load: compare ratios, not times.
# usage: bench/run.sh [BUILD_DIR]   (env BENCH_FILE_MB, default 1024)
set -eu
B=${1:-build}
P=$B/prismio
OUT=$B/bench-results
mkdir -p "$OUT" bench/data
mb=${BENCH_FILE_MB:-1024}
f=bench/data/random-${mb}M.bin
if [ ! -f "$f" ]; then
    echo "making $f ($mb MiB of random bytes)"
    head -c $((mb * 1048576)) /dev/urandom >"$f"
fi

echo "== BLAKE3 in memory, per tier and size (baseline: portable tier)"
"$B/bench/bench_blake3" | tee "$OUT/blake3_memory.txt"
"$B/bench/bench_blake3" --json 0.1 >"$OUT/blake3_memory.json"

echo "== BLAKE3 of a ${mb} MiB warm file (baseline: b3sum, same run)"
"$P" bench hash "$f"
"$P" bench hash "$f" --json >"$OUT/hash.json"
echo "== HOLO reading (baseline: raw scan of the same file, same run)"
big=bench/data/read-100katoms-1000frames.holo
[ -f "$big" ] || "$P" gen "$big" --atoms 100000 --frames 1000 --seed 1
"$P" bench read "$big"
"$P" bench read "$big" --json >"$OUT/read.json"
many=bench/data/read-1M-frames.holo
[ -f "$many" ] || "$P" gen "$many" --atoms 1 --frames 1000000 --seed 1
"$P" bench read "$many" --repeat 2
"$P" bench read "$many" --repeat 2 --json >"$OUT/read_1M_frames.json"
echo "== HOLO reading through each engine (baselines: read(), fio for cold O_DIRECT)"
for e in pread uring; do
    "$P" bench read "$big" --engine "$e" --repeat 3 --samples 1000 | sed -n '2,4p'
    "$P" bench read "$big" --engine "$e" --repeat 3 --samples 1000 --json >"$OUT/read_$e.json"
done
"$P" bench read "$big" --engine uring --direct --cold --repeat 2 --samples 1000 | sed -n '2,4p'
"$P" bench read "$big" --engine uring --direct --cold --repeat 2 --samples 1000 --json \
    >"$OUT/read_uring_direct_cold.json"
echo "== hardware limits (issue 24's keys; files made in $B/bench-limits, then removed)"
"$P" bench read "$big" --repeat 3 --samples 1000 --limits "$B/bench-limits" --json \
    >"$OUT/read_limits.json"
/usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
for k, v in j.items():
    if k.endswith(("_ratio", "_us_1e6_frames", "_us_1e2_frames", "_mb")):
        print("  %-36s %s" % (k, v))' "$OUT/read_limits.json" 2>/dev/null || cat "$OUT/read_limits.json"
echo "== HOLO writing (baseline: fio, same bytes, end_fsync)"
for e in pread uring; do
    for d in "" --direct; do
        "$P" bench write bench/data/write-test.holo --engine "$e" $d --repeat 2
        "$P" bench write bench/data/write-test.holo --engine "$e" $d --repeat 2 --json \
            >"$OUT/write_$e${d:+_direct}.json"
    done
done
rm -f bench/data/write-test.holo
echo "== XTC decoding and conversion (baselines: MDAnalysis's XTC reader; the decode alone)"
# the real trajectories of tests/data, concatenated so a run lasts; in
# /dev/shm where there is one, so the conversion's durable output does not
# wait on the disk
xd=bench/data
[ -w /dev/shm ] && xd=/dev/shm/prismio-bench && mkdir -p "$xd"
for spec in peptide:50 solvated:20; do
    name=${spec%%:*} times=${spec##*:}
    x=$xd/$name-x$times.xtc
    if [ ! -f "$x" ]; then
        k=0
        while [ $k -lt "$times" ]; do cat "tests/data/$name.xtc"; k=$((k + 1)); done >"$x"
    fi
    "$P" bench convert "$x"
    "$P" bench convert "$x" --json >"$OUT/convert_xtc_$name.json"
done
echo "== lock-free rings (baseline: ck_ring, same run)"
"$P" bench ring
"$P" bench ring --json >"$OUT/ring.json"
echo "== Python: MDAnalysis over HOLO, XTC and DCD readers; plain iteration (same run)"
if [ -f "$B/python/prismio/__init__.py" ]; then
    PYTHONPATH=$B/python /usr/bin/python3 bench/python_bench.py "$P" tests/data/peptide.xtc \
        tests/data/peptide.pdb 3
    PYTHONPATH=$B/python /usr/bin/python3 bench/python_bench.py "$P" tests/data/solvated.xtc - 3
    # the solvated frames x20 (made above): the same 610 KB frames, a file
    # long enough that opening it is not a tenth of a pass
    PYTHONPATH=$B/python /usr/bin/python3 bench/python_bench.py "$P" "$xd/solvated-x20.xtc" - 3
    if [ -f ../shared/data/water.xtc ]; then
        PYTHONPATH=$B/python /usr/bin/python3 bench/python_bench.py "$P" ../shared/data/water.xtc \
            ../shared/data/water.gro 3
    fi
fi
echo "== Arrow export (baselines: memcpy and write() of the same bytes, same run)"
"$P" bench arrow "$big"
"$P" bench arrow "$big" --json >"$OUT/arrow.json"
"$P" bench arrow "$many" --repeat 2
"$P" bench arrow "$many" --repeat 2 --json >"$OUT/arrow_1M_frames.json"
echo "== telemetry overhead (bench/telemetry.sh)"
sh bench/telemetry.sh "$B"
echo "== streaming pipeline (bench/convert.sh; BENCH_CONVERT_GB=0 skips)"
if [ "${BENCH_CONVERT_GB:-20}" != 0 ]; then sh bench/convert.sh "$B"; fi
echo "results in $OUT"
