// Kernel-only state of the capture probes: every map with one line on what it holds, the
// per-connection record and the per-syscall record. Included by capture.bpf.c only; the agent
// sees these maps through the generated skeleton (capture.skel.h).

#pragma once

#include "bpf/events.h"

// conn_state.protocol of a connection classified as none of enum ht_protocol: never copied.
#define HT_PROTO_NONE 0xff

// A connection seen from its start (connect/accept) is judged on its first bytes. One found
// mid-stream (opened before capture started) may be in the middle of a body: its syscalls are
// checked for the start of a message this many times before it is declared not HTTP.
#define HT_TRIES_FROM_START 1
#define HT_TRIES_MID_STREAM 16

// The (tgid, fd) a syscall names. Only a cache key: connections are keyed by their socket.
struct conn_key {
  __u32 tgid;
  __s32 fd;
};

// What (tgid, fd) referred to when last looked up: a socket and its connection id. Valid while
// the socket's record still has that id and the process's fd table has not been replaced or
// bulk-closed since (fd_epoch: exec with O_CLOEXEC, close_range), which close()/dup2()/dup3()
// handle by deleting the entry.
struct fd_ref {
  __u64 sk;        // struct sock address: the key of `socks`
  __u64 id;        // conn_state.id when cached
  __u32 fd_epoch;  // fd_epochs[tgid] when cached
  __u32 reserved;
};

// A negative cache: (tgid, fd) found not to be a TCP socket. Entries expire after this many
// jiffies (0.25 s at HZ=1000, 1 s at HZ=250), because an fd can change meaning without a close()
// the probes see (exec, close_range). Jiffies, not bpf_ktime_get_ns(): reading the TSC was ~10%
// of a traced pipe write on this VM.
#define HT_SKIP_TTL_JIFFIES 250ULL

struct skip_fd {
  __u64 checked_jiffies;  // bpf_jiffies64() at the fd-table walk
  __u32 reason;           // enum ht_counter to count hits under
  __u32 reserved;
};

// One TCP connection: one kernel socket, whichever processes and fds use it. Positions are per
// socket and direction, so two processes or fds writing one socket stay in one ordered stream.
struct conn_state {
  __u64 id;              // from next_conn_id: unique, never reused (struct sock addresses are)
  __u64 sk;              // its key in `socks`
  __u64 pos[2];          // next stream position per direction
  __u64 lost[2];         // payload bytes dropped (ring buffer full) not yet reported
  __u64 lost_starts[2];  // syscalls whose first event was refused and began an HTTP message
  __u64 copied;          // payload bytes copied so far (the budget counts these)
  // HTTP/1: payload bytes copied per direction since the last syscall whose first bytes began a
  // message (ht_config.h1_message_limit caps it).
  __u32 msg_copied[2];
  __u64 opened_ns;     // connect/accept or first-seen time
  __u32 filter_epoch;  // ht_config.filter_epoch when `allowed` was computed
  __u32 passed_epoch;  // latest filter epoch in which a syscall of it passed every filter
  __u32 mntns;         // mount namespace inode number of the owning process
  __u8 role;           // enum ht_role
  __u8 protocol;       // enum ht_protocol, or HT_PROTO_NONE
  __u8 allowed;        // verdict of the port and mount-ns filters
  __u8 open_sent;      // the open event went out (close events follow only then)
  __u8 family;
  __u8 tries_left;    // first-bytes checks left before a connection is declared not HTTP
  __u8 egress_shut;   // the shutdown event went out
  __u8 verdict_seen;  // `allowed` has been computed once (a later change starts a new id)
  __u16 local_port;
  __u16 remote_port;
  __u8 ingress_eof;  // the end-of-stream (ingress shutdown) event went out
  __u8 tls;          // enum ht_tls_library: data comes from the library's plaintext calls
  __u8 own_api;      // a client of the agent's own API (ht_config.api_ports): never traced
  // The HTTP/2 connection preface went by on this HTTP/1 connection (h2c upgrade): its frames
  // are never cut by h1_message_limit (HPACK needs every header byte).
  __u8 h1_unlimited;
  __u8 local_addr[16];
  __u8 remote_addr[16];
};

// What a syscall's exit needs from its entry.
struct call_args {
  __u64 buf;    // buffer, iovec array, msghdr or mmsghdr array (user pointer)
  __u64 count;  // buffer length, iovec count or message count
  __u64 id;     // of the connection at entry: the exit drops data if the fd was reused
  __s32 fd;
  __u32 attach_epoch;  // ht_config.attach_epoch at entry
  __u8 sys;            // enum ht_syscall, checked at exit against the exiting syscall; 0: none
  __u8 reserved[7];
};

// State of the copy loops of one syscall exit (see capture.bpf.c: kept in a map, not on the
// stack, so the verifier does not explore the bpf_loop callbacks per value).
struct copy_ctx {
  __u64 src;       // iovec array, or the buffer itself when `single`
  __u64 src_len;   // length of the buffer when `single`
  __u64 to_copy;   // payload bytes still to copy in this syscall
  __u64 run_left;  // bytes still to take from the current message (mmsg) or the syscall
  __u64 rest;      // bytes after to_copy: reported in the last event without payload
  __u64 ev_pos;    // stream position of the pending event's first byte
  __u64 base;      // current iovec: next byte and bytes left
  __u64 rem;
  __u64 lost;    // stream bytes in events the ring buffer refused
  __u64 copied;  // payload bytes handed to the ring buffer
  __u64 ts;
  __u64 vec;        // mmsghdr array (recvmmsg/sendmmsg)
  __u64 total;      // bytes over the walked messages
  __u64 first_iov;  // first iovec of the first message
  __u64 id;         // connection id
  __u32 tgid;
  __s32 fd;
  __u32 tid;
  __u32 limit;  // payload bytes per event
  __u32 fill;   // payload bytes pending in the staged event
  __u8 single;
  __u8 dir;
  __u8 sys;
  __u8 protocol;  // of the connection (enum ht_protocol)
  __u8 tls;       // of the connection (enum ht_tls_library)
  // The ring buffer refused this syscall's first event (and so the bytes that may begin an HTTP
  // message), whatever it did with the later ones.
  __u8 first_lost;
  __u8 reserved[2];
};

// Staging area for one syscall exit: loop state plus one data event with room for two chunks,
// so a partly filled event (iovecs are coalesced) plus the next piece always fits in what the
// verifier can prove.
struct scratch {
  struct copy_ctx x;
  __u64 since_query;  // events sent on this CPU since the last bpf_ringbuf_query
  // For the mid-stream HTTP/2 guess (classify.bpf.h), whose second frame header may lie beyond
  // the first iovec (gRPC writes a frame's header and payload from separate slices):
  __u64 class_iov;    // user address of the first non-empty iovec; 0: a single buffer
  __u64 class_nvec;   // iovecs from there on
  __u64 class_total;  // bytes of the syscall from there on
  __u8 peek[24];      // a frame header gathered across iovecs (map value: variable offsets)
  __u8 buf[sizeof(struct ht_data_event) + 2 * HT_MAX_CHUNK];
};

// Connections, keyed by their socket (struct sock address). Entries end with the socket
// (inet_sock_set_state / tcp_destroy_sock); LRU only as a backstop.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct conn_state);
} socks SEC(".maps");

// The cache in front of `socks`: (tgid, fd) -> socket, so a known fd costs one lookup, not the
// fd-table walk. LRU: a process that exits leaves entries that are never looked up again.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct conn_key);
  __type(value, struct fd_ref);
} conns SEC(".maps");

// Per process, bumped when its fd table changes without close()s the probes see (exec closing
// O_CLOEXEC fds, close_range): every (tgid, fd) cached before is checked again. Usually empty.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);
} fd_epochs SEC(".maps");

// fds that are not TCP sockets (files, pipes, unix, UDP), so the fd-table walk runs once per
// fd and second, not per syscall. Separate from `conns` so it can never evict a connection.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct conn_key);
  __type(value, struct skip_fd);
} skip_fds SEC(".maps");

// The syscall in flight on a tracked socket, per thread (task-local storage; sys == 0: none).
// Where the kernel has no task storage the agent makes it an LRU hash keyed by thread id
// (agent/capture/probe_object.cc; compat.bpf.h reads it either way).
struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct call_args);
} calls SEC(".maps");

// Data and control events to the agent. Size set by the agent before load.
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

// Drop, skip and truncation counters by cause (enum ht_counter).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HT_CNT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} counters SEC(".maps");

// Filters and limits (struct ht_config), written by the agent at any time.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ht_config);
} config_map SEC(".maps");

// One staging event per CPU, indexed by CPU id. A plain array (max_entries set to the number of
// possible CPUs by the agent) because a per-CPU value cannot exceed 32 KiB.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scratch);
} scratch_map SEC(".maps");

// Filter sets: value -> filter epoch since which it has been allowed (see ht_config). A set
// decides membership only when its flag in ht_config is set.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);  // allowed since this filter epoch (see ht_config)
} filter_tgids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, __u32);
} filter_cgroups SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);
} filter_mntns SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u16);
  __type(value, __u32);
} filter_ports SEC(".maps");

// A TLS library read/write call in progress on a thread (bpf/tls.bpf.h), from its entry to its
// return: the buffer, where the byte count comes back, and the socket the call's syscalls used.
struct tls_call {
  __u64 session;   // the library's connection object (SSL*, gnutls_session_t): key of tls_fds
  __u64 buf;       // plaintext buffer (user pointer)
  __u64 size_ptr;  // SSL_read_ex/SSL_write_ex: where the byte count is stored; 0 otherwise
  __u64 len;       // the buffer's length: a byte count above it is not believed
  __s32 fd;        // socket of a syscall made inside the call; -1: none yet
  __u8 dir;        // enum ht_direction
  __u8 lib;        // enum ht_tls_library
  __u8 ret_int;    // the call returns a C int (only the low 32 bits of the register are set)
  __u8 at_entry;   // Go Write: the plaintext is copied at the call's entry (tls_go_write_enter)
};

// The socket a library connection object used last, per process: a read served from the
// library's buffer makes no syscall. Key: tgid and the object's address.
struct tls_session_key {
  __u64 session;
  __u32 tgid;
  __u32 reserved;
};

// Calls in progress, by pid_tgid. LRU: a thread that died inside a call leaves an entry nobody
// looks up again.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct tls_call);
} tls_calls SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct tls_session_key);
  __type(value, __s32);
} tls_fds SEC(".maps");

// A thread that has called a TLS read/write function (bpf/tls.bpf.h, memory BIOs): the fd of its
// last read-type syscall made outside a TLS call, and the object that read it first since.
struct tls_thread {
  __u64 session;  // the first object that read since `fd` was read; 0: none yet
  __s32 fd;       // last socket read outside a TLS call; -1: none
  __u32 own_io;   // a TLS call of this thread made its own socket syscall: not a memory BIO
};

// By pid_tgid. LRU: threads that end leave entries nobody looks up again.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct tls_thread);
} tls_threads SEC(".maps");

// Slot 0: tls_return_probe, set by the agent. Go's Write entry jumps there (bpf_tail_call), so
// the copy path of process_data is verified in one TLS program, not two.
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} tls_tail SEC(".maps");

// Go crypto/tls calls in progress, by goroutine (key: tgid and the goroutine's g pointer): a
// goroutine that blocks inside Read resumes on another thread, so pid_tgid cannot pair an entry
// with its RET. LRU: a goroutine that never returns leaves an entry nobody looks up again.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct tls_session_key);
  __type(value, struct tls_call);
} go_tls_calls SEC(".maps");

// The TLS plaintext streams of sockets whose ciphertext is in `socks` (judged not HTTP there),
// keyed alike by struct sock address: a record of their own (id, positions, classification),
// so the syscall programs need no TLS case. Ended with the socket like `socks` entries.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct conn_state);
} tls_socks SEC(".maps");

// Processes that called exec, for the agent's TLS library discovery (struct ht_exec_event).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 64 << 10);
} tls_execs SEC(".maps");
