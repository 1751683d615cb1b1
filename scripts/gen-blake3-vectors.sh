#!/bin/sh
# Regenerate tests/data/blake3_vectors.txt from the reference b3sum.
#
# For every official test-vector input length (input byte i = i mod 251),
# records the 131-byte output in hash, keyed and derive_key mode. Run once;
# the output is committed so the suite runs without b3sum.
set -eu
command -v b3sum >/dev/null || { echo "gen-blake3-vectors: b3sum not installed" >&2; exit 1; }
out=${1:-tests/data/blake3_vectors.txt}
KEY='whats the Elvish word for friend'
CTX='BLAKE3 2019-12-27 16:29:52 test vectors context'
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo "# BLAKE3 reference outputs (b3sum $(b3sum --version | cut -d' ' -f2)), 131 bytes each."
    echo "# input_len mode hex; input byte i = i mod 251; key '$KEY'; context '$CTX'"
    for n in 0 1 2 3 4 5 6 7 8 63 64 65 127 128 129 1023 1024 1025 2048 2049 3072 3073 \
             4096 4097 5120 5121 6144 6145 7168 7169 8192 8193 16384 31744 102400; do
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "%c", i % 251 }' </dev/null |
            LC_ALL=C cat >"$tmp"
        h=$(b3sum --no-names -l 131 "$tmp")
        k=$(printf '%s' "$KEY" | b3sum --no-names -l 131 --keyed "$tmp")
        d=$(b3sum --no-names -l 131 --derive-key "$CTX" "$tmp")
        echo "$n hash $h"
        echo "$n keyed $k"
        echo "$n derive $d"
    done
} >"$out"
