"""h2c upgrade (RFC 7540 3.2) with real peers on loopback (issue 23): an HTTP/1.1 request with
`Upgrade: h2c` answered `101 Switching Protocols`, then HTTP/2 on the same connection. The
probes classify such a connection HTTP/1; the agent hands it to its HTTP/2 engine at the 101
(agent/protocols/switching_engine.h). Checked on both sides, the client's record and the
server's, against what the client itself saw: the upgrade request is stream 1, one exchange
with the HTTP/1.1 request and the HTTP/2 response, and a note saying so.

Server: apache2 with mod_http2 (`Protocols h2c http/1.1`, `H2Upgrade on`); nghttpd does not
answer an upgrade (it speaks HTTP/2 at once). Clients: nghttp -u (its HAR says status, size and
stream) and curl --http2 on an http:// URL (curl's h2c upgrade).

Each session is stopped with SIGINT so its flush barrier runs before anything is asserted.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import socket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402  (test/e2e/harness.py: the agent, ctl and process helpers)

UPGRADED_NOTE = "upgraded to HTTP/2 (h2c): the request was HTTP/1.1"


def which(name):
    """Bazel's test PATH lacks /usr/sbin (apache2 lives there)."""
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1])


def header(headers, name):
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


class H2cUpgradeTest(harness.E2ETestCase):

    def setUp(self):
        super().setUp()
        # apache's workers run as www-data: a world-readable directory outside the test's tree.
        self.www = tempfile.mkdtemp(prefix="httptrace-h2c.", dir="/tmp")
        os.chmod(self.www, 0o755)
        self.addCleanup(shutil.rmtree, self.www, True)
        self.sizes = {}
        for name, data in {"page.html": b"<html>" + b"<p>upgraded</p>\n" * 200 + b"</html>\n",
                           "small.json": b'{"over": "h2c"}\n'}.items():
            with open(os.path.join(self.www, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(self.www, name), 0o644)
            self.sizes["/" + name] = len(data)
        self.next_id = 0

    def start_apache_h2c(self, port):
        run = self.path("apache-run")
        os.mkdir(run)
        conf = self.path("apache2.conf")
        mods = "/usr/lib/apache2/modules"
        self.assertTrue(os.path.exists(mods + "/mod_http2.so"), "apache2's mod_http2 is missing")
        with open(conf, "w") as f:
            f.write("""
ServerRoot %(run)s
ServerName localhost
Listen 127.0.0.1:%(port)d
PidFile %(run)s/apache.pid
DefaultRuntimeDir %(run)s
Mutex file:%(run)s default
ErrorLog %(w)s/apache.err
LoadModule mpm_event_module %(mods)s/mod_mpm_event.so
LoadModule authz_core_module %(mods)s/mod_authz_core.so
LoadModule mime_module %(mods)s/mod_mime.so
LoadModule http2_module %(mods)s/mod_http2.so
TypesConfig /etc/mime.types
User www-data
Group www-data
Protocols h2c http/1.1
H2Upgrade on
DocumentRoot %(www)s
<Directory %(www)s>
  Require all granted
</Directory>
""" % dict(run=run, port=port, w=self.workdir, mods=mods, www=self.www))
        apache = which("apache2")
        self.assertIsNotNone(apache, "apache2 is not installed (scripts/setup.sh)")
        proc = harness.Process([apache, "-f", conf, "-DFOREGROUND"], self.workdir, "apache2")
        self.processes.append(proc)

        def up():
            self.assertIsNone(proc.proc.poll(), "apache2 exited: %s" % proc.stderr())
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        harness.wait_until(up, what="apache2 listening on %d" % port)

    def target(self, path):
        self.next_id += 1
        return "%s?id=%d" % (path, self.next_id)

    def run_client(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        out, err = proc.communicate(timeout=60 * harness.TIMEOUT_SCALE)
        self.assertEqual(proc.returncode, 0, "%s failed: %s %s" % (argv, out[-2000:],
                                                                   err[-2000:]))
        return proc.pid, out.decode(errors="replace")

    def nghttp_upgrade(self, port, path):
        """nghttp -u: the request goes as HTTP/1.1 with Upgrade: h2c; its HAR says what came."""
        t = self.target(path)
        har = self.path("nghttp.%d.har" % self.next_id)
        pid, _ = self.run_client([which("nghttp"), "-u", "-n", "--har=" + har,
                                  "http://127.0.0.1:%d%s" % (port, t)])
        with open(har) as f:
            entries = json.load(f)["log"]["entries"]
        self.assertEqual(len(entries), 1, entries)
        e = entries[0]
        self.assertEqual(e["response"]["httpVersion"], "HTTP/2.0", "not upgraded: %s" % e)
        return dict(client="nghttp", pid=pid, target=t, status=e["response"]["status"],
                    body=e["response"]["content"]["size"], stream_id=int(e["connection"]),
                    local_port=None)

    def curl_upgrade(self, port, path):
        """curl --http2 on http://: HTTP/1.1 with Upgrade: h2c, HTTP/2 after the 101."""
        t = self.target(path)
        body = self.path("curl.%d" % self.next_id)
        pid, out = self.run_client([which("curl"), "-s", "-g", "--max-time", "30", "--http2",
                                    "-o", body, "-w", "%{http_code} %{local_port} %{http_version}",
                                    "http://127.0.0.1:%d%s" % (port, t)])
        code, local, version = out.split()
        self.assertEqual(version, "2", "curl was not upgraded: " + out)
        return dict(client="curl", pid=pid, target=t, status=int(code),
                    body=os.path.getsize(body), stream_id=1, local_port=int(local))

    def check(self, exchanges, port, want):
        problems = []
        where = "%s GET %s" % (want["client"], want["target"])
        sides = {
            "client": [x for x in exchanges if x["role"] == "client" and x["pid"] == want["pid"]
                       and x["request"]["target"] == want["target"]],
            "server": [x for x in exchanges if x["role"] == "server" and x["comm"] == "apache2"
                       and port_of(x["local"]) == port
                       and x["request"]["target"] == want["target"]],
        }
        for side, got in sides.items():
            if len(got) != 1:
                problems.append("%s: %s side has %d exchanges, want 1: %s" % (
                    where, side, len(got), json.dumps(got)[:1500]))
                continue
            x = got[0]
            req, resp = x["request"], x.get("response")
            if req["method"] != "GET" or req["version"] != "HTTP/1.1":
                problems.append("%s (%s): request %s %s" % (where, side, req["method"],
                                                             req["version"]))
            if header(req["headers"], "upgrade") != "h2c":
                problems.append("%s (%s): no Upgrade: h2c in %s" % (where, side, req["headers"]))
            if x.get("stream_id") != want["stream_id"]:
                problems.append("%s (%s): stream %s, client used %d" % (
                    where, side, x.get("stream_id"), want["stream_id"]))
            if want["local_port"] is not None:
                mine = x["local"] if side == "client" else x["remote"]
                if port_of(mine) != want["local_port"]:
                    problems.append("%s (%s): client port %s, client saw %d" % (
                        where, side, mine, want["local_port"]))
            if resp is None:
                problems.append("%s (%s): no response: %s" % (where, side, x["notes"]))
                continue
            if resp["version"] != "HTTP/2" or resp["status"] != want["status"] or \
                    resp["body_size"] != want["body"]:
                problems.append("%s (%s): response %s %s body %s, client saw HTTP/2 %d %d" % (
                    where, side, resp["version"], resp["status"], resp["body_size"],
                    want["status"], want["body"]))
            if not x["complete"] or x["notes"] != [UPGRADED_NOTE]:
                problems.append("%s (%s): complete %s notes %s" % (where, side, x["complete"],
                                                                   x["notes"]))
        if len(sides["client"]) == 1 and len(sides["server"]) == 1:
            c, s = sides["client"][0], sides["server"][0]
            if c["local"] != s["remote"] or c["remote"] != s["local"]:
                problems.append("%s: addresses differ: %s->%s vs %s<-%s" % (
                    where, c["local"], c["remote"], s["local"], s["remote"]))
        return problems

    def test_h2c_upgrade_nghttp_and_curl_against_apache(self):
        """nghttp -u and curl --http2 against apache2 (mod_http2, h2c upgrade): a page, a small
        JSON file and a 404, each one exchange on stream 1 on both sides, the HTTP/1.1 request
        with the HTTP/2 response, complete, no loss; http.upgrades_h2c counts every connection
        end (client and server: both traced on loopback)."""
        for tool in ("nghttp", "curl"):
            self.assertIsNotNone(which(tool), "%s is not installed (scripts/setup.sh)" % tool)
        port = harness.free_port()
        self.start_apache_h2c(port)
        out = self.path("trace.jsonl")
        ctl = self.start_ctl("start", "--format", "jsonl", "-o", out, "--port", str(port))

        wants = [self.nghttp_upgrade(port, "/page.html"),
                 self.nghttp_upgrade(port, "/nope.txt"),
                 self.curl_upgrade(port, "/small.json"),
                 self.curl_upgrade(port, "/page.html")]
        self.assertEqual([w["status"] for w in wants], [200, 404, 200, 200])
        self.assertEqual(wants[0]["body"], self.sizes["/page.html"])
        self.assertEqual(wants[2]["body"], self.sizes["/small.json"])

        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        events = harness.read_jsonl(out)

        losses = [e for e in events if "loss" in e]
        self.assertEqual(losses, [], "loss events: %s" % json.dumps(losses)[:2000])
        exchanges = [x for x in events if "request" in x]
        problems = []
        for want in wants:
            problems += self.check(exchanges, port, want)
        self.assertEqual(problems, [], "\n".join(problems))
        # Nothing else: no HTTP/1 exchange of the 101 left behind, no other stream.
        self.assertEqual(len(exchanges), 2 * len(wants), json.dumps(exchanges)[:3000])

        # The agent's counters are published from its worker now and then: wait for them.
        seen = {}

        def counted():
            code, status, err = self.ctl("status", "--counters")
            self.assertEqual(code, 0, err)
            seen["status"] = status
            counters = {}
            for line in status.splitlines():
                parts = line.split()
                if len(parts) == 2 and "." in parts[0] and parts[1].isdigit():
                    counters[parts[0]] = int(parts[1])
            seen["counters"] = counters
            return counters.get("http.upgrades_h2c", 0) >= 2 * len(wants)
        try:
            harness.wait_until(counted, timeout=20, what="http.upgrades_h2c")
        except AssertionError:  # the assertions below say what was seen
            pass
        counters = seen["counters"]
        self.assertEqual(counters.get("http.upgrades_h2c"), 2 * len(wants), seen["status"])
        self.assertEqual(counters.get("http.exchanges"), 0, seen["status"])
        self.assertEqual(counters.get("http2.exchanges"), 2 * len(wants), seen["status"])


if __name__ == "__main__":
    unittest.main()
