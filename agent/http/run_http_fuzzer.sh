#!/usr/bin/env bash
# Builds http_connection_fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time over the committed seed corpus. gcc has no libFuzzer and Bazel's toolchain is gcc, so the
# engine's sources are compiled here directly; the Bazel sh_test http_connection_fuzz_test runs
# this script for 30 s.
#
# usage: agent/http/run_http_fuzzer.sh [SECONDS] [extra libFuzzer flags...]
#   HTTP_FUZZ_OUT=DIR  keep the binary, the grown corpus and any crash files in DIR
#   HTTP_FUZZ_FAST=1   campaign build: UBSan without ASan and with NDEBUG (as the agent's -c opt
#                      build), ~5x the executions per second; replay its corpus through the
#                      default (ASan) build afterwards (`-runs=0 DIR`) to check memory safety.
set -euo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
out="${HTTP_FUZZ_OUT:-${TEST_TMPDIR:-$(mktemp -d)}}"
mkdir -p "${out}/corpus" "${out}/artifacts"

cxx="$(command -v clang++-14 || command -v clang++ || true)"
if [[ -z "${cxx}" ]]; then
  echo "run_http_fuzzer: clang++ not found (apt-get install clang-14 libfuzzer-14-dev)" >&2
  exit 1
fi

sources=(
  "${here}/http_connection_fuzzer.cc"
  "${here}/http_connection.cc"
  "${here}/stream_assembler.cc"
  "${here}/message_start.cc"
  "${here}/body_decoder.cc"
  "${here}/exchange.cc"
)
# Coverage of inlined system headers (absl's string_view::operator[], std::string) only slows the
# fuzzer (a third of its time went to their comparison hooks) and guides nothing of ours.
printf 'src:/usr/include/*\n' >"${out}/coverage_ignorelist.txt"
if [[ "${HTTP_FUZZ_FAST:-0}" == 1 ]]; then
  flags=(-O2 -DNDEBUG -fsanitize=fuzzer,undefined)
else
  flags=(-O1 -fsanitize=fuzzer,address,undefined)
fi
# shellcheck disable=SC2046
"${cxx}" -std=c++20 -g -fno-omit-frame-pointer "${flags[@]}" -fno-sanitize-recover=undefined \
  -fsanitize-coverage-ignorelist="${out}/coverage_ignorelist.txt" \
  -I "${root}" "${sources[@]}" -o "${out}/http_connection_fuzzer" \
  -lhttp_parser -lz $(pkg-config --libs absl_strings absl_str_format absl_status absl_statusor)

echo "run_http_fuzzer: running for ${seconds}s; output in ${out}" >&2
"${out}/http_connection_fuzzer" \
  -max_total_time="${seconds}" \
  -dict="${here}/fuzz/http.dict" \
  -artifact_prefix="${out}/artifacts/" \
  -print_final_stats=1 \
  "$@" \
  "${out}/corpus" "${here}/fuzz/corpus"
