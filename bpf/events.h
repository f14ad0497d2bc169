// The wire format between the capture probes (capture.bpf.c) and the agent (agent/capture/).
// Plain fixed-width C types only: no pointers, no kernel types. Both sides include this file and
// the C++ side static_asserts every size, so a layout change breaks the build, not the data.

#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define HT_COMM_LEN 16
// Largest payload of one data event. A syscall's data larger than the copy limit is split into
// several events (chunks) with consecutive stream positions.
#define HT_MAX_CHUNK 16384
// At most this many data events for one syscall; what is left is reported size-only (truncated).
#define HT_MAX_EVENTS_PER_CALL 128
// At most this many iovecs are walked per message, and messages per recvmmsg/sendmmsg.
#define HT_MAX_IOV 1024
#define HT_MAX_MMSG 32

enum ht_event_kind {
  HT_EVENT_DATA = 1,
  HT_EVENT_OPEN = 2,
  HT_EVENT_CLOSE = 3,
  HT_EVENT_LOSS = 4,
};

enum ht_direction {
  HT_EGRESS = 0,   // the process wrote
  HT_INGRESS = 1,  // the process read
};

enum ht_role {
  HT_ROLE_UNKNOWN = 0,
  HT_ROLE_CLIENT = 1,
  HT_ROLE_SERVER = 2,
};

enum ht_data_flags {
  HT_DATA_SIZE_ONLY = 1,    // sendfile: the kernel never sees the bytes in user memory
  HT_DATA_TRUNCATED = 2,    // captured < length because of the copy limit or the budget
  HT_DATA_READ_FAILED = 4,  // bpf_probe_read_user failed (page not resident): bytes not copied
};

enum ht_loss_cause {
  HT_LOSS_RINGBUF_FULL = 1,  // data events of this connection were dropped: ring buffer full
};

// Syscalls as the probes name them (not the architecture's numbers).
enum ht_syscall {
  HT_SYS_READ = 1,
  HT_SYS_WRITE,
  HT_SYS_READV,
  HT_SYS_WRITEV,
  HT_SYS_RECVFROM,
  HT_SYS_SENDTO,
  HT_SYS_RECVMSG,
  HT_SYS_SENDMSG,
  HT_SYS_RECVMMSG,
  HT_SYS_SENDMMSG,
  HT_SYS_SENDFILE,
  HT_SYS_CONNECT,
  HT_SYS_ACCEPT,
  HT_SYS_ACCEPT4,
  HT_SYS_CLOSE,
};

// Per-CPU counters (array map "counters"), summed by the agent. Every drop and truncation has
// its own cause; names in ht_counter_names() on the agent side must follow this order.
enum ht_counter {
  HT_CNT_DATA_EVENTS = 0,     // data events written to the ring buffer
  HT_CNT_DATA_BYTES,          // payload bytes copied into the ring buffer
  HT_CNT_CONTROL_EVENTS,      // open, close and loss events written
  HT_CNT_RINGBUF_FULL,        // events dropped: bpf_ringbuf_output failed
  HT_CNT_RINGBUF_FULL_BYTES,  // payload bytes in those dropped data events
  HT_CNT_SKIP_SELF,           // syscalls of the agent itself, skipped
  HT_CNT_SKIP_PROCESS,        // syscalls rejected by the tgid or cgroup filter
  HT_CNT_SKIP_CONN_FILTER,    // syscalls on connections rejected by the port or mount-ns filter
  HT_CNT_SKIP_NOT_SOCKET,     // syscalls on fds that are not sockets (files, pipes, ...)
  HT_CNT_SKIP_NOT_TCP,        // syscalls on sockets that are not TCP over IPv4/IPv6 (unix, UDP)
  HT_CNT_SKIP_NOT_HTTP,       // syscalls on connections classified as not HTTP/1.x
  HT_CNT_CONN_NOT_HTTP,       // connections classified as not HTTP/1.x
  HT_CNT_CONN_CREATED,        // connections entered into the kernel table
  HT_CNT_CONN_TABLE_FULL,     // connection table update failed
  HT_CNT_CALL_TABLE_FULL,     // task storage for enter/exit pairing unavailable: data lost
  HT_CNT_STALE_CALL,          // a recorded entry did not match its exit (other syscall, earlier
                              // attach): dropped
  HT_CNT_TRUNC_LIMIT_BYTES,   // bytes not copied: more than HT_MAX_EVENTS_PER_CALL chunks
  HT_CNT_TRUNC_BUDGET_BYTES,  // bytes not copied: per-connection budget exhausted
  HT_CNT_TRUNC_IOV,           // syscalls with more iovecs/messages than the probes walk
  HT_CNT_READ_USER_FAILED,    // bpf_probe_read_user failures (bytes reported size-only)
  HT_CNT_SIZE_ONLY_BYTES,     // bytes reported size-only by sendfile
  HT_CNT_PEEK_SKIPPED,        // MSG_PEEK reads, skipped (the bytes are read again later)
  HT_CNT_MAX,
};

struct ht_conn_id {
  __u32 tgid;
  __s32 fd;
  __u32 generation;  // distinguishes successive connections on the same (tgid, fd)
  __u32 reserved;
};

struct ht_event_header {
  __u8 kind;  // enum ht_event_kind
  __u8 reserved[3];
  __u32 tid;
  struct ht_conn_id conn;
  __u64 timestamp_ns;  // bpf_ktime_get_boot_ns()
};

// Followed by `captured` payload bytes. Stream positions are per connection and direction,
// counted from the connection's first byte the probes saw.
struct ht_data_event {
  struct ht_event_header hdr;
  __u64 position;  // stream offset of data[0]
  __u64 length;    // true bytes this event stands for (>= captured)
  __u32 captured;  // payload bytes that follow
  __u8 direction;  // enum ht_direction
  __u8 flags;      // enum ht_data_flags
  __u8 syscall;    // enum ht_syscall
  __u8 reserved;
  char comm[HT_COMM_LEN];
  __u8 data[];
};

struct ht_open_event {
  struct ht_event_header hdr;
  __u8 role;    // enum ht_role (inferred from the first data when not seen connect/accept)
  __u8 family;  // AF_INET or AF_INET6
  __u16 local_port;
  __u16 remote_port;
  __u16 reserved;
  __u8 local_addr[16];  // IPv4 in the first 4 bytes, network order
  __u8 remote_addr[16];
  char comm[HT_COMM_LEN];
  __u64 opened_ns;  // connect/accept time, or first-seen time
};

struct ht_close_event {
  struct ht_event_header hdr;
  __u64 bytes[2];  // stream bytes seen per direction (egress, ingress)
};

struct ht_loss_event {
  struct ht_event_header hdr;
  __u64 bytes;     // payload bytes lost since the last report
  __u8 direction;  // enum ht_direction
  __u8 cause;      // enum ht_loss_cause
  __u8 reserved[6];
};

// The single entry of the "config" array map, written by the agent at any time.
struct ht_config {
  __u32 filter_epoch;  // bumped on every filter change: connections re-evaluate their verdict
  __u8 filter_tgid;    // non-zero: only tgids in filter_tgids
  __u8 filter_cgroup;  // non-zero: only cgroup ids in filter_cgroups
  __u8 filter_mntns;   // non-zero: only mount namespaces (inode numbers) in filter_mntns
  __u8 filter_port;    // non-zero: only connections whose local or remote port is in filter_ports
  __u32 copy_limit;    // payload bytes per data event, 1..HT_MAX_CHUNK
  __u32 attach_epoch;  // bumped on every attach: a syscall entered before it is not paired
  __u64 conn_budget;   // payload bytes copied per connection, both directions; 0 = unlimited
};
