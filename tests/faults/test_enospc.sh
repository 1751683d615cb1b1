#!/bin/sh
# ENOSPC (issue 20): a 2 MiB tmpfs, part of it taken by a filler file of a
# different size each round, so the disk fills at a different point of
#   - prismio gen (commits only at the end),
#   - prismio convert peptide.xtc -> HOLO with --commit-every,
#   - prismio convert -> XTC (written as OUT.part, renamed when complete).
# Each must exit non-zero saying "No space left on device". What it leaves
# must be usable: a HOLO output that says it is committed verifies as it
# is; otherwise, once the filler is gone (some rounds try recover on the
# full disk first: it must fail cleanly or succeed), prismio recover makes
# it verify, with every frame it reported, equal to a reference copy
# written off the tmpfs; an XTC output does not exist at all.
# Mounting needs root (CAP_SYS_ADMIN): skipped (77) where it is refused.
# usage: test_enospc.sh PRISMIO DATA_DIR
. "$(dirname "$0")/../cli/harness.sh"
P=$1
D=$2
M="$T/mnt"
mkdir -p "$M"
if ! mount -t tmpfs -o size=2m none "$M" 2>"$T/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here ($(tr -d '\n' <"$T/mount.err")); ENOSPC loop not run" >&2
    exit 77
fi
cleanup() {
    umount "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ROUNDS=6 # make stress: PIO_STRESS_COUNT / 10 (see tests/faults/fault_util.h)
case ${PIO_STRESS_COUNT:-} in '' | *[!0-9]*) ;; *) ROUNDS=$((PIO_STRESS_COUNT / 10 + 1)) ;; esac
DEADLINE=0
case ${PIO_STRESS_SECONDS:-} in
'' | *[!0-9]*) ;;
*)
    DEADLINE=$(($(date +%s) + PIO_STRESS_SECONDS))
    [ -n "${PIO_STRESS_COUNT:-}" ] || ROUNDS=1000000
    ;;
esac
start=$(date +%s)

# references, written where there is room
"$P" gen "$T/ref.holo" --atoms 600 --frames 120 --fields x,v,f --seed 7 >/dev/null || bad "reference gen"
"$P" convert "$D/peptide.xtc" "$T/refc.holo" >/dev/null || bad "reference convert"

frames_of() { # frames in a HOLO file as info reports them
    "$P" info "$1" 2>/dev/null | sed -n 's/^frames: *\([0-9]*\).*/\1/p'
}

# $1: file on the tmpfs, $2: its reference, $3: frames the writer reported
# (empty: whatever was whole), $4: round, $5: what
check_left() {
    f=$1 ref=$2 want=$3 r=$4 what=$5
    if [ $((r % 2)) = 1 ]; then # recover on the full disk first
        c=$(code "$P" recover "$f")
        [ "$c" = 0 ] || [ -s "$T/err" ] || bad "round $r $what: recover on a full disk failed silently"
    fi
    rm -f "$M/filler"
    [ "$(code "$P" recover "$f")" = 0 ] || { bad "round $r $what: recover: $(cat "$T/err")"; return; }
    [ "$(code "$P" verify "$f")" = 0 ] || { bad "round $r $what: verify after recover: $(cat "$T/err")"; return; }
    n=$(frames_of "$f")
    [ -z "$want" ] || [ "$n" = "$want" ] || bad "round $r $what: $n frames after recover, $want reported"
    if [ "${n:-0}" -gt 0 ]; then
        last=$((n - 1))
        "$P" dump "$f" --frame $last >"$T/got" 2>&1
        "$P" dump "$ref" --frame $last >"$T/want" 2>&1
        cmp -s "$T/got" "$T/want" || bad "round $r $what: frame $last differs from the reference"
    fi
    kept=$((kept + ${n:-0}))
}

kept=0
full=0
r=0
while [ $r -lt "$ROUNDS" ]; do
    [ "$DEADLINE" = 0 ] || [ "$(date +%s)" -lt "$DEADLINE" ] || break
    rm -f "$M"/*
    # filler: 0 to ~1.6 MiB, a different size each round
    kb=$(((r * 379 + 53) % 1600))
    dd if=/dev/zero of="$M/filler" bs=1k count=$kb 2>/dev/null

    # gen: 2.6 MB of frames cannot fit
    c=$(code "$P" gen "$M/g.holo" --atoms 600 --frames 120 --fields x,v,f --seed 7)
    if [ "$c" = 0 ]; then
        bad "round $r gen: exit 0 on a full disk"
    else
        full=$((full + 1))
        grep -q "No space left on device" "$T/err" || bad "round $r gen (exit $c): $(cat "$T/err")"
        [ -e "$M/g.holo" ] && check_left "$M/g.holo" "$T/ref.holo" "" $r gen
    fi

    # convert to HOLO, committing every few frames
    rm -f "$M"/*
    dd if=/dev/zero of="$M/filler" bs=1k count=$((kb / 2 + 300)) 2>/dev/null
    every=$((r % 3 == 0 ? 1 : r % 3 == 1 ? 7 : 40))
    c=$(code "$P" convert "$D/peptide.xtc" "$M/c.holo" --commit-every $every --batch 16)
    if [ "$c" = 0 ]; then
        bad "round $r convert: exit 0 on a full disk"
    else
        full=$((full + 1))
        grep -q "No space left on device" "$T/err" || bad "round $r convert (exit $c): $(cat "$T/err")"
        said=$(sed -n 's/.*holds the \([0-9]*\) frames written before the error.*/\1/p' "$T/err")
        if grep -q "frames written before the error, committed" "$T/err"; then
            [ "$(code "$P" verify "$M/c.holo")" = 0 ] ||
                bad "round $r convert: said committed, does not verify: $(cat "$T/err")"
        fi
        [ -e "$M/c.holo" ] && check_left "$M/c.holo" "$T/refc.holo" "$said" $r "convert --commit-every $every"
    fi

    # convert to XTC: nothing half-written may stay
    rm -f "$M"/*
    dd if=/dev/zero of="$M/filler" bs=1k count=$((kb / 8 + 1800)) 2>/dev/null
    c=$(code "$P" convert "$T/ref.holo" "$M/x.xtc")
    if [ "$c" = 0 ]; then
        bad "round $r convert to xtc: exit 0 on a full disk"
    else
        full=$((full + 1))
        grep -q "No space left on device" "$T/err" || bad "round $r xtc (exit $c): $(cat "$T/err")"
        [ -e "$M/x.xtc" ] && bad "round $r xtc: a partial x.xtc exists"
        [ -e "$M/x.xtc.part" ] && bad "round $r xtc: x.xtc.part left behind"
    fi
    r=$((r + 1))
done
echo "ENOSPC: $r rounds, $full runs stopped by a full disk, every one with a clear error;" \
    "$kept whole frames recovered and checked; $(($(date +%s) - start)) s"
exit $fail
