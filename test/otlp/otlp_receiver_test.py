"""The test receiver decodes real OTLP exactly: the official OpenTelemetry JS SDK's OTLP/gRPC
exporter sends it one known span, and every field the client set comes back as sent."""

import os
import subprocess
import sys
import tempfile
import unittest

import otlp_testing

RECEIVER_BIN = os.environ["OTLP_RECEIVER_BIN"]


class ReceiverDecodesOfficialExporter(unittest.TestCase):
    def test_known_span_from_js_sdk_arrives_exactly(self):
        client = otlp_testing.install_reference_client()
        workdir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        receiver = otlp_testing.Receiver(RECEIVER_BIN, workdir)
        try:
            subprocess.run(["node", os.path.join(client, "export_known_span.js"),
                            "http://127.0.0.1:%d" % receiver.port],
                           check=True, timeout=60, stdin=subprocess.DEVNULL)
        finally:
            receiver.stop()
        # The exporter reported success only after the receiver answered: the record is written.
        spans = receiver.spans()
        self.assertEqual(len(spans), 1, receiver.records())
        resource, scope, span = spans[0]
        self.assertEqual(resource, {"service.name": "otlp-reference-client"})
        self.assertEqual(scope, {"name": "httptrace-reference", "version": "1.2.3"})
        self.assertEqual(otlp_testing.hex_id(span["trace_id"]), "0af7651916cd43dd8448eb211c80319c")
        self.assertEqual(otlp_testing.hex_id(span["span_id"]), "b7ad6b7169203331")
        self.assertNotIn("parent_span_id", span)
        self.assertEqual(span["name"], "GET /known")
        self.assertEqual(span["kind"], "SPAN_KIND_SERVER")
        self.assertEqual(span["start_time_unix_nano"], "1700000000123456789")
        self.assertEqual(span["end_time_unix_nano"], "1700000001000000500")
        self.assertEqual(otlp_testing.attributes(span["attributes"]),
                         {"http.request.method": "GET", "http.response.status_code": 503,
                          "url.path": "/known"})
        self.assertEqual(span["status"], {"code": "STATUS_CODE_ERROR",
                                          "message": "known failure"})


if __name__ == "__main__":
    unittest.main()
