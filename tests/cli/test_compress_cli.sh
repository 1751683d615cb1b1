#!/bin/sh
# prismio convert --compress: XTC -> HOLO lossy -> XTC gives the same bytes
# for every bundled XTC, and the HOLO is far smaller than raw; lossless
# keeps a TRR's every bit; info names the codecs; usage errors (64); a
# build without zstd says so (69).
# usage: test_compress_cli.sh PRISMIO DATA_DIR
. "$(dirname "$0")/harness.sh"
P=$1
D=$2

rc=$(code "$P" convert "$D/peptide.xtc" "$T/probe.holo" --compress lossy)
if [ "$rc" = 69 ]; then # a build without zstd: says so, and nothing else to check
    grep -q 'zstd' "$T/err" || bad "no zstd: the message says why: $(cat "$T/err")"
    [ ! -e "$T/probe.holo" ] || bad "no zstd: an output was left behind"
    echo "cli compress: this build has no zstd (exit 69, said so)"
    exit $fail
fi
[ "$rc" = 0 ] || bad "convert --compress lossy: exit $rc: $(cat "$T/err")"

for x in peptide solvated; do
    "$P" convert "$D/$x.xtc" "$T/$x.holo" --compress lossy --quiet || bad "$x: convert --compress lossy"
    "$P" convert "$D/$x.xtc" "$T/$x.raw.holo" --quiet || bad "$x: convert raw"
    "$P" verify "$T/$x.holo" --decode | grep -q 'verified and decoded' || bad "$x: verify --decode"
    "$P" convert "$T/$x.holo" "$T/$x.xtc" --quiet || bad "$x: back to XTC"
    cmp -s "$T/$x.xtc" "$D/$x.xtc" || bad "$x: XTC -> HOLO lossy -> XTC differs"
    c=$(wc -c <"$T/$x.holo")
    r=$(wc -c <"$T/$x.raw.holo")
    [ $((c * 2)) -lt "$r" ] || bad "$x: lossy $c bytes, raw $r"
    "$P" info "$T/$x.holo" | grep -q '^codecs: *positions lossy (0.001 nm); .* smaller than raw$' ||
        bad "$x: info codecs: $("$P" info "$T/$x.holo" | grep codecs)"
    "$P" info "$T/$x.holo" --json | grep -q '"codecs":{"positions":"lossy"},"precision":0.001' ||
        bad "$x: info --json codecs"
done

# an XTC at another precision (100 per nm): kept as metadata, compressed at
# it by default, and back to the same bytes from the lossy and the raw HOLO
"$P" convert "$D/peptide.xtc" "$T/p100.xtc" --precision 100 --quiet || bad "XTC at 100"
"$P" convert "$T/p100.xtc" "$T/p100.holo" --compress lossy --quiet &&
    "$P" convert "$T/p100.xtc" "$T/p100r.holo" --quiet || bad "p100 to HOLO"
"$P" info "$T/p100.holo" | grep -q 'positions lossy (0.01 nm)' ||
    bad "lossy at the XTC's precision: $("$P" info "$T/p100.holo" | grep codecs)"
"$P" info "$T/p100r.holo" | grep -q 'xtc.precision = 100$' || bad "xtc.precision kept"
for h in p100 p100r; do
    "$P" convert "$T/$h.holo" "$T/$h.back.xtc" --quiet && cmp -s "$T/p100.xtc" "$T/$h.back.xtc" ||
        bad "$h.holo back to XTC differs from the XTC at 100"
done
"$P" convert "$T/p100.xtc" "$T/p100f.holo" --compress lossy --precision 1000 --quiet &&
    "$P" info "$T/p100f.holo" | grep -q 'positions lossy (0.001 nm)' || bad "--precision wins"

# blocks (the default, --keyframe 32) against frames coded alone: smaller,
# the same frames; info shows them
"$P" convert "$D/peptide.xtc" "$T/pk1.holo" --compress lossy --keyframe 1 --quiet ||
    bad "--keyframe 1"
[ "$(wc -c <"$T/peptide.holo")" -lt "$(wc -c <"$T/pk1.holo")" ] || bad "blocks are not smaller"
"$P" info "$T/peptide.holo" | grep -q '^blocks: *7 of up to 32 frames' ||
    bad "info blocks: $("$P" info "$T/peptide.holo" | grep blocks)"
"$P" info "$T/peptide.holo" --json | grep -q '"blocks":7,"packed_blocks":0,"block_frames_max":32' ||
    bad "info --json blocks"
"$P" info "$T/pk1.holo" | grep -q '^blocks' && bad "--keyframe 1 wrote blocks"
head -c 12 "$T/peptide.holo" | od -An -tu1 | grep -q ' 2   0   1   0' || bad "blocks: not 2.1"
for f in 0 31 32 200; do
    "$P" dump "$T/peptide.holo" --frame $f >"$T/a" && "$P" dump "$T/pk1.holo" --frame $f >"$T/b" &&
        cmp -s "$T/a" "$T/b" || bad "frame $f differs between blocks and single frames"
done
"$P" convert "$D/peptide.xtc" "$T/pk4.holo" --compress lossy --keyframe 4 --group-atoms 100 \
    --quiet && "$P" verify --decode "$T/pk4.holo" >/dev/null || bad "--keyframe 4 --group-atoms 100"
# --keyframe alone packs small raw frames (HOLO 2.2); peptide's 711 atoms
# (8.5 KB) are FRAME records
"$P" convert "$D/peptide.xtc" "$T/x.holo" --keyframe 4 -q && "$P" info "$T/x.holo" >"$T/info" &&
    grep -q 'HOLO 2.2' "$T/info" && ! grep -q '^packed:' "$T/info" || bad "--keyframe alone"
[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.holo" --compress lossy --keyframe 0)" = 64 ] ||
    bad "--keyframe 0"

"$P" convert "$D/water.trr" "$T/w.holo" --compress lossless --quiet || bad "lossless"
"$P" convert "$D/water.trr" "$T/wr.holo" --quiet || bad "raw"
for f in 0 9 19; do
    "$P" dump "$T/w.holo" --frame $f >"$T/a" && "$P" dump "$T/wr.holo" --frame $f >"$T/b" &&
        cmp -s "$T/a" "$T/b" || bad "lossless frame $f differs from raw"
done
"$P" info "$T/w.holo" | grep -q 'positions lossless, velocities lossless, forces lossless' ||
    bad "lossless info: $("$P" info "$T/w.holo" | grep codecs)"
# recompression, holo -> holo, and back to raw
"$P" convert "$T/w.holo" "$T/w2.holo" --compress lossy --precision 100 --level 9 --quiet ||
    bad "recompress"
"$P" info "$T/w2.holo" | grep -q 'positions lossy (0.01 nm)' || bad "recompress at 0.01 nm"
"$P" convert "$T/w2.holo" "$T/w3.holo" --quiet && "$P" info "$T/w3.holo" | grep -q '^codecs' &&
    bad "convert without --compress writes raw records"

# the bundled compressed sample (made from sample_v2_0.holo): verifies,
# and its frames are the raw sample's within 0.0005 nm
"$P" verify "$D/sample_v2_0_lossy.holo" >/dev/null || bad "verify sample_v2_0_lossy.holo"
"$P" dump "$D/sample_v2_0.holo" --frame 5 >"$T/raw.csv" &&
    "$P" dump "$D/sample_v2_0_lossy.holo" --frame 5 >"$T/lossy.csv" || bad "dump the samples"
paste -d, "$T/raw.csv" "$T/lossy.csv" | tail -n +2 | awk -F, '
    { for (c = 2; c <= 4; c++) { d = $c - $(c + 10); if (d < 0) d = -d; if (d > m) m = d }
      for (c = 5; c <= 10; c++) if ($c != $(c + 10)) bad = 1 }
    END { if (m > 0.0005 + 1e-6 || bad) exit 1 }' || bad "the lossy sample's frame 5 is off"

# compact and recover --drop-damaged keep a file compressed
"$P" compact "$T/peptide.holo" "$T/pc.holo" --quiet || bad "compact a compressed file"
"$P" info "$T/pc.holo" | grep -q 'positions lossy (0.001 nm)' || bad "compact kept the codecs"
[ "$(wc -c <"$T/pc.holo")" -le "$(wc -c <"$T/peptide.holo")" ] || bad "compact grew the file"

# the benchmark runs end to end (one repeat) and gives its ratios as JSON
TMPDIR="$T" "$P" bench compress "$D/peptide.xtc" --repeat 1 --json >"$T/bench.json" ||
    bad "bench compress: $(cat "$T/bench.json")"
for k in size_vs_xtc_ratio size_vs_xtc_ratio_per_frame decode_vs_mdanalysis_xtc_ratio \
    lossless_size_vs_best_peer_ratio lossless_decode_vs_best_peer_ratio encode_vs_xtc_encoder_ratio \
    selection_5pct_speedup_ratio; do
    grep -q "\"$k\":[0-9]" "$T/bench.json" || bad "bench compress: no $k"
done
ls -d "$T"/prismio-bench-compress-* >/dev/null 2>&1 && bad "bench compress left its directory"

[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.xtc" --compress lossy)" = 64 ] || bad "--compress to XTC"
[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.holo" --level 3)" = 64 ] || bad "--level alone"
[ "$(code "$P" convert "$D/peptide.xtc" "$T/x.holo" --compress zip)" = 64 ] || bad "--compress zip"

[ $fail = 0 ] && echo "cli compress: all checks passed"
exit $fail
