#!/usr/bin/env bash
# Runs a Python end-to-end test with the binaries Bazel built for it.
# Usage (from a sh_test): run_python_test.sh TEST.py AGENT_BIN CTL_BIN DEMO_APP [CRI_DRIVER_BIN]
set -euo pipefail
test_py=$1
export HTTPTRACE_AGENT_BIN=$PWD/$2 HTTPTRACE_CTL_BIN=$PWD/$3 HTTPTRACE_DEMO_APP=$PWD/$4
# Optional 5th argument: the kubelet's part for pod tests (//agent/cri:cri_driver).
if [[ $# -ge 5 ]]; then export HTTPTRACE_CRI_DRIVER_BIN=$PWD/$5; fi
export PYTHONPATH="$(dirname "$test_py")${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$test_py"
