#!/usr/bin/env bash
# Downloads one of Debian's kernels into the kernel cache (never into the host's /boot) and
# prepares what a qemu boot needs: the uncompressed vmlinux (booted through qemu's PVH entry, which
# skips ~10 s of decompression under TCG) and the package's modules with a modules.dep.
#
# Usage: fetch_kernel.sh SERIES         SERIES: 5.10 | 6.1 | 6.12
# Prints the kernel's directory: DIR/vmlinux, DIR/version, and DIR/modules/ with the modules the
# guest needs to mount the host over virtio-9p (decompressed; DIR/modules/order is the load order).
#
# The cache is $HTTPTRACE_KERNEL_CACHE (default /var/cache/httptrace-kernels), outside the
# repository so that every checkout and CI run shares it. A series is resolved to Debian's newest
# package once and then reused; HTTPTRACE_KERNEL_REFRESH=1 resolves again. The apt configuration is
# private to the cache (its own sources, lists and archives): the host's sources stay untouched,
# and 5.10 comes from bullseye-security although the host runs bookworm.
set -euo pipefail

series=${1:?usage: fetch_kernel.sh 5.10|6.1|6.12}
cache=${HTTPTRACE_KERNEL_CACHE:-/var/cache/httptrace-kernels}
apt_dir=$cache/apt

case $series in
  5.10) pattern='^linux-image-5\.10\.0-[0-9]+-amd64$' ;;
  6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
  6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
  *)
    echo "fetch_kernel.sh: unknown kernel series '$series' (5.10, 6.1 or 6.12)" >&2
    exit 2
    ;;
esac

log() { printf 'fetch_kernel: %s\n' "$*" >&2; }

apt_opts=(
  -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
  -o "Dir::Etc::sourceparts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Get::List-Cleanup=0"
  -o "APT::Sandbox::User=root"
)

# One lock per cache: two runs (two worktrees, a test and a person) must not unpack into the same
# directory at once.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

link=$cache/$series
if [[ -e $link/modules/order && ${HTTPTRACE_KERNEL_REFRESH:-0} != 1 ]]; then
  readlink -f "$link"
  exit 0
fi

mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
cat >"$apt_dir/sources.list" <<SOURCES
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bullseye-security main
SOURCES
# The lists are refreshed at most once a day (a fresh cache always fetches them).
stamp=$apt_dir/lists/.updated
if [[ ! -e $stamp || -n $(find "$stamp" -mmin +1440) || ${HTTPTRACE_KERNEL_REFRESH:-0} == 1 ]]; then
  log "updating the kernel cache's package lists (bookworm, bookworm-security, bullseye-security)"
  apt-get "${apt_opts[@]}" -qq update
  touch "$stamp"
fi

pkg=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- | grep -E "$pattern" | sort -V | tail -n 1 || true)
if [[ -z $pkg ]]; then
  echo "fetch_kernel.sh: no package matching $pattern in the kernel cache's lists" >&2
  exit 1
fi
version=${pkg#linux-image-}
dir=$cache/$version
if [[ ! -e $dir/modules/order ]]; then
  log "downloading $pkg"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "$pkg")
  deb=$(ls -t "$apt_dir/debs/${pkg}_"*.deb | head -n 1)
  dpkg-deb -x "$deb" "$dir.tmp/root"
  # The package ships no modules.dep (its postinst runs depmod): make one for modprobe -d.
  depmod -b "$dir.tmp/root" "$version"
  # vmlinuz is a bzImage whose payload is one compressed stream (xz up to 6.1, zstd in 6.12): find
  # its magic and decompress (the tools complain about the bytes after the stream; the output is
  # complete, and checked to be an ELF).
  vmlinuz=$dir.tmp/root/boot/vmlinuz-$version
  decompressed=""
  for format in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd'; do
    tool=${format%%:*}
    offset=$(LC_ALL=C grep -obUaP "${format#*:}" "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
    [[ -n $offset ]] || continue
    tail -c +$((offset + 1)) "$vmlinuz" | "$tool" -dc >"$dir.tmp/vmlinux" 2>/dev/null || true
    if [[ $(head -c 4 "$dir.tmp/vmlinux" | od -An -c | tr -d ' ') == '177ELF' ]]; then
      decompressed=$tool
      break
    fi
  done
  if [[ -z $decompressed ]]; then
    echo "fetch_kernel.sh: found no xz or zstd stream in $vmlinuz that decompresses to an ELF" >&2
    exit 1
  fi
  # Only the modules the initramfs loads are kept (the package unpacks to ~400 MB): virtio-pci and
  # 9p with their dependencies, in modprobe's order. 6.12's are xz-compressed; busybox's insmod
  # wants them plain.
  mkdir -p "$dir.tmp/modules"
  : >"$dir.tmp/modules/order"
  modprobe -d "$dir.tmp/root" -S "$version" -a --show-depends virtio_pci 9pnet_virtio 9p |
    awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    name=$(basename "$ko")
    name=${name%.xz}
    grep -qxF "$name" "$dir.tmp/modules/order" && continue
    case $ko in
      *.xz) xz -dc "$ko" >"$dir.tmp/modules/$name" ;;
      *) cp "$ko" "$dir.tmp/modules/$name" ;;
    esac
    echo "$name" >>"$dir.tmp/modules/order"
  done
  echo "$version" >"$dir.tmp/version"
  rm -rf "$dir.tmp/root" "$deb"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
ln -sfn "$version" "$link"
log "kernel $series is $version ($dir)"
echo "$dir"
