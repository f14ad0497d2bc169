"""What a trace must never hold (issue 28), end to end with the real agent and ctl:

- Secret values: curl sends tokens in query strings, passwords in form posts, client secrets in
  JSON bodies, a ticket and an SSN the session named itself (--redact-param, --redact-body-field);
  a real python server answers with an access token in JSON, a refresh token in a form body and
  an OAuth code in a Location header; over HTTP/2 (nghttpd, h2c) an API key in the target (and
  so in :path) and a client secret in the JSON it serves. Sessions in every format (text, line, jsonl, HAR and an
  OTLP export to the test collector) capture it at once: no output file, nor what the collector
  received, nor the agent's log holds any secret, and each shows the marker where the values
  were (HAR's queryString and postData.params included). A --no-redact session of the same
  traffic holds every secret: the traffic was captured, so the test can fail.
- The agent's own API traffic: a ctl talks to the agent over TCP with mutual TLS while a capture
  of every port runs; no exchange has the API port at either end or comes from the agent, while
  the same capture records the demo app's exchanges.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import unittest

import harness
from harness import E2ETestCase, Process, free_port, read_jsonl, wait_until
from ctl_e2e_test import install_har_consumers
from multi_agent_e2e_test import make_certificates

sys.path.insert(0, os.path.join(harness.RUNFILES, "test", "otlp"))
import otlp_testing  # noqa: E402

RECEIVER_BIN = os.path.join(harness.RUNFILES, "test", "otlp", "otlp_receiver")

# A real HTTP/1.1 server that answers with secrets of its own: an access token in JSON, a refresh
# token in a form body, an authorization code in a redirect's Location. It never echoes what it
# was sent (an echo under a name that is not secret would be a leak the agent cannot know).
SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SECRET = sys.argv[2]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, status, body, content_type="application/json", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        if self.path.startswith("/authorize"):
            self.answer(302, "", "text/plain",
                        [("Location", "/cb?code=%s-location&state=s1" % SECRET)])
        else:
            self.answer(200, json.dumps({"ok": True}))
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/oauth/token":
            self.answer(200, json.dumps({"access_token": SECRET + "-resp-json",
                                         "token_type": "Bearer", "expires_in": 3600}))
        elif self.path == "/form-echo":
            self.answer(200, "refresh_token=%s-resp-form&ok=1" % SECRET,
                        "application/x-www-form-urlencoded")
        else:
            self.answer(200, json.dumps({"ok": True}))
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
sys.stderr.write("listening\n")
sys.stderr.flush()
server.serve_forever()
"""


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def curl(*args):
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10"] + list(args),
                   check=True, stdin=subprocess.DEVNULL)


class Redaction(E2ETestCase):
    consumers = None

    @classmethod
    def setUpClass(cls):
        if harness.bpf_unavailable_reason() is None:
            cls.consumers = install_har_consumers()

    def setUp(self):
        super().setUp()
        self.receiver = otlp_testing.Receiver(RECEIVER_BIN, self.workdir)
        self.addCleanup(lambda: self.receiver.stop())

    def start_server(self, secret):
        port = free_port()
        server = Process([sys.executable, "-c", SERVER, str(port), secret], self.workdir,
                         "server")
        self.processes.append(server)
        wait_until(lambda: "listening" in server.stderr() or server.proc.poll() is not None,
                   what="the server")
        self.assertIsNone(server.proc.poll(), server.stderr())
        return port

    def start_nghttpd(self, secret):
        """nghttpd (h2c, prior knowledge) serving a JSON file with a secret member."""
        nghttpd = shutil.which("nghttpd", path="/usr/sbin:/usr/bin:/sbin:/bin")
        self.assertIsNotNone(nghttpd, "nghttpd is not installed (scripts/setup.sh installs "
                                      "nghttp2-server)")
        www = self.path("www")
        os.mkdir(www)
        with open(os.path.join(www, "keys.json"), "w") as f:
            json.dump({"kid": "k1", "client_secret": secret + "-h2-body"}, f)
        port = free_port()
        server = Process([nghttpd, "--no-tls", "-d", www, "--address", "127.0.0.1", str(port)],
                         self.workdir, "nghttpd")
        self.processes.append(server)
        wait_until(lambda: port_open(port) or server.proc.poll() is not None,
                   what="nghttpd")
        self.assertIsNone(server.proc.poll(), server.stderr())
        return port

    def send_secrets(self, base, secret):
        """Every kind of secret, each a distinct value beginning with `secret`; returns them."""
        s = lambda kind: "%s-%s" % (secret, kind)  # noqa: E731
        curl("%s/reset?token=%s&email=bob%%40example.com" % (base, s("query-token")))
        curl("%s/s3/obj?X-Amz-Credential=%s&X-Amz-Signature=%s&ticket=%s&part=1" % (
            base, s("amz-credential"), s("amz-signature"), s("ticket")))
        # curl -d: a form post (application/x-www-form-urlencoded).
        curl("-d", "user=bob&password=%s&remember=on" % s("form-password"), base + "/login")
        curl("-H", "Content-Type: application/json", "-d",
             json.dumps({"grant_type": "refresh_token", "refresh_token": s("json-refresh"),
                         "client": {"id": "app", "client_secret": s("json-client-secret")}}),
             base + "/oauth/token")
        # JSON sent as curl's default form type; `ssn` is the session's own body field.
        curl("-d", json.dumps({"name": "bob", "ssn": s("ssn")}), base + "/profile")
        curl("-e", "http://127.0.0.1/prev?access_token=%s" % s("referer"), base + "/authorize")
        curl("-d", "a=1", base + "/form-echo")
        # HTTP/2: the target is also the :path header; the JSON answer has a secret member.
        curl("--http2-prior-knowledge", "%s/keys.json?api_key=%s&v=2" % (self.h2_base,
                                                                        s("h2-query")))
        return [s(kind) for kind in ("h2-query", "h2-body",
            "query-token", "amz-credential", "amz-signature", "ticket", "form-password",
            "json-refresh", "json-client-secret", "ssn", "referer", "location", "resp-json",
            "resp-form")]

    def test_no_format_holds_a_secret_and_each_shows_the_marker(self):
        secret = "s3cr3t" + secrets.token_hex(6)
        port = self.start_server(secret)
        base = "http://127.0.0.1:%d" % port
        h2_port = self.start_nghttpd(secret)
        self.h2_base = "http://127.0.0.1:%d" % h2_port
        added = ["--port", str(h2_port), "--redact-param", "ticket", "--redact-body-field", "ssn"]
        outputs = {}
        ctls = []
        for fmt, name in (("text", "trace.txt"), ("line", "trace.line"),
                          ("jsonl", "trace.jsonl"), ("har", "trace.har")):
            outputs[fmt] = self.path(name)
            ctls.append(self.start_ctl("start", "--port", str(port), "--format", fmt, "-o",
                                       outputs[fmt], *added, name="ctl-" + fmt))
        clear = self.path("clear.jsonl")
        ctls.append(self.start_ctl("start", "--port", str(port), "--port", str(h2_port),
                                   "--format", "jsonl", "-o", clear, "--no-redact",
                                   name="ctl-clear"))
        code, out, err = self.ctl("start", "--export", "otlp://127.0.0.1:%d" % self.receiver.port,
                                  "--port", str(port), "--detach", *added)
        self.assertEqual(code, 0, err)
        export_session = out.strip()

        values = self.send_secrets(base, secret)
        # Each ctl stops its session on SIGINT and waits for every exchange completed before the
        # stop: what follows is all there is.
        for ctl in ctls:
            ctl.send(signal.SIGINT)
        for ctl in ctls:
            self.assertEqual(ctl.wait(), 0, ctl.stderr())
        # Eight exchanges, both ends traced: 16 spans.
        wait_until(lambda: len(self.receiver.spans()) >= 16, timeout=30, what="16 spans")
        code, _, err = self.ctl("stop", export_session)
        self.assertEqual(code, 0, err)

        # The capture saw every secret: the session that keeps them has each one.
        with open(clear) as f:
            kept = f.read()
        for value in values:
            self.assertIn(value, kept)

        outputs["otlp"] = self.receiver.out  # every span as the collector received it
        for fmt, path in outputs.items():
            with open(path) as f:
                content = f.read()
            self.assertNotIn(secret, content, "%s output holds a secret:\n%s" % (fmt, content))
        self.assertNotIn(secret, self.agent.stderr())
        for fmt in ("text", "line", "jsonl", "har"):
            with open(outputs[fmt]) as f:
                self.assertIn("[REDACTED]", f.read(), fmt)

        with open(outputs["text"]) as f:
            text = f.read()
        self.assertIn("GET /reset?token=[REDACTED]&email=bob%40example.com", text)
        self.assertIn("Body: user=bob&password=[REDACTED]&remember=on", text)
        self.assertIn("Location: /cb?code=[REDACTED]&state=s1", text)
        with open(outputs["line"]) as f:
            self.assertIn("GET /s3/obj?X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&"
                          "ticket=[REDACTED]&part=1", f.read())

        records = [r for r in read_jsonl(outputs["jsonl"]) if r.get("request")]
        by_target = {r["request"]["target"]: r for r in records}
        token = by_target["/oauth/token"]
        self.assertEqual(json.loads(token["request"]["body"]),
                         {"grant_type": "refresh_token", "refresh_token": "[REDACTED]",
                          "client": {"id": "app", "client_secret": "[REDACTED]"}})
        self.assertEqual(json.loads(token["response"]["body"])["access_token"], "[REDACTED]")
        self.assertEqual(json.loads(by_target["/profile"]["request"]["body"]),
                         {"name": "bob", "ssn": "[REDACTED]"})
        self.assertEqual(by_target["/form-echo"]["response"]["body"],
                         "refresh_token=[REDACTED]&ok=1")
        h2 = by_target["/keys.json?api_key=[REDACTED]&v=2"]
        self.assertEqual(h2["request"]["version"], "HTTP/2")
        self.assertIn([":path", "/keys.json?api_key=[REDACTED]&v=2"], h2["request"]["headers"])
        self.assertEqual(json.loads(h2["response"]["body"]),
                         {"kid": "k1", "client_secret": "[REDACTED]"})

        proc = subprocess.run(["node", os.path.join(self.consumers, "validate.js"),
                               outputs["har"]], capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode() + proc.stdout.decode())
        with open(outputs["har"]) as f:
            entries = json.load(f)["log"]["entries"]
        requests = {e["request"]["url"].split("?")[0].rsplit("/", 1)[-1]: e["request"]
                    for e in entries}
        self.assertIn({"name": "token", "value": "[REDACTED]"}, requests["reset"]["queryString"])
        self.assertIn({"name": "email", "value": "bob@example.com"},
                      requests["reset"]["queryString"])
        self.assertIn({"name": "ticket", "value": "[REDACTED]"}, requests["obj"]["queryString"])
        self.assertEqual(requests["login"]["postData"]["params"],
                         [{"name": "user", "value": "bob"},
                          {"name": "password", "value": "[REDACTED]"},
                          {"name": "remember", "value": "on"}])

        spans = [span for _, _, span in self.receiver.spans()]
        queries = [otlp_testing.attributes(s["attributes"]).get("url.query", "") for s in spans]
        self.assertIn("token=REDACTED&email=bob%40example.com", queries)
        self.assertIn("X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&ticket=REDACTED&part=1",
                      queries)


class OwnApiTraffic(unittest.TestCase):
    """The ctl on the agent's TCP API with mutual TLS, while a capture of every port runs."""

    def setUp(self):
        harness.skip_unless_capable(harness.bpf_unavailable_reason())
        self.workdir = harness.scratch_dir("httptrace-own-api", sockets=True)
        self.processes = []
        # A cleanup (it runs when setUp fails too): no agent outlives its test.
        self.addCleanup(self.stop_processes)
        make_certificates(self.workdir)
        self.api_port = free_port()
        self.agent = Process([harness.AGENT_BIN, "--listen", "tcp://127.0.0.1:%d" % self.api_port,
                              "--tls-cert", self.path("server.crt"),
                              "--tls-key", self.path("server.key"),
                              "--tls-client-ca", self.path("ca.crt"), "--log-level", "debug"],
                             self.workdir, "agent")
        self.processes.append(self.agent)
        wait_until(lambda: "serving on" in self.agent.stderr() or self.agent.proc.poll() is not None,
                   timeout=60, what="the agent serving")
        self.assertIsNone(self.agent.proc.poll(), self.agent.stderr())

    def stop_processes(self):
        for p in reversed(self.processes):
            p.stop()

    def path(self, name):
        return os.path.join(self.workdir, name)

    def ctl_argv(self, *args):
        return [harness.CTL_BIN, "--tls-ca", self.path("ca.crt"),
                "--tls-cert", self.path("client.crt"), "--tls-key", self.path("client.key"),
                "--agent", "tcp://127.0.0.1:%d" % self.api_port] + list(args)

    def ctl(self, *args):
        proc = subprocess.run(self.ctl_argv(*args), capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return proc.stdout.decode()

    def test_no_exchange_of_the_api_or_the_agent_while_capturing_every_port(self):
        app_port = free_port()
        app = Process([sys.executable, harness.DEMO_APP, "--port", str(app_port)], self.workdir,
                      "app")
        self.processes.append(app)
        wait_until(lambda: "listening" in app.stderr(), what="the demo app")
        trace = self.path("all.jsonl")
        # No filter: every process, every port, HTTPS included.
        capture = Process(self.ctl_argv("start", "--format", "jsonl", "-o", trace),
                          self.workdir, "ctl-capture")
        self.processes.append(capture)
        wait_until(lambda: "started session" in capture.stderr() or capture.proc.poll() is not None,
                   what="started session")
        self.assertIsNone(capture.proc.poll(), capture.stderr())
        for i in range(3):
            curl("http://127.0.0.1:%d/users" % app_port)
            # New mTLS connections to the API while the capture runs: HTTP/2 plaintext at the
            # ctl's TLS library and ciphertext on its socket.
            self.ctl("list")
            self.ctl("status")
        capture.send(signal.SIGINT)
        self.assertEqual(capture.wait(), 0, capture.stderr())

        exchanges = [r for r in read_jsonl(trace) if "request" in r or "response" in r]
        app_exchanges = [r for r in exchanges
                         if str(app_port) in (r["local"].rsplit(":", 1)[1],
                                              r["remote"].rsplit(":", 1)[1])]
        # Both ends of each curl: the capture works.
        self.assertGreaterEqual(len(app_exchanges), 6, exchanges)
        api = [r for r in exchanges
               if str(self.api_port) in (r["local"].rsplit(":", 1)[1],
                                         r["remote"].rsplit(":", 1)[1])]
        self.assertEqual(api, [], "the agent's API traffic was traced")
        own = [r for r in exchanges if r["pid"] == self.agent.pid]
        self.assertEqual(own, [], "the agent traced itself")
        counters = {}
        for line in self.ctl("status", "--counters").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counters[parts[0]] = int(parts[1])
        # Each ctl run above was a new connection the probes recognised as the API's.
        self.assertGreaterEqual(counters.get("kernel.own_api_conns", 0), 6, counters)


if __name__ == "__main__":
    unittest.main(verbosity=2)
