"""Runs the real agent, the real ctl and real HTTP servers and clients for end-to-end tests.

Everything talks over loopback and a unix socket in a private temporary directory. Processes
are started with bounded waits and always stopped (by PID) when a test ends.
"""

import atexit
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
import urllib.request

AGENT_BIN = os.environ.get("HTTPTRACE_AGENT_BIN", "bazel-bin/agent/httptrace-agent")
RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", "."), os.environ.get("TEST_WORKSPACE", ""))
CHART_DAEMONSET = os.path.join(RUNFILES, "deploy", "helm", "httptrace", "templates",
                               "daemonset.yaml")
CTL_BIN = os.environ.get("HTTPTRACE_CTL_BIN", "bazel-bin/cli/httptracectl")
DEMO_APP = os.environ.get("HTTPTRACE_DEMO_APP", "test/apps/demo_app.py")


def skip_unless_capable(reason):
    """Skips the calling test with `reason` when it is not None/empty: only where a capability is
    truly absent. Under HTTPTRACE_REQUIRE_CAPABILITIES=1 (CI: root, BPF, podman) it fails
    instead, since there a skip would hide a broken machine or setup step (the C++ twin is
    common/testing/test_support.h)."""
    if not reason:
        return
    if os.environ.get("HTTPTRACE_REQUIRE_CAPABILITIES") == "1":
        raise AssertionError("capability missing where it is required "
                             "(HTTPTRACE_REQUIRE_CAPABILITIES=1): " + reason)
    raise unittest.SkipTest(reason)


_SUN_PATH = 108  # bytes in sockaddr_un.sun_path, with its terminating NUL


def scratch_dir(prefix, sockets=False):
    """A new, empty directory for one test under $TEST_TMPDIR (which Bazel removes). With
    sockets=True it must also hold unix sockets with names of up to 32 bytes: when
    $TEST_TMPDIR is too long for that (it often is) it is made under /tmp and removed when the
    test program exits."""
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    if sockets and len(base) + len(prefix) + 8 + 1 + 32 >= _SUN_PATH:
        path = tempfile.mkdtemp(prefix=prefix + ".", dir="/tmp")
        atexit.register(shutil.rmtree, path, True)
        return path
    return tempfile.mkdtemp(prefix=prefix + ".", dir=base)


def bpf_unavailable_reason():
    """Why probes cannot load here, or None. Only a real absence of the capability skips."""
    if os.geteuid() != 0:
        return "needs root to load BPF programs (run as root, as CI does)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    return None


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# Waits are multiplied by this (the kernel matrix runs these tests under qemu's TCG, ~10x slower).
TIMEOUT_SCALE = float(os.environ.get("HTTPTRACE_TEST_TIMEOUT_SCALE", "1"))


def wait_until(predicate, timeout=10.0, what="condition"):
    timeout *= TIMEOUT_SCALE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))


class Process:
    """A child process whose stderr goes to a file (so it never blocks on a full pipe)."""

    def __init__(self, argv, workdir, name, stdout=None):
        self.name = name
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self.stdout_path = os.path.join(workdir, name + ".stdout")
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb") if stdout is None else stdout
        self.proc = subprocess.Popen(argv, stdout=self._stdout, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode(errors="replace")

    def send(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        return self.proc.wait(timeout=timeout * TIMEOUT_SCALE)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        if hasattr(self._stdout, "close"):
            self._stdout.close()
        return self.proc.returncode


class E2ETestCase(unittest.TestCase):
    """Starts an agent on a private socket; helpers start apps and ctl runs."""

    def setUp(self):
        skip_unless_capable(bpf_unavailable_reason())
        self.workdir = scratch_dir("httptrace-e2e", sockets=True)
        self.socket = os.path.join(self.workdir, "agent.sock")
        self.processes = []
        # A cleanup, not only tearDown: it also runs when setUp fails (an agent that never
        # served), so no agent outlives its test with its probes loaded.
        self.addCleanup(self.stop_processes)
        self.agent = self.start_agent()

    def stop_processes(self):
        for p in reversed(self.processes):
            p.stop()

    def tearDown(self):
        self.stop_processes()
        if self._outcome_failed():
            for p in self.processes:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr()[-4000:]))

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.failures + result.errors)

    def start_agent(self, extra=()):
        agent = Process([AGENT_BIN, "--listen", "unix://" + self.socket, "--log-level", "debug"]
                        + list(extra), self.workdir, "agent")
        self.processes.append(agent)
        # Loading the probes takes ~7 s here, longer while other builds share the two cores.
        wait_until(lambda: os.path.exists(self.socket) or agent.proc.poll() is not None,
                   timeout=60, what="the agent's socket")
        self.assertIsNone(agent.proc.poll(), "agent exited: " + agent.stderr())
        return agent

    def start_app(self, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = free_port(family, host)
        app = Process([sys.executable, DEMO_APP, "--host", host, "--port", str(port)],
                      self.workdir, "app%d" % port)
        self.processes.append(app)
        wait_until(lambda: "listening" in app.stderr(), what="the demo app")
        return port

    def ctl(self, *args, timeout=60):
        """Runs httptracectl to completion; returns (exit code, stdout, stderr)."""
        proc = subprocess.run([CTL_BIN, "--agent", "unix://" + self.socket] + list(args),
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def start_ctl(self, *args, name="ctl"):
        """Starts `httptracectl start ...` and waits for its "started session" line."""
        ctl = Process([CTL_BIN, "--agent", "unix://" + self.socket] + list(args), self.workdir,
                      name)
        self.processes.append(ctl)
        wait_until(lambda: "started session" in ctl.stderr() or ctl.proc.poll() is not None,
                   what="started session")
        match = re.search(r"started session (\S+)", ctl.stderr())
        self.assertIsNotNone(match, "ctl did not start: " + ctl.stderr())
        ctl.session = match.group(1)
        return ctl

    def path(self, name):
        return os.path.join(self.workdir, name)


def http(method, url, body=None, headers=None):
    """One request with urllib (a real HTTP/1.1 client); returns (status, body bytes)."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def conservation_problems(counters, events, agent_log=""):
    """The conservation invariant of one capture (issue 25), from the agent's status counters
    after its only session ended and that session's events (jsonl records). Returns the
    mismatches, [] when it holds:
    - every exchange the engines began (a message start seen, or a placeholder for one the
      probes lost) was published: http.exchange_starts + http.placeholders -
      http.interim_without_request == pipeline.exchanges + pipeline.exchanges_after_capture, and
      pipeline.conservation_violations == 0 (the agent's per-connection check; its log names the
      connection);
    - every published exchange reached the session or is counted: pipeline.exchanges ==
      exchanges recorded + session.exchanges_unmatched + exchanges lost by the session's queue
      (slow_reader losses).
    Message starts the probes refused are counted in kernel_buffer_full losses, never seen by
    the engines: they balance on their own."""
    c = lambda name: counters.get(name, 0)
    problems = []
    began = c("http.exchange_starts") + c("http.placeholders") - c("http.interim_without_request")
    published = c("pipeline.exchanges")
    if began != published + c("pipeline.exchanges_after_capture"):
        problems.append("engines began %d exchange(s); %d were published and %d ended after the "
                        "capture: %d vanished" % (
                            began, published, c("pipeline.exchanges_after_capture"),
                            began - published - c("pipeline.exchanges_after_capture")))
    if c("pipeline.conservation_violations"):
        named = [l for l in agent_log.splitlines() if "conservation: connection" in l]
        problems.append("%d connection(s) broke conservation: %s" % (
            c("pipeline.conservation_violations"), named[:3]))
    recorded = sum(1 for e in events if "request" in e or "response" in e)
    queue_lost = sum(e["loss"].get("exchanges", 0) for e in events
                     if "loss" in e and e["loss"].get("reason") == "slow_reader")
    unmatched = c("session.exchanges_unmatched")
    if published != recorded + unmatched + queue_lost:
        problems.append("%d exchange(s) published, the session recorded %d, %d matched no "
                        "session, %d lost in its queue: %d unaccounted" % (
                            published, recorded, unmatched, queue_lost,
                            published - recorded - unmatched - queue_lost))
    return problems


def status_counters(ctl_bin, socket_path):
    """`httptracectl status --counters` of the agent on `socket_path`, by name."""
    out = subprocess.run([ctl_bin, "--agent", "unix://" + socket_path, "status", "--counters"],
                         capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    counters = {}
    for line in out.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def yaml_list_after(path, key):
    """The `- ITEM` entries of the first block list under `key:` (comments skipped)."""
    items, inside, indent = [], False, None
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if not inside:
                inside = stripped == key + ":"
                continue
            if not stripped or stripped.startswith("#"):
                continue
            if not stripped.startswith("- "):
                break
            if indent is None:
                indent = len(line) - len(line.lstrip())
            elif len(line) - len(line.lstrip()) != indent:
                break
            items.append(stripped[2:].strip())
    return items


def chart_capabilities():
    """The capabilities the Helm chart's DaemonSet adds after dropping ALL ("BPF", ...)."""
    caps = yaml_list_after(CHART_DAEMONSET, "add")
    if not caps:
        raise AssertionError("no capability list in " + CHART_DAEMONSET)
    return caps

