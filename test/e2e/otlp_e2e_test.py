"""Export sessions end to end: the real agent exports what it captures over OTLP/gRPC to the test
receiver (test/otlp/otlp_receiver, itself proven against the official OpenTelemetry JS exporter
by //test/otlp:otlp_receiver_test), while curl and a python client drive the demo app.

- Each exchange arrives as one span with the right kind, times, attributes and resource; the
  request with a W3C traceparent has that trace id and parent; the histograms count every
  request.
- The receiver stopped for a while, then restarted on the same port: spans are retried, the
  export queue stays bounded, what could not be sent is counted as export_failed, and another
  session capturing the same traffic is unaffected (its exchanges exact).
- Export over mutual TLS with an auth header, started by `httptracectl start --export`; a
  session without a client certificate delivers nothing; header values never listed.
- gRPC calls (python grpcio) carry the RPC conventions.
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

import harness
from harness import E2ETestCase, http, read_jsonl, wait_until
from multi_agent_e2e_test import make_certificates

sys.path.insert(0, os.path.join(harness.RUNFILES, "test", "otlp"))
import otlp_testing  # noqa: E402

RECEIVER_BIN = os.path.join(harness.RUNFILES, "test", "otlp", "otlp_receiver")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
# Span times come from the kernel's clock; the test's own clock brackets each request.
CLOCK_SLACK_NS = 50_000_000


# A gRPC server without generated code: raw bytes in and out, one method that answers and one
# that fails with UNAVAILABLE (a server-side error by the RPC conventions).
GRPC_SERVER = r"""
import sys, grpc
from concurrent import futures
def say(request, context):
    return b"hello " + request
def fail(request, context):
    context.abort(grpc.StatusCode.UNAVAILABLE, "backend down")
handlers = {"Say": grpc.unary_unary_rpc_method_handler(say),
            "Fail": grpc.unary_unary_rpc_method_handler(fail)}
server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("demo.Echo", handlers),))
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
sys.stderr.write("listening\n")
sys.stderr.flush()
server.wait_for_termination()
"""


def curl(*args):
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10"] + list(args),
                   check=True, stdin=subprocess.DEVNULL)


class OtlpExport(E2ETestCase):
    def setUp(self):
        harness.skip_unless_capable(harness.bpf_unavailable_reason())
        self.workdir = harness.scratch_dir("httptrace-otlp", sockets=True)
        self.socket = os.path.join(self.workdir, "agent.sock")
        self.processes = []
        self.receiver = otlp_testing.Receiver(RECEIVER_BIN, self.workdir)
        self.addCleanup(lambda: self.receiver.stop())

    def start_agent(self, extra=()):
        """harness's, with a longer wait: with --otlp-endpoint the agent starts its export
        session (loads and attaches the probes) before it serves, and on a loaded two-core
        machine loading alone was seen to take 10 s."""
        agent = harness.Process([harness.AGENT_BIN, "--listen", "unix://" + self.socket,
                                 "--log-level", "debug"] + list(extra), self.workdir, "agent")
        self.processes.append(agent)
        wait_until(lambda: os.path.exists(self.socket) or agent.proc.poll() is not None,
                   timeout=60, what="the agent's socket")
        self.assertIsNone(agent.proc.poll(), "agent exited: " + agent.stderr())
        return agent

    def start_exporting_agent(self, port, *extra):
        return self.start_agent(["--otlp-endpoint", "127.0.0.1:%d" % self.receiver.port,
                                 "--otlp-port", str(port), "--otlp-header", "x-team=checkout",
                                 "--otlp-batch-delay", "100ms", "--otlp-metrics-interval", "1s"]
                                + list(extra))

    def export_status(self, session_id=None):
        """An export session's lines in `httptracectl list` (the first, or `session_id`'s),
        parsed."""
        code, out, err = self.ctl("list")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        for i, line in enumerate(lines):
            match = re.match(r"\s+export (\S+): (\d+) sent, (\d+) retried, (\d+) dropped, "
                             r"(\d+) queued.*?(?:\(last error: (.*)\))?$", line)
            owner = next((l for l in reversed(lines[:i]) if not l.startswith(" ")), "")
            if match and session_id is not None and owner.split()[1] != session_id:
                continue
            if match:
                # The session's own line is the nearest above that is not indented (notes are).
                session = next(l for l in reversed(lines[:i]) if not l.startswith(" ")).split()
                return {"id": session[1], "exchanges": int(session[5]), "lost": int(session[6]),
                        "sent": int(match.group(2)), "retried": int(match.group(3)),
                        "dropped": int(match.group(4)), "queued": int(match.group(5)),
                        "last_error": match.group(6) or ""}
        self.fail("no export session in `httptracectl list`:\n" + out)

    def test_each_exchange_is_one_span_with_trace_context_and_histograms_count_requests(self):
        # The app names itself for OpenTelemetry as an instrumented app would; the agent reads
        # it from the process (the service.name rule's first step).
        os.environ["OTEL_SERVICE_NAME"] = "demo-checkout"
        try:
            port = self.start_app()
        finally:
            del os.environ["OTEL_SERVICE_NAME"]
        app_pid = next(p.pid for p in self.processes if p.name == "app%d" % port)
        self.start_exporting_agent(port)
        base = "http://127.0.0.1:%d" % port
        windows = {}  # path -> (before, after) in ns of the test's clock

        def timed(path, send):
            before = time.time_ns()
            send()
            windows[path] = (before, time.time_ns())

        timed("/users", lambda: curl(base + "/users"))
        timed("/user", lambda: curl("-X", "POST", "-H", "Content-Type: application/json",
                                    "--data", '{"name":"Dan"}', base + "/user"))
        timed("/missing", lambda: curl(base + "/missing?sig=secret&x=1"))
        timed("/health", lambda: self.assertEqual(
            http("GET", base + "/health", headers={"traceparent": TRACEPARENT})[0], 200))
        requests = len(windows)

        wait_until(lambda: len(self.receiver.spans()) >= 2 * requests, timeout=20,
                   what="a server and a client span per request")
        # The agent's stop ends the session: its last batch and last metrics export are sent
        # before it exits, so what the receiver holds now is everything.
        self.assertEqual(self.agent_stop(), 0)
        spans = self.receiver.spans()
        self.assertEqual(len(spans), 2 * requests, [s[2]["name"] for s in spans])

        server = {otlp_testing.attributes(s["attributes"])["url.path"]: (r, sc, s)
                  for r, sc, s in spans if s["kind"] == "SPAN_KIND_SERVER"}
        client = {}
        for r, sc, s in spans:
            if s["kind"] == "SPAN_KIND_CLIENT":
                full = otlp_testing.attributes(s["attributes"])["url.full"]
                client[re.sub(r"^http://[^/]+", "", full).split("?")[0]] = (r, sc, s)
        self.assertEqual(sorted(server), sorted(windows))
        self.assertEqual(sorted(client), sorted(windows))

        statuses = {"/users": 200, "/user": 201, "/missing": 404, "/health": 200}
        methods = {"/user": "POST"}
        for path, (resource, scope, span) in server.items():
            attrs = otlp_testing.attributes(span["attributes"])
            self.assertEqual(scope["name"], "httptrace")
            self.assertEqual(resource["process.pid"], app_pid)
            self.assertEqual(resource["service.name"], "demo-checkout")
            self.assertEqual(resource["process.executable.name"], "python3")
            self.assertIn("host.name", resource)
            self.assertEqual(span["name"], "%s %s" % (methods.get(path, "GET"), path))
            expected = {"http.request.method": methods.get(path, "GET"), "url.path": path,
                        "url.scheme": "http", "http.route": path,
                        "http.response.status_code": statuses[path],
                        "server.address": "127.0.0.1", "server.port": port,
                        "client.address": "127.0.0.1", "network.peer.address": "127.0.0.1",
                        "network.protocol.version": "1.1"}
            self.assertEqual({k: attrs.get(k) for k in expected}, expected, path)
            self.assertEqual(attrs["client.port"], attrs["network.peer.port"])
            before, after = windows[path]
            start, end = int(span["start_time_unix_nano"]), int(span["end_time_unix_nano"])
            self.assertLessEqual(before - CLOCK_SLACK_NS, start, path)
            self.assertLessEqual(start, end, path)
            self.assertLessEqual(end, after + CLOCK_SLACK_NS, path)
            # A 404 is the client's error, not the server's (the conventions' rule).
            self.assertNotIn("status", span, path)
        self.assertEqual(otlp_testing.attributes(server["/missing"][2]["attributes"])["url.query"],
                         "sig=REDACTED&x=1")
        self.assertEqual(otlp_testing.attributes(server["/user"][2]["attributes"])
                         ["http.request.body.size"], len('{"name":"Dan"}'))

        for path, (resource, _, span) in client.items():
            attrs = otlp_testing.attributes(span["attributes"])
            process = "python3" if path == "/health" else "curl"
            self.assertEqual(resource["process.executable.name"], process, path)
            # No OTEL_SERVICE_NAME, no container: the rule falls back to the process name.
            self.assertEqual(resource["service.name"], process, path)
            if path == "/health":
                self.assertEqual(resource["process.pid"], os.getpid())
            query = "?sig=REDACTED&x=1" if path == "/missing" else ""
            self.assertEqual(attrs["url.full"], "http://127.0.0.1:%d%s%s" % (port, path, query))
            self.assertEqual((attrs["server.address"], attrs["server.port"]), ("127.0.0.1", port))
            self.assertEqual(attrs["http.response.status_code"], statuses[path])
            before, after = windows[path]
            self.assertLessEqual(before - CLOCK_SLACK_NS, int(span["start_time_unix_nano"]))
            self.assertLessEqual(int(span["end_time_unix_nano"]), after + CLOCK_SLACK_NS)
        self.assertEqual(client["/missing"][2]["status"], {"code": "STATUS_CODE_ERROR"})
        self.assertEqual(otlp_testing.attributes(client["/missing"][2]["attributes"])
                         ["error.type"], "404")

        # Trace context: both ends of the traceparent request join the caller's trace.
        trace_id, parent_id = TRACEPARENT.split("-")[1:3]
        for ends in (server, client):
            span = ends["/health"][2]
            self.assertEqual(otlp_testing.hex_id(span["trace_id"]), trace_id)
            self.assertEqual(otlp_testing.hex_id(span["parent_span_id"]), parent_id)
            for path in ("/users", "/user", "/missing"):
                other = ends[path][2]
                self.assertNotEqual(otlp_testing.hex_id(other["trace_id"]), trace_id)
                self.assertNotIn("parent_span_id", other)
        span_ids = [otlp_testing.hex_id(s["span_id"]) for _, _, s in spans]
        self.assertEqual(len(set(span_ids)), len(span_ids))
        # The header the export was configured with reached the collector.
        self.assertEqual({r["headers"].get("x-team") for r in self.receiver.records()},
                         {"checkout"})

        # Histograms: the last export is cumulative; its counts equal the requests.
        metrics = self.receiver.records("metrics")
        self.assertTrue(metrics, "no metrics export")
        counts = {"http.server.request.duration": 0, "http.client.request.duration": 0}
        for rm in metrics[-1]["request"]["resource_metrics"]:
            for sm in rm["scope_metrics"]:
                for metric in sm["metrics"]:
                    self.assertEqual(metric["unit"], "s")
                    histogram = metric["histogram"]
                    self.assertEqual(histogram["aggregation_temporality"],
                                     "AGGREGATION_TEMPORALITY_CUMULATIVE")
                    for point in histogram["data_points"]:
                        self.assertEqual(point["explicit_bounds"], DEFAULT_BUCKETS)
                        self.assertEqual(sum(int(c) for c in point["bucket_counts"]),
                                         int(point["count"]))
                        counts[metric["name"]] += int(point["count"])
        self.assertEqual(counts, {"http.server.request.duration": requests,
                                  "http.client.request.duration": requests})

    def agent_stop(self):
        agent = next(p for p in self.processes if p.name == "agent")
        return agent.stop(timeout=30)

    def test_collector_outage_is_retried_bounded_counted_and_other_sessions_are_exact(self):
        port = self.start_app()
        self.start_exporting_agent(port, "--otlp-queue-spans", "8", "--otlp-batch-spans", "4")
        other = self.start_ctl("start", "--port", str(port), "--format", "jsonl",
                               "-o", self.path("other.jsonl"), name="ctl_other")
        base = "http://127.0.0.1:%d" % port
        total = 0

        def send(n):
            nonlocal total
            for i in range(n):
                self.assertEqual(http("GET", base + "/users")[0], 200)
            total += 2 * n  # the app's server exchange and this process's client exchange

        send(3)
        wait_until(lambda: self.export_status()["sent"] == total, timeout=20,
                   what="the first spans delivered")

        self.receiver.stop()
        send(20)
        # Everything is either waiting (at most the queue, which includes the batch being
        # retried) or already counted as dropped; retries are under way.
        snapshot = {}

        def accounted(*keys):  # one `list` per check: its numbers are of one moment
            snapshot.update(self.export_status())
            return sum(snapshot[k] for k in keys) == total

        wait_until(lambda: accounted("queued", "dropped", "sent") and snapshot["retried"] > 0,
                   timeout=20, what="the outage's spans queued, retried or dropped")
        during = dict(snapshot)
        self.assertLessEqual(during["queued"], 8)
        self.assertGreaterEqual(during["dropped"], 40 - 8)

        self.receiver.start()  # the same port again
        send(2)
        wait_until(lambda: accounted("sent", "dropped") and snapshot["queued"] == 0, timeout=30,
                   what="every span sent or counted after the receiver returned")
        after = self.export_status()
        sys.stderr.write("outage: %d spans, %d sent, %d resent, %d dropped; %d queued at most "
                         "during the outage\n" % (total, after["sent"], after["retried"],
                                                  after["dropped"], during["queued"]))
        received = {otlp_testing.hex_id(s["span_id"]) for _, _, s in self.receiver.spans()}
        self.assertEqual(len(received), after["sent"])
        self.assertEqual(after["sent"] + after["dropped"], total)
        self.assertGreater(after["retried"], 0)
        self.assertGreater(after["dropped"], 0)
        # Each dropped span is the session's loss, reported with its reason.
        self.assertEqual(after["lost"], after["dropped"])
        self.assertEqual(after["exchanges"], total)
        code, out, err = self.ctl("attach", after["id"], "--format", "jsonl", "--duration", "1s")
        losses = [e["loss"] for e in map(__import__("json").loads, out.splitlines())
                  if e.get("loss")]
        self.assertTrue(losses, out)
        self.assertEqual({l["reason"] for l in losses}, {"export_failed"})
        self.assertEqual(sum(l["exchanges"] for l in losses), after["dropped"])

        # The other session saw every exchange, lost none.
        other.send(signal.SIGINT)
        self.assertEqual(other.wait(), 0, other.stderr())
        self.assertRegex(other.stderr(),
                         r"ended \(stopped\): %d exchange\(s\)( \([^)]*\))?, 0 lost" % total)
        events = read_jsonl(self.path("other.jsonl"))
        self.assertEqual(len([e for e in events if e.get("request")]), total)
        self.assertEqual([e for e in events if e.get("loss")], [])

    def test_export_over_mutual_tls_with_headers_started_by_the_ctl(self):
        make_certificates(self.workdir)
        cert = lambda name: os.path.join(self.workdir, name)  # noqa: E731
        self.receiver.stop()
        self.receiver = otlp_testing.Receiver(
            RECEIVER_BIN, self.workdir,
            extra=["--tls-cert", cert("server.crt"), "--tls-key", cert("server.key"),
                   "--tls-client-ca", cert("ca.crt")])
        port = self.start_app()
        self.start_agent()
        endpoint = "otlps://127.0.0.1:%d" % self.receiver.port

        def start_export(*extra):
            code, out, err = self.ctl("start", "--export", endpoint, "--export-ca", cert("ca.crt"),
                                      "--port", str(port), "--detach", *extra)
            self.assertEqual(code, 0, err)
            return out.strip()

        mtls = start_export("--export-cert", cert("client.crt"), "--export-key",
                            cert("client.key"), "--export-header", "Authorization=Bearer t0k3n")
        # The collector requires a client certificate: without one nothing is delivered.
        no_client_cert = start_export()
        curl("http://127.0.0.1:%d/users" % port)
        wait_until(lambda: self.export_status(mtls)["sent"] == 2, timeout=20,
                   what="both ends' spans over mTLS")
        wait_until(lambda: self.export_status(no_client_cert)["retried"] > 0, timeout=20,
                   what="the session without a client certificate to retry")
        refused = self.export_status(no_client_cert)
        self.assertEqual(refused["sent"], 0)
        self.assertIn("UNAVAILABLE", refused["last_error"])
        self.assertEqual(len(self.receiver.spans()), 2)
        self.assertEqual({r["headers"].get("authorization") for r in self.receiver.records()},
                         {"Bearer t0k3n"})
        # The header's value never comes back through the API.
        code, out, _ = self.ctl("list")
        self.assertNotIn("t0k3n", out)
        code, out, _ = self.ctl("status")
        self.assertNotIn("t0k3n", out)

    def test_grpc_calls_follow_the_rpc_conventions(self):
        import grpc  # Debian's python3-grpcio, for /usr/bin/python3 (run_python_test.sh)
        port = harness.free_port()
        server = harness.Process([sys.executable, "-c", GRPC_SERVER, str(port)], self.workdir,
                                 "grpc_server")
        self.processes.append(server)
        wait_until(lambda: "listening" in server.stderr(), what="the gRPC server")
        self.start_exporting_agent(port)
        with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
            self.assertEqual(channel.unary_unary("/demo.Echo/Say")(b"otel", timeout=10),
                             b"hello otel")
            with self.assertRaises(grpc.RpcError) as failed:
                channel.unary_unary("/demo.Echo/Fail")(b"x", timeout=10)
            self.assertEqual(failed.exception.code(), grpc.StatusCode.UNAVAILABLE)
        wait_until(lambda: len(self.receiver.spans()) >= 4, timeout=20,
                   what="a server and a client span per call")
        self.assertEqual(self.agent_stop(), 0)
        spans = {(s["kind"], s["name"]): s for _, _, s in self.receiver.spans()}
        self.assertEqual(sorted(spans), [("SPAN_KIND_CLIENT", "demo.Echo/Fail"),
                                         ("SPAN_KIND_CLIENT", "demo.Echo/Say"),
                                         ("SPAN_KIND_SERVER", "demo.Echo/Fail"),
                                         ("SPAN_KIND_SERVER", "demo.Echo/Say")])
        for kind in ("SPAN_KIND_CLIENT", "SPAN_KIND_SERVER"):
            ok = otlp_testing.attributes(spans[(kind, "demo.Echo/Say")]["attributes"])
            self.assertEqual({k: ok.get(k) for k in ("rpc.system", "rpc.service", "rpc.method",
                                                     "rpc.grpc.status_code",
                                                     "network.protocol.version")},
                             {"rpc.system": "grpc", "rpc.service": "demo.Echo",
                              "rpc.method": "Say", "rpc.grpc.status_code": 0,
                              "network.protocol.version": "2"}, kind)
            self.assertNotIn("status", spans[(kind, "demo.Echo/Say")])
            failed_span = spans[(kind, "demo.Echo/Fail")]
            self.assertEqual(otlp_testing.attributes(failed_span["attributes"])
                             ["rpc.grpc.status_code"], 14)
            self.assertEqual(failed_span["status"], {"code": "STATUS_CODE_ERROR",
                                                     "message": "backend down"}, kind)


if __name__ == "__main__":
    unittest.main()
