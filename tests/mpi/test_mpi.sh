#!/bin/sh
# MPI (issue 27): `mpirun -np 4 --oversubscribe` runs
#  - test_mpi (the collective writer and the parallel reader, byte for byte
#    against the serial writer),
#  - a rank killed mid-append: `prismio recover` keeps the two collective
#    commits (and verify passes),
#  - `prismio convert` in parallel: the serial conversion's bytes (--salt),
#    from XTC, TRR, DCD and HOLO inputs, with frame and atom selections, more
#    frames than ranks and fewer; errors (a bad selection, an output that
#    exists, a compressed output) on every rank, nothing left behind.
# usage: test_mpi.sh PRISMIO TEST_MPI DATA_DIR WORK_DIR
# Skipped (77) without mpirun. As root, Open MPI wants
# OMPI_ALLOW_RUN_AS_ROOT and its confirmation, set here.
set -u
P=$1
TM=$2
D=$3
W=$4
command -v mpirun >/dev/null 2>&1 || { echo "mpirun not installed (openmpi-bin): skipped"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# LeakSanitizer reports Open MPI's own allocations (in components it loads
# and unloads): leaks are left to the serial tests of the same code.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
RUN="mpirun -np 4 --oversubscribe"
rm -rf "$W" && mkdir -p "$W"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# the writer and reader
$RUN "$TM" "$W" >"$W/tm.out" 2>&1 || bad "test_mpi: $(tail -n 30 "$W/tm.out")"
grep -q 'test_mpi: 4 ranks, passed' "$W/tm.out" || bad "test_mpi did not pass: $(tail -n 30 "$W/tm.out")"

# a rank dies in the third append: the file keeps the two commits
rc=0
$RUN "$TM" "$W" die >"$W/die.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || bad "a dead rank: mpirun exit 0"
grep -q '^committed 40$' "$W/die.out" || bad "die: no commit of 40 frames: $(cat "$W/die.out")"
"$P" recover "$W/die.holo" >"$W/rec.out" 2>&1 || bad "recover after a dead rank: $(cat "$W/rec.out")"
"$P" verify "$W/die.holo" >"$W/ver.out" 2>&1 || bad "verify after recover: $(cat "$W/ver.out")"
n=$("$P" info "$W/die.holo" --json | sed -n 's/.*"frames":\([0-9]*\).*/\1/p')
[ "${n:-0}" -ge 40 ] || bad "recovered $n frames, wanted at least the 40 committed"

# parallel convert: the serial bytes
S=0123456789abcdef0123456789abcdef
"$P" gen "$W/g.holo" --atoms 40 --frames 2500 --fields v,f >/dev/null || bad "gen"
same() { # IN NAME ARGS...: serial and 4 ranks give the same file
    in=$1 name=$2
    shift 2
    "$P" convert "$in" "$W/$name.s.holo" --salt $S -q "$@" 2>"$W/err" || { bad "serial $name: $(cat "$W/err")"; return; }
    $RUN "$P" convert "$in" "$W/$name.p.holo" --salt $S -q "$@" >"$W/out" 2>&1 || { bad "parallel $name: $(cat "$W/out")"; return; }
    cmp -s "$W/$name.s.holo" "$W/$name.p.holo" || bad "$name: the parallel conversion differs from the serial one"
    "$P" verify "$W/$name.p.holo" >/dev/null 2>&1 || bad "$name: verify"
}
same "$D/peptide.xtc" xtc
same "$D/peptide.xtc" xtc_frames --frames 3::7
same "$D/peptide.xtc" xtc_list --frames 9,2,200,4-6
same "$D/peptide.xtc" xtc_atoms --top "$D/peptide.gro" --atoms 'name CA' --drop box
same "$D/solvated.xtc" fewer_frames_than_ranks --frames 1:3
same "$D/water.trr" trr
same "$D/peptide.dcd" dcd
same "$W/g.holo" holo_full_index
same "$D/peptide.xtc" empty_selection --frames 5:5 --top "$D/peptide.gro"
# the reverse: HOLO (and TRR) to XTC and TRR, the serial bytes
back() { # IN NAME.EXT ARGS...
    in=$1 name=$2
    shift 2
    "$P" convert "$in" "$W/s.$name" -q --overwrite "$@" 2>"$W/err" || { bad "serial $name: $(cat "$W/err")"; return; }
    $RUN "$P" convert "$in" "$W/p.$name" -q --overwrite "$@" >"$W/out" 2>&1 || { bad "parallel $name: $(cat "$W/out")"; return; }
    cmp -s "$W/s.$name" "$W/p.$name" || bad "$name: the parallel conversion differs from the serial one"
    ls "$W"/p."$name".* >/dev/null 2>&1 && bad "$name: files left beside the output: $(ls "$W"/p."$name".*)"
}
back "$W/xtc.p.holo" back.xtc
back "$W/g.holo" back_frames.xtc --frames 7::3 --precision 100
back "$W/trr.p.holo" back.trr
back "$D/water.trr" back_trr.xtc
rc=0
$RUN "$P" convert "$W/g.holo" "$W/p.back.xtc" -q >"$W/out" 2>&1 || rc=$?
[ "$rc" != 0 ] || bad "an existing .xtc OUT without --overwrite: exit 0"
cmp -s "$W/s.back.xtc" "$W/p.back.xtc" || bad "a refused run changed the existing .xtc"
grep -q 'exists' "$W/out" || bad "existing .xtc message: $(cat "$W/out")"

# an XTC needs one atom count: two ranks whose blocks differ (frames 0 and
# 5 have 7 atoms, 1 and 6 have 8) fail as the serial conversion does, and
# leave nothing behind
rc=0
"$P" convert "$W/slices.holo" "$W/mixed.s.xtc" --frames 0,5,1,6 >"$W/out" 2>&1 || rc=$?
prc=0
mpirun -np 2 --oversubscribe "$P" convert "$W/slices.holo" "$W/mixed.xtc" --frames 0,5,1,6 \
    >"$W/out" 2>&1 || prc=$?
[ "$prc" = 64 ] && [ "$rc" = 64 ] || bad "atom counts across ranks: exit $prc (serial $rc): $(cat "$W/out")"
grep -q 'XTC needs one count' "$W/out" || bad "atom counts across ranks: message: $(cat "$W/out")"
ls "$W"/mixed.xtc* >/dev/null 2>&1 && bad "a failed .xtc run left files: $(ls "$W"/mixed.xtc*)"

# the summary, from rank 0 only; the XTC's frames found by the ranks
$RUN "$P" convert "$D/peptide.xtc" "$W/sum.holo" >"$W/out" 2>&1 || bad "convert with a summary"
[ "$(grep -c 'frames by 4 ranks, XTC frames found in parallel' "$W/out")" = 1 ] ||
    bad "summary: $(cat "$W/out")"

# XTC frames found in parallel, or, where a share cannot be scanned with
# certainty, the serial scan: more ranks than frames (shares with no frame
# start in them), a torn last frame (the serial scan's warning and the
# frames before it), a damaged middle frame (the serial scan's error)
"$P" convert "$D/solvated.xtc" "$W/few.s.holo" --salt $S -q || bad "serial few frames"
mpirun -np 8 --oversubscribe "$P" convert "$D/solvated.xtc" "$W/few.p.holo" --salt $S >"$W/out" 2>&1 ||
    bad "8 ranks on 5 frames: $(cat "$W/out")"
cmp -s "$W/few.s.holo" "$W/few.p.holo" || bad "8 ranks on 5 frames: differs from the serial conversion"
grep -q 'frames by 8 ranks, XTC frames found in parallel' "$W/out" ||
    bad "8 ranks on 5 frames: not found in parallel: $(cat "$W/out")"
"$P" convert "$D/peptide.xtc" "$W/long.xtc" --frames 0:150 -q 2>/dev/null ||
    bad "making a longer XTC"
sz=$(wc -c <"$W/long.xtc")
head -c $((sz - 100)) "$W/long.xtc" >"$W/torn.xtc"
"$P" convert "$W/torn.xtc" "$W/torn.s.holo" --salt $S -q 2>"$W/err.s" || bad "serial torn: $(cat "$W/err.s")"
$RUN "$P" convert "$W/torn.xtc" "$W/torn.p.holo" --salt $S >"$W/out" 2>&1 || bad "parallel torn: $(cat "$W/out")"
cmp -s "$W/torn.s.holo" "$W/torn.p.holo" || bad "torn XTC: the parallel conversion differs"
grep -q 'frames found in parallel' "$W/out" && bad "a torn XTC was not scanned the serial way"
grep -q 'truncated' "$W/out" || bad "torn XTC: no warning: $(cat "$W/out")"
cp "$W/long.xtc" "$W/bad.xtc"
printf 'JUNKJUNKJUNKJUNK' | dd of="$W/bad.xtc" bs=1 seek=$((sz / 2)) conv=notrunc 2>/dev/null
rc=0
"$P" convert "$W/bad.xtc" "$W/bad.s.holo" -q >"$W/out.s" 2>&1 || rc=$?
prc=0
$RUN "$P" convert "$W/bad.xtc" "$W/bad.p.holo" >"$W/out" 2>&1 || prc=$?
[ "$rc" = "$prc" ] || bad "a damaged XTC: exit $prc in parallel, $rc serial: $(cat "$W/out")"

# a frame of another shape on rank 2 (frame 4 has 11 atoms, the others 7
# to 10: a longer record): ranks 0 and 1 keep theirs, rank 3's records
# (written after) are cut, and OUT is the serial conversion of frames 0-3
rc=0
$RUN "$P" convert "$W/slices.holo" "$W/cut.holo" --salt $S --drop v,scalars --frames 0-7 \
    >"$W/out" 2>&1 || rc=$?
[ "$rc" = 64 ] || bad "a frame of another shape: exit $rc: $(cat "$W/out")"
grep -q "rank 2: .*frame 4: its record is" "$W/out" || bad "shape message: $(cat "$W/out")"
grep -q "holds the 4 frames written before the error, committed" "$W/out" ||
    bad "what OUT holds after the error: $(cat "$W/out")"
"$P" convert "$W/slices.holo" "$W/cut.s.holo" --salt $S --drop v,scalars --frames 0-3 -q ||
    bad "serial frames 0-3"
cmp -s "$W/cut.holo" "$W/cut.s.holo" || bad "the cut file is not the serial conversion of frames 0-3"
"$P" verify "$W/cut.holo" >/dev/null 2>&1 || bad "verify of the cut file"

# errors: the same exit on every rank, nothing left behind
rc=0
$RUN "$P" convert "$D/solvated.xtc" "$W/e1.holo" --frames 5,1 >"$W/out" 2>&1 || rc=$?
[ "$rc" = 64 ] || bad "bad selection: exit $rc: $(cat "$W/out")"
grep -q "frame 5 out of range" "$W/out" || bad "bad selection message: $(cat "$W/out")"
[ ! -e "$W/e1.holo" ] || bad "a refused run left its output"
cp "$W/sum.holo" "$W/sum.copy"
rc=0
$RUN "$P" convert "$D/peptide.xtc" "$W/sum.holo" >"$W/out" 2>&1 || rc=$?
[ "$rc" != 0 ] || bad "an existing output: exit 0"
grep -q 'exists' "$W/out" || bad "existing output message: $(cat "$W/out")"
cmp -s "$W/sum.holo" "$W/sum.copy" || bad "an existing output was changed by a refused run"
rc=0
$RUN "$P" convert "$D/peptide.xtc" "$W/e2.holo" --compress lossless >"$W/out" 2>&1 || rc=$?
[ "$rc" = 64 ] || bad "--compress under mpirun: exit $rc: $(cat "$W/out")"
grep -q 'under mpirun (4 ranks)' "$W/out" || bad "--compress message: $(cat "$W/out")"
rc=0
$RUN "$P" convert "$D/peptide.xtc" "$W/e3.dcd" >"$W/out" 2>&1 || rc=$?
[ "$rc" = 64 ] || bad "a .dcd OUT under mpirun: exit $rc: $(cat "$W/out")"

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "mpi: all passed"
