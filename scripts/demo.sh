#!/bin/sh
# make demo: the project's main job.
# 0. A real GROMACS trajectory into HOLO (with its PDB topology), verified,
#    read back, written back to XTC byte for byte, compressed (smaller than
#    the XTC, still byte for byte back), exported to PDB.
# 1. HOLO: write a trajectory, show it, verify it, read random frames,
#    stream a selection of it through the pipeline, then kill a writer
#    mid-run and recover its file.
# 2. BLAKE3: checksums of the bundled real trajectories with `prismio b3sum`,
#    checked back (and against the reference b3sum when present), and
#    hashing throughput next to b3sum on a larger file built from them.
set -eu
P=${1:-build/prismio}
D=build/demo
mkdir -p "$D"

echo "== prismio $("$P" --version | cut -d' ' -f2-)"
echo "== a real trajectory (GROMACS XTC, 711 atoms, 201 frames) into HOLO, with its PDB topology"
rm -f "$D/peptide.holo" "$D/peptide.xtc" "$D/peptide_ca.pdb"
"$P" convert tests/data/peptide.xtc "$D/peptide.holo" --top tests/data/peptide.pdb
"$P" info "$D/peptide.holo"
"$P" verify "$D/peptide.holo"
echo "-- frame 100, first atoms (nm)"
"$P" dump "$D/peptide.holo" --frame 100 --format csv | head -n 3
echo "== back to XTC: byte-identical to the file GROMACS wrote"
"$P" convert "$D/peptide.holo" "$D/peptide.xtc" --quiet
cmp tests/data/peptide.xtc "$D/peptide.xtc" && echo "identical: $(wc -c <"$D/peptide.xtc") bytes"
echo "== compressed: lossy at the XTC's own precision, frames coded in blocks of 32"
rm -f "$D/peptide_lossy.holo" "$D/peptide_lossy.xtc"
"$P" convert tests/data/peptide.xtc "$D/peptide_lossy.holo" --top tests/data/peptide.pdb \
    --compress lossy --quiet
"$P" info "$D/peptide_lossy.holo" | grep -E '^(file|format|codecs|blocks):'
echo "$(wc -c <"$D/peptide_lossy.holo") bytes against the XTC's $(wc -c <tests/data/peptide.xtc)"
"$P" convert "$D/peptide_lossy.holo" "$D/peptide_lossy.xtc" --quiet
cmp tests/data/peptide.xtc "$D/peptide_lossy.xtc" && echo "and back to XTC: byte-identical"
echo "== exported: C-alpha atoms of every 50th frame as a multi-model PDB"
"$P" convert "$D/peptide.holo" "$D/peptide_ca.pdb" --frames ::50 --atoms 'name CA'
grep -c '^MODEL' "$D/peptide_ca.pdb" | sed 's/$/ models/'
grep -m 2 '^ATOM' "$D/peptide_ca.pdb"
echo "== Arrow (Feather v2) for columnar tools: a row per atom per frame, with the topology"
"$P" convert "$D/peptide.holo" "$D/peptide.arrow" --layout atoms --frames ::20 --overwrite --quiet
echo "$(wc -c <"$D/peptide.arrow") bytes; and back into HOLO:"
"$P" convert "$D/peptide.arrow" "$D/from_arrow.holo" --overwrite --quiet
"$P" info "$D/from_arrow.holo" | grep -E '^(frames|atoms|topology):'
T="$D/water.holo"
rm -f "$T" "$D/killed.holo"
echo "== writing a 3,000-atom trajectory, 200 frames with velocities and forces"
"$P" gen "$T" --atoms 3000 --frames 200 --fields x,v,f --seed 7
"$P" info "$T"
"$P" verify "$T"
echo "== the same check through io_uring with O_DIRECT (falls back, and says so, where refused)"
"$P" verify "$T" --engine uring --direct
"$P" info "$T" --verbose --engine uring --direct | grep -A1 '^io engine'
echo "== three random frames (first atoms, CSV, nm)"
for fr in 17 123 199; do
    echo "-- frame $fr"
    "$P" dump "$T" --frame "$fr" --format csv | head -n 3
done
echo "== the pipeline: every 4th frame, oxygens only, velocities dropped"
rm -f "$D/oxygens.holo"
"$P" convert "$T" "$D/oxygens.holo" --frames ::4 --atoms 'name OW' --drop v --threads 2
"$P" info "$D/oxygens.holo" | sed -n '3,5p'
"$P" verify "$D/oxygens.holo"
echo "== a writer killed mid-run (SIGKILL), then recovered"
"$P" gen "$D/killed.holo" --atoms 20000 --frames 100000 --seed 3 &
pid=$!
sleep 1
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$P" info "$D/killed.holo" | sed -n '2,3p'
if "$P" verify "$D/killed.holo"; then echo "unexpected: verify passed"; exit 1; fi
"$P" recover "$D/killed.holo"
"$P" verify "$D/killed.holo"

echo "== checksums of the bundled data (tests/data)"
"$P" b3sum tests/data/peptide.* | tee "$D/SUMS"
echo "== checking them back"
"$P" b3sum --check "$D/SUMS"
if command -v b3sum >/dev/null 2>&1; then
    b3sum --check "$D/SUMS" >/dev/null && echo "reference b3sum agrees"
fi

echo "== throughput on 256 MiB made of the bundled data (warm page cache)"
big="$D/bundled-x256M.bin"
if [ ! -f "$big" ] || [ "$(wc -c <"$big")" -ne 268435456 ]; then
    # repeat the bundled files up to exactly 256 MiB
    tmp="$D/unit.bin"
    cat tests/data/peptide.* >"$tmp"
    : >"$big"
    while [ "$(wc -c <"$big")" -lt 268435456 ]; do cat "$tmp" >>"$big"; done
    truncate -s 268435456 "$big"
    rm -f "$tmp"
fi
"$P" bench hash "$big" --repeat 3
