#!/bin/sh
# Remote files over HTTP, everything on 127.0.0.1, servers started and
# stopped here:
#  - nginx (a generated config, not a daemon) serving sample and generated
#    files: info, verify and every frame (through convert) of each URL equal
#    the local file's; opening plus one frame costs at most 4 requests
#    (counted in nginx's access log); a modified or truncated file on the
#    server is refused, naming URL, frame and offset;
#  - fault_server.py: 5xx, dropped connections, wrong ranges, short bodies,
#    200 to a range request, stalls and a file changing under the reader
#    each give a retry and the right bytes, or a clear error: never wrong
#    bytes.
# usage: test_remote.sh PRISMIO SOURCE_DIR
P=$1
SRC=$2
. "$(dirname "$0")/lib.sh"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/install-deps.sh installs it)"

# ---- files: the samples of every version, and generated ones ----
mkdir -p "$T/www" "$T/ng"
cp "$SRC"/tests/data/sample_v*.holo "$T/www/"
"$P" gen "$T/www/mid.holo" --frames 2000 --atoms 100 >/dev/null || fail gen mid
"$P" gen "$T/www/packed.holo" --frames 20000 --atoms 10 --keyframe 128 >/dev/null || fail gen packed
"$P" gen "$T/www/big.holo" --frames 12 --atoms 60000 >/dev/null || fail gen big
# named scalars (TRR's lambda) and a topology
"$P" convert "$SRC/tests/data/water.trr" "$T/www/water.holo" --top "$SRC/tests/data/water.gro" \
    --quiet || fail "convert water.trr"
# compressed blocks (where the build has zstd)
"$P" convert "$T/www/mid.holo" "$T/www/lossy.holo" --compress lossy >/dev/null 2>&1 ||
    rm -f "$T/www/lossy.holo"
chmod -R a+rX "$T" # (nginx's workers run as www-data)
FILES=$(cd "$T/www" && ls *.holo | grep -v dataset)  # datasets: named arrays, not converted

# ---- nginx ----
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/ng/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
events { worker_connections 64; }
http {
    access_log $T/ng/access.log;
    client_body_temp_path $T/ng/body;
    proxy_temp_path $T/ng/proxy;
    fastcgi_temp_path $T/ng/fastcgi;
    uwsgi_temp_path $T/ng/uwsgi;
    scgi_temp_path $T/ng/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $T/www;
    }
}
EOF
"$NGINX" -c "$T/ng/nginx.conf" -p "$T/ng" 2>"$T/ng/start.log" &
PIDS="$PIDS $!"
U=http://127.0.0.1:$PORT
for i in $(seq 50); do
    curl -s -o /dev/null "$U/mid.holo" -r 0-0 && break
    sleep 0.1
done
curl -s -o /dev/null "$U/mid.holo" -r 0-0 || fail "nginx did not start: $(cat "$T/ng/start.log" "$T/ng/error.log")"

for f in $FILES; do
    "$P" info "$T/www/$f" | grep -v '^file:' >"$T/info.local" || fail "info $f (local)"
    "$P" info "$U/$f" >"$T/info.remote" 2>"$T/err" || fail "info $U/$f: $(cat "$T/err")"
    grep -q "^file: *$U/$f " "$T/info.remote" || fail "info $f names: $(head -1 "$T/info.remote")"
    grep -v '^file:' "$T/info.remote" | cmp -s - "$T/info.local" || {
        diff "$T/info.local" "$T/info.remote"
        fail "info of $f differs"
    }
    "$P" verify "$U/$f" >"$T/out" 2>"$T/err" || fail "verify $U/$f: $(cat "$T/out" "$T/err")"
    grep -q "range requests" "$T/out" || fail "verify $f: $(cat "$T/out")"
    [ -s "$T/err" ] && fail "verify $f printed: $(cat "$T/err")"
    # every frame: a lossless foreign format written from the URL and from the file
    rm -f "$T/r.trr" "$T/l.trr"
    "$P" convert "$U/$f" "$T/r.trr" >/dev/null 2>"$T/err" || fail "convert $U/$f: $(cat "$T/err")"
    "$P" convert "$T/www/$f" "$T/l.trr" >/dev/null 2>&1 || fail "convert $f (local)"
    cmp -s "$T/r.trr" "$T/l.trr" || fail "the frames of $U/$f differ from the file's"
    # a frame, with its BLAKE3 checked, through the reader's frame view
    n=$(grep '^frames:' "$T/info.local" | awk '{print $2}')
    last=$((n - 1))
    "$P" dump "$U/$f" --frame $last >"$T/r.csv" 2>"$T/err" || fail "dump $U/$f: $(cat "$T/err")"
    "$P" dump "$T/www/$f" --frame $last >"$T/l.csv" || fail "dump $f (local)"
    cmp -s "$T/r.csv" "$T/l.csv" || fail "frame $last of $U/$f differs"
done
echo "ok: $(echo $FILES | wc -w) files read over HTTP equal the local files"
# the Arrow export of a URL: the same IPC file as of the local file
rm -f "$T/r.arrow" "$T/l.arrow"
"$P" convert "$U/water.holo" "$T/r.arrow" --quiet 2>"$T/err" || fail "arrow from a URL: $(cat "$T/err")"
"$P" convert "$T/www/water.holo" "$T/l.arrow" --quiet || fail "arrow (local)"
cmp -s "$T/r.arrow" "$T/l.arrow" || fail "the Arrow export of a URL differs"
echo "ok: Arrow IPC export of a URL equals the local file's"

# HTTPS and HTTP/2 (nginx with a certificate made here, trusted through
# PIO_REMOTE_CA_BUNDLE), where openssl is installed
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$T/ng/key.pem" -out "$T/ng/cert.pem" \
        >/dev/null 2>&1; then
    PORT2=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    sed "s|listen 127.0.0.1:$PORT;|listen 127.0.0.1:$PORT2 ssl http2; ssl_certificate $T/ng/cert.pem; ssl_certificate_key $T/ng/key.pem;|; s|$T/ng/nginx.pid|$T/ng/nginx2.pid|; s|ng/access.log|ng/access2.log|" \
        "$T/ng/nginx.conf" >"$T/ng/nginx2.conf"
    "$NGINX" -c "$T/ng/nginx2.conf" -p "$T/ng" 2>"$T/ng/start2.log" &
    PIDS="$PIDS $!"
    for i in $(seq 50); do
        curl -sk -o /dev/null "https://127.0.0.1:$PORT2/mid.holo" -r 0-0 && break
        sleep 0.1
    done
    S=https://127.0.0.1:$PORT2
    rm -f "$T/r.trr" "$T/l.trr"
    PIO_REMOTE_CA_BUNDLE="$T/ng/cert.pem" "$P" convert "$S/mid.holo" "$T/r.trr" --quiet \
        2>"$T/err" || fail "https: $(cat "$T/err" "$T/ng/start2.log" "$T/ng/error.log")"
    "$P" convert "$T/www/mid.holo" "$T/l.trr" --quiet || fail "convert mid (local)"
    cmp -s "$T/r.trr" "$T/l.trr" || fail "https: the frames differ"
    sleep 0.1
    grep -q '"GET /mid.holo HTTP/2.0" 206' "$T/ng/access2.log" ||
        fail "https: not HTTP/2: $(head -3 "$T/ng/access2.log")"
    rc=0
    "$P" info "$S/mid.holo" >/dev/null 2>"$T/err" || rc=$?
    [ "$rc" != 0 ] && grep -q "$S/mid.holo.*certificate" "$T/err" ||
        fail "https with an untrusted certificate: exit $rc: $(cat "$T/err")"
    echo "ok: https over HTTP/2 equal; an untrusted certificate refused"
else
    echo "https: skipped (no openssl to make a certificate)"
fi

# opening costs at most 3 requests: open + the last frame, at most 4
for f in mid.holo packed.holo big.holo sample_v1_1.holo; do
    : >"$T/ng/access.log"
    n=$(grep '^frames:' "$T/info.local" >/dev/null; "$P" info "$T/www/$f" | awk '/^frames:/ {print $2}')
    "$P" dump "$U/$f" --frame $((n - 1)) >/dev/null || fail "dump $f"
    sleep 0.1 # (nginx writes its log line after the answer)
    reqs=$(grep -c "GET /$f " "$T/ng/access.log")
    [ "$reqs" -le 4 ] || fail "open + last frame of $f took $reqs requests: $(cat "$T/ng/access.log")"
    grep -q '" 200 ' "$T/ng/access.log" && fail "a request of $f was not a range: $(cat "$T/ng/access.log")"
    echo "ok: $f: open + last frame in $reqs requests"
done

# a modified file on the server: the damaged frame named; a truncated one refused
size=$(stat -c %s "$T/www/mid.holo")
cp "$T/www/mid.holo" "$T/www/flip.holo"
off=$((size / 2))
printf '\377' | dd of="$T/www/flip.holo" bs=1 seek=$off conv=notrunc 2>/dev/null
rc=0
"$P" verify "$U/flip.holo" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || fail "verify of a modified remote file: exit $rc: $(cat "$T/out" "$T/err")"
grep -q "$U/flip.holo: frame [0-9]* at offset 0x[0-9a-f]*: checksum mismatch" "$T/err" ||
    fail "modified file message: $(cat "$T/err")"
head -c $((size - 100)) "$T/www/mid.holo" >"$T/www/cut.holo"
rc=0
"$P" info "$U/cut.holo" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] || fail "info of a truncated remote file succeeded"
grep -q "$U/cut.holo" "$T/err" || fail "truncated file message: $(cat "$T/err")"
rc=0
"$P" info "$U/none.holo" >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q "$U/none.holo.*HTTP 404" "$T/err" || fail "missing file: exit $rc: $(cat "$T/err")"
echo "ok: modified, truncated and missing files on the server are refused"

# the benchmark: every key there, opening in at most 3 requests
"$P" convert "$T/www/mid.holo" "$T/www/mid.xtc" --quiet || fail "mid to XTC"
"$P" bench remote "$U/mid.holo" --json --repeat 1 --random 5 --xtc "$U/mid.xtc" >"$T/bench.json" \
    2>"$T/err" || fail "bench remote: $(cat "$T/err")"
"$PY" - "$T/bench.json" <<'EOF' || fail "bench remote: $(cat "$T/bench.json")"
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["open_requests", "open_ms", "random_frame_ms", "random_frame_p90_ms", "sequential_MBps",
        "sequential_verified_MBps", "curl_MBps", "sequential_vs_curl_ratio", "holo_first_frame_s",
        "holo_last_frame_s", "mda_xtc_first_frame_s", "mda_xtc_last_frame_s"]
missing = [k for k in keys if not isinstance(d.get(k), (int, float))]
assert not missing, missing
assert d["open_requests"] <= 3 and d["frames"] == 2000, d
EOF
echo "ok: bench remote: $(cut -c1-200 "$T/bench.json")"

# ---- faults ----
start_fault_server "$T/www"
F=$FAULT_URL
export PIO_REMOTE_BACKOFF_MS=10 PIO_REMOTE_TIMEOUT_MS=1000 PIO_REMOTE_RETRIES=3
rm -f "$T/l.trr"
"$P" convert "$T/www/mid.holo" "$T/l.trr" >/dev/null 2>&1 || fail "convert mid (local)"
# faults that a retry gets past: the right bytes in the end
for path in ok/all e500/0-2 e503/1-3 drop/0-2 drop/2-4 wrong/1-2 short/0-1 short/3-4 stall/2-3 noetag/all; do
    rm -f "$T/r.trr"
    "$P" convert "$F/$path/mid.holo" "$T/r.trr" >/dev/null 2>"$T/err" ||
        fail "$path: convert failed: $(cat "$T/err")"
    cmp -s "$T/r.trr" "$T/l.trr" || fail "$path: wrong frames"
    echo "ok: $path: retried, right bytes"
done
# faults that last: a clear error naming the URL, exit non-zero, no output
expect_error() { # PATH PATTERN
    rm -f "$T/r.trr"
    rc=0
    "$P" convert "$F/$1/mid.holo" "$T/r.trr" >/dev/null 2>"$T/err" || rc=$?
    [ "$rc" != 0 ] || fail "$1: convert succeeded"
    [ -e "$T/r.trr" ] && fail "$1: an output was left behind"
    grep -q "$F/$1/mid.holo" "$T/err" || fail "$1: the message does not name the URL: $(cat "$T/err")"
    grep -Eq "$2" "$T/err" || fail "$1: message: $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" -le 2 ] || fail "$1: more than a line or two: $(cat "$T/err")"
    echo "ok: $1: $(head -1 "$T/err" | cut -c1-150)"
}
expect_error e500/all 'HTTP 500.*after 4 tries'
expect_error drop/all 'after 4 tries'
expect_error wrong/all 'wrong range'
expect_error short/all 'short body'
expect_error whole/all 'HTTP 200'
expect_error changed/0-2 'changed since it was opened'
# a request for frames failing for good: the frame named
expect_error e503/2-100 'frame [0-9]+: bytes 0x[0-9a-f]+-0x[0-9a-f]+: HTTP 503.*after 4 tries'
PIO_REMOTE_RETRIES=1 expect_error stall/all 'after 2 tries'
PIO_REMOTE_RETRIES=1 expect_error trickle/all 'too slow.*after 2 tries'
expect_error negtotal/all 'without a Content-Range'
# an answer without the ETag the object had when opened: not taken
expect_error noetag/1-1000 'without the ETag'
# info stops at the first request that keeps failing (not one per frame)
rc=0
PIO_REMOTE_RETRIES=1 timeout 60 "$P" info "$F/e500/2-100000/mid.holo" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 124 ] && fail "info went on after a request failed"
[ "$rc" != 0 ] && grep -q "$F/e500/2-100000/mid.holo.*HTTP 500" "$T/err" ||
    fail "info with a failing server: exit $rc: $(cat "$T/err")"
echo "ok: info stops at the first failed request: $(head -1 "$T/err" | cut -c1-120)"
rc=0
"$P" info "http://127.0.0.1:9/mid.holo" >/dev/null 2>"$T/err" || rc=$?
[ "$rc" != 0 ] && grep -q "127.0.0.1:9/mid.holo" "$T/err" || fail "no server: exit $rc: $(cat "$T/err")"
echo "ok: no server: $(head -1 "$T/err" | cut -c1-150)"
exit 0
