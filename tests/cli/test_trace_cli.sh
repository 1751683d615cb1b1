#!/bin/sh
# Global --stats and --trace, prismio trace summarize, and the SIGUSR1 dump.
# usage: test_trace_cli.sh PRISMIO
. "$(dirname "$0")/harness.sh"
P=$1

"$P" gen "$T/in.holo" --atoms 500 --frames 100 --fields x,v --seed 2 >/dev/null || bad "gen"
"$P" convert "$T/in.holo" "$T/out.holo" --frames ::2 --batch 8 --quiet --stats --trace "$T/t.json" \
    2>"$T/stats" || bad "convert with --stats --trace: $(cat "$T/stats")"
for op in open read write commit fsync; do
    grep -Eq "^$op " "$T/stats" || bad "--stats has no $op row: $(cat "$T/stats")"
done
grep -Eq '^read +pread +50 ' "$T/stats" || bad "--stats: 50 pread reads: $(grep read "$T/stats")"
# --stats-json FILE: the same counters as one JSON object in FILE
"$P" convert "$T/in.holo" "$T/out_s.holo" --frames ::2 --batch 8 --quiet --stats-json "$T/s.json" \
    2>"$T/err" || bad "convert --stats-json: $(cat "$T/err")"
[ -s "$T/err" ] && bad "--stats-json prints nothing: $(cat "$T/err")"
if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=json.dumps(j); sys.exit(0 if "pread" in s and "commit" in s else 1)' "$T/s.json" ||
        bad "--stats-json: not JSON with the reads and commits: $(head -c 300 "$T/s.json")"
fi
[ "$(code "$P" verify "$T/in.holo" --stats-json "$T/no/such/dir.json")" = 74 ] ||
    bad "--stats-json to a path that cannot be written: exit 74"
if command -v node >/dev/null 2>&1; then
    node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));
        const n = j.traceEvents.filter(e => e.name === "read" && e.cat === "pread").length;
        if (n !== 50 || !j.traceEvents.some(e => e.name === "commit")) process.exit(1)' "$T/t.json" \
        || bad "the trace is not JSON with 50 pread reads and a commit"
elif [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if sum(e["name"]=="read" for e in j["traceEvents"])==50 else 1)' "$T/t.json" \
        || bad "the trace is not JSON with 50 reads"
fi
"$P" trace summarize "$T/t.json" >"$T/sum" || bad "trace summarize"
grep -Eq '^read +50 ' "$T/sum" || bad "summary of reads: $(cat "$T/sum")"
# verify through a mapping: its reading (pages touched) and hashing show,
# per batch, with the bytes of every record; a compressed file's decoding
if [ -x /usr/bin/python3 ]; then
    PIO_IO_ENGINE=mmap "$P" verify --trace "$T/v.json" "$T/in.holo" >/dev/null || bad "verify --trace"
    /usr/bin/python3 -c 'import json, os, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
size = os.path.getsize(sys.argv[2])
for op in ("read", "hash"):
    got = sum(e["args"]["bytes"] for e in ev if e["name"] == op and e["cat"] == "mmap")
    if not 0.9 * size < got <= size:
        sys.exit("%s: %d bytes of a %d-byte file" % (op, got, size))' "$T/v.json" "$T/in.holo" \
        || bad "verify on mmap: the trace lacks read and hash of the records"
    "$P" convert "$T/in.holo" "$T/z.holo" --compress lossy --quiet 2>"$T/zerr"
    rc=$?
    if [ "$rc" = 69 ]; then # a build without zstd (it says so): nothing compressed to decode
        grep -q zstd "$T/zerr" || bad "no zstd: $(cat "$T/zerr")"
    else
        [ "$rc" = 0 ] || bad "convert --compress: $(cat "$T/zerr")"
        "$P" verify --decode --trace "$T/d.json" "$T/z.holo" >/dev/null || bad "verify --decode"
        /usr/bin/python3 -c 'import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
sys.exit(0 if sum(e["args"]["bytes"] for e in ev if e["name"] == "decode") >= 100 * 500 * 12 else 1)' \
            "$T/d.json" || bad "verify --decode: the trace has no decode of every frame"
    fi
fi
# without --stats/--trace nothing is printed or written
"$P" convert "$T/in.holo" "$T/out2.holo" --quiet 2>"$T/err"
[ -s "$T/err" ] && bad "telemetry output without asking: $(cat "$T/err")"
# SIGUSR1 writes the dump on demand and the command goes on
"$P" gen "$T/long.holo" --atoms 20000 --frames 1000000 --seed 3 --trace "$T/g.json" >/dev/null 2>&1 &
pid=$!
sleep 1
kill -USR1 "$pid" 2>/dev/null
sleep 0.5
kill -0 "$pid" 2>/dev/null || bad "SIGUSR1 must not stop the command"
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
grep -q '^prismio flight recorder dump, pid [0-9]*, signal 10$' "$T/g.json.crash" \
    || bad "SIGUSR1 dump: $(head -2 "$T/g.json.crash" 2>&1)"
grep -Eq '^event .* op=write engine=pread ' "$T/g.json.crash" || bad "the dump has write events"
"$P" trace summarize "$T/g.json.crash" >"$T/sum2" || bad "summarize a dump"
grep -q 'crash dump' "$T/sum2" && grep -Eq '^write +[0-9]+ ' "$T/sum2" || bad "dump summary: $(cat "$T/sum2")"
printf 'garbage\n' >"$T/junk"
"$P" trace summarize "$T/junk" >/dev/null 2>&1 && bad "junk is not a trace"
exit $fail
