#!/bin/sh
# Seed corpus for fuzz_holo_reader: small valid files from `prismio gen`
# and the test writer, plus truncated and bit-flipped variants. Run once;
# the files are committed (and grown by fuzzing runs).
# usage: tests/fuzz/make-corpus.sh build/prismio
set -eu
P=$1
D=$(dirname "$0")/corpus/holo
mkdir -p "$D"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$P" gen "$T/a.holo" --atoms 3 --frames 3 --fields x,v,f --seed 1
"$P" gen "$T/b.holo" --atoms 1 --frames 5 --seed 2
"$P" gen "$T/c.holo" --atoms 6 --frames 0 --seed 3
cp "$T/a.holo" "$D/valid_xvf"
cp "$T/b.holo" "$D/valid_x"
cp "$T/c.holo" "$D/valid_empty"
size=$(wc -c <"$T/a.holo")
for cut in 100 128 700 $((size / 2)) $((size - 64)) $((size - 1)); do
    head -c "$cut" "$T/a.holo" >"$D/cut_$cut"
done
# flip one byte at a few offsets (header, meta, frame, index, footer)
for off in 20 200 1000 $((size - 300)) $((size - 40)); do
    cp "$T/a.holo" "$D/flip_$off"
    printf '\377' | dd of="$D/flip_$off" bs=1 seek="$off" conv=notrunc 2>/dev/null
done
ls "$D" | wc -l

# Seed corpus for fuzz_arrow_reader: both layouts (frames with v, f, box and
# scalars; atoms with a topology), an empty file, cuts and flips.
A=$(dirname "$0")/corpus/arrow
mkdir -p "$A"
"$P" convert "$T/a.holo" "$T/f.arrow" --quiet
"$P" convert "$T/a.holo" "$T/at.arrow" --layout atoms --quiet
"$P" convert "$T/c.holo" "$T/e.arrow" --quiet
cp "$T/f.arrow" "$A/valid_frames"
cp "$T/at.arrow" "$A/valid_atoms"
cp "$T/e.arrow" "$A/valid_empty"
size=$(wc -c <"$T/f.arrow")
for cut in 8 64 300 $((size / 2)) $((size - 10)) $((size - 1)); do
    head -c "$cut" "$T/f.arrow" >"$A/cut_$cut"
done
for off in 12 100 400 $((size / 2)) $((size - 200)) $((size - 60)); do
    cp "$T/f.arrow" "$A/flip_$off"
    printf '\377' | dd of="$A/flip_$off" bs=1 seek="$off" conv=notrunc 2>/dev/null
done
ls "$A" | wc -l
