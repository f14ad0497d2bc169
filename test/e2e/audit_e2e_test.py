"""End-to-end: the audit trail and the access policy on a real agent, over its unix socket and
over mutual TLS.

One agent listens on a unix socket (root:nogroup 0660) and on a loopback TCP port with mTLS, with
an --audit-log file and a --policy file this test writes:
  admins       unix user root: everything
  viewers      unix user nobody (65534): status and list only
  team-a       client certificate with SAN team-a.example.com: capture, no bodies, no HTTPS
  cert-viewer  client certificate with subject CN=viewer: status and list only
Shown: one audit line per start, attach, stop and export with the caller's uid, gid, pid and comm
(unix) or certificate subject and SANs (mTLS); refused calls logged and answered
PERMISSION_DENIED naming the rule; `status --audit` lists the same records; a read-only identity
lists but cannot capture; a team whose rule denies bodies and HTTPS gets neither (while an admin
session on the same traffic does), and its session's notes say so. Certificates are made with
the openssl CLI; the HTTPS server is python's ssl (OpenSSL, read by the uprobes).
"""

import http.client as http_client
import json
import os
import shutil
import ssl
import subprocess
import sys
import unittest

import harness
from harness import Process, free_port, http, read_jsonl, wait_until

NOBODY = 65534


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_certificates(directory):
    """A CA; a server certificate for 127.0.0.1; client certificates for team-a (subject
    O=example, CN=team-a; SANs a DNS name and a SPIFFE URI) and for a viewer (CN=viewer)."""
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(directory, "team-a.ext"), "w") as f:
        f.write("subjectAltName=DNS:team-a.example.com,URI:spiffe://example.org/team-a\n"
                "extendedKeyUsage=clientAuth\n")
    with open(os.path.join(directory, "viewer.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=httptrace test ca",
            cwd=directory)
    for name, subject in (("server", "/CN=server"), ("team-a", "/O=example/CN=team-a"),
                          ("viewer", "/CN=viewer")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject, cwd=directory)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "1", "-extfile",
                name + ".ext", cwd=directory)


POLICY = {"rules": [
    {"name": "admins", "callers": {"unix_users": ["root"]},
     "verbs": ["status", "list", "capture", "export"]},
    {"name": "viewers", "callers": {"unix_users": [NOBODY]}, "verbs": ["status", "list"]},
    {"name": "team-a", "callers": {"cert_sans": ["team-a.example.com"]},
     "verbs": ["status", "list", "capture"], "bodies": False, "tls_plaintext": False},
    {"name": "cert-viewer", "callers": {"cert_subjects": ["CN=viewer"]},
     "verbs": ["status", "list"]},
]}

# A python ssl server answering every GET and POST with a small JSON body (OpenSSL: uprobes).
HTTPS_SERVER = r"""
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        body = b'{"secret":"https-body"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = _answer
    def log_message(self, *a): pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("listening", flush=True, file=sys.stderr)
server.serve_forever()
"""


class AuditAndPolicy(unittest.TestCase):
    def setUp(self):
        harness.skip_unless_capable(harness.bpf_unavailable_reason())
        self.workdir = harness.scratch_dir("httptrace-audit", sockets=True)
        os.chmod(self.workdir, 0o755)  # nobody reaches the socket's directory (group nogroup)
        self.processes = []
        make_certificates(self.workdir)
        with open(self.path("policy.json"), "w") as f:
            json.dump(POLICY, f)
        self.socket = self.path("run/agent.sock")
        self.tcp_port = free_port()
        agent = Process([harness.AGENT_BIN, "--listen", "unix://" + self.socket,
                         "--listen", "tcp://127.0.0.1:%d" % self.tcp_port,
                         "--tls-cert", self.path("server.crt"),
                         "--tls-key", self.path("server.key"),
                         "--tls-client-ca", self.path("ca.crt"),
                         "--socket-group", "nogroup", "--policy", self.path("policy.json"),
                         "--audit-log", self.path("audit.jsonl")], self.workdir, "agent")
        self.processes.append(agent)
        wait_until(lambda: "serving on" in agent.stderr() or agent.proc.poll() is not None,
                   timeout=60, what="the agent serving")
        self.assertIsNone(agent.proc.poll(), "agent exited: " + agent.stderr())
        self.agent = agent
        # The build's ctl may sit under /root, which nobody cannot enter.
        self.ctl_bin = self.path("httptracectl")
        shutil.copy(harness.CTL_BIN, self.ctl_bin)
        os.chmod(self.ctl_bin, 0o755)

    def tearDown(self):
        for p in reversed(self.processes):
            p.stop()
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            for p in self.processes:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr()[-3000:]))

    def path(self, name):
        return os.path.join(self.workdir, name)

    def unix_ctl(self, *args, user=None):
        """Runs the ctl on the unix socket (as `user`, a uid, when given); returns
        (exit code, stdout, stderr, pid)."""
        argv = [self.ctl_bin, "--agent", "unix://" + self.socket] + list(args)
        if user is not None:
            argv = ["setpriv", "--reuid", str(user), "--regid", str(user), "--init-groups"] + argv
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err, proc.pid  # setpriv execs: the pid is the ctl's

    def tls_ctl(self, cert, *args):
        argv = [self.ctl_bin, "--agent", "127.0.0.1:%d" % self.tcp_port,
                "--tls-ca", self.path("ca.crt"), "--tls-cert", self.path(cert + ".crt"),
                "--tls-key", self.path(cert + ".key")] + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout, proc.stderr

    def audit_lines(self):
        with open(self.path("audit.jsonl")) as f:
            return [json.loads(line)["audit"] for line in f if line.strip()]

    def start_app(self):
        port = free_port()
        app = Process([sys.executable, harness.DEMO_APP, "--host", "127.0.0.1",
                       "--port", str(port)], self.workdir, "app")
        self.processes.append(app)
        wait_until(lambda: "listening" in app.stderr(), what="the demo app")
        return port

    def start_https_server(self):
        port = free_port()
        server = Process([sys.executable, "-c", HTTPS_SERVER, str(port), self.path("server.crt"),
                          self.path("server.key")], self.workdir, "https")
        self.processes.append(server)
        wait_until(lambda: "listening" in server.stderr(), what="the https server")
        return port

    def https_post(self, port, path):
        context = ssl.create_default_context(cafile=self.path("ca.crt"))
        conn = http_client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        conn.request("POST", path, body=b'{"password":"hunter2"}',
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        response.read()
        conn.close()

    def test_each_verb_over_the_unix_socket_is_audited_with_uid_pid_and_comm(self):
        app = self.start_app()
        rc, out, err, start_pid = self.unix_ctl("start", "--port", str(app), "--detach")
        self.assertEqual(rc, 0, err)
        session = out.strip()
        http("GET", "http://127.0.0.1:%d/users" % app)
        rc, _, err, stop_pid = self.unix_ctl("stop", session)
        self.assertEqual(rc, 0, err)
        rc, out, err, attach_pid = self.unix_ctl("attach", session, "--format", "jsonl")
        self.assertEqual(rc, 0, err)
        self.assertTrue(any('"/users"' in line for line in out.splitlines()), out)
        # An export session to a collector nobody runs: it starts (delivery is retried).
        rc, out, err, export_pid = self.unix_ctl(
            "start", "--port", str(app), "--export", "otlp://127.0.0.1:%d" % free_port(),
            "--export-header", "authorization=Bearer SECRET-TOKEN", "--detach")
        self.assertEqual(rc, 0, err)
        export_session = out.strip()
        rc, _, err, _ = self.unix_ctl("stop", export_session)
        self.assertEqual(rc, 0, err)

        # nobody may list, not capture.
        rc, out, err, _ = self.unix_ctl("list", user=NOBODY)
        self.assertEqual(rc, 0, err)
        self.assertIn(session, out)
        rc, _, err, refused_pid = self.unix_ctl("start", "--port", str(app), "--detach",
                                                user=NOBODY)
        self.assertNotEqual(rc, 0)
        self.assertIn('policy rule "viewers" does not allow capture (it allows status, list)',
                      err)

        lines = self.audit_lines()
        by_pid = {(a["pid"], a["verb"]): a for a in lines if a["transport"] == "unix"}
        for pid, verb, sid in ((start_pid, "start", session), (attach_pid, "attach", session),
                               (stop_pid, "stop", session), (export_pid, "export",
                                                             export_session)):
            record = by_pid.get((pid, verb))
            self.assertIsNotNone(record, "no %s by pid %d in %s" % (verb, pid, lines))
            self.assertEqual((record["uid"], record["gid"], record["comm"], record["code"],
                              record["session"], record["rule"]),
                             (0, 0, "httptracectl", "OK", sid, "admins"))
            self.assertEqual(record["request"]["filter"]["ports"], [app])
        export = by_pid[(export_pid, "export")]
        self.assertEqual(export["request"]["export"]["header_names"], ["authorization"])
        self.assertNotIn("SECRET-TOKEN", open(self.path("audit.jsonl")).read())
        refused = by_pid.get((refused_pid, "start"))
        self.assertIsNotNone(refused, lines)
        self.assertEqual((refused["uid"], refused["gid"], refused["comm"], refused["code"],
                          refused["rule"], refused["session"]),
                         (NOBODY, NOBODY, "httptracectl", "PERMISSION_DENIED", "viewers", ""))
        self.assertIn("does not allow capture", refused["message"])
        # A successful list is not a session call: not recorded.
        self.assertFalse([a for a in lines if a["verb"] == "list"], lines)

        # The same records, from the agent's ring.
        rc, out, err, _ = self.unix_ctl("status", "--audit")
        self.assertEqual(rc, 0, err)
        self.assertIn("access policy: %s (4 rule(s): admins, viewers, team-a, cert-viewer)"
                      % self.path("policy.json"), out)
        audit = out[out.index("audit:"):]
        self.assertIn("start  OK                uid 0 gid 0 pid %d (httptracectl)  session %s"
                      "  rule admins" % (start_pid, session), audit)
        self.assertIn("start  PERMISSION_DENIED uid %d gid %d pid %d (httptracectl)  rule viewers"
                      % (NOBODY, NOBODY, refused_pid), audit)

    def test_mtls_callers_are_known_by_subject_and_sans_and_scoped_by_their_rule(self):
        app = self.start_app()
        https_port = self.start_https_server()
        # An admin session on the same HTTPS traffic: proof that it is capturable here.
        rc, out, err, _ = self.unix_ctl("start", "--port", str(https_port), "--detach")
        self.assertEqual(rc, 0, err)
        admin_session = out.strip()
        rc, out, err = self.tls_ctl("team-a", "start", "--port", str(app), "--port",
                                    str(https_port), "--body-limit", "4096", "--detach")
        self.assertEqual(rc, 0, err)
        team_session = out.strip()
        status, _ = http("POST", "http://127.0.0.1:%d/user" % app, body=b'{"name":"alice"}',
                         headers={"Content-Type": "application/json"})
        self.assertEqual(status, 201)
        self.https_post(https_port, "/login")
        for sid in (admin_session, team_session):
            rc, _, err, _ = self.unix_ctl("stop", sid)
            self.assertEqual(rc, 0, err)
        rc, out, err = self.tls_ctl("team-a", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn('note: policy rule "team-a": bodies not captured (bodies: false); their '
                      'sizes are', out)
        self.assertIn('note: policy rule "team-a": HTTPS not captured (tls_plaintext: false); '
                      'plaintext HTTP only', out)

        def exchanges(session, cert=None):
            if cert:
                rc, out, err = self.tls_ctl(cert, "attach", session, "--format", "jsonl")
            else:
                rc, out, err, _ = self.unix_ctl("attach", session, "--format", "jsonl")
            self.assertEqual(rc, 0, err)
            records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            return [r for r in records if "request" in r]  # exchanges, not the session's end

        admin = exchanges(admin_session)
        self.assertTrue(any(e["request"]["target"] == "/login" for e in admin), admin)
        team = exchanges(team_session, "team-a")
        targets = [e["request"]["target"] for e in team]
        self.assertIn("/user", targets)
        self.assertNotIn("/login", targets)  # HTTPS denied: absent
        for e in team:
            self.assertEqual(e["request"]["body"], "", e)  # bodies denied: no bytes...
        post = [e for e in team if e["request"]["target"] == "/user"][0]
        self.assertEqual(post["request"]["body_size"], len(b'{"name":"alice"}'))  # ...sizes kept
        self.assertGreater(post["response"]["body_size"], 0)
        self.assertNotIn("alice", json.dumps(team))

        # The viewer's certificate may list, not capture; the admin's session is beyond team-a.
        rc, _, err = self.tls_ctl("viewer", "list")
        self.assertEqual(rc, 0, err)
        rc, _, err = self.tls_ctl("viewer", "start", "--port", str(app), "--detach")
        self.assertNotEqual(rc, 0)
        self.assertIn('policy rule "cert-viewer" does not allow capture', err)
        rc, _, err = self.tls_ctl("team-a", "attach", admin_session)
        self.assertNotEqual(rc, 0)
        self.assertIn('policy rule "team-a" does not cover session %s' % admin_session, err)

        tls_lines = [a for a in self.audit_lines() if a["transport"] == "mtls"]
        team_start = [a for a in tls_lines if a["verb"] == "start" and a["code"] == "OK"]
        self.assertEqual(len(team_start), 1, tls_lines)
        self.assertEqual(team_start[0]["subject"], "CN=team-a,O=example")
        self.assertEqual(sorted(team_start[0]["sans"]),
                         ["spiffe://example.org/team-a", "team-a.example.com"])
        self.assertEqual(team_start[0]["rule"], "team-a")
        self.assertEqual(team_start[0]["session"], team_session)
        self.assertEqual(team_start[0]["request"]["options"]["body_limit_bytes"], 0)
        self.assertEqual(team_start[0]["request"]["filter"]["tls"], "TLS_PLAIN")
        self.assertIn("bodies not captured", team_start[0]["message"])
        attaches = [a for a in tls_lines if a["verb"] == "attach"]
        self.assertEqual([(a["session"], a["code"]) for a in attaches],
                         [(team_session, "OK"), (admin_session, "PERMISSION_DENIED")])
        viewer = [a for a in tls_lines if a["subject"] == "CN=viewer"]
        self.assertEqual([(a["verb"], a["code"], a["rule"]) for a in viewer],
                         [("start", "PERMISSION_DENIED", "cert-viewer")])
        self.assertNotIn("uid", viewer[0])

    def test_a_bad_policy_file_stops_the_agent_at_start_with_a_clear_error(self):
        with open(self.path("bad.json"), "w") as f:
            f.write('{"rules": [{"name": "x", "callers": {"any": true}, "verbs": ["delete"]}]}')
        proc = subprocess.run([harness.AGENT_BIN, "--listen", "unix://" + self.path("b.sock"),
                               "--policy", self.path("bad.json")], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn('--policy %s: rule "x".verbs: unknown verb "delete"' % self.path("bad.json"),
                      proc.stderr)


if __name__ == "__main__":
    unittest.main()
