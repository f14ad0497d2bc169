"""End-to-end: the real agent (real probes), the real httptracectl, real servers and clients.

Each test starts its own agent on a private unix socket and its own demo app on a free loopback
port, and filters on that port so other traffic on the machine cannot disturb it.
"""

import os
import re
import signal
import subprocess
import time
import unittest

import harness
from harness import E2ETestCase, http, read_jsonl, wait_until

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


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
    text = re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]", "[TIME]", text, flags=re.M)
    text = re.sub(r"latency [0-9.]+ (µs|ms|s)", "latency LATENCY", text)
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
            self.assertRegex(ctl.stderr(), r"session \S+ ended \(stopped\): 5 exchange\(s\), 0 lost")

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


class BadInput(E2ETestCase):
    def test_usage_errors_exit_2_and_runtime_errors_exit_1(self):
        cases = [
            (["start", "--port", "abc"], 2, "--port abc"),
            (["start", "--bogus"], 2, "unknown flag --bogus"),
            (["start", "--role", "proxy"], 2, "--role proxy"),
            (["start", "--format", "xml"], 2, "text or jsonl"),
            (["attach"], 2, "attach takes one session id"),
            (["frobnicate"], 2, "unknown command"),
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
