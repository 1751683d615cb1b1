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

Every request is logged to stderr as "GET PATH RANGE -> STATUS".
usage: fault_server.py ROOT
"""
import http.server
import os
import re
import socketserver
import sys
import threading
import time

ROOT = sys.argv[1]
counts = {}
lock = threading.Lock()


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
        sys.stderr.write("GET %s %s -> %d\n" % (self.path, self.headers.get("Range"), status))
        sys.stderr.flush()

    def do_HEAD(self):
        self.send(405, [("Content-Length", "0")])

    def do_GET(self):
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
        headers = [] if mode == "noetag" else [("ETag", etag)]
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
