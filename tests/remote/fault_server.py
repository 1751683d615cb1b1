#!/usr/bin/env python3
"""A small HTTP/1.1 server with range requests and injected faults, for the
remote-file tests. Listens on 127.0.0.1 (a free port, printed first on
stdout), serves files of ROOT, and misbehaves by path:

    /MODE/WHEN/NAME    serve ROOT/NAME, the fault MODE applying to the GET
                       requests of that path WHEN says: "all", or "A-B"
                       (the A-th to the B-th, counting from 0, B excluded)

Modes:
    ok       no fault
    e500     answer 500 Internal Server Error
    e503     answer 503 Service Unavailable
    drop     send the headers and half the body, then close the connection
    wrong    answer 206 with the range 64 bytes later than asked
    short    answer 206 with a body 64 bytes shorter than asked (Content-Length
             says so too; Content-Range names the range asked)
    whole    ignore the range: 200 with the whole file
    stall    send the headers, then nothing for 30 s
    changed  from request B on, the ETag and the bytes change (one byte in
             the middle flipped), If-Match honoured (412)
    noetag   no ETag header
    trickle  the body at about 100 bytes a second
    negtotal a Content-Range whose total is -1
    s3       an S3 endpoint (ENDPOINT = http://127.0.0.1:PORT/s3/WHEN, objects
             at /s3/WHEN/BUCKET/KEY, stored as ROOT/KEY's base name; WHEN
             counts every request to the endpoint, and the PUTs of parts it
             names answer 500 InternalError) that
             checks every request's AWS Signature Version 4 against the
             access key "AKIDTEST", secret "secret/TEST+key" and region
             "eu-west-3" (403
             SignatureDoesNotMatch otherwise, and for a payload whose SHA-256
             is not x-amz-content-sha256), and takes multipart uploads:
             POST ?uploads=, PUT ?partNumber=N&uploadId=U, POST ?uploadId=U
             (the object appears then), DELETE ?uploadId=U

Every request is logged to stderr as "GET PATH RANGE -> STATUS".
usage: fault_server.py ROOT
"""
import hashlib
import hmac
import http.server
import os
import urllib.parse
import re
import socketserver
import sys
import threading
import time

ROOT = sys.argv[1]
counts = {}
lock = threading.Lock()
uploads = {}  # upload id -> {part number: bytes}
S3_KEY, S3_SECRET, S3_REGION = "AKIDTEST", "secret/TEST+key", "eu-west-3"


def sigv4_error(method, raw_path, headers, body):
    """Why the request's SigV4 signature is wrong, or None (AWS's
    "Signature Version 4 signing process", with the payload hash of
    x-amz-content-sha256)."""
    auth = headers.get("Authorization", "")
    m = re.match(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, *"
                 r"SignedHeaders=([a-z0-9;-]+), *Signature=([0-9a-f]{64})$", auth)
    if not m:
        return "no AWS4-HMAC-SHA256 Authorization header: %r" % auth
    key, date, region, signed, sig = m.groups()
    if key != S3_KEY:
        return "unknown access key %s" % key
    if region != S3_REGION:
        return "region %s, not %s" % (region, S3_REGION)
    payload = headers.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 %r is not the payload's" % payload
    amzdate = headers.get("x-amz-date", "")
    if not amzdate.startswith(date):
        return "x-amz-date %r" % amzdate
    path, _, query = raw_path.partition("?")
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    cquery = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                 urllib.parse.quote(v, safe="-_.~")) for k, v in pairs)
    names = signed.split(";")
    for need in ("host", "x-amz-content-sha256", "x-amz-date"):
        if need not in names:
            return "%s is not signed" % need
    cheaders = "".join("%s:%s\n" % (n, " ".join(headers.get(n, "").split())) for n in names)
    creq = "\n".join([method, path, cquery, cheaders, signed, payload])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    tosign = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + S3_SECRET).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, tosign.encode(), hashlib.sha256).hexdigest()
    if want != sig:
        return "signature mismatch; canonical request was %r" % creq
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # (headers and body are two writes)

    def log_message(self, fmt, *args):
        pass

    def send(self, status, headers, body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)
        sys.stderr.write("%s %s %s -> %d\n" % (self.command, self.path, self.headers.get("Range"),
                                               status))
        sys.stderr.flush()

    def do_HEAD(self):
        self.send(405, [("Content-Length", "0")])

    def s3_error(self, status, code, msg=""):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                "<Message>%s</Message></Error>" % (code, msg)).encode()
        sys.stderr.write("S3 %s %s -> %d %s %s\n" % (self.command, self.path, status, code, msg))
        self.send(status, [("Content-Length", str(len(body)))], body)

    def s3(self):
        """The s3 mode: every method; True when it answered."""
        m = re.match(r"^/s3/(all|(\d+)-(\d+))/", self.path)
        if not m:
            return False
        with lock:
            n = counts.get(m.group(0), 0)
            counts[m.group(0)] = n + 1
        blen = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(blen) if blen else b""
        why = sigv4_error(self.command, self.path, self.headers, body)
        if why:
            self.s3_error(403, "SignatureDoesNotMatch", why)
            return True
        path, _, query = self.path.partition("?")
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        parts = path.split("/")  # "", "s3", "all", BUCKET, KEY...
        if len(parts) < 5 or parts[3] != "bkt":
            self.s3_error(404, "NoSuchBucket")
            return True
        dest = os.path.join(ROOT, os.path.basename(path))
        if self.command == "POST" and "uploads" in q:
            uid = "up%d" % len(uploads)
            uploads[uid] = {}
            xml = "<InitiateMultipartUploadResult><UploadId>%s</UploadId>" \
                  "</InitiateMultipartUploadResult>" % uid
            self.send(200, [("Content-Length", str(len(xml)))], xml.encode())
        elif self.command == "PUT" and "uploadId" in q:
            if m.group(1) != "all" and int(m.group(2)) <= n < int(m.group(3)):
                self.s3_error(500, "InternalError", "injected")
            elif q["uploadId"] not in uploads:
                self.s3_error(404, "NoSuchUpload")
            else:
                uploads[q["uploadId"]][int(q["partNumber"])] = body
                etag = '"%s"' % hashlib.md5(body).hexdigest()
                self.send(200, [("ETag", etag), ("Content-Length", "0")])
        elif self.command == "POST" and "uploadId" in q:
            got = uploads.pop(q["uploadId"], None)
            listed = re.findall(r"<PartNumber>(\d+)</PartNumber><ETag>([^<]+)</ETag>",
                                body.decode())
            if got is None or [int(p) for p, _ in listed] != sorted(got) or any(
                    e != '"%s"' % hashlib.md5(got[int(p)]).hexdigest() for p, e in listed):
                self.s3_error(400, "InvalidPart", body.decode()[:200])
            else:
                with open(dest, "wb") as f:
                    for p in sorted(got):
                        f.write(got[p])
                xml = "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>"
                self.send(200, [("Content-Length", str(len(xml)))], xml.encode())
        elif self.command == "DELETE" and "uploadId" in q:
            uploads.pop(q["uploadId"], None)
            self.send(204, [("Content-Length", "0")])
        else:
            return False  # a GET: served as the other modes are
        return True

    def do_POST(self):
        if not self.s3():
            self.send(405, [("Content-Length", "0")])

    do_PUT = do_POST
    do_DELETE = do_POST

    def do_GET(self):
        if self.s3():
            return
        m = re.match(r"^/([a-z0-9]+)/(all|(\d+)-(\d+))/(.+)$", self.path)
        if not m:
            return self.send(404, [("Content-Length", "0")])
        mode, name = m.group(1), m.group(5)
        with lock:
            n = counts.get(self.path, 0)
            counts[self.path] = n + 1
        active = m.group(2) == "all" or int(m.group(3)) <= n < int(m.group(4))
        path = os.path.join(ROOT, os.path.basename(name))
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return self.send(404, [("Content-Length", "9")], b"not found")
        etag = '"v1-%d"' % len(data)
        if mode == "changed" and m.group(2) != "all" and n >= int(m.group(4)):
            b = bytearray(data)
            b[len(b) // 2] ^= 1
            data = bytes(b)
            etag = '"v2-%d"' % len(data)
        im = self.headers.get("If-Match")
        if im is not None and im != etag and im != "*":
            return self.send(412, [("Content-Length", "0")])
        headers = [] if mode == "noetag" and active else [("ETag", etag)]
        if active and mode in ("e500", "e503"):
            code = 500 if mode == "e500" else 503
            return self.send(code, [("Content-Length", "5")], b"oops\n")
        size = len(data)
        rng = self.headers.get("Range", "")
        m = re.match(r"^bytes=(\d*)-(\d*)$", rng)
        if not m or (active and mode == "whole"):
            return self.send(200, headers + [("Content-Length", str(size))], data)
        if m.group(1) == "":
            a, b = max(0, size - int(m.group(2))), size - 1
        else:
            a = int(m.group(1))
            b = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if a >= size or a > b:
            return self.send(416, [("Content-Range", "bytes */%d" % size), ("Content-Length", "0")])
        if active and mode == "wrong":
            a, b = min(a + 64, size - 1), min(b + 64, size - 1)
        body = data[a:b + 1]
        if active and mode == "short":
            body = body[:-64] if len(body) > 64 else body[:1]
        hdrs = headers + [("Content-Range", "bytes %d-%d/%d" % (a, b, size)),
                          ("Content-Length", str(len(body)))]
        if active and mode == "drop":
            self.send_response(206)
            for k, v in hdrs:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            sys.stderr.write("GET %s %s -> 206 (dropped)\n" % (self.path, rng))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if active and mode == "negtotal":
            hdrs = [(k, v.replace("/%d" % size, "/-1") if k == "Content-Range" else v)
                    for k, v in hdrs]
        if active and mode == "trickle":
            self.send_response(206)
            for k, v in hdrs:
                self.send_header(k, v)
            self.end_headers()
            sys.stderr.write("GET %s %s -> 206 (trickled)\n" % (self.path, rng))
            try:
                for i in range(0, len(body), 10):
                    self.wfile.write(body[i:i + 10])
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        if active and mode == "stall":
            self.send_response(206)
            for k, v in hdrs:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.flush()
            sys.stderr.write("GET %s %s -> 206 (stalled)\n" % (self.path, rng))
            time.sleep(30)
            return
        self.send(206, hdrs, body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Handler)
sys.stdout.write("%d\n" % srv.server_address[1])  # one write: a reader may close after it
sys.stdout.flush()
srv.serve_forever()
