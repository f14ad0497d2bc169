#!/usr/bin/env bash
# Runs otlp_receiver_test.py with the receiver Bazel built. Usage: run_receiver_test.sh TEST.py BIN
set -euo pipefail
export OTLP_RECEIVER_BIN=$PWD/$2
export PYTHONPATH="$(dirname "$1")${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$1"
