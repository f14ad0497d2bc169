#!/usr/bin/env bash
# Makes the base images the Containerfiles start FROM when they are not in podman's store and no
# registry can be reached (this project's build machines):
#   localhost/debian:bookworm-slim  from `debootstrap --variant=minbase bookworm`
# On a machine that reaches a registry, pass --pull to pull the public debian:bookworm-slim
# instead; the Containerfiles take the base through the BASE_IMAGE build argument either way.
#
# Usage: deploy/container/base-image.sh [--pull] [--engine podman|docker]
set -euo pipefail

ENGINE=${ENGINE:-podman}
PULL=0
while (($#)); do
  case $1 in
    --pull) PULL=1 ;;
    --engine) ENGINE=$2; shift ;;
    *) echo "usage: $0 [--pull] [--engine podman|docker]" >&2; exit 2 ;;
  esac
  shift
done

# debootstrap, and the chroot and mknod it runs, live in /usr/sbin, which is not on every PATH
# (Bazel's test PATH is /bin:/usr/bin:/usr/local/bin).
export PATH=$PATH:/usr/sbin:/sbin
NAME=localhost/debian:bookworm-slim
log() { printf 'base-image: %s\n' "$*" >&2; }

if "$ENGINE" image exists "$NAME" 2>/dev/null ||
  { [[ $ENGINE == docker ]] && docker image inspect "$NAME" >/dev/null 2>&1; }; then
  log "$NAME is present"
  exit 0
fi

if ((PULL)); then
  "$ENGINE" pull debian:bookworm-slim
  "$ENGINE" tag debian:bookworm-slim "$NAME"
  exit 0
fi

command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
ROOT=$(mktemp -d /var/tmp/httptrace-rootfs.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
start=$(date +%s)
log "debootstrap --variant=minbase bookworm (about half a minute)"
debootstrap --variant=minbase bookworm "$ROOT" >"$ROOT.log" 2>&1 ||
  { tail -20 "$ROOT.log" >&2; rm -f "$ROOT.log"; exit 1; }
rm -f "$ROOT.log"
# Like the public slim image: no apt caches or docs.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* \
  "$ROOT"/usr/share/man/*
tar -C "$ROOT" -c . | "$ENGINE" import - "$NAME" >/dev/null
log "imported $NAME in $(($(date +%s) - start)) s"
