#!/usr/bin/env bash
# Builds http_connection_fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time over the committed seed corpus. gcc has no libFuzzer and Bazel's toolchain is gcc, so the
# engine's sources are compiled here directly; the Bazel sh_test http_connection_fuzz_test runs
# this script for 30 s.
#
# usage: agent/http/run_http_fuzzer.sh [SECONDS] [extra libFuzzer flags...]
#   HTTP_FUZZ_OUT=DIR  keep the binary, the grown corpus and any crash files in DIR
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
# shellcheck disable=SC2046
"${cxx}" -std=c++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
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
