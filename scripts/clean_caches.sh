#!/usr/bin/env bash
# Removes what earlier runs of the tests, the demo or the images left on this machine that a
# fresh machine would not have, so that the next run builds it from nothing. scripts/test.sh runs
# it first in CI mode (CI=true): CI runs on a developer's own machine, where these would hide a
# missing setup step. Bazel's own cache stays (Bazel rebuilds exactly what changed).
#
# Only this project's things: podman images and containers named httptrace*, the base image
# deploy/container/base-image.sh makes and the build layers on top of it, the chart validator's
# node_modules, the repository's .cache/ (among others .cache/grpc-js: @grpc/grpc-js for
# test/servers/h2_servers_test.py), the chart renderer's Go cache, the kernel matrix's
# downloaded kernels (test/kernels/fetch_kernel.sh; ~1-2 min to fetch again), the OpenTelemetry
# protos scripts/setup.sh fetches, and the OpenTelemetry JS SDK test/otlp installs.
# Each cache a test reuses is listed here, once.
#
# Usage: scripts/clean_caches.sh   (as root, like the tests)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'clean_caches: %s\n' "$*" >&2; }
# The images of "$@" that still exist (a function, so that set -e does not end the script at the
# first one that is gone).
still_there() {
  local id
  for id in "$@"; do
    if podman image exists "$id" 2>/dev/null; then echo "$id"; fi
  done
}

# --- podman: containers, images, the base image and the layers built on it -----------------
if command -v podman >/dev/null; then
  export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/deploy/container/containers.conf}
  containers=$(podman ps -a --format '{{.Names}}' 2>/dev/null | grep -E '^httptrace' || true)
  if [[ -n $containers ]]; then
    log "removing containers: $(echo $containers)"
    podman rm -f -t 2 $containers >/dev/null 2>&1 || true
  fi
  # Ours: images named localhost/httptrace* and the base image; then every image descending from
  # them (podman build --layers keeps intermediate layers as untagged images: a build cache).
  ours=$(podman images -a --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null |
    awk '$1 ~ /^localhost\/httptrace/ || $1 == "localhost/debian:bookworm-slim" {print $2}' |
    sort -u || true)
  if [[ -n $ours ]]; then
    ids=$(podman images -aq --no-trunc 2>/dev/null | sort -u || true)
    # "id parent" for every image, then the closure of ours under "is a child of".
    doomed=$(podman image inspect --format '{{.Id}} {{.Parent}}' $ids 2>/dev/null |
      awk -v ours="$ours" '
        BEGIN { n = split(ours, o, "\n"); for (i = 1; i <= n; i++) mark[o[i]] = 1 }
        { parent[$1] = $2; all[$1] = 1 }
        END {
          # Short ids (12 hex) from `podman images` mark full ids by prefix.
          for (id in all) for (m in mark) if (index(id, m) == 1) keep[id] = 1
          changed = 1
          while (changed) {
            changed = 0
            for (id in all) if (!(id in keep) && (parent[id] in keep)) { keep[id] = 1; changed = 1 }
          }
          for (id in keep) print id
        }' || true)
    count=$(echo "$doomed" | grep -c . || true)
    log "removing $count podman image(s): ours, the base image and layers built on it"
    # Children before parents: repeat until nothing more goes (bounded by the count).
    for ((i = 0; i <= count; i++)); do
      left=$(still_there $doomed)
      [[ -z $left ]] && break
      podman rmi -f $left >/dev/null 2>&1 || true
    done
    left=$(still_there $doomed)
    [[ -z $left ]] || { log "could not remove image(s): $left"; exit 1; }
  fi
fi

# --- files ------------------------------------------------------------------------------------
for path in \
  "$root/deploy/validate/node_modules" \
  "$root/.cache" \
  "${XDG_CACHE_HOME:-$HOME/.cache}/httptrace-render" \
  "${HTTPTRACE_KERNEL_CACHE:-/var/cache/httptrace-kernels}" \
  "${HTTPTRACE_OTLP_JS_CACHE:-/var/cache/httptrace-otlp-js}" \
  "$root/third_party/opentelemetry_proto/protos"; do
  if [[ -e $path ]]; then
    log "removing $path"
    rm -rf "$path"
  fi
done
