#!/bin/sh
# S3: everything on 127.0.0.1, servers started and stopped here.
#  1. fault_server.py's S3 endpoint, which checks every request's AWS
#     Signature Version 4 (an implementation of AWS's spec independent of
#     libcurl's) and the payload's SHA-256, and takes multipart uploads:
#     `convert IN s3://...` uploads in several parts, the object reads back
#     equal (every frame), credentials come from AWS_* or ~/.aws, a wrong
#     secret is SignatureDoesNotMatch, a missing bucket NoSuchBucket (and
#     the failed upload leaves nothing behind);
#  2. s3rver (npm, installed into NPM_DIR on first use; skipped without npm
#     or the registry): the same upload and read back, and NoSuchBucket,
#     NoSuchKey and InvalidAccessKeyId named.
# usage: test_s3.sh PRISMIO SOURCE_DIR NPM_DIR
P=$1
SRC=$2
N=$3
. "$(dirname "$0")/lib.sh"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SHARED_CREDENTIALS_FILE \
    AWS_CONFIG_FILE
export HOME="$T/home" TMPDIR="$T/tmp" PIO_REMOTE_BACKOFF_MS=10
mkdir -p "$HOME" "$TMPDIR" "$T/store" "$T/in"
"$P" gen "$T/in/mid.holo" --frames 3000 --atoms 500 --fields x,v >/dev/null || fail gen # ~36 MB: 3 parts
"$P" convert "$SRC/tests/data/water.trr" "$T/in/water.holo" --quiet || fail "water.trr"
for f in mid water; do
    "$P" convert "$T/in/$f.holo" "$T/in/$f.trr" --quiet || fail "convert $f (local)"
done

# same frames, same info: s3://BUCKET/KEY against the local file
same() { # URL LOCAL_NAME
    rm -f "$T/r.trr"
    "$P" convert "$1" "$T/r.trr" --quiet 2>"$T/err" || fail "read back $1: $(cat "$T/err")"
    cmp -s "$T/r.trr" "$T/in/$2.trr" || fail "$1: the frames differ from the uploaded file's"
    "$P" verify "$1" >"$T/out" 2>"$T/err" || fail "verify $1: $(cat "$T/out" "$T/err")"
    "$P" info "$1" | grep -v '^file:' >"$T/i.r"
    "$P" info "$T/in/$2.holo" | grep -v '^file:' >"$T/i.l"
    cmp -s "$T/i.r" "$T/i.l" || fail "info of $1 differs"
}

# ---- 1. the checking endpoint ----
start_fault_server "$T/store"
export PIO_S3_ENDPOINT="$FAULT_URL/s3/all"
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY='secret/TEST+key' AWS_REGION=eu-west-3
for f in mid water; do
    "$P" convert "$T/in/$f.holo" "s3://bkt/runs/$f.holo" --quiet 2>"$T/err" ||
        fail "upload $f: $(cat "$T/err") $(tail -3 "$T/fault.log")"
    same "s3://bkt/runs/$f.holo" $f
done
parts=$(grep -c "PUT /s3/all/bkt/runs/mid.holo?partNumber=" "$T/fault.log")
[ "$parts" -ge 3 ] || fail "mid.holo went up in $parts parts"
grep -q SignatureDoesNotMatch "$T/fault.log" && fail "a request was refused: $(grep SignatureDoesNotMatch "$T/fault.log")"
[ -z "$(ls -A "$TMPDIR")" ] || fail "the upload left $(ls "$TMPDIR") in TMPDIR"
echo "ok: uploads in $parts parts, every request's SigV4 signature and payload hash right; read back equal"
# the benchmark on s3:// (no curl baseline there: those keys are null, and the JSON valid)
"$P" bench remote s3://bkt/runs/water.holo --json --repeat 1 --random 3 >"$T/bench.json" \
    2>"$T/err" || fail "bench remote s3://: $(cat "$T/err")"
"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["curl_MBps"] is None and d["sequential_vs_curl_ratio"] is None, d
assert d["open_requests"] <= 3 and d["sequential_MBps"] > 0, d' "$T/bench.json" ||
    fail "bench remote s3://: $(cat "$T/bench.json")"
echo "ok: bench remote on s3://: $(cut -c1-120 "$T/bench.json")"
# credentials from ~/.aws (a profile), none from the environment
mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n[lab]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret/TEST+key\n' \
    >"$HOME/.aws/credentials"
printf '[profile lab]\nregion = eu-west-3\n' >"$HOME/.aws/config"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
    AWS_PROFILE=lab "$P" verify s3://bkt/runs/water.holo >"$T/out" 2>"$T/err") ||
    fail "credentials from ~/.aws: $(cat "$T/err")"
echo "ok: credentials and region from ~/.aws, profile lab"
# refusals, each naming the URL and the S3 error
expect() { # EXIT_NONZERO PATTERN COMMAND...
    pat=$1
    shift
    rc=0
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" != 0 ] || fail "$*: succeeded"
    grep -Eq "$pat" "$T/err" || fail "$*: $(cat "$T/err")"
    echo "ok: $(head -1 "$T/err" | cut -c1-140)"
}
AWS_SECRET_ACCESS_KEY=wrong expect 's3://bkt/runs/mid.holo.*HTTP 403 SignatureDoesNotMatch' \
    "$P" info s3://bkt/runs/mid.holo
expect 's3://nobkt/mid.holo.*HTTP 404 NoSuchBucket' "$P" info s3://nobkt/mid.holo
expect 's3://nobkt/up.holo.*multipart upload.*HTTP 404 NoSuchBucket' \
    "$P" convert "$T/in/water.holo" s3://nobkt/up.holo
[ -e "$T/store/up.holo" ] && fail "a failed upload left an object"
[ -z "$(ls -A "$TMPDIR")" ] || fail "the failed upload left $(ls "$TMPDIR") in TMPDIR"
# parts refused with 500: retried, then right; refused for good: aborted, no object
PIO_S3_ENDPOINT="$FAULT_URL/s3/1-3" "$P" convert "$T/in/mid.holo" s3://bkt/runs/retried.holo \
    --quiet 2>"$T/err" || fail "upload with two 500s: $(cat "$T/err")"
same s3://bkt/runs/retried.holo mid
grep -q "PUT /s3/1-3/bkt/runs/retried.holo?partNumber=.* -> 500 InternalError" "$T/fault.log" ||
    fail "no part was refused: $(grep 1-3 "$T/fault.log" | head -5)"
echo "ok: parts refused twice with 500: retried, the object right"
PIO_S3_ENDPOINT="$FAULT_URL/s3/1-1000" expect 'part [0-9]+ of 3 .*HTTP 500 InternalError \(after 5 tries\)' \
    "$P" convert "$T/in/mid.holo" s3://bkt/runs/failed.holo
[ -e "$T/store/failed.holo" ] && fail "a failed upload left an object"
grep -q "DELETE /s3/1-1000/bkt/runs/failed.holo?uploadId=" "$T/fault.log" ||
    fail "the failed upload was not aborted"
[ -z "$(ls -A "$TMPDIR")" ] || fail "the failed upload left $(ls "$TMPDIR") in TMPDIR"
expect 'http://127.0.0.1:9/x.holo: writing over HTTP is not supported' \
    "$P" convert "$T/in/water.holo" http://127.0.0.1:9/x.holo

# ---- 2. s3rver ----
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "s3rver: skipped (no node and npm)"
    exit 0
fi
if [ ! -x "$N/node_modules/.bin/s3rver" ]; then
    mkdir -p "$N"
    if ! (cd "$N" && npm install --no-audit --no-fund --silent --prefix . s3rver@3.7.1 \
            >"$T/npm.log" 2>&1); then
        echo "s3rver: skipped (npm install s3rver failed: $(tail -n 2 "$T/npm.log"))"
        exit 0
    fi
fi
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/s3rver"
node "$N/node_modules/.bin/s3rver" -d "$T/s3rver" -a 127.0.0.1 -p "$PORT" --silent \
    --configure-bucket runs >"$T/s3rver.log" 2>&1 &
PIDS="$PIDS $!"
export PIO_S3_ENDPOINT=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
for i in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
for f in mid water; do
    "$P" convert "$T/in/$f.holo" "s3://runs/a/$f.holo" --quiet 2>"$T/err" ||
        fail "s3rver: upload $f: $(cat "$T/err")"
    same "s3://runs/a/$f.holo" $f
done
echo "ok: s3rver: uploaded by multipart and read back equal"
expect 's3://nobkt/a/mid.holo.*HTTP 404 NoSuchBucket' "$P" info s3://nobkt/a/mid.holo
expect 's3://runs/a/none.holo.*HTTP 404 NoSuchKey' "$P" info s3://runs/a/none.holo
AWS_ACCESS_KEY_ID=NOBODY expect 's3://runs/a/mid.holo.*HTTP 403 InvalidAccessKeyId' \
    "$P" info s3://runs/a/mid.holo
exit 0
