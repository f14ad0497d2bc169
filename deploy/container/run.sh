#!/usr/bin/env bash
# One-liners for httptrace in containers, with Docker or Podman (the seed's make docker-*/podman-*):
#
#   deploy/container/run.sh [--engine docker|podman] build   # Bazel build + images
#   deploy/container/run.sh [--engine docker|podman] up      # agent, demo app, ctl -> traces/
#   deploy/container/run.sh [--engine docker|podman] test    # demo requests; shows the trace
#   deploy/container/run.sh [--engine docker|podman] logs    # the services' logs
#   deploy/container/run.sh [--engine docker|podman] down    # stop and remove everything
#
# The engine defaults to $ENGINE, else Docker when its daemon answers, else Podman. Run as root
# (the agent gets CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE, as in the Helm chart; rootful
# Podman). No engine API service is needed: container names come from the engine's own records.
# Variables: see compose.yaml; IMAGE_TAG (latest),
# AGENT_BIN/CTL_BIN (use these binaries instead of building with Bazel), IMAGE_CONTEXT (where the
# build context is staged; default .cache/image-context).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PROJECT=httptrace
IMAGE=localhost/httptrace:${IMAGE_TAG:-latest}
DEMO_IMAGE=localhost/httptrace-demo-app:${IMAGE_TAG:-latest}

log() { printf 'run.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ENGINE=${ENGINE:-}
while (($#)); do
  case $1 in
    --engine) ENGINE=${2:?--engine needs docker or podman}; shift 2 ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
COMMAND=${1:-}
[[ -n $COMMAND ]] || { sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2; }
if [[ -z $ENGINE ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
case $ENGINE in
  docker) ;;
  podman)
    # The project's podman settings (runc, no default ulimits, cgroupfs), unless the caller has
    # their own.
    export CONTAINERS_CONF=${CONTAINERS_CONF:-$HERE/containers.conf} ;;
  *) die "unknown engine '$ENGINE' (docker or podman)" ;;
esac
command -v "$ENGINE" >/dev/null || die "$ENGINE is not installed"

export HTTPTRACE_RUN_DIR=${HTTPTRACE_RUN_DIR:-/run/httptrace}
export TRACES_DIR=${TRACES_DIR:-$REPO/traces}
export OUTPUT_FILE=${OUTPUT_FILE:-/traces/http-trace.txt}
export DEMO_PORT=${DEMO_PORT:-8080}
export NODE_NAME=${NODE_NAME:-$(hostname)}

compose() {
  if [[ $ENGINE == docker ]]; then
    if docker compose version >/dev/null 2>&1; then
      docker compose -f "$HERE/compose.yaml" -p "$PROJECT" "$@"
    else
      docker-compose -f "$HERE/compose.yaml" -p "$PROJECT" "$@"
    fi
  else
    command -v podman-compose >/dev/null || die "podman-compose is missing (apt-get install podman-compose)"
    # Debian 12's podman-compose (1.0.3) ignores `pid:` and `cgroup:`: pass them to every
    # container (harmless for the demo app and the ctl).
    podman-compose -f "$HERE/compose.yaml" -p "$PROJECT" \
      --podman-run-args="--pid=host --cgroupns=host" "$@"
  fi
}

# Host path of the engine's API socket (optional; Docker's when it runs), mounted read-only.
engine_socket() {
  if [[ $ENGINE == docker ]]; then
    local docker_host=${DOCKER_HOST:-unix:///var/run/docker.sock}
    [[ $docker_host == unix://* ]] || docker_host=unix:///var/run/docker.sock
    echo "${ENGINE_SOCKET:-${docker_host#unix://}}"
  else
    echo "${ENGINE_SOCKET:-/run/podman/podman.sock}"
  fi
}

# The engine's storage root and its directory of container records (names, no API needed).
export_container_store() {
  if [[ $ENGINE == docker ]]; then
    CONTAINER_STORE_ROOT=${CONTAINER_STORE_ROOT:-$(docker info --format '{{.DockerRootDir}}')}
    CONTAINER_STORE_DIR=${CONTAINER_STORE_DIR:-$CONTAINER_STORE_ROOT/containers}
  else
    CONTAINER_STORE_ROOT=${CONTAINER_STORE_ROOT:-$(podman info --format '{{.Store.GraphRoot}}')}
    CONTAINER_STORE_DIR=${CONTAINER_STORE_DIR:-$CONTAINER_STORE_ROOT/$(podman info --format '{{.Store.GraphDriverName}}')-containers}
  fi
  mkdir -p "$CONTAINER_STORE_DIR"  # a fresh engine writes it with its first container
  export CONTAINER_STORE_ROOT CONTAINER_STORE_DIR
}

runtime_packages() {  # the Debian packages that hold the libraries the binaries link
  local lib real candidate owner
  for lib in $(ldd "$@" | awk '/=> \//{print $3}' | sort -u); do
    real=$(readlink -f "$lib")
    for candidate in "$real" "${real#/usr}" "/usr$real"; do
      if owner=$(dpkg -S "$candidate" 2>/dev/null); then
        echo "${owner%%:*}"
        break
      fi
    done
  done | sort -u
}

build() {
  local start agent ctl context
  start=$(date +%s)
  agent=${AGENT_BIN:-$REPO/bazel-bin/agent/httptrace-agent}
  ctl=${CTL_BIN:-$REPO/bazel-bin/cli/httptracectl}
  if [[ -z ${AGENT_BIN:-} || -z ${CTL_BIN:-} ]]; then
    log "bazel build //agent:httptrace-agent //cli:httptracectl"
    (cd "$REPO" && bazel build --noshow_progress //agent:httptrace-agent //cli:httptracectl)
  fi
  [[ -x $agent && -x $ctl ]] || die "binaries missing: $agent $ctl"
  context=${IMAGE_CONTEXT:-$REPO/.cache/image-context}
  rm -rf "$context"
  mkdir -p "$context"
  cp "$agent" "$context/httptrace-agent"
  cp "$ctl" "$context/httptracectl"
  chmod u+w "$context"/*
  cp "$HERE/ctl-entrypoint.sh" "$HERE/demo_client.py" "$REPO/test/apps/demo_app.py" "$context/"
  runtime_packages "$context/httptrace-agent" "$context/httptracectl" >"$context/runtime-packages.txt"
  log "runtime packages: $(tr '\n' ' ' <"$context/runtime-packages.txt")"
  local build_args=()
  if [[ $ENGINE == podman ]]; then
    "$HERE/base-image.sh" --engine podman
    # apt-get inside the build reaches Debian through the host's network.
    build_args=(--network host --layers)
  else
    build_args=(--network host)
  fi
  "$ENGINE" build "${build_args[@]}" -t "$IMAGE" -f "$HERE/Containerfile" "$context"
  "$ENGINE" build "${build_args[@]}" -t "$DEMO_IMAGE" -f "$HERE/Containerfile.demo-app" "$context"
  # Each rebuild leaves the previous images untagged: drop ours (and only ours).
  "$ENGINE" image prune -f --filter label=io.httptrace.image >/dev/null 2>&1 || true
  log "built $IMAGE and $DEMO_IMAGE in $(($(date +%s) - start)) s"
}

up() {
  "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE: run '$0 --engine $ENGINE build' first"
  local socket
  socket=$(engine_socket)
  # Compose would create a directory in place of a missing socket.
  [[ -S $socket ]] || socket=/dev/null
  export ENGINE_SOCKET=$socket
  export_container_store
  mkdir -p "$TRACES_DIR" "$HTTPTRACE_RUN_DIR"
  compose up -d
  log "up: the trace goes to $TRACES_DIR/$(basename "$OUTPUT_FILE"); '$0 test' sends demo requests"
}

run_test() {
  local trace=$TRACES_DIR/$(basename "$OUTPUT_FILE")
  export ENGINE_SOCKET=${ENGINE_SOCKET:-/dev/null}
  export_container_store
  # Inside the demo app's container: the requests stay on that container's loopback.
  compose exec -T demo-app python3 /app/demo_client.py --port "$DEMO_PORT" --rounds "${ROUNDS:-2}"
  for _ in $(seq 50); do
    [[ -s $trace ]] && grep -q 'Response' "$trace" && break
    sleep 0.2
  done
  [[ -s $trace ]] || die "no trace in $trace yet (see '$0 logs')"
  log "$trace:"
  cat "$trace"
}

down() {
  export ENGINE_SOCKET=${ENGINE_SOCKET:-/dev/null}
  export_container_store
  compose down || true
  # podman-compose 1.0.3 leaves the project's network behind.
  [[ $ENGINE == podman ]] && podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
}

case $COMMAND in
  build) build ;;
  up) up ;;
  test) run_test ;;
  logs) export ENGINE_SOCKET=${ENGINE_SOCKET:-/dev/null}; export_container_store; compose logs ;;
  down) down ;;
  *) die "unknown command '$COMMAND' (build, up, test, logs, down)" ;;
esac
