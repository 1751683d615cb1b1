#!/bin/sh
# The streaming pipeline on a large synthetic file (issue 5's benchmark):
# prismio convert with a stride and an atom selection, peak RSS measured
# by /usr/bin/time -v, throughput next to read() of the same file in the
# same cache state (prismio bench convert). Figures: ratios, not times.
# usage: bench/convert.sh [BUILD_DIR]   (env BENCH_CONVERT_GB, default 20)
set -eu
B=${1:-build}
P=$B/prismio
OUT=$B/bench-results
mkdir -p "$OUT" bench/data
gb=${BENCH_CONVERT_GB:-20}
# 100000 atoms with positions and velocities: 2.4 MB per frame
frames=$((gb * 1000000000 / 2400512))
f=bench/data/convert-${gb}G.holo
need_kb=$((gb * 1000000 * 13 / 10))
free_kb=$(df -Pk bench/data | awk 'NR == 2 { print $4 }')
if [ ! -f "$f" ] && [ "$free_kb" -lt "$need_kb" ]; then
    echo "skipping: $f needs $((need_kb / 1000000)) GB free, $((free_kb / 1000000)) GB here"
    exit 0
fi
[ -f "$f" ] || "$P" gen "$f" --atoms 100000 --frames "$frames" --fields x,v --seed 7
sel="name OW"
o=bench/data/convert-out.holo
echo "== prismio convert $f --frames ::4 --atoms '$sel' (peak RSS by /usr/bin/time -v)"
rm -f "$o"
/usr/bin/time -v "$P" convert "$f" "$o" --frames ::4 --atoms "$sel" --quiet 2>"$OUT/convert_time.txt"
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$OUT/convert_time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$OUT/convert_time.txt")
echo "  peak RSS ${rss} kB ($((rss / 1024)) MB; target <= 64 MB), wall $wall"
"$P" verify "$o" | tail -1
rm -f "$o"
echo "{\"file\":\"$f\",\"peak_rss_kb\":$rss,\"target_kb\":65536}" >"$OUT/convert_rss.json"
for c in "" --cold; do
    echo "== throughput ${c:-warm} (baseline: read() of the same file, same run)"
    "$P" bench convert "$f" --frames ::4 --atoms "$sel" --repeat 2 $c
    "$P" bench convert "$f" --frames ::4 --atoms "$sel" --repeat 1 $c --json \
        >"$OUT/convert${c:+_cold}.json"
done
echo "== without a stride or selection (a full copy, for scale)"
"$P" bench convert "$f" --repeat 1 --cold
