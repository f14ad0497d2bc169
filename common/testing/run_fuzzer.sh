#!/usr/bin/env bash
# Builds a libFuzzer target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded time
# over its grown and committed corpora. gcc has no libFuzzer and Bazel's toolchain is gcc, so the
# sources are compiled here directly; their list lives once, in the BUILD file's sh_test that
# passes them (`$(locations ...)`), and is run from the workspace (or runfiles) root.
#
# usage: common/testing/run_fuzzer.sh --name NAME --seconds N [--corpus DIR] [--dict FILE]
#          [--proto FILE.proto]... [--pkg PKG-CONFIG-NAMES] [--lib -lFOO]... -- SOURCES...
#   --proto: generated with protoc into the build directory (messages only, -lprotobuf added).
#   FUZZ_OUT=DIR    keep the binary, the grown corpus and any crash files in DIR
#   FUZZ_FAST=1     campaign build: UBSan without ASan, NDEBUG (as the agent's -c opt build)
#   FUZZ_FLAGS=...  extra libFuzzer flags (-max_len=512, -runs=0 to replay a corpus)
#   FUZZ_SECONDS=N  overrides --seconds (longer runs by hand)
set -euo pipefail

name="" seconds=30 corpus="" dict="" pkgs="" protos=() libs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --corpus) corpus=$2; shift 2 ;;
    --dict) dict=$2; shift 2 ;;
    --proto) protos+=("$2"); shift 2 ;;
    --pkg) pkgs="${pkgs} $2"; shift 2 ;;
    --lib) libs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "run_fuzzer: unknown argument $1" >&2; exit 2 ;;
  esac
done
seconds="${FUZZ_SECONDS:-${seconds}}"
[[ -n "${name}" && $# -gt 0 ]] || { echo "run_fuzzer: --name and sources are required" >&2; exit 2; }
sources=("$@")
root="$PWD"
out="${FUZZ_OUT:-${TEST_TMPDIR:-$(mktemp -d)}/${name}}"
mkdir -p "${out}/corpus" "${out}/artifacts" "${out}/gen"

cxx="$(command -v clang++-14 || command -v clang++ || true)"
if [[ -z "${cxx}" ]]; then
  echo "run_fuzzer: clang++ not found (apt-get install clang-14 libfuzzer-14-dev)" >&2
  exit 1
fi
for p in "${protos[@]}"; do
  /usr/bin/protoc -I "${root}" --cpp_out="${out}/gen" "${p}"
  sources+=("${out}/gen/${p%.proto}.pb.cc")
  libs+=(-lprotobuf)
done
# Coverage of inlined system headers (absl's string_view::operator[], std::string) only slows the
# fuzzer and guides nothing of ours.
printf 'src:/usr/include/*\n' >"${out}/coverage_ignorelist.txt"
if [[ "${FUZZ_FAST:-0}" == 1 ]]; then
  flags=(-O2 -DNDEBUG -fsanitize=fuzzer,undefined)
else
  flags=(-O1 -fsanitize=fuzzer,address,undefined)
fi
# shellcheck disable=SC2046,SC2086
"${cxx}" -std=c++20 -g -fno-omit-frame-pointer "${flags[@]}" -fno-sanitize-recover=undefined \
  -fsanitize-coverage-ignorelist="${out}/coverage_ignorelist.txt" \
  -I "${root}" -I "${out}/gen" "${sources[@]}" -o "${out}/${name}" \
  "${libs[@]}" $([[ -n "${pkgs}" ]] && pkg-config --libs ${pkgs})

echo "run_fuzzer: running ${name} for ${seconds}s; output in ${out}" >&2
args=(-max_total_time="${seconds}" -artifact_prefix="${out}/artifacts/" -print_final_stats=1)
[[ -n "${dict}" ]] && args+=(-dict="${dict}")
dirs=("${out}/corpus")
[[ -n "${corpus}" ]] && dirs+=("${corpus}")
# shellcheck disable=SC2086
"${out}/${name}" "${args[@]}" ${FUZZ_FLAGS:-} "${dirs[@]}"
