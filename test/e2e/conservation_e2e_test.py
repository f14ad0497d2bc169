"""The conservation invariant checked end to end (issue 25): message starts seen = exchanges +
counted losses, for a capture of real traffic (the demo app and python's urllib: GET, chunked,
a 3 KB POST, a 404), and the same check failing when the agent drops one exchange on
purpose (HTTPTRACE_TEST_DROP_EXCHANGE, a test-only fault). The check itself is
harness.conservation_problems; the real-servers matrix and the stress scenarios run it too.
"""

import os
import signal
import unittest

import harness


class ConservationTest(harness.E2ETestCase):

    def capture(self, drop=None):
        if drop is not None:
            # A fresh agent with the fault (setUp's agent has none).
            self.agent.stop()
            os.environ["HTTPTRACE_TEST_DROP_EXCHANGE"] = str(drop)
            try:
                self.agent = self.start_agent()
            finally:
                del os.environ["HTTPTRACE_TEST_DROP_EXCHANGE"]
        port = self.start_app()
        out = self.path("trace%s.jsonl" % drop)
        ctl = self.start_ctl("start", "--port", str(port), "--format", "jsonl", "-o", out,
                             name="ctl%s" % drop)
        for i in range(12):
            path = ("users", "health", "chunked")[i % 3]
            status, _ = harness.http("GET", "http://127.0.0.1:%d/%s" % (port, path))
            self.assertEqual(status, 200)
        harness.http("POST", "http://127.0.0.1:%d/user" % port,
                     body=b'{"name": "' + b"x" * 3000 + b'"}')
        harness.http("GET", "http://127.0.0.1:%d/missing" % port)
        ctl.send(signal.SIGINT)
        self.assertEqual(ctl.wait(timeout=60), 0, ctl.stderr())
        counters = harness.status_counters(harness.CTL_BIN, self.socket)
        return harness.conservation_problems(counters, harness.read_jsonl(out),
                                             self.agent.stderr()), counters

    def test_holds_for_real_traffic(self):
        problems, counters = self.capture()
        self.assertEqual(problems, [])
        self.assertGreaterEqual(counters["pipeline.exchanges"], 14)

    def test_fails_when_one_exchange_is_dropped_on_purpose(self):
        problems, _ = self.capture(drop=3)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("1 vanished", problems[0])


if __name__ == "__main__":
    unittest.main()
