#!/bin/sh
# prismio info | dump | convert --follow on a file another process is
# writing (prismio gen --commit-every --pause): every frame, ending at the
# final commit with exit 0; a killed writer: exit 74 after --timeout,
# saying the file is not final; usage errors (64). Then truncate and
# compact.
# usage: test_follow_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$1

# a writer committing every 3 frames, 5 ms apart: 90 frames of 7 atoms
live() {
    rm -f "$1"
    "$P" gen "$1" --atoms 7 --frames 90 --commit-every 3 --pause 5 --seed 9 &
    GEN=$!
    # the followers open the file once its header is there
    for _ in $(seq 200); do [ -s "$1" ] && break; sleep 0.01; done
}

live "$T/a.holo"
"$P" info "$T/a.holo" --follow --timeout 20 >"$T/info" 2>"$T/err" || bad "info --follow: $(cat "$T/err")"
wait $GEN || bad "the writer failed"
grep -q '^final: *90 frames' "$T/info" || bad "info --follow ends at the final commit: $(tail -3 "$T/info")"
prev=0
for n in $(sed -n 's/^frames: *\([0-9]*\) (+.*/\1/p' "$T/info"); do
    [ "$n" -gt "$prev" ] || bad "info --follow counts go up: $prev then $n"
    prev=$n
done

live "$T/b.holo"
"$P" info "$T/b.holo" --follow --json --timeout 20 >"$T/json" 2>"$T/err" || bad "info --follow --json"
wait $GEN
tail -1 "$T/json" | grep -q '^{"frames":90,"final":true}$' || bad "info --follow --json: $(tail -1 "$T/json")"
grep -q '"added":' "$T/json" || bad "info --follow --json has update lines"

live "$T/c.holo"
"$P" dump "$T/c.holo" --frame 0 --follow --timeout 20 >"$T/dump" 2>"$T/err" || bad "dump --follow: $(cat "$T/err")"
wait $GEN
[ "$(wc -l <"$T/dump")" = $((1 + 90 * 7)) ] || bad "dump --follow: $(wc -l <"$T/dump") lines, not 1 + 90 x 7"
head -1 "$T/dump" | grep -q '^frame,atom,x,y,z$' || bad "dump --follow csv header"
tail -1 "$T/dump" | grep -q '^89,6,' || bad "dump --follow ends with frame 89"
# the same frames as dumped from the finished file
for f in 0 45 89; do
    "$P" dump "$T/c.holo" --frame $f | tail -n +2 | sed "s/^/$f,/" >"$T/one"
    grep "^$f," "$T/dump" | cmp -s - "$T/one" || bad "dump --follow frame $f differs from dump"
done

live "$T/d.holo"
"$P" convert "$T/d.holo" "$T/d.xtc" --follow --timeout 20 >"$T/out" 2>"$T/err" ||
    bad "convert --follow: $(cat "$T/err")"
wait $GEN
grep -q 'd.xtc: 90 frames' "$T/out" || bad "convert --follow: $(cat "$T/out")"
"$P" convert "$T/d.xtc" "$T/back.holo" --quiet || bad "convert the followed XTC back"
"$P" info "$T/back.holo" | grep -q '^frames: *90$' || bad "the XTC holds 90 frames"

# a writer killed with SIGKILL: exit 74 after --timeout, not final
rm -f "$T/k.holo"
"$P" gen "$T/k.holo" --atoms 7 --frames 1000000 --commit-every 1 --pause 2 &
GEN=$!
for _ in $(seq 200); do [ -s "$T/k.holo" ] && break; sleep 0.01; done
sleep 0.2
kill -9 $GEN
wait $GEN 2>/dev/null
[ "$(code "$P" info "$T/k.holo" --follow --timeout 0.3)" = 74 ] || bad "a killed writer: exit 74"
grep -q 'not final' "$T/err" || bad "a killed writer: the message says not final: $(cat "$T/err")"
"$P" info "$T/k.holo" | grep -q '^state: *open' || bad "info says the killed writer's file is open"
[ "$(code "$P" dump "$T/k.holo" --frame 0 --follow --timeout 0.3)" = 74 ] || bad "dump of a killed writer"

# usage
[ "$(code "$P" info "$T/a.holo" --timeout 1)" = 0 ] || true # --timeout alone is harmless for info
[ "$(code "$P" convert "$T/a.holo" "$T/x.xtc" --follow --frames 0:3)" = 64 ] || bad "--follow --frames"
[ "$(code "$P" convert "$T/a.holo" "$T/x.xtc" --timeout 3)" = 64 ] || bad "convert --timeout alone"
[ "$(code "$P" convert "$T/d.xtc" "$T/x.holo" --follow)" = 64 ] || bad "--follow of an XTC"
"$P" gen "$T/old.holo" --atoms 3 --frames 2 --format-1
[ "$(code "$P" info "$T/old.holo" --follow)" = 64 ] || bad "--follow of a 1.x file needs --timeout"
grep -q 'no final mark' "$T/err" || bad "the 1.x refusal says why"
[ "$(code "$P" info "$T/old.holo" --follow --timeout 0.2)" = 74 ] || bad "1.x with --timeout"
[ "$(code "$P" info "$T/a.holo" --follow --timeout -1)" = 64 ] || bad "a negative timeout"

# truncate (restart from a checkpoint) and compact
"$P" gen "$T/t.holo" --atoms 5 --frames 40 --commit-every 1 --seed 3 >/dev/null
size0=$(wc -c <"$T/t.holo")
"$P" truncate "$T/t.holo" --after-step 1500 >"$T/out" 2>"$T/err" || bad "truncate: $(cat "$T/err")"
grep -q 'kept 16 frames, dropped 24' "$T/out" || bad "truncate --after-step 1500: $(cat "$T/out")"
"$P" info "$T/t.holo" | grep -q '^steps: *0 to 1500$' || bad "truncate: the steps after"
"$P" verify "$T/t.holo" >/dev/null || bad "verify after truncate"
[ "$(wc -c <"$T/t.holo")" -gt "$size0" ] || bad "truncate appends, never cuts"
"$P" compact "$T/t.holo" "$T/c2.holo" >"$T/out" || bad "compact"
grep -q 'c2.holo: 16 frames' "$T/out" || bad "compact summary: $(cat "$T/out")"
[ "$(wc -c <"$T/c2.holo")" -lt "$(wc -c <"$T/t.holo")" ] || bad "compact makes it smaller"
"$P" verify "$T/c2.holo" >/dev/null || bad "verify the compacted copy"
for f in 0 15; do
    "$P" dump "$T/t.holo" --frame $f >"$T/a" && "$P" dump "$T/c2.holo" --frame $f >"$T/b" &&
        cmp -s "$T/a" "$T/b" || bad "compact: frame $f differs"
done
"$P" truncate "$T/t.holo" --keep 20 >/dev/null 2>&1 && bad "truncate --keep past the end"
[ "$(code "$P" truncate "$T/t.holo")" = 64 ] || bad "truncate needs an option"
[ "$(code "$P" truncate "$T/t.holo" --keep 1 --after-step 3)" = 64 ] || bad "truncate: one option"
[ "$(code "$P" truncate "$T/old.holo" --keep 1)" = 65 ] || bad "truncate of a 1.x file"
[ "$(code "$P" compact "$T/t.holo" "$T/t.holo")" = 64 ] || bad "compact onto itself"
[ "$(code "$P" compact "$T/t.holo" "$T/c2.holo")" = 74 ] || bad "compact over an existing file"

[ $fail = 0 ] && echo "cli follow: all checks passed"
exit $fail
