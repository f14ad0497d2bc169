"""The test OTLP receiver (otlp_receiver.cc) and the official OpenTelemetry JS exporter, for the
receiver's own proof and for the agent's export e2e test.

The JS SDK is installed by `npm ci` from js/package-lock.json into a cache this file owns,
/var/cache/httptrace-otlp-js/<hash of the lock> (scripts/clean_caches.sh removes it in CI mode, so
CI proves the install works on a fresh machine).
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
JS_CACHE = os.environ.get("HTTPTRACE_OTLP_JS_CACHE", "/var/cache/httptrace-otlp-js")


def install_reference_client():
    """The directory holding export_known_span.js and its node_modules, installed when missing."""
    with open(os.path.join(JS_DIR, "package-lock.json"), "rb") as f:
        lock = f.read()
    target = os.path.join(JS_CACHE, hashlib.sha256(lock).hexdigest()[:16])
    if os.path.isdir(os.path.join(target, "node_modules", "@opentelemetry")):
        shutil.copy(os.path.join(JS_DIR, "export_known_span.js"), target)
        return target
    os.makedirs(JS_CACHE, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="install.", dir=JS_CACHE)
    for name in ("package.json", "package-lock.json", "export_known_span.js"):
        shutil.copy(os.path.join(JS_DIR, name), scratch)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=scratch,
                   check=True, timeout=300, stdin=subprocess.DEVNULL)
    try:
        os.rename(scratch, target)  # whole or not at all: a concurrent install loses the race
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


class Receiver:
    """otlp_receiver as a child process recording into `workdir`/received.jsonl."""

    def __init__(self, binary, workdir, extra=(), port=0):
        self.binary, self.workdir, self.extra = binary, workdir, list(extra)
        self.out = os.path.join(workdir, "received.jsonl")
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        port_file = os.path.join(self.workdir, "receiver.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.stderr = open(os.path.join(self.workdir, "receiver.stderr"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", "127.0.0.1:%d" % self.port, "--out", self.out,
             "--port-file", port_file] + self.extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("otlp_receiver did not start: " + self.stderr_text())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.stderr.close()

    def stderr_text(self):
        with open(os.path.join(self.workdir, "receiver.stderr"), errors="replace") as f:
            return f.read()

    def records(self, service=None, refused=False):
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            records = [json.loads(line) for line in f if line.strip()]
        return [r for r in records
                if (service is None or r["service"] == service)
                and bool(r.get("refused")) == refused]

    def spans(self):
        """Every span received, each as (resource attributes dict, scope, span)."""
        out = []
        for record in self.records("trace"):
            for rs in record["request"].get("resource_spans", []):
                resource = attributes(rs.get("resource", {}).get("attributes", []))
                for ss in rs.get("scope_spans", []):
                    for span in ss.get("spans", []):
                        out.append((resource, ss.get("scope", {}), span))
        return out


def attribute_value(value):
    for kind in ("string_value", "bool_value", "double_value"):
        if kind in value:
            return value[kind]
    if "int_value" in value:
        return int(value["int_value"])  # int64 is a string in protobuf's JSON
    return value


def attributes(key_values):
    return {kv["key"]: attribute_value(kv.get("value", {})) for kv in key_values}


def hex_id(b64):
    """A trace or span id as lowercase hex (protobuf's JSON has bytes as base64)."""
    return base64.b64decode(b64).hex() if b64 else ""
