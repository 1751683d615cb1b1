#!/bin/sh
# The shared option parser (src/cli/cli_args.c) seen from every command:
# generated --help, one-line usage errors naming command and option (exit
# 64; b3sum keeps 1), --opt=value, "--", required options and arguments,
# and the global options before or after the command.
# usage: test_args_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

# one line on stderr, exactly $2, and exit status $1, for the rest of the line
usage_err() {
    want_rc=$1 want=$2
    shift 2
    rc=$(code "$@")
    [ "$rc" = "$want_rc" ] || bad "$*: exit $rc, not $want_rc"
    [ "$(wc -l <"$T/err")" = 1 ] || bad "$*: not one line on stderr: $(cat "$T/err")"
    [ "$(cat "$T/err")" = "$want" ] || bad "$*: stderr '$(cat "$T/err")', not '$want'"
    [ -s "$T/out" ] && bad "$*: printed on stdout: $(cat "$T/out")"
}

"$P" gen "$T/f.holo" --atoms 30 --frames 4 --fields x,v >/dev/null || bad "gen"

# --help and -h for every command, every benchmark and trace's subcommand:
# stdout, exit 0, a usage line and the options section with -h, --help
cmds=$("$P" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
[ -n "$cmds" ] || bad "prismio --help lists no commands"
benches=$("$P" bench --help | awk '/^benchmarks:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
[ "$(echo $benches)" = "hash read write remote commit ring convert arrow compress mpi workflow" ] || bad "benchmarks listed: $(echo $benches)"
for c in "" $cmds "trace summarize" $(for b in $benches; do echo "bench_$b"; done); do
    c=$(echo "$c" | tr _ ' ')
    for h in --help -h; do
        # shellcheck disable=SC2086
        [ "$(code "$P" $c $h)" = 0 ] || bad "prismio $c $h: exit"
        [ -s "$T/err" ] && bad "prismio $c $h: stderr: $(cat "$T/err")"
        head -n 1 "$T/out" | grep -q "^usage: prismio${c:+ $c}" || bad "prismio $c $h: usage line: $(head -n 1 "$T/out")"
        grep -q '^options:$' "$T/out" || bad "prismio $c $h: no options section"
        grep -Eq '^  -h, --help +this help$' "$T/out" || bad "prismio $c $h: no -h, --help row"
    done
    [ -n "$c" ] && ! grep -q '^  --stats, --stats-json FILE, --trace FILE$' "$T/out" &&
        bad "prismio $c --help does not mention the global options"
    awk -v c="$c" 'length($0) > 79 { print "FAIL: prismio " c " --help: line over 79 columns: " $0; exit 1 }' \
        "$T/out" >&2 || fail=1
done
# help comes from the table: every row the parser knows is listed
"$P" convert --help >"$T/h"
for o in top frames atoms drop threads batch memory commit-every overwrite precision layout engine \
    direct no-verify quiet strict; do
    grep -Eq "^  (-., |    )--$o( |$)" "$T/h" || bad "convert --help lacks --$o"
done
grep -Eq '^  -q, --quiet ' "$T/h" || bad "short option shown as -q, --quiet"

# unknown option: every command, the same line (b3sum: exit 1 like b3sum)
for c in $cmds; do
    rc=64
    [ "$c" = b3sum ] && rc=1
    usage_err $rc "prismio $c: unknown option '--no-such-option' (see --help)" "$P" "$c" --no-such-option
done
usage_err 64 "prismio bench read: unknown option '--nope' (see --help)" "$P" bench read "$T/f.holo" --nope
usage_err 64 "prismio info: unknown option '-Z' (see --help)" "$P" info "$T/f.holo" -Z
usage_err 64 "prismio: unknown option '--bogus' (see --help)" "$P" --bogus info "$T/f.holo"

# a missing value, a bad number, a bad choice, a value for a flag
usage_err 64 "prismio dump: option '--frame' needs a value (N)" "$P" dump "$T/f.holo" --frame
usage_err 64 "prismio convert: option '--atoms' needs a value (SPEC)" "$P" convert "$T/f.holo" "$T/o.holo" --atoms
usage_err 1 "prismio b3sum: option '-l' needs a value (N)" "$P" b3sum -l
usage_err 64 "prismio verify: --threads is a whole number from 0 to 1024, not 'x'" "$P" verify "$T/f.holo" --threads x
usage_err 64 "prismio verify: --threads is a whole number from 0 to 1024, not '5000'" "$P" verify "$T/f.holo" --threads=5000
usage_err 64 "prismio dump: --frame is a whole number, not '-1'" "$P" dump "$T/f.holo" --frame -1
usage_err 64 "prismio gen: --atoms is a whole number from 1 to 2147483647 (k, M, G suffixes allowed), not '1X'" \
    "$P" gen "$T/g.holo" --atoms 1X
usage_err 64 "prismio convert: --precision is a positive number, not 'nan'" "$P" convert "$T/f.holo" "$T/o.xtc" --precision nan
usage_err 64 "prismio bench ring: --items is a whole number of at least 1 (k, M, G suffixes allowed), not '0'" \
    "$P" bench ring --items 0
usage_err 1 "prismio b3sum: --length is a whole number from 0 to 4294967296, not 'abc'" "$P" b3sum -l abc
usage_err 64 "prismio dump: --format is csv or xyz, not 'pdf'" "$P" dump "$T/f.holo" --frame 0 --format pdf
usage_err 64 "prismio verify: --engine is auto, mmap, pread or uring, not 'floppy'" "$P" verify "$T/f.holo" --engine=floppy
usage_err 64 "prismio info: option '--json' takes no value" "$P" info "$T/f.holo" --json=yes
[ -e "$T/o.holo" ] || [ -e "$T/o.xtc" ] || [ -e "$T/g.holo" ] && bad "a refused command wrote its output"

# arguments and required options
usage_err 64 "prismio info: missing FILE (see --help)" "$P" info
usage_err 64 "prismio convert: missing OUT (see --help)" "$P" convert "$T/f.holo"
usage_err 64 "prismio info: unexpected argument 'two' (see --help)" "$P" info "$T/f.holo" two
usage_err 64 "prismio dump: missing --frame N (see --help)" "$P" dump "$T/f.holo"
usage_err 64 "prismio gen: missing --atoms N (see --help)" "$P" gen "$T/g.holo" --frames 3
usage_err 64 "prismio bench: missing BENCHMARK (see --help)" "$P" bench
usage_err 64 "prismio bench: unknown benchmark 'nope' (see --help)" "$P" bench nope
usage_err 64 "prismio trace: unknown subcommand 'nope' (see --help)" "$P" trace nope
usage_err 64 "prismio: unknown command 'frobnicate' (see --help)" "$P" frobnicate
usage_err 64 "prismio: missing COMMAND (see --help)" "$P" --stats

# --opt=value and --opt value, -lN and -l N give the same
"$P" dump "$T/f.holo" --frame 2 --format xyz >"$T/a" || bad "dump --frame 2 --format xyz"
"$P" dump "$T/f.holo" --frame=2 --format=xyz >"$T/b" || bad "dump --frame=2 --format=xyz"
"$P" dump --format=xyz --frame=2 "$T/f.holo" >"$T/c" || bad "options before the argument"
cmp -s "$T/a" "$T/b" && cmp -s "$T/a" "$T/c" || bad "--opt=value differs from --opt value"
a=$("$P" b3sum -l 8 "$T/f.holo") && b=$("$P" b3sum -l8 "$T/f.holo") && c=$("$P" b3sum --length=8 "$T/f.holo") ||
    bad "b3sum length forms"
[ "$a" = "$b" ] && [ "$a" = "$c" ] && [ ${#a} -gt 16 ] || bad "b3sum -l 8 / -l8 / --length=8: '$a' '$b' '$c'"

# "--" ends the options: what follows is an argument
printf x >"$T/--json"
(cd "$T" && "$P" b3sum -- --json) >"$T/out" 2>&1 || bad "b3sum -- --json: $(cat "$T/out")"
grep -q '  --json$' "$T/out" || bad "b3sum -- FILE hashes the file: $(cat "$T/out")"
[ "$(code "$P" info -- "$T/nope.holo")" = 66 ] || bad "info -- FILE"
rc=$(cd "$T" && "$P" b3sum -- --stats 2>"$T/err" >/dev/null; echo $?)
[ "$rc" = 1 ] && [ "$(cat "$T/err")" = "prismio b3sum: --stats: No such file or directory" ] ||
    bad "a global option after -- is a file name ($rc): $(cat "$T/err")"

# global options before or after the command (and after a benchmark)
rm -f "$T/t.json"
[ "$(code "$P" --trace "$T/t.json" verify "$T/f.holo")" = 0 ] || bad "--trace before the command: $(cat "$T/err")"
grep -q '"traceEvents"' "$T/t.json" 2>/dev/null || bad "--trace before the command wrote no trace"
[ "$(code "$P" verify "$T/f.holo" --trace="$T/t2.json")" = 0 ] || bad "--trace=FILE after the command"
grep -q '"traceEvents"' "$T/t2.json" 2>/dev/null || bad "--trace=FILE after the command wrote no trace"
[ "$(code "$P" --stats info "$T/f.holo")" = 0 ] || bad "--stats before the command"
grep -Eq '^open +mmap +1 ' "$T/err" || bad "--stats before the command: $(cat "$T/err")"
[ "$(code "$P" info --stats "$T/f.holo")" = 0 ] || bad "--stats between"
grep -Eq '^open ' "$T/err" || bad "--stats between the command and its argument: $(cat "$T/err")"
[ "$(code "$P" --stats bench ring --items 1000 --repeat 1 --json)" = 0 ] || bad "bench ring with --stats"
grep -q '"ck_built":' "$T/out" || bad "bench ring --json says whether the ck peer is built: $(cat "$T/out")"
usage_err 64 "prismio: option '--trace' needs a value (FILE)" "$P" --trace
usage_err 64 "prismio verify: option '--trace' needs a value (FILE)" "$P" verify "$T/f.holo" --trace

[ $fail = 0 ] && echo "cli args: all checks passed"
exit $fail
