#!/usr/bin/python3
"""Records real HTTP/2 conversations on loopback for the engine's tests (not run by the tests:
its output is committed). A recording TCP proxy sits between a real client and a real server;
every recv() is one chunk, written in arrival order as: 1 byte direction ('C' client to server,
'S' server to client), 4 bytes big-endian length, the bytes.

  /usr/bin/python3 agent/protocols/http2/testdata/capture.py OUT_DIR [nghttp|h2c|h2load|grpc|grpcgo]...

Scenarios: nghttp -> nghttpd (h2c prior knowledge, 4 resources, one missing), nghttp -u ->
apache2 mod_http2 (h2c upgrade from HTTP/1.1, a page and its 2 assets, one missing), h2load -n 200
-c 2 -m 10 -> nghttpd (one file per connection), and python grpcio
client -> grpcio server through generic handlers (unary, server/client/bidi streaming, an error
status, a 64 KiB message), and grpc-go client -> grpc-go server (testdata/grpc_go/main.go).
Debian's grpcio is for /usr/bin/python3.
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time


class RecordingProxy:
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = []  # one list of chunks per accepted connection
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            chunks = []
            with self.lock:
                self.connections.append(chunks)
            for src, dst, tag in ((client, upstream, b"C"), (upstream, client, b"S")):
                threading.Thread(target=self._pump, args=(src, dst, tag, chunks),
                                 daemon=True).start()

    def _pump(self, src, dst, tag, chunks):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                chunks.append((tag, data))
                dst.sendall(data)

    def save_all(self, prefix):
        time.sleep(0.3)
        with self.lock:
            for i, chunks in enumerate(self.connections):
                path = f"{prefix}_{i}.h2"
                with open(path, "wb") as f:
                    for tag, data in chunks:
                        f.write(tag + struct.pack(">I", len(data)) + data)
                print(f"{path}: {len(chunks)} chunks")

    def save(self, path):
        time.sleep(0.3)
        with self.lock:
            chunks = max(self.connections, key=len)
            with open(path, "wb") as f:
                for tag, data in chunks:
                    f.write(tag + struct.pack(">I", len(data)) + data)
        print(f"{path}: {len(chunks)} chunks")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def nghttp_scenario(out_dir):
    with tempfile.TemporaryDirectory() as docroot:
        with open(os.path.join(docroot, "index.html"), "w") as f:
            f.write("<html>hello from nghttpd</html>\n" * 20)
        with open(os.path.join(docroot, "big.bin"), "wb") as f:
            f.write(bytes(range(256)) * 200)
        with open(os.path.join(docroot, "text.txt"), "w") as f:
            f.write("compressible text " * 500)
        port = free_port()
        server = subprocess.Popen(["nghttpd", "--no-tls", "-d", docroot, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            proxy = RecordingProxy(port)
            base = f"http://127.0.0.1:{proxy.port}"
            subprocess.run(["nghttp", "-n", f"{base}/index.html",
                            f"{base}/big.bin", f"{base}/text.txt", f"{base}/missing"],
                           check=False, timeout=20, stdout=subprocess.DEVNULL)
            proxy.save(os.path.join(out_dir, "nghttp_nghttpd.h2"))
        finally:
            server.terminate()
            server.wait()


APACHE_H2C_CONF = """ServerRoot {root}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
TypesConfig /etc/mime.types
User nobody
Group nogroup
Listen 127.0.0.1:{port}
ServerName localhost
DocumentRoot {root}/docs
Protocols h2c http/1.1
H2Upgrade on
<Directory {root}/docs>
  Require all granted
</Directory>
"""


def h2c_upgrade_scenario(out_dir):
    """nghttp -u -> apache2 with mod_http2 (nghttpd does not answer Upgrade: h2c: it speaks
    HTTP/2 at once): an HTTP/1.1 GET with Upgrade: h2c answered 101, then the client preface
    and HTTP/2 (RFC 7540 3.2); the upgrade request is stream 1, the page's two assets (one
    missing) follow as HTTP/2 streams."""
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)  # apache's workers run as nobody
        docs = os.path.join(root, "docs")
        os.mkdir(docs)
        with open(os.path.join(docs, "index.html"), "w") as f:
            f.write("<html><link rel=stylesheet href=/style.css><img src=/missing.png>"
                    "upgraded to h2c</html>\n")
        with open(os.path.join(docs, "style.css"), "w") as f:
            f.write("body { color: black; } " * 100)
        for name in os.listdir(docs):
            os.chmod(os.path.join(docs, name), 0o644)
        port = free_port()
        conf = os.path.join(root, "httpd.conf")
        with open(conf, "w") as f:
            f.write(APACHE_H2C_CONF.format(root=root, port=port))
        server = subprocess.Popen(["apache2", "-f", conf, "-DFOREGROUND"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            proxy = RecordingProxy(port)
            base = f"http://127.0.0.1:{proxy.port}"
            # -a: the page's assets come as HTTP/2 streams after the upgraded stream 1
            # (nghttp -u takes one URI).
            subprocess.run(["nghttp", "-u", "-a", "-n", f"{base}/index.html"],
                           check=True, timeout=20, stdout=subprocess.DEVNULL)
            proxy.save(os.path.join(out_dir, "h2c_upgrade.h2"))
        finally:
            server.terminate()
            server.wait()


def h2load_scenario(out_dir):
    """h2load -n 200 -c 2 -m 10 against nghttpd: 2 connections, 10 streams in flight each."""
    with tempfile.TemporaryDirectory() as docroot:
        with open(os.path.join(docroot, "index.html"), "w") as f:
            f.write("<html>load</html>\n" * 10)
        port = free_port()
        server = subprocess.Popen(["nghttpd", "--no-tls", "-d", docroot, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            proxy = RecordingProxy(port)
            subprocess.run(["h2load", "-n", "200", "-c", "2", "-m", "10",
                            f"http://127.0.0.1:{proxy.port}/index.html"],
                           check=True, timeout=30, stdout=subprocess.DEVNULL)
            proxy.save_all(os.path.join(out_dir, "h2load_n200_c2_m10"))
        finally:
            server.terminate()
            server.wait()


def grpc_go_scenario(out_dir):
    """grpc-go (Debian's golang-google-grpc-dev, built offline from /usr/share/gocode) client and
    server: unary calls, a PermissionDenied error, a bidi stream."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "src", "h2cap")
        os.makedirs(src)
        with open(os.path.join(here, "grpc_go", "main.go")) as f, \
                open(os.path.join(src, "main.go"), "w") as out:
            out.write(f.read())
        env = dict(os.environ, GOPATH=f"{work}:/usr/share/gocode", GO111MODULE="off",
                   GOFLAGS="", GOPROXY="off", GOCACHE=os.path.join(work, "cache"))
        binary = os.path.join(work, "h2cap")
        subprocess.run(["go", "build", "-o", binary, "."], cwd=src, env=env, check=True,
                       timeout=600)
        port = free_port()
        server = subprocess.Popen([binary, "server", str(port)])
        try:
            wait_port(port)
            proxy = RecordingProxy(port)
            subprocess.run([binary, "client", str(proxy.port)], check=True, timeout=30)
            proxy.save(os.path.join(out_dir, "grpc_go.h2"))
        finally:
            server.terminate()
            server.wait()


def grpc_scenario(out_dir):
    import grpc
    from concurrent import futures

    def unary(request, context):
        if request == b"fail":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such item: fail ✓")
        return b"\x0a\x05hello" + request

    def server_stream(request, context):
        for i in range(3):
            yield bytes([0x08, i + 1])

    def client_stream(request_iterator, context):
        total = sum(len(r) for r in request_iterator)
        return bytes([0x08, total])

    def bidi(request_iterator, context):
        for r in request_iterator:
            yield r

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        proxy = RecordingProxy(port)
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}",
                                        options=[("grpc.enable_http_proxy", 0)])
        unary_call = channel.unary_unary("/test.Echo/Unary")
        assert unary_call(b"\x0a\x03abc", timeout=5) == b"\x0a\x05hello\x0a\x03abc"
        big = b"\x0a\x80\x80\x04" + b"x" * 65536
        assert len(unary_call(big, timeout=5)) == 7 + len(big)
        try:
            unary_call(b"fail", timeout=5)
            raise AssertionError("expected NOT_FOUND")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
        assert list(channel.unary_stream("/test.Echo/ServerStream")(b"", timeout=5)) == [
            b"\x08\x01", b"\x08\x02", b"\x08\x03"]
        assert channel.stream_unary("/test.Echo/ClientStream")(
            iter([b"a", b"bb", b"ccc"]), timeout=5) == b"\x08\x06"
        assert list(channel.stream_stream("/test.Echo/Bidi")(
            iter([b"\x08\x01", b"\x08\x02"]), timeout=5)) == [b"\x08\x01", b"\x08\x02"]
        channel.close()
        proxy.save(os.path.join(out_dir, "grpcio_python.h2"))
    finally:
        server.stop(0)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    scenarios = sys.argv[2:] or ["nghttp", "h2load", "grpc", "grpcgo"]
    if "nghttp" in scenarios:
        nghttp_scenario(out)
    if "h2c" in scenarios:
        h2c_upgrade_scenario(out)
    if "h2load" in scenarios:
        h2load_scenario(out)
    if "grpc" in scenarios:
        grpc_scenario(out)
    if "grpcgo" in scenarios:
        grpc_go_scenario(out)
