"""A server that forks a child per connection, in a podman container: busybox httpd (issue 25).

The child that serves a connection exits right after answering, usually before the agent looks
at /proc/<pid>; attributing by that pid made its exchanges "a process on the host", and a
`--container NAME` capture then recorded 0 of 3 requests with `0 lost`. The probes now read the
process's mount namespace at its syscall, and the agent maps it to the container whose other
processes it saw there. Checked: every request recorded, server side, with the container's id and
name, from a pid other than httpd's own (a forked child), and nothing lost.

The image is busybox alone (Debian's static /usr/bin/busybox, `podman import`ed), so no registry
or base image is needed. The container runs with --network host; traffic is on 127.0.0.1 only.
Run under `flock /tmp/httptrace-containers.lock` (podman's storage is shared).
"""

import os
import shutil
import signal
import subprocess
import sys
import tarfile
import unittest
import uuid

import harness

RUNFILES = os.path.join(os.environ.get("TEST_SRCDIR", "."), os.environ.get("TEST_WORKSPACE", ""))
DEPLOY = os.path.join(RUNFILES, "deploy", "container")
IMAGE = "localhost/httptrace-busybox:e2e"
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(DEPLOY, "containers.conf"))
BUSYBOX = "/usr/bin/busybox"


def podman(*args, check=True, timeout=120):
    result = subprocess.run(["/usr/bin/podman"] + list(args), env=ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError("podman %s failed (%d):\n%s" % (" ".join(args), result.returncode,
                                                            result.stdout))
    return result


def unavailable_reason():
    if not os.access("/usr/bin/podman", os.X_OK):
        return "podman is not installed (scripts/setup.sh installs it)"
    if not os.access(BUSYBOX, os.X_OK):
        return "busybox is not installed (scripts/setup.sh installs busybox-static)"
    reason = harness.bpf_unavailable_reason()
    if reason:
        return reason
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if info.returncode != 0:
        return "podman cannot run here: " + info.stdout.strip()
    return None


class ForkPerConnectionContainerTest(harness.E2ETestCase):

    def setUp(self):
        harness.skip_unless_capable(unavailable_reason())
        super().setUp()
        self.name = "httptrace-e2e-fork-" + uuid.uuid4().hex[:8]

    def tearDown(self):
        podman("rm", "-f", "-t", "0", self.name, check=False)
        super().tearDown()

    def build_image(self):
        root = self.path("rootfs")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "www"))
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
        with open(os.path.join(root, "www", "index.html"), "w") as f:
            f.write("hello from busybox httpd\n")
        archive = self.path("rootfs.tar")
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        podman("import", archive, IMAGE)

    def test_every_request_recorded_with_the_containers_id_and_name(self):
        self.build_image()
        port = harness.free_port()
        podman("run", "-d", "--name", self.name, "--network", "host", IMAGE, "/bin/busybox",
               "httpd", "-f", "-p", "127.0.0.1:%d" % port, "-h", "/www")
        container_id = podman("inspect", "--format", "{{.Id}}", self.name).stdout.strip()
        httpd_pid = int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout)
        harness.wait_until(lambda: harness.http("GET", "http://127.0.0.1:%d/" % port)[0] == 200,
                           what="busybox httpd answering")

        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--container", self.name, "--format", "jsonl", "-o", out)
        targets = ["/index.html?n=%d" % i for i in range(3)]
        for t in targets:
            # One connection each (urllib closes it): busybox forks a child for each.
            status, body = harness.http("GET", "http://127.0.0.1:%d%s" % (port, t))
            self.assertEqual((status, body), (200, b"hello from busybox httpd\n"))
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        self.assertRegex(ctl.stderr(), r"\b0 lost\b")
        exchanges = [x for x in harness.read_jsonl(out) if "request" in x]
        got = sorted(x["request"]["target"] for x in exchanges)
        self.assertEqual(got, sorted(targets), [x.get("container") for x in exchanges])
        for x in exchanges:
            self.assertEqual(x["role"], "server")
            self.assertEqual(x["container"]["id"], container_id)
            self.assertEqual(x["container"]["name"], self.name)
            self.assertNotEqual(x["pid"], httpd_pid, "served by httpd itself, not a child")
            self.assertTrue(x["complete"], x["notes"])
        code, status, err = self.ctl("status")
        self.assertEqual(code, 0, err)
        self.assertNotIn("captures will fail", self.agent.stderr())


if __name__ == "__main__":
    unittest.main()
