#!/bin/sh
# Damaged HOLO files through the CLI (issue 20): recovery keeps intact
# frames after a damaged one and names the damage; --drop-damaged; dump
# checks each frame's BLAKE3; convert warns about a skipped torn tail even
# with --quiet and refuses it with --strict; non-regular files are refused
# without blocking; an empty file says nothing was ever committed.
# Usage: test_damage_cli.sh PRISMIO DATA_DIR
. "$(dirname "$0")/harness.sh"
P=$1
D=$2

# 8 frames of 5 atoms: META at 0x80 (768 bytes), frame i at 0x380 + 384 i.
"$P" gen "$T/orig.holo" --atoms 5 --frames 8 >/dev/null || bad "gen"
FRAME0=896
FLEN=384
for i in 0 1 2 3 4 5 6 7; do "$P" dump "$T/orig.holo" --frame $i >"$T/o$i.csv"; done

flip() { # flip bit 0 of byte $2 of file $1
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
cut_tail() { truncate -s $(($(stat -c %s "$1") - $2)) "$1"; }
same_frames() { # file, frames that must equal the original's
    f=$1
    shift
    for i in "$@"; do
        "$P" dump "$f" --frame "$i" >"$T/d.csv" 2>/dev/null && cmp -s "$T/d.csv" "$T/o$i.csv" ||
            bad "$f: frame $i differs from the original"
    done
}

# 1. The issue's case: bit 0 of byte 1480 (frame 1's body), last 100 bytes cut.
cp "$T/orig.holo" "$T/a.holo"
flip "$T/a.holo" 1480
cut_tail "$T/a.holo" 100
[ "$(code "$P" recover "$T/a.holo")" = 1 ] || bad "recover with a damaged frame: exit 1"
grep -q 'recovered 8 frames (1 damaged)' "$T/out" || bad "recover keeps all 8 frames: $(cat "$T/out")"
grep -q 'frame 1 at offset 0x500 (384 bytes) is damaged' "$T/err" || bad "recover names frame 1"
"$P" info --json "$T/a.holo" | grep -q '"frames":8' || bad "8 frames after recover"
same_frames "$T/a.holo" 0 2 3 4 5 6 7
[ "$(code "$P" dump "$T/a.holo" --frame 1)" = 1 ] || bad "dump of a damaged frame: exit 1"
grep -q 'frame 1 at offset 0x500: checksum mismatch' "$T/err" || bad "dump names the damage"
[ -s "$T/out" ] && bad "dump printed a damaged frame's values"
[ "$(code "$P" dump "$T/a.holo" --frame 1 --no-verify)" = 0 ] || bad "dump --no-verify"
[ "$(code "$P" verify "$T/a.holo")" = 1 ] || bad "verify fails on the damaged frame"
grep -q 'frame 1 at offset 0x500: checksum mismatch' "$T/err" || bad "verify names frame 1"
[ "$(code "$P" convert "$T/a.holo" "$T/a2.holo")" != 0 ] || bad "convert of a damaged frame fails"
grep -q 'frame 1 at offset 0x500' "$T/err" || bad "convert names the damaged frame"
if [ -e "$T/a2.holo" ]; then # what it committed: frames before the damage only
    "$P" info --json "$T/a2.holo" | grep -q '"frames":[01],' || bad "convert passed frame 1 on"
fi
[ "$(code "$P" recover --drop-damaged "$T/a.holo")" = 0 ] || bad "recover --drop-damaged"
grep -q 'rewritten with the 7 intact frames (1 damaged dropped)' "$T/out" || bad "drop summary"
[ "$(code "$P" verify "$T/a.holo")" = 0 ] || bad "verify after --drop-damaged"
"$P" dump "$T/a.holo" --frame 1 >"$T/d.csv" && cmp -s "$T/d.csv" "$T/o2.csv" ||
    bad "after dropping frame 1, frame 1 is the old frame 2"

# 2. Zeros over frames 2-4 (headers gone), torn footer.
cp "$T/orig.holo" "$T/b.holo"
dd if=/dev/zero of="$T/b.holo" bs=1 seek=$((FRAME0 + 2 * FLEN)) count=$((3 * FLEN)) conv=notrunc \
    2>/dev/null
cut_tail "$T/b.holo" 100
[ "$(code "$P" recover "$T/b.holo")" = 1 ] || bad "recover over zeros: exit 1"
grep -q 'frames 2 to 4 at offset 0x680 (1152 bytes) are damaged' "$T/err" ||
    bad "recover names frames 2 to 4: $(cat "$T/err")"
same_frames "$T/b.holo" 0 1 5 6 7
"$P" info --json "$T/b.holo" | grep -q '"damaged_frames":3' || bad "info counts 3 damaged frames"
[ "$(code "$P" dump "$T/b.holo" --frame 3)" != 0 ] || bad "dump of a zeroed frame fails"

# 3. The metadata record damaged: the topology is lost, the frames kept.
cp "$T/orig.holo" "$T/c.holo"
flip "$T/c.holo" 200
cut_tail "$T/c.holo" 100
[ "$(code "$P" recover "$T/c.holo")" = 1 ] || bad "recover with damaged metadata: exit 1"
grep -q 'metadata record at offset 0x80 is damaged' "$T/err" || bad "names the metadata"
same_frames "$T/c.holo" 0 1 2 3 4 5 6 7

# 4. A torn tail (cut inside frame 5) is still cut, every frame before kept.
cp "$T/orig.holo" "$T/e.holo"
truncate -s $((FRAME0 + 5 * FLEN + 100)) "$T/e.holo"
[ "$(code "$P" convert --quiet "$T/e.holo" "$T/e.xyz")" = 0 ] || bad "convert of a torn file"
grep -q 'warning:.*torn tail' "$T/err" || bad "--quiet still prints the torn-tail warning"
[ "$(code "$P" convert --strict "$T/e.holo" "$T/e2.xyz")" = 65 ] || bad "--strict refuses it"
grep -q 'refused: strict' "$T/err" || bad "--strict says why"
[ -e "$T/e2.xyz" ] && bad "--strict left an output"
[ "$(code "$P" recover "$T/e.holo")" = 0 ] || bad "recover of a torn tail: exit 0"
grep -q 'recovered 5 frames (0 damaged); removed 100 bytes' "$T/out" || bad "torn tail summary"
same_frames "$T/e.holo" 0 1 2 3 4

# 5. A committed file with a damaged frame: recover leaves it; --drop-damaged rewrites.
cp "$T/orig.holo" "$T/f.holo"
flip "$T/f.holo" $((FRAME0 + 3 * FLEN + 250))
[ "$(code "$P" recover "$T/f.holo")" = 0 ] || bad "recover of a committed file"
grep -q 'already committed' "$T/out" || bad "committed file left as it is"
chmod 600 "$T/f.holo"
ln -s f.holo "$T/link.holo"
: >"$T/f.holo.recover.tmp" # a file of that old fixed name is not touched
[ "$(code "$P" recover --drop-damaged "$T/link.holo")" = 0 ] || bad "--drop-damaged on a committed file"
"$P" info --json "$T/f.holo" | grep -q '"frames":7' || bad "7 frames after dropping frame 3"
[ "$(code "$P" verify "$T/f.holo")" = 0 ] || bad "verify after dropping frame 3"
[ -L "$T/link.holo" ] || bad "--drop-damaged replaced the symbolic link, not its target"
[ "$(stat -c %a "$T/f.holo")" = 600 ] || bad "--drop-damaged changed the permissions"
[ -e "$T/f.holo.recover.tmp" ] || bad "--drop-damaged removed another file"
ls "$T" | grep -q 'recover-' && bad "--drop-damaged left its temporary file"

# 5b. Records out of order (frames 2 and 3 swapped, the commit torn): no
# numbering keeps both, so recover cuts nothing; --drop-damaged keeps the
# frames before them and says what it cut (exit 1).
cp "$T/orig.holo" "$T/g.holo"
dd if="$T/orig.holo" of="$T/g.holo" bs=1 skip=$((FRAME0 + 2 * FLEN)) seek=$((FRAME0 + 3 * FLEN)) \
    count=$FLEN conv=notrunc 2>/dev/null
dd if="$T/orig.holo" of="$T/g.holo" bs=1 skip=$((FRAME0 + 3 * FLEN)) seek=$((FRAME0 + 2 * FLEN)) \
    count=$FLEN conv=notrunc 2>/dev/null
truncate -s $((FRAME0 + 8 * FLEN)) "$T/g.holo"
cp "$T/g.holo" "$T/g0.holo"
[ "$(code "$P" recover "$T/g.holo")" = 65 ] || bad "recover of swapped records: exit 65"
grep -q 'could not number; nothing cut' "$T/err" || bad "swapped records: message $(cat "$T/err")"
cmp -s "$T/g.holo" "$T/g0.holo" || bad "recover changed a file it refused"
[ "$(code "$P" recover --drop-damaged "$T/g.holo")" = 1 ] || bad "--drop-damaged of swapped: exit 1"
grep -q "cut 2304 bytes from offset 0x680 holding records that could not be numbered" "$T/err" ||
    bad "--drop-damaged names what it cut: $(cat "$T/err")"
same_frames "$T/g.holo" 0 1

# 6. A truncated foreign last frame: warned about even with --quiet, refused with --strict.
head -c 100000 "$D/peptide.xtc" >"$T/t.xtc"
[ "$(code "$P" convert --quiet "$T/t.xtc" "$T/t.holo")" = 0 ] || bad "truncated xtc converts"
grep -q 'warning' "$T/err" || bad "--quiet hid the truncation warning"
[ "$(code "$P" convert --strict "$T/t.xtc" "$T/t2.holo")" = 65 ] || bad "--strict refuses xtc"
grep -q 't.xtc' "$T/err" || bad "--strict error names the file"

# A multi-model PDB cut right after a MODEL line: the open model is a
# truncated frame (it was dropped without a word).
head -c 172995 "$D/peptide_models.pdb" >"$T/t.pdb"
[ "$(code "$P" convert "$T/t.pdb" "$T/tp.holo")" = 0 ] || bad "cut pdb converts"
grep -q 'warning: .*t.pdb: frame 3 at offset 0x2a3af is truncated' "$T/err" ||
    bad "cut pdb: warning for the open MODEL"

# 7. An empty file: nothing was ever committed.
: >"$T/empty.holo"
[ "$(code "$P" recover "$T/empty.holo")" = 65 ] || bad "recover of an empty file: exit 65"
grep -q 'no frame was ever committed' "$T/err" || bad "empty file message"

# 8. Non-regular files are refused at once (a FIFO would block an open).
if mkfifo "$T/p.holo" "$T/p.xtc" 2>/dev/null; then
    for c in info verify dump recover; do
        set -- "$P" "$c" "$T/p.holo"
        [ "$c" = dump ] && set -- "$@" --frame 0
        [ "$(code timeout 10 "$@")" = 65 ] || bad "$c of a FIFO: exit 65 ($(cat "$T/err"))"
        grep -q 'not a regular file' "$T/err" || bad "$c of a FIFO: message"
    done
    [ "$(code timeout 10 "$P" convert "$T/p.xtc" "$T/q.holo")" != 0 ] || bad "convert of a FIFO"
    grep -q 'not a regular file' "$T/err" || bad "convert of a FIFO: message"
    [ "$(code timeout 10 "$P" gen "$T/p.holo" --atoms 3 --frames 2 --overwrite)" != 0 ] ||
        bad "gen over a FIFO"
    grep -q 'not a regular file' "$T/err" || bad "gen over a FIFO: message"
else
    echo "mkfifo unavailable: FIFO checks skipped"
fi

[ $fail = 0 ] && echo "cli damage: all checks passed"
exit $fail
