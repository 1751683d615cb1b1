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
# HOLO 1.1 (INDEX records and footers)
"$P" gen "$T/a.holo" --atoms 3 --frames 3 --fields x,v,f --seed 1 --format-1
"$P" gen "$T/b.holo" --atoms 1 --frames 5 --seed 2 --format-1
"$P" gen "$T/c.holo" --atoms 6 --frames 0 --seed 3 --format-1
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
# HOLO 2.0: COMMIT records with back links (a commit per frame), a FULL
# INDEX with a chain after it, cuts and flips of both
"$P" gen "$T/d.holo" --atoms 2 --frames 9 --seed 4 --commit-every 1
"$P" gen "$T/e.holo" --atoms 1 --frames 1030 --seed 5 --commit-every 1025
cp "$T/d.holo" "$D/v2_commits"
cp "$T/e.holo" "$D/v2_full"
size=$(wc -c <"$T/d.holo")
for cut in 200 $((size / 2)) $((size - 32)) $((size - 1)); do
    head -c "$cut" "$T/d.holo" >"$D/v2_cut_$cut"
done
for off in 24 300 $((size / 2)) $((size - 200)) $((size - 20)); do
    cp "$T/d.holo" "$D/v2_flip_$off"
    printf '\377' | dd of="$D/v2_flip_$off" bs=1 seek="$off" conv=notrunc 2>/dev/null
done
# HOLO 2.1: BLOCK records (lossy positions, lossless velocities and
# forces, groups of 2 atoms), cuts and flips inside them
"$P" gen "$T/g.holo" --atoms 5 --frames 11 --fields x,v,f --seed 6
"$P" convert "$T/g.holo" "$T/h.holo" --compress lossy --keyframe 4 --group-atoms 2 --quiet
cp "$T/h.holo" "$D/v21_blocks"
size=$(wc -c <"$T/h.holo")
for cut in 900 $((size / 2)) $((size - 200)); do
    head -c "$cut" "$T/h.holo" >"$D/v21_cut_$cut"
done
for off in 600 700 $((size / 2)) $((size / 2 + 150)) $((size - 500)); do
    cp "$T/h.holo" "$D/v21_flip_$off"
    printf '\377' | dd of="$D/v21_flip_$off" bs=1 seek="$off" conv=notrunc 2>/dev/null
done
# HOLO 2.2: small raw frames packed in BLOCK records (velocities and forces,
# blocks of 4 and 3), cuts and flips inside them
"$P" gen "$T/i.holo" --atoms 3 --frames 11 --fields x,v,f --seed 7 --keyframe 4
cp "$T/i.holo" "$D/v22_packed"
size=$(wc -c <"$T/i.holo")
for cut in 900 $((size / 2)) $((size - 200)); do
    head -c "$cut" "$T/i.holo" >"$D/v22_cut_$cut"
done
for off in 600 700 $((size / 2)) $((size / 2 + 150)) $((size - 500)); do
    cp "$T/i.holo" "$D/v22_flip_$off"
    printf '\377' | dd of="$D/v22_flip_$off" bs=1 seek="$off" conv=notrunc 2>/dev/null
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

# Seed corpus for fuzz_select: frame and atom selections, valid and not
# (each file one selection, no newline), and the two crash reproducers
# (tests/fuzz/corpus/select/crash_*: a slice step past INT64_MAX - i, and
# a chain of 'not's deeper than the stack).
S=$(dirname "$0")/corpus/select
mkdir -p "$S"
n=0
seed() { printf '%s' "$2" >"$S/$1"; }
for spec in '0:10' '::-1' '5,3,1-4' '2:8:3,0' '-3:' '1-2,x' '0:100:7' '9' '1000' '::0' \
    '-1::-2' '1:' ':' '::' '0-0' '3-1' '-5' '+2' '1,,2' '0:1000:999' '10:2:-3' \
    '-9223372036854775807::-1' '9223372036854775807' '0-999,500:'; do
    n=$((n + 1))
    seed "frames_$n" "$spec"
done
n=0
for spec in 'all' 'name CA' 'name H* and not resname SOL' 'resid 1-3 or index 15:19' \
    '(name OW or name HW?) and chain B' 'not (element O)' 'index 0 2 4,6' 'name' 'bogus' \
    'resname ALA SOL and (resid 2 or not chain A)' 'not not not all' '((((index 3))))' \
    'element C N or (resid -1:1 and name C*)' 'index 25' 'resid -2--1' 'name [OH]*' \
    'chain A B and element H' '0-22' '0:5 or 7' '((index 1)' 'index 1)' 'and' 'or all' \
    'name CA or' 'resid 1-' 'index 3-1' 'name ?' 'name *\*' 'name ABCDEFGH' 'chain WXYZ' \
    'resname LONG*' 'element Na Cl' 'name [' 'index 0,,1' 'all and not all or all' ''; do
    n=$((n + 1))
    seed "atoms_$n" "$spec"
done
seed atoms_nest64 "$(printf '(%.0s' $(seq 64))all$(printf ')%.0s' $(seq 64))"
seed atoms_nest65 "$(printf '(%.0s' $(seq 65))all$(printf ')%.0s' $(seq 65))"
seed atoms_longword "name $(printf 'A%.0s' $(seq 70))"
seed crash_slice_overflow '5::9223372036854775807'
seed crash_not_chain "$(printf 'not %.0s' $(seq 30000))all"
ls "$S" | wc -l
