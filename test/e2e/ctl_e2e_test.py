"""End-to-end: the real agent (real probes), the real httptracectl, real servers and clients.

Each test starts its own agent on a private unix socket and its own demo app on a free loopback
port, and filters on that port so other traffic on the machine cannot disturb it.
"""

import base64
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import E2ETestCase, http, read_jsonl, wait_until

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
HAR_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "har")


def curl(*args):
    subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "10"] + list(args),
                   check=True, stdin=subprocess.DEVNULL)


def send_known_sequence(port):
    base = "http://127.0.0.1:%d" % port
    curl(base + "/users")
    curl("-X", "POST", "-H", "Content-Type: application/json", "-d", '{"name":"New User"}',
         base + "/user")
    curl("-H", "Authorization: Bearer secret-token", base + "/users/42")
    curl("--compressed", base + "/users.gz")
    curl(base + "/chunked")


def normalize_text(text, port, pid):
    text = re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}( [+-]\d\d:\d\d)?\]", "[TIME]", text, flags=re.M)
    text = re.sub(r"latency [0-9.]+ (µs|ms|s)", "latency LATENCY", text)
    text = re.sub(r"ttfb [0-9.]+ (µs|ms|s)", "ttfb TTFB", text)
    text = text.replace("PID %d " % pid, "PID APP ")
    text = text.replace(":%d" % port, ":PORT")
    text = re.sub(r"127\.0\.0\.1:\d+\b(?!.*:PORT)", "127.0.0.1:CLIENT", text)
    text = re.sub(r"(← )127\.0\.0\.1:\d+", r"\g<1>127.0.0.1:CLIENT", text)
    text = re.sub(r"Date: .*", "Date: DATE", text)
    text = re.sub(r"Server: demo-app/1.0 Python/[0-9.]+", "Server: demo-app/1.0 Python", text)
    text = re.sub(r"User-Agent: curl/[0-9.]+", "User-Agent: curl", text)
    return text


def app_pid(test, port):
    for p in test.processes:
        if p.name == "app%d" % port:
            return p.pid
    raise AssertionError("no app on port %d" % port)


class KnownSequence(E2ETestCase):
    def test_text_and_jsonl_traces_of_a_known_exchange_sequence(self):
        port = self.start_app()
        text_ctl = self.start_ctl("start", "--port", str(port), "--role", "server",
                                  "-o", self.path("trace.txt"), name="ctl_text")
        json_ctl = self.start_ctl("start", "--port", str(port), "--role", "server",
                                  "--format", "jsonl", "-o", self.path("trace.jsonl"),
                                  name="ctl_json")
        send_known_sequence(port)
        for ctl in (text_ctl, json_ctl):
            ctl.send(signal.SIGINT)
            self.assertEqual(ctl.wait(), 0, ctl.stderr())
            self.assertRegex(ctl.stderr(),
                             r"session \S+ on \S+ ended \(stopped\): 5 exchange\(s\), 0 lost")

        events = read_jsonl(self.path("trace.jsonl"))
        exchanges = [e for e in events if "request" in e]
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(events[-1]["end"]["reason"], "stopped")
        self.assertEqual([(e["request"]["method"], e["request"]["target"],
                           e["response"]["status"]) for e in exchanges],
                         [("GET", "/users", 200), ("POST", "/user", 201),
                          ("GET", "/users/42", 404), ("GET", "/users.gz", 200),
                          ("GET", "/chunked", 200)])
        pid = app_pid(self, port)
        for e in exchanges:
            self.assertEqual(e["pid"], pid)
            self.assertEqual(e["role"], "server")
            self.assertEqual(e["local"], "127.0.0.1:%d" % port)
            self.assertTrue(e["complete"], e)
            self.assertGreater(e["latency_us"], 0)
            # Time to first byte: after the request's first byte, not after the response's last.
            self.assertGreater(e["ttfb_us"], 0)
            self.assertLessEqual(e["ttfb_us"], e["latency_us"])
        self.assertEqual(exchanges[0]["response"]["body"],
                         '[{"id":1,"name":"Alice"},{"id":2,"name":"Bob"},{"id":3,"name":"Carol"}]')
        self.assertEqual(exchanges[1]["request"]["body"], '{"name":"New User"}')
        self.assertEqual(exchanges[1]["response"]["body"], '{"id":4,"name":"New User"}')
        self.assertIn(["Authorization", "[REDACTED]"], exchanges[2]["request"]["headers"])
        self.assertEqual(exchanges[3]["response"]["body_decoded_from"], "gzip")
        self.assertTrue(exchanges[3]["response"]["body"].startswith('[{"id":1'))
        self.assertEqual(exchanges[4]["response"]["body"], "hello chunked world\n")

        with open(self.path("trace.txt")) as f:
            text = normalize_text(f.read(), port, pid)
        golden_path = os.path.join(GOLDEN_DIR, "known_sequence.txt")
        if os.environ.get("HTTPTRACE_UPDATE_GOLDEN"):
            with open(os.environ["HTTPTRACE_UPDATE_GOLDEN"], "w") as f:
                f.write(text)
        with open(golden_path) as f:
            self.assertEqual(text, f.read())

    def test_ipv6_server_exchange_has_bracketed_addresses(self):
        port = self.start_app(host="::1")
        ctl = self.start_ctl("start", "--port", str(port), "--role", "server", "--format",
                             "jsonl", "-o", self.path("v6.jsonl"))
        status, _ = http("GET", "http://[::1]:%d/users" % port)
        self.assertEqual(status, 200)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(), 0, ctl.stderr())
        exchanges = [e for e in read_jsonl(self.path("v6.jsonl")) if "request" in e]
        self.assertEqual(len(exchanges), 1)
        self.assertEqual(exchanges[0]["local"], "[::1]:%d" % port)
        self.assertTrue(exchanges[0]["remote"].startswith("[::1]:"))


    def test_a_hangup_stops_the_session_as_ctrl_c_does(self):
        # The terminal of the ctl closed (an ssh session dropped): SIGHUP. The session must end
        # and the trace be closed, not keep capturing with nobody reading.
        port = self.start_app()
        ctl = self.start_ctl("start", "--port", str(port), "--role", "server", "-o",
                             self.path("hup.txt"))
        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % port)[0], 200)
        ctl.send(signal.SIGHUP)
        self.assertEqual(ctl.wait(), 0, ctl.stderr())
        with open(self.path("hup.txt")) as f:
            text = f.read()
        self.assertIn("GET /users", text)
        self.assertIn("-- session ended (stopped)", text)
        code, out, err = self.ctl("list")
        self.assertEqual(code, 0, err)
        self.assertNotIn("active", out)


class Sessions(E2ETestCase):
    def test_two_concurrent_sessions_each_see_only_their_traffic(self):
        port_a = self.start_app()
        port_b = self.start_app()
        ctl_a = self.start_ctl("start", "--port", str(port_a), "--format", "jsonl",
                               "-o", self.path("a.jsonl"), name="ctl_a")
        ctl_b = self.start_ctl("start", "--port", str(port_b), "--method", "POST",
                               "--format", "jsonl", "-o", self.path("b.jsonl"), name="ctl_b")
        for _ in range(3):
            http("GET", "http://127.0.0.1:%d/users" % port_a)
        http("GET", "http://127.0.0.1:%d/users" % port_b)
        http("POST", "http://127.0.0.1:%d/user" % port_b, b'{"name":"B"}')
        for ctl in (ctl_a, ctl_b):
            ctl.send(signal.SIGINT)
            self.assertEqual(ctl.wait(), 0, ctl.stderr())
        a = [e for e in read_jsonl(self.path("a.jsonl")) if "request" in e]
        b = [e for e in read_jsonl(self.path("b.jsonl")) if "request" in e]
        # Session A has no role filter: the server's and the client's (python urllib) views.
        self.assertEqual(sorted(e["role"] for e in a), ["client"] * 3 + ["server"] * 3)
        self.assertTrue(all(str(port_a) in (e["local"] + e["remote"]) for e in a))
        self.assertEqual([e["request"]["method"] for e in b], ["POST", "POST"])
        self.assertTrue(all(str(port_b) in (e["local"] + e["remote"]) for e in b))

    def test_detach_attach_resume_and_stop(self):
        port = self.start_app()
        code, out, err = self.ctl("start", "--detach", "--port", str(port), "--role", "server")
        self.assertEqual(code, 0, err)
        session = out.strip()
        self.assertIn("started session " + session, err)
        for i in range(3):
            http("GET", "http://127.0.0.1:%d/users" % port)
        code, out, _ = self.ctl("list")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"%s\s+active" % session)
        attach = harness.Process([harness.CTL_BIN, "--agent", "unix://" + self.socket, "attach",
                                  session, "--format", "jsonl", "-o", self.path("live.jsonl")],
                                 self.workdir, "attach")
        self.processes.append(attach)
        wait_until(lambda: len(read_jsonl(self.path("live.jsonl"))) >= 3
                   if os.path.exists(self.path("live.jsonl")) else False, what="attached events")
        code, _, err = self.ctl("stop", session)
        self.assertEqual(code, 0, err)
        self.assertIn("ended (stopped): 3 exchange(s), 0 lost", err)
        self.assertEqual(attach.wait(), 0, attach.stderr())
        live = read_jsonl(self.path("live.jsonl"))
        self.assertEqual([e["seq"] for e in live], [1, 2, 3, 4])
        # The ended session stays readable: resume from sequence number 2.
        code, out, err = self.ctl("attach", session, "--from-seq", "2", "--format", "jsonl")
        self.assertEqual(code, 0, err)
        resumed = [json_line for json_line in out.splitlines() if json_line]
        self.assertEqual(len(resumed), 3)
        self.assertIn('"seq":2,', resumed[0])
        self.assertIn('"end":', resumed[2])

    def test_ctl_killed_mid_stream_leaves_a_session_that_can_be_attached(self):
        port = self.start_app()
        ctl = self.start_ctl("start", "--port", str(port), "--role", "server",
                             "-o", self.path("killed.txt"))
        http("GET", "http://127.0.0.1:%d/users" % port)
        ctl.stop(signal.SIGKILL)
        http("POST", "http://127.0.0.1:%d/user" % port, b'{"name":"after"}')
        code, out, _ = self.ctl("list")
        self.assertRegex(out, r"%s\s+active" % ctl.session)
        code, _, err = self.ctl("stop", ctl.session)
        self.assertEqual(code, 0, err)
        code, out, err = self.ctl("attach", ctl.session, "--from-seq", "1", "--format", "jsonl")
        self.assertEqual(code, 0, err)
        methods = re.findall(r'"method":"(\w+)"', out)
        self.assertEqual(methods, ["GET", "POST"])
        # The agent keeps running and answers.
        self.assertEqual(self.ctl("status")[0], 0)

    def test_agent_stopped_mid_stream_makes_ctl_say_so_and_exit_1(self):
        port = self.start_app()
        ctl = self.start_ctl("start", "--port", str(port), "-o", self.path("t.txt"))
        http("GET", "http://127.0.0.1:%d/users" % port)
        self.agent.send(signal.SIGTERM)
        self.assertEqual(self.agent.wait(), 0, self.agent.stderr())
        self.assertEqual(ctl.wait(), 1, ctl.stderr())
        self.assertIn("agent_shutdown", ctl.stderr())
        self.assertIn("ended the session", ctl.stderr())


class Limits(E2ETestCase):
    def test_duration_and_max_exchanges_end_the_capture_by_themselves(self):
        port = self.start_app()
        started = time.monotonic()
        code, _, err = self.ctl("start", "--port", str(port), "--duration", "2s", "-o",
                                self.path("d.txt"))
        self.assertEqual(code, 0, err)
        self.assertGreaterEqual(time.monotonic() - started, 2.0)
        self.assertIn("ended (stopped)", err)

        ctl = self.start_ctl("start", "--port", str(port), "--role", "server",
                             "--max-exchanges", "2", "--format", "jsonl",
                             "-o", self.path("m.jsonl"))
        for _ in range(4):
            http("GET", "http://127.0.0.1:%d/health" % port)
        self.assertEqual(ctl.wait(), 0, ctl.stderr())
        self.assertIn("ended (max_exchanges): 2 exchange(s)", ctl.stderr())
        events = read_jsonl(self.path("m.jsonl"))
        self.assertEqual(len([e for e in events if "request" in e]), 2)
        self.assertEqual(events[-1]["end"]["reason"], "max_exchanges")

    def test_unread_session_over_its_queue_reports_the_drop_instead_of_hiding_it(self):
        port = self.start_app()
        code, out, err = self.ctl("start", "--detach", "--port", str(port), "--role", "server",
                                  "--queue", "3")
        self.assertEqual(code, 0, err)
        session = out.strip()
        for _ in range(8):
            http("GET", "http://127.0.0.1:%d/health" % port)
        self.assertEqual(self.ctl("stop", session)[0], 0)
        code, out, err = self.ctl("attach", session, "--format", "jsonl")
        self.assertEqual(code, 0, err)
        lines = [line for line in out.splitlines() if line]
        self.assertEqual(len([l for l in lines if '"request"' in l]), 3)
        self.assertIn('"loss":{"exchanges":5,', lines[3])
        self.assertIn('"reason":"slow_reader"', lines[3])
        self.assertIn("5 lost", err)


def install_har_consumers():
    """npm ci of har-validator and playwright-core into a scratch dir, from nothing."""
    scratch = tempfile.mkdtemp(prefix="httptrace-har.", dir=os.environ.get("TEST_TMPDIR"))
    for name in ("package.json", "package-lock.json", "validate.js", "replay.js"):
        shutil.copy(os.path.join(HAR_DIR, name), scratch)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=scratch,
                   check=True, timeout=300, stdin=subprocess.DEVNULL)
    return scratch


def pipelined(port, *targets):
    """Sends every request in one write on one connection (HTTP/1.1 pipelining)."""
    payload = b"".join(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (t.encode(), port)
                       for t in targets)
    def complete(data):  # every response whole, by its Content-Length (the app sends one)
        for _ in targets:
            head_end = data.find(b"\r\n\r\n")
            match = re.search(rb"Content-Length: (\d+)", data[:head_end])
            if head_end < 0 or not match:
                return False
            data = data[head_end + 4 + int(match.group(1)):]
        return True

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while not complete(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


class Har(E2ETestCase):
    consumers = None

    @classmethod
    def setUpClass(cls):
        if harness.bpf_unavailable_reason() is None:
            cls.consumers = install_har_consumers()

    @classmethod
    def tearDownClass(cls):
        if cls.consumers:
            shutil.rmtree(cls.consumers, ignore_errors=True)

    def validate(self, path):
        proc = subprocess.run(["node", os.path.join(self.consumers, "validate.js"), path],
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode() + proc.stdout.decode())
        with open(path) as f:
            return json.load(f)

    def test_har_of_gzip_chunked_binary_redacted_and_pipelined_exchanges_validates_and_replays(
            self):
        port = self.start_app()
        base = "http://127.0.0.1:%d" % port
        pid = app_pid(self, port)
        ctl = self.start_ctl("start", "-p", str(pid), "--role", "server", "--format", "har",
                             "-o", self.path("trace.har"))
        # The demo app answers 404 to a query string: fine, the entry has one all the same.
        not_found = http("GET", base + "/users?page=2&name=Zo%C3%AB")[1]
        curl("-H", "Authorization: Bearer secret-token", base + "/users/42")
        gz = http("GET", base + "/users.gz")[1]
        chunked = http("GET", base + "/chunked")[1]
        binary = bytes(range(256))
        self.assertEqual(http("POST", base + "/user", binary,
                              {"Content-Type": "application/octet-stream"})[0], 400)
        answers = pipelined(port, "/health", "/users")
        self.assertEqual(answers.count(b"HTTP/1.1 200"), 2)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(), 0, ctl.stderr())

        har = self.validate(self.path("trace.har"))
        entries = har["log"]["entries"]
        self.assertEqual(har["log"]["creator"]["name"], "httptracectl")
        self.assertEqual([(e["request"]["method"], e["request"]["url"], e["response"]["status"])
                          for e in entries],
                         [("GET", base + "/users?page=2&name=Zo%C3%AB", 404),
                          ("GET", base + "/users/42", 404),
                          ("GET", base + "/users.gz", 200),
                          ("GET", base + "/chunked", 200),
                          ("POST", base + "/user", 400),
                          ("GET", base + "/health", 200),
                          ("GET", base + "/users", 200)])
        by_url = {e["request"]["url"]: e for e in entries}
        first = entries[0]
        self.assertEqual(first["request"]["queryString"],
                         [{"name": "page", "value": "2"}, {"name": "name", "value": "Zoë"}])
        self.assertEqual(first["response"]["content"]["text"], not_found.decode())
        self.assertEqual(first["response"]["content"]["mimeType"], "application/json")
        self.assertEqual(first["_httptrace"]["pid"], pid)
        self.assertEqual(first["_httptrace"]["role"], "server")
        for e in entries:
            t = e["timings"]
            self.assertGreaterEqual(t["wait"], 0)
            self.assertGreaterEqual(t["receive"], 0)
            self.assertAlmostEqual(e["time"], t["send"] + t["wait"] + t["receive"], places=2)
            self.assertGreater(e["time"], 0)
        self.assertIn({"name": "Authorization", "value": "[REDACTED]"},
                      by_url[base + "/users/42"]["request"]["headers"])
        gz_content = by_url[base + "/users.gz"]["response"]["content"]
        users = gzip.decompress(gz)
        self.assertEqual(gz_content["text"], users.decode())
        self.assertEqual(gz_content["compression"], len(users) - len(gz))
        self.assertEqual(by_url[base + "/chunked"]["response"]["content"]["text"],
                         chunked.decode())
        post = by_url[base + "/user"]["request"]["postData"]
        self.assertEqual(post["mimeType"], "application/octet-stream")
        self.assertEqual(base64.b64decode(post["text"]), binary)
        self.assertEqual(har["log"]["_httptrace"]["sessions"][0]["reason"], "stopped")

        # Opened where users open HAR: Playwright replays it into Chromium, network cut off.
        requests = [{"url": base + "/users?page=2&name=Zo%C3%AB", "method": "GET"},
                    {"url": base + "/chunked", "method": "GET"},
                    {"url": base + "/health", "method": "GET"},
                    {"url": base + "/users.gz", "method": "GET"}]
        proc = subprocess.run(["node", os.path.join(self.consumers, "replay.js"),
                               self.path("trace.har"), json.dumps(requests)],
                              capture_output=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(lines[0]["status"], 404, lines)
        replayed = {r["url"]: r for r in lines[1:]}
        self.assertEqual(base64.b64decode(replayed[base + "/users?page=2&name=Zo%C3%AB"]
                                          ["body_base64"]), not_found, replayed)
        self.assertEqual(base64.b64decode(replayed[base + "/chunked"]["body_base64"]), chunked)
        self.assertEqual(base64.b64decode(replayed[base + "/health"]["body_base64"]), b"ok\n")
        self.assertEqual(replayed[base + "/users.gz"]["status"], 200, replayed)
        self.assertEqual(base64.b64decode(replayed[base + "/users.gz"]["body_base64"]), users)

    def test_har_cut_by_interrupts_or_a_dying_agent_is_still_one_valid_document(self):
        port = self.start_app()
        base = "http://127.0.0.1:%d" % port
        # Two interrupts at once: the second gives up draining, the document is still closed.
        ctl = self.start_ctl("start", "--port", str(port), "--role", "server", "--format",
                             "har", "-o", self.path("cut.har"))
        for _ in range(3):
            http("GET", base + "/users")
        ctl.send(signal.SIGINT)
        ctl.send(signal.SIGINT)
        ctl.wait()
        har = self.validate(self.path("cut.har"))
        self.assertLessEqual(len(har["log"]["entries"]), 3)
        # The agent killed mid-stream: exit 1, and the document still ends.
        ctl = self.start_ctl("start", "--port", str(port), "--role", "server", "--format",
                             "har", "-o", self.path("killed.har"), name="ctl_killed")
        http("GET", base + "/health")
        wait_until(lambda: re.search(r"active\s+\S+\s+\S+\s+1\s", self.ctl("list")[1]),
                   what="the exchange counted")
        self.agent.send(signal.SIGKILL)
        self.assertEqual(ctl.wait(), 1, ctl.stderr())
        self.validate(self.path("killed.har"))
        # A HAR file is one document: appending to one is refused before anything starts.
        code, _, err = self.ctl("start", "--format", "har", "-o", self.path("killed.har"))
        self.assertEqual(code, 1)
        self.assertIn("not empty", err)


# A server with known latencies for `top`: /slow/<ms> answers after <ms> milliseconds,
# /users/<id> at once, anything else 404.
TIMED_SERVER = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        parts = self.path.split("/")
        status, body = 404, b"no"
        if len(parts) == 3 and parts[1] == "slow":
            time.sleep(int(parts[2]) / 1000.0)
            status, body = 200, b"slow"
        elif len(parts) == 3 and parts[1] == "users":
            status, body = 200, b'{"id":%s}' % parts[2].encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
sys.stderr.write("listening\n"); sys.stderr.flush()
server.serve_forever()
"""


def parse_top(text):
    """{(method, route): {column: value}} from top's table (colours, if any, removed)."""
    rows = {}
    for line in text.splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        fields = line.replace("both ends", "both-ends").split()
        if len(fields) == 10 and fields[0] != "METHOD":
            rows[(fields[0], fields[1])] = dict(zip(
                ("seen", "reqs", "rate", "err", "p50", "p90", "p99", "bytes"), fields[2:]))
    return rows


def millis(text):
    for unit, scale in (("µs", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    raise ValueError(text)


class Top(E2ETestCase):
    def start_timed_server(self):
        port = harness.free_port()
        server = harness.Process([sys.executable, "-c", TIMED_SERVER, str(port)], self.workdir,
                                 "timed-server")
        self.processes.append(server)
        wait_until(lambda: "listening" in server.stderr(), what="the timed server")
        return port

    def known_load(self, port):
        base = "http://127.0.0.1:%d" % port
        for i in range(20):
            self.assertEqual(http("GET", "%s/users/%d" % (base, i + 1))[0], 200)
        for _ in range(10):
            self.assertEqual(http("GET", base + "/slow/100")[0], 200)
        for _ in range(5):
            self.assertEqual(http("GET", base + "/missing")[0], 404)

    def check_known_load(self, rows):
        self.assertEqual(rows[("GET", "/users/{id}")]["reqs"], "20", rows)
        self.assertEqual(rows[("GET", "/users/{id}")]["err"], "0.0%")
        slow = rows[("GET", "/slow/{id}")]
        self.assertEqual(slow["reqs"], "10")
        for column in ("p50", "p90", "p99"):
            self.assertGreaterEqual(millis(slow[column]), 100.0, slow)
            self.assertLess(millis(slow[column]), 250.0, slow)
        self.assertLess(millis(rows[("GET", "/users/{id}")]["p50"]), 100.0)
        self.assertEqual(rows[("GET", "/missing")]["err"], "100.0%")

    def test_top_once_prints_rates_and_percentiles_of_a_known_load(self):
        port = self.start_timed_server()
        top = harness.Process([harness.CTL_BIN, "--agent", "unix://" + self.socket, "top",
                               "--port", str(port), "--role", "server", "--once",
                               "--duration", "6s", "--sort", "requests"], self.workdir, "top")
        self.processes.append(top)
        wait_until(lambda: "started session" in top.stderr() or top.proc.poll() is not None,
                   what="top's session")
        self.known_load(port)
        self.assertEqual(top.wait(timeout=60), 0, top.stderr())
        out = top.stdout()
        self.assertEqual(out.count("httptracectl top:"), 1, out)  # once: one table
        rows = parse_top(out)
        self.check_known_load(rows)
        # 20 requests over the 6 s the table covers.
        self.assertAlmostEqual(float(rows[("GET", "/users/{id}")]["rate"]), 20 / 6.0, delta=0.5)
        # Sorted by requests, largest first.
        self.assertEqual(list(rows)[0], ("GET", "/users/{id}"))

    def test_top_in_a_real_terminal_refreshes_and_ends_on_ctrl_c(self):
        port = self.start_timed_server()
        tmux = ["tmux", "-L", "httptrace-top-%d" % os.getpid(), "-f", "/dev/null"]
        rc_file = self.path("top.rc")
        # The shell catches Ctrl-C (and lives to write top's exit status); top gets it too.
        command = ("trap true INT; %s --agent unix://%s top --port %d --role server "
                   "--interval 300ms; echo $? > %s" % (harness.CTL_BIN, self.socket, port,
                                                       rc_file))
        subprocess.run(tmux + ["new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
                               "sh", "-c", command], check=True, timeout=30)
        self.addCleanup(subprocess.run, tmux + ["kill-server"], capture_output=True)

        def screen():
            return subprocess.run(tmux + ["capture-pane", "-p", "-t", "top"],
                                  capture_output=True, timeout=30).stdout.decode()

        wait_until(lambda: "httptracectl top:" in screen(), timeout=30, what="top's table")
        self.known_load(port)
        wait_until(lambda: parse_top(screen()).get(("GET", "/missing"), {}).get("reqs") == "5",
                   timeout=20, what="the table to show the load")
        rows = parse_top(screen())
        self.check_known_load(rows)
        self.assertEqual(screen().count("httptracectl top:"), 1, "the screen is redrawn in place")
        subprocess.run(tmux + ["send-keys", "-t", "top", "C-c"], check=True, timeout=30)
        wait_until(lambda: os.path.exists(rc_file) and open(rc_file).read().strip(), timeout=40,
                   what="top to end after Ctrl-C")
        with open(rc_file) as f:
            self.assertEqual(f.read().strip(), "0")


class BadInput(E2ETestCase):
    def test_usage_errors_exit_2_and_runtime_errors_exit_1(self):
        cases = [
            (["start", "--port", "abc"], 2, "--port abc"),
            (["start", "--port", "0"], 2, "--port 0"),
            (["start", "--bogus"], 2, "unknown flag --bogus for start"),
            # A flag of another subcommand, or one in the wrong place, is refused.
            (["list", "--port", "80"], 2, "--port is a flag of start and top, not list"),
            (["stop", "--format", "jsonl", "x"], 2, "--format is a flag of start, attach, status and top, not stop"),
            (["status", "extra"], 2, 'status takes no argument ("extra" given)'),
            (["start", "--from-seq", "3"], 2, "--from-seq is a flag of attach, not start"),
            (["--port", "80", "start"], 2, "put it after the command"),  # a filter before the command
            (["start", "--agent"], 2, "--agent"),
            (["start", "--role", "proxy"], 2, "--role proxy: want client, server"),
            (["start", "--format", "xml"], 2, "--format xml: want text, line, jsonl or har"),
            # Every number is range-checked before anything is asked of an agent.
            (["start", "--body-limit", "-5"], 2, "--body-limit -5: want 0 to 1073741824"),
            (["start", "--body-limit", "2000000000"], 2, "--body-limit"),
            (["start", "--queue", "0"], 2, "--queue 0: want 1 to 1048576"),
            (["start", "--max-exchanges", "-1"], 2, "--max-exchanges"),
            (["start", "--pid", "-3"], 2, "--pid"),
            (["attach", "s", "--from-seq", "0"], 2, "--from-seq"),
            (["top", "--rows", "0"], 2, "--rows"),
            (["top", "--sort", "latency"], 2, "--sort latency: want rate, requests"),
            (["start", "--duration", "soon"], 2, "--duration: soon: want a duration"),
            (["start", "--duration", "-1s"], 2, "--duration"),
            (["--timeout", "0s", "list"], 2, "--timeout"),
            (["--merge-window", "-1s", "list"], 2, "--merge-window"),
            (["start", "-o"], 2, "-o"),
            (["attach"], 2, "session is required"),
            (["stop"], 2, "session is required"),
            (["frobnicate"], 2, 'unknown command "frobnicate"'),
            ([], 2, "missing command"),
            (["stop", "nosuchsession"], 1, "no session"),
            (["attach", "nosuchsession"], 1, "no session"),
            (["start", "--path-prefix", "api"], 2, "must start with /"),
            (["start", "--container", "ab"], 2, "too short"),
        ]
        for args, want_code, want_message in cases:
            code, _, err = self.ctl(*args)
            self.assertEqual(code, want_code, (args, err))
            self.assertIn(want_message, err, args)
        # A missing agent is a runtime failure with a hint.
        proc = subprocess.run([harness.CTL_BIN, "--agent", "unix://" + self.path("none.sock"),
                               "list"], capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"is httptrace-agent running", proc.stderr)
        self.assertEqual(self.ctl("status")[0], 0, "the agent survives bad requests")

    def test_timeout_bounds_each_call_to_an_agent_that_never_answers(self):
        # A real TCP listener that accepts and never speaks: the call waits --timeout, not 60 s.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            address = "127.0.0.1:%d" % silent.getsockname()[1]
            started = time.monotonic()
            proc = subprocess.run([harness.CTL_BIN, "--agent", address, "--insecure",
                                   "--timeout", "700ms", "status"], capture_output=True,
                                  timeout=60)
            elapsed = time.monotonic() - started
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(b"no answer within --timeout", proc.stderr)
        self.assertGreaterEqual(elapsed, 0.7)
        self.assertLess(elapsed, 10)

    def test_global_options_after_the_subcommand_help_per_subcommand_and_version(self):
        # --agent after the subcommand works as before it.
        proc = subprocess.run([harness.CTL_BIN, "status", "--agent", "unix://" + self.socket],
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(b"probes:", proc.stdout)
        for command, has, lacks in [("start", "--body-limit", "--from-seq"),
                                    ("attach", "--from-seq", "--body-limit"),
                                    ("top", "--sort", "--detach"),
                                    ("list", "--agent", "--port")]:
            proc = subprocess.run([harness.CTL_BIN, command, "--help"], capture_output=True,
                                  timeout=60)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(has.encode(), proc.stdout, command)
            self.assertNotIn(lacks.encode(), proc.stdout, command)
        proc = subprocess.run([harness.CTL_BIN, "version"], capture_output=True, timeout=60)
        self.assertRegex(proc.stdout.decode(), r"^httptracectl \d+\.\d+\.\d+\n$")

    def test_generated_bash_completion_completes_commands_flags_and_values(self):
        script = self.path("completion.bash")
        with open(script, "w") as f:
            f.write(subprocess.run([harness.CTL_BIN, "completion", "bash"], capture_output=True,
                                   check=True, timeout=60).stdout.decode())

        def complete(*words):
            # What bash does on <TAB>: COMP_WORDS/COMP_CWORD set, the function fills COMPREPLY.
            line = " ".join(["httptracectl"] + list(words))
            program = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _httptracectl; '
                       'printf "%%s\\n" "${COMPREPLY[@]}"' %
                       (script, line if words[-1] else line + " ''", len(words)))
            out = subprocess.run(["bash", "-c", program], capture_output=True, check=True,
                                 timeout=60).stdout.decode()
            return sorted(out.split())

        self.assertEqual(complete("st"), ["start", "status", "stop"])
        self.assertEqual(complete("start", "--for"), ["--format"])
        self.assertEqual(complete("start", "--format", ""), ["har", "jsonl", "line", "text"])
        self.assertEqual(complete("top", "--so"), ["--sort"])
        self.assertIn("--from-seq", complete("attach", "--"))
        self.assertNotIn("--from-seq", complete("start", "--"))
        self.assertIn("--agent", complete("list", "--ag"))
        zsh = subprocess.run([harness.CTL_BIN, "completion", "zsh"], capture_output=True,
                             check=True, timeout=60).stdout.decode()
        self.assertTrue(zsh.startswith("#compdef httptracectl"))

    def test_agent_refuses_plaintext_tcp_and_bad_flags(self):
        proc = subprocess.run([harness.AGENT_BIN, "--listen", "tcp://127.0.0.1:0"],
                              capture_output=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(b"--insecure-tcp", proc.stderr)
        proc = subprocess.run([harness.AGENT_BIN, "--no-such-flag"], capture_output=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
