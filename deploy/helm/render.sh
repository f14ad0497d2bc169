#!/usr/bin/env bash
# Builds deploy/helm/render (Go text/template + sprig, the subset of Helm the chart uses) from
# Debian's Go sources, offline, and runs it: render.sh [-name R] [-namespace N] [-f F] [-set k=v]
# [-notes] CHART_DIR. Needs golang-go and golang-github-masterminds-sprig-dev (scripts/setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
cache=${RENDER_CACHE_DIR:-${TEST_TMPDIR:-${XDG_CACHE_HOME:-$HOME/.cache}}/httptrace-render}
mkdir -p "$cache"
# GOPATH mode against /usr/share/gocode: Debian packages Go libraries as sources there, and
# nothing is downloaded.
GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$cache/gocache" \
  go build -o "$cache/render" "$here/render/main.go"
exec "$cache/render" "$@"
