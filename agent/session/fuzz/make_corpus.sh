#!/usr/bin/env bash
# Writes the seed corpus of start_capture_fuzzer (format: see start_capture_fuzzer.cc) from text
# protos with protoc --encode. Run from the workspace root.
set -euo pipefail
out=agent/session/fuzz/corpus
mkdir -p "${out}"
seed() {  # NAME REQUEST_TEXT EXCHANGE_TEXT
  local req ex
  req=$(mktemp) ex=$(mktemp)
  printf '%s' "$2" | protoc -I. --encode=httptrace.v1.StartCaptureRequest proto/httptrace.proto >"${req}"
  printf '%s' "$3" | protoc -I. --encode=httptrace.v1.Exchange proto/httptrace.proto >"${ex}"
  python3 - "${req}" "${ex}" "${out}/$1" <<'PY'
import struct, sys
req, ex = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(struct.pack("<H", len(req)) + req + struct.pack("<H", len(ex)) + ex
                              + struct.pack("<Q", 1))
PY
  rm -f "${req}" "${ex}"
}
ex='process { pid: 42 comm: "nginx" } request { method: "GET" target: "/api/users" }'
seed port 'filter { ports: 8080 role: ROLE_SERVER } options { body_limit_bytes: 100 }' "${ex}"
seed pids 'filter { pids: 42 pids: 43 process_names: "nginx" methods: "GET" path_prefix: "/api" }' "${ex}"
seed containers 'filter { containers: "abcd1234" pods: "web" pod_namespaces: "shop" }' "${ex}"
seed options 'options { max_exchanges: 1 queue_capacity: 2 redact_headers: "X-Token" }' "${ex}"
