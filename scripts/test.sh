#!/usr/bin/env bash
# Sets up the machine (packages, tracefs) and runs every test: `bazel test //...`.
#
# Tests that load BPF programs are tagged "local" and run as root outside Bazel's sandbox; run
# this as root (CI does). Extra arguments go to bazel, e.g. scripts/test.sh --config=asan.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
bazel test --test_summary=short "$@" //... 2>&1 | tee "$log" || status=$?

# One plain closing line, whatever Bazel's own summary looks like.
passed=$(grep -cE '^//\S+\s+(\(cached\) )?PASSED' "$log" || true)
failed=$(grep -cE '^//\S+\s+(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log" || true)
echo "${passed} passed, ${failed} failed"
exit "$status"
