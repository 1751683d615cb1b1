#!/bin/sh
# prismio run: a job over 4 runs made from tests/data (convert with a
# topology, subsample, verify). The first run does everything; the second
# skips everything; a touched (mtime only) input skips too; a changed input,
# a changed topology or a removed output reruns exactly its dependants;
# a lost state file is rebuilt from the keys in the .holo outputs; --dry-run
# changes nothing; kill -9 at random points, then a rerun, gives outputs
# identical to an uninterrupted run's; malformed jobs (line and column), an
# input matching nothing, a failing step (its dependants blocked, the
# others done; --fail-fast), a locked state file; --trace; and the Dask
# executor (a LocalCluster) gives the same outputs.
# usage: test_run.sh PRISMIO DATA_DIR
. "$(dirname "$0")/../cli/harness.sh"
P=$1
D=$2
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

# a build without libyaml cannot read jobs (test_build_minimal.sh checks
# how it says so)
printf 'inputs: {}\n' >"$T/probe.yaml"
if [ "$(code "$P" run "$T/probe.yaml")" = 69 ] && grep -q 'no YAML parser' "$T/err"; then
    echo "this build has no libyaml: prismio run is not tested here"
    exit 77
fi

# the statuses of a --json report: "step item status" lines, sorted
statuses() { $PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
for s in sorted(r["steps"], key=lambda s: (s["step"], s["item"])):
    print(s["step"], s["item"], s["status"])' "$1"; }
# the statuses not equal to $2
count_not() { statuses "$1" | awk -v s="$2" '$3 != s' | wc -l; }

# four runs: the peptide's frames, a different share of them in each
mkjob() {
    mkdir -p "$1/runs"
    n=0
    for r in a b c d; do
        mkdir -p "$1/runs/$r"
        n=$((n + 40))
        "$P" convert "$D/peptide.xtc" "$1/runs/$r/md.xtc" --frames "0:$n" -q || bad "making run $r"
        cp "$D/peptide.gro" "$1/runs/$r/conf.gro"
    done
    cat >"$1/job.yaml" <<'EOF'
# the issue's example
inputs:
  md: runs/*/md.xtc
steps:
  holo:  {run: convert, from: md,   to: "out/{name}.holo", with: {top: "runs/{name}/conf.gro"}}
  sub:   {run: convert, from: holo, to: "out/{name}.sub.holo", with: {frames: "::2"}}
  check: {run: verify,  from: sub}
EOF
}

J=$T/j
mkjob "$J"
rc=$(code "$P" run "$J/job.yaml" --json)
cp "$T/out" "$T/r1.json"
[ "$rc" = 0 ] || bad "first run: exit $rc: $(cat "$T/err")"
[ "$(statuses "$T/r1.json" | wc -l)" = 12 ] || bad "first run: 12 tasks: $(statuses "$T/r1.json")"
[ "$(count_not "$T/r1.json" done)" = 0 ] || bad "first run does everything: $(statuses "$T/r1.json")"
n=0
for r in a b c d; do
    n=$((n + 40))
    "$P" verify "$J/out/$r.sub.holo" >/dev/null 2>&1 || bad "$r.sub.holo verifies"
    f=$("$P" info "$J/out/$r.holo" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["frames"])')
    [ "$f" = $n ] || bad "$r.holo: $f frames, not $n"
    f=$("$P" info "$J/out/$r.sub.holo" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["frames"])')
    [ "$f" = $((n / 2)) ] || bad "$r.sub.holo: $f frames, not $((n / 2))"
    "$P" info "$J/out/$r.sub.holo" | grep -q 'prismio.run.key = [0-9a-f]\{64\}' || bad "$r.sub.holo carries its key"
done
[ -z "$(find "$J" -name '.part-*')" ] || bad "temporary outputs left: $(find "$J" -name '.part-*')"
[ ! -e "$J/job.yaml.logs" ] || bad "no logs are kept when every step succeeds"
$PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
for s in r["steps"]:
    assert s["seconds"] >= 0 and s["exit"] == 0, s
    assert len(s["key"]) == 64, s
    if s["step"] == "holo":
        assert len(s["input_blake3"]) == 64 and "input_key" not in s, s
    else:
        assert len(s["input_key"]) == 64 and "input_blake3" not in s, s
    assert "telemetry" in s and isinstance(s["telemetry"], dict), s
    assert s["telemetry"], s
    if s["step"] != "check":
        assert s["output_bytes"] > 0 and s["frames"] > 0, s' "$T/r1.json" || bad "report fields: $(head -c 600 "$T/r1.json")"
b3() { (cd "$J" && "$P" b3sum out/*.holo); }
b3 >"$T/sums1"
(cd "$J" && "$P" b3sum out/d.sub.holo) >"$T/dsub"

# the second run skips everything and touches nothing
rc=$(code "$P" run "$J/job.yaml" --json)
[ "$rc" = 0 ] || bad "second run: exit $rc"
[ "$(count_not "$T/out" skipped)" = 0 ] || bad "second run skips everything: $(statuses "$T/out")"
b3 | cmp -s - "$T/sums1" || bad "second run changed an output"

# content, not time: a touched input is still up to date
touch "$J/runs/a/md.xtc"
rc=$(code "$P" run "$J/job.yaml" --json)
[ "$(count_not "$T/out" skipped)" = 0 ] || bad "touch (same bytes) reruns nothing: $(statuses "$T/out")"

# a changed input: its holo, sub and check, nothing else
"$P" convert "$D/peptide.xtc" "$J/runs/b/md.xtc" --frames 1:81 -q --overwrite
rc=$(code "$P" run "$J/job.yaml" --json)
[ "$rc" = 0 ] || bad "after a changed input: exit $rc"
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'check b\nholo b\nsub b\n' | cmp -s - "$T/ran" || bad "a changed input reruns exactly its dependants: $(cat "$T/ran")"

# a changed parameter file (the topology of run c): c's steps
sed 's/ N / NX/' "$D/peptide.gro" >"$J/runs/c/conf.gro"
cmp -s "$D/peptide.gro" "$J/runs/c/conf.gro" && bad "the topology edit changed nothing"
rc=$(code "$P" run "$J/job.yaml" --json)
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'check c\nholo c\nsub c\n' | cmp -s - "$T/ran" || bad "a changed topology reruns c's steps: $(cat "$T/ran")"

# a removed output: the step that made it; it makes the same bytes (the
# salt is the key's), so check d, reading them, stays up to date
rm "$J/out/d.sub.holo"
rc=$(code "$P" run "$J/job.yaml" --json)
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'sub d\n' | cmp -s - "$T/ran" || bad "a removed output reruns sub d alone: $(cat "$T/ran")"
(cd "$J" && "$P" b3sum out/d.sub.holo) | cmp -s - "$T/dsub" || bad "sub d remade other bytes"
grep -q '"why": "its output out/d.sub.holo is gone"' "$T/out" || bad "why: the output is gone"

# a lost state file: the .holo outputs' keys say they are up to date; the
# checks (no output) run again
rm "$J/job.yaml.state"
b3 >"$T/sums2"
rc=$(code "$P" run "$J/job.yaml" --json)
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'check a\ncheck b\ncheck c\ncheck d\n' | cmp -s - "$T/ran" || bad "without state: only the checks run: $(cat "$T/ran")"
b3 | cmp -s - "$T/sums2" || bad "without state: no output rewritten"

# a run that grew (frames appended to its XTC): its conversion is updated
# by appending the new frames (the same frames as a fresh conversion),
# what reads it runs again; put back as it was, it is converted afresh
# (outputs taken back by their keys, above, are never appended to: what
# they were made from is not known to the byte; d.holo is made again here)
rm "$J/out/d.holo"
"$P" run "$J/job.yaml" -q || bad "remaking d.holo"
cp "$J/runs/d/md.xtc" "$T/d.old.xtc"
"$P" convert "$D/peptide.xtc" "$T/more.xtc" --frames 160:185 -q
cat "$T/more.xtc" >>"$J/runs/d/md.xtc"
rc=$(code "$P" run "$J/job.yaml" --dry-run)
grep -q '^run    holo d: its input grew ([0-9]* bytes more): appending its frames from 160 -> out/d.holo$' "$T/out" ||
    bad "--dry-run: a grown input is appended: $(grep 'holo d' "$T/out")"
rc=$(code "$P" run "$J/job.yaml" --json)
[ "$rc" = 0 ] || bad "a grown input: exit $rc: $(cat "$T/err")"
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'check d\nholo d\nsub d\n' | cmp -s - "$T/ran" || bad "a grown input reruns d's steps: $(cat "$T/ran")"
grep -q '"appended_frames": 25' "$T/out" || bad "the report: 25 frames appended: $(grep '"holo", "item": "d"' "$T/out")"
"$P" verify "$J/out/d.holo" >/dev/null || bad "the appended d.holo verifies"
"$P" convert "$J/runs/d/md.xtc" "$T/fresh.holo" -q --top "$J/runs/d/conf.gro"
"$P" convert "$T/fresh.holo" "$T/fresh.xtc" -q
"$P" convert "$J/out/d.holo" "$T/grown.xtc" -q
cmp -s "$T/fresh.xtc" "$T/grown.xtc" || bad "the appended d.holo holds a fresh conversion's frames"
[ "$("$P" info "$J/out/d.sub.holo" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["frames"])')" = 93 ] ||
    bad "sub d follows the grown run: 93 frames"
# an append that fails (frames of another atom count) is not tried again:
# the next run converts afresh (and fails the same way, for its own reason)
cp "$J/runs/d/md.xtc" "$T/d.grown.xtc"
"$P" convert "$D/water.trr" "$T/water.xtc" -q
cat "$T/water.xtc" >>"$J/runs/d/md.xtc"
rc=$(code "$P" run "$J/job.yaml" --json)
grep -q '"step": "holo", "item": "d", "status": "failed".*"why": "its input grew' "$T/out" ||
    bad "a failing append: $(grep '"holo", "item": "d"' "$T/out" | head -c 300)"
rc=$(code "$P" run "$J/job.yaml" --dry-run)
grep -q '^run    holo d: its input changed' "$T/out" || bad "after a failed append, a fresh conversion: $(grep 'holo d' "$T/out")"
cp "$T/d.grown.xtc" "$J/runs/d/md.xtc"
"$P" run "$J/job.yaml" -q || bad "back to the grown run"
# a text trajectory that grew is converted afresh (a line cut by a writer
# still reads as a frame: only whole-record formats are appended to)
XY=$T/xy
mkdir -p "$XY/runs/p"
"$P" convert "$D/peptide.xtc" "$XY/runs/p/t.xyz" --frames 0:3 -q
printf '%s\n' 'inputs:' '  t: runs/*/t.xyz' 'steps:' '  holo: {run: convert, from: t, to: "out/{name}.holo"}' >"$XY/job.yaml"
"$P" run "$XY/job.yaml" -q || bad "an xyz job"
"$P" convert "$D/peptide.xtc" "$T/more.xyz" --frames 3:5 -q
cat "$T/more.xyz" >>"$XY/runs/p/t.xyz"
rc=$(code "$P" run "$XY/job.yaml" --json)
grep -q '"why": "its input changed"' "$T/out" && ! grep -q appended_frames "$T/out" ||
    bad "a grown xyz: converted afresh: $(head -c 400 "$T/out")"
cp "$T/d.old.xtc" "$J/runs/d/md.xtc"
rc=$(code "$P" run "$J/job.yaml" --json)
grep -q '"step": "holo", "item": "d", "status": "done".*"why": "its input changed"' "$T/out" ||
    bad "put back, d is converted afresh: $(grep '"holo", "item": "d"' "$T/out" | head -c 400)"
[ "$("$P" info "$J/out/d.holo" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["frames"])')" = 160 ] ||
    bad "put back, d.holo has its 160 frames again"
b3 >"$T/sums2"

# a step gathering every item into one file (concat): one task, after all
# of its inputs; a changed item reruns it; a failed item blocks it
G=$T/g
mkdir -p "$G"
cp -r "$J/runs" "$G/"
printf '%s\n' 'inputs:' '  md: runs/*/md.xtc' 'steps:' \
    '  holo: {run: convert, from: md, to: "out/{name}.holo", with: {top: "runs/{name}/conf.gro"}}' \
    '  all: {run: concat, from: holo, to: "out/all.holo"}' >"$G/job.yaml"
rc=$(code "$P" run "$G/job.yaml" --json)
[ "$rc" = 0 ] && [ "$(count_not "$T/out" done)" = 0 ] || bad "concat job: exit $rc: $(statuses "$T/out")"
grep -q '"step": "all", "item": "all", "status": "done", "run": "concat", "inputs": \["out/a.holo", "out/b.holo", "out/c.holo", "out/d.holo"\]' "$T/out" ||
    bad "the concat task reads every item's output in order: $(grep '"all"' "$T/out" | head -c 300)"
(cd "$G" && "$P" concat out/a.holo out/b.holo out/c.holo out/d.holo "$T/cat.holo" -q) || bad "concat by hand"
"$P" convert "$T/cat.holo" "$T/cat.xyz" -q && "$P" convert "$G/out/all.holo" "$T/all.xyz" -q &&
    cmp -s "$T/cat.xyz" "$T/all.xyz" || bad "the concat step's frames are those of concat"
"$P" convert "$D/peptide.xtc" "$G/runs/b/md.xtc" --frames 5:85 -q --overwrite
rc=$(code "$P" run "$G/job.yaml" --json)
statuses "$T/out" | awk '$3 == "done" { print $1, $2 }' >"$T/ran"
printf 'all all\nholo b\n' | cmp -s - "$T/ran" || bad "a changed item reruns it and the concat: $(cat "$T/ran")"
rm "$G/runs/c/conf.gro"
"$P" convert "$D/peptide.xtc" "$G/runs/c/md.xtc" --frames 0:10 -q --overwrite
rc=$(code "$P" run "$G/job.yaml" --json)
statuses "$T/out" >"$T/st"
grep -q '^holo c failed$' "$T/st" && grep -q '^all all blocked$' "$T/st" ||
    bad "a failed item blocks the concat: $(cat "$T/st")"
check_g() { # LINE:COL, a piece of the message, the step's line
    printf '%s\n' 'inputs:' '  md: runs/*/md.xtc' 'steps:' "$3" >"$G/job.yaml"
    rc=$(code "$P" run "$G/job.yaml")
    [ "$rc" = 65 ] && grep -q "job.yaml:$1: .*$2" "$T/err" || bad "concat: $2 at $1: exit $rc: $(cat "$T/err")"
}
check_g 4:36 "no {name} in 'to'" '  all: {run: concat, from: md, to: "out/{name}.holo"}'
check_g 4:64 "no {name} in its options" '  all: {run: concat, from: md, to: "out/all.holo", with: {top: "runs/{name}/conf.gro"}}'

# --dry-run: the plan, and nothing written
"$P" convert "$D/peptide.xtc" "$J/runs/a/md.xtc" --frames 0:40:2 -q --overwrite
cp "$J/job.yaml.state" "$T/state"
rc=$(code "$P" run "$J/job.yaml" --dry-run)
[ "$rc" = 0 ] || bad "--dry-run: exit $rc"
grep -q '^run    holo a: its input changed -> out/a.holo$' "$T/out" || bad "--dry-run says why holo a runs: $(cat "$T/out")"
grep -q '^run    sub a: its input comes from holo a, which will run' "$T/out" || bad "--dry-run: sub a follows"
grep -q '^skip   holo b: up to date$' "$T/out" || bad "--dry-run: holo b is up to date"
cmp -s "$J/job.yaml.state" "$T/state" || bad "--dry-run wrote the state"
b3 | cmp -s - "$T/sums2" || bad "--dry-run wrote an output"
rc=$(code "$P" run "$J/job.yaml" --dry-run --json)
[ "$(statuses "$T/out" | grep -c ' to_run$')" = 3 ] || bad "--dry-run --json: 3 to run: $(statuses "$T/out")"
rc=$(code "$P" run "$J/job.yaml" -q)
[ "$rc" = 0 ] && [ ! -s "$T/out" ] || bad "-q: exit $rc, output: $(cat "$T/out")"

# ---- kill -9 at random points, then a rerun: an uninterrupted run's bytes ----
# bigger runs, so that kills land inside steps: 6,000 atoms, 100 frames
K=$T/k
mkdir -p "$K/runs"
"$P" gen "$T/big.holo" --atoms 6000 --frames 100 --fields x,v --seed 3 >/dev/null || bad "gen"
for r in a b c; do
    mkdir -p "$K/runs/$r"
    case $r in a) fr=0:100 ;; b) fr=0:90 ;; *) fr=5:100 ;; esac
    "$P" convert "$T/big.holo" "$K/runs/$r/md.trr" -q --frames $fr || bad "making $r"
done
cat >"$K/job.yaml" <<'EOF'
inputs:
  md: runs/*/md.trr
steps:
  holo: {run: convert, from: md, to: "out/{name}.holo"}
  small: {run: compress, from: holo, to: "out/{name}.z.holo", with: {frames: "::3"}}
  xtc: {run: convert, from: small, to: "xtc/{name}.xtc"}
  sums: {run: b3sum, from: holo, to: "out/{name}.b3"}
  check: {run: verify, from: small}
  copy: {run: compact, from: small, to: "out/{name}.c.holo"}
  all: {run: concat, from: small, to: "out/all.holo"}
EOF
REF=$T/ref
cp -r "$K" "$REF"
t0=$(date +%s%N)
"$P" run "$REF/job.yaml" -q || bad "the uninterrupted run"
ref_ms=$((($(date +%s%N) - t0) / 1000000))
ref_sums() { (cd "$1" && "$P" b3sum out/* xtc/* | sort -k2); }
ref_sums "$REF" >"$T/ref.sums"
seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
echo "kill -9 at random points of a ${ref_ms} ms job, seed $seed"
hits=0
for cycle in 1 2 3; do
    rm -rf "$K/out" "$K/xtc" "$K/job.yaml.state" "$K/job.yaml.logs"
    # runs killed after a random time each (a third of the job at most),
    # each resuming the last, until one ends before its kill
    for ms in $(awk -v s="$seed$cycle" -v r="$ref_ms" 'BEGIN { srand(s); for (i = 0; i < 20; i++) printf "%d ", 5 + rand() * r / 3 }'); do
        "$P" run "$K/job.yaml" -q >/dev/null 2>&1 &
        pid=$!
        sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
        if ! kill -9 $pid 2>/dev/null; then
            wait $pid || bad "cycle $cycle: a run after kills failed"
            break
        fi
        hits=$((hits + 1))
        wait $pid 2>/dev/null
        # the children die with it (PR_SET_PDEATHSIG): none left writing
        sleep 0.1
        for f in $(find "$K" -name '.part-*'); do
            [ -e "$f" ] && [ "$(find "$f" -newermt '-0.05 seconds' 2>/dev/null)" ] && bad "kill after $ms ms: $f still being written"
        done
    done
    rc=$(code "$P" run "$K/job.yaml" --json)
    [ "$rc" = 0 ] || bad "cycle $cycle: the run after the kills: exit $rc: $(cat "$T/err")"
    ref_sums "$K" | cmp -s - "$T/ref.sums" || bad "cycle $cycle (seed $seed): after kills, outputs differ from the uninterrupted run's: $(ref_sums "$K" | diff - "$T/ref.sums")"
    [ "$(count_not "$T/out" skipped)" = 0 ] || bad "cycle $cycle: the job was complete: $(statuses "$T/out")"
    [ -z "$(find "$K" -name '.part-*')" ] || bad "cycle $cycle: temporary outputs left: $(find "$K" -name '.part-*')"
    [ ! -e "$K/job.yaml.logs" ] || bad "cycle $cycle: logs left after the kills"
done
echo "$hits kills landed while the job ran"
# SIGTERM: the commands stop, their temporary files go, exit 143
rm -rf "$K/out" "$K/xtc" "$K/job.yaml.state"
"$P" run "$K/job.yaml" --json >"$T/term.json" 2>/dev/null &
pid=$!
# once a task runs (its temporary output is there)
for _ in $(seq 500); do [ -n "$(find "$K/out" -name '.part-*' 2>/dev/null)" ] && break; sleep 0.01; done
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" = 143 ] || bad "SIGTERM: exit $rc, not 143"
[ -z "$(find "$K" -name '.part-*')" ] || bad "SIGTERM left temporary files: $(find "$K" -name '.part-*')"
grep -q '"status": "cancelled"' "$T/term.json" || bad "SIGTERM: the report shows the cancelled tasks"
rc=$(code "$P" run "$K/job.yaml" -q)
[ "$rc" = 0 ] && ref_sums "$K" | cmp -s - "$T/ref.sums" || bad "after SIGTERM, a rerun completes the job"
[ $hits -ge 3 ] || bad "only $hits kills landed while the job ran"

# ---- the same job as JSON: the same tasks, the same outputs ----
JS=$T/json
mkdir -p "$JS"
cp -r "$J/runs" "$JS/"
cat >"$JS/job.json" <<'EOF'
{"inputs": {"md": "runs/*/md.xtc"},
 "steps": {"holo": {"run": "convert", "from": "md", "to": "out/{name}.holo",
                    "with": {"top": "runs/{name}/conf.gro"}},
           "sub": {"run": "convert", "from": "holo", "to": "out/{name}.sub.holo",
                   "with": {"frames": "::2"}},
           "check": {"run": "verify", "from": "sub"}}}
EOF
rc=$(code "$P" run "$JS/job.json" --json)
[ "$rc" = 0 ] && [ "$(statuses "$T/out" | wc -l)" = 12 ] && [ "$(count_not "$T/out" done)" = 0 ] ||
    bad "a JSON job: exit $rc: $(statuses "$T/out")"
(cd "$J" && "$P" b3sum out/*.holo) | sed 's|  out/|  |' >"$T/yaml.sums"
(cd "$JS" && "$P" b3sum out/*.holo) | sed 's|  out/|  |' | cmp -s - "$T/yaml.sums" ||
    bad "the JSON job's outputs are the YAML job's bytes"
printf '{"inputs": {"md": "runs/*/md.xtc"},\n "steps": {"x": {"run": "verify" "from": "md"}}}\n' >"$JS/bad.json"
rc=$(code "$P" run "$JS/bad.json")
[ "$rc" = 65 ] && grep -q 'bad.json:2:[0-9]*: ' "$T/err" || bad "a malformed JSON job: exit $rc: $(cat "$T/err")"

# ---- errors ----
E=$T/e
mkdir -p "$E"
cp -r "$J/runs" "$E/"
job() { printf '%s\n' "$@" >"$E/job.yaml"; }
# syntax: line and column
job 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: [x' 'x'
rc=$(code "$P" run "$E/job.yaml")
[ "$rc" = 65 ] || bad "malformed YAML: exit $rc, not 65"
grep -q "^prismio run: $E/job.yaml:[0-9]*:[0-9]*: " "$T/err" || bad "malformed YAML: FILE:LINE:COL: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 1 ] || bad "malformed YAML: one line: $(cat "$T/err")"
# each mistake at its place
check_err() { # LINE:COL, a piece of the message, the job's lines...
    where=$1 what=$2
    shift 2
    job "$@"
    rc=$(code "$P" run "$E/job.yaml")
    [ "$rc" = 65 ] || bad "$what: exit $rc, not 65: $(cat "$T/err")"
    grep -q "job.yaml:$where: .*$what" "$T/err" || bad "$what at $where: $(cat "$T/err")"
}
check_err 4:15 "unknown command 'cnvert'" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: cnvert, from: md, to: "o/{name}.holo"}'
check_err 4:30 "'mdd' is neither an input nor a step" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: mdd, to: "o/{name}.holo"}'
check_err 4:38 "would be written twice" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: "o/all.holo"}'
check_err 4:38 "the only placeholder is {name}" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: "o/{nam}.holo"}'
check_err 4:9 "no 'to'" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md}'
check_err 4:62 "prismio run's to give" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: "o/{name}.holo", with: {overwrite: true}}'
check_err 4:27 "a cycle" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  x: {run: convert, from: y, to: "o/{name}.x.holo"}' '  y: {run: convert, from: x, to: "o/{name}.y.holo"}'
check_err 4:38 "job.yaml.state is the job's own file" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: "job.yaml.state"}'
check_err 4:38 "does not start with .part-" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: convert, from: md, to: "o/.part-{name}.holo"}'
check_err 3:1 "unknown key 'step'" 'inputs:' '  md: runs/*/md.xtc' 'step:' '  x: {run: verify, from: md}'
check_err 5:3 "'holo' is given twice" 'inputs:' '  md: runs/*/md.xtc' 'steps:' '  holo: {run: verify, from: md}' '  holo: {run: verify, from: md}'
# an input matching nothing
job 'inputs:' '  md: runs/*/nothing.xtc' 'steps:' '  check: {run: verify, from: md}'
rc=$(code "$P" run "$E/job.yaml")
[ "$rc" = 66 ] || bad "an input matching nothing: exit $rc, not 66"
grep -q "job.yaml:2:7: input md: 'runs/\*/nothing.xtc' matches no file" "$T/err" || bad "missing input message: $(cat "$T/err")"
[ ! -e "$E/job.yaml.state" ] || bad "a job refused before running leaves no state file"
# a failing step: run c has no topology; c's dependants are blocked, the rest done
rm "$E/runs/c/conf.gro"
cp "$J/job.yaml" "$E/job.yaml"
rc=$(code "$P" run "$E/job.yaml" --json --jobs 1)
[ "$rc" = 66 ] || bad "a failing step: the step's exit status (66), not $rc"
statuses "$T/out" >"$T/st"
grep -q '^holo c failed$' "$T/st" && grep -q '^sub c blocked$' "$T/st" && grep -q '^check c blocked$' "$T/st" ||
    bad "holo c failed, its dependants blocked: $(cat "$T/st")"
[ "$(grep -c ' done$' "$T/st")" = 9 ] || bad "the other 9 steps done: $(cat "$T/st")"
$PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = [s for s in r["steps"] if s["step"] == "holo" and s["item"] == "c"][0]
assert "runs/c/conf.gro" in s["error"], s
assert s["exit"] == 66, s
open(sys.argv[2] + "/" + s["log"]).read()' "$T/out" "$E" || bad "the failed step's error and log: $(grep '"c"' "$T/out" | head -2)"
[ -z "$(find "$E" -name '.part-*')" ] || bad "a failed step leaves no temporary output"
[ ! -e "$E/out/c.holo" ] || bad "a failed step leaves no output"
grep -q 'failed    holo c: .*runs/c/conf.gro' "$T/err" || bad "the failure's line: $(cat "$T/err")"
# --fail-fast: nothing starts after the failure
rm -rf "$E/out" "$E/job.yaml.state" "$E/job.yaml.logs"
mv "$E/runs/a/conf.gro" "$E/runs/a/conf.gro.x"
rc=$(code "$P" run "$E/job.yaml" --json --jobs 1 --fail-fast)
[ "$rc" = 66 ] || bad "--fail-fast: exit $rc"
statuses "$T/out" >"$T/st"
[ "$(grep -c ' done$' "$T/st")" = 0 ] && grep -q '^holo b cancelled$' "$T/st" ||
    bad "--fail-fast: the first failure (holo a, one job) stops the rest: $(cat "$T/st")"
mv "$E/runs/a/conf.gro.x" "$E/runs/a/conf.gro"
# a second run of a job that is running: refused
if command -v flock >/dev/null 2>&1; then
    flock "$E/job.yaml.state" sleep 3 &
    sleep 0.5
    rc=$(code "$P" run "$E/job.yaml")
    [ "$rc" = 74 ] && grep -q 'another prismio run is running this job' "$T/err" ||
        bad "a locked state: exit $rc: $(cat "$T/err")"
    wait
fi
# usage
rc=$(code "$P" run "$E/job.yaml" --scheduler tcp://127.0.0.1:1)
[ "$rc" = 64 ] || bad "--scheduler without --executor dask: exit $rc"
rc=$(code "$P" run "$E/nope.yaml")
[ "$rc" = 66 ] || bad "a job file that is not there: exit $rc"

# ---- --trace: every step's events in one Perfetto trace ----
rm -rf "$J/out/a.sub.holo"
rc=$(code "$P" run "$J/job.yaml" --trace "$T/job.trace.json")
[ "$rc" = 0 ] || bad "--trace: exit $rc: $(cat "$T/err")"
$PY -c '
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
steps = [e for e in ev if e.get("cat") == "step"]
assert [e["name"] for e in steps] == ["sub a"], steps
names = {e["args"]["name"] for e in ev if e.get("name") == "process_name"}
assert "sub a" in names, names
inner = [e for e in ev if e.get("cat") not in ("step", "run", None) and e.get("ph") == "X"]
assert len(inner) > 0, "no event from the steps"' "$T/job.trace.json" || bad "--trace: the job's trace"

# ---- a dataset of structures (extended XYZ) converted by a step: no
# --salt or --meta for it (convert takes neither there) ----
X=$T/x
mkdir -p "$X/mols/h2"
printf '%s\n' 2 'Lattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 energy=-1.5 pbc="T T T"' \
    'H 0 0 0' 'H 0 0 0.74' >"$X/mols/h2/s.extxyz"
printf '%s\n' 'inputs:' '  s: mols/*/s.extxyz' 'steps:' '  holo: {run: convert, from: s, to: "out/{name}.holo"}' >"$X/job.yaml"
rc=$(code "$P" run "$X/job.yaml" --json)
[ "$rc" = 0 ] && [ "$(count_not "$T/out" done)" = 0 ] || bad "an extxyz step: exit $rc: $(cat "$T/err")"
rc=$(code "$P" run "$X/job.yaml" --json)
[ "$(count_not "$T/out" skipped)" = 0 ] || bad "an extxyz step is up to date on a rerun"

# ---- --memory: a task starts only while the running ones fit (1 byte:
# one at a time; --jobs 2 alone: some overlap), read off the trace ----
overlaps() { $PY -c '
import json, sys
ev = sorted((e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("cat") == "step"),
            key=lambda e: e["ts"])
print(sum(1 for a, b in zip(ev, ev[1:]) if b["ts"] < a["ts"] + a["dur"] - 1))' "$1"; }
rm -rf "$K/out" "$K/xtc" "$K/job.yaml.state"
"$P" run "$K/job.yaml" -q --jobs 2 --memory 1 --trace "$T/mem.json" || bad "--memory 1"
[ "$(overlaps "$T/mem.json")" = 0 ] || bad "--memory 1: tasks ran at the same time"
rm -rf "$K/out" "$K/xtc" "$K/job.yaml.state"
"$P" run "$K/job.yaml" -q --jobs 2 --trace "$T/nomem.json" || bad "--jobs 2"
[ "$(overlaps "$T/nomem.json")" -gt 0 ] || bad "--jobs 2: no two tasks ever ran at once"
ref_sums "$K" | cmp -s - "$T/ref.sums" || bad "--memory, --jobs: the same outputs"

# ---- on a terminal: a status line with rates and an ETA ----
if command -v script >/dev/null 2>&1; then
    rm -rf "$K/out" "$K/xtc" "$K/job.yaml.state"
    script -qec "'$P' run '$K/job.yaml'" /dev/null >"$T/tty" 2>&1 || bad "run on a terminal"
    grep -q 'done, [0-9]* skipped, [0-9]* running, [0-9]* failed | [0-9]* MB/s, [0-9]* frames/s | ETA' "$T/tty" ||
        bad "no status line on a terminal: $(tail -c 300 "$T/tty")"
fi

# ---- a step on MPI ranks (ranks: 2): the serial conversion's bytes ----
if command -v mpirun >/dev/null 2>&1 && [ "$(OMPI_COMM_WORLD_SIZE=2 "$P" convert x.holo y.holo 2>&1 | grep -c 'built without it')" = 0 ]; then
    M=$T/mpi
    mkdir -p "$M"
    cp -r "$J/runs" "$M/"
    printf '%s\n' 'inputs:' '  md: runs/*/md.xtc' 'steps:' \
        '  par: {run: convert, from: md, to: "out/{name}.holo", ranks: 2}' >"$M/job.yaml"
    rc=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" code "$P" run "$M/job.yaml" --json)
    [ "$rc" = 0 ] || bad "ranks: 2: exit $rc: $(tail -3 "$T/err")"
    [ "$(count_not "$T/out" done)" = 0 ] || bad "ranks: 2 runs every item: $(statuses "$T/out")"
    for r in a b c d; do
        key=$("$P" info "$M/out/$r.holo" | sed -n 's/.*prismio.run.key = //p')
        salt=$(echo "$key" | cut -c1-32)
        "$P" convert "$M/runs/$r/md.xtc" "$T/serial.holo" -q --overwrite --salt "$salt" \
            --meta "prismio.run.key=$key" || bad "the serial conversion of $r"
        cmp -s "$T/serial.holo" "$M/out/$r.holo" || bad "ranks: 2: $r.holo is not the serial conversion's bytes"
    done
    rc=$(code "$P" run "$M/job.yaml" --json)
    [ "$(count_not "$T/out" skipped)" = 0 ] || bad "ranks: 2: a rerun skips: $(statuses "$T/out")"
else
    echo "no mpirun, or a build without MPI: the ranks step is not tested"
fi

# ---- the Dask executor: the same outputs ----
if $PY -c 'import distributed' 2>/dev/null; then
    DK=$T/dask
    cp -r "$K" "$DK"
    rm -rf "$DK/out" "$DK/xtc" "$DK/job.yaml.state"
    rc=$(code "$P" run "$DK/job.yaml" --executor dask --jobs 2 --json)
    [ "$rc" = 0 ] || bad "--executor dask: exit $rc: $(tail -3 "$T/err")"
    [ "$(count_not "$T/out" done)" = 0 ] || bad "--executor dask does everything: $(statuses "$T/out")"
    grep -q '"executor": "dask"' "$T/out" || bad "--executor dask: the report says so"
    ref_sums "$DK" | cmp -s - "$T/ref.sums" || bad "--executor dask: outputs differ from the local run's"
    rc=$(code "$P" run "$DK/job.yaml" --executor dask --jobs 2 --json)
    [ "$(count_not "$T/out" skipped)" = 0 ] || bad "--executor dask rerun skips: $(statuses "$T/out")"
    # a scheduler and two workers of our own on 127.0.0.1, stopped at the end
    if command -v dask-scheduler >/dev/null 2>&1 && command -v dask-worker >/dev/null 2>&1; then
        dask-scheduler --host 127.0.0.1 --port 0 --no-dashboard --scheduler-file "$T/ds.json" \
            >"$T/ds.log" 2>&1 &
        DS=$!
        trap 'kill $DS $DW 2>/dev/null; rm -rf "$T"' EXIT
        DW=
        for _ in $(seq 150); do [ -s "$T/ds.json" ] && break; sleep 0.2; done
        addr=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' "$T/ds.json")
        case $addr in tcp://127.0.0.1:*) ;; *) bad "the scheduler is not on 127.0.0.1: $addr" ;; esac
        dask-worker "$addr" --nworkers 2 --nthreads 1 --no-dashboard >"$T/dw.log" 2>&1 &
        DW=$!
        for _ in $(seq 150); do [ "$(grep -c 'Registered to' "$T/dw.log")" -ge 2 ] && break; sleep 0.2; done
        rm -rf "$DK/out" "$DK/xtc" "$DK/job.yaml.state"
        rc=$(code "$P" run "$DK/job.yaml" --executor dask --scheduler "$addr" --json)
        [ "$rc" = 0 ] || bad "--scheduler $addr: exit $rc: $(tail -3 "$T/err")"
        grep -q '"executor": "dask", "jobs": 2' "$T/out" || bad "--scheduler: the cluster's 2 worker threads"
        ref_sums "$DK" | cmp -s - "$T/ref.sums" || bad "--scheduler: outputs differ from the local run's"
        kill $DW $DS 2>/dev/null
        wait $DW $DS 2>/dev/null
        trap 'rm -rf "$T"' EXIT
    fi
    rc=$(code "$P" run "$DK/job.yaml" --executor dask --scheduler tcp://127.0.0.1:9 --force)
    [ "$rc" = 69 ] && grep -q 'cannot reach the Dask scheduler' "$T/err" ||
        bad "an unreachable scheduler: exit $rc: $(cat "$T/err")"
else
    echo "python3-distributed missing: the Dask executor is not tested"
    rc=$(code "$P" run "$J/job.yaml" --executor dask --force)
    [ "$rc" = 69 ] || bad "--executor dask without Dask: exit $rc, not 69"
fi

exit $fail
