#!/bin/busybox sh
# /init of the kernel matrix's initramfs (see run_kernel.sh): loads the virtio-9p modules, mounts
# the host's / read-only and the results share writable, makes the host's tree usable as a root
# (tmpfs where tests write (HOME is /tmp: /root holds the Bazel output base), proc, sys, dev, tracefs, bpffs, cgroup2, loopback up), runs the job
# the host left in the results share inside a chroot of it, and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host /results
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do
  insmod "/modules/$m" || echo "guest: insmod $m failed"
done

say() { echo "guest: $*"; }
poweroff_now() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 10
}

# Large 9p messages: the default 8 KiB makes reading the test binaries slow.
opts=trans=virtio,version=9p2000.L,msize=262144,cache=loose
if ! mount -t 9p -o "$opts,ro" host /host; then
  say "cannot mount the host's / over 9p"
  poweroff_now
fi
if ! mount -t 9p -o "$opts" results /results; then
  say "cannot mount the results share"
  poweroff_now
fi

r=/host
mount -t tmpfs tmpfs $r/tmp
mount -t tmpfs tmpfs $r/run
mount -t tmpfs tmpfs $r/var/tmp
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t bpf bpf $r/sys/fs/bpf
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup
mount -t debugfs debugfs $r/sys/kernel/debug 2>/dev/null
mkdir -p $r/run/results
mount --bind /results $r/run/results
ip link set lo up
# Without a clock source the guest's date would start in 1970; the host passed its time.
if [ -f /results/epoch ]; then date -s "@$(cat /results/epoch)" >/dev/null; fi

say "kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime) s"
# What run_kernel.sh asked of a stall: a panic (1 and 1). Worded so that run_kernel.sh's search
# of the console for a stall never matches this line.
say "softlockup_panic $(cat /proc/sys/kernel/softlockup_panic), panic_on_rcu_stall $(cat /proc/sys/kernel/panic_on_rcu_stall)"
chroot $r /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/tmp LANG=C.UTF-8 TMPDIR=/tmp /bin/bash /run/results/job.sh
echo "$?" >/results/job.rc
say "job ended with status $(cat /results/job.rc)"
poweroff_now
