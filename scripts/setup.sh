#!/usr/bin/env bash
# Installs what httptrace's build, tests and demo need on Debian 12, and mounts tracefs.
#
# Idempotent and quiet: when every package is present it only checks (well under a second).
# Usage: scripts/setup.sh        (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  # Build: Debian's Bazel 4.2.3 runs offline with the stand-ins in third_party/.
  bazel-bootstrap g++ clang llvm pkg-config
  # Probes: BPF object, skeleton, loader.
  libbpf-dev bpftool libelf-dev
  # API and libraries.
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libabsl-dev
  libhttp-parser-dev zlib1g-dev libssl-dev nlohmann-json3-dev
  # Go TLS uprobes: the RET instructions of crypto/tls functions (agent/tls/go_functions.h).
  libcapstone-dev
  # httptracectl's command line (header-only).
  libcli11-dev
  # Tests, sanitizers, fuzzing, benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev libfuzzer-14-dev
  # Real traffic for tests, the demo and benchmarks.
  curl nginx-light wrk python3 iproute2 procps
  # The real-servers matrix (test/servers): more servers and clients. busybox-static, not
  # busybox: the qemu kernel tests need a static busybox too, and the two packages conflict.
  apache2 lighttpd busybox-static apache2-utils wget nodejs
  # BoringSSL: its `bssl` tool (bssl-tool) and libssl.so.0 (android-libboringssl, a dependency).
  android-boringssl
  # httptracectl's e2e tests: `top` in a real terminal; HAR opened in Chromium (Playwright).
  tmux chromium
  # What the benchmark (test/bench) compares httptrace with, and its chart.
  tshark strace gnuplot-nox
  # Formatting.
  clang-format
  # Kubernetes chart: rendered with Go's text/template + sprig (deploy/helm/render), offline from
  # Debian's Go sources.
  golang-go golang-github-masterminds-sprig-dev
  # Containers: podman with runc (see deploy/container/containers.conf), compose, and debootstrap
  # for base images when no registry can be reached.
  podman runc podman-compose debootstrap uidmap slirp4netns fuse-overlayfs
  # Kubernetes' runtime for the pod tests: containerd with its CRI plugin (and ctr), started by
  # the test itself with its own config and socket (the package's own service is not used).
  containerd
  # The kernel matrix (test/kernels): Debian's kernels under qemu with a busybox initramfs.
  qemu-system-x86 busybox-static cpio xz-utils zstd kmod
  # HTTP/2 and gRPC: real peers (nghttpd, nghttp, h2load; grpcio for /usr/bin/python3, grpc-go)
  # and nghttp2's HPACK deflater, the reference the HPACK decoder is tested against.
  nghttp2-server nghttp2-client libnghttp2-dev python3-grpcio python3-grpc-tools python3-h2
  golang-google-grpc-dev
  # google.rpc.Status and RetryInfo (.proto files): the OTLP exporter honours a collector's
  # RetryInfo; Debian ships these protos in this package only.
  golang-github-gogo-googleapis-dev
)

log() { printf 'setup: %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
  log "installing ${#missing[@]} package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libbpf attaches tracepoint programs through tracefs, which this kind of machine does not mount
# at boot. The agent mounts it too when it can; mounting here keeps tests independent of that.
if [[ ! -e /sys/kernel/tracing/events ]]; then
  if as_root mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null; then
    log "mounted tracefs on /sys/kernel/tracing"
  else
    log "warning: could not mount tracefs; probes will fall back to raw tracepoints"
  fi
fi

# The chart's objects are validated against the Kubernetes API schemas with the npm package
# kubernetes-models (deploy/validate, versions pinned in package-lock.json).
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v npm >/dev/null; then
  log "installing nodejs and npm"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    nodejs npm >/dev/null
fi
if [[ ! -d $root/deploy/validate/node_modules/kubernetes-models ||
  $root/deploy/validate/package-lock.json -nt $root/deploy/validate/node_modules ]]; then
  log "installing deploy/validate's npm packages"
  (cd "$root/deploy/validate" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# OpenTelemetry's OTLP schema (agent/export, test/otlp), from its official .proto files rather
# than by hand. The newest registry package that still ships them is npm's
# @opentelemetry/otlp-grpc-exporter-base 0.38.0 (build/protos/; 0.39 on carry generated JS
# only). Pinned by version and npm's sha512 integrity; Bazel compiles them with Debian's protoc
# (third_party/opentelemetry_proto/BUILD.bazel).
otlp_package=@opentelemetry/otlp-grpc-exporter-base@0.38.0
otlp_integrity=sha512-wwGxeJt80w+mIA0aE+K9OshkyEoYQrXuwXl1TNZBs9K7qE4AAiEuxU9cbd3VX3BTsp+xzNcDRWIb9WWkiU9+kA==
otlp_dir=$root/third_party/opentelemetry_proto/protos
if [[ $(cat "$otlp_dir/SOURCE" 2>/dev/null) != "$otlp_package $otlp_integrity" ]]; then
  log "fetching the OpenTelemetry protos ($otlp_package)"
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "$otlp_package" >/dev/null)
  tarball=$(echo "$scratch"/*.tgz)
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ $actual != "$otlp_integrity" ]]; then
    log "error: $otlp_package: integrity $actual, want $otlp_integrity"
    rm -rf "$scratch"
    exit 1
  fi
  tar -xzf "$tarball" -C "$scratch" package/build/protos package/LICENSE
  rm -rf "$otlp_dir"
  mkdir -p "$otlp_dir"
  cp -r "$scratch/package/build/protos/opentelemetry" "$scratch/package/LICENSE" "$otlp_dir/"
  echo "$otlp_package $otlp_integrity" >"$otlp_dir/SOURCE"
  rm -rf "$scratch"
fi
