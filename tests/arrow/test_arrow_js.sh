#!/bin/sh
# Arrow files written by `prismio convert` read by the official JavaScript
# implementation (apache-arrow, file and stream paths) and by an
# independent reader (@uwdata/flechette 2.3.0), every value checked against
# the HOLO source (holo_json, the reader alone). The packages are installed
# with npm into NPM_DIR on first use; without node or npm (or the registry)
# the test is skipped with a message.
# usage: test_arrow_js.sh PRISMIO HOLO_JSON DATA_DIR NPM_DIR
. "$(dirname "$0")/../cli/harness.sh"
P=$1 J=$2 D=$3 N=$4
CHECK=$(cd "$(dirname "$0")" && pwd)/check_arrow.mjs

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node and npm are needed to read the files with apache-arrow and flechette"
    exit 77
fi
if [ ! -d "$N/node_modules/apache-arrow" ] || [ ! -d "$N/node_modules/@uwdata/flechette" ]; then
    mkdir -p "$N"
    if ! (cd "$N" && npm install --no-audit --no-fund --silent --prefix . \
            apache-arrow@21.2.0 @uwdata/flechette@2.3.0 >"$T/npm.log" 2>&1); then
        echo "SKIP: npm install apache-arrow @uwdata/flechette failed: $(tail -n 3 "$T/npm.log")"
        exit 77
    fi
fi

# inputs: a real peptide with a topology; a synthetic file with velocities,
# forces, box and scalars
"$P" convert "$D/peptide.xtc" "$T/pep.holo" --top "$D/peptide.gro" --frames 0:60 --quiet ||
    bad "peptide.xtc to HOLO"
"$P" gen "$T/gen.holo" --atoms 37 --frames 25 --fields x,v,f --seed 11 >/dev/null || bad "gen"

for src in pep gen; do
    for layout in frames atoms; do
        out="$T/$src-$layout.arrow"
        [ "$(code "$P" convert "$T/$src.holo" "$out" --layout $layout --batch 16 --quiet)" = 0 ] ||
            bad "convert $src to $layout: $(cat "$T/err")"
        "$J" "$T/$src.holo" $layout >"$T/$src-$layout.json" || bad "holo_json $src $layout"
        if (cd "$N" && node "$CHECK" "$out" "$T/$src-$layout.json") >"$T/node.out" 2>&1; then
            sed "s|^|$src $layout: |" "$T/node.out"
        else
            bad "$src $layout: $(cat "$T/node.out")"
        fi
    done
done
exit $fail
