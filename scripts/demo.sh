#!/bin/sh
# make demo: the project's main job on bundled data.
# For now: BLAKE3 checksums of the bundled trajectories with `prismio b3sum`,
# checked back with --check (and against the reference b3sum when present),
# then hashing throughput next to b3sum on a larger file built from them.
set -eu
P=${1:-build/prismio}
D=build/demo
mkdir -p "$D"

echo "== prismio $("$P" --version | cut -d' ' -f2-)"
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
