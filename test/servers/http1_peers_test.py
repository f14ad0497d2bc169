"""HTTP/1.x as real peers send and accept it, recorded exactly on both sides (issue 25): a
request preceded by empty lines (RFC 9112 2.2) and a QUERY request with a body, to node's http
server (llhttp); a QUERY request and a request whose field values are padded with tabs
(`Content-Length:<TAB>4<TAB>`, HTAB is OWS) to Go's net/http server. The client is a python
process that writes those exact bytes on one keep-alive connection per server; each exchange
must be there twice (client and server), complete, with the method, target, header values
(without their OWS), bodies and status the peers used, and the session must lose nothing.
"""

import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Writes each request (hex on argv) on one connection and reads its response; prints per
# request {"status", "body", "local"} as a JSON line. argv: port hex...
RAW_CLIENT = r'''
import http.client, json, socket, sys
port = int(sys.argv[1])
sock = socket.create_connection(("127.0.0.1", port), timeout=20)
for hexed in sys.argv[2:]:
    sock.sendall(bytes.fromhex(hexed))
    r = http.client.HTTPResponse(sock)
    r.begin()
    body = r.read()
    print(json.dumps({"status": r.status, "body": body.decode(),
                      "local": sock.getsockname()[1]}), flush=True)
'''


def which(name):
    for d in ("/usr/bin", "/usr/local/bin", "/usr/lib/go/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


class Http1PeersTest(harness.E2ETestCase):

    def spawn(self, name, argv):
        proc = harness.Process(argv, self.workdir, name)
        self.processes.append(proc)
        return proc

    def wait_port(self, port, proc):
        import socket

        def up():
            self.assertIsNone(proc.proc.poll(), "%s exited: %s" % (proc.name, proc.stderr()))
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        harness.wait_until(up, what="%s listening on %d" % (proc.name, port))

    def test_empty_lines_query_and_tabs_recorded_exactly_on_both_sides(self):
        node, go = which("node"), which("go")
        self.assertIsNotNone(node, "node is not installed (scripts/setup.sh)")
        self.assertIsNotNone(go, "go is not installed (scripts/setup.sh installs golang-go)")
        www = self.path("www")
        os.mkdir(www)
        with open(os.path.join(www, "small.txt"), "w") as f:
            f.write("small\n")
        env = dict(os.environ, GOCACHE=self.path("gocache"), GOPATH=self.path("gopath"),
                   GOPROXY="off", GOFLAGS="", GO111MODULE="off", HOME=self.workdir,
                   CGO_ENABLED="0")
        p = subprocess.run([go, "build", "-o", self.path("go_server"),
                            os.path.join(HERE, "go_server.go")], env=env, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        node_port, go_port = harness.free_port(), harness.free_port()
        self.wait_port(node_port, self.spawn("node_server", [
            node, os.path.join(HERE, "node_server.js"), www, "127.0.0.1", str(node_port)]))
        self.wait_port(go_port, self.spawn("go_server", [
            self.path("go_server"), "-root", www, "-listen", "127.0.0.1:%d" % go_port]))
        with open(self.path("raw_client.py"), "w") as f:
            f.write(RAW_CLIENT)

        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(node_port),
                             "--port", str(go_port))
        # (server comm, port, bytes, method, target, request headers, request body, response
        # body). Header values as the peers read them: OWS is not part of a value.
        cases = [
            ("node", node_port, b"\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n", "GET",
             "/small.txt", [["Host", "a"]], "", "small\n"),
            ("node", node_port,
             b"QUERY /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nq=abc", "QUERY",
             "/echo", [["Host", "a"], ["Content-Length", "5"]], "q=abc", "got 5 bytes\n"),
            ("go_server", go_port,
             b"QUERY /echo HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nq=x", "QUERY",
             "/echo", [["Host", "b"], ["Content-Length", "3"]], "q=x", "got 3 bytes\n"),
            ("go_server", go_port,
             b"POST /echo HTTP/1.1\r\nHost:\tb\t\r\nContent-Length:\t4\t\r\nX-In: a\tb \t\r\n"
             b"\r\nbody", "POST", "/echo",
             [["Host", "b"], ["Content-Length", "4"], ["X-In", "a\tb"]], "body",
             "got 4 bytes\n"),
        ]
        clients = {}
        for comm, port in (("node", node_port), ("go_server", go_port)):
            mine = [c for c in cases if c[0] == comm]
            proc = subprocess.run([sys.executable, self.path("raw_client.py"), str(port)] +
                                  [c[2].hex() for c in mine], capture_output=True, timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr.decode(errors="replace"))
            answers = [json.loads(l) for l in proc.stdout.decode().splitlines()]
            self.assertEqual([a["status"] for a in answers], [200] * len(mine), answers)
            self.assertEqual([a["body"] for a in answers], [c[7] for c in mine])
            clients[comm] = answers
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.assertRegex(ctl.stderr(), r"\b0 lost\b")
        exchanges = [x for x in harness.read_jsonl(out) if "request" in x]

        problems = []
        for comm in ("node", "go_server"):
            mine = [c for c in cases if c[0] == comm]
            local = clients[comm][0]["local"]
            for role in ("client", "server"):
                side = [x for x in exchanges if x["role"] == role and
                        (x["local"] if role == "client" else x["remote"]).endswith(":%d" % local)]
                got = [(x["request"]["method"], x["request"]["target"],
                        [list(h) for h in x["request"]["headers"]],
                        x["request"].get("body", ""), x["response"]["status"],
                        x["response"].get("body", ""), x["complete"]) for x in side]
                want = [(c[3], c[4], c[5], c[6], 200, c[7], True) for c in mine]
                if got != want:
                    problems.append("%s, %s side:\n  got  %s\n  want %s\n  notes %s" % (
                        comm, role, got, want, [x["notes"] for x in side]))
        self.assertEqual(problems, [], "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
