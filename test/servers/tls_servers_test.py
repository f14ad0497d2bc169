"""HTTPS read at the TLS library (uprobes on OpenSSL): real TLS servers and clients on loopback,
every exchange checked on both sides against what the client saw.

Peers: curl (libcurl + OpenSSL 3) against nginx with TLS (keep-alive, 1 MiB, gzip + chunked,
and a reverse-proxy location to a plaintext python upstream: both hops), wget (GnuTLS) against
nginx, python `ssl` client
against a python `ssl` server (keep-alive, POST 100 KiB, 1 MiB, chunked), `openssl s_client`
against `openssl s_server -WWW` (close-delimited HTTP/1.0), and a python client started during
the capture with its own copy of libssl (found only by following exec), and a client with
OpenSSL linked statically (found by its symbols). node `https` server and client (OpenSSL
inside node, memory BIOs: tied by thread) against each other, curl and the python server
(keep-alive, POST 100 KiB, 1 MiB, chunked). Go crypto/tls servers and clients (test/servers
go_server.go, go_client.go), built normally and stripped (`-ldflags=-s -w`), against curl, each
other and the python server. BoringSSL (Debian's android-libboringssl): `bssl client` against
nginx and `bssl server -www`, for curl and `bssl client`. Certificates are made
by the test with `openssl`. Also: no uprobe is attached while no session is active, and the
`--tls only` filter and the text format's `https`.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402  (test/e2e/harness.py: the agent, ctl and process helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
KIB = 1024
MIB = 1 << 20
# Debian's BoringSSL (android-libboringssl), outside the library directories the agent scans.
BORINGSSL = "/usr/lib/x86_64-linux-gnu/android/libssl.so.0"


def which(name):
    """Bazel's test PATH lacks /usr/sbin (nginx lives there)."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


def unmapped(endpoint):
    """An IPv4 peer of a dual-stack IPv6 socket shows as [::ffff:a.b.c.d]:port."""
    if endpoint.startswith("[::ffff:") and "." in endpoint:
        host, port = endpoint[len("[::ffff:"):].split("]:")
        return "%s:%s" % (host, port)
    return endpoint


def perf_event_fds(pid):
    """Uprobes attached through perf_event_open are perf-event fds of the agent."""
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, fd)) == "anon_inode:[perf_event]":
                n += 1
        except OSError:
            pass
    return n


# A python HTTPS (or, without a certificate, plaintext) server: keep-alive, echo, a chunked
# response, files from a directory.
PY_SERVER = r'''
import http.server, socketserver, ssl, sys, os
root, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body, chunked=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/chunked":
            return self.reply(b"chunk of a chunked body\n" * 200, chunked=True)
        name = os.path.join(root, path.lstrip("/").split("/")[-1])
        with open(name, "rb") as f:
            self.reply(f.read())
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        self.reply(self.rfile.read(n))
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", port), H)
if cert != "-":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
print("listening", flush=True)
s.serve_forever()
'''

# A python HTTPS client: one keep-alive connection; prints per request status, body bytes and
# its local port as JSON lines. argv: port ca delay-before-first-request requests...
PY_CLIENT = r'''
import http.client, json, ssl, sys, time
port, ca, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
if delay < 0:
    sys.stdin.read(1)  # the test's go, once the agent probes the libssl this process mapped
else:
    time.sleep(delay)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
for spec in sys.argv[4:]:
    method, target, size = spec.split(" ")
    body = bytes((i * 13) % 251 for i in range(int(size))) if method == "POST" else None
    c.request(method, target, body=body)
    r = c.getresponse(); data = r.read()
    print(json.dumps({"target": target, "status": r.status, "body": len(data),
                      "local": c.sock.getsockname()[1]}), flush=True)
'''


# A client with OpenSSL linked statically (found by its symbols, not by a libssl file): one
# HTTP/1.1 request, prints "status body_bytes local_port". argv: port target; it starts once a
# byte arrives on stdin: the test sends it when the agent lists the executable as probed (a
# fixed delay after the exec was too short on a loaded machine).
STATIC_CLIENT = r'''
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char go;
  if (read(0, &go, 1) != 1) return 6;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (void *)&a, sizeof a)) return 2;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  SSL *s = SSL_new(ctx);
  SSL_set_fd(s, fd);
  if (SSL_connect(s) != 1) return 3;
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", argv[2]);
  if (SSL_write(s, req, n) != n) return 4;
  static char buf[1 << 21];
  size_t got = 0;
  for (;;) {
    int r = SSL_read(s, buf + got, sizeof buf - got);
    if (r <= 0) break;
    got += r;
  }
  char *body = strstr(buf, "\r\n\r\n");
  if (!body) return 5;
  struct sockaddr_in l; socklen_t ll = sizeof l;
  getsockname(fd, (void *)&l, &ll);
  printf("%d %zu %d\n", atoi(buf + 9), got - (body + 4 - buf), ntohs(l.sin_port));
  return 0;
}
'''


# A node https server (OpenSSL linked into node, memory BIOs): keep-alive, echo, a chunked
# response, files from a directory. argv: root port cert key.
NODE_SERVER = r"""
const https = require('https'), fs = require('fs'), path = require('path');
const [root, port, cert, key] = process.argv.slice(2);
const s = https.createServer({cert: fs.readFileSync(cert), key: fs.readFileSync(key)},
                             (req, res) => {
  const p = req.url.split('?')[0];
  if (req.method === 'POST') {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const b = Buffer.concat(parts);
      res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': b.length});
      res.end(b);
    });
    return;
  }
  if (p === '/chunked') {  // no Content-Length: node sends it chunked, one chunk a write
    res.writeHead(200, {'Content-Type': 'application/octet-stream'});
    for (let i = 0; i < 200; i++) res.write('chunk of a chunked body\n');
    return res.end();
  }
  const b = fs.readFileSync(path.join(root, path.basename(p)));
  res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': b.length});
  res.end(b);
});
s.keepAliveTimeout = 30000;
s.listen(+port, '127.0.0.1', () => console.log('listening'));
"""

# A node https client: one keep-alive connection for all its requests; prints per request
# status, body bytes and local port as JSON lines. argv: port ca requests ("METHOD target size").
NODE_CLIENT = r"""
const https = require('https'), fs = require('fs');
const [port, ca, ...specs] = process.argv.slice(2);
const agent = new https.Agent({keepAlive: true, maxSockets: 1});
const caPem = fs.readFileSync(ca);
function one(i) {
  if (i === specs.length) { agent.destroy(); return; }
  const [method, target, size] = specs[i].split(' ');
  const body = method === 'POST' ? Buffer.from(Array.from({length: +size}, (_, k) => (k * 13) % 251))
                                 : null;
  const headers = body ? {'Content-Length': body.length} : {};
  const req = https.request({host: '127.0.0.1', port: +port, path: target, method, agent,
                             ca: caPem, headers}, (res) => {
    let n = 0;
    res.on('data', (d) => { n += d.length; });
    res.on('end', () => {
      console.log(JSON.stringify({target, status: res.statusCode, body: n,
                                  local: req.socket.localPort}));
      one(i + 1);
    });
  });
  req.on('error', (e) => { console.error(e); process.exit(3); });
  if (body) req.write(body);
  req.end();
}
one(0);
"""


# A python asyncio HTTPS client (ssl.SSLObject: a memory BIO, like node): one connection, its
# requests one after another; prints JSON lines like NODE_CLIENT. argv: port ca requests.
ASYNCIO_CLIENT = r"""
import asyncio, json, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
async def main():
    ctx = ssl.create_default_context(cafile=ca)
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    local = w.get_extra_info("sockname")[1]
    for spec in sys.argv[3:]:
        method, target, size = spec.split(" ")
        body = bytes((i * 13) % 251 for i in range(int(size))) if method == "POST" else b""
        w.write(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" %
                (method.encode(), target.encode(), len(body)) + body)
        await w.drain()
        status = int((await r.readline()).split()[1])
        headers = {}
        while True:
            line = await r.readline()
            if line in (b"\r\n", b""):
                break
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await r.readline()).strip(), 16)
                if size == 0:
                    await r.readline()
                    break
                n += len(await r.readexactly(size))
                await r.readline()
        else:
            n = len(await r.readexactly(int(headers["content-length"])))
        print(json.dumps({"target": target, "status": status, "body": n, "local": local}),
              flush=True)
    w.close()
asyncio.run(main())
"""


class Expect:
    def __init__(self, client, client_pid, server_comm, server_port, method, target, status,
                 body, request_body=0, local_port=None, tls=True, server_side=True,
                 library="openssl", server_library="openssl"):
        self.client, self.client_pid, self.server_comm = client, client_pid, server_comm
        self.server_port, self.method, self.target, self.status = server_port, method, target, \
            status
        self.body, self.request_body, self.local_port, self.tls = body, request_body, \
            local_port, tls
        self.server_side = server_side
        self.library = library  # the client's TLS library
        self.server_library = server_library


class TlsServersTest(harness.E2ETestCase):

    def setUp(self):
        super().setUp()
        self.openssl = which("openssl")
        self.assertIsNotNone(self.openssl, "openssl is not installed (scripts/setup.sh)")
        self.www = self.path("www")
        os.mkdir(self.www)
        with open(os.path.join(self.www, "small.txt"), "wb") as f:
            f.write(b"small file of a hundred bytes\n" * 3 + b"0123456789")
        with open(os.path.join(self.www, "big.bin"), "wb") as f:
            f.write(bytes((i * 7 + 3) % 251 for i in range(MIB)))
        with open(os.path.join(self.www, "page.html"), "wb") as f:
            f.write(b"<html><body>" + b"<p>compressible text, again and again</p>\n" * 700 +
                    b"</body></html>\n")
        self.small = os.path.getsize(os.path.join(self.www, "small.txt"))
        self.page = os.path.getsize(os.path.join(self.www, "page.html"))
        self.cert, self.key = self.path("cert.pem"), self.path("key.pem")
        subprocess.run([self.openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", self.key,
                        "-out", self.cert], check=True, capture_output=True, timeout=60)
        for name, text in (("py_server.py", PY_SERVER), ("py_client.py", PY_CLIENT)):
            with open(self.path(name), "w") as f:
                f.write(text)
        self.next_id = 0
        self.expects = []

    # ------------------------------------------------------------------ helpers

    def spawn(self, name, argv):
        proc = harness.Process(argv, self.workdir, name)
        self.processes.append(proc)
        return proc

    def wait_port(self, port, proc):
        def up():
            self.assertIsNone(proc.proc.poll(), "%s exited: %s" % (proc.name, proc.stderr()))
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        harness.wait_until(up, what="%s listening on %d" % (proc.name, port))

    def target(self, path):
        self.next_id += 1
        return "%s?id=%d" % (path, self.next_id)

    def status_counters(self):
        code, out, err = self.ctl("status", "--counters")
        self.assertEqual(code, 0, err)
        counters = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
                counters[parts[0]] = int(parts[1])
        return counters, out

    def start_python(self, name, port, tls=True):
        proc = self.spawn(name, [sys.executable, self.path("py_server.py"), self.www, str(port),
                                 self.cert if tls else "-", self.key if tls else "-"])
        self.wait_port(port, proc)
        return proc

    def start_nginx(self, port, upstream):
        conf = self.path("nginx.conf")
        w = self.workdir
        with open(conf, "w") as f:
            f.write("""
worker_processes 1; daemon off; user root; pid %(w)s/nginx.pid; error_log %(w)s/nginx.err;
events { worker_connections 256; }
http {
  access_log off; include /etc/nginx/mime.types; keepalive_timeout 30;
  client_body_temp_path %(w)s/nb; proxy_temp_path %(w)s/np; fastcgi_temp_path %(w)s/nf;
  uwsgi_temp_path %(w)s/nu; scgi_temp_path %(w)s/ns;
  gzip on; gzip_types text/plain text/html; gzip_min_length 1;
  server {
    listen 127.0.0.1:%(port)d ssl; root %(www)s; sendfile off;
    ssl_certificate %(cert)s; ssl_certificate_key %(key)s;
    location /up/ { proxy_pass http://127.0.0.1:%(up)d; proxy_http_version 1.1;
                    proxy_set_header Connection ""; }
  }
}
""" % dict(w=w, port=port, www=self.www, cert=self.cert, key=self.key, up=upstream))
        nginx = which("nginx")
        self.assertIsNotNone(nginx, "nginx is not installed (scripts/setup.sh)")
        proc = self.spawn("nginx", [nginx, "-c", conf, "-p", w])
        self.wait_port(port, proc)
        return proc

    def run_client(self, argv, env=None, timeout=60):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env)
        out, err = proc.communicate(timeout=timeout)
        self.assertEqual(proc.returncode, 0, "%s failed: %s %s" % (argv, out[-2000:], err[-2000:]))
        return proc.pid, out.decode(errors="replace")

    def curl(self, port, requests, server_comm="nginx"):
        """One curl process, keep-alive across its URLs: (path, options, via upstream)."""
        argv = [which("curl"), "-s", "-g", "--max-time", "30", "--cacert", self.cert]
        targets = []
        for path, opts in requests:
            t = self.target(path)
            targets.append(t)
            if len(targets) > 1:
                argv += ["--next", "-s", "-g", "--max-time", "30", "--cacert", self.cert]
            argv += list(opts) + ["-o", self.path("curl.out.%d" % len(targets)), "-w",
                                  "%{http_code} %{local_port}\\n",
                                  "https://127.0.0.1:%d%s" % (port, t)]
        pid, out = self.run_client(argv)
        lines = out.split()
        for i, t in enumerate(targets):
            # The body as the client got it (decoded with --compressed).
            size = os.path.getsize(self.path("curl.out.%d" % (i + 1)))
            self.expects.append(Expect("curl", pid, server_comm, port, "GET", t,
                                       int(lines[2 * i]), size, local_port=int(lines[2 * i + 1])))
        return pid

    def run_after_probed(self, argv, probed, env=None):
        """Starts a client that waits for a byte on stdin, sends it once the agent's status lists
        `probed` (a library file or executable it attached to after the client's exec), and
        returns (pid, stdout) like run_client."""
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        try:
            harness.wait_until(lambda: probed in self.status_counters()[1],
                               what="the agent probing %s" % probed)
            out, err = proc.communicate(b"g", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, "%s failed: %s %s" % (argv, out[-2000:], err[-2000:]))
        return proc.pid, out.decode(errors="replace")

    def py_client(self, port, requests, delay=0.0, env=None, server_comm="python3",
                  probed=None):
        specs, meta = [], []
        for method, path, size in requests:
            t = self.target(path)
            specs.append("%s %s %d" % (method, t, size))
            meta.append((method, t, size))
        argv = [sys.executable, self.path("py_client.py"), str(port), self.cert,
                str(-1 if probed else delay)] + specs
        if probed:
            pid, out = self.run_after_probed(argv, probed, env=env)
        else:
            pid, out = self.run_client(argv, env=env)
        for (method, t, size), line in zip(meta, out.splitlines()):
            r = json.loads(line)
            self.expects.append(Expect("python", pid, server_comm, port, method, t, r["status"],
                                       r["body"], request_body=size if method == "POST" else 0,
                                       local_port=r["local"]))
        return pid

    def wget(self, port, path):
        """wget reads and writes through GnuTLS (gnutls_record_recv/send)."""
        t = self.target(path)
        out = self.path("wget.out")
        pid, _ = self.run_client([which("wget"), "-q", "-O", out, "--ca-certificate", self.cert,
                                  "https://127.0.0.1:%d%s" % (port, t)])
        self.expects.append(Expect("wget", pid, "nginx", port, "GET", t, 200,
                                   os.path.getsize(out), library="gnutls"))

    def static_client(self, port, path):
        src, exe = self.path("static_client.c"), self.path("static_client")
        with open(src, "w") as f:
            f.write(STATIC_CLIENT)
        subprocess.run(["cc", "-O1", "-static", "-o", exe, src, "-lssl", "-lcrypto", "-lpthread"],
                       check=True, capture_output=True, timeout=120)
        t = self.target(path)
        # The barrier: the agent found the new executable (through its exec) and probes it.
        pid, out = self.run_after_probed([exe, str(port), t], exe)
        status, size, local = map(int, out.split())
        self.expects.append(Expect("static", pid, "python3", port, "GET", t, status, size,
                                   local_port=local))

    def json_client(self, name, argv, port, requests, server_comm):
        """A client that takes (port, ca, "METHOD target size"...) and prints JSON lines."""
        specs, meta = [], []
        for method, path, size in requests:
            t = self.target(path)
            specs.append("%s %s %d" % (method, t, size))
            meta.append((method, t, size))
        pid, out = self.run_client(argv + [str(port), self.cert] + specs)
        for (method, t, size), line in zip(meta, out.splitlines()):
            r = json.loads(line)
            self.expects.append(Expect(name, pid, server_comm, port, method, t, r["status"],
                                       r["body"], request_body=size if method == "POST" else 0,
                                       local_port=r["local"]))
        self.assertEqual(len(out.splitlines()), len(meta), out)
        return pid

    def s_client(self, port, t):
        with open(self.path("s_client.in"), "wb") as f:
            f.write(b"GET %s HTTP/1.0\r\n\r\n" % t.encode())
        proc = subprocess.Popen([self.openssl, "s_client", "-connect", "127.0.0.1:%d" % port,
                                 "-quiet", "-ign_eof", "-CAfile", self.cert],
                                stdin=open(self.path("s_client.in"), "rb"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err[-2000:])
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200"), out[:200])
        # s_server -WWW reads and writes through BIO_f_ssl, which calls OpenSSL's internal
        # ssl_read_internal/ssl_write_internal, not the exported SSL_read/SSL_write that are
        # probed: its side is not seen (bpf/README.md, "TLS").
        self.expects.append(Expect("s_client", proc.pid, "openssl", port, "GET", t, 200,
                                   len(body), server_side=False))

    def bssl_client(self, port, requests, server_comm):
        """BoringSSL's `bssl client` (libssl.so.0 of android-libboringssl), started during the
        capture: it connects, and once the agent lists BoringSSL's libssl as probed the requests,
        as HTTP/1.x text, go in on stdin at once (pipelined on one connection; the last closes
        it); the responses come out on stdout, each with a Content-Length or close-delimited.
        requests: (path, http_version)."""
        bssl = which("bssl-tool")
        self.assertIsNotNone(bssl, "bssl-tool is not installed (scripts/setup.sh installs "
                                   "android-boringssl)")
        targets, text = [], b""
        for i, (path, version) in enumerate(requests):
            t = self.target(path)
            targets.append(t)
            last = i == len(requests) - 1
            text += b"GET %s %s\r\nHost: 127.0.0.1\r\n%s\r\n" % (
                t.encode(), version.encode(), b"Connection: close\r\n" if last else b"")
        # stdin closes once the requests are in: at its end of input `bssl client` shuts its
        # sending side (shutdown(SHUT_WR)), so the server's FIN moves its socket to TCP_CLOSE
        # while the responses may still be unread: they must still be read on this connection
        # (capture_test's HalfClosedClientReadsTheResponseAfterThePeersFin, in plaintext).
        argv = [bssl, "client", "-connect", "127.0.0.1:%d" % port, "-root-certs", self.cert]
        run = len(self.expects)  # names this run's output files
        with open(self.path("bssl.out.%d" % run), "wb") as out_f, \
                open(self.path("bssl.err.%d" % run), "wb") as err_f:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f)
            try:
                harness.wait_until(lambda: BORINGSSL in self.status_counters()[1],
                                   what="the agent probing %s" % BORINGSSL)
                proc.stdin.write(text)
                proc.stdin.close()
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        with open(self.path("bssl.out.%d" % run), "rb") as f:
            out = f.read()
        with open(self.path("bssl.err.%d" % run), "rb") as f:
            self.assertEqual(proc.returncode, 0, f.read()[-2000:])
        pid, rest = proc.pid, out
        for i, t in enumerate(targets):
            head, sep, rest = rest.partition(b"\r\n\r\n")
            self.assertEqual(sep, b"\r\n\r\n", "response %d of %r: %r" % (i, targets, out[:300]))
            lines = head.split(b"\r\n")
            headers = dict(l.decode().lower().split(": ", 1) for l in lines[1:])
            if "content-length" in headers:
                n = int(headers["content-length"])
            else:
                self.assertEqual(i, len(targets) - 1, "close-delimited before the last: %r" %
                                 head)
                n = len(rest)
            self.assertGreaterEqual(len(rest), n, head)
            rest = rest[n:]
            self.expects.append(Expect("bssl", pid, server_comm, port, "GET", t,
                                       int(lines[0].split()[1]), n))
        self.assertEqual(rest, b"", "bytes after the last response")

    def build_go(self, names=("go_server", "go_client")):
        """go_server and go_client, built normally and stripped (no .symtab: the agent finds
        crypto/tls through .gopclntab), offline, with a Go cache the test makes from nothing.
        Returns {name: path}."""
        go = which("go")
        self.assertIsNotNone(go, "go is not installed (scripts/setup.sh installs golang-go)")
        env = dict(os.environ, GOCACHE=self.path("gocache"), GOPATH=self.path("gopath"),
                   GOPROXY="off", GOFLAGS="", GO111MODULE="off", HOME=self.workdir,
                   CGO_ENABLED="0")
        built = {}
        for name in names:
            for suffix, flags in (("", []), ("_s", ["-ldflags=-s -w"])):
                built[name + suffix] = self.path(name + suffix)
                p = subprocess.run([go, "build"] + flags + ["-o", built[name + suffix],
                                                            os.path.join(HERE, name + ".go")],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=300)
                self.assertEqual(p.returncode, 0, "go build: " + p.stdout.decode(errors="replace"))
        return built

    def go_client(self, exe, port, requests, server_comm, server_library):
        """A Go crypto/tls client started during the capture: it sends once the agent lists
        its executable as probed. requests: (method, path, request body bytes)."""
        specs, meta = [], []
        for method, path, size in requests:
            t = self.target(path)
            spec = "%s|https://127.0.0.1:%d%s" % (method, port, t)
            specs.append(spec + ("|%d" % size if size else ""))
            meta.append((method, t, size))
        pid, out = self.run_after_probed([exe, "-ca", self.cert, "-wait"] + specs, exe)
        for (method, t, size), line in zip(meta, out.splitlines()):
            r = json.loads(line)
            self.expects.append(Expect("go", pid, server_comm, port, method, t, r["status"],
                                       r["body"], request_body=size, local_port=r["local_port"],
                                       library="go", server_library=server_library))
        self.assertEqual(len(out.splitlines()), len(requests), out)

    def assert_uprobes_attached(self, agent_pid):
        """The agent has uprobes on libssl, one perf event fd each at least."""
        counters, out = self.status_counters()
        self.assertGreater(counters.get("tls.uprobes", 0), 0, out)
        self.assertIn("libssl.so", out)
        self.assertGreaterEqual(perf_event_fds(agent_pid), counters["tls.uprobes"])

    def stop_and_assert_uprobes_detached(self, ctl, agent_pid, what):
        """Stops `ctl`'s session; every uprobe goes (perf event fds and the counter)."""
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        harness.wait_until(lambda: perf_event_fds(agent_pid) == 0, what=what)
        counters, out = self.status_counters()
        self.assertEqual(counters.get("tls.uprobes", 0), 0, out)

    # ------------------------------------------------------------------ the checks

    def check(self, events):
        exchanges = [e for e in events if "request" in e]
        problems = []
        by_target = {}
        for x in exchanges:
            if x.get("request") is None:
                problems.append("exchange without request: %s" % json.dumps(x)[:300])
                continue
            by_target.setdefault(x["request"]["target"], []).append(x)

        for e in self.expects:
            where = "%s %s %s" % (e.client, e.method, e.target)
            sides = {
                "client": [x for x in by_target.get(e.target, [])
                           if x["role"] == "client" and x["pid"] == e.client_pid],
                "server": [x for x in by_target.get(e.target, [])
                           if x["role"] == "server" and x["comm"] == e.server_comm and
                           port_of(x["local"]) == e.server_port],
            }
            if not e.server_side:
                # Known blind spot, asserted so a fix shows: nothing of that server recorded.
                if sides["server"]:
                    problems.append("%s: server side now recorded: update the test" % where)
                del sides["server"]
            for side, got in sides.items():
                if len(got) != 1:
                    problems.append("%s: %s side has %d exchanges, want 1" % (where, side,
                                                                               len(got)))
                    continue
                x = got[0]
                req, resp = x["request"], x.get("response")
                want = e.library if side == "client" else e.server_library
                if e.tls and x.get("tls") != {"library": want}:
                    problems.append("%s (%s): tls %s" % (where, side, x.get("tls")))
                if not e.tls and "tls" in x:
                    problems.append("%s (%s): plaintext hop says tls %s" % (where, side,
                                                                           x["tls"]))
                if req["method"] != e.method or req["body_size"] != e.request_body:
                    problems.append("%s (%s): request %s body %d, want %d" % (
                        where, side, req["method"], req["body_size"], e.request_body))
                if resp is None:
                    problems.append("%s (%s): no response: %s" % (where, side, x["notes"]))
                    continue
                if resp["status"] != e.status or resp["body_size"] != e.body:
                    problems.append("%s (%s): status %d body %d, client saw %d %d (notes %s)" %
                                    (where, side, resp["status"], resp["body_size"], e.status,
                                     e.body, x["notes"]))
                if not x["complete"]:
                    problems.append("%s (%s): not complete: %s" % (where, side, x["notes"]))
                if e.local_port is not None:
                    mine = x["local"] if side == "client" else x["remote"]
                    if port_of(mine) != e.local_port:
                        problems.append("%s (%s): client port %s, client saw %d" % (
                            where, side, mine, e.local_port))
            if len(sides["client"]) == 1 and len(sides.get("server", ())) == 1:
                c, s = sides["client"][0], sides["server"][0]
                if c["local"] != s["remote"] or c["remote"] != s["local"]:
                    problems.append("%s: addresses differ: %s->%s vs %s<-%s" % (
                        where, c["local"], c["remote"], s["local"], s["remote"]))
        self.assertEqual(problems, [], "\n".join(problems))

    # ------------------------------------------------------------------ tests

    def test_no_uprobe_attached_without_a_session(self):
        agent_pid = self.agent.pid
        counters, _ = self.status_counters()
        self.assertEqual(perf_event_fds(agent_pid), 0)
        self.assertEqual(counters.get("tls.uprobes", 0), 0)
        port = harness.free_port()
        ctl = self.start_ctl("start", "--port", str(port), "-o", self.path("t.txt"))
        self.assert_uprobes_attached(agent_pid)
        self.stop_and_assert_uprobes_detached(ctl, agent_pid,
                                              "every uprobe detached after the last session")

    def test_node_https_server_and_client(self):
        """node links OpenSSL and reads through memory BIOs, as python's asyncio (SSLObject)
        does: tied by thread (bpf/tls.bpf.h)."""
        node = which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/setup.sh)")
        for name, text in (("node_server.js", NODE_SERVER), ("node_client.js", NODE_CLIENT),
                           ("asyncio_client.py", ASYNCIO_CLIENT)):
            with open(self.path(name), "w") as f:
                f.write(text)
        port = harness.free_port
        nds, pys = port(), port()
        server = self.spawn("node_server", [node, self.path("node_server.js"), self.www,
                                            str(nds), self.cert, self.key])
        self.wait_port(nds, server)
        self.start_python("py_tls_server", pys)
        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(nds),
                             "--port", str(pys))
        counters, status = self.status_counters()
        self.assertIn(os.path.realpath(node), status)
        before = counters.get("kernel.tls_thread_fd", 0)
        reqs = [("GET", "/small.txt", 0), ("POST", "/echo", 100 * KIB), ("GET", "/big.bin", 0),
                ("GET", "/chunked", 0), ("GET", "/small.txt", 0)]
        # node client -> node server; curl -> node server; node client -> python server.
        nodec = [node, self.path("node_client.js")]
        self.json_client("node", nodec, nds, reqs, "node")
        self.curl(nds, [("/small.txt", ()), ("/big.bin", ())], server_comm="node")
        self.json_client("node", nodec, pys, reqs, "python3")
        # python asyncio (ssl.SSLObject, a memory BIO too) -> node server and python server.
        aioc = [sys.executable, self.path("asyncio_client.py")]
        self.json_client("asyncio", aioc, nds, reqs, "node")
        self.json_client("asyncio", aioc, pys, reqs, "python3")
        counters, status = self.status_counters()
        self.assertGreater(counters.get("kernel.tls_thread_fd", 0), before, status)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.check(harness.read_jsonl(out))

    def test_unprobed_library_is_in_the_session_notes(self):
        """A process maps a libssl without SSL_read/SSL_write: the session's notes say so (list,
        and the end of `start`), not only `status`. A refusal is not remembered: once the file
        (the same inode) holds a real libssl, the next capture probes it."""
        src, lib = self.path("fake_ssl.c"), self.path("fakessl/libssl.so.9")
        os.mkdir(self.path("fakessl"))
        with open(src, "w") as f:
            f.write("int not_ssl_read(void) { return 1; }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True,
                       capture_output=True, timeout=60)
        holder = self.spawn("fake_ssl_user", [sys.executable, "-c",
                                              "import ctypes, sys, time; ctypes.CDLL(sys.argv[1]);"
                                              " print('mapped', flush=True); time.sleep(600)",
                                              lib])
        harness.wait_until(lambda: "mapped" in holder.stdout(), what="the library mapped")
        ctl = self.start_ctl("start", "--port", str(harness.free_port()), "-o",
                             self.path("t.txt"))
        want = "tls not probed (no_symbol): /proc/%d/root%s" % (holder.proc.pid, os.path.realpath(lib))
        self.assertIn(want, self.status_counters()[1])
        code, listed, err = self.ctl("list")
        self.assertEqual(code, 0, err)
        self.assertIn("note: " + want, listed)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.assertIn("note: " + want, ctl.stderr())
        # The same file, rewritten in place (the holder never calls into it).
        inode = os.stat(lib).st_ino
        with open(os.path.realpath("/usr/lib/x86_64-linux-gnu/libssl.so.3"), "rb") as src_f, \
                open(lib, "r+b") as dst_f:
            dst_f.truncate(0)
            dst_f.write(src_f.read())
        self.assertEqual(os.stat(lib).st_ino, inode)
        ctl = self.start_ctl("start", "--port", str(harness.free_port()), "-o",
                             self.path("t2.txt"), name="ctl2")
        status = self.status_counters()[1]
        self.assertNotIn(want, status)
        self.assertIn("tls openssl /proc/%d/root%s" % (holder.proc.pid, os.path.realpath(lib)),
                      status)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.assertNotIn(want, ctl.stderr())

    def test_plain_sessions_attach_no_uprobe(self):
        """`--tls plain` sessions alone attach no uprobe; a session that wants TLS attaches
        them, and when it ends they go while the plain session goes on."""
        agent_pid = self.agent.pid
        port = harness.free_port()
        plain = self.start_ctl("start", "--tls", "plain", "--port", str(port), "-o",
                               self.path("plain.txt"), name="ctl_plain")
        # Started: the syscall probes are attached (start_ctl returns after the attach).
        counters, out = self.status_counters()
        self.assertIn("attached via", out)
        self.assertEqual(counters.get("tls.uprobes", 0), 0, out)
        self.assertNotIn("libssl.so", out)
        self.assertEqual(perf_event_fds(agent_pid), 0)
        both = self.start_ctl("start", "--port", str(port), "-o", self.path("both.txt"),
                              name="ctl_both")
        self.assert_uprobes_attached(agent_pid)
        self.stop_and_assert_uprobes_detached(
            both, agent_pid, "the uprobes detached when the last TLS session ended")
        self.assertIsNone(plain.proc.poll(), "the plain session's client ended")
        plain.send(signal.SIGINT)
        self.assertEqual(plain.wait(timeout=60), 0, plain.stderr())

    def test_https_exchanges_exact_on_both_sides(self):
        port = harness.free_port
        up, ngx, pys, sss = port(), port(), port(), port()
        self.start_python("upstream", up, tls=False)
        self.start_nginx(ngx, up)
        self.start_python("py_tls_server", pys)
        # s_server -WWW serves the request's path as a file name relative to its directory,
        # query included: the file is made under that name.
        sdir = self.path("s_server")
        os.mkdir(sdir)
        s_target = self.target("/small.txt")
        shutil.copy(os.path.join(self.www, "small.txt"), os.path.join(sdir, s_target[1:]))
        server = self.spawn("s_server", ["/bin/sh", "-c", 'cd "$0" && exec "$@"', sdir,
                                         self.openssl, "s_server", "-accept", str(sss),
                                         "-cert", self.cert, "-key", self.key, "-WWW", "-quiet"])
        self.wait_port(sss, server)

        out = self.path("trace.jsonl")
        ports = []
        for p in (up, ngx, pys, sss):
            ports += ["--port", str(p)]
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, *ports)
        only = self.start_ctl("start", "--tls", "only", "-o", self.path("tls.txt"), *ports,
                              name="ctl_tls_only")

        # curl -> nginx (TLS): keep-alive over four requests; gzip (chunked by nginx); 1 MiB;
        # through the proxy location to the plaintext upstream.
        self.curl(ngx, [("/small.txt", ()), ("/page.html", ("--compressed",)),
                        ("/big.bin", ()), ("/up/small.txt", ())])
        proxied = self.expects[-1]
        # wget (GnuTLS) -> nginx.
        self.wget(ngx, "/small.txt")
        # python ssl client -> python ssl server: keep-alive, POST 100 KiB, 1 MiB, chunked.
        self.py_client(pys, [("GET", "/small.txt", 0), ("POST", "/echo", 100 * KIB),
                             ("GET", "/big.bin", 0), ("GET", "/chunked", 0)])
        # openssl s_client -> s_server -WWW (HTTP/1.0, close-delimited).
        self.s_client(sss, s_target)
        # A process started now, with a libssl no process had mapped at the session's start
        # (a private copy): found only through exec and its maps. It sends its requests once
        # the agent lists that copy as probed (the rescans after an exec run at 1 ms .. 2 s).
        libdir = self.path("privlib")
        os.mkdir(libdir)
        real = os.path.realpath("/usr/lib/x86_64-linux-gnu/libssl.so.3")
        shutil.copy(real, os.path.join(libdir, "libssl.so.3"))
        env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        late = self.py_client(pys, [("GET", "/small.txt", 0)], env=env,
                              probed=os.path.join(libdir, "libssl.so.3"))
        # OpenSSL linked statically into the executable: found by SSL_read/SSL_write symbols.
        self.static_client(pys, "/small.txt")
        counters, status = self.status_counters()
        self.assertIn(os.path.join(libdir, "libssl.so.3"), status)  # "  tls openssl /proc/..."
        self.assertEqual(counters.get("kernel.tls_no_fd"), 0, status)

        ctl.send(signal.SIGINT)
        only.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.assertEqual(only.wait(timeout=60), 0, only.stderr())
        events = harness.read_jsonl(out)

        # The proxy's second hop, in plaintext: nginx as client, the upstream as server.
        hop = Expect("nginx", None, "python3", up, "GET", proxied.target, 200, self.small,
                     tls=False)
        xs = [x for x in events if "request" in x and x["request"]["target"] == proxied.target
              and x["role"] == "client" and x["comm"] == "nginx"]
        self.assertEqual(len(xs), 1, [json.dumps(x)[:300] for x in xs])
        hop.client_pid = xs[0]["pid"]
        self.expects.append(hop)
        self.check(events)

        self.assertTrue(any(x.get("pid") == late for x in events if "request" in x))

        # --tls only, text: every exchange is HTTPS; the plaintext hop is not there.
        with open(self.path("tls.txt"), encoding="utf-8") as f:
            # Exchange headers: one end ("[time] PID ...") or both ends shown once ("[time]
            # client → server https (...) both ends traced").
            heads = [l for l in f.read().splitlines()
                     if l.startswith("[") and (" PID " in l or l.endswith(" both ends traced"))]
        self.assertGreater(len(heads), 0)
        self.assertEqual([h for h in heads if "https (" not in h], [])
        # wget reads at GnuTLS, nginx at OpenSSL: both named on the pair's header.
        self.assertTrue(any("https (client gnutls, server openssl)" in h or "https (gnutls)" in h
                            for h in heads), heads)
        self.assertEqual([h for h in heads if "127.0.0.1:%d " % up in h + " "], [])

    def test_boringssl_exact_on_both_sides(self):
        """BoringSSL (Debian's android-libboringssl: libssl.so.0 under .../android, no
        SSL_read_ex/SSL_write_ex) on either side. `bssl client` against nginx (OpenSSL):
        three pipelined requests on one connection, 1 MiB among them, exact on both sides.
        `bssl server -www` answers curl (OpenSSL) and `bssl client`: HTTP/1.0, close-delimited,
        its connection's parameters as the body; it reads only the request's first 4 bytes
        ("GET "), so its side has the response and not the request (asserted so). Its library
        is probed through OpenSSL's API: "openssl" in the exchanges, as for OpenSSL itself
        (bpf/events.h has one value for both); status names the BoringSSL file."""
        bssl = which("bssl-tool")
        self.assertIsNotNone(bssl, "bssl-tool is not installed (scripts/setup.sh installs "
                                   "android-boringssl)")
        port = harness.free_port
        ngx, bss = port(), port()
        self.start_nginx(ngx, port())
        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(ngx),
                             "--port", str(bss))
        self.assertNotIn(BORINGSSL, self.status_counters()[1],
                         "a process maps BoringSSL already: its discovery by exec is not tested")
        # bssl client -> nginx. Started now: its libssl.so.0 is found through its exec (the
        # android directory is not one of the library directories scanned at start).
        self.bssl_client(ngx, [("/small.txt", "HTTP/1.1"), ("/big.bin", "HTTP/1.1"),
                               ("/page.html", "HTTP/1.1")], "nginx")
        self.assertEqual([e.body for e in self.expects[-3:]], [self.small, MIB, self.page])
        self.assertEqual([e.status for e in self.expects[-3:]], [200] * 3)
        counters, status = self.status_counters()
        self.assertRegex(status, r"tls openssl /proc/\d+/root%s \(6 uprobes\)" % BORINGSSL)

        # curl (OpenSSL) -> bssl server, one connection per request (close-delimited
        # responses), and bssl client -> bssl server: BoringSSL on both sides.
        server = self.spawn("bssl_server", [bssl, "server", "-accept", str(bss), "-key", self.key,
                                            "-cert", self.cert, "-www", "-loop"])
        self.wait_port(bss, server)
        self.curl(bss, [("/", ("--http1.1",)), ("/info", ("--http1.1",))],
                  server_comm="bssl-tool")
        unread = self.expects[-2:]
        self.bssl_client(bss, [("/both", "HTTP/1.0")], "bssl-tool")
        unread.append(self.expects[-1])
        for e in unread:
            e.server_side = False  # matched by connection below (its side has no target)
            self.assertEqual(e.status, 200)
            self.assertGreater(e.body, 100)
        counters, status = self.status_counters()
        self.assertEqual(counters.get("kernel.tls_no_fd"), 0, status)
        self.assertEqual(counters.get("tls.attach_failed_no_symbol"), 0, status)
        # SSL_read_ex/SSL_write_ex, which it lacks, are passed over without libbpf's warning.
        self.assertEqual([l for l in self.agent.stderr().splitlines()
                          if "failed to find symbol" in l and BORINGSSL in l], [])

        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        events = harness.read_jsonl(out)
        self.check(events)
        self.check_request_unread(events, unread, "bssl-tool", bss)

    def check_request_unread(self, events, expects, server_comm, server_port):
        """A server that reads a request's first bytes only and answers (bssl server -www):
        per client exchange, exactly one exchange of that server on the client's connection,
        with the response the client saw, no request, and the note that says so."""
        exchanges = [x for x in events if "request" in x]
        problems = []
        for e in expects:
            where = "%s %s %s" % (e.client, e.method, e.target)
            client = [x for x in exchanges if x["role"] == "client" and x["pid"] == e.client_pid
                      and x["request"]["target"] == e.target]
            if len(client) != 1:
                problems.append("%s: %d client exchanges" % (where, len(client)))
                continue
            c = client[0]
            got = [x for x in exchanges if x["role"] == "server" and x["comm"] == server_comm and
                   unmapped(x["local"]) == c["remote"] and unmapped(x["remote"]) == c["local"]]
            if len(got) != 1:
                problems.append("%s: server side has %d exchanges on %s, want 1" % (
                    where, len(got), c["local"]))
                continue
            x = got[0]
            resp = x.get("response") or {}
            if (resp.get("status"), resp.get("body_size")) != (e.status, e.body):
                problems.append("%s (server): response %s, client saw %d %d" % (
                    where, json.dumps(resp)[:200], e.status, e.body))
            if x.get("tls") != {"library": e.server_library} or x["complete"]:
                problems.append("%s (server): tls %s complete %s" % (where, x.get("tls"),
                                                                     x["complete"]))
            if x["request"]["method"] or not any("request not captured" in n
                                                 for n in x["notes"]):
                problems.append("%s (server): request %s notes %s: the server reads it now? "
                                "update the test" % (where, x["request"], x["notes"]))
            if port_of(x["local"]) != server_port:
                problems.append("%s (server): local %s" % (where, x["local"]))
        self.assertEqual(problems, [], "\n".join(problems))

    def test_go_crypto_tls_exact_on_both_sides(self):
        bins = self.build_go()
        port = harness.free_port
        go_port, stripped_port, pys = port(), port(), port()
        servers = {}
        for name, p in (("go_server", go_port), ("go_server_s", stripped_port)):
            servers[name] = self.spawn(name, [bins[name], "-root", self.www, "-listen",
                                              "127.0.0.1:%d" % p, "-cert", self.cert, "-key",
                                              self.key])
            self.wait_port(p, servers[name])
        self.start_python("py_tls_server", pys)
        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(go_port),
                             "--port", str(stripped_port), "--port", str(pys))
        # Both servers were running at the session's start: found by the start-up scan.
        harness.wait_until(lambda: all(bins[n] in self.status_counters()[1] for n in servers),
                           what="the agent probing both Go servers")

        # curl -> Go server (symbols) and -> the stripped one: keep-alive, 1 MiB, chunked.
        # HTTP/1.1: the Go servers do not offer HTTP/2 (go_server.go).
        for comm, p in (("go_server", go_port), ("go_server_s", stripped_port)):
            self.curl(p, [("/small.txt", ("--http1.1",)), ("/big.bin", ("--http1.1",)),
                          ("/chunked", ("--http1.1",))], server_comm=comm)
            for e in self.expects[-3:]:
                e.server_library = "go"
        # Go clients started now (found through exec), keep-alive; POST 100 KiB; 1 MiB.
        self.go_client(bins["go_client"], stripped_port,
                       [("GET", "/small.txt", 0), ("POST", "/echo", 100 * KIB),
                        ("GET", "/big.bin", 0)], "go_server_s", "go")
        self.go_client(bins["go_client_s"], go_port,
                       [("GET", "/chunked", 0), ("POST", "/echo", 3000)], "go_server", "go")
        self.go_client(bins["go_client_s"], pys,
                       [("GET", "/small.txt", 0), ("POST", "/echo", 100 * KIB),
                        ("GET", "/big.bin", 0)], "python3", "openssl")
        counters, status = self.status_counters()
        self.assertEqual(counters.get("kernel.tls_no_fd"), 0, status)
        self.assertEqual(counters.get("tls.attach_failed_go_undecodable"), 0, status)

        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.check(harness.read_jsonl(out))

    def test_captures_back_to_back_record_every_request(self):
        """Four captures one after the other, as a script that rotates captures does; in each,
        requests go out the moment `start` prints "started session": curl (OpenSSL) -> nginx,
        and curl -> a Go crypto/tls server, built normally and stripped. "started session" means
        the probes the session needs are attached: every request is exact on both sides in
        every capture, and each capture's summary says nothing was lost. (Between captures the
        previous capture's uprobes are still being removed: the Go executables' code must be
        read from the file, not through a mapping that shows their breakpoints.)"""
        bins = self.build_go(names=("go_server",))
        port = harness.free_port
        ngx, go_port, stripped_port = port(), port(), port()
        self.start_nginx(ngx, port())
        for name, p in (("go_server", go_port), ("go_server_s", stripped_port)):
            server = self.spawn(name, [bins[name], "-root", self.www, "-listen",
                                       "127.0.0.1:%d" % p, "-cert", self.cert, "-key", self.key])
            self.wait_port(p, server)
        for capture in range(4):
            self.expects = []
            out = self.path("trace%d.jsonl" % capture)
            ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(ngx),
                                 "--port", str(go_port), "--port", str(stripped_port),
                                 name="ctl%d" % capture)
            self.curl(ngx, [("/small.txt", ()), ("/big.bin", ())])
            for comm, p in (("go_server", go_port), ("go_server_s", stripped_port)):
                self.curl(p, [("/small.txt", ("--http1.1",))], server_comm=comm)
                self.expects[-1].server_library = "go"
            ctl.send(signal.SIGINT)
            self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
            with self.subTest(capture=capture):
                self.assertRegex(ctl.stderr(), r"\b0 lost\b")
                self.check(harness.read_jsonl(out))
        counters, status = self.status_counters()
        self.assertEqual(counters.get("tls.attach_failed_go_undecodable"), 0, status)


if __name__ == "__main__":
    unittest.main()
