#!/bin/sh
# The compose file's ctl service: waits for the agent's API, then captures into $OUTPUT_FILE
# (the seed's quick start) until stopped. Extra arguments are capture filters for
# `httptracectl start`; without any it captures the demo app's port ($DEMO_PORT, 8080).
set -eu
OUTPUT_FILE=${OUTPUT_FILE:-/traces/http-trace.txt}
mkdir -p "$(dirname "$OUTPUT_FILE")"
i=0
until httptracectl status >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "ctl: the agent did not answer on ${HTTPTRACE_AGENT:-unix:///run/httptrace/agent.sock} within 30 s" >&2
    httptracectl status >&2 || true
    exit 1
  fi
  sleep 0.5
done
[ "$#" -gt 0 ] || set -- --port "${DEMO_PORT:-8080}"
echo "ctl: capturing ($*) into $OUTPUT_FILE" >&2
exec httptracectl start "$@" -o "$OUTPUT_FILE"
