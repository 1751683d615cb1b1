# Shared by the remote tests (sourced after P, the prismio program, is set):
# a private directory T removed on exit with every server started through
# bg (their pids in PIDS), fail, PY (Debian's Python), the skip of a build
# without libcurl, and start_fault_server.
set -u
T=$(mktemp -d /tmp/pio-remote.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*"
    exit 1
}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# a build without libcurl says so (build_minimal checks that); nothing to test here
rc=0
"$P" info http://127.0.0.1:9/x.holo >/dev/null 2>"$T/err" || rc=$?
if [ "$rc" = 69 ] && grep -q 'built without libcurl' "$T/err"; then
    echo "SKIP: this build reads no remote files"
    exit 77
fi

# start_fault_server ROOT: tests/remote/fault_server.py serving ROOT; its
# base URL in FAULT_URL, its log in $T/fault.log
start_fault_server() {
    "$PY" "$(dirname "$0")/fault_server.py" "$1" >"$T/fault.port" 2>"$T/fault.log" &
    PIDS="$PIDS $!"
    for i in $(seq 50); do
        [ -s "$T/fault.port" ] && break
        sleep 0.1
    done
    [ -s "$T/fault.port" ] || fail "the test server did not start: $(cat "$T/fault.log")"
    FAULT_URL=http://127.0.0.1:$(cat "$T/fault.port")
}
