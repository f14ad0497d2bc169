#!/usr/bin/env python3
"""The HTTP/1.x differential test: the engine (engine_dump) and Node's llhttp (llhttp_reference.js)
read the same bytes, the generated corpus (make_corpus.py) and the fuzzer's inputs (../fuzz/corpus,
their data turned back into the two streams). Fails on any message llhttp accepts that the engine
drops, splits or reads differently: method, target, version, headers, trailers, body bytes,
status, reason. Where the engine goes on after llhttp refuses a stream (it is lenient where peers
are: ../README.md, "Where it differs from llhttp"), the case is counted under llhttp's error code;
every such code must be one the README lists (KNOWN_LENIENT below, kept with it).

Prints the number of cases and messages compared and the disagreements (0 to pass).
"""

import argparse
import base64
import json
import os
import subprocess
import sys

# llhttp's errors on streams the engine reads on, each a deliberate leniency (../README.md).
KNOWN_LENIENT = {
    "HPE_INVALID_CONSTANT",          # not a message where one should start: the engine looks for
                                     # the next start line (resynchronisation)
    "HPE_CLOSED_CONNECTION",         # bytes after a message that closed the connection
    "HPE_INVALID_CONTENT_LENGTH",    # OWS of HTAB around the digits, "4, 4" (libhttp-parser)
    "HPE_INVALID_TRANSFER_ENCODING",  # HTAB around chunked; chunked not last in a request
    "HPE_INVALID_HEADER_TOKEN",      # obs-fold, bare CR, control bytes in values
    "HPE_CR_EXPECTED",               # bare LF line ends
    "HPE_LF_EXPECTED",               # bare LF line ends
    "HPE_INVALID_VERSION",           # HTTP/1.2 .. 1.9 read as 1.x
    "HPE_INVALID_METHOD",            # IANA methods llhttp lacks (methods.txt)
    "HPE_INVALID_URL",               # bytes above 0x7f and some ASCII in targets
    "HPE_INVALID_CHUNK_SIZE",        # a space before a chunk extension
    "HPE_UNEXPECTED_CONTENT_LENGTH", # Content-Length with chunked (chunked wins, RFC 9112 6.3)
    "HPE_HEADER_OVERFLOW",           # header blocks over Node's 16 KiB (the engine: 80 KiB)
    "HPE_INVALID_STATUS",            # status codes outside 100-999 read as libhttp-parser does
    "HPE_STRICT",                    # llhttp's strict checks
}


def fuzz_cases(directory):
    """The fuzzer's programs (http1_connection_fuzzer.cc) as two whole streams, requests first.
    Programs with bytes lost or holes are left out (gaps are not parsing)."""
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if not data:
            continue
        hint = data[0] & 3
        streams = [bytearray(), bytearray()]
        i, gaps = 1, False
        while i < len(data):
            op = data[i]
            i += 1
            kind = op & 3
            if kind in (0, 1):
                if i >= len(data):
                    break
                n = data[i] | ((op >> 2) & 3) << 8
                i += 1
                if op & 0x10:
                    gaps = True
                    i += 1
                streams[kind] += data[i:i + n]
                i += n
            elif kind == 2:
                gaps = True
                i += 1
        if gaps:
            continue
        egress, ingress = bytes(streams[0]), bytes(streams[1])
        if hint == 2:
            requests, responses = ingress, egress
        elif hint == 0 and egress.lstrip(b"\r\n").startswith(b"HTTP/"):
            requests, responses = ingress, egress
        else:
            requests, responses = egress, ingress
        out.append({"name": "fuzz_" + name, "requests": base64.b64encode(requests).decode(),
                    "responses": base64.b64encode(responses).decode()})
    return out


def run(argv, cases):
    text = "".join(json.dumps(c) + "\n" for c in cases)
    p = subprocess.run(argv, input=text.encode(), capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (argv[0], p.returncode, p.stderr.decode()[-2000:]))
    return {r["name"]: r for r in map(json.loads, p.stdout.decode().splitlines())}


FIELDS = {"request": ("method", "target", "version", "headers", "body"),
          "response": ("status", "reason", "version", "headers", "body")}


def compare(case, ref, ours, problems):
    """Compares one case; returns (messages compared, llhttp's error codes where the engine read
    on past them)."""
    compared, lenient = 0, []
    exchanges = ours["exchanges"]
    for kind, ref_msgs, error in (
            ("request", ref["requests"], ref["request_error"]),
            ("response", [m for m in ref["responses"] if not m.get("interim")],
             ref["response_error"])):
        mine = [x for x in exchanges if x[kind] is not None]
        if kind == "response" and ref["request_error"]:
            # Responses to requests llhttp refused are not comparable (HEAD, pairing).
            ref_msgs = ref_msgs[:len(ref["requests"])]
        for i, m in enumerate(ref_msgs):
            compared += 1
            where = "%s: %s %d" % (case, kind, i)
            if i >= len(mine):
                problems.append("%s: llhttp read %s, the engine nothing" % (
                    where, json.dumps(m)[:300]))
                continue
            x = mine[i]
            got = x[kind]
            # A deliberate difference is said in the exchange's notes (../README.md).
            deliberate = any("llhttp" in n for n in x["notes"])
            for field in FIELDS[kind]:
                if got[field] != m[field] and not deliberate:
                    problems.append("%s: %s %r, llhttp %r (notes %s)" % (
                        where, field, got[field], m[field], x["notes"]))
            if got.get("trailers", []) != m.get("trailers", []):
                problems.append("%s: trailers %r, llhttp %r" % (where, got["trailers"],
                                                               m.get("trailers", [])))
            if not x[kind + "_complete"] and not m.get("upgrade"):
                problems.append("%s: the engine's %s is incomplete: %s" % (where, kind,
                                                                          x["notes"]))
        if kind == "response" and ref["request_error"]:
            continue  # llhttp's response errors here follow from its request error
        # The message llhttp refused: the engine refused it too (a parse error: it then looks
        # for the next message, as an observer does), or read it (a leniency).
        if error and error.split("@")[0] != "incomplete" and len(mine) > len(ref_msgs):
            x = mine[len(ref_msgs)]
            if x[kind + "_complete"] and not any("parse error" in n for n in x["notes"]):
                lenient.append(error.split("@")[0])
    return compared, lenient


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--generator", required=True)
    ap.add_argument("--fuzz-corpus", required=True)
    ap.add_argument("--methods", default=None, help="methods.txt (default: beside the engine)")
    args = ap.parse_args()
    methods = args.methods or os.path.join(os.path.dirname(args.generator), "..", "methods.txt")
    gen = subprocess.run([sys.executable, args.generator, methods], capture_output=True,
                         check=True, timeout=120)
    cases = [json.loads(l) for l in gen.stdout.decode().splitlines()]
    generated = len(cases)
    cases += fuzz_cases(args.fuzz_corpus)
    ours = run([args.engine], cases)
    ref = run(["/usr/bin/node", args.reference], cases)
    problems, lenient = [], {}
    compared = 0
    for c in cases:
        n, kinds = compare(c["name"], ref[c["name"]], ours[c["name"]], problems)
        compared += n
        for k in kinds:
            lenient.setdefault(k, []).append(c["name"])
    print("differential: %d cases (%d generated, %d from the fuzzer's corpus), %d messages "
          "llhttp accepted compared, %d disagreements" % (
              len(cases), generated, len(cases) - generated, compared, len(problems)))
    for k in sorted(lenient):
        print("  engine read on where llhttp refused (%s): %d cases, e.g. %s" % (
            k, len(lenient[k]), ", ".join(lenient[k][:4])))
    unknown = sorted(set(lenient) - KNOWN_LENIENT)
    for p in problems[:60]:
        print("DISAGREE " + p)
    if unknown:
        print("llhttp refusals the engine reads past that README.md does not list: %s" % unknown)
    return 1 if problems or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
