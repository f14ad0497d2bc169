#!/usr/bin/env bash
# The demo: sets up this machine, builds httptrace, starts the agent and the seed's demo app,
# captures the app's traffic with `httptracectl start` into traces/http-trace.txt, prints the
# trace, and stops everything it started. Run as root (the probes need it).
#
# Usage: scripts/demo.sh [--format text|jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
format=text
[[ ${1:-} == --format ]] && format=${2:?--format needs text or jsonl}

scripts/setup.sh
echo "demo: building (first build takes a few minutes on 2 cores)" >&2
bazel build --noshow_progress //agent:httptrace-agent //cli:httptracectl 2>&1 | grep -Ev '^(INFO|Loading|Analyzing)' >&2 || true
agent_bin=bazel-bin/agent/httptrace-agent
ctl_bin=bazel-bin/cli/httptracectl
[[ -x $agent_bin && -x $ctl_bin ]] || { echo "demo: build failed" >&2; exit 1; }

work=$(mktemp -d /tmp/httptrace-demo.XXXXXX)
socket="$work/agent.sock"
port=${DEMO_PORT:-8080}
mkdir -p traces
trace=traces/http-trace.txt
[[ $format == jsonl ]] && trace=traces/http-trace.jsonl
rm -f "$trace"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() {  # wait_for DESCRIPTION COMMAND... : up to 10 s
  local what=$1; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo: timed out waiting for $what" >&2; return 1
}

"$agent_bin" --listen "unix://$socket" 2>"$work/agent.log" &
pids+=($!)
wait_for "the agent" test -S "$socket"
echo "demo: agent listening on unix://$socket" >&2

python3 test/apps/demo_app.py --port "$port" 2>"$work/app.log" &
pids+=($!)
wait_for "the demo app" curl -sf "http://127.0.0.1:$port/health"

"$ctl_bin" --agent "unix://$socket" start --port "$port" --format "$format" -o "$trace" \
  2>"$work/ctl.log" &
ctl_pid=$!
pids+=($ctl_pid)
wait_for "the capture to start" grep -q "started session" "$work/ctl.log"
sed -n 's/^/demo: /p' "$work/ctl.log" >&2

base="http://127.0.0.1:$port"
curl -s "$base/users" >/dev/null
curl -s -X POST -H 'Content-Type: application/json' -d '{"name":"New User"}' "$base/user" >/dev/null
curl -s -H 'Authorization: Bearer demo-secret-token' "$base/users/42" >/dev/null
curl -s --compressed "$base/users.gz" >/dev/null
curl -s "$base/chunked" >/dev/null
echo "demo: sent 5 requests with curl" >&2

kill -INT "$ctl_pid"
wait "$ctl_pid" || { echo "demo: httptracectl failed:" >&2; cat "$work/ctl.log" >&2; exit 1; }
sed -n '/started session/!s/^/demo: /p' "$work/ctl.log" >&2
echo "demo: trace written to $trace:" >&2
echo
cat "$trace"
