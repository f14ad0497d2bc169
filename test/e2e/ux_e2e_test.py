"""End-to-end: what a user reads. The real agent, the real httptracectl, the demo app and curl.

One exchange seen from both ends shown once (text, HAR, top) and linked in jsonl; the line
format against a golden file; colour only on a terminal (under tmux); the filters; the errors in
our words; `status`'s headline; `top`'s keys (tmux); the TLS note rule; socket access.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

import harness
from harness import E2ETestCase, read_jsonl, wait_until

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
ESC = "\x1b["


def curl(*args):
    subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "10"] + list(args),
                   check=True, stdin=subprocess.DEVNULL)


class Tmux:
    """A private tmux server (its own socket) running one command in a fixed-size window."""

    count = 0

    def __init__(self, workdir, command, env=None, width=200, height=50):
        self.tmux = shutil.which("tmux")
        if self.tmux is None:
            raise AssertionError("tmux is not installed (scripts/setup.sh installs it)")
        Tmux.count += 1  # a new server each time: one being killed may still hold its socket
        self.socket = os.path.join(workdir, "tmux%d.sock" % Tmux.count)
        environment = dict(os.environ, **(env or {}))
        environment.setdefault("TERM", "xterm-256color")
        environment.pop("TMUX", None)
        # The pane's command runs through a shell so it can set its environment and pipes.
        subprocess.run([self.tmux, "-S", self.socket, "-f", "/dev/null", "new-session", "-d",
                        "-x", str(width), "-y", str(height), "-s", "t", command],
                       check=True, env=environment, timeout=30)
        subprocess.run([self.tmux, "-S", self.socket, "set-option", "-t", "t",
                        "remain-on-exit", "on"], check=True, timeout=30)

    def screen(self, escapes=True):
        args = [self.tmux, "-S", self.socket, "capture-pane", "-p", "-t", "t"]
        if escapes:
            args.append("-e")
        return subprocess.run(args, capture_output=True, timeout=30).stdout.decode(
            errors="replace")

    def keys(self, *keys):
        subprocess.run([self.tmux, "-S", self.socket, "send-keys", "-t", "t"] + list(keys),
                       check=True, timeout=30)

    def pane_dead(self):
        out = subprocess.run([self.tmux, "-S", self.socket, "display-message", "-p", "-t", "t",
                              "#{pane_dead} #{pane_dead_status}"], capture_output=True,
                             timeout=30).stdout.decode().split()
        return out[0] == "1" if out else True

    def close(self):
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


class UxTestCase(E2ETestCase):
    def base(self, port):
        return "http://127.0.0.1:%d" % port

    def ctl_command(self, *args):
        """A shell command line running httptracectl against this test's agent."""
        return " ".join([harness.CTL_BIN, "--agent", "unix://" + self.socket] + list(args))

    def capture(self, args, requests, name="ctl"):
        """Runs `start ARGS`, sends `requests` (curl argument lists), stops with Ctrl-C and
        returns (exit code, stderr)."""
        ctl = self.start_ctl("start", *args, name=name)
        for request in requests:
            curl(*request)
        ctl.send(signal.SIGINT)
        code = ctl.wait(timeout=60)
        return code, ctl.stderr()


class BothEnds(UxTestCase):
    """curl and the demo app on loopback: both ends of every exchange are traced."""

    def test_text_shows_each_exchange_once_with_both_views(self):
        port = self.start_app()
        out = self.path("t.txt")
        code, err = self.capture(["--port", str(port), "-o", out],
                                 [[self.base(port) + "/users"], [self.base(port) + "/users/42"]])
        self.assertEqual(code, 0, err)
        text = open(out).read()
        self.assertEqual(text.count("both ends traced"), 2, text)
        self.assertEqual(len(re.findall(r"^  → HTTP GET /users HTTP/1\.1$", text, re.M)), 1, text)
        self.assertEqual(len(re.findall(r"^  → HTTP GET /users/42 HTTP/1\.1$", text, re.M)), 1)
        self.assertEqual(len(re.findall(r"^  client PID \d+ \(curl\) latency ", text, re.M)), 2)
        self.assertEqual(
            len(re.findall(r"^  server PID \d+ \(python3\) latency .* less: network and "
                           r"queueing\)$", text, re.M)), 2, text)
        # Each request's first line names the connection, client → server.
        self.assertRegex(text, r"\] 127\.0\.0\.1:\d+ → 127\.0\.0\.1:%d both ends traced" % port)
        self.assertIn("4 exchange(s)", err)  # the session's count is per record, as the agent's

    def test_both_sides_keeps_one_record_per_end(self):
        port = self.start_app()
        out = self.path("t.txt")
        code, err = self.capture(["--port", str(port), "--role", "both-sides", "-o", out],
                                 [[self.base(port) + "/users"]])
        self.assertEqual(code, 0, err)
        text = open(out).read()
        self.assertNotIn("both ends traced", text)
        self.assertEqual(len(re.findall(r"^  → HTTP GET /users HTTP/1\.1$", text, re.M)), 2)
        self.assertRegex(text, r"PID \d+ \(curl\) client ")
        self.assertRegex(text, r"PID \d+ \(python3\) server ")

    def test_jsonl_keeps_both_records_linked_by_pair(self):
        port = self.start_app()
        out = self.path("t.jsonl")
        code, err = self.capture(["--port", str(port), "--format", "jsonl", "-o", out],
                                 [[self.base(port) + "/users"], [self.base(port) + "/health"]])
        self.assertEqual(code, 0, err)
        exchanges = [e for e in read_jsonl(out) if "request" in e]
        self.assertEqual(len(exchanges), 4)
        pairs = {}
        for e in exchanges:
            self.assertIn("pair", e)
            pairs.setdefault(e["pair"], []).append(e)
        self.assertEqual(len(pairs), 2)
        for records in pairs.values():
            self.assertEqual(sorted(r["role"] for r in records), ["client", "server"])
            client = [r for r in records if r["role"] == "client"][0]
            server = [r for r in records if r["role"] == "server"][0]
            self.assertEqual(client["local"], server["remote"])
            self.assertEqual(client["request"]["target"], server["request"]["target"])

    def test_har_has_one_entry_per_exchange_with_the_servers_view(self):
        port = self.start_app()
        out = self.path("t.har")
        code, err = self.capture(["--port", str(port), "--format", "har", "-o", out],
                                 [[self.base(port) + "/users"], [self.base(port) + "/health"]])
        self.assertEqual(code, 0, err)
        entries = json.load(open(out))["log"]["entries"]
        self.assertEqual([e["request"]["url"].split(str(port))[1] for e in entries],
                         ["/users", "/health"])
        for entry in entries:
            self.assertEqual(entry["_httptrace"]["role"], "client")
            self.assertEqual(entry["_httptrace"]["server"]["comm"], "python3")
            self.assertEqual(entry["_httptrace"]["server"]["role"], "server")

    def test_only_one_end_traced_is_shown_alone(self):
        port = self.start_app()
        app_pid = [p for p in self.processes if p.name == "app%d" % port][0].pid
        out = self.path("t.txt")
        # The filter wants the server's process only: its client is never traced.
        code, err = self.capture(["-p", str(app_pid), "-o", out],
                                 [[self.base(port) + "/users"]])
        self.assertEqual(code, 0, err)
        text = open(out).read()
        self.assertNotIn("both ends traced", text)
        self.assertRegex(text, r"\] PID %d \(python3\) server 127\.0\.0\.1:%d ← " % (app_pid, port))
        # The client alone: its server filtered out by port on the client's side.
        out = self.path("c.txt")
        code, err = self.capture(["--port", str(port), "--role", "client", "-o", out],
                                 [[self.base(port) + "/users"]], name="ctl_client")
        self.assertEqual(code, 0, err)
        text = open(out).read()
        self.assertNotIn("both ends traced", text)
        self.assertRegex(text, r"\] PID \d+ \(curl\) client 127\.0\.0\.1:\d+ → 127\.0\.0\.1:%d"
                         % port)

    def test_top_counts_each_exchange_once(self):
        port = self.start_app()
        top = harness.Process([harness.CTL_BIN, "--agent", "unix://" + self.socket, "top",
                               "--port", str(port), "--once", "--duration", "6s"],
                              self.workdir, "top")
        self.processes.append(top)
        # top prints nothing until the end; give its session a moment to attach.
        wait_until(lambda: self.sessions_active() >= 1, what="top's session")
        for _ in range(20):
            curl(self.base(port) + "/users")
        self.assertEqual(top.wait(timeout=60), 0, top.stderr())
        table = top.stdout()
        row = [l for l in table.splitlines() if l.startswith("GET") and "/users" in l]
        self.assertEqual(len(row), 1, table)
        self.assertRegex(row[0], r"^GET\s+/users\s+both ends\s+20\s", table)

    def test_top_jsonl_snapshots_for_scripts(self):
        port = self.start_app()
        top = harness.Process([harness.CTL_BIN, "--agent", "unix://" + self.socket, "top",
                               "--port", str(port), "--format", "jsonl", "--interval", "500ms",
                               "--duration", "4s"], self.workdir, "top_jsonl")
        self.processes.append(top)
        wait_until(lambda: self.sessions_active() >= 1, what="top's session")
        for _ in range(5):
            curl(self.base(port) + "/users")
        self.assertEqual(top.wait(timeout=60), 0, top.stderr())
        snapshots = [json.loads(l) for l in top.stdout().splitlines()]
        self.assertGreaterEqual(len(snapshots), 3)
        last = snapshots[-1]
        users = [e for e in last["endpoints"] if e["route"] == "/users"]
        self.assertEqual(len(users), 1, last)
        self.assertEqual((users[0]["seen"], users[0]["requests"]), ("both ends", 5))

    def sessions_active(self):
        code, out, _ = self.ctl("list")
        return out.count(" active ") if code == 0 else 0


def normalize_line(text, port):
    text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d", "TIME", text,
                  flags=re.M)
    text = re.sub(r"\[\d+\]", "[PID]", text)
    text = re.sub(r"127\.0\.0\.1:%d\b" % port, "127.0.0.1:PORT", text)
    text = re.sub(r"127\.0\.0\.1:\d+\b(?!.*:PORT)", "127.0.0.1:CLIENT", text)
    text = re.sub(r"\b[0-9.]+ (µs|ms|s)\b", "LATENCY", text)
    return text


class LineFormat(UxTestCase):
    def test_line_format_matches_the_golden_file(self):
        port = self.start_app()
        out = self.path("t.log")
        base = self.base(port)
        code, err = self.capture(
            ["--port", str(port), "--format", "line", "-o", out],
            [[base + "/users"],
             ["-X", "POST", "-H", "Content-Type: application/json", "-d", '{"name":"New User"}',
              base + "/user"],
             [base + "/status/404"], [base + "/status/503"], [base + "/chunked"]])
        self.assertEqual(code, 0, err)
        got = normalize_line(open(out).read(), port)
        with open(os.path.join(GOLDEN_DIR, "line_sequence.txt")) as f:
            want = f.read()
        self.assertEqual(got, want)


class Colour(UxTestCase):
    def run_in_tmux(self, port, shell_command, env=None, done=None):
        tmux = Tmux(self.workdir, shell_command, env=env)
        done = done or (lambda: "/status/503" in tmux.screen(escapes=False))
        try:
            wait_until(lambda: "started session" in tmux.screen(escapes=False) or tmux.pane_dead(),
                       what="the capture in tmux")
            for target in ("/users", "/status/404", "/status/503"):
                curl(self.base(port) + target)
            wait_until(lambda: done() or tmux.pane_dead(), what="the trace in tmux")
            return tmux.screen(escapes=True)
        finally:
            tmux.close()

    def test_colour_on_a_terminal_only(self):
        port = self.start_app()
        line = self.ctl_command("start", "--port", str(port), "--format", "line")
        screen = self.run_in_tmux(port, line + " 2>&1")
        # tmux re-encodes colours it shows: green 200, yellow 404, red 503.
        self.assertRegex(screen, r"\x1b\[32m200\x1b\[(0|39)?m", screen)
        self.assertRegex(screen, r"\x1b\[33m404")
        self.assertRegex(screen, r"\x1b\[31m503")

        # A pipe, NO_COLOR and --color never: the same trace without a colour.
        for command, env in ((line + " 2>&1 | cat", None), (line + " 2>&1", {"NO_COLOR": "1"}),
                             (self.ctl_command("--color", "never", "start", "--port", str(port),
                                               "--format", "line") + " 2>&1", None)):
            screen = self.run_in_tmux(port, command, env)
            self.assertIn("/status/503", screen)
            self.assertNotRegex(screen, r"\x1b\[3[0-7]m", command)

        # A file never gets colour, even from a terminal; --color always gives it to a pipe.
        out = self.path("t.txt")
        self.run_in_tmux(port, self.ctl_command("start", "--port", str(port), "-o", out,
                                                "--format", "line") + " 2>&1",
                         done=lambda: os.path.exists(out) and "/status/503" in open(out).read())
        with open(out) as f:
            written = f.read()
        self.assertIn("/status/503", written)
        self.assertNotIn(ESC, written)
        forced = self.start_ctl("--color", "always", "start", "--port", str(port), "--format",
                                "line", name="ctl_forced")
        curl(self.base(port) + "/status/503")
        wait_until(lambda: "/status/503" in forced.stdout(), what="the forced trace")
        forced.send(signal.SIGINT)
        self.assertEqual(forced.wait(timeout=60), 0, forced.stderr())
        self.assertIn(ESC + "31m503", forced.stdout())

    def test_text_timestamps_carry_the_time_zone(self):
        port = self.start_app()
        out = self.path("t.txt")
        code, err = self.capture(["--port", str(port), "--role", "server", "-o", out],
                                 [[self.base(port) + "/users"]])
        self.assertEqual(code, 0, err)
        self.assertRegex(open(out).read(), re.compile(
            r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d\] PID ", re.M))


class Filters(UxTestCase):
    """Each new filter keeps what it names and nothing else (line format, both ends paired)."""

    def lines(self, args, requests, name):
        out = self.path(name + ".log")
        code, err = self.capture(list(args) + ["--format", "line", "-o", out], requests, name)
        self.assertEqual(code, 0, err)
        with open(out) as f:
            return [l for l in f.read().splitlines() if not l.startswith("--")]

    def test_status_host_latency_method(self):
        port = self.start_app()
        b = self.base(port)
        p = ["--port", str(port)]
        got = self.lines(p + ["--status", "5xx"],
                         [[b + "/users"], [b + "/status/404"], [b + "/status/503"]], "s5xx")
        self.assertEqual(len(got), 1, got)
        self.assertIn(" GET /status/503 503 ", got[0])
        got = self.lines(p + ["--status", "404", "--status", "2xx"],
                         [[b + "/users"], [b + "/status/404"], [b + "/status/503"]], "s404")
        self.assertEqual([l.split(" GET ")[1].split()[0] for l in got], ["/users", "/status/404"])
        got = self.lines(p + ["--host", "API.test"],
                         [[b + "/users"], ["-H", "Host: api.test:80", b + "/health"]], "host")
        self.assertEqual(len(got), 1, got)
        self.assertIn(" GET /health 200 ", got[0])
        got = self.lines(p + ["--min-latency", "150ms"],
                         [[b + "/users"], [b + "/slow?ms=300"]], "slow")
        self.assertEqual(len(got), 1, got)
        self.assertIn(" GET /slow?ms=300 200 ", got[0])
        got = self.lines(p + ["--method", "get"],
                         [[b + "/users"], ["-X", "POST", "-d", '{"name":"x"}', b + "/user"]],
                         "method")
        self.assertEqual(len(got), 1, got)
        self.assertIn(" GET /users 200 ", got[0])

    def test_connection(self):
        import http.client
        port = self.start_app()
        ids = self.start_ctl("start", "--port", str(port), "--role", "server", "--format",
                             "jsonl", "-o", self.path("ids.jsonl"), name="ctl_ids")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/users")
        conn.getresponse().read()
        wait_until(lambda: os.path.exists(self.path("ids.jsonl")) and any(
            "request" in e for e in read_jsonl(self.path("ids.jsonl"))), what="the first exchange")
        cid = [e for e in read_jsonl(self.path("ids.jsonl")) if "request" in e][0]["connection_id"]
        chosen = self.start_ctl("start", "--connection", str(cid), "--format", "line", "-o",
                                self.path("conn.log"), name="ctl_conn")
        conn.request("GET", "/health")        # the same connection: kept
        conn.getresponse().read()
        curl(self.base(port) + "/users/42")   # another connection: not kept
        chosen.send(signal.SIGINT)
        self.assertEqual(chosen.wait(timeout=60), 0, chosen.stderr())
        conn.close()
        with open(self.path("conn.log")) as f:
            got = [l for l in f.read().splitlines() if not l.startswith("--")]
        self.assertEqual(len(got), 1, got)
        self.assertIn(" GET /health 200 ", got[0])

    def test_values_that_can_never_match_are_refused(self):
        for args, want in ((["--method", "GETT"], "--method GETT: not an HTTP method"),
                           (["--status", "6xx"], "--status 6xx: want a class"),
                           (["--host", "a b"], "--host a b: want a host name")):
            code, out, err = self.ctl("start", "--port", "1", *args)
            self.assertEqual(code, 2, err)
            self.assertIn(want, err)


class Status(UxTestCase):
    def test_headline_answers_is_it_working_and_counters_are_one_flag_away(self):
        code, out, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^\S+ \(unix://.*agent\.sock\): healthy$")
        self.assertEqual(lines[1], "  probes:   ready; they attach while a capture runs (none now)")
        self.assertEqual(lines[2], "  sessions: 0 active, 0 ended")
        self.assertRegex(lines[3], r"^  traffic:  0\.0 exchanges/s now, \d+ exchange\(s\) since start$")
        self.assertEqual(lines[4], "  losses:   none since start")
        self.assertNotIn("\ncounters:", out)
        self.assertLess(len(lines), 12, out)

        # During a capture with traffic: attached, one session, a rate above zero.
        port = self.start_app()
        ctl = self.start_ctl("start", "--port", str(port), "-o", self.path("t.txt"))
        stop = time.monotonic() + 4
        load = subprocess.Popen([sys.executable, "-c", (
            "import time, urllib.request\n"
            "end = time.monotonic() + 3.5\n"
            "while time.monotonic() < end:\n"
            "    urllib.request.urlopen('http://127.0.0.1:%d/health', timeout=5).read()\n"
            "    time.sleep(0.02)\n") % port])
        time.sleep(0.5)
        code, out, err = self.ctl("status")
        load.wait(timeout=30)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[0].endswith(": healthy"), out)
        self.assertRegex(lines[1], r"^  probes:   attached via raw tracepoints \(\d+ programs\)")
        self.assertEqual(lines[2], "  sessions: 1 active, 0 ended")
        rate = float(re.search(r"traffic:  ([0-9.]+) exchanges/s now", out).group(1))
        self.assertGreater(rate, 5, out)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())

        code, out, err = self.ctl("status", "--counters")
        self.assertEqual(code, 0, err)
        self.assertIn("counters:", out)
        self.assertRegex(out, r"\n  pipeline\.exchanges\s+\d+\n")
        code, out, err = self.ctl("status", "--format", "json")
        self.assertEqual(code, 0, err)
        agent = json.loads(out)["agents"][0]
        self.assertEqual(agent["health"], "healthy")
        self.assertIn("pipeline.exchanges", agent["status"]["counters"])


class SocketAccess(UxTestCase):
    """--socket-group: root:GROUP on the socket and its directory; a refused user is told whose
    socket it is. nogroup (65534) is the group; a uid with no entry in /etc/passwd the stranger."""

    def test_socket_group_and_the_permission_error(self):
        os.chmod(self.workdir, 0o755)  # so other users reach the agent's own directory
        run_dir = os.path.join(self.workdir, "run")
        sock = os.path.join(run_dir, "agent.sock")
        agent = harness.Process([harness.AGENT_BIN, "--listen", "unix://" + sock,
                                 "--socket-group", "nogroup"], self.workdir, "agent_group")
        self.processes.append(agent)
        wait_until(lambda: os.path.exists(sock) or agent.proc.poll() is not None,
                   timeout=60, what="the group agent's socket")
        self.assertIsNone(agent.proc.poll(), agent.stderr())
        st_dir, st_sock = os.stat(run_dir), os.stat(sock)
        self.assertEqual((st_dir.st_uid, st_dir.st_gid, st_dir.st_mode & 0o7777),
                         (0, 65534, 0o750))
        self.assertEqual((st_sock.st_uid, st_sock.st_gid, st_sock.st_mode & 0o7777),
                         (0, 65534, 0o660))
        ctl = os.path.join(self.workdir, "httptracectl")  # the build's copy may be under /root
        shutil.copy(harness.CTL_BIN, ctl)
        os.chmod(ctl, 0o755)
        stranger = subprocess.run(
            ["setpriv", "--reuid", "65533", "--regid", "65533", "--clear-groups", ctl,
             "--agent", "unix://" + sock, "status"], capture_output=True, text=True, timeout=60)
        self.assertEqual(stranger.returncode, 1, stranger.stderr)
        self.assertIn("the directory %s is root:nogroup 0750 and you (65533) are not in group "
                      "nogroup: run as root (sudo), or have an administrator add you to nogroup"
                      % run_dir, stranger.stderr)
        self.assertNotIn("is httptrace-agent running", stranger.stderr)
        member = subprocess.run(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--init-groups", ctl,
             "--agent", "unix://" + sock, "status"], capture_output=True, text=True, timeout=60)
        self.assertEqual(member.returncode, 0, member.stderr)
        self.assertIn(": healthy", member.stdout.splitlines()[0])

    def test_unknown_group_is_refused_at_start(self):
        proc = subprocess.run([harness.AGENT_BIN, "--listen",
                               "unix://" + self.path("g/agent.sock"), "--socket-group",
                               "no-such-group-here"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("--socket-group no-such-group-here: no such group", proc.stderr)


class TopKeys(UxTestCase):
    """top under tmux: q quits, s/S change the sort, p pauses; colour on the terminal."""

    def test_keys_sort_pause_quit_and_colour(self):
        port = self.start_app()
        # The shell records top's exit status: tmux does not always reap its pane's process
        # (seen here: the ctl exited, a zombie, and #{pane_dead_status} stayed empty).
        status_file = self.path("top.status")
        tmux = Tmux(self.workdir, self.ctl_command("top", "--port", str(port), "--interval",
                                                   "300ms") + " 2>&1; echo $? > " + status_file)
        try:
            plain = lambda: tmux.screen(escapes=False)
            wait_until(lambda: "q quit" in plain() or tmux.pane_dead(), timeout=30,
                       what="top's table")
            self.assertIn("sorted by rate", plain())
            for _ in range(3):
                curl(self.base(port) + "/users")
            curl(self.base(port) + "/status/404")
            wait_until(lambda: "/status/{id}" in plain(), what="the endpoints")
            row = [l for l in tmux.screen().splitlines() if "/status/{id}" in l][0]
            self.assertIn(ESC + "33m", row, "a 4xx share is yellow")
            self.assertRegex(plain(), r"GET\s+/users\s+both ends\s+3\s")

            tmux.keys("s")
            wait_until(lambda: "sorted by requests" in plain(), what="s: next sort")
            tmux.keys("S")
            wait_until(lambda: "sorted by rate" in plain(), what="S: previous sort")

            tmux.keys("p")
            wait_until(lambda: "PAUSED" in plain(), what="p: paused")
            for _ in range(2):
                curl(self.base(port) + "/users")
            time.sleep(1.2)  # four refresh periods: a running table would show 5 by now
            self.assertRegex(plain(), r"GET\s+/users\s+both ends\s+3\s", "paused: no redraw")
            tmux.keys("p")
            wait_until(lambda: re.search(r"GET\s+/users\s+both ends\s+5\s", plain()),
                       what="p: resumed, counted while paused")
            self.assertNotIn("PAUSED", plain())

            tmux.keys("q")
            wait_until(lambda: os.path.exists(status_file) and
                       open(status_file).read().strip() != "", what="q: top ends")
            with open(status_file) as f:
                self.assertEqual(f.read().strip(), "0", plain())
            self.assertRegex(plain(), r"session \S+ on \S+ ended \(stopped\)")
        finally:
            tmux.close()


class TlsNotes(UxTestCase):
    """A TLS library that cannot be probed is noted only in the sessions it concerns: whose
    filter could match the live process that maps it; never in --tls plain sessions."""

    def notes_of(self, session):
        code, out, err = self.ctl("list")
        self.assertEqual(code, 0, err)
        notes, mine = [], False
        for line in out.splitlines():
            if not line.startswith("    note: "):
                mine = line.split()[1:2] == [session]
            elif mine:
                notes.append(line[len("    note: "):])
        return notes

    def test_note_only_where_a_live_matching_process_maps_the_library(self):
        # A libssl.so that has none of OpenSSL's functions: the attacher refuses it (no_symbol).
        source = self.path("fake.c")
        with open(source, "w") as f:
            f.write("int not_openssl(void) { return 0; }\n")
        library = self.path("libssl.so.99")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", library, source], check=True, timeout=60)
        mapper = harness.Process([sys.executable, "-c",
                                  "import ctypes, sys, time; ctypes.CDLL(sys.argv[1]); "
                                  "print('mapped', flush=True); time.sleep(120)", library],
                                 self.workdir, "mapper")
        self.processes.append(mapper)
        wait_until(lambda: "mapped" in mapper.stdout(), what="the library mapped")
        note = "tls not probed (no_symbol): /proc/%d/root%s" % (mapper.pid, library)

        def detached(*args):
            code, out, err = self.ctl("start", "--detach", "--idle-timeout", "60s", *args)
            self.assertEqual(code, 0, err)
            return out.strip()

        wanting = detached("--pid", str(mapper.pid))
        by_name = detached("--comm", os.path.basename(sys.executable)[:15])
        other = detached("--comm", "curl")
        plain = detached("--pid", str(mapper.pid), "--tls", "plain")
        wait_until(lambda: note in self.notes_of(wanting), what="the note in the session "
                   "whose filter names the process")
        self.assertIn(note, self.notes_of(by_name))
        self.assertNotIn(note, self.notes_of(other))
        self.assertNotIn(note, self.notes_of(plain))
        # The process exits: a session started afterwards is not told about it.
        mapper.stop()
        later = detached()
        self.assertNotIn(note, self.notes_of(later))
        for session in (wanting, by_name, other, plain, later):
            self.ctl("stop", session)


class Startup(UxTestCase):
    def test_a_host_without_container_runtimes_gets_one_calm_line(self):
        # No container store and no engine socket where this agent looks: a host without
        # containers, whatever this machine has.
        sock = self.path("calm.sock")
        agent = harness.Process([harness.AGENT_BIN, "--listen", "unix://" + sock,
                                 "--container-store", self.path("no-store"),
                                 "--container-engine-socket", self.path("no-engine.sock")],
                                self.workdir, "agent_calm")
        self.processes.append(agent)
        wait_until(lambda: "serving on" in agent.stderr() or agent.proc.poll() is not None,
                   timeout=60, what="the agent serving")
        log = agent.stderr()
        self.assertIn("no container runtime found", log)
        noisy = [l for l in log.splitlines() if re.match(r"^\S+ [WE] ", l)]
        self.assertEqual(noisy, [], log)


def run_ctl(*args):
    proc = subprocess.run([harness.CTL_BIN] + list(args), capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


class Errors(unittest.TestCase):
    """Usage errors in our words, exit status 2, before any agent is asked (none runs here)."""

    def test_each_rewritten_error(self):
        cases = [
            (["list", "--port", "80"], "--port is a flag of start and top, not list"),
            (["start", "--role", "server", "--role", "client"],
             "--role takes one value: client, server, both or both-sides"),
            (["strat"], 'unknown command "strat"; did you mean start?'),
            (["stauts"], 'unknown command "stauts"; did you mean status?'),
            (["start", "--prot", "80"], "unknown flag --prot for start; did you mean --port?"),
            (["start", "--role", "boss"], "--role boss: want client, server, both or both-sides"),
            (["start", "--queue", "0"], "--queue 0: want 1 to 1048576"),
            (["start", "--detach=yes"], "--detach takes no value"),
            (["list", "extra"], 'list takes no argument ("extra" given)'),
            (["--color", "sometimes", "list"], "--color sometimes: want auto, always or never"),
        ]
        for args, want in cases:
            code, out, err = run_ctl("--agent", "unix:///nonexistent/agent.sock", *args)
            self.assertEqual(code, 2, (args, err))
            self.assertEqual(err.strip(), "httptracectl: %s (see httptracectl --help)" % want,
                             args)
            self.assertNotIn("cannot reach", err)

    def test_each_command_has_its_own_help_with_globals_and_two_examples(self):
        code, top_help, _ = run_ctl("--help")
        self.assertEqual(code, 0)
        for command in ("start", "attach", "stop", "list", "status", "top", "version",
                        "completion"):
            code, out, err = run_ctl(command, "--help")
            self.assertEqual(code, 0, err)
            self.assertIn("Usage: httptracectl %s" % command, out)
            examples = out.split("Examples:\n", 1)[1].split("Global flags", 1)[0]
            lines = [l for l in examples.splitlines() if l.strip()]
            self.assertEqual(len(lines), 2, out)
            self.assertIn("--agent ADDR", out)
            self.assertIn("--color auto|always|never", out)
            # Not the top-level page's paragraph about start.
            self.assertNotIn("streams until Ctrl-C, --duration", out, command)


if __name__ == "__main__":
    unittest.main(verbosity=2)
