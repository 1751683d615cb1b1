#!/bin/sh
# prismio convert: selections end to end (values checked against dump of
# the input), progress bar only on a terminal, errors and exit codes.
# usage: test_convert_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$1

"$P" gen "$T/in.holo" --atoms 300 --frames 40 --fields x,v,f --seed 3 >/dev/null || bad "gen"

# everything: same frames, verified
[ "$(code "$P" convert "$T/in.holo" "$T/all.holo" --threads 2 --batch 7)" = 0 ] || bad "convert: $(cat "$T/err")"
grep -q 'all.holo: 40 frames' "$T/out" || bad "convert summary: $(cat "$T/out")"
[ -s "$T/err" ] && bad "no progress bar when stderr is not a terminal: $(cat "$T/err")"
"$P" verify "$T/all.holo" >/dev/null || bad "verify the converted file"
"$P" dump "$T/in.holo" --frame 17 >"$T/d1"
"$P" dump "$T/all.holo" --frame 17 >"$T/d2"
cmp -s "$T/d1" "$T/d2" || bad "frame 17 differs after a plain convert"

# frames 1:30:4 -> 1 5 9 ... 29 (8 frames); atoms 'name OW' -> every third atom
[ "$(code "$P" convert "$T/in.holo" "$T/sel.holo" --frames 1:30:4 --atoms 'name OW' --drop v,scalars --quiet)" = 0 ] || bad "convert with selections: $(cat "$T/err")"
[ -s "$T/out" ] && bad "--quiet prints nothing"
"$P" info "$T/sel.holo" >"$T/info"
grep -q '^frames: *8$' "$T/info" || bad "selected frames: $(cat "$T/info")"
grep -q '^atoms: *100$' "$T/info" || bad "selected atoms"
grep -q '^fields: *positions forces box$' "$T/info" || bad "dropped fields: $(grep fields "$T/info")"
grep -q 'topology: *100 atoms' "$T/info" || bad "selected topology"
# frame 2 of the output is input frame 9, atoms 0, 3, 6, ... without velocities
"$P" dump "$T/in.holo" --frame 9 | awk -F, 'NR == 1 { print "atom,x,y,z,fx,fy,fz"; next }
    ($1 % 3) == 0 { print ($1 / 3) "," $2 "," $3 "," $4 "," $8 "," $9 "," $10 }' >"$T/want"
"$P" dump "$T/sel.holo" --frame 2 >"$T/got"
cmp -s "$T/want" "$T/got" || bad "selected frame values differ: $(diff "$T/want" "$T/got" | head -3)"

# a progress bar on a terminal (script gives the command a pty)
if command -v script >/dev/null 2>&1; then
    script -qec "$P convert $T/in.holo $T/tty.holo --batch 4" "$T/typescript" >/dev/null 2>&1
    grep -q 'frames .* MB/s .*ETA' "$T/typescript" || bad "no progress bar on a terminal"
    grep -q '40/40 frames' "$T/typescript" || bad "progress bar does not end at 40/40"
fi

# errors: one line, named, with the exit codes of cli.h
[ "$(code "$P" convert "$T/in.holo" "$T/all.holo")" = 74 ] || bad "existing output must fail"
grep -q "all.holo: cannot create: File exists" "$T/err" || bad "exists message: $(cat "$T/err")"
[ "$(code "$P" convert "$T/in.holo" "$T/in.holo" --overwrite)" = 64 ] || bad "same file must be refused"
grep -q "same file" "$T/err" || bad "same-file message"
[ "$(code "$P" convert "$T/nope.holo" "$T/x.holo")" = 66 ] || bad "missing input"
grep -q "nope.holo" "$T/err" || bad "missing input is named"
[ "$(code "$P" convert "$T/in.holo" "$T/x.traj")" = 64 ] || bad "unsupported output"
grep -q "x.traj: unknown output format" "$T/err" || bad "unknown format message: $(cat "$T/err")"
[ "$(code "$P" convert "$T/in.holo" "$T/x.holo" --atoms 'name OW and')" = 64 ] || bad "bad atom spec"
grep -q "atom selection 'name OW and': expected a selection at character 12" "$T/err" || bad "atom spec message: $(cat "$T/err")"
[ "$(code "$P" convert "$T/in.holo" "$T/x.holo" --frames 40)" = 64 ] || bad "frame out of range"
grep -q "frame 40 out of range (40 frames)" "$T/err" || bad "frame range message: $(cat "$T/err")"
[ "$(code "$P" convert "$T/in.holo" "$T/x.holo" --drop q)" = 64 ] || bad "bad --drop"
[ "$(code "$P" convert "$T/in.holo" "$T/x.holo" --threads 0)" = 64 ] || bad "bad --threads"
[ "$(code "$P" convert "$T/in.holo")" = 64 ] || bad "missing OUT"
[ -e "$T/x.holo" ] && bad "a refused conversion must not create its output"

# a damaged input frame stops the run; OUT keeps a valid prefix
cp "$T/in.holo" "$T/dmg.holo"
printf '\001' | dd of="$T/dmg.holo" bs=1 seek=200000 conv=notrunc 2>/dev/null
[ "$(code "$P" convert "$T/dmg.holo" "$T/part.holo" --batch 2)" = 1 ] || bad "damaged input must exit 1"
grep -Eq "stage 'source holo': .*dmg.holo: frame [0-9]+ at offset 0x[0-9a-f]+: checksum mismatch" "$T/err" || bad "damage message: $(cat "$T/err")"
grep -Eq "part.holo holds the [0-9]+ frames written before the error, committed" "$T/err" || bad "partial output note: $(cat "$T/err")"
"$P" verify "$T/part.holo" >/dev/null || bad "the partial output verifies"
[ "$(code "$P" convert "$T/dmg.holo" "$T/nv.holo" --no-verify)" = 0 ] || bad "--no-verify copies it"

# --meta KEY=VALUE on a .holo OUT: after the input's, the last value of a
# key given twice; refused for other formats
"$P" convert "$T/in.holo" "$T/meta.holo" --meta run.key=a --meta run.key=b --meta note=x=y -q ||
    bad "convert --meta"
"$P" info "$T/meta.holo" >"$T/info"
grep -q 'run.key = b$' "$T/info" && grep -q 'note = x=y$' "$T/info" && ! grep -q 'run.key = a' "$T/info" ||
    bad "--meta in the output: $(grep ' = ' "$T/info")"
"$P" convert "$T/meta.holo" "$T/meta2.holo" --meta run.key=c -q || bad "convert --meta over an input's key"
"$P" info "$T/meta2.holo" | grep -q 'run.key = c$' || bad "--meta replaces the input's value"
[ "$(code "$P" convert "$T/in.holo" "$T/meta.xtc" --meta a=b)" = 64 ] || bad "--meta with an .xtc OUT: 64"
[ "$(code "$P" convert "$T/in.holo" "$T/meta3.holo" --meta novalue)" = 64 ] || bad "--meta without =: 64"

# --append: frames added to an existing .holo (the first 25, then the
# rest: the frames of one conversion); refused where it cannot be
"$P" convert "$T/in.holo" "$T/app.holo" --frames 0:25 -q --salt 0123456789abcdef0123456789abcdef || bad "convert 0:25"
"$P" convert "$T/in.holo" "$T/app.holo" --append --frames 25: -q || bad "convert --append"
"$P" verify "$T/app.holo" >/dev/null || bad "the appended file verifies"
"$P" convert "$T/app.holo" "$T/app.xyz" -q && "$P" convert "$T/in.holo" "$T/in.xyz" -q &&
    cmp -s "$T/app.xyz" "$T/in.xyz" || bad "--append: the frames of one conversion"
[ "$(code "$P" convert "$T/in.holo" "$T/nothere.holo" --append)" = 66 ] || bad "--append to no file: 66"
[ "$(code "$P" convert "$T/in.holo" "$T/app.holo" --append --overwrite)" = 64 ] || bad "--append --overwrite: 64"
[ "$(code "$P" convert "$T/in.holo" "$T/app.xtc" --append)" = 64 ] || bad "--append to an .xtc: 64"
"$P" gen "$T/other.holo" --atoms 7 --frames 2 >/dev/null
[ "$(code "$P" convert "$T/in.holo" "$T/other.holo" --append)" = 64 ] && grep -q 'topology has 7' "$T/err" ||
    bad "--append frames of another atom count: $(cat "$T/err")"

# concat IN... OUT: the frames of every input in order (those of the
# inputs' XTC bytes one after the other); refusals leave no OUT
"$P" convert "$T/in.holo" "$T/c1.xtc" --frames 0:15 -q && "$P" convert "$T/in.holo" "$T/c2.xtc" --frames 15: -q &&
    cat "$T/c1.xtc" "$T/c2.xtc" >"$T/c12.xtc" || bad "making XTC pieces"
[ "$(code "$P" concat "$T/c1.xtc" "$T/c2.xtc" "$T/cat.holo")" = 0 ] || bad "concat: $(cat "$T/err")"
grep -q 'cat.holo: 40 frames from 2 files' "$T/out" || bad "concat's summary: $(cat "$T/out")"
"$P" convert "$T/cat.holo" "$T/cat.xtc" -q && cmp -s "$T/cat.xtc" "$T/c12.xtc" || bad "concat: the frames in order"
"$P" verify "$T/cat.holo" >/dev/null || bad "concat's output verifies"
[ "$(code "$P" concat "$T/c1.xtc" "$T/c2.xtc" "$T/cat.holo")" = 74 ] || bad "concat onto an existing OUT: 74"
[ "$(code "$P" concat "$T/c1.xtc" "$T/c2.xtc" "$T/cat.holo" --overwrite)" = 0 ] || bad "concat --overwrite"
[ "$(code "$P" concat "$T/c1.xtc" "$T/other.holo" "$T/mixed.holo")" = 64 ] && grep -q '7 atoms, where' "$T/err" ||
    bad "concat of different atom counts: $(cat "$T/err")"
[ "$(code "$P" concat "$T/c1.xtc" "$T/nothere.xtc" "$T/miss.holo")" = 66 ] || bad "concat of a missing input: 66"
[ ! -e "$T/mixed.holo" ] && [ ! -e "$T/mixed.holo.part" ] && [ ! -e "$T/miss.holo" ] && [ ! -e "$T/miss.holo.part" ] ||
    bad "a failed concat leaves no output"
[ "$(code "$P" concat "$T/c1.xtc" "$T/cat.xtc")" = 64 ] || bad "concat to an .xtc: 64"

# the format registry: every format listed once with its extensions; files
# named by extension and by magic bytes, a disagreement exits 1
"$P" formats >"$T/fmts" || bad "formats"
for f in holo xtc trr dcd ncdf gro pdb xyz arrow; do
    [ "$(grep -c "^$f " "$T/fmts")" = 1 ] || bad "formats lists $f once: $(cat "$T/fmts")"
done
grep -q '^holo .*checksums' "$T/fmts" || bad "holo capabilities: $(cat "$T/fmts")"
"$P" formats --json | grep -q '"name":"pdb","extensions":".pdb .ent"' || bad "formats --json"
[ "$(code "$P" formats "$T/in.holo")" = 0 ] || bad "formats FILE"
grep -q 'in.holo: extension holo, magic holo' "$T/out" || bad "formats FILE output: $(cat "$T/out")"
cp "$T/in.holo" "$T/fake.xtc"
[ "$(code "$P" formats "$T/fake.xtc")" = 1 ] || bad "extension and magic disagree: exit 1"
grep -q 'extension xtc, magic holo (they disagree)' "$T/out" || bad "disagreement named: $(cat "$T/out")"
[ "$(code "$P" formats "$T/nothing.holo")" = 66 ] || bad "formats of a missing file: 66"
"$P" formats --json "$T/nothing.holo" "$T/in.holo" 2>/dev/null | tr -d '\n' |
    grep -q '^\[{"file":.*in.holo","extension":"holo","magic":"holo","consistent":true}\]$' ||
    bad "formats --json with an unreadable first file: $("$P" formats --json "$T/nothing.holo" "$T/in.holo" 2>/dev/null)"

exit $fail
