#!/usr/bin/env bash
# Runs test/stress/stress.py with the binaries Bazel built (from a sh_test, or by hand from the
# workspace root after `bazel build //test/stress:all`).
# usage: run_stress.sh [STRESS_PY AGENT CTL API_ABUSER] [stress.py flags...]
set -euo pipefail
if [[ $# -ge 4 && "$1" == *.py ]]; then
  py=$1 agent=$2 ctl=$3 abuser=$4
  shift 4
else
  py=test/stress/stress.py agent=bazel-bin/agent/httptrace-agent ctl=bazel-bin/cli/httptracectl
  abuser=bazel-bin/test/stress/api_abuser
fi
export HTTPTRACE_AGENT_BIN=$PWD/$agent HTTPTRACE_CTL_BIN=$PWD/$ctl HTTPTRACE_API_ABUSER=$PWD/$abuser
# harness.py sits in test/e2e (in runfiles and in the source tree alike).
export PYTHONPATH="$(cd "$(dirname "$py")/../e2e" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$py" "$@"
