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
    grep -q "bad.ncdf: dim_list: tag 0x206e6f74 is neither ABSENT (0) nor 0xa at offset 0x8" "$T/err" || bad "broken NetCDF message: $(cat "$T/err")"
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

# Hostile inputs (tests/data/hostile/README.md): refused (exit 65) with one
# line naming the file, the field and its offset; no crash, and no large
# allocation: 1 GB of address space where ulimit -v works (not under
# AddressSanitizer, which reserves terabytes), and under it no single
# allocation of more than 1 GB. Unchecked, ncdf_segv.ncdf crashed libnetcdf
# and ncdf_4GB.ncdf made it allocate 4.2 GB; trr_2of20.trr and
# nan_timestep.dcd converted with exit 0.
lim=:
(ulimit -v 1000000 && "$P" convert "$D/peptide.dcd" "$T/lim.holo" --quiet) 2>/dev/null && lim="ulimit -v 1000000"
hostile() { # FILE MESSAGE (a grep -E pattern after "FILE: ")
    rm -f "$T/h.holo"
    c=$( (eval "$lim" && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}max_allocation_size_mb=1024" \
        "$P" convert "$1" "$T/h.holo" >"$T/out" 2>"$T/err"); echo $?)
    [ "$c" = 65 ] || bad "$1: exit $c, not 65: $(tail -n 3 "$T/err")"
    [ "$(wc -l <"$T/err")" = 1 ] || bad "$1: not one line: $(head -n 3 "$T/err")"
    grep -Eq "^prismio convert: $1: $2\$" "$T/err" || bad "$1: message: $(cat "$T/err")"
    [ -e "$T/h.holo" ] && bad "$1: an output was written"
}
poke() { # NAME SOURCE OFFSET BYTES: a copy of SOURCE with BYTES (printf) at OFFSET
    cp "$2" "$T/$1" && printf "$4" | dd of="$T/$1" bs=1 seek=$3 conv=notrunc 2>/dev/null
}
H=$D/hostile
# The four files of issue 20 are samples with 4 bytes set
# (tests/data/hostile/README.md): made here, not stored.
poke ncdf_segv.ncdf "$D/peptide.ncdf" 328 '\200\000\000\000'
poke ncdf_4GB.ncdf "$D/peptide.ncdf" 308 '\377\377\377\377'
poke trr_2of20.trr "$D/water.trr" 191208 '\377\377\377\376'
poke nan_timestep.dcd "$D/peptide.dcd" 44 '\376\377\377\377'
if [ -f "$T/pn.holo" ]; then # this build reads NetCDF
    hostile "$T/ncdf_segv.ncdf" "var_list: count 2147483648 is not a non-negative 32-bit integer at offset 0x148"
    hostile "$T/ncdf_4GB.ncdf" "global attribute 'application': value count 4294967295 is not a non-negative 32-bit integer at offset 0x134"
    # valid NetCDF, shapes our reads did not expect: libnetcdf read past
    # our index array, and wrote 64 floats into one
    hostile "$H/ncdf_time2d.ncdf" "time is not \(frame\)"
    hostile "$H/ncdf_scale64.ncdf" "velocities: scale_factor is not one finite number"
    # a header cut inside, a count that fits the integer but not the file,
    # a vsize and a begin that lie, a dimension id out of range
    head -c 400 "$D/peptide.ncdf" >"$T/hcut.ncdf"
    hostile "$T/hcut.ncdf" "var_list: 7 entries cannot fit in the 68 bytes left at offset 0x148"
    poke count.ncdf "$D/peptide.ncdf" 308 '\000\020\000\000'
    hostile "$T/count.ncdf" "global attribute 'application': 1048576 values of 1 bytes run past the end of the file \(430016 bytes\) at offset 0x134"
    poke vsize.ncdf "$D/peptide.ncdf" 406 '\000\001'
    hostile "$T/vsize.ncdf" "variable 'coordinates': vsize 1 disagrees with its shape and type \(8532 bytes\) at offset 0x194"
    poke begin.ncdf "$D/peptide.ncdf" 456 '\377\377'
    hostile "$T/begin.ncdf" "variable 'spatial': begin 0xffff0318 \+ size 3 past the end of the file \(430016 bytes\) at offset 0x1c4"
    poke dimid.ncdf "$D/peptide.ncdf" 356 '\000\000\000\011'
    hostile "$T/dimid.ncdf" "variable 'coordinates': dimension id 9, of 6 dimensions at offset 0x164"
    # a NetCDF file cut short keeps its whole frames, with a warning (libnetcdf
    # alone read the missing frames as zeros)
    head -c 300000 "$D/peptide.ncdf" >"$T/cut.ncdf"
    [ "$(code "$P" convert "$T/cut.ncdf" "$T/cutn.holo")" = 0 ] || bad "a truncated NetCDF converts: $(cat "$T/err")"
    grep -q "warning: .*cut.ncdf: the header says 50 frames, the file ends inside frame 34 at offset 0x47740; frames 34 to 49 skipped" "$T/err" || bad "NetCDF truncation warning: $(cat "$T/err")"
    "$P" info "$T/cutn.holo" | grep -q '^frames: *34$' || bad "34 whole NetCDF frames kept"
fi
hostile "$T/trr_2of20.trr" "frame 2 at offset 0x2ead0: its block sizes add up to 4295062886 bytes, past the end of the file \(1720656 bytes left\), yet frames follow"
hostile "$T/nan_timestep.dcd" "header at offset 0x2c: timestep \(DELTA\) is not a finite number"
# An XTC frame whose byte count claims 537 MB while the next frame's magic is
# gone too (fault_mutants under make stress): no later header to show the
# corruption, but a count far past every earlier frame's is no torn tail.
poke lying1.xtc "$D/solvated.xtc" 550676 '\040\002\314\145'
poke lying.xtc "$T/lying1.xtc" 734080 '\000\000\000\000'
hostile "$T/lying.xtc" "frame 3 at offset 0x866bc: byte count at offset 0x86714 claims more than the file's bytes, more than 8 times the longest earlier frame \(183536\)"
# a TRR cut inside its last frame, or inside that frame's header, still
# converts: the whole frames, and a warning
head -c 1911000 "$D/water.trr" >"$T/cut.trr"
[ "$(code "$P" convert "$T/cut.trr" "$T/cutr.holo")" = 0 ] || bad "a truncated TRR converts: $(cat "$T/err")"
grep -q "warning: .*cut.trr: frame 19 at offset 0x1bb6b8 is truncated (94752 of 95592 bytes); skipped" "$T/err" || bad "TRR truncation warning: $(cat "$T/err")"
"$P" info "$T/cutr.holo" | grep -q '^frames: *19$' || bad "19 whole TRR frames kept"
head -c 1816300 "$D/water.trr" >"$T/cuth.trr"
[ "$(code "$P" convert "$T/cuth.trr" "$T/cuth.holo")" = 0 ] || bad "a TRR cut in a header converts: $(cat "$T/err")"
grep -q "warning: .*cuth.trr: frame 19 at offset 0x1bb6b8 is truncated; skipped" "$T/err" || bad "TRR header truncation warning: $(cat "$T/err")"
# times and boxes that are not finite numbers: refused, named, with offsets
# (found at open: one line as above; found reading a frame: the stage's
# error, and the HOLO output keeps the frames before it)
refused() { # FILE STAGE MESSAGE
    rm -f "$T/h.holo"
    c=$(code "$P" convert "$1" "$T/h.holo")
    [ "$c" = 65 ] || bad "$1: exit $c, not 65: $(tail -n 3 "$T/err")"
    grep -Eq "^prismio convert: stage 'source $2': $1: $3\$" "$T/err" || bad "$1: message: $(cat "$T/err")"
}
poke t.trr "$D/water.trr" 76 '\177\300\000\000'
hostile "$T/t.trr" "frame 0 at offset 0x0: time at offset 0x4c is not a finite number"
poke l.trr "$D/water.trr" $((95592 * 3 + 80)) '\377\200\000\000'
hostile "$T/l.trr" "frame 3 at offset 0x46038: lambda at offset 0x46088 is not a finite number"
poke b.trr "$D/water.trr" $((95592 + 84 + 16)) '\177\200\000\000'
refused "$T/b.trr" trr "frame 1 at offset 0x17568: the box is not a finite number"
poke t.xtc "$D/peptide.xtc" 12 '\177\300\000\000'
refused "$T/t.xtc" xtc "frame 0 at offset 0x0: time at offset 0xc is not a finite number"
poke b.xtc "$D/peptide.xtc" 32 '\377\300\000\000'
refused "$T/b.xtc" xtc "frame 0 at offset 0x0: box at offset 0x20 is not a finite number"
poke c.dcd "$D/peptide.dcd" 368 '\000\000\000\000\000\000\370\177'
refused "$T/c.dcd" dcd "frame 0 at offset 0x170: unit-cell gamma is not a finite number"
poke g.dcd "$D/peptide.dcd" 368 '\000\000\000\000\000\000\000\000'
refused "$T/g.dcd" dcd "frame 0 at offset 0x168: unit-cell angles 90 90 0 make no box"
{ echo "peptide t= nan step= 0"; tail -n +2 "$D/peptide.gro"; } >"$T/t.gro"
refused "$T/t.gro" gro "frame 0, line 1 at offset 0x0: the time \(t=\) is not a finite number"
{ head -n 713 "$D/peptide.gro"; echo "   inf   8.00957   8.00957"; } >"$T/b.gro"
refused "$T/b.gro" gro "frame 0, line 714 at offset 0x[0-9a-f]+: the box is not a finite number"
# PDB: a model left open by the next one (its atoms were dropped); a
# trailing block short of atoms is a truncated last frame
awk '/^ENDMDL/ && !cut { cut = 1; next } { print }' "$D/peptide_models.pdb" >"$T/open.pdb"
hostile "$T/open.pdb" "frame 0, line [0-9]+ at offset 0x[0-9a-f]+: MODEL inside an unfinished frame \(no ENDMDL before it\)"
# frames separated by END alone (no MODEL records) each count their atoms
{ grep -E '^(ATOM|HETATM)' "$D/peptide.pdb"; echo END; grep -E '^(ATOM|HETATM)' "$D/peptide.pdb"; echo END; } >"$T/ends.pdb"
[ "$(code "$P" convert "$T/ends.pdb" "$T/ends.holo")" = 0 ] || bad "END-separated PDB frames convert: $(cat "$T/err")"
"$P" info "$T/ends.holo" | grep -q '^frames: *2$' || bad "2 END-separated PDB frames"
{ grep -E '^(ATOM|HETATM)' "$D/peptide.pdb"; echo END; grep -E '^(ATOM|HETATM)' "$D/peptide.pdb" | head -n 700; } >"$T/short.pdb"
[ "$(code "$P" convert "$T/short.pdb" "$T/short.holo")" = 0 ] || bad "a PDB with a short last block converts: $(cat "$T/err")"
grep -q "warning: .*short.pdb: frame 1 at offset 0x[0-9a-f]* is truncated; skipped" "$T/err" || bad "short PDB block warning: $(cat "$T/err")"
exit $fail
