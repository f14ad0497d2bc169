#!/usr/bin/env python3
"""httptrace's benchmark: what tracing costs nginx under wrk, and whether anything is missed.

One run measures every configuration interleaved (rounds x workloads x configurations, the order
rotated each round), then a rate sweep of httptrace capturing everything, and writes a Markdown
table, a CSV and a gnuplot PNG. Traffic goes only to 127.0.0.1; every load is bounded in time.
Needs root (the probes), nginx, wrk, and for the optional configurations tshark and strace.

  bazel build //agent:httptrace-agent //cli:httptracectl && test/bench/run_bench.py
  test/bench/run_bench.py --smoke          # a few seconds: the pipeline works end to end

See test/bench/README.md for what each figure means.
"""

import argparse
import csv
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HZ = os.sysconf("SC_CLK_TCK")
JSON_BODY = '{"status":"ok","service":"bench","value":12345}'  # 48 bytes, as in design.md
BIG_BODY_BYTES = 64 * 1024

# name -> (label in the table, short label in the chart: "\n" breaks the line).
CONFIGS = {
    "baseline": ("baseline", "baseline"),
    "ht_text": ("httptrace all, text", "httptrace\\nall, text"),
    "ht_jsonl": ("httptrace all, jsonl", "httptrace\\nall, jsonl"),
    "ht_nomatch": ("httptrace attached, no match", "httptrace\\nno match"),
    "ht_port": ("httptrace --port P, jsonl", "httptrace\\n--port P"),
    # No ctl: the agent's own export session (--otlp-endpoint) sends every exchange as a span to
    # test/otlp's receiver (--count-only), the DaemonSet's way of running.
    "ht_otlp": ("httptrace all, OTLP export (no ctl)", "httptrace\\nall, OTLP"),
    "tshark": ("tshark on lo", "tshark\\non lo"),
    "strace": ("strace -f on nginx", "strace -f\\non nginx"),
    # The same captures with other binaries (--before-agent-bin/--before-ctl-bin), in the same
    # interleaved run: before/after figures of one change under the same noise.
    "ht_jsonl_before": ("httptrace all, jsonl (before)", "before\\nall, jsonl"),
    "ht_text_before": ("httptrace all, text (before)", "before\\nall, text"),
    "ht_nomatch_before": ("httptrace attached, no match (before)", "before\\nno match"),
}
NOMATCH = ("ht_nomatch", "ht_nomatch_before")
WORKLOADS = {"json": "/json", "64k": "/64k"}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a live process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def vm_hwm_kib(pid, field="VmHWM"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Child:
    """A process we started; stop() signals it by PID and returns its rusage (wait4)."""

    def __init__(self, argv, workdir, name, stdout_path=None):
        self.name = name
        self.stderr_path = os.path.join(workdir, name + ".stderr")
        self._err = open(self.stderr_path, "wb")
        self._out = open(stdout_path or os.devnull, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err)
        self.pid = self.proc.pid
        self.rusage = None
        self.status = None
        self.hwm_kib = 0  # the largest VmHWM of the process and its children seen by stop()

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def sample_hwm(self):
        hwm = vm_hwm_kib(self.pid) + sum(vm_hwm_kib(c) for c in children(self.pid))
        self.hwm_kib = max(self.hwm_kib, hwm)
        return self.hwm_kib

    def alive(self):
        return self.rusage is None and self.proc.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=60.0):
        if self.rusage is None:
            if self.proc.returncode is None:
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            while True:
                self.sample_hwm()
                pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
                if pid == self.pid:
                    self.status, self.rusage = os.waitstatus_to_exitcode(status), rusage
                    self.proc.returncode = self.status
                    break
                if time.monotonic() > deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    deadline = time.monotonic() + 10
                time.sleep(0.02)
        self._err.close()
        self._out.close()
        return self.rusage


class Nginx:
    """nginx with its own config in a temp dir: 1 worker, keep-alive, an access log as truth."""

    def __init__(self, workdir, port):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "www"))
        os.chmod(workdir, 0o755)
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "www"), 0o755)
        with open(os.path.join(self.dir, "www", "64k"), "w") as f:
            f.write(("0123456789abcdef" * 4 + "\n")[:64] * (BIG_BODY_BYTES // 64))
        os.chmod(os.path.join(self.dir, "www", "64k"), 0o644)
        self.port = port
        self.access_log = os.path.join(self.dir, "access.log")
        d = self.dir
        conf = f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  client_body_temp_path {d}/tmp_body;
  proxy_temp_path {d}/tmp_proxy;
  fastcgi_temp_path {d}/tmp_fcgi;
  uwsgi_temp_path {d}/tmp_uwsgi;
  scgi_temp_path {d}/tmp_scgi;
  # One line per request served: the truth completeness is measured against (unbuffered).
  log_format bench '$msec $connection $status $request_uri $body_bytes_sent';
  access_log {d}/access.log bench;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  # The 64 KiB body passes through user memory (writev), as most application servers' bodies
  # do; with sendfile the probes would see only its size.
  sendfile off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /json {{ default_type application/json; return 200 '{JSON_BODY}'; }}
    location = /64k {{ root {d}/www; default_type application/octet-stream; }}
  }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.master = Child(["nginx", "-c", self.conf, "-p", d, "-g", "user root;"], workdir,
                            "nginx")
        wait_until(lambda: self._answers(), 10, "nginx on 127.0.0.1:%d" % port)
        wait_until(lambda: children(self.master.pid), 5, "the nginx worker")
        self.worker = children(self.master.pid)[0]

    def _answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def log_size(self):
        return os.path.getsize(self.access_log)

    def log_lines_since(self, offset):
        """Requests logged since a byte offset, and how many were not 200."""
        with open(self.access_log, "rb") as f:
            f.seek(offset)
            lines = f.read().splitlines()
        bad = sum(1 for l in lines if l.split()[2:3] != [b"200"])
        return len(lines), bad

    def stop(self):
        self.master.stop(signal.SIGQUIT, timeout=10)


class Agent:
    """A fresh httptrace-agent per measured run, so its peak RSS is that run's."""

    def __init__(self, bin_path, ctl_bin, workdir, extra=()):
        self.socket = os.path.join(workdir, "agent.sock")
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.ctl_bin = ctl_bin
        self.child = Child([bin_path, "--listen", "unix://" + self.socket, "--log-level", "warning"]
                           + list(extra), workdir, "agent")
        wait_until(lambda: os.path.exists(self.socket) or not self.child.alive(), 30,
                   "the agent's socket")
        if not self.child.alive():
            raise RuntimeError("the agent exited: " + self.child.stderr())
        self.pid = self.child.pid

    def ctl_argv(self, *args):
        return [self.ctl_bin, "--agent", "unix://" + self.socket] + list(args)

    def status(self):
        """(answered?, counters dict, text) from `httptracectl status`."""
        try:
            p = subprocess.run(self.ctl_argv("status", "--counters"), capture_output=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, {}, "status timed out"
        text = p.stdout.decode(errors="replace")
        counters = {}
        in_counters = False
        for line in text.splitlines():
            if line.startswith("counters:"):
                in_counters = True
            elif in_counters and line.startswith("  "):
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    counters[parts[0]] = int(parts[1])
        return p.returncode == 0, counters, text

    def stop(self):
        self.child.stop(signal.SIGTERM, timeout=30)


def counter_delta(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) != 0}


def loss_counters(delta):
    """The drop/loss counters that moved (names containing drop, lost, loss, full, gap, error)."""
    keys = ("drop", "lost", "loss", "full", "gap", "error", "overflow", "malformed")
    return {k: v for k, v in delta.items() if any(x in k for x in keys)}


WRK_LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", text)
    r["wrk_requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s|m)\b" % pct, text, re.M)
        r["p" + pct + "_ms"] = float(m.group(1)) * WRK_LATENCY_UNITS[m.group(2)] if m else 0.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["wrk_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["wrk_errors"] += int(m.group(1)) if m else 0
    return r


def write_pacer(path, think_ms):
    with open(path, "w") as f:
        f.write("-- Paces each connection: one request, then %d ms of think time.\n" % think_ms)
        f.write("function delay() return %d end\n" % think_ms)


def count_exchanges(path, fmt, port, reasons):
    """Exchanges recorded on nginx's side (role server, local port = nginx's), on wrk's side
    (role client, remote port = nginx's), and loss markers; fills reasons with
    reason -> [markers, exchanges lost]."""
    exchanges = client = markers = 0

    def loss(reason, n):
        r = reasons.setdefault(reason, [0, 0])
        r[0] += 1
        r[1] += n

    if not os.path.exists(path):
        return 0, 0, 0
    local = "127.0.0.1:%d" % port
    with open(path, "rb") as f:
        if fmt == "jsonl":
            # Substring tests first (keys keep the README's order); json only for loss events.
            server_key = ('"role":"server","local":"%s"' % local).encode()
            client_key = ('"remote":"%s"' % local).encode()
            for raw in f:
                if raw.startswith(b'{"seq":') and b',"loss":' in raw[:40]:
                    e = json.loads(raw)
                    markers += 1
                    loss(e["loss"].get("reason", "?"), e["loss"].get("exchanges", 0))
                elif b'"response":null' in raw:
                    continue
                elif server_key in raw:
                    exchanges += 1
                elif b'"role":"client"' in raw and client_key in raw:
                    client += 1
        else:
            server_needle = (") server %s " % local).encode()
            client_needle = (" \u2192 %s " % local).encode()
            for raw in f:
                # An exchange seen from both ends is one record (`--role both`, the default):
                # "[time] client → nginx both ends traced" counts for each side.
                if (raw.startswith(b"[") and client_needle in raw
                        and raw.rstrip().endswith(b" both ends traced")):
                    exchanges += 1
                    client += 1
                elif raw.startswith(b"[") and server_needle in raw:
                    exchanges += 1
                elif raw.startswith(b"[") and b") client " in raw and client_needle in raw:
                    client += 1
                elif raw.startswith(b"!! LOSS"):
                    markers += 1
                    m = re.match(rb"!! LOSS \((\w+)\):(?: (\d+) exchange)?", raw)
                    loss(m.group(1).decode() if m else "?", int(m.group(2) or 0) if m else 0)
    return exchanges, client, markers


def count_tshark_responses(path):
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            cols = raw.rstrip(b"\n").split(b"\t")
            if len(cols) >= 3 and cols[2].strip():
                n += 1
    return n


def count_strace_responses(path):
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            if b'"HTTP/1.1 200' in raw and (b"writev(" in raw or b"write(" in raw):
                n += 1
    return n


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="httptrace-bench.")
        self.port = free_port()
        self.unused_port = free_port()
        self.nginx = None
        self.agent = None
        self.results = []  # one dict per measured run
        self.sweep = []

    def close(self):
        if self.agent:
            self.agent.stop()
        if self.nginx:
            self.nginx.stop()
        if not self.args.keep_temp:
            shutil.rmtree(self.work, ignore_errors=True)

    def url(self, workload):
        return "http://127.0.0.1:%d%s" % (self.port, WORKLOADS[workload])

    def wrk(self, workload, connections, secs, script=None, during=None):
        """Runs wrk; `during` (if given) is called once half-way through the run."""
        argv = ["wrk", "-t%d" % self.args.threads, "-c%d" % connections, "-d%ds" % secs,
                "--latency", "--timeout", "5s"]
        if script:
            argv += ["-s", script]
        argv.append(self.url(workload))
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        if during:
            time.sleep(secs / 2)
            during()
        out, _ = p.communicate(timeout=secs + 30)
        return parse_wrk(out.decode(errors="replace"))

    # A tracer is a list of Child processes plus what to count afterwards.
    def start_tracer(self, config, tag):
        out = os.path.join(self.work, "%s.out" % tag)
        if config == "baseline":
            return None, out
        if config == "ht_otlp":
            return None, out  # the receiver runs from measure(), before the agent
        if config.startswith("ht_"):
            fmt = "text" if config.startswith("ht_text") else "jsonl"
            argv = ["start", "--format", fmt, "-o", out]
            if config in NOMATCH:
                argv += ["--port", str(self.unused_port)]
            elif config == "ht_port":
                argv += ["--port", str(self.port)]
            c = Child(self.agent.ctl_argv(*argv), self.work, tag + ".ctl")
            wait_until(lambda: "started session" in c.stderr() or not c.alive(), 30,
                       "httptracectl's session to start")
            if not c.alive():
                raise RuntimeError("httptracectl exited: " + c.stderr())
            return c, out
        if config == "tshark":
            argv = ["tshark", "-n", "-l", "-i", "lo", "-f", "tcp port %d" % self.port, "-Y", "http",
                    "-T", "fields", "-e", "frame.time_epoch", "-e", "http.request.uri",
                    "-e", "http.response.code", "-e", "http.content_length"]
            c = Child(argv, self.work, tag + ".tshark", stdout_path=out)
            wait_until(lambda: "Capturing on" in c.stderr() or not c.alive(), 30,
                       "tshark to capture")
            time.sleep(0.3)  # dumpcap says "Capturing on" just before its first read
            return c, out
        if config == "strace":
            argv = ["strace", "-f", "-e", "trace=network,read,write,writev", "-o", out,
                    "-p", str(self.nginx.worker)]
            c = Child(argv, self.work, tag + ".strace")
            wait_until(lambda: "attached" in c.stderr() or not c.alive(), 30, "strace to attach")
            return c, out
        raise ValueError(config)

    def measure(self, config, workload, round_no, connections=None, secs=None, script=None,
                tag=None, status_during=False):
        connections = connections or self.args.connections
        secs = secs or self.args.duration
        tag = tag or "%s-%s-r%d" % (config, workload, round_no)
        ht = config.startswith("ht_")
        receiver = None
        if config == "ht_otlp":
            port_file = os.path.join(self.work, tag + ".receiver-port")
            receiver = Child([self.args.receiver_bin, "--listen", "127.0.0.1:0", "--count-only",
                              "--port-file", port_file], self.work, tag + ".receiver")
            wait_until(lambda: os.path.exists(port_file) or not receiver.alive(), 30,
                       "the OTLP receiver")
            with open(port_file) as f:
                otlp_port = int(f.read())
        if ht:
            a = self.args
            before = config.endswith("_before")
            extra = list(a.agent_arg)
            if receiver is not None:
                extra += ["--otlp-endpoint", "127.0.0.1:%d" % otlp_port]
            self.agent = Agent(a.before_agent_bin if before else a.agent_bin,
                               a.before_ctl_bin if before else a.ctl_bin, self.work, extra)
            _, counters_before, _ = self.agent.status()
            agent_cpu0 = cpu_seconds(self.agent.pid)
        tracer, out = self.start_tracer(config, tag)
        log_offset = self.nginx.log_size()
        nginx_cpu0 = cpu_seconds(self.nginx.worker)
        probe = {}

        def ask_status():  # is the agent still answering while it is loaded?
            t0 = time.monotonic()
            probe["ok"] = self.agent.status()[0]
            probe["secs"] = time.monotonic() - t0

        wrk = self.wrk(workload, connections, secs, script, ask_status if status_during else None)
        nginx_cpu = cpu_seconds(self.nginx.worker) - nginx_cpu0
        time.sleep(0.2)  # the last responses' log lines and syscalls
        row = dict(config=config, workload=workload, round=round_no, connections=connections,
                   secs=secs, **wrk)
        row["served"], row["non_200"] = self.nginx.log_lines_since(log_offset)
        row["nginx_cpu_s"] = nginx_cpu
        if probe:
            row["status_under_load"], row["status_under_load_s"] = probe["ok"], probe["secs"]
        hwm = 0
        if receiver is not None:
            return self.finish_otlp(row, receiver, agent_cpu0, counters_before, connections)
        if tracer is not None:
            tracer.sample_hwm()
            rusage = tracer.stop(signal.SIGINT)
            # Not ru_maxrss: a child forked from this Python inherits Python's peak RSS.
            hwm = tracer.hwm_kib
            tracer_cpu = rusage.ru_utime + rusage.ru_stime
            if ht:
                row["agent_cpu_s"] = cpu_seconds(self.agent.pid) - agent_cpu0
                row["ctl_cpu_s"] = tracer_cpu
                tracer_cpu += row["agent_cpu_s"]
                row["agent_hwm_kib"] = vm_hwm_kib(self.agent.pid)
                # File-backed pages: shared libraries (~50 MiB of gRPC, protobuf, abseil) and
                # the ring buffer's mapping. The peak less them is what the agent itself held.
                row["agent_file_kib"] = vm_hwm_kib(self.agent.pid, "RssFile")
                row["ctl_hwm_kib"] = tracer.hwm_kib
                hwm = row["agent_hwm_kib"] + row["ctl_hwm_kib"]
            row["tracer_cpu_s"] = tracer_cpu
            row["tracer_exit"] = tracer.status
        row["tracer_hwm_kib"] = hwm
        row["recorded"] = row["loss_markers"] = ""
        if ht:
            fmt = "text" if config.startswith("ht_text") else "jsonl"
            reasons = {}
            row["recorded"], row["recorded_client"], row["loss_markers"] = count_exchanges(
                out, fmt, self.port, reasons)
            row["loss_reasons"] = json.dumps(reasons, sort_keys=True)
            # "N exchange(s) (M seen from both ends, each shown once), L lost" since both ends pair.
            m = re.search(r"ended \((\w+)\): (\d+) exchange\(s\)(?: \([^)]*\))?, (\d+) lost",
                          tracer.stderr())
            row["session_exchanges"] = int(m.group(2)) if m else -1
            row["session_lost"] = int(m.group(3)) if m else -1
            if config not in NOMATCH:
                # Both ends of every request served should be an exchange recorded or counted
                # lost (the session's count may include other processes' losses, and wrk's side
                # may miss requests in flight at its end).
                missing_client = max(0, row["served"] - row["recorded_client"] - connections)
                row["unreported"] = max(0, row["served"] - row["recorded"] + missing_client
                                        - row["session_lost"])
            ok, counters_after, _ = self.agent.status()
            row["agent_healthy"] = (ok and self.agent.child.alive()
                                    and row.get("status_under_load", True))
            row["loss_counters"] = json.dumps(loss_counters(counter_delta(counters_before,
                                                                          counters_after)),
                                              sort_keys=True)
            self.agent.stop()
            self.agent = None
        elif config == "tshark":
            row["recorded"] = count_tshark_responses(out)
            m = re.search(r"(\d+) packets? dropped", tracer.stderr())
            row["tracer_drops"] = int(m.group(1)) if m else 0
        elif config == "strace":
            row["recorded"] = count_strace_responses(out)
        if row["recorded"] != "" and row["served"] and config not in NOMATCH:
            row["completeness"] = row["recorded"] / row["served"]
        if os.path.exists(out):
            row["output_mib"] = os.path.getsize(out) / 2**20
            os.unlink(out)
        # strace and tshark end by the SIGINT they were sent (-2, or 130 / 2 when they exit).
        if tracer is not None and tracer.status not in (0, None, -2, 2, 130):
            log("%s exited %s: %s" % (tag, tracer.status, tracer.stderr()[-500:]))
        return row

    def finish_otlp(self, row, receiver, agent_cpu0, counters_before, connections):
        """The export session's figures: the agent's CPU per exchange (no ctl), what it sent and
        dropped, and what the receiver got."""
        row["agent_cpu_s"] = cpu_seconds(self.agent.pid) - agent_cpu0
        row["ctl_cpu_s"] = 0.0
        row["tracer_cpu_s"] = row["agent_cpu_s"]
        row["agent_hwm_kib"] = vm_hwm_kib(self.agent.pid)
        row["agent_file_kib"] = vm_hwm_kib(self.agent.pid, "RssFile")
        row["ctl_hwm_kib"] = 0
        row["tracer_hwm_kib"] = row["agent_hwm_kib"]
        ok, counters_after, _ = self.agent.status()
        p = subprocess.run(self.agent.ctl_argv("list"), capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        listing = p.stdout.decode(errors="replace")
        session = re.search(r"^\S+\s+\S+\s+active\s+\S+ \S+\s+(\d+)\s+(\d+)", listing, re.M)
        export = re.search(r"export \S+: (\d+) sent, (\d+) retried, (\d+) dropped", listing)
        row["session_exchanges"] = int(session.group(1)) if session else -1
        row["session_lost"] = int(session.group(2)) if session else -1
        row["otlp_sent"], row["otlp_retried"], row["otlp_dropped"] = (
            tuple(int(x) for x in export.groups()) if export else (-1, -1, -1))
        row["agent_healthy"] = ok and self.agent.child.alive()
        row["loss_counters"] = json.dumps(loss_counters(counter_delta(counters_before,
                                                                      counters_after)),
                                          sort_keys=True)
        # The agent's stop sends its last batch; then the receiver's totals are final.
        self.agent.stop()
        self.agent = None
        rusage = receiver.stop(signal.SIGTERM)
        row["collector_cpu_s"] = rusage.ru_utime + rusage.ru_stime
        m = re.search(r"received (\d+) span", receiver.stderr())
        row["otlp_received"] = int(m.group(1)) if m else -1
        # Spans are both ends (nginx and wrk) and other HTTP on the host: not per nginx request,
        # so no completeness figure; the session's own count is the denominator.
        row["recorded"] = ""
        row["loss_markers"] = ""
        return row

    def run_matrix(self):
        a = self.args
        configs = a.configs
        order = list(configs)
        for workload in a.workloads:  # warm-up, not measured
            self.wrk(workload, a.connections, 1)
        for r in range(1, a.rounds + 1):
            for workload in a.workloads:
                for config in order:
                    row = self.measure(config, workload, r)
                    self.results.append(row)
                    log("round %d %-4s %-11s %8.0f req/s p50 %.3f ms p99 %.3f ms served %d "
                        "recorded %s%s" % (r, workload, config, row["rps"], row["p50_ms"],
                                           row["p99_ms"], row["served"], row["recorded"],
                                           " tracer CPU %.2fs" % row["tracer_cpu_s"]
                                           if "tracer_cpu_s" in row else ""))
            order = order[1:] + order[:1]  # rotate: no configuration always runs first

    def run_sweep(self):
        """Paced load (wrk + a Lua think time per connection), more connections each step, then
        two bisection steps between the last complete and the first incomplete step, then
        unpaced steps past the limit."""
        a = self.args
        script = os.path.join(self.work, "pace.lua")
        write_pacer(script, a.think_ms)
        for c in a.sweep_connections:
            self.sweep_step(c, script)
        for _ in range(a.sweep_bisect):
            paced = sorted((r for r in self.sweep if r["paced"]), key=lambda r: r["connections"])
            good = [r["connections"] for r in paced if r["complete"]]
            bad = [r["connections"] for r in paced if not r["complete"]]
            below = [g for g in good if bad and g < min(bad)]
            if not below:
                break
            lo, hi = max(below), min(bad)
            if hi - lo < 10:
                break
            self.sweep_step((lo + hi) // 2, script)
        for c in a.sweep_unpaced:
            self.sweep_step(c, None)

    def sweep_step(self, c, script):
        a = self.args
        row = self.measure(a.sweep_config, "json", 0, connections=c, secs=a.sweep_secs,
                           script=script, tag="sweep%d" % len(self.sweep), status_during=True)
        row["paced"] = script is not None
        # wrk may close a connection with a request in flight when its time is up: nginx
        # served (and logged) it, but wrk never read the response, so the client side may miss
        # up to one exchange per connection. The server side must match exactly.
        row["complete"] = (row["recorded"] == row["served"] and row["session_lost"] == 0
                           and row["loss_markers"] == 0
                           and row["served"] - c <= row["recorded_client"] <= row["served"])
        self.sweep.append(row)
        log("sweep c=%d %s: %.0f req/s served %d recorded %d/%d (server/client) session lost "
            "%d, %s, status answers: %s" % (
                c, "paced" if script else "unpaced", row["rps"], row["served"], row["recorded"],
                row["recorded_client"], row["session_lost"],
                compact_counters(row["loss_counters"]), row["agent_healthy"]))

    def run(self):
        a = self.args
        self.nginx = Nginx(self.work, self.port)
        log("nginx on 127.0.0.1:%d (worker pid %d), work dir %s" % (self.port, self.nginx.worker,
                                                                   self.work))
        self.run_matrix()
        if a.sweep:
            self.run_sweep()


# ---------------------------------------------------------------------------------------------
# Report


def med(xs):
    xs = [x for x in xs if x is not None and x != ""]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None and x != ""]
    return (min(xs), max(xs)) if xs else (None, None)


def summarize(results, configs, workloads):
    rows = []
    for r in results:  # nginx worker's CPU per request: the traced application's own cost
        r["nginx_us_per_req"] = r["nginx_cpu_s"] * 1e6 / r["served"] if r["served"] else 0
    for w in workloads:
        base = {r["round"]: r for r in results if r["workload"] == w and r["config"] == "baseline"}
        for c in configs:
            runs = [r for r in results if r["workload"] == w and r["config"] == c]
            if not runs:
                continue
            ratios = {k: [] for k in ("rps", "p50_ms", "p99_ms", "nginx_us_per_req")}
            for r in runs:
                b = base.get(r["round"])
                for k in ratios:
                    if b and b[k]:
                        ratios[k].append(r[k] / b[k])
            served = sum(r["served"] for r in runs)
            cpu = [r["tracer_cpu_s"] * 1e4 / r["served"] for r in runs
                   if "tracer_cpu_s" in r and r["served"]]
            comp = [r["completeness"] for r in runs if "completeness" in r]
            recorded = [r["recorded"] for r in runs if r["recorded"] != ""]
            lost = [r.get("session_lost") for r in runs if r.get("session_lost") is not None]
            client = [r["recorded_client"] for r in runs if r.get("recorded_client") is not None]
            reasons = {}
            for r in runs:
                for k, (markers, n) in json.loads(r.get("loss_reasons") or "{}").items():
                    acc = reasons.setdefault(k, [0, 0])
                    acc[0] += markers
                    acc[1] += n
            s = dict(workload=w, config=c, label=CONFIGS[c][0], rounds=len(runs),
                     rps_median=med([r["rps"] for r in runs]),
                     rps_min=spread([r["rps"] for r in runs])[0],
                     rps_max=spread([r["rps"] for r in runs])[1],
                     rps_ratio=med(ratios["rps"]), rps_ratio_min=spread(ratios["rps"])[0],
                     rps_ratio_max=spread(ratios["rps"])[1],
                     p50_ms=med([r["p50_ms"] for r in runs]), p50_ratio=med(ratios["p50_ms"]),
                     p99_ms=med([r["p99_ms"] for r in runs]), p99_ratio=med(ratios["p99_ms"]),
                     tracer_cpu_s_per_10k=med(cpu),
                     tracer_peak_rss_mib=(max(r["tracer_hwm_kib"] for r in runs) / 1024
                                          if c != "baseline" else None),
                     served=served, recorded=sum(recorded) if recorded else None,
                     completeness=(sum(recorded) / served if recorded and served
                                   and c not in NOMATCH else None),
                     completeness_min=spread(comp)[0],
                     recorded_client=sum(client) if client else None,
                     completeness_client=(sum(client) / served if client and served
                                          and c not in NOMATCH else None),
                     session_exchanges=(sum(r["session_exchanges"] for r in runs)
                                        if c.startswith("ht_") else None),
                     loss_reasons=json.dumps(reasons, sort_keys=True) if reasons else "",
                     tracer_cpu_s_min=spread(cpu)[0], tracer_cpu_s_max=spread(cpu)[1],
                     unreported=(sum(r["unreported"] for r in runs)
                                 if any("unreported" in r for r in runs) else None),
                     nginx_cpu_us_per_req=med([r["nginx_us_per_req"] for r in runs]),
                     nginx_cpu_ratio=med(ratios["nginx_us_per_req"]),
                     lost=sum(lost) if lost else None,
                     loss_counters=";".join(sorted({r.get("loss_counters", "") for r in runs
                                                    if r.get("loss_counters", "{}") != "{}"})),
                     tracer_drops=sum(r.get("tracer_drops", 0) for r in runs) or None,
                     # Per exchange the session recorded (both ends, and other processes' HTTP
                     # on the host: what the tracer actually processed).
                     agent_us_per_exchange=med([r["agent_cpu_s"] * 1e6 / r["session_exchanges"]
                                                for r in runs if r.get("session_exchanges", 0) > 0
                                                and "agent_cpu_s" in r]),
                     ctl_us_per_exchange=med([r["ctl_cpu_s"] * 1e6 / r["session_exchanges"]
                                              for r in runs if r.get("session_exchanges", 0) > 0
                                              and "ctl_cpu_s" in r]),
                     agent_peak_rss_mib=(max(r["agent_hwm_kib"] for r in runs) / 1024
                                         if all("agent_hwm_kib" in r for r in runs) else None),
                     agent_peak_anon_mib=(max(r["agent_hwm_kib"] - r["agent_file_kib"]
                                              for r in runs) / 1024
                                          if all("agent_file_kib" in r for r in runs) else None))
            rows.append(s)
    return rows


def fmt(x, spec, none="–"):
    return none if x is None or x == "" else format(x, spec)


def markdown(summary, sweep, args, meta):
    out = []
    out.append("# httptrace benchmark\n")
    out.append("%s. nginx 1 worker on 127.0.0.1, `wrk -t%d -c%d -d%ds --latency`, %d round(s) "
               "interleaved (order rotated each round). Ratios are medians of per-round ratios "
               "to the baseline of the same round; ranges are min–max over rounds. CPU and RSS "
               "are the tracer's own (httptrace: agent + httptracectl). Completeness: exchanges "
               "the tracer recorded on nginx's side / requests nginx logged.\n"
               % (meta, args.threads, args.connections, args.duration, args.rounds))
    for w in args.workloads:
        out.append("\n## workload `%s` (%s)\n" % (w, "48-byte JSON" if w == "json"
                                                   else "64 KiB body"))
        out.append("| configuration | req/s median (min–max) | req/s ratio (min–max) | p50 ms "
                   "(ratio) | p99 ms (ratio) | nginx CPU µs / req (ratio) | tracer CPU s / 10k "
                   "req (min–max) | tracer peak RSS MiB | completeness: nginx side "
                   "(recorded/served) | wrk side | reported lost | missing, not counted lost "
                   "| agent CPU µs / exchange | ctl CPU µs / exchange | agent peak RSS MiB "
                   "| ... less file-backed pages (libraries, ring buffer) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in summary:
            if s["workload"] != w:
                continue
            lost = fmt(s["lost"], "d")
            if s["loss_reasons"]:
                lost += " (" + "; ".join("%s: %d marker(s), %d exch." % (k, m, n) for k, (m, n) in
                                         json.loads(s["loss_reasons"]).items()) + ")"
            if s["tracer_drops"]:
                lost = "%d packets dropped" % s["tracer_drops"]
            if s["config"] in NOMATCH:
                comp = "(filter matches nothing: %d recorded)" % (s["recorded"] or 0)
            elif s["completeness"] is None:
                comp = "–"
            else:
                comp = "%.4f (%d/%d)" % (s["completeness"], s["recorded"], s["served"])
            out.append("| %s | %s (%s–%s) | %s (%s–%s) | %s (%s) | %s (%s) | %s (%s) | %s (%s–%s) "
                       "| %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                       % (s["label"], fmt(s["rps_median"], ".0f"), fmt(s["rps_min"], ".0f"),
                          fmt(s["rps_max"], ".0f"), fmt(s["rps_ratio"], ".2f"),
                          fmt(s["rps_ratio_min"], ".2f"), fmt(s["rps_ratio_max"], ".2f"),
                          fmt(s["p50_ms"], ".3f"), fmt(s["p50_ratio"], ".2f"),
                          fmt(s["p99_ms"], ".3f"), fmt(s["p99_ratio"], ".2f"),
                          fmt(s["nginx_cpu_us_per_req"], ".1f"), fmt(s["nginx_cpu_ratio"], ".2f"),
                          fmt(s["tracer_cpu_s_per_10k"], ".2f"), fmt(s["tracer_cpu_s_min"], ".2f"),
                          fmt(s["tracer_cpu_s_max"], ".2f"), fmt(s["tracer_peak_rss_mib"], ".1f"),
                          comp, fmt(s["completeness_client"], ".4f"), lost,
                          fmt(s["unreported"], "d"), fmt(s["agent_us_per_exchange"], ".2f"),
                          fmt(s["ctl_us_per_exchange"], ".2f"), fmt(s["agent_peak_rss_mib"], ".1f"),
                          fmt(s["agent_peak_anon_mib"], ".1f")))
    if sweep:
        out.append("\n## rate sweep: %s, workload `json`\n" % (
            "httptrace `--port P` (both ends: nginx and wrk), jsonl" if args.sweep_config ==
            "ht_port" else "httptrace capturing everything on the host, jsonl"))
        out.append("Paced steps: each wrk connection sends a request, reads the response, then "
                   "waits %d ms (a Lua `delay()`), so more connections offer more load; the rate "
                   "shown is what wrk achieved. Then unpaced steps past the limit. %d s per step; "
                   "a fresh agent per step. Complete = every request nginx logged is recorded on "
                   "nginx's side, wrk's side is complete but for requests in flight when wrk "
                   "stopped (at most one per connection), and no loss reported. Agent counters "
                   "are host-wide (other processes' HTTP too).\n" % (args.think_ms,
                                                                      args.sweep_secs))
        out.append("| connections | paced | req/s | served (nginx log) | recorded nginx side "
                   "| recorded wrk side | session lost (reasons) | missing, not counted lost | "
                   "agent counters (loss) | status answers (under load, after) | complete? |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sorted(sweep, key=lambda r: (not r["paced"], r["connections"])):
            reasons = json.loads(r.get("loss_reasons") or "{}")
            out.append("| %d | %s | %.0f | %d | %d | %d | %d%s | %d | %s | %s | %s |" % (
                r["connections"], "yes" if r["paced"] else "no", r["rps"], r["served"],
                r["recorded"], r["recorded_client"], r["session_lost"],
                " (" + "; ".join("%s: %d marker(s), %d exch." % (k, m, n)
                                 for k, (m, n) in reasons.items()) + ")" if reasons else "",
                r["unreported"], compact_counters(r["loss_counters"]),
                ("yes, in %.2f s" % r["status_under_load_s"] if r["agent_healthy"] else "**no**"),
                "yes" if r["complete"] else "**no**"))
        best = max((r["rps"] for r in sweep if r["complete"]), default=None)
        first_bad = sorted((r for r in sweep if not r["complete"]), key=lambda r: r["rps"])
        out.append("")
        out.append("Highest rate with 100%% of exchanges recorded and no loss: **%s req/s**." %
                   (fmt(best, ".0f")))
        if first_bad:
            r = first_bad[0]
            out.append("Lowest rate short of 100%%: %.0f req/s, %d of %d recorded, %d reported "
                       "lost by the session, counters %s, status answers: %s." % (
                           r["rps"], r["recorded"], r["served"], r["session_lost"],
                           compact_counters(r["loss_counters"]), r["agent_healthy"]))
        else:
            out.append("No step lost anything, up to the highest rate this machine reached.")
    return "\n".join(out) + "\n"


def compact_counters(text):
    c = json.loads(text or "{}")
    shown = [k for k in ("kernel.ringbuf_full", "kernel.conn_table_full", "kernel.call_table_full",
                         "poller.loss_events", "conntrack.gaps", "http.gaps") if c.get(k)]
    return ", ".join("%s %d" % (k, c[k]) for k in shown) or "none"


def write_csv(path, rows):
    keys = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})


def plot(outdir, summary, workloads):
    """PNG: per workload, throughput ratio and completeness per configuration (gnuplot)."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no PNG (apt-get install gnuplot-nox)")
        return None
    dat = os.path.join(outdir, "chart.dat")
    with open(dat, "w") as f:
        for w in workloads:
            f.write("# workload %s\n" % w)
            for s in summary:
                if s["workload"] == w:
                    f.write('"%s" %s %s %s %s\n' % (
                        CONFIGS[s["config"]][1],
                        fmt(s["rps_ratio"], ".4f", "NaN"), fmt(s["rps_ratio_min"], ".4f", "NaN"),
                        fmt(s["rps_ratio_max"], ".4f", "NaN"),
                        fmt(s["completeness"], ".4f", "NaN")))
            f.write("\n\n")
    png = os.path.join(outdir, "bench.png")
    gp = os.path.join(outdir, "chart.gp")
    panels = []
    for i, w in enumerate(workloads):
        title = "48-byte JSON" if w == "json" else "64 KiB body"
        panels.append(f"""
set title "workload {w} ({title})"
plot '{dat}' index {i} using 2:xtic(1) title "req/s ratio to baseline" lc rgb "#4477aa", \\
     '' index {i} using 5 title "completeness (recorded / served)" lc rgb "#66aa55", \\
     '' index {i} using ($0-0.2):2:(sprintf("%.2f",$2)) with labels offset 0,0.7 font ",9" notitle, \\
     '' index {i} using ($0+0.2):5:(sprintf("%.3f",$5)) with labels offset 0,0.7 font ",9" notitle
""")
    ymax = max([1.2] + [s["rps_ratio"] + 0.15 for s in summary if s["rps_ratio"]])
    with open(gp, "w") as f:
        f.write(f"""set terminal pngcairo size {760 * len(workloads) + 40},640 font "sans,10"
set output '{png}'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:{ymax:.1f}]
set ytics 0.1
set grid ytics
set key inside top right vertical font ",9" box opaque
set xtics font ",9" noenhanced
set bmargin 4
set datafile missing "NaN"
set multiplot layout 1,{len(workloads)} title "httptrace benchmark: throughput and completeness per configuration"
{''.join(panels)}
unset multiplot
""")
    subprocess.run(["gnuplot", gp], check=True)
    return png


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory")
    p.add_argument("--agent-bin", default=os.path.join(REPO, "bazel-bin/agent/httptrace-agent"))
    p.add_argument("--ctl-bin", default=os.path.join(REPO, "bazel-bin/cli/httptracectl"))
    p.add_argument("--receiver-bin", default=os.path.join(REPO, "bazel-bin/test/otlp/otlp_receiver"),
                   help="OTLP receiver for ht_otlp (bazel build //test/otlp:otlp_receiver)")
    p.add_argument("--before-agent-bin", help="agent for the *_before configurations")
    p.add_argument("--before-ctl-bin", help="httptracectl for the *_before configurations")
    p.add_argument("--agent-arg", action="append", default=[],
                   help="extra httptrace-agent flag (repeatable), e.g. --agent-arg=--ring-buffer-mb=1")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--configs", default=",".join(c for c in CONFIGS if not c.endswith("_before")),
                   help="comma-separated: " +
                   ",".join(CONFIGS))
    p.add_argument("--workloads", default="json,64k")
    p.add_argument("--no-sweep", dest="sweep", action="store_false")
    p.add_argument("--think-ms", type=int, default=10, help="sweep: think time per connection")
    p.add_argument("--sweep-connections", default="10,25,50,100,150,200,300,400",
                   help="sweep: paced steps (connections)")
    p.add_argument("--sweep-bisect", type=int, default=2,
                   help="sweep: extra paced steps bisecting the limit")
    p.add_argument("--sweep-unpaced", default="20,100", help="sweep: unpaced steps (connections)")
    p.add_argument("--sweep-secs", type=int, default=5)
    p.add_argument("--sweep-config", default="ht_port", choices=["ht_port", "ht_jsonl"],
                   help="sweep: httptrace on nginx's port (both ends), or everything on the host "
                   "(other processes' HTTP then counts against the rate)")
    p.add_argument("--smoke", action="store_true",
                   help="CI: 1 round, 2 s, json, baseline + httptrace all (jsonl), no sweep")
    p.add_argument("--keep-temp", action="store_true")
    p.add_argument("--replot", action="store_true",
                   help="only redraw OUT/bench.png from OUT/bench.csv")
    a = p.parse_args()
    if a.replot:
        with open(os.path.join(a.out, "bench.csv")) as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            for k in ("rps_ratio", "rps_ratio_min", "rps_ratio_max", "completeness"):
                r[k] = float(r[k]) if r[k] else None
        plot(a.out, rows, list(dict.fromkeys(r["workload"] for r in rows)))
        return
    if a.smoke:
        a.rounds, a.duration, a.sweep = 1, 2, False
        a.configs, a.workloads = "baseline,ht_jsonl", "json"
    a.configs = [c for c in a.configs.split(",") if c]
    a.workloads = [w for w in a.workloads.split(",") if w]
    a.sweep_connections = [int(x) for x in a.sweep_connections.split(",") if x]
    a.sweep_unpaced = [int(x) for x in a.sweep_unpaced.split(",") if x]
    for c in a.configs:
        if c not in CONFIGS:
            p.error("unknown configuration %r" % c)
    for w in a.workloads:
        if w not in WORKLOADS:
            p.error("unknown workload %r" % w)
    if "baseline" not in a.configs:
        a.configs.insert(0, "baseline")
    if os.geteuid() != 0:
        p.error("run as root: the probes, tshark and strace need it")
    for tool in ["nginx", "wrk"] + [t for t in ("tshark", "strace") if t in a.configs]:
        if not shutil.which(tool):
            p.error("%s is not installed (scripts/setup.sh installs it)" % tool)
    if any(c.endswith("_before") for c in a.configs) and not (a.before_agent_bin and
                                                               a.before_ctl_bin):
        p.error("*_before configurations need --before-agent-bin and --before-ctl-bin")
    if "ht_otlp" in a.configs and not os.access(a.receiver_bin, os.X_OK):
        p.error("%s missing: bazel build //test/otlp:otlp_receiver" % a.receiver_bin)
    for b in (a.agent_bin, a.ctl_bin):
        if not os.access(b, os.X_OK):
            p.error("%s missing: bazel build //agent:httptrace-agent //cli:httptracectl" % b)

    os.makedirs(a.out, exist_ok=True)
    bench = Bench(a)
    started = time.time()
    try:
        bench.run()
    finally:
        bench.close()
    meta = "%s, kernel %s, %d CPUs, load average %.1f at the end, %.0f s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), os.uname().release,
        os.cpu_count(), os.getloadavg()[0], time.time() - started)
    summary = summarize(bench.results, a.configs, a.workloads)
    write_csv(os.path.join(a.out, "bench.csv"), summary)
    write_csv(os.path.join(a.out, "runs.csv"), bench.results)
    if bench.sweep:
        write_csv(os.path.join(a.out, "sweep.csv"), bench.sweep)
    md = markdown(summary, bench.sweep, a, meta)
    with open(os.path.join(a.out, "bench.md"), "w") as f:
        f.write(md)
    png = plot(a.out, summary, a.workloads)
    sys.stdout.write(md)
    log("wrote %s/bench.md, bench.csv, runs.csv%s%s" % (
        a.out, ", sweep.csv" if bench.sweep else "", ", " + os.path.basename(png) if png else ""))


if __name__ == "__main__":
    main()
