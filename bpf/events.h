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
// TCP listeners of the agent's API whose clients are never traced (struct ht_config).
#define HT_MAX_API_PORTS 4

enum ht_event_kind {
  HT_EVENT_DATA = 1,
  HT_EVENT_OPEN = 2,
  HT_EVENT_CLOSE = 3,
  HT_EVENT_LOSS = 4,
  HT_EVENT_SHUTDOWN = 5,  // one direction ended: shutdown(SHUT_WR), or end of stream read
  // A connection classified as none of enum ht_protocol: never copied, but named once (the
  // open event's layout), so sessions can say which connections they did not trace and why.
  HT_EVENT_NOT_TRACED = 6,
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
  HT_DATA_TRUNCATED = 2,    // captured < length: the copy limit, the budget, or the sessions'
                            // HTTP/1 message limit (ht_config.h1_message_limit)
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
  // Plaintext of a TLS library's read/write call (bpf/tls.bpf.h), one buffer; which library is
  // the data event's `tls`.
  HT_SYS_TLS_READ,
  HT_SYS_TLS_WRITE,
};

// The TLS library whose plaintext calls a connection's data came from (ht_data_event.tls).
enum ht_tls_library {
  HT_TLS_NONE = 0,     // plaintext on the socket itself
  HT_TLS_OPENSSL = 1,  // SSL_read/SSL_write(_ex): OpenSSL 1.1/3, BoringSSL, static copies
  HT_TLS_GNUTLS = 2,
  HT_TLS_GO = 3,
};

// The application protocol of a connection, as the classifiers decide it from its first bytes
// (bpf/classify.bpf.h); the agent picks the protocol engine by it
// (agent/protocols/common/protocol.h has the same values). Connections that are none of these are
// never copied.
enum ht_protocol {
  HT_PROTO_UNKNOWN = 0,  // not classified yet (never in an event)
  HT_PROTO_HTTP1 = 1,    // HTTP/1.x
  HT_PROTO_HTTP2 = 2,    // HTTP/2 (prior knowledge, ALPN h2 under TLS, or joined mid-stream)
};

// Per-CPU counters (array map "counters"), summed by the agent. Every drop and truncation has
// its own cause. One list: the enum below and the agent's names ("kernel.<name>") both come from
// it, so they cannot drift apart.
#define HT_COUNTERS(X)                                                                             \
  X(DATA_EVENTS, data_events)               /* data events written to the ring buffer */           \
  X(DATA_BYTES, data_bytes)                 /* payload bytes copied into the ring buffer */        \
  X(CONTROL_EVENTS, control_events)         /* open, close, shutdown and loss events written */    \
  X(RINGBUF_FULL, ringbuf_full)             /* events dropped: bpf_ringbuf_output failed */        \
  X(RINGBUF_FULL_BYTES, ringbuf_full_bytes) /* payload bytes in those dropped data events */       \
  X(SKIP_SELF, skip_self)                   /* syscalls of the agent itself, or of clients of its  \
                                               TCP API, skipped */                                 \
  X(SKIP_PROCESS, skip_process)             /* syscalls rejected by the tgid or cgroup filter */   \
  X(SKIP_CONN_FILTER, skip_conn_filter)     /* syscalls on connections rejected by the port or     \
                                               mount-ns filter */                                  \
  X(SKIP_NOT_SOCKET, skip_not_socket)       /* syscalls on fds that are not sockets */             \
  X(SKIP_NOT_TCP, skip_not_tcp)             /* syscalls on sockets that are not TCP/IP */          \
  X(SKIP_NOT_HTTP, skip_not_http)           /* syscalls on connections classified not HTTP */      \
  X(CONN_NOT_HTTP, conn_not_http)           /* connections classified as not HTTP/1.x */           \
  X(CONN_CREATED, conn_created)             /* connections entered into the kernel table */        \
  X(CONN_TABLE_FULL, conn_table_full)       /* connection or fd table update failed */             \
  X(CALL_TABLE_FULL, call_table_full)       /* no per-thread storage for enter/exit pairing */     \
  X(STALE_CALL, stale_call)                 /* an entry did not match its exit: dropped */         \
  X(TRUNC_LIMIT_BYTES, trunc_limit_bytes)   /* bytes not copied: > HT_MAX_EVENTS_PER_CALL */       \
  X(TRUNC_BUDGET_BYTES, trunc_budget_bytes) /* bytes not copied: connection budget used up */      \
  X(TRUNC_MESSAGE_BYTES, trunc_message_bytes) /* HTTP/1 bytes not copied: past what the sessions   \
                                                 keep of a message (h1_message_limit) */           \
  X(TRUNC_IOV, trunc_iov)                     /* syscalls with more iovecs/messages than walked */ \
  X(READ_USER_FAILED, read_user_failed)       /* bpf_probe_read_user failures (size-only) */       \
  X(SIZE_ONLY_BYTES, size_only_bytes)         /* bytes reported size-only by sendfile */           \
  X(PEEK_SKIPPED, peek_skipped)               /* MSG_PEEK reads, skipped (read again later) */     \
  X(CLASSIFY_READ_FAILED, classify_read_failed) /* first bytes unreadable: not classified, not     \
                                                   copied, tried again at the next syscall */      \
  X(FD_CACHE_STALE, fd_cache_stale)             /* (tgid, fd) cache entries whose socket ended or  \
                                                   whose fd table changed (exec, close_range) */   \
  X(VERDICT_CHANGED, verdict_changed)           /* connections whose filter verdict changed: a new \
                                                   id, so no stream is spliced */                  \
  X(CONN_SHUTDOWN, conn_shutdown)               /* shutdown(SHUT_WR) of a traced connection */     \
  X(CONN_READ_EOF, conn_read_eof)               /* end of stream read on a traced connection */    \
  X(CONN_ENDED, conn_ended)                   /* traced sockets ended (last close, exit, reset) */ \
  X(TLS_CALLS, tls_calls)                     /* TLS library read/write calls that returned data   \
                                                 (bpf/tls.bpf.h) */                                \
  X(TLS_CONNS, tls_conns)                     /* connections found to carry TLS: their plaintext   \
                                                 are read at the library (tls_socks) */            \
  X(TLS_CIPHER_SKIPPED, tls_cipher_skipped)   /* syscalls inside TLS calls: the ciphertext, not    \
                                                 copied (judged not HTTP) */                       \
  X(TLS_NO_FD, tls_no_fd)                     /* TLS calls whose socket was never seen (memory     \
                                                 BIOs): plaintext not tied, not copied */          \
  X(TLS_THREAD_FD, tls_thread_fd)             /* TLS reads tied to their thread's last socket read \
                                                 (memory BIOs: node, python SSLObject) */          \
  X(TLS_CALL_TABLE_FULL, tls_call_table_full) /* no room to pair a TLS call with its return */     \
  X(TLS_TAIL_CALL_FAILED, tls_tail_call_failed) /* Go writes not copied: the jump to the copying   \
                                                   program failed (not set, or too deep) */        \
  X(OWN_API_CONNS, own_api_conns)               /* client connections to the agent's own TCP API   \
                                                   (a ctl's): never traced */

enum ht_counter {
#define HT_COUNTER_ENUM(name, text) HT_CNT_##name,
  HT_COUNTERS(HT_COUNTER_ENUM)
#undef HT_COUNTER_ENUM
      HT_CNT_MAX,
};

// A connection is a kernel socket, not a (tgid, fd): dup/dup2/dup3/F_DUPFD, fds inherited across
// fork and fds passed over unix sockets all name one connection. `id` is unique on the host for
// the life of the agent (a global counter, never reused, also when a socket address is); tgid
// and fd say which process and fd made the syscall behind this event (0/-1 when none did: a
// socket that ended in the network stack, or after its last holder exited).
struct ht_conn_id {
  __u64 id;
  __u32 tgid;
  __s32 fd;
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
  __u8 protocol;   // enum ht_protocol of the connection
  __u8 tls;        // enum ht_tls_library: HT_TLS_NONE, or the library whose plaintext this is
  __u8 reserved[7];
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
  // Of the process that made the syscall behind this event, read there: the agent attributes
  // the connection to a container by them even when that process has exited before user space
  // looks (a forked child that served one connection).
  __u32 mntns;  // mount namespace inode number
  __u32 reserved2;
  __u64 cgroup_id;  // cgroup v2 id (bpf_get_current_cgroup_id)
};

// A process called exec (TLS library discovery: agent/tls/). Ring buffer "tls_execs".
struct ht_exec_event {
  __u32 tgid;
  __u32 reserved;
};

// The socket ended: its last holder closed it (close, exit, exec with O_CLOEXEC, close_range,
// dup2 over it), it was shut down both ways, or the kernel destroyed it (reset, timeout).
struct ht_close_event {
  struct ht_event_header hdr;
  __u64 bytes[2];  // stream bytes seen per direction (egress, ingress)
};

// One direction of a connection ended while the socket lives on. Egress: the traced side sent
// its FIN (shutdown(SHUT_WR)); its sending direction ends at bytes[HT_EGRESS] (a server's
// close-delimited response is complete) and it may still read. Ingress: the traced side read
// the end of the stream (read() returned 0 after the peer's FIN), at bytes[HT_INGRESS] (a
// client's close-delimited response is complete).
struct ht_shutdown_event {
  struct ht_event_header hdr;
  __u64 bytes[2];  // stream bytes seen per direction (egress, ingress)
  __u8 direction;  // enum ht_direction: which one ended
  __u8 reserved[7];
};

struct ht_loss_event {
  struct ht_event_header hdr;
  __u64 bytes;     // payload bytes lost since the last report
  __u8 direction;  // enum ht_direction
  __u8 cause;      // enum ht_loss_cause
  __u8 reserved[2];
  // Syscalls whose first event the ring buffer refused (all of the syscall, or a part beginning
  // with its first bytes) and whose bytes began an HTTP message (a request or status line): the
  // messages lost, exactly when each write or read carries at most one message (the common
  // case), a lower bound otherwise (pipelined messages behind the first).
  __u32 message_starts;
};

// Filter dimensions, in the order of ht_config.unrestricted_since.
enum ht_filter_dim {
  HT_DIM_TGID = 0,
  HT_DIM_CGROUP,
  HT_DIM_MNTNS,
  HT_DIM_PORT,
  HT_DIM_MAX,
};

// The single entry of the "config" array map, written by the agent at any time.
//
// Filter sets (filter_tgids, ...) map a value to the filter epoch since which it has been
// allowed without interruption; while a dimension is unrestricted, values not in its set have
// been allowed since unrestricted_since[dim]. A connection that last passed the filters before
// that epoch may have had bytes skipped while it was excluded: it starts a new connection id
// (mid-stream), so no stream is spliced. The agent updates the sets by difference, so a value
// that stays allowed is never missing, not even for a moment.
struct ht_config {
  __u32 filter_epoch;  // bumped on every filter change: connections re-evaluate their verdict
  __u8 filter_tgid;    // non-zero: only tgids in filter_tgids
  __u8 filter_cgroup;  // non-zero: only cgroup ids in filter_cgroups
  __u8 filter_mntns;   // non-zero: only mount namespaces (inode numbers) in filter_mntns
  __u8 filter_port;    // non-zero: only connections whose local or remote port is in filter_ports
  __u32 copy_limit;    // payload bytes per data event, 1..HT_MAX_CHUNK
  __u32 attach_epoch;  // bumped on every attach: a syscall entered before it is not paired
  __u64 conn_budget;   // payload bytes copied per connection, both directions; 0 = unlimited
  __u32 unrestricted_since[HT_DIM_MAX];  // see above
  // The agent's own TCP API: a connection in the agent's network namespace to one of these
  // ports is a ctl's (or another client's) talk with this agent, another process that
  // self_tgid does not exclude. Its HTTP/2 is never traced, or the trace would feed itself.
  __u32 api_netns;                    // network namespace inode of the agent; 0: no TCP API
  __u16 api_ports[HT_MAX_API_PORTS];  // 0: unused
  // HTTP/1 connections: payload bytes copied per message and direction at most (the largest body
  // limit of the active sessions plus a header allowance, agent/pipeline/kernel_filter_control),
  // counted from the last syscall whose first bytes began a message (http1_begins_message).
  // Stream positions advance over the rest (data events with length > captured). 0: no limit.
  // HTTP/2 connections are never limited this way (HPACK needs every header byte).
  __u32 h1_message_limit;
  __u32 reserved3;
};
