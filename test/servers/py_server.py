"""A python http.server for the real-servers matrix: files (HTTP/1.1 keep-alive), POST /echo.

Usage: py_server.py ROOT HOST PORT
"""
import functools
import http.server
import socket
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        body = ("got %d bytes\n" % n).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def __init__(self, address, handler):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)


root, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
server = Server((host, port), functools.partial(Handler, directory=root))
sys.stderr.write("listening on %s:%d\n" % (host, port))
sys.stderr.flush()
server.serve_forever()
