#!/bin/sh
# The man pages (docs/man) against the program: a page for every command,
# each renders without a warning, every option of every command's table
# (read from its generated --help) is in its page (a benchmark's in its own
# section of prismio-bench.1), every global option, command and environment
# variable the code reads is in prismio.1, and `make install` puts the pages
# under share/man.
# usage: test_man.sh PRISMIO SOURCE_DIR [BUILD_DIR]
. "$(dirname "$0")/harness.sh"
P=$1
SRC=$2
B=${3:-}
M=$SRC/docs/man

# Render with warnings on: groff, else man, else mandoc, else a sketch of
# a check (the page starts with .TH and uses only the man macros).
if command -v groff >/dev/null 2>&1; then
    render() { groff -man -ww -z -Tutf8 "$1" 2>&1; }
elif command -v man >/dev/null 2>&1; then
    render() { man --warnings -l "$1" 2>&1 >/dev/null; }
elif command -v mandoc >/dev/null 2>&1; then
    render() { mandoc -T lint "$1" 2>&1; }
else
    render() {
        head -n 1 "$1" | grep -q '^\.TH ' || echo "$1: does not start with .TH"
        grep -E '^\.' "$1" | grep -Ev '^\.(TH|SH|SS|TP|IP|PP|P|LP|RS|RE|B|I|BI|IB|BR|RB|IR|RI|nf|fi|br|sp|EX|EE)( |$)' |
            sed "s|^|$1: unknown request: |"
    }
fi

# the option names in the options sections of a --help text on stdin
help_options() {
    awk '/^(options|global options[^:]*):$/ { on = 1; next } /^[^ ]/ { on = 0 }
         on && match($0, /^  (-., |    )--[a-z0-9-]+/) { s = substr($0, RSTART, RLENGTH); sub(/.*--/, "", s); print s }'
}
# a help section's first words ("commands:", "benchmarks:", ...) on stdin
help_list() {
    awk -v h="$1:" '$0 == h { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }'
}
# the page's text with roff's \- as -, optionally only section .SS $2
page_text() {
    if [ -n "${2:-}" ]; then
        awk -v s="$2" '/^\.S[SH] / { on = ($1 == ".SS" && $2 == s) } on' "$1"
    else
        cat "$1"
    fi | sed 's/\\-/-/g; s/\\f[BIRP]//g'
}
has_option() { # PAGE OPTION [SECTION]
    page_text "$1" "${3:-}" | grep -Eq -- "--$2([^a-z0-9-]|$)"
}

for page in "$M"/*.1 "$M"/*.3; do
    out=$(render "$page")
    [ -n "$out" ] && bad "$(basename "$page") renders with warnings: $out"
done

cmds=$("$P" --help | help_list commands)
[ -n "$cmds" ] || bad "prismio --help lists no commands"
[ -f "$M/prismio.1" ] || bad "no prismio.1"
[ -f "$M/libprismio.3" ] || bad "no libprismio.3"
for o in $("$P" --help | help_options); do
    has_option "$M/prismio.1" "$o" || bad "prismio.1 does not document --$o"
done
for c in $cmds; do
    page=$M/prismio-$c.1
    if [ ! -f "$page" ]; then
        bad "no man page for prismio $c ($page)"
        continue
    fi
    grep -q "^\.B $c\$" "$M/prismio.1" || bad "prismio.1 does not list the command $c"
    grep -q "prismio\\\\-$c (1)" "$M/prismio.1" || bad "prismio.1 does not refer to prismio-$c(1)"
    "$P" "$c" --help >"$T/help" || bad "prismio $c --help"
    for o in $(help_options <"$T/help"); do
        has_option "$page" "$o" || bad "prismio-$c.1 does not document --$o"
    done
    # subcommands: each one's options in its own section of the page
    for s in $(help_list benchmarks <"$T/help") $(help_list subcommands <"$T/help"); do
        grep -Eq "^\\.(SS|B|BI) $s( |\$)" "$page" || bad "prismio-$c.1 does not describe $c $s"
        section=
        grep -q "^\\.SS $s\\b" "$page" && section=$s
        for o in $("$P" "$c" "$s" --help | help_options); do
            [ "$o" = help ] && sec= || sec=$section # --help: once for the page
            has_option "$page" "$o" "$sec" ||
                bad "prismio-$c.1 does not document --$o of $c $s${section:+ in its section}"
        done
    done
done
# pages for commands that no longer exist
for page in "$M"/prismio-*.1; do
    c=$(basename "$page" .1 | sed 's/^prismio-//')
    echo "$cmds" | grep -qx "$c" || bad "$(basename "$page") documents no command"
done
# environment variables the code reads
for v in $(grep -rhoE 'getenv\("[A-Z0-9_]+"\)' "$SRC/src" | sed 's/getenv("//; s/")//' | sort -u); do
    page_text "$M/prismio.1" | grep -q "^\\.B $v\$" || bad "prismio.1 ENVIRONMENT lacks $v"
done
# every public header is named in libprismio.3
for h in "$SRC"/include/prismio/*.h; do
    grep -q "<prismio/$(basename "$h")>" "$M/libprismio.3" || bad "libprismio.3 does not name $(basename "$h")"
done

# make install puts them under share/man
if [ -n "$B" ]; then
    cmake --install "$B" --prefix "$T/prefix" >/dev/null || bad "cmake --install"
    mandir=$(ls -d "$T"/prefix/share/man 2>/dev/null || ls -d "$T"/prefix/man)
    for c in $cmds; do
        [ -f "$mandir/man1/prismio-$c.1" ] || bad "prismio-$c.1 not installed"
    done
    [ -f "$mandir/man1/prismio.1" ] || bad "prismio.1 not installed"
    [ -f "$mandir/man3/libprismio.3" ] || bad "libprismio.3 not installed"
fi

[ $fail = 0 ] && echo "cli man: all checks passed"
exit $fail
