#!/bin/sh
# Writes http1_methods.h from methods.txt (one method a line, '#' comments): an X-macro list of
# string literals both the BPF classifier and the engine expand, and the longest length.
# Usage: gen_methods.sh methods.txt > http1_methods.h
set -eu
in=$1
echo "// Generated from agent/protocols/http1/methods.txt by gen_methods.sh. Do not edit."
echo "#pragma once"
echo "// X(\"NAME\") for every HTTP/1.x method httptrace accepts."
printf '#define HT_HTTP1_METHODS(X)'
grep -v '^#' "$in" | grep -v '^$' | while read -r m; do
  case $m in *[!A-Z-]*) echo "bad method name: $m" >&2; exit 1 ;; esac
  printf ' \\\n  X("%s")' "$m"
done
echo
max=$(grep -v '^#' "$in" | grep -v '^$' | awk '{ if (length($0) > m) m = length($0) } END { print m }')
echo "// The longest name's length."
echo "#define HT_HTTP1_METHOD_MAX_LEN $max"
