#!/bin/sh
# prismio convert to and from Arrow IPC files: round trips (frames layout:
# everything but the topology; atoms layout: positions, velocities, forces
# and the topology), selections, errors and exit codes.
# usage: test_arrow_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$1

"$P" gen "$T/in.holo" --atoms 60 --frames 30 --fields x,v,f --seed 5 >/dev/null || bad "gen"
dump_all() { # FILE FRAMES: every frame's csv dump
    i=0
    while [ $i -lt "$2" ]; do "$P" dump "$1" --frame $i; i=$((i + 1)); done
}

# frames layout: HOLO -> Arrow -> HOLO keeps every frame, box, step, time
# and scalar; the file verifies
[ "$(code "$P" convert "$T/in.holo" "$T/f.arrow" --quiet)" = 0 ] || bad "to arrow: $(cat "$T/err")"
[ "$(code "$P" convert "$T/f.arrow" "$T/f.holo" --quiet)" = 0 ] || bad "from arrow: $(cat "$T/err")"
"$P" verify "$T/f.holo" >/dev/null || bad "verify the imported file"
dump_all "$T/in.holo" 30 >"$T/want"
dump_all "$T/f.holo" 30 >"$T/got"
cmp -s "$T/want" "$T/got" || bad "frames layout round trip changed values"
"$P" info "$T/in.holo" | grep -E '^(frames|atoms|fields|steps|time):' >"$T/i1"
"$P" info "$T/f.holo" | grep -E '^(frames|atoms|fields|steps|time):' >"$T/i2"
cmp -s "$T/i1" "$T/i2" || bad "frames layout round trip: info differs: $(diff "$T/i1" "$T/i2")"
ls "$T"/*.part >/dev/null 2>&1 && bad "a .part file was left behind"

# atoms layout: positions, velocities, forces, step, time, topology
[ "$(code "$P" convert "$T/in.holo" "$T/a.arrow" --layout atoms --quiet)" = 0 ] ||
    bad "to arrow (atoms): $(cat "$T/err")"
[ "$(code "$P" convert "$T/a.arrow" "$T/a.holo" --quiet)" = 0 ] || bad "from arrow (atoms): $(cat "$T/err")"
dump_all "$T/a.holo" 30 >"$T/got"
cmp -s "$T/want" "$T/got" || bad "atoms layout round trip changed values"
"$P" info "$T/a.holo" | grep -q 'topology: *60 atoms' || bad "atoms layout: topology lost"

# selections on the way out: frames 2:20:3 (6 frames), atoms 'name OW'
"$P" convert "$T/in.holo" "$T/sel.holo" --frames 2:20:3 --atoms 'name OW' --quiet || bad "select to holo"
for layout in frames atoms; do
    [ "$(code "$P" convert "$T/in.holo" "$T/sel-$layout.arrow" --frames 2:20:3 --atoms 'name OW' \
        --layout $layout --quiet)" = 0 ] || bad "select to arrow $layout: $(cat "$T/err")"
    "$P" convert "$T/sel-$layout.arrow" "$T/sel-$layout.holo" --quiet || bad "back from $layout"
    dump_all "$T/sel.holo" 6 >"$T/want"
    dump_all "$T/sel-$layout.holo" 6 >"$T/got"
    cmp -s "$T/want" "$T/got" || bad "selection through $layout differs"
done

# errors: bad layout (64), existing output (73/EEXIST), not an Arrow file
# and a damaged one (65), named with the file
[ "$(code "$P" convert "$T/in.holo" "$T/x.arrow" --layout rows)" = 64 ] || bad "--layout rows accepted"
grep -q "layout is frames or atoms" "$T/err" || bad "layout message: $(cat "$T/err")"
rc=$(code "$P" convert "$T/in.holo" "$T/f.arrow")
[ "$rc" != 0 ] && grep -q 'f.arrow' "$T/err" || bad "existing output overwritten ($rc): $(cat "$T/err")"
printf 'ARROW1\0\0not really an arrow file at all....ARROW1' >"$T/fake.arrow"
rc=$(code "$P" convert "$T/fake.arrow" "$T/x.holo")
[ "$rc" = 65 ] && grep -q 'fake.arrow' "$T/err" || bad "fake arrow: $rc $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 1 ] || bad "error is not one line: $(cat "$T/err")"
size=$(wc -c <"$T/f.arrow")
head -c $((size - 100)) "$T/f.arrow" >"$T/cut.arrow"
rc=$(code "$P" convert "$T/cut.arrow" "$T/x.holo")
[ "$rc" = 65 ] && grep -q 'cut.arrow' "$T/err" || bad "truncated arrow: $rc $(cat "$T/err")"
[ -e "$T/x.holo" ] && bad "a failed import left an output"
exit $fail
