#!/bin/sh
# Converters on real files (GROMACS, MDAnalysis) in tests/data:
# - every XTC, read into HOLO and written back, is byte-identical to the
#   file GROMACS wrote;
# - every input converted to HOLO holds exactly the coordinates MDAnalysis
#   reads from the original (XTC: bit-identical; text formats: within the
#   float rounding of the text);
# - files prism-io writes are read back by MDAnalysis (XTC also checked by
#   `gmx check`) with equal values;
# - selections, --top, truncated and damaged inputs.
# usage: test_formats.sh PRISMIO DATA_DIR CHECK_SCRIPT
. "$(dirname "$0")/../cli/harness.sh"
P=$1
D=$2
CHECK=$3
PY=/usr/bin/python3
have_mda=0
if [ -x "$PY" ] && "$PY" -c 'import MDAnalysis' 2>/dev/null; then have_mda=1; fi
mda() { # HOLO ORIGINAL TOP TOL
    [ $have_mda = 1 ] || return 0
    PYTHONWARNINGS=ignore "$PY" "$CHECK" "$P" "$@" >"$T/mda" 2>&1 || bad "MDAnalysis comparison: $(cat "$T/mda")"
    grep -v -i warning "$T/mda" | grep -v "import xdrlib"
}

# XTC: byte-identical round trips, and MDAnalysis's values exactly
for x in peptide solvated; do
    "$P" convert "$D/$x.xtc" "$T/$x.holo" --quiet || bad "$x.xtc to HOLO"
    "$P" verify "$T/$x.holo" >/dev/null || bad "$x.holo verifies"
    "$P" convert "$T/$x.holo" "$T/$x.xtc" --quiet || bad "$x.holo to XTC"
    cmp -s "$D/$x.xtc" "$T/$x.xtc" && echo "$x.xtc: re-encoded byte-identical to GROMACS's file" \
        || bad "$x.xtc re-encoded differs from GROMACS's file"
    mda "$T/$x.holo" "$D/$x.xtc" - 0
done

# TRR (positions, velocities, forces, box, lambda): MDAnalysis's values,
# and written back byte-identical to MDAnalysis's file; gmx check counts it
"$P" convert "$D/water.trr" "$T/wt.holo" --quiet || bad "trr to HOLO"
mda "$T/wt.holo" "$D/water.trr" "$D/water.gro" 0
"$P" info "$T/wt.holo" | grep -q 'fields: *positions velocities forces box lambda' || bad "TRR fields: $("$P" info "$T/wt.holo" | grep fields)"
"$P" convert "$T/wt.holo" "$T/wt.trr" --quiet || bad "HOLO to trr"
cmp -s "$D/water.trr" "$T/wt.trr" && echo "water.trr: re-written byte-identical to MDAnalysis's file" \
    || bad "water.trr re-written differs"
if command -v gmx >/dev/null 2>&1; then
    gmx -quiet check -f "$T/wt.trr" >"$T/gmx" 2>&1 || bad "gmx check rejects our TRR"
    grep -Eq 'Forces +20' "$T/gmx" || bad "gmx check: 20 frames with forces: $(grep -i forces "$T/gmx")"
fi

# DCD (CHARMM, unit cell): MDAnalysis's values; our DCD read back by MDAnalysis
"$P" convert "$D/peptide.dcd" "$T/pd.holo" --quiet || bad "dcd to HOLO"
mda "$T/pd.holo" "$D/peptide.dcd" "$D/peptide.gro" 0
"$P" convert "$T/pd.holo" "$T/pd.dcd" --quiet || bad "HOLO to dcd"
mda "$T/pd.holo" "$T/pd.dcd" "$D/peptide.gro" 0
head -c 20000 "$D/peptide.dcd" >"$T/cut.dcd"
[ "$(code "$P" convert "$T/cut.dcd" "$T/cutd.holo")" = 0 ] || bad "a truncated DCD converts"
grep -q "warning: .*cut.dcd: frame 2 at offset 0x[0-9a-f]* is truncated; skipped" "$T/err" || bad "DCD truncation warning: $(cat "$T/err")"

# AMBER NetCDF (libnetcdf): MDAnalysis's values, and our files read back by it
if "$P" convert "$D/peptide.ncdf" "$T/pn.holo" --quiet 2>"$T/err"; then
    mda "$T/pn.holo" "$D/peptide.ncdf" "$D/peptide.gro" 0
    "$P" convert "$T/pn.holo" "$T/pn.ncdf" --quiet || bad "HOLO to ncdf"
    mda "$T/pn.holo" "$T/pn.ncdf" "$D/peptide.gro" 0
    "$P" convert "$T/wt.holo" "$T/wt.ncdf" --quiet || bad "HOLO with v and f to ncdf"
    mda "$T/wt.holo" "$T/wt.ncdf" "$D/water.gro" 0.00001
    printf 'CDF\001 but nothing else' >"$T/bad.ncdf"
    [ "$(code "$P" convert "$T/bad.ncdf" "$T/bn.holo")" = 65 ] || bad "a broken NetCDF exits 65: $(cat "$T/err")"
    grep -q "bad.ncdf: not a NetCDF file" "$T/err" || bad "broken NetCDF message: $(cat "$T/err")"
else
    grep -q "this build has no NetCDF" "$T/err" && echo "skipped: NetCDF (this build has no libnetcdf)" \
        || bad "ncdf to HOLO: $(cat "$T/err")"
fi

# the serial decoder gives the same file as the parallel one
"$P" convert "$D/peptide.xtc" "$T/p1.holo" --threads 1 --quiet && "$P" convert "$T/p1.holo" "$T/p1.xtc" --quiet
cmp -s "$D/peptide.xtc" "$T/p1.xtc" || bad "XTC through one decoder thread differs"

# text formats into HOLO: MDAnalysis's values (PDB, XYZ: Angstrom text -> nm float)
"$P" convert "$D/peptide.gro" "$T/pg.holo" --quiet || bad "gro to HOLO"
mda "$T/pg.holo" "$D/peptide.gro" - 0
"$P" convert "$D/peptide_models.pdb" "$T/pm.holo" --quiet || bad "multi-model pdb to HOLO"
mda "$T/pm.holo" "$D/peptide_models.pdb" - 0.00001
"$P" convert "$D/peptide.xyz" "$T/px.holo" --quiet || bad "xyz to HOLO"
mda "$T/px.holo" "$D/peptide.xyz" - 0.00001
"$P" info "$T/pm.holo" | grep -q 'topology: *711 atoms, 42 residues, 2 chains' || bad "PDB topology: $("$P" info "$T/pm.holo" | grep topology)"

# GRO back out: the atom lines are GROMACS's own, character for character
"$P" convert "$T/pg.holo" "$T/pg.gro" --quiet || bad "HOLO to gro"
tail -n +3 "$D/peptide.gro" | head -n 711 >"$T/a"
tail -n +3 "$T/pg.gro" | head -n 711 >"$T/b"
cmp -s "$T/a" "$T/b" || bad "GRO atom lines differ: $(diff "$T/a" "$T/b" | head -3)"
tail -n 1 "$T/pg.gro" | grep -q '8.00957   8.00957   8.00957' || bad "GRO box line"

# --top: an XTC with the PDB's topology, then selections by name and chain
"$P" convert "$D/peptide.xtc" "$T/sel.holo" --top "$D/peptide.pdb" --atoms 'chain B and name CA' \
    --frames 10:60:10 --quiet || bad "--top with a selection"
"$P" info "$T/sel.holo" | grep -q '^atoms: *22$' || bad "chain B has 22 CA atoms: $("$P" info "$T/sel.holo" | grep atoms)"
"$P" info "$T/sel.holo" | grep -q '^frames: *5$' || bad "frames 10:60:10"
[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.holo" --top "$D/water.gro")" = 64 ] || bad "a topology of the wrong size"
grep -q "water.gro has 2652 atoms, the trajectory 711" "$T/err" || bad "wrong-size topology message: $(cat "$T/err")"

# prism-io's own XTC, PDB, GRO, XYZ from a synthetic trajectory: read by
# MDAnalysis (and gmx check) with the values we wrote
"$P" gen "$T/syn.holo" --atoms 999 --frames 12 --fields x,v --seed 5 >/dev/null
for f in xtc trr dcd pdb gro xyz; do
    "$P" convert "$T/syn.holo" "$T/syn.$f" --quiet || bad "HOLO to $f"
    [ -e "$T/syn.$f.part" ] && bad "$f: temporary file left behind"
done
# XTC keeps 0.001 nm (0.005 A after rounding); PDB and XYZ 0.001 A / 0.00001 A in text
mda "$T/syn.holo" "$T/syn.xtc" - 0.0051
mda "$T/syn.holo" "$T/syn.trr" "$T/syn.pdb" 0
mda "$T/syn.holo" "$T/syn.dcd" "$T/syn.pdb" 0
"$P" convert "$T/syn.holo" "$T/syn1.holo" --frames 0 --quiet
mda "$T/syn1.holo" "$T/syn.gro" - 0.0051
mda "$T/syn.holo" "$T/syn.pdb" - 0.00051
mda "$T/syn.holo" "$T/syn.xyz" - 0.00002
if command -v gmx >/dev/null 2>&1; then
    gmx -quiet check -f "$T/syn.xtc" >"$T/gmx" 2>&1 || bad "gmx check rejects our XTC: $(tail -3 "$T/gmx")"
    grep -Eq 'Coords +12' "$T/gmx" || bad "gmx check does not count 12 frames: $(grep -i coords "$T/gmx")"
fi

# damage: a truncated last frame is skipped with a warning; a corrupt one is an error
head -c 500000 "$D/peptide.xtc" >"$T/cut.xtc"
[ "$(code "$P" convert "$T/cut.xtc" "$T/cut.holo")" = 0 ] || bad "a truncated XTC converts: $(cat "$T/err")"
grep -Eq 'warning: .*cut.xtc: frame 180 at offset 0x[0-9a-f]+ is truncated' "$T/err" || bad "truncation warning: $(cat "$T/err")"
"$P" info "$T/cut.holo" | grep -q '^frames: *180$' || bad "180 complete frames kept"
cp "$D/peptide.xtc" "$T/bad.xtc"
printf '\000\377\377\377' | dd of="$T/bad.xtc" bs=1 seek=88 conv=notrunc 2>/dev/null
[ "$(code "$P" convert "$T/bad.xtc" "$T/bad.holo")" = 65 ] || bad "a lying byte count must fail"
grep -q 'bad.xtc: frame 0 at offset 0x0: its byte count runs past the end of the file, yet frames follow' "$T/err" || bad "lying count message: $(cat "$T/err")"
cp "$D/peptide.xtc" "$T/bad2.xtc"
printf '\000\000\000\001' | dd of="$T/bad2.xtc" bs=1 seek=88 conv=notrunc 2>/dev/null
[ "$(code "$P" convert "$T/bad2.xtc" "$T/bad2.holo")" = 65 ] || bad "a too-small byte count must fail: $(cat "$T/err")"
grep -Eq 'bad2.xtc: frame [01] at offset 0x[0-9a-f]+: ' "$T/err" || bad "small count message: $(cat "$T/err")"
# values that are not numbers: a denormal precision (1 / precision is
# infinite) and raw NaN coordinates of a frame of at most 9 atoms
cp "$D/peptide.xtc" "$T/prec.xtc"
printf '\000\000\000\001' | dd of="$T/prec.xtc" bs=1 seek=56 conv=notrunc 2>/dev/null
[ "$(code "$P" convert "$T/prec.xtc" "$T/prec.holo")" = 65 ] || bad "an infinite 1/precision must fail: $(cat "$T/err")"
grep -Eq 'prec.xtc: frame 0 at offset 0x0: atom [0-9]+ is not a number' "$T/err" || bad "precision message: $(cat "$T/err")"
"$P" gen "$T/tiny.holo" --atoms 5 --frames 3 --seed 2 >/dev/null && "$P" convert "$T/tiny.holo" "$T/tiny.xtc" --quiet
printf '\177\300\000\000' | dd of="$T/tiny.xtc" bs=1 seek=$(( $(wc -c <"$T/tiny.xtc") / 3 + 68 )) conv=notrunc 2>/dev/null
[ "$(code "$P" convert "$T/tiny.xtc" "$T/tiny2.holo")" = 65 ] || bad "a NaN coordinate must fail: $(cat "$T/err")"
grep -Eq 'tiny.xtc: frame 1 at offset 0x[0-9a-f]+: atom 1 is not a number' "$T/err" || bad "NaN message: $(cat "$T/err")"
printf 'not a trajectory' >"$T/junk.xtc"
[ "$(code "$P" convert "$T/junk.xtc" "$T/j.holo")" = 65 ] || bad "junk input exits 65: $(cat "$T/err")"
[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.traj")" = 64 ] || bad "unknown output format"
[ -e "$T/x.traj" ] || [ -e "$T/x.traj.part" ] && bad "nothing created for a refused output"
exit $fail
