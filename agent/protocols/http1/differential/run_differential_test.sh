#!/usr/bin/env bash
# Runs differential_test.py with Debian's python3 and node (Bazel's test PATH has /usr/bin).
# Usage: run_differential_test.sh differential_test.py ENGINE_DUMP LLHTTP_JS MAKE_CORPUS METHODS_TXT
#          FUZZ_CORPUS_DIR
set -euo pipefail
exec /usr/bin/python3 "$1" --engine "$2" --reference "$3" --generator "$4" --methods "$5" \
  --fuzz-corpus "$6"
