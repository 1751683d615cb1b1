#!/bin/sh
# prismio gen | info | verify | recover | dump: output, errors, exit codes
# (0 ok, 1 integrity, 64 usage, 65 bad data, 66 missing input).
# usage: test_holo_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$1

[ "$(code "$P" gen "$T/a.holo" --atoms 50 --frames 20 --fields x,v,f --seed 4)" = 0 ] || bad "gen"
[ "$(code "$P" gen "$T/a.holo" --atoms 50 --frames 20)" = 74 ] || bad "gen over an existing file must fail"
grep -q "a.holo: cannot create: File exists" "$T/err" || bad "gen error names the file"
"$P" gen "$T/a.holo" --atoms 50 --frames 20 --fields x,v,f --seed 4 --overwrite || bad "--overwrite"

# info, both forms
"$P" info "$T/a.holo" >"$T/info" || bad "info exit"
grep -q '^frames: *20$' "$T/info" || bad "info frames"
grep -q '^atoms: *50$' "$T/info" || bad "info atoms"
grep -q 'positions velocities forces box' "$T/info" || bad "info fields"
grep -q 'topology: *50 atoms' "$T/info" || bad "info topology"
"$P" info "$T/a.holo" --json >"$T/json" || bad "info --json exit"
for k in '"frames":20' '"atoms":50' '"recovered":false' '"format_version":"2.0"'; do
    grep -q "$k" "$T/json" || bad "info --json lacks $k"
done
if command -v node >/dev/null 2>&1; then
    node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(j.frames!==20||j.atoms!==50) process.exit(1)' "$T/json" || bad "info --json does not parse"
fi

# verify: ok, then a flipped byte inside frame data
[ "$(code "$P" verify "$T/a.holo")" = 0 ] || bad "verify of an intact file"
grep -q 'OK, 20 frames' "$T/out" || bad "verify summary"
cp "$T/a.holo" "$T/b.holo"
printf '\001' | dd of="$T/b.holo" bs=1 seek=20000 conv=notrunc 2>/dev/null
[ "$(code "$P" verify "$T/b.holo")" = 1 ] || bad "verify of a damaged file must exit 1"
grep -Eq 'b.holo: frame [0-9]+ at offset 0x[0-9a-f]+: checksum mismatch' "$T/err" || bad "verify message: $(cat "$T/err")"

# dump
"$P" dump "$T/a.holo" --frame 3 >"$T/csv" || bad "dump exit"
[ "$(head -n 1 "$T/csv")" = "atom,x,y,z,vx,vy,vz,fx,fy,fz" ] || bad "csv header"
[ "$(wc -l <"$T/csv")" = 51 ] || bad "csv rows"
"$P" dump "$T/a.holo" --frame 0 --format xyz >"$T/xyz" || bad "dump xyz"
[ "$(head -n 1 "$T/xyz")" = 50 ] || bad "xyz atom count"
sed -n 3p "$T/xyz" | grep -q '^O ' || bad "xyz element from topology"
[ "$(code "$P" dump "$T/a.holo" --frame 20)" = 64 ] || bad "frame out of range"
grep -q 'frame 20 out of range' "$T/err" || bad "out of range message"
[ "$(code "$P" dump "$T/a.holo" --frame 1 --format pdf)" = 64 ] || bad "unknown dump format"

# recover after truncation mid-record
cp "$T/a.holo" "$T/c.holo"
truncate -s 20000 "$T/c.holo"
"$P" info "$T/c.holo" | grep -q 'recovered by scanning' || bad "info reports recovery"
[ "$(code "$P" verify "$T/c.holo")" = 1 ] || bad "uncommitted file must not verify"
grep -q 'no valid footer' "$T/err" || bad "verify says why"
[ "$(code "$P" recover "$T/c.holo")" = 0 ] || bad "recover exit"
grep -q 'recovered [0-9]* frames' "$T/out" || bad "recover summary"
[ "$(code "$P" verify "$T/c.holo")" = 0 ] || bad "verify after recover"
[ "$(code "$P" recover "$T/c.holo")" = 0 ] || bad "recover twice"
grep -q 'already committed' "$T/out" || bad "second recover is a no-op"

# I/O engines: every engine verifies; info --verbose names the engine;
# files written through pwrite and io_uring hold the same frames
# (a build without liburing reads through pread instead, and says why)
URING=uring
"$P" verify "$T/a.holo" --engine uring 2>&1 >/dev/null | grep -q 'built without liburing' && URING=pread
for e in mmap pread uring; do
    [ "$(code "$P" verify "$T/a.holo" --engine "$e")" = 0 ] || bad "verify --engine $e"
    want=$e
    [ "$e" = uring ] && want=$URING
    grep -q "$want)" "$T/out" || bad "verify names engine $want: $(cat "$T/out")"
    [ "$(code "$P" verify "$T/b.holo" --engine "$e" --direct)" = 1 ] || bad "damage found by $e --direct"
done
"$P" info "$T/a.holo" --verbose --engine uring >"$T/v" || bad "info --verbose"
grep -q "^io engine: *$URING" "$T/v" || bad "info --verbose engine line"
PIO_IO_ENGINE=pread "$P" info "$T/a.holo" --verbose | grep -q '^io engine: *pread' || bad "PIO_IO_ENGINE"
[ "$(PIO_IO_ENGINE=nonsense "$P" info "$T/a.holo" --verbose >/dev/null 2>&1; echo $?)" = 64 ] || bad "bad PIO_IO_ENGINE"
[ "$(code "$P" verify "$T/a.holo" --engine floppy)" = 64 ] || bad "unknown engine exit 64"
"$P" gen "$T/u.holo" --atoms 50 --frames 20 --fields x,v,f --seed 4 --engine uring || bad "gen --engine uring"
PIO_IO_ENGINE=uring "$P" gen "$T/d.holo" --atoms 50 --frames 20 --fields x,v,f --seed 4 --direct || bad "gen --direct"
"$P" dump "$T/d.holo" --frame 13 >"$T/d13" && "$P" dump "$T/a.holo" --frame 13 >"$T/a13" &&
    cmp -s "$T/d13" "$T/a13" || bad "O_DIRECT-written frames differ"
"$P" dump "$T/u.holo" --frame 13 >"$T/u13" && "$P" dump "$T/a.holo" --frame 13 >"$T/a13" &&
    cmp -s "$T/u13" "$T/a13" || bad "uring-written frames differ"

# bad inputs and usage
[ "$(code "$P" info "$T/missing.holo")" = 66 ] || bad "missing file exit 66"
grep -q 'missing.holo: No such file or directory' "$T/err" || bad "missing file message"
printf 'hello world, not holo' >"$T/x.txt"
[ "$(code "$P" info "$T/x.txt")" = 65 ] || bad "not HOLO exit 65"
grep -q 'x.txt: not a HOLO file (bad magic at offset 0)' "$T/err" || bad "bad magic message"
[ "$(code "$P" info)" = 64 ] || bad "info without file exit 64"
[ "$(code "$P" gen "$T/z.holo" --atoms x)" = 64 ] || bad "gen bad number exit 64"
[ "$(code "$P" frobnicate)" = 64 ] || bad "unknown command exit 64"
for c in info verify recover dump gen b3sum bench; do
    [ "$(code "$P" "$c" --help)" = 0 ] || bad "$c --help"
    [ -s "$T/out" ] || bad "$c --help prints help"
done
"$P" --version | grep -q '^prismio 0\.' || bad "--version"

[ $fail = 0 ] && echo "cli holo: all checks passed"
# bench commit: every key of its JSON, the follower saw every commit, and
# the refusal of a quadratic run in 1.1 (--format-1)
"$P" bench commit "$T/bc.holo" --frames 60 --atoms 10 --json >"$T/bc.json" 2>"$T/err" ||
    bad "bench commit: $(cat "$T/err")"
for k in single_vs_per_frame_size_ratio commits_per_second open_last_frame_ms \
    follow_latency_p50_ms follow_latency_p99_ms; do
    grep -q "\"$k\":[0-9]" "$T/bc.json" || bad "bench commit --json lacks $k: $(cat "$T/bc.json")"
done
grep -q '"follow_samples":59' "$T/bc.json" || bad "the follower saw every commit: $(cat "$T/bc.json")"
ls "$T"/bc.holo* >/dev/null 2>&1 && bad "bench commit left its files"
[ "$(code "$P" bench commit "$T/bc.holo" --frames 1000000 --format-1)" = 64 ] ||
    bad "a quadratic 1.1 run is refused"
grep -q 'would write .* GB of index' "$T/err" || bad "the refusal says why: $(cat "$T/err")"

# small frames packed (--keyframe without compression, HOLO 2.2): 10-atom
# frames cost at most 1.1x DCD's bytes for them, read back the same
"$P" gen "$T/s1.holo" --atoms 10 --frames 3000 --seed 5 >/dev/null || bad "gen small"
"$P" convert "$T/s1.holo" "$T/s.dcd" -q || bad "small to dcd"
"$P" convert "$T/s.dcd" "$T/sp.holo" --keyframe 64 -q || bad "convert --keyframe"
"$P" gen "$T/sg.holo" --atoms 10 --frames 3000 --seed 5 --keyframe 64 >/dev/null ||
    bad "gen --keyframe"
"$P" info "$T/sp.holo" >"$T/info" || bad "info packed"
grep -q 'HOLO 2.2' "$T/info" && grep -q '^packed: *47 records of up to 64' "$T/info" ||
    bad "info packed: $(cat "$T/info")"
"$P" verify "$T/sp.holo" >/dev/null && "$P" verify "$T/sg.holo" >/dev/null || bad "verify packed"
for f in 0 1234 2999; do
    "$P" dump "$T/s1.holo" --frame $f >"$T/d1" && "$P" dump "$T/sg.holo" --frame $f >"$T/d2" &&
        cmp -s "$T/d1" "$T/d2" || bad "packed frame $f differs"
done
d=$(wc -c <"$T/s.dcd") h=$(wc -c <"$T/sp.holo")
[ $((h * 10)) -le $((d * 11)) ] || bad "packed 10-atom frames: $h bytes, DCD $d"
[ "$(code "$P" convert "$T/s1.holo" "$T/x.xtc" --keyframe 8)" = 64 ] ||
    bad "--keyframe for a non-HOLO output is refused"

# bench read --limits: a smoke run (--quick) of every part; the C keys are
# measured (small frames packed at most 1.1x DCD's bytes, a fact, not a
# timing), the Python ones numbers or null (no package next to this
# build), the made files removed
"$P" bench read "$T/s1.holo" --repeat 1 --samples 10 --limits "$T/lim" --big-mb 8 --quick \
    --json >"$T/lim.json" 2>"$T/lim.err" || bad "bench read --limits: $(cat "$T/lim.err")"
for k in cold_buffered_vs_dd_ratio cold_pread_vs_dd_ratio open_last_frame_us_1e4_frames \
    small_frame_size_vs_dcd_ratio; do
    grep -q "\"$k\":[0-9]" "$T/lim.json" || bad "bench read --limits: $k: $(cat "$T/lim.json")"
done
for k in write_uring_vs_fio_ratio python_iter_vs_memmap_ratio python_iter_peak_rss_mb \
    open_last_vs_dcd_ratio mda_vs_ncdf_ratio; do
    grep -Eq "\"$k\":([0-9]|null)" "$T/lim.json" || bad "bench read --limits: no $k"
done
r=$(sed 's/.*"small_frame_size_vs_dcd_ratio":\([0-9.]*\).*/\1/' "$T/lim.json")
awk -v r="$r" 'BEGIN { exit !(r > 0.5 && r <= 1.1) }' || bad "packed vs DCD ratio $r"
[ ! -e "$T/lim" ] || bad "bench read --limits left $(ls "$T/lim")"

# gen's values: normal deviates of the documented spread (forces 500,
# velocities sqrt(kT/m): O 0.395, H 1.573), and positions that diffuse
# 0.01 nm a frame, on the threaded path (>= 2048 atoms) and the other.
for n in 3000 600; do
    "$P" gen "$T/g$n.holo" --atoms $n --frames 3 --fields xvf --seed 11 >/dev/null || bad "gen $n"
    "$P" dump "$T/g$n.holo" --frame 1 >"$T/g1" && "$P" dump "$T/g$n.holo" --frame 2 >"$T/g2" ||
        bad "dump gen $n"
    paste -d, "$T/g1" "$T/g2" | awk -F, -v n=$n 'NR > 1 {
        for (d = 8; d <= 10; d++) { fs += $d; fq += $d * $d; nf++ }
        for (d = 5; d <= 7; d++) if ($1 % 3 == 0) { oq += $d * $d; no++ } else { hq += $d * $d; nh++ }
        for (d = 2; d <= 4; d++) { dx = $(d + 10) - $d; if (dx * dx < 0.01) { xq += dx * dx; nx++ } }
    } END {
        sf = sqrt(fq / nf - (fs / nf) ^ 2); so = sqrt(oq / no); sh = sqrt(hq / nh); sx = sqrt(xq / nx)
        ok = sf > 480 && sf < 520 && (fs / nf) ^ 2 < 400 && so > 0.37 && so < 0.42 && sh > 1.48 &&
             sh < 1.67 && sx > 0.0095 && sx < 0.0105 && nx > 0.99 * 3 * n
        if (!ok) { printf "n %d: forces sd %g mean %g, v sd O %g H %g, step %g (%d)\n", n, sf, fs / nf, so, sh, sx, nx; exit 1 }
    }' || bad "gen $n: values off their spread"
done

exit $fail
