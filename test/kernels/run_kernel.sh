#!/usr/bin/env bash
# Boots one of Debian's kernels under qemu (TCG) with the host's / shared read-only and runs a job
# script inside a chroot of it (see guest_init.sh); the job's files come back in RESULTS_DIR.
#
# Usage: run_kernel.sh SERIES RESULTS_DIR JOB_SCRIPT [TIMEOUT_SECONDS]
#   SERIES       5.10 | 6.1 | 6.12 (fetched and cached by fetch_kernel.sh)
#   RESULTS_DIR  an empty writable directory; the guest sees it as /run/results
#   JOB_SCRIPT   a bash script, run in the guest as root with a clean environment
# Exit status: the job's, or 123 when the guest kernel reported a soft lockup or an RCU stall (and
# panicked at once, see below), 124 when it did not finish in time, 125 when it did not run.
# RESULTS_DIR/console.log is the guest's serial console.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
series=${1:?usage: run_kernel.sh SERIES RESULTS_DIR JOB_SCRIPT [TIMEOUT]}
results=$(readlink -f "${2:?results dir}")
job=${3:?job script}
timeout_s=${4:-600}

kdir=$("$here/fetch_kernel.sh" "$series")

# The initramfs: static busybox, /init, the 9p modules. Made per run (a few MB, well under a
# second), so a change to guest_init.sh takes effect at once.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/modules"
cp /usr/bin/busybox "$work/root/bin/busybox"
cp "$here/guest_init.sh" "$work/root/init"
chmod 755 "$work/root/init"
cp "$kdir"/modules/*.ko "$kdir/modules/order" "$work/root/modules/"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

cp "$job" "$results/job.sh"
date +%s >"$results/epoch"
rm -f "$results/job.rc"

# TCG: KVM is not usable on this kind of machine (design.md). 2 vCPUs, 1 GiB, on single-threaded
# TCG: with thread=multi, qemu 7.2 sometimes keeps running its old translation of kernel code the
# guest has just live-patched (the int3 of a static-key switch, when a tracepoint is enabled or
# disabled), and both vCPUs trap on that int3 forever (README.md, "Soft lockups"). The guests are
# mostly idle under the tests, so one host thread costs little.
# The uncompressed vmlinux boots through the PVH entry. random.trust_cpu: TCG emulates RDRAND,
# so the guest's entropy pool is ready at boot and nothing blocks in getrandom().
# A guest that reports a soft lockup or an RCU stall panics at once instead of hanging until the
# timeout (softlockup_panic, panic_on_rcu_stall; panic=-1 with -no-reboot ends qemu), and
# loglevel=5 with softlockup_all_cpu_backtrace puts every CPU's backtrace on the console, which
# is then shown below.
cmdline="console=ttyS0 panic=-1 rdinit=/init quiet mitigations=off random.trust_cpu=on"
cmdline+=" loglevel=5 softlockup_all_cpu_backtrace=1 softlockup_panic=1 sysctl.kernel.panic_on_rcu_stall=1"
status=0
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
  -nodefaults -no-user-config -no-reboot -display none -monitor none \
  -machine pc -accel tcg,thread=single,tb-size=256 -cpu max -m 1G -smp 2 \
  -kernel "$kdir/vmlinux" -initrd "$work/initrd.gz" \
  -append "$cmdline" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$results,mount_tag=results,security_model=none,multidevs=remap" \
  -serial "file:$results/console.log" || status=$?

# The first lockup or stall line and every CPU's backtrace after it.
stall='soft lockup|detected stalls|self-detected stall'
if [[ ! -s $results/job.rc ]] && grep -qE "$stall" "$results/console.log" 2>/dev/null; then
  echo "run_kernel.sh: kernel $series reported a soft lockup or an RCU stall (console: $results/console.log):" >&2
  grep -m 1 -A 80 -E "$stall" "$results/console.log" | sed 's/^/     /' >&2
  exit 123
fi
if [[ $status == 124 || $status == 137 ]]; then
  echo "run_kernel.sh: kernel $series did not finish within ${timeout_s}s (console: $results/console.log)" >&2
  exit 124
fi
if [[ ! -s $results/job.rc ]]; then
  echo "run_kernel.sh: the job did not run on kernel $series (qemu status $status); console:" >&2
  tail -n 30 "$results/console.log" >&2 || true
  exit 125
fi
exit "$(cat "$results/job.rc")"
