"""End-to-end: pod metadata from a CRI runtime and the --namespace filter in the kernel.

A real gRPC CRI server (//agent/cri:fake_cri_runtime, answering ContainerStatus/ListPodSandbox for
one container) stands in for containerd. The "pod" is a demo app in a kubepods-style cgroup
(/kubepods/burstable/pod<UID>/<ID>, made by the test) and in a mount namespace of its own (unshare
-m), as a container's process would be. A second demo app runs on the host. The agent runs with
--cri-endpoint; a capture with --namespace must record the pod app's exchanges, named by pod and
namespace, and not the host app's, with the pod's mount namespace in the kernel filter.
"""

import os
import shutil
import signal
import sys
import unittest
import uuid

import harness
from harness import Process, free_port, http, read_jsonl, wait_until

FAKE_CRI_BIN = os.environ.get("HTTPTRACE_FAKE_CRI_BIN", "bazel-bin/agent/cri/fake_cri_runtime")


def cgroup_root():
    """A cgroup hierarchy where the test may make a kubepods path, or None."""
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(root, "cgroup.procs")) and os.access(root, os.W_OK):
            return root
    return None


class PodMetadataAndFilter(unittest.TestCase):
    def setUp(self):
        harness.skip_unless_capable(harness.bpf_unavailable_reason())
        harness.skip_unless_capable(
            "needs unshare (util-linux)" if shutil.which("unshare") is None else None)
        root = cgroup_root()
        harness.skip_unless_capable("no writable cgroup hierarchy" if root is None else None)
        self.workdir = harness.scratch_dir("httptrace-pod", sockets=True)
        self.processes = []
        self.pod_uid = str(uuid.uuid4())
        self.container_id = uuid.uuid4().hex + uuid.uuid4().hex
        self.cgroup_dirs = [os.path.join(root, "kubepods"),
                            os.path.join(root, "kubepods", "burstable"),
                            os.path.join(root, "kubepods", "burstable", "pod" + self.pod_uid),
                            os.path.join(root, "kubepods", "burstable", "pod" + self.pod_uid,
                                         self.container_id)]
        os.makedirs(self.cgroup_dirs[-1])

    def tearDown(self):
        for p in reversed(self.processes):
            p.stop()
        for d in reversed(self.cgroup_dirs):
            try:
                os.rmdir(d)
            except OSError:
                pass  # kubepods may be shared with a concurrent run; the leaf is what matters
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            for p in self.processes:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr()[-3000:]))
        shutil.rmtree(self.workdir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.workdir, name)

    def start(self, argv, name):
        p = Process(argv, self.workdir, name)
        self.processes.append(p)
        return p

    def test_pod_names_from_cri_and_namespace_filter_in_the_kernel(self):
        cri = self.start([FAKE_CRI_BIN, self.path("cri.sock"),
                          "%s:web:shop-7d9f:prod:%s" % (self.container_id, self.pod_uid)], "cri")
        wait_until(lambda: "serving" in cri.stderr(), what="the fake CRI runtime")

        pod_port, host_port = free_port(), free_port()
        procs = os.path.join(self.cgroup_dirs[-1], "cgroup.procs")
        pod_app = self.start(["sh", "-c", 'echo $$ > "$0" && exec unshare -m "$1" "$2" --host '
                              '127.0.0.1 --port "$3"', procs, sys.executable, harness.DEMO_APP,
                              str(pod_port)], "pod-app")
        host_app = self.start([sys.executable, harness.DEMO_APP, "--host", "127.0.0.1",
                               "--port", str(host_port)], "host-app")
        for app in (pod_app, host_app):
            wait_until(lambda: "listening" in app.stderr(), what="a demo app")

        socket = self.path("agent.sock")
        agent = self.start([harness.AGENT_BIN, "--listen", "unix://" + socket,
                            "--cri-endpoint", "unix://" + self.path("cri.sock"),
                            "--log-level", "debug"], "agent")
        wait_until(lambda: os.path.exists(socket) or agent.proc.poll() is not None,
                   what="the agent's socket")
        self.assertIn("containerd 1.7.2 (CRI v1)", agent.stderr())

        ctl = self.start([harness.CTL_BIN, "--agent", "unix://" + socket, "start",
                          "--namespace", "prod", "--role", "server", "--format", "jsonl",
                          "-o", self.path("trace.jsonl")], "ctl")
        wait_until(lambda: "started session" in ctl.stderr() or ctl.proc.poll() is not None,
                   timeout=60, what="started session")
        self.assertIn("pod filter: 1 mount namespace(s) in the kernel filter", agent.stderr())

        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % pod_port)[0], 200)
        self.assertEqual(http("GET", "http://127.0.0.1:%d/users" % host_port)[0], 200)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(), 0, ctl.stderr())

        exchanges = [e for e in read_jsonl(self.path("trace.jsonl")) if "request" in e]
        self.assertEqual([e["local"] for e in exchanges], ["127.0.0.1:%d" % pod_port])
        container = exchanges[0]["container"]
        self.assertEqual(container["id"], self.container_id)
        self.assertEqual((container["name"], container["pod"], container["namespace"]),
                         ("web", "shop-7d9f", "prod"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
