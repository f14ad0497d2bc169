#!/usr/bin/env python3
"""The seed's demo service: GET /users, POST /user, and a few endpoints that exercise framing.

HTTP/1.1 with keep-alive, standard library only, so it runs anywhere python3 does (host or
container). Usage: demo_app.py [--host 127.0.0.1] [--port 8080]
"""

import argparse
import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERS = [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}, {"id": 3, "name": "Carol"}]
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-app/1.0"

    def log_message(self, fmt, *args):  # one line per request on stderr, like an access log
        sys.stderr.write("demo-app: %s %s\n" % (self.command, self.path))

    def _send(self, status, body, content_type="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/users":
            with _lock:
                body = json.dumps(USERS, separators=(",", ":")).encode()
            self._send(200, body)
        elif self.path == "/health":
            self._send(200, b"ok\n", "text/plain")
        elif self.path == "/users.gz":
            with _lock:
                body = gzip.compress(json.dumps(USERS, separators=(",", ":")).encode())
            self._send(200, body, extra=[("Content-Encoding", "gzip")])
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/status/") and self.path[8:].isdigit():
            # Any status on demand, for filters and colours: /status/503.
            code = int(self.path[8:])
            self._send(code, b'{"status":%d}' % code)
        elif self.path.startswith("/slow"):
            # A slow endpoint: /slow?ms=300 answers after 300 ms (default 200, at most 5 s).
            ms = 200
            if "ms=" in self.path and self.path.split("ms=", 1)[1].isdigit():
                ms = min(int(self.path.split("ms=", 1)[1]), 5000)
            time.sleep(ms / 1000.0)
            self._send(200, b'{"slow":true}')
        else:
            self._send(404, b'{"error":"not found"}')

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/user":
            self._send(404, b'{"error":"not found"}')
            return
        try:
            user = json.loads(raw)
            name = str(user["name"])
        except (ValueError, KeyError, TypeError):
            self._send(400, b'{"error":"want {\\"name\\": ...}"}')
            return
        with _lock:
            user = {"id": len(USERS) + 1, "name": name}
            USERS.append(user)
        self._send(201, json.dumps(user, separators=(",", ":")).encode())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    if ":" in args.host:
        ThreadingHTTPServer.address_family = __import__("socket").AF_INET6
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    sys.stderr.write("demo-app: listening on %s:%d\n" % (args.host, server.server_address[1]))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
