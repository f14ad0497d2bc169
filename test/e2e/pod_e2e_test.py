"""End-to-end against a real CRI runtime: Debian's containerd with pods made over CRI.

The test starts containerd 1.6 (its CRI plugin built in) with a config, root, state and socket of
its own: runc, cgroupfs, no CNI, so pod sandboxes take the node's network namespace and all
traffic stays on loopback. It builds two images with podman from the debootstrap base
(deploy/container/base-image.sh): a pause image and the demo app's, and imports them with
`ctr -n k8s.io images import`. //agent/cri:cri_driver plays the kubelet: pod sandboxes with a
kubepods cgroup parent and containers with the kubelet's labels, created over CRI.

The agent runs as the DaemonSet runs it: in a container (the project's image, built here too)
with host PID, exactly the Helm chart's capabilities (--cap-drop=ALL --cap-add=..., seccomp
unconfined, no privilege escalation) and the chart's mounts, containerd's socket among them at
the chart's path. Exchanges of an app in a pod must
carry the pod's name and namespace and the container's name as containerd tells them;
--namespace and --pod must filter in the kernel (by the pods' mount namespaces); a container
restarted in its pod (a new container id, attempt 1) must be followed by a running capture; an
agent without CAP_SYS_PTRACE must refuse a pod filter and name the capability. An agent with an
access policy that allows one namespace narrows a capture of everything to that namespace in
the kernel, and refuses a capture of another namespace naming the rule.
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
import uuid

import harness
from harness import Process, free_port, http, read_jsonl, wait_until

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", "."), os.environ.get("TEST_WORKSPACE", ""))
DEPLOY = os.path.join(RUNFILES, "deploy", "container")
CONTAINER_PREFIX = "httptrace-e2e-pod-"  # removed by name (and by the container test's sweep)
CRI_DRIVER = os.environ.get("HTTPTRACE_CRI_DRIVER_BIN", "bazel-bin/agent/cri/cri_driver")
# Absolute paths: Bazel's test PATH has no /usr/sbin (runc, debootstrap).
CONTAINERD, CTR, RUNC = "/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc"
PAUSE_IMAGE = "localhost/httptrace-pause:e2e"
APP_IMAGE = "localhost/httptrace-demo-app:e2e"
AGENT_IMAGE = "localhost/httptrace:e2e"
# Where the chart mounts the CRI socket (cri.socket's default) inside the agent's container.
CRI_SOCKET_IN_AGENT = "/run/containerd/containerd.sock"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(DEPLOY, "containers.conf"),
           PATH=os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin")

# The pause process: sleeps until containerd kills it (StopPodSandbox sends SIGKILL).
# A fork-per-connection server (the inetd/CGI pattern): each connection is served by a child
# that exits when it is done, usually before the agent looks its pid up, so the exchange's pod
# can only come from the mount namespace the probes saw.
FORKING_SERVER = r"""
import http.server, os, socketserver
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = b"served by %d\n" % os.getpid()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    pass
server = Server(("127.0.0.1", int(os.environ["DEMO_PORT"])), Handler)
print("listening", flush=True)
server.serve_forever()
"""

PAUSE_CONTAINERFILE = """FROM localhost/debian:bookworm-slim
CMD ["sleep", "infinity"]
LABEL io.httptrace.image=pause
"""

CONTAINERD_CONFIG = """version = 2
root = "{work}/root"
state = "{work}/state"
[grpc]
  address = "{work}/containerd.sock"
[ttrpc]
  address = "{work}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Keep oom_score_adj at or above containerd's own: the kubelet's -998 for sandboxes needs
  # CAP_SYS_RESOURCE, which this kind of machine does not grant even to root.
  restrict_oom_score_adj = true
  # A random loopback port for the streaming server (exec/attach), not the fixed 10010.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  # No CNI: every pod of this test is on the node's network namespace.
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{work}/cni/bin"
    conf_dir = "{work}/cni/conf"
[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"
"""


def run(argv, timeout=300, check=True, env=ENV):
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), result.returncode,
                                                      result.stdout[-4000:]))
    return result


def unavailable_reason():
    reason = harness.bpf_unavailable_reason()
    if reason:
        return reason
    for path in (CONTAINERD, CTR, RUNC):
        if not os.path.exists(path):
            return "%s is missing (scripts/setup.sh installs containerd and runc)" % path
    if shutil.which("podman", path=ENV["PATH"]) is None:
        return "podman is missing (scripts/setup.sh installs it; it builds the test's images)"
    return None


def podman(*args, check=True, timeout=300):
    return run(["podman"] + list(args), timeout=timeout, check=check)


def build_and_save_images(work):
    """Builds the agent, demo-app and pause images with podman (the agent and demo app as
    deploy/container/run.sh builds them, from the binaries under test) and saves the two that
    containerd runs as docker archives."""
    start = time.monotonic()
    env = dict(ENV, AGENT_BIN=os.path.abspath(harness.AGENT_BIN),
               CTL_BIN=os.path.abspath(harness.CTL_BIN), IMAGE_TAG="e2e",
               IMAGE_CONTEXT=os.path.join(work, "context"))
    run([os.path.join(DEPLOY, "run.sh"), "--engine", "podman", "build"], timeout=900, env=env)
    pause_context = os.path.join(work, "pause-context")
    os.makedirs(pause_context)
    with open(os.path.join(pause_context, "Containerfile"), "w") as f:
        f.write(PAUSE_CONTAINERFILE)
    podman("build", "-q", "-t", PAUSE_IMAGE, pause_context)
    archives = []
    for image in (PAUSE_IMAGE, APP_IMAGE):
        archive = os.path.join(work, image.split("/")[-1].replace(":", "_") + ".tar")
        podman("save", "--format", "docker-archive", "-o", archive, image)
        archives.append(archive)
    sys.stderr.write("pod e2e: images built and saved in %.1f s\n" % (time.monotonic() - start))
    return archives


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def mount_namespace_of(container_id):
    """The mount-namespace link of the container's first process (found by its cgroup path)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % entry) as f:
                if container_id not in f.read():
                    continue
            return os.readlink("/proc/%s/ns/mnt" % entry)
        except OSError:
            continue  # exited meanwhile
    raise AssertionError("no process of container %s" % container_id)


def pod_mount_namespaces(pod_uid):
    """The mount-namespace links of every process of the pod (by its cgroup path)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % entry) as f:
                if "pod" + pod_uid not in f.read():
                    continue
            found.add(os.readlink("/proc/%s/ns/mnt" % entry))
        except OSError:
            continue  # exited meanwhile
    return found


class AgentContainer:
    """The agent in its image, as the chart's DaemonSet runs it (see start_agent)."""

    def __init__(self, name, run_dir, capabilities, cri_socket, extra_args=(), volumes=()):
        self.name = name
        podman("rm", "-f", name, check=False)
        args = ["run", "-d", "--name", name, "--pid=host", "--cgroupns=host", "--network", "host",
                "--cap-drop=ALL", "--cap-add=" + ",".join(capabilities),
                "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges",
                # The chart's mounts: the API socket's directory, tracefs, cgroups (read-only),
                # the CRI socket (read-only).
                "-v", "%s:/run/httptrace" % run_dir,
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
                "-v", "%s:%s:ro" % (cri_socket, CRI_SOCKET_IN_AGENT)]
        if os.path.isdir("/sys/kernel/tracing/events"):
            args += ["-v", "/sys/kernel/tracing:/sys/kernel/tracing"]
        for volume in volumes:
            args += ["-v", volume]
        podman(*(args + [AGENT_IMAGE, "httptrace-agent", "--listen=unix:///run/httptrace/agent.sock",
                         "--cri-endpoint=unix://" + CRI_SOCKET_IN_AGENT, "--log-level=debug"]
                 + list(extra_args)))

    def stderr(self):
        return podman("logs", self.name, check=False).stdout

    def running(self):
        state = podman("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def effective_capabilities(self):
        pid = podman("inspect", "-f", "{{.State.Pid}}", self.name).stdout.strip()
        with open("/proc/%s/status" % pid) as f:
            return int(re.search(r"^CapEff:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)

    def stop(self):
        podman("rm", "-f", "-t", "10", self.name, check=False)


class Containerd:
    """containerd with its own config, root, state and socket; stopped and cleaned up by PID."""

    def __init__(self, work):
        self.work = work
        self.socket = os.path.join(work, "containerd.sock")
        self.config = os.path.join(work, "config.toml")
        for d in ("cni/bin", "cni/conf", "opt", "logs"):
            os.makedirs(os.path.join(work, d))
        with open(self.config, "w") as f:
            f.write(CONTAINERD_CONFIG.format(work=work, pause=PAUSE_IMAGE, runc=RUNC))
        self.process = Process([CONTAINERD, "--config", self.config, "--log-level", "info"],
                               work, "containerd")
        wait_until(lambda: os.path.exists(self.socket) or self.process.proc.poll() is not None,
                   timeout=30, what="containerd's socket")
        if self.process.proc.poll() is not None:
            raise AssertionError("containerd exited:\n" + self.process.stderr()[-4000:])

    def ctr(self, *args, timeout=300):
        return run([CTR, "--address", self.socket, "--namespace", "k8s.io"] + list(args),
                   timeout=timeout)

    def stop(self):
        self.process.stop()
        # Shims exit with their containers (removed before this); what containerd mounted under
        # its root and state goes before the directory does.
        for point in sorted(mounts_under(self.work), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False)


class PodsOnContainerd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.skip_unless_capable(unavailable_reason())
        # Agent containers an interrupted run left behind.
        for name in podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split():
            if name.startswith(CONTAINER_PREFIX):
                podman("rm", "-f", name, check=False)
        cls.work = harness.scratch_dir("ht-ctrd", sockets=True)
        cls.processes = []
        cls.pods = []
        try:
            archives = build_and_save_images(cls.work)
            cls.containerd = Containerd(cls.work)
            start = time.monotonic()
            for archive in archives:
                cls.containerd.ctr("images", "import", archive)
            sys.stderr.write("pod e2e: images imported in %.1f s\n" % (time.monotonic() - start))
            cls.endpoint = "unix://" + cls.containerd.socket
            version = cls.driver("version").strip()
            if not version.startswith("containerd "):
                raise AssertionError("not containerd's CRI: " + version)

            cls.web = cls.make_pod("shop-7d9f", "prod", "web")
            cls.api = cls.make_pod("billing-5c4", "dev", "api")
            cls.forker = cls.make_pod("reports-9f1", "batch", "forker",
                                      ["python3", "-c", FORKING_SERVER])

            cls.capabilities = harness.chart_capabilities()
            cls.agents = []
            cls.agent, cls.agent_socket = cls.start_agent("agent", cls.capabilities)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.processes):
            p.stop()
        for agent in getattr(cls, "agents", []):
            agent.stop()
        for pod in getattr(cls, "pods", []):
            cls.driver("stop-pod", pod["sandbox"], check=False)
            cls.driver("remove-pod", pod["sandbox"], check=False)
        if getattr(cls, "containerd", None) is not None:
            cls.containerd.stop()
        if os.environ.get("HTTPTRACE_KEEP_WORK"):
            sys.stderr.write("pod e2e: kept %s\n" % cls.work)
        elif not mounts_under(cls.work):
            shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def start_agent(cls, name, capabilities, extra_args=(), volumes=()):
        """The agent container with `capabilities`; returns it and its API socket's host path."""
        run_dir = os.path.join(cls.work, "run-" + name)
        os.makedirs(run_dir)
        socket = os.path.join(run_dir, "agent.sock")
        agent = AgentContainer(CONTAINER_PREFIX + name, run_dir, capabilities,
                               cls.containerd.socket, extra_args, volumes)
        cls.agents.append(agent)
        wait_until(lambda: os.path.exists(socket) or not agent.running(), timeout=30,
                   what="the agent's socket")
        if not os.path.exists(socket):
            raise AssertionError("agent exited:\n" + agent.stderr())
        caps = agent.effective_capabilities()
        if caps.bit_count() != len(capabilities):
            raise AssertionError("agent's capabilities %x are not %s" % (caps, capabilities))
        return agent, socket

    @classmethod
    def driver(cls, verb, *args, pod=None, check=True):
        argv = [CRI_DRIVER, "--endpoint", cls.endpoint]
        if pod is not None:
            argv += ["--pod", pod["name"], "--namespace", pod["namespace"], "--uid", pod["uid"],
                     "--cgroup_parent", "/kubepods/burstable/pod" + pod["uid"],
                     "--log_dir", pod["logs"]]
        result = run(argv + [verb] + list(args), timeout=120, check=check)
        return result.stdout

    @classmethod
    def make_pod(cls, name, namespace, container, command=None):
        """A pod sandbox and one container in it, listening on the node's loopback: the demo app,
        or `command` (which reads its port from $DEMO_PORT and prints "listening")."""
        uid = str(uuid.uuid4())
        logs = os.path.join(cls.work, "logs", uid)
        os.makedirs(logs)
        pod = {"name": name, "namespace": namespace, "uid": uid, "logs": logs,
               "container_name": container, "port": free_port(), "attempt": 0,
               "command": command or [
                   "sh", "-c",
                   'exec python3 /app/demo_app.py --host 127.0.0.1 --port "$DEMO_PORT"']}
        pod["sandbox"] = cls.driver("run-pod", pod=pod).strip()
        cls.pods.append(pod)
        cls.start_container(pod)
        return pod

    @classmethod
    def start_container(cls, pod):
        pod["container"] = cls.driver(
            "create", "--pod_id", pod["sandbox"], "--name", pod["container_name"],
            "--image", APP_IMAGE, "--attempt", str(pod["attempt"]),
            "--env", "DEMO_PORT=%d" % pod["port"], "--", *pod["command"], pod=pod).strip()
        cls.driver("start", pod["container"])
        log = os.path.join(pod["logs"], "%s.%d.log" % (pod["container_name"], pod["attempt"]))
        wait_until(lambda: os.path.exists(log) and "listening" in open(log).read(), timeout=30,
                   what="%s in pod %s" % (pod["container_name"], pod["name"]))

    def capture(self, name, *args, socket=None):
        ctl = Process([harness.CTL_BIN, "--agent", "unix://" + (socket or self.agent_socket), "start",
                       "--role", "server", "--format", "jsonl",
                       "-o", os.path.join(self.work, name + ".jsonl")] + list(args),
                      self.work, name)
        self.processes.append(ctl)
        wait_until(lambda: "started session" in ctl.stderr() or ctl.proc.poll() is not None,
                   timeout=60, what="started session")
        self.assertIsNone(ctl.proc.poll(), ctl.stderr())
        return ctl

    def finish(self, ctl, name):
        ctl.send(signal.SIGINT)  # stops the session after every exchange completed before it
        self.assertEqual(ctl.wait(), 0, ctl.stderr())
        return [e for e in read_jsonl(os.path.join(self.work, name + ".jsonl")) if "request" in e]

    def agent_counter(self, name, socket=None):
        status = subprocess.run([harness.CTL_BIN, "--agent", "unix://" + (socket or self.agent_socket),
                                 "status", "--counters"], capture_output=True, text=True,
                                timeout=30)
        match = re.search(r"^\s*%s\s+(\d+)\s*$" % re.escape(name), status.stdout, re.M)
        self.assertIsNotNone(match, "no %s in status:\n%s" % (name, status.stdout))
        return int(match.group(1))

    def request(self, pod):
        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % pod["port"])[0], 200)

    def assert_from(self, exchange, pod):
        self.assertEqual(exchange["local"], "127.0.0.1:%d" % pod["port"], exchange)
        self.assertEqual(exchange["container"]["id"], pod["container"], exchange)
        self.assertEqual((exchange["container"].get("name"), exchange["container"].get("pod"),
                          exchange["container"].get("namespace")),
                         (pod["container_name"], pod["name"], pod["namespace"]), exchange)

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            for p in self.processes + self.agents + [self.containerd.process]:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr()[-3000:]))

    def test_exchanges_carry_the_runtimes_names_and_namespace_filters_in_the_kernel(self):
        ctl = self.capture("by-namespace", "--namespace", "prod")
        log = self.agent.stderr()
        match = re.findall(r"pod filter: (\d+) mount namespace\(s\) in the kernel filter", log)
        self.assertTrue(match and int(match[-1]) >= 1, log[-2000:])
        # In the kernel: the other pod's connection is refused there (kernel counters are read
        # from the probes' map at the moment asked, after the request has completed), and none
        # of its bytes reach the ring buffer.
        events = self.agent_counter("kernel.data_events")
        refused = self.agent_counter("kernel.skip_conn_filter")
        self.request(self.api)
        self.assertGreater(self.agent_counter("kernel.skip_conn_filter"), refused)
        self.assertEqual(self.agent_counter("kernel.data_events"), events)
        self.request(self.web)
        self.assertGreater(self.agent_counter("kernel.data_events"), events)
        exchanges = self.finish(ctl, "by-namespace")
        self.assertEqual(len(exchanges), 1, exchanges)
        self.assert_from(exchanges[0], self.web)
        self.assertEqual(exchanges[0]["container"]["id"], self.web["container"])

    def test_pod_filter_selects_the_named_pod_only(self):
        ctl = self.capture("by-pod", "--pod", "billing-5c4")
        self.request(self.web)
        self.request(self.api)
        self.request(self.api)
        exchanges = self.finish(ctl, "by-pod")
        self.assertEqual(len(exchanges), 2, exchanges)
        for x in exchanges:
            self.assert_from(x, self.api)

    def test_fork_per_connection_server_by_pod_and_by_namespace(self):
        # Every request served by a child that has exited by the time the agent looks: each
        # exchange still names the container, its pod and its namespace, with either filter.
        for name, args in (("forker-by-pod", ["--pod", "reports-9f1"]),
                           ("forker-by-namespace", ["--namespace", "batch"])):
            with self.subTest(filter=args[0]):
                ctl = self.capture(name, *args)
                for _ in range(5):
                    self.request(self.forker)
                self.request(self.web)  # another pod: filtered out in the kernel
                exchanges = self.finish(ctl, name)
                self.assertEqual(len(exchanges), 5, exchanges)
                for x in exchanges:
                    self.assert_from(x, self.forker)
                self.assertEqual(len({x["pid"] for x in exchanges}), 5,
                                 "not one child per connection: %s" % exchanges)

    def test_the_driver_reads_the_container_back_as_the_agent_does(self):
        self.assertEqual(self.driver("inspect", self.api["container"]).split(),
                         ["api", "billing-5c4", "dev", self.api["uid"]])

    def test_without_cap_sys_ptrace_a_pod_filter_fails_and_names_it(self):
        agent, socket = self.start_agent("agent-no-ptrace",
                                         [c for c in self.capabilities if c != "SYS_PTRACE"])
        try:
            result = subprocess.run([harness.CTL_BIN, "--agent", "unix://" + socket, "start",
                                     "--namespace", "prod", "--duration", "2s"],
                                    capture_output=True, text=True, timeout=60)
            self.assertNotEqual(result.returncode, 0, result.stderr)
            self.assertIn("CAP_SYS_PTRACE", result.stderr)
        finally:
            agent.stop()

    def test_a_policy_narrows_a_capture_of_everything_to_its_namespace_in_the_kernel(self):
        policy = os.path.join(self.work, "policy.json")
        with open(policy, "w") as f:
            json.dump({"rules": [{"name": "team-prod", "callers": {"unix_users": ["root"]},
                                  "verbs": ["status", "list", "capture"],
                                  "namespaces": ["prod"]}]}, f)
        agent, socket = self.start_agent(
            "agent-policy", self.capabilities,
            extra_args=["--policy=/etc/httptrace/policy/policy.json"],
            volumes=["%s:/etc/httptrace/policy/policy.json:ro" % policy])
        try:
            self.assertIn("access policy /etc/httptrace/policy/policy.json (1 rule(s): "
                          "team-prod)", agent.stderr())
            # Asks for everything; the agent narrows the session to namespace prod.
            ctl = self.capture("policy-everything", socket=socket)
            wait_until(lambda: re.search(r"pod filter: [1-9]\d* mount namespace\(s\) in the "
                                         r"kernel filter", agent.stderr()), timeout=15,
                       what="the narrowed filter in the kernel")
            events = self.agent_counter("kernel.data_events", socket)
            refused = self.agent_counter("kernel.skip_conn_filter", socket)
            self.request(self.api)  # namespace dev: refused in the kernel, no byte copied
            self.assertGreater(self.agent_counter("kernel.skip_conn_filter", socket), refused)
            self.assertEqual(self.agent_counter("kernel.data_events", socket), events)
            self.request(self.web)  # namespace prod
            exchanges = self.finish(ctl, "policy-everything")
            self.assertEqual(len(exchanges), 1, exchanges)
            self.assert_from(exchanges[0], self.web)
            self.assertIn('note: policy rule "team-prod": capture narrowed to namespace prod',
                          ctl.stderr())
            # Another namespace, asked by name: refused, naming the rule.
            result = subprocess.run([harness.CTL_BIN, "--agent", "unix://" + socket, "start",
                                     "--namespace", "dev", "--duration", "2s"],
                                    capture_output=True, text=True, timeout=60)
            self.assertNotEqual(result.returncode, 0, result.stderr)
            self.assertIn('policy rule "team-prod" does not allow capturing namespace dev '
                          '(allowed: prod)', result.stderr)
            audit = [json.loads(line)["audit"] for line in agent.stderr().splitlines()
                     if line.startswith('{"audit"')]
            self.assertEqual([(a["verb"], a["code"], a["uid"], a["comm"]) for a in audit],
                             [("start", "OK", 0, "httptracectl"),
                              ("attach", "OK", 0, "httptracectl"),
                              ("stop", "OK", 0, "httptracectl"),
                              ("start", "PERMISSION_DENIED", 0, "httptracectl")])
            self.assertEqual(audit[0]["request"]["filter"]["pod_namespaces"], ["prod"])
        finally:
            agent.stop()

    def test_a_container_restarted_in_its_pod_is_followed(self):
        ctl = self.capture("restart", "--namespace", "prod")
        self.request(self.web)
        old = dict(self.web)
        old_namespace = mount_namespace_of(old["container"])
        changes = self.agent.stderr().count("pods changed")
        names = self.agent_counter("container.names_resolved")
        # The kubelet's restart: the old container stopped and removed, attempt 1 created.
        self.driver("stop", self.web["container"])
        self.driver("remove", self.web["container"])
        self.web["attempt"] += 1
        self.start_container(self.web)
        self.assertNotEqual(self.web["container"], old["container"])
        # The agent looks the pods' mount namespaces up again every 2 s: wait until its kernel
        # filter holds the pod's namespaces as they are now (the sandbox's and the new
        # container's). The kernel often gives the new container the inode number the old one's
        # mount namespace had (seen here): then the filter may hold it already, unless a look-up
        # fell between the two containers and took it out for a while.
        expected = len(pod_mount_namespaces(self.web["uid"]))
        renamed = mount_namespace_of(self.web["container"]) != old_namespace

        def filter_follows():
            log = self.agent.stderr()
            sizes = re.findall(r"pod filter(?::| has) (\d+) mount namespace", log)
            return (sizes and int(sizes[-1]) == expected and
                    (not renamed or log.count("pods changed") > changes))
        wait_until(filter_follows, timeout=15, what="the agent to see the pod's new container")
        # At once: its pod is known from the pod listing (by the pod UID of its cgroup path),
        # whether or not containerd has been asked about the new container yet.
        self.request(self.web)
        # Once the agent has asked containerd about it, the container's name too.
        wait_until(lambda: self.agent_counter("container.names_resolved") > names, timeout=15,
                   what="the agent to learn the new container's name")
        self.request(self.web)
        exchanges = self.finish(ctl, "restart")
        self.assertEqual(len(exchanges), 3, exchanges)
        self.assert_from(exchanges[0], old)
        for x in exchanges[1:]:
            self.assertEqual(x["container"]["id"], self.web["container"], x)
            self.assertEqual((x["container"].get("pod"), x["container"].get("namespace")),
                             ("shop-7d9f", "prod"), x)
        self.assert_from(exchanges[2], self.web)


if __name__ == "__main__":
    unittest.main(verbosity=2)
