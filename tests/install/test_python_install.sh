#!/bin/sh
# The Python package through `cmake --install` (what `make install` runs)
# into a temporary prefix: every installed file is under the prefix, the
# package is in PREFIX/SITE, and Debian's Python imports it from there
# (with the source tree's build/python out of the way) and reads a file.
# usage: test_python_install.sh BUILD_DIR SITE PRISMIO_CLI
set -eu
B=$1
SITE=$2
CLI=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cmake --install "$B" --prefix "$T/prefix" >"$T/log"
outside=$(grep -E '^-- (Installing|Up-to-date): ' "$T/log" | sed 's/^-- [A-Za-z-]*: //' |
    grep -v "^$T/prefix/" || true)
if [ -n "$outside" ]; then
    echo "installed outside the prefix: $outside"
    exit 1
fi
test -f "$T/prefix/$SITE/prismio/__init__.py"
ls "$T/prefix/$SITE/prismio/"_prismio*.so >/dev/null
"$CLI" gen "$T/t.holo" --atoms 10 --frames 3 >/dev/null
cd "$T"
PYTHONPATH="$T/prefix/$SITE" /usr/bin/python3 -c "
import prismio, sys
assert prismio.__file__.startswith('$T/prefix/'), prismio.__file__
with prismio.open('t.holo') as t:
    assert len(t) == 3 and t.verify()
print('installed prismio', prismio.__version__, 'ok')
"
