#!/usr/bin/env bash
# Sets up the machine (packages, tracefs, npm packages) and runs every test: `bazel test //...`.
#
# CI mode (CI=true, as .ci/run sets it): first removes what earlier runs left that a fresh
# machine would not have (scripts/clean_caches.sh: this project's images, the base image, the
# validator's node_modules, ...), reruns every test instead of taking cached results, and turns a
# missing capability into a failure (HTTPTRACE_REQUIRE_CAPABILITIES=1): CI is root with BPF and
# podman, so there a test that skips hides a broken machine or setup step.
#
# Tests that load BPF programs are tagged "local" and run as root outside Bazel's sandbox; run
# this as root (CI does). Extra arguments go to bazel, e.g. scripts/test.sh --config=asan.
# Ends with one line: "N passed, N skipped, N failed" (a skipped test is not a passed one).
set -euo pipefail
cd "$(dirname "$0")/.."

ci_args=()
if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
  scripts/clean_caches.sh
  ci_args=(--nocache_test_results --test_env=HTTPTRACE_REQUIRE_CAPABILITIES=1)
fi

scripts/setup.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
bazel test --test_summary=short "${ci_args[@]}" "$@" //... 2>&1 | tee "$log" || status=$?

# One plain closing line, whatever Bazel's own summary looks like. A test that passed but skipped
# some or all of its cases (gtest "[  SKIPPED ]", unittest "skipped", sh "SKIP:") counts as
# skipped, with its reason shown.
testlogs=$(bazel info bazel-testlogs "$@" 2>/dev/null || echo bazel-testlogs)
passed=0 skipped=0
while read -r target; do
  test_log=$testlogs/${target#//}
  test_log=${test_log/://}/test.log
  if [[ -f $test_log ]] &&
    reasons=$(grep -E '^\[  SKIPPED \] [A-Za-z]|\.\.\. skipped |^SKIP: ' "$test_log"); then
    skipped=$((skipped + 1))
    echo "SKIPPED $target:"
    sed 's/^/    /' <<<"$reasons" | head -5
  else
    passed=$((passed + 1))
  fi
done < <(grep -oE '^//\S+(\s+\(cached\))?\s+PASSED' "$log" | awk '{print $1}')
failed=$(grep -cE '^//\S+\s+(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD)' "$log" || true)
echo "${passed} passed, ${skipped} skipped, ${failed} failed"
exit "$status"
