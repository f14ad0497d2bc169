"""End-to-end: httptracectl across several real agents over mutual TLS, one killed mid-stream.

Three real httptrace-agent processes listen on distinct loopback TCP ports with TLS certificates
this test makes (openssl CLI) and require client certificates (mTLS). Each agent loads its own
probes and, being on one host, sees the same syscalls: with a filter on the demo app's port and
role server, every agent records the same exchanges. Distinct --node-name values make each
agent's copy identifiable, which is what the node labels and the merge are checked against.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import unittest

import harness
from harness import Process, free_port, http, read_jsonl, wait_until

NODES = ("node-a", "node-b", "node-c")


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certificates(directory):
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all from the
    CA; plus a client certificate from an unrelated CA, which the agents must refuse."""
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    client_ext = os.path.join(directory, "client.ext")
    with open(client_ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "1",
                "-subj", "/CN=httptrace test " + ca, cwd=directory)
    for name, ca, extfile in (("server", "ca", ext), ("client", "ca", client_ext),
                              ("rogue", "rogue-ca", client_ext)):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                cwd=directory)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "1", "-extfile", extfile,
                cwd=directory)


class MultiAgent(unittest.TestCase):
    def setUp(self):
        harness.skip_unless_capable(harness.bpf_unavailable_reason())
        self.workdir = harness.scratch_dir("httptrace-multi", sockets=True)
        self.processes = []
        # Also when setUp fails: no agent outlives the test.
        self.addCleanup(lambda: [p.stop() for p in reversed(self.processes)])
        make_certificates(self.workdir)
        self.ports = {}
        self.agents = {}
        for node in NODES:
            self.ports[node] = free_port()
        self.agents = self.start_agents(
            {node: "127.0.0.1:%d" % port for node, port in self.ports.items()})

    def start_agents(self, listen):
        """One mTLS agent per {node: "ip:port"}; returns {node: Process} once all serve."""
        agents = {}
        for node, address in listen.items():
            agent = Process([harness.AGENT_BIN, "--listen", "tcp://" + address,
                             "--tls-cert", self.path("server.crt"),
                             "--tls-key", self.path("server.key"),
                             "--tls-client-ca", self.path("ca.crt"),
                             "--node-name", node, "--log-level", "debug"],
                            self.workdir, "agent-" + node)
            self.processes.append(agent)
            agents[node] = agent
        for node, agent in agents.items():
            wait_until(lambda: "serving on" in agent.stderr() or agent.proc.poll() is not None,
                       what="agent %s serving" % node)
            self.assertIsNone(agent.proc.poll(), "agent exited: " + agent.stderr())
        return agents

    def tearDown(self):
        for p in reversed(self.processes):
            p.stop()
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            for p in self.processes:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr()[-3000:]))
        shutil.rmtree(self.workdir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.workdir, name)

    def ctl_argv(self, nodes=NODES, cert="client"):
        argv = [harness.CTL_BIN, "--tls-ca", self.path("ca.crt"),
                "--tls-cert", self.path(cert + ".crt"), "--tls-key", self.path(cert + ".key")]
        for node in nodes:
            argv += ["--agent", "127.0.0.1:%d" % self.ports[node]]
        return argv

    def ctl(self, *args, **kwargs):
        proc = subprocess.run(self.ctl_argv(**kwargs) + list(args), capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def start_app(self):
        port = free_port()
        app = Process([sys.executable, harness.DEMO_APP, "--host", "127.0.0.1",
                       "--port", str(port)], self.workdir, "app")
        self.processes.append(app)
        wait_until(lambda: "listening" in app.stderr(), what="the demo app")
        return port

    def start_ctl(self, name, *args):
        ctl = Process(self.ctl_argv() + list(args), self.workdir, name)
        self.processes.append(ctl)
        wait_until(lambda: re.search(r"started \d+ session\(s\)", ctl.stderr())
                   or ctl.proc.poll() is not None, timeout=60, what="sessions started")
        self.assertIn("started 3 session(s) on 3 of 3 agent(s)", ctl.stderr())
        return ctl

    def test_merged_trace_from_three_agents_survives_one_killed_mid_stream(self):
        app_port = self.start_app()
        filters = ("start", "--port", str(app_port), "--role", "server")
        json_ctl = self.start_ctl("ctl-json", *filters, "--format", "jsonl",
                                  "-o", self.path("trace.jsonl"))
        text_ctl = self.start_ctl("ctl-text", *filters, "-o", self.path("trace.txt"))
        for node in NODES:
            self.assertRegex(json_ctl.stderr(), r"started session \S+ on %s \(127\.0\.0\.1:%d\)"
                             % (node, self.ports[node]))

        base = "http://127.0.0.1:%d" % app_port
        before = ["/users", "/health", "/users"]
        for target in before:
            self.assertEqual(http("GET", base + target)[0], 200)

        def exchanges_of(node):
            try:
                events = read_jsonl(self.path("trace.jsonl"))
            except (FileNotFoundError, ValueError):
                return []
            return [e for e in events if "request" in e and e.get("node") == node]

        # The merge window holds events about a second; every agent's copies arrive.
        wait_until(lambda: all(len(exchanges_of(n)) == len(before) for n in NODES), timeout=20,
                   what="each agent's first exchanges in the merged trace")

        self.agents["node-c"].stop(signal.SIGKILL)
        for ctl in (json_ctl, text_ctl):
            wait_until(lambda: "agent node-c" in ctl.stderr(), timeout=20,
                       what="the ctl reporting the killed agent")
            self.assertRegex(ctl.stderr(), r"httptracectl: agent node-c \(127\.0\.0\.1:%d\) "
                             r"failed: lost the stream of session \S+: .*the other agents go on"
                             % self.ports["node-c"])
            self.assertIsNone(ctl.proc.poll(), "the ctl goes on with the other agents")

        after = ["/chunked", "/users.gz"]
        for target in after:
            self.assertEqual(http("GET", base + target)[0], 200)
        wait_until(lambda: all(len(exchanges_of(n)) == len(before + after)
                               for n in ("node-a", "node-b")), timeout=20,
                   what="the surviving agents' later exchanges")

        for ctl in (json_ctl, text_ctl):
            ctl.send(signal.SIGINT)
            self.assertEqual(ctl.wait(), 1, "an agent failed: exit 1 at the end\n" + ctl.stderr())
            for node in ("node-a", "node-b"):
                self.assertRegex(ctl.stderr(), r"session \S+ on %s ended \(stopped\): 5 "
                                 r"exchange\(s\), 0 lost" % node)
            self.assertNotRegex(ctl.stderr(), r"on node-c ended")

        events = read_jsonl(self.path("trace.jsonl"))
        exchanges = [e for e in events if "request" in e]
        for node in ("node-a", "node-b"):
            self.assertEqual([e["request"]["target"] for e in exchanges if e["node"] == node],
                             before + after)
        self.assertEqual([e["request"]["target"] for e in exchanges if e["node"] == "node-c"],
                         before, "the killed agent's exchanges before the kill are kept")
        # Merged by time: the copies of one exchange (one per agent) sit together, and the
        # trace as a whole goes forward in time.
        times = [e["time"] for e in exchanges]
        self.assertEqual(times, sorted(times))
        targets = [e["request"]["target"] for e in exchanges]
        self.assertEqual(targets[:9], [t for t in before for _ in range(3)])
        self.assertEqual(targets[9:], [t for t in after for _ in range(2)])
        ends = [e for e in events if "end" in e]
        self.assertEqual(sorted(e["node"] for e in ends), ["node-a", "node-b"])
        self.assertTrue(all(e["end"]["reason"] == "stopped" for e in ends))

        with open(self.path("trace.txt")) as f:
            text = f.read()
        headers = re.findall(r"^\[[^\]]+\] PID \d+ .* node (\S+) ", text, flags=re.M)
        self.assertEqual(sorted(headers), sorted(["node-a"] * 5 + ["node-b"] * 5 + ["node-c"] * 3))

    def test_top_counts_every_agents_exchanges(self):
        app_port = self.start_app()
        top = Process(self.ctl_argv() + ["top", "--port", str(app_port), "--role", "server",
                                         "--once", "--duration", "5s"], self.workdir, "top")
        self.processes.append(top)
        wait_until(lambda: "started 3 session(s)" in top.stderr() or top.proc.poll() is not None,
                   timeout=60, what="top's sessions")
        for _ in range(4):
            self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % app_port)[0], 200)
        self.assertEqual(top.wait(timeout=60), 0, top.stderr())
        # Every agent sees the same server exchanges (one host): 3 agents x 4 requests.
        row = [line.split() for line in top.stdout().splitlines()
               if line.split()[:2] == ["GET", "/users"]]
        self.assertEqual(len(row), 1, top.stdout())
        self.assertEqual(row[0][2:4], ["server", "12"], top.stdout())  # SEEN, REQS

    def test_list_and_status_ask_every_agent_and_mtls_refuses_strangers(self):
        code, out, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        for node in NODES:
            self.assertIn("on node %s," % node, out)
        # list: one table over every agent, a row per session with its node.
        code, out, err = self.ctl("start", "--detach", "--port", "1", "--idle-timeout", "60s")
        self.assertEqual(code, 0, err)
        detached = dict(line.split() for line in out.splitlines())
        self.assertEqual(sorted(detached), sorted("127.0.0.1:%d" % p for p in self.ports.values()))
        code, out, err = self.ctl("list")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.count("SESSION"), 1)
        for node in NODES:
            session = detached["127.0.0.1:%d" % self.ports[node]]
            self.assertRegex(out, r"(?m)^%s\s+%s\s+active\s" % (node, session))

        # One agent gone: the others still answer, the failure is reported, exit 1.
        self.agents["node-b"].stop(signal.SIGKILL)
        code, out, err = self.ctl("status")
        self.assertEqual(code, 1)
        self.assertIn("on node node-a,", out)
        self.assertIn("on node node-c,", out)
        self.assertIn("cannot get the agent's status", err)

        # A client certificate from another CA, or none at all, is refused.
        code, _, err = self.ctl("status", nodes=("node-a",), cert="rogue")
        self.assertEqual(code, 1, err)
        proc = subprocess.run([harness.CTL_BIN, "--tls-ca", self.path("ca.crt"), "--agent",
                               "127.0.0.1:%d" % self.ports["node-a"], "status"],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1, proc.stderr.decode())

    def test_a_refused_ctl_always_exits_1_and_never_crashes(self):
        """The ctl ends while gRPC's threads still retry the handshake the agent refused: it once
        died of SIGSEGV there (OpenSSL's atexit clean-up under a handshake) in ~1 of 30 runs.
        Many runs of each way to be refused, so that a race of that class shows."""
        agent = "127.0.0.1:%d" % self.ports["node-a"]
        ways = {
            "client certificate from another CA": ["--tls-cert", self.path("rogue.crt"),
                                                   "--tls-key", self.path("rogue.key")],
            "no client certificate": [],
            "nothing listening": None,
        }
        for way, flags in ways.items():
            address = agent if flags is not None else "127.0.0.1:%d" % free_port()
            argv = [harness.CTL_BIN, "--tls-ca", self.path("ca.crt"), "--agent", address]
            argv += (flags or []) + ["status"]
            for batch in range(6):  # 10 at a time: each run waits ~1 s on its refusal
                ctls = [subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                        for _ in range(10)]
                for run, ctl in enumerate(ctls):
                    err = ctl.communicate(timeout=60)[1].decode()
                    self.assertEqual(ctl.returncode, 1, "%s, run %d: %s" % (
                        way, batch * 10 + run, err))

    def test_agents_from_dns_and_an_unreachable_agent_at_start(self):
        app_port = self.start_app()
        dead_port = free_port()  # nothing listens there
        argv = [harness.CTL_BIN, "--tls-ca", self.path("ca.crt"),
                "--tls-cert", self.path("client.crt"), "--tls-key", self.path("client.key"),
                "--agent", "127.0.0.1:%d" % self.ports["node-a"],
                # Resolved with getaddrinfo; the certificate is checked against "localhost".
                "--agents-dns", "localhost:%d" % self.ports["node-b"],
                "--agent", "127.0.0.1:%d" % dead_port,
                "start", "--port", str(app_port), "--role", "server", "--format", "jsonl",
                "--duration", "4s", "-o", self.path("trace.jsonl")]
        ctl = Process(argv, self.workdir, "ctl-dns")
        self.processes.append(ctl)
        wait_until(lambda: "started 2 session(s) on 2 of 3 agent(s)" in ctl.stderr()
                   or ctl.proc.poll() is not None, timeout=60, what="sessions started")
        self.assertIn("started 2 session(s) on 2 of 3 agent(s)", ctl.stderr())
        self.assertRegex(ctl.stderr(), r"httptracectl: agent 127\.0\.0\.1:%d: cannot reach the "
                         r"agent: .*" % dead_port)
        self.assertRegex(ctl.stderr(), r"started session \S+ on node-b \(127\.0\.0\.1:%d\)"
                         % self.ports["node-b"])
        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % app_port)[0], 200)
        self.assertEqual(ctl.wait(timeout=60), 1, ctl.stderr())
        for node in ("node-a", "node-b"):
            self.assertRegex(ctl.stderr(), r"session \S+ on %s ended \(stopped\): 1 exchange"
                             % node)
        events = read_jsonl(self.path("trace.jsonl"))
        self.assertEqual(sorted(e["node"] for e in events if "request" in e),
                         ["node-a", "node-b"])

    def test_agents_dns_is_resolved_again_and_an_agent_that_joins_is_picked_up(self):
        """A name whose answers change: the ctl runs in a mount namespace of its own where
        /etc/hosts is a file this test rewrites (glibc reads it on every lookup), so the name
        resolves first to one agent, then to two; loopback addresses only."""
        app_port = self.start_app()
        port = free_port()
        self.start_agents({"node-x": "127.0.0.1:%d" % port, "node-y": "127.0.0.2:%d" % port})
        hosts = self.path("hosts")
        name = "agents.httptrace.test"
        with open(hosts, "w") as f:
            f.write("127.0.0.1 %s\n" % name)
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /etc/hosts && exec "$@"', hosts,
                harness.CTL_BIN, "--tls-ca", self.path("ca.crt"),
                "--tls-cert", self.path("client.crt"), "--tls-key", self.path("client.key"),
                "--agents-dns", "%s:%d" % (name, port), "--tls-server-name", "localhost",
                "--dns-refresh", "300ms",
                "start", "--port", str(app_port), "--role", "server", "--format", "jsonl",
                "-o", self.path("dns.jsonl")]
        ctl = Process(argv, self.workdir, "ctl-dns-refresh")
        self.processes.append(ctl)
        wait_until(lambda: "started session" in ctl.stderr() or ctl.proc.poll() is not None,
                   timeout=60, what="the first session")
        self.assertRegex(ctl.stderr(), r"started session \S+ on node-x \(127\.0\.0\.1:%d\)" % port)
        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % app_port)[0], 200)
        # The name now answers with a second agent: rewritten in place (the bind mount holds
        # the inode).
        with open(hosts, "w") as f:
            f.write("127.0.0.1 %s\n127.0.0.2 %s\n" % (name, name))
        wait_until(lambda: "(joined)" in ctl.stderr() or ctl.proc.poll() is not None,
                   timeout=30, what="the new agent picked up")
        self.assertRegex(ctl.stderr(),
                         r"started session \S+ on node-y \(127\.0\.0\.2:%d\) \(joined\)" % port)
        self.assertEqual(http("GET", "http://127.0.0.1:%d/health" % app_port)[0], 200)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        events = read_jsonl(self.path("dns.jsonl"))
        seen = sorted((e["node"], e["request"]["target"]) for e in events if "request" in e)
        self.assertEqual(seen, [("node-x", "/health"), ("node-x", "/users"),
                                ("node-y", "/health")])
        self.assertEqual(sorted(e["node"] for e in events if "end" in e), ["node-x", "node-y"])
        self.assertNotIn("(joined)", ctl.stderr().split("(joined)", 1)[1],
                         "each agent joins once")


if __name__ == "__main__":
    unittest.main(verbosity=2)
