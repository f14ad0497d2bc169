"""End-to-end under podman: the agent image, an app container, a client container, the ctl image.

Builds the images from the binaries under test (deploy/container/run.sh build; the base image and
the apt layer are reused when present), runs the agent with host PID and host network and exactly
the Helm chart's capabilities (--cap-drop=ALL --cap-add=..., not privileged) and mounts, plus
podman's container records read-only, with no podman API service running. Then checks that
exchanges carry the app container's id and name, that a --container filter by name keeps another
container's traffic out (in the kernel, by mount namespace), that the agent's own gRPC traffic is
never traced, that the trace file appears on the host in the seed's format, that each of the
chart's capabilities is needed and named by the agent when it is missing, and what the agent says
without tracefs, without privileges and without any source of container names.

Every container runs with --network host and talks to 127.0.0.1 only. Containers are named
httptrace-e2e-* and removed by name when the test ends.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

import harness

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", "."), os.environ.get("TEST_WORKSPACE", ""))
DEPLOY = os.path.join(RUNFILES, "deploy", "container")
IMAGE = "localhost/httptrace:e2e"
DEMO_IMAGE = "localhost/httptrace-demo-app:e2e"
PREFIX = "httptrace-e2e-"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(DEPLOY, "containers.conf"))
AGENT_BIN = os.environ.get("HTTPTRACE_AGENT_BIN", "bazel-bin/agent/httptrace-agent")
CTL_BIN = os.environ.get("HTTPTRACE_CTL_BIN", "bazel-bin/cli/httptracectl")


chart_capabilities, yaml_list_after = harness.chart_capabilities, harness.yaml_list_after


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def podman(*args, check=True, timeout=120):
    result = subprocess.run(["podman"] + list(args), env=ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("podman %s failed (%d):\n%s" % (" ".join(args), result.returncode,
                                                            result.stdout))
    return result


def podman_unavailable_reason():
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup.sh installs it)"
    if os.geteuid() != 0:
        return "needs root (a privileged agent container and rootful podman)"
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if info.returncode != 0:
        return "podman cannot run here: " + info.stdout.strip()
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    return None


def remove_test_containers():
    names = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    doomed = [n for n in names if n.startswith(PREFIX)]
    if doomed:
        podman("rm", "-f", "-t", "2", *doomed, check=False)


def container_logs(name):
    return podman("logs", name, check=False).stdout


class ContainerE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_capable(podman_unavailable_reason())
        remove_test_containers()
        cls.work = harness.scratch_dir("ht-e2e", sockets=True)
        os.chmod(cls.work, 0o755)
        cls.run_dir = os.path.join(cls.work, "run")
        cls.traces = os.path.join(cls.work, "traces")
        os.makedirs(cls.run_dir)
        os.makedirs(cls.traces)

        start = time.monotonic()
        env = dict(ENV, AGENT_BIN=os.path.abspath(AGENT_BIN),
                   CTL_BIN=os.path.abspath(CTL_BIN), IMAGE_TAG="e2e",
                   IMAGE_CONTEXT=os.path.join(cls.work, "context"))
        build = subprocess.run([os.path.join(DEPLOY, "run.sh"), "--engine", "podman", "build"],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=600)
        if build.returncode != 0:
            raise AssertionError("image build failed:\n" + build.stdout[-4000:])
        sys.stderr.write("container e2e: images built in %.1f s\n" % (time.monotonic() - start))

        # No podman API service: names come from podman's own records. The chart's capabilities.
        store = podman("info", "--format",
                       "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}").stdout.split()
        cls.store_root = store[0]
        cls.store_dir = os.path.join(store[0], store[1] + "-containers")
        os.makedirs(cls.store_dir, exist_ok=True)
        cls.capabilities = chart_capabilities()
        cls.api_port = free_port()
        cls.agent = PREFIX + "agent"
        cls.start_agent(cls.agent, capabilities=cls.capabilities,
                        extra=["--listen=tcp://127.0.0.1:%d" % cls.api_port, "--insecure-tcp"])
        cls.wait_for_agent(cls.agent, os.path.join(cls.run_dir, "agent.sock"))

        cls.app_port, cls.other_port = free_port(), free_port()
        cls.app, cls.other = PREFIX + "app", PREFIX + "other"
        for name, port in ((cls.app, cls.app_port), (cls.other, cls.other_port)):
            podman("run", "-d", "--name", name, "--network", "host", "-e", "DEMO_PORT=%d" % port,
                   DEMO_IMAGE)
        for port in (cls.app_port, cls.other_port):
            wait_until(lambda port=port: cls.port_open(port), 20, "demo app on port %d" % port)
        cls.app_id = podman("inspect", "-f", "{{.Id}}", cls.app).stdout.strip()
        cls.other_id = podman("inspect", "-f", "{{.Id}}", cls.other).stdout.strip()

    @classmethod
    def tearDownClass(cls):
        remove_test_containers()
        if getattr(cls, "work", None):
            shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def start_agent(cls, name, capabilities=None, privileged=False, store=True, tracefs=True,
                    run_dir=None, extra=()):
        """The agent as the chart runs it: host PID, the chart's mounts (the API socket's
        directory, tracefs, cgroups read-only), seccomp unconfined and no privilege escalation,
        with `capabilities` only (--cap-drop=ALL), or podman's defaults when None; plus podman's
        container records read-only (compose's mount) when `store`."""
        args = ["run", "-d", "--name", name, "--pid=host", "--cgroupns=host", "--network", "host",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
                "-v", "%s:/run/httptrace" % (run_dir or cls.run_dir)]
        if tracefs and os.path.isdir("/sys/kernel/tracing/events"):
            args += ["-v", "/sys/kernel/tracing:/sys/kernel/tracing"]
        if privileged:
            args.append("--privileged")
        elif capabilities is not None:
            args += ["--cap-drop=ALL", "--cap-add=" + ",".join(capabilities),
                     "--security-opt", "seccomp=unconfined",
                     "--security-opt", "no-new-privileges"]
        if store:
            args += ["-v", "%s:%s:ro" % (cls.store_dir, cls.store_dir)]
        args += [IMAGE, "httptrace-agent", "--listen=unix:///run/httptrace/agent.sock",
                 "--container-store=" + cls.store_root] + list(extra)
        podman(*args)

    @classmethod
    def wait_for_agent(cls, name, socket_path):
        try:
            wait_until(lambda: os.path.exists(socket_path), 20, "the agent's API socket")
        except AssertionError:
            raise AssertionError("agent did not start:\n" + container_logs(name))

    @staticmethod
    def port_open(port):
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def capture(self, name, ctl_args, traffic, run_dir=None, agent_address=None):
        """Runs httptracectl in its image while `traffic()` runs; returns the ctl's stderr."""
        args = ["run", "-d", "--name", name, "--network", "host",
                "-v", "%s:/run/httptrace" % (run_dir or self.run_dir),
                "-v", "%s:/traces" % self.traces, IMAGE, "httptracectl"]
        if agent_address:
            args += ["--agent", agent_address, "--insecure"]
        podman(*(args + ["start"] + list(ctl_args)))
        wait_until(lambda: "started session" in container_logs(name), 20,
                   "the capture to start (%s)" % name)
        traffic()
        # SIGTERM: the ctl stops the session; the agent flushes the probes' ring buffer first, so
        # every exchange completed by now is in the trace and the summary.
        podman("stop", "-t", "15", name)
        logs = container_logs(name)
        podman("rm", "-f", name, check=False)
        return logs

    def client(self, *ports, rounds=2):
        """A client container sending the demo requests to each port."""
        for port in ports:
            podman("run", "--rm", "--name", PREFIX + "client", "--network", "host", DEMO_IMAGE,
                   "python3", "/app/demo_client.py", "--port", str(port), "--rounds", str(rounds))

    def test_compose_grants_the_agent_exactly_the_charts_capabilities(self):
        compose = os.path.join(DEPLOY, "compose.yaml")
        self.assertEqual(yaml_list_after(compose, "cap_drop"), ["ALL"])
        self.assertEqual(sorted(yaml_list_after(compose, "cap_add")), sorted(self.capabilities))
        with open(compose) as f:
            self.assertNotIn("privileged: true", f.read())

    def test_each_of_the_charts_capabilities_is_needed_and_named_when_missing(self):
        # The shared agent runs with exactly the chart's list and captures (the other tests);
        # here each one is taken away in turn.
        for cap in self.capabilities:
            with self.subTest(dropped=cap):
                name = PREFIX + "agent-no-" + cap.lower().replace("_", "-")
                run_dir = os.path.join(self.work, "run-no-" + cap)
                os.makedirs(run_dir)
                self.start_agent(name, capabilities=[c for c in self.capabilities if c != cap],
                                 run_dir=run_dir)
                socket_path = os.path.join(run_dir, "agent.sock")
                wait_until(lambda: os.path.exists(socket_path) or podman(
                    "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "false",
                    20, "the agent without %s to serve or exit" % cap)
                if not os.path.exists(socket_path):
                    # Missing at start: the agent exits and says which capability it lacks.
                    self.assertNotEqual(
                        podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip(), "0")
                    error = container_logs(name)
                else:
                    # Missing at run time: a container filter cannot be set, and the error the
                    # agent returns says why.
                    result = podman("run", "--rm", "--name", PREFIX + "ctl-no-cap",
                                    "--network", "host", "-v", "%s:/run/httptrace" % run_dir,
                                    IMAGE, "httptracectl", "start", "--container", self.app,
                                    "--duration", "2s", check=False)
                    self.assertNotEqual(result.returncode, 0, result.stdout)
                    error = result.stdout
                    # ...and the agent said so at start already.
                    self.assertIn("CAP_" + cap, container_logs(name))
                self.assertIn("CAP_" + cap, error)
                line = next(l for l in error.splitlines() if "CAP_" + cap in l)
                sys.stderr.write("without %s: %s\n" % (cap, line.strip()))
                podman("rm", "-f", "-t", "5", name, check=False)

    def test_container_filter_follows_containers_that_start_during_the_capture(self):
        late, late_port = PREFIX + "late", free_port()

        def start_late_container_then_send():
            # The kernel filter holds the app's mount namespace only; the agent looks the
            # filter's namespaces up again every 2 s and adds the new container's: wait until it
            # says so, then send.
            logged_before = len(container_logs(self.agent))
            podman("run", "-d", "--name", late, "--network", "host",
                   "-e", "DEMO_PORT=%d" % late_port, DEMO_IMAGE)
            wait_until(lambda: self.port_open(late_port), 20, "the late app")
            wait_until(lambda: "2 mount namespace(s) in the kernel filter"
                       in container_logs(self.agent)[logged_before:], 20,
                       "the agent to add the late container's mount namespace")
            self.client(late_port, rounds=1)

        logs = self.capture(PREFIX + "ctl-late",
                            ["--container", self.app, "--container", late, "--role", "server",
                             "--format", "jsonl", "-o", "/traces/late.jsonl"],
                            start_late_container_then_send)
        exchanges = [e for e in read_jsonl(os.path.join(self.traces, "late.jsonl"))
                     if "request" in e]
        self.assertGreaterEqual(len(exchanges), 2, logs + container_logs(self.agent))
        for x in exchanges:
            self.assertEqual(x["container"]["name"], late, x)
        self.assertIn("containers changed: container filter", container_logs(self.agent))

    def test_exchanges_carry_the_app_containers_id_and_name_and_the_filter_keeps_others_out(self):
        logs = self.capture(PREFIX + "ctl-filter",
                            ["--container", self.app, "--role", "server", "--format", "jsonl",
                             "-o", "/traces/filtered.jsonl"],
                            lambda: self.client(self.app_port, self.other_port))
        events = read_jsonl(os.path.join(self.traces, "filtered.jsonl"))
        exchanges = [e for e in events if "request" in e]
        self.assertGreaterEqual(len(exchanges), 4, "%d event(s)\n%s" % (len(events), logs))
        for x in exchanges:
            self.assertEqual(x["container"]["id"], self.app_id, x)
            self.assertEqual(x["container"]["name"], self.app, x)
            self.assertEqual(x["local"], "127.0.0.1:%d" % self.app_port, x)
        self.assertIn("ended (stopped)", logs)
        # The filter reached the kernel as the app's mount namespace.
        self.assertIn("container filter %s: 1 mount namespace(s) in the kernel filter" % self.app,
                      container_logs(self.agent))

    def test_trace_file_appears_on_the_host_in_the_seeds_format(self):
        self.capture(PREFIX + "ctl-text", ["--port", str(self.app_port), "--role", "server",
                                           "-o", "/traces/http-trace.txt"],
                     lambda: self.client(self.app_port, rounds=1))
        path = os.path.join(self.traces, "http-trace.txt")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("container %s (%s)" % (self.app, self.app_id[:12]), text)
        self.assertIn("→ HTTP GET /users HTTP/1.1", text)
        self.assertIn("← Response 200 OK", text)
        self.assertIn('→ HTTP POST /user HTTP/1.1', text)
        self.assertIn('Body: {"name": "New User"}', text)
        self.assertIn("← Response 201 Created", text)
        self.assertIn("-- session ended (stopped)", text)

    def test_the_agents_own_grpc_traffic_is_never_traced(self):
        # The ctl talks to the agent over TCP on loopback, and the capture takes the API's port
        # as well as the app's: were the agent to trace itself, its gRPC would show up. (Only
        # these two ports, so that other traffic on the machine cannot flood the session.)
        logs = self.capture(PREFIX + "ctl-api",
                            ["--port", str(self.app_port), "--port", str(self.api_port),
                             "--format", "jsonl", "-o", "/traces/api.jsonl"],
                            lambda: self.client(self.app_port, rounds=1),
                            agent_address="127.0.0.1:%d" % self.api_port)
        exchanges = [e for e in read_jsonl(os.path.join(self.traces, "api.jsonl"))
                     if "request" in e]
        agent_pid = int(podman("inspect", "-f", "{{.State.Pid}}", self.agent).stdout)
        app = ":%d" % self.app_port
        self.assertTrue(any(x["local"].endswith(app) for x in exchanges),
                        "no demo exchange among %d: %s" % (len(exchanges), logs))
        api = ":%d" % self.api_port
        for x in exchanges:
            self.assertNotEqual(x["pid"], agent_pid, x)
            self.assertFalse(x["local"].endswith(api) or x["remote"].endswith(api), x)

    def test_without_privileges_tracefs_or_engine_socket_the_agent_says_so(self):
        # Runs last (tests run in name order): it stops the shared agent.
        # Without privileges: a clear message and a non-zero exit.
        name = PREFIX + "agent-unprivileged"
        run_dir = os.path.join(self.work, "run-unprivileged")
        os.makedirs(run_dir)
        self.start_agent(name, run_dir=run_dir)
        wait_until(lambda: podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
                   == "false", 20, "the unprivileged agent to exit")
        self.assertNotEqual(podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip(),
                            "0")
        self.assertIn("run the agent privileged", container_logs(name))

        # tracefs not mounted and not mountable: tracepoints cannot attach, said clearly...
        name = PREFIX + "agent-no-tracefs"
        self.start_agent(name, privileged=True, tracefs=False, run_dir=run_dir,
                         extra=["--mount-tracefs=false", "--attach-mode=tracepoints"])
        wait_until(lambda: podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
                   == "false", 20, "the agent without tracefs to exit")
        self.assertIn("tracefs is not mounted", container_logs(name))
        # ...and in auto mode the agent says it falls back to raw tracepoints and serves.
        name = PREFIX + "agent-raw"
        run_dir_raw = os.path.join(self.work, "run-raw")
        os.makedirs(run_dir_raw)
        self.start_agent(name, capabilities=self.capabilities, tracefs=False,
                         run_dir=run_dir_raw, extra=["--mount-tracefs=false"])
        self.wait_for_agent(name, os.path.join(run_dir_raw, "agent.sock"))
        self.assertIn("raw tracepoint", container_logs(name))
        podman("rm", "-f", "-t", "5", name)

        # No source of names (no records mounted, no socket): one clear warning, and exchanges
        # still carry the container id.
        name = PREFIX + "agent-no-engine"
        run_dir_ne = os.path.join(self.work, "run-no-engine")
        os.makedirs(run_dir_ne)
        podman("stop", "-t", "10", self.agent)  # one agent at a time attaches the probes
        try:
            self.start_agent(name, capabilities=self.capabilities, store=False,
                             run_dir=run_dir_ne)
            self.wait_for_agent(name, os.path.join(run_dir_ne, "agent.sock"))
            self.capture(PREFIX + "ctl-no-engine",
                         ["--port", str(self.app_port), "--role", "server", "--format", "jsonl",
                          "-o", "/traces/no-engine.jsonl"],
                         lambda: self.client(self.app_port, rounds=1), run_dir=run_dir_ne)
            logs = container_logs(name)
            self.assertEqual(logs.count("no source of container names is readable"), 1, logs)
            exchanges = [e for e in read_jsonl(os.path.join(self.traces, "no-engine.jsonl"))
                         if "request" in e]
            self.assertGreaterEqual(len(exchanges), 2)
            for x in exchanges:
                self.assertEqual(x["container"]["id"], self.app_id, x)
                self.assertEqual(x["container"].get("name", ""), "", x)
        finally:
            podman("rm", "-f", "-t", "5", name, check=False)


if __name__ == "__main__":
    unittest.main(verbosity=2)
