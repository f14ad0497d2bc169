// Capture probes: a raw sys_exit tracepoint (default on x86_64) or per-syscall tracepoints that
// copy the bytes of TCP connections carrying HTTP/1.x into a ring buffer, with stream positions.
// Design note: bpf/README.md. Wire format: bpf/events.h.

// vmlinux.h must come first (the libbpf headers use its __u32 etc.).
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
// clang-format on

#include "bpf/maps.bpf.h"
// After the maps: the fallbacks use `calls`.
#include "bpf/classify.bpf.h"
#include "bpf/compat.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define MSG_PEEK 2

// Set by the agent before load.
const volatile __u32 self_tgid = 0;           // the agent never traces itself
const volatile __u64 wakeup_bytes = 1 << 20;  // wake the consumer once this much is pending

__u64 next_conn_id = 0;  // connection ids: unique on the host while the probes stay loaded
// Non-zero while the capture is attached: the TLS programs (bpf/tls.bpf.h) do nothing
// otherwise. Their uprobes take ~1 s to detach (an RCU-tasks-trace grace period each), so the
// agent detaches them in the background after clearing this. 64 bits: .bss keeps no padding.
__u64 tls_gate = 0;

static __always_inline void count(__u32 idx, __u64 n) {
  __u64* v = bpf_map_lookup_elem(&counters, &idx);
  if (v) *v += n;  // per-CPU slot: no atomic needed
}

static __always_inline struct ht_config* get_config(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&config_map, &zero);
}

static __always_inline struct scratch* get_scratch(void) {
  __u32 cpu = bpf_get_smp_processor_id();
  return bpf_map_lookup_elem(&scratch_map, &cpu);
}

// Wakeups are batched: the agent drains on a short timer and is only woken early when the ring
// buffer fills up. A wakeup per event costs about 10% of a small-request server's throughput.
// bpf_ringbuf_query reads the consumer's cache line (about 1% of nginx's CPU when asked per
// event), so each CPU asks only every 32nd event: at most 32 events pass unnoticed.
static __always_inline __u64 rb_flags(void) {
  struct scratch* s = get_scratch();
  if (!s || (++s->since_query & 31)) return BPF_RB_NO_WAKEUP;
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                       : BPF_RB_NO_WAKEUP;
}

static __always_inline int is_ingress(__u8 sys) {
  return sys == HT_SYS_READ || sys == HT_SYS_READV || sys == HT_SYS_RECVFROM ||
         sys == HT_SYS_RECVMSG || sys == HT_SYS_RECVMMSG || sys == HT_SYS_TLS_READ;
}

// The cheapest checks first: the agent itself, then the tgid and cgroup sets.
static __always_inline int process_allowed(__u32 tgid, struct ht_config* cfg) {
  if (tgid == self_tgid) {
    count(HT_CNT_SKIP_SELF, 1);
    return 0;
  }
  if (cfg->filter_tgid && !bpf_map_lookup_elem(&filter_tgids, &tgid)) {
    count(HT_CNT_SKIP_PROCESS, 1);
    return 0;
  }
  if (cfg->filter_cgroup) {
    __u64 cg = bpf_get_current_cgroup_id();
    if (!bpf_map_lookup_elem(&filter_cgroups, &cg)) {
      count(HT_CNT_SKIP_PROCESS, 1);
      return 0;
    }
  }
  return 1;
}

// fd -> file -> socket -> sock, through the current task's fd table (CO-RE). Returns the sock
// only for TCP over IPv4/IPv6; files, pipes, unix and UDP sockets are counted and rejected
// before anything is stored or copied.
static __always_inline struct sock* fd_to_tcp_sock(int fd, __u32* reason) {
  *reason = 0;
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return NULL;
  unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
  if ((unsigned int)fd >= max_fds) return NULL;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* file = NULL;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  if (!file) return NULL;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) {
    *reason = HT_CNT_SKIP_NOT_SOCKET;
    count(HT_CNT_SKIP_NOT_SOCKET, 1);
    return NULL;
  }
  struct socket* sock = BPF_CORE_READ(file, private_data);
  if (!sock) return NULL;
  short type = BPF_CORE_READ(sock, type);
  struct sock* sk = BPF_CORE_READ(sock, sk);
  if (!sk) return NULL;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  __u16 protocol = BPF_CORE_READ(sk, sk_protocol);
  if (type != SOCK_STREAM || protocol != IPPROTO_TCP || (family != AF_INET && family != AF_INET6)) {
    *reason = HT_CNT_SKIP_NOT_TCP;
    count(HT_CNT_SKIP_NOT_TCP, 1);
    return NULL;
  }
  return sk;
}

static __always_inline void read_addresses(struct sock* sk, struct conn_state* c) {
  c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  c->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (c->family == AF_INET) {
    BPF_CORE_READ_INTO((__u32*)c->local_addr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO((__u32*)c->remote_addr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO((struct in6_addr*)c->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO((struct in6_addr*)c->remote_addr, sk, __sk_common.skc_v6_daddr);
  }
}

static __always_inline void fill_header(struct ht_event_header* h, __u8 kind, __u32 tid, __u32 tgid,
                                        __s32 fd, __u64 id, __u64 ts) {
  h->kind = kind;
  h->tid = tid;
  h->conn.id = id;
  h->conn.tgid = tgid;
  h->conn.fd = fd;
  h->timestamp_ns = ts;
}

// Close events (kind HT_EVENT_CLOSE). tgid/fd are 0/-1 when no syscall of a process is behind
// the end (the network stack, a timer).
static __always_inline void emit_end(__u8 kind, struct conn_state* c, __u32 tgid, __s32 fd,
                                     __u32 tid) {
  struct ht_close_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(HT_CNT_RINGBUF_FULL, 1);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->hdr, kind, tid, tgid, fd, c->id, bpf_ktime_get_boot_ns());
  e->bytes[0] = c->pos[0];
  e->bytes[1] = c->pos[1];
  bpf_ringbuf_submit(e, rb_flags());
  count(HT_CNT_CONTROL_EVENTS, 1);
}

static __always_inline void emit_shutdown(struct conn_state* c, __u32 tgid, __s32 fd, __u32 tid,
                                          __u8 dir) {
  struct ht_shutdown_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(HT_CNT_RINGBUF_FULL, 1);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->hdr, HT_EVENT_SHUTDOWN, tid, tgid, fd, c->id, bpf_ktime_get_boot_ns());
  e->bytes[0] = c->pos[0];
  e->bytes[1] = c->pos[1];
  e->direction = dir;
  bpf_ringbuf_submit(e, rb_flags());
  count(HT_CNT_CONTROL_EVENTS, 1);
}

static __always_inline void emit_open(struct conn_key* key, struct conn_state* c, __u32 tid,
                                      __u64 ts) {
  struct ht_open_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(HT_CNT_RINGBUF_FULL, 1);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->hdr, HT_EVENT_OPEN, tid, key->tgid, key->fd, c->id, ts);
  e->role = c->role;
  e->family = c->family;
  e->local_port = c->local_port;
  e->remote_port = c->remote_port;
  __builtin_memcpy(e->local_addr, c->local_addr, 16);
  __builtin_memcpy(e->remote_addr, c->remote_addr, 16);
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  e->opened_ns = c->opened_ns;
  // The namespace as read when the connection entered the table (same process or its parent:
  // a second task read here made raw_sys_exit too complex for the verifier).
  e->mntns = c->mntns;
  e->cgroup_id = bpf_get_current_cgroup_id();
  bpf_ringbuf_submit(e, rb_flags());
  count(HT_CNT_CONTROL_EVENTS, 1);
  c->open_sent = 1;
}

// Names a connection just classified as not traced (HT_EVENT_NOT_TRACED, the open event's
// layout), once. Out of line: it runs once per such connection, and inlined it would add a
// second ring-buffer reserve to raw_sys_exit's classification path (16-bit jump range).
static __noinline void emit_not_traced(struct conn_state* c, __u32 tgid, __s32 fd, __u32 tid) {
  struct ht_open_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count(HT_CNT_RINGBUF_FULL, 1);
    return;
  }
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->hdr, HT_EVENT_NOT_TRACED, tid, tgid, fd, c->id, bpf_ktime_get_boot_ns());
  e->role = c->role;
  e->family = c->family;
  e->local_port = c->local_port;
  e->remote_port = c->remote_port;
  __builtin_memcpy(e->local_addr, c->local_addr, 16);
  __builtin_memcpy(e->remote_addr, c->remote_addr, 16);
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  e->opened_ns = c->opened_ns;
  bpf_ringbuf_submit(e, rb_flags());
  count(HT_CNT_CONTROL_EVENTS, 1);
}

static __always_inline void emit_loss(struct conn_key* key, struct conn_state* c, __u32 tid,
                                      __u8 dir, __u64 ts) {
  struct ht_loss_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return;  // still pending; reported with the next successful event
  __builtin_memset(e, 0, sizeof(*e));
  fill_header(&e->hdr, HT_EVENT_LOSS, tid, key->tgid, key->fd, c->id, ts);
  e->bytes = ht_exchange(&c->lost[dir & 1], 0);
  e->message_starts = (__u32)ht_exchange(&c->lost_starts[dir & 1], 0);
  e->direction = dir;
  e->cause = HT_LOSS_RINGBUF_FULL;
  bpf_ringbuf_submit(e, rb_flags());
  count(HT_CNT_CONTROL_EVENTS, 1);
}

static __always_inline __u64 new_conn_id(void) {
#if HT_COMPAT
  // No atomic fetch-and-add on these kernels (compat.bpf.h), and two CPUs must never hand out
  // the same id: the boot-time nanosecond (one CPU cannot create two sockets in one) with the
  // CPU number in the low byte. Unique for 2^56 ns (2.2 years) of uptime; only equality counts.
  return ((bpf_ktime_get_boot_ns() + 1) << 8) | (bpf_get_smp_processor_id() & 0xff);
#else
  return __sync_fetch_and_add(&next_conn_id, 1) + 1;
#endif
}

// The fd-table generation of a process: bumped by exec and close_range (see fd_epochs).
static __always_inline __u32 fd_epoch_of(__u32 tgid) {
  __u32* e = bpf_map_lookup_elem(&fd_epochs, &tgid);
  return e ? *e : 0;
}

static __always_inline void fd_cache_put(struct conn_key* key, __u64 sk, __u64 id) {
  struct fd_ref ref = {.sk = sk, .id = id, .fd_epoch = fd_epoch_of(key->tgid)};
  if (bpf_map_update_elem(&conns, key, &ref, BPF_ANY)) count(HT_CNT_CONN_TABLE_FULL, 1);
}

// A new connection on socket `sk`, reached through (tgid, fd). A record still there for the
// same socket address belongs to a socket whose end the probes did not see (ended while
// detached, LRU): it is closed first.
// Whether this connection is a client's of the agent's own TCP API (struct ht_config). Out of
// line: it runs once per new connection, and every program that creates connections inlines
// conn_create.
static __noinline int own_api_client(struct sock* sk, __u16 remote_port) {
  struct ht_config* cfg = get_config();
  if (!cfg || !cfg->api_netns || !remote_port) return 0;
  int match = 0;
  for (int i = 0; i < HT_MAX_API_PORTS; i++) {
    if (cfg->api_ports[i] == remote_port) match = 1;
  }
  if (!match) return 0;
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) == cfg->api_netns;
}

static __always_inline struct conn_state* conn_create(struct conn_key* key, struct sock* sk,
                                                      __u8 role, __u32 tid) {
  __u64 skey = (__u64)sk;
  bpf_map_delete_elem(&skip_fds, key);
  struct conn_state* old = bpf_map_lookup_elem(&socks, &skey);
  if (old && old->open_sent) emit_end(HT_EVENT_CLOSE, old, key->tgid, key->fd, tid);
  struct ht_config* cfg = get_config();
  struct conn_state c = {};
  c.id = new_conn_id();
  c.sk = skey;
  c.role = role;
  c.tries_left = role == HT_ROLE_UNKNOWN ? HT_TRIES_MID_STREAM : HT_TRIES_FROM_START;
  c.opened_ns = bpf_ktime_get_boot_ns();
  // Born in this epoch: nothing of it can have been skipped by an earlier filter.
  c.passed_epoch = cfg ? cfg->filter_epoch : 0;
  read_addresses(sk, &c);
  if (own_api_client(sk, c.remote_port)) {
    c.own_api = 1;
    count(HT_CNT_OWN_API_CONNS, 1);
  }
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  c.mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  if (bpf_map_update_elem(&socks, &skey, &c, BPF_ANY)) {
    count(HT_CNT_CONN_TABLE_FULL, 1);
    return NULL;
  }
  count(HT_CNT_CONN_CREATED, 1);
  fd_cache_put(key, skey, c.id);
  return bpf_map_lookup_elem(&socks, &skey);
}

// The connection starts over under a new id, as if discovered now in the middle of its streams:
// its filter verdict changed, so bytes may have gone by uncounted (or will). The old id ends.
static __always_inline void conn_restart(struct conn_state* c, struct conn_key* key, __u32 tid) {
  if (c->open_sent) emit_end(HT_EVENT_CLOSE, c, key->tgid, key->fd, tid);
  c->id = new_conn_id();
  c->pos[0] = c->pos[1] = 0;
  c->lost[0] = c->lost[1] = 0;
  c->lost_starts[0] = c->lost_starts[1] = 0;
  c->copied = 0;
  c->msg_copied[0] = c->msg_copied[1] = 0;
  c->h1_unlimited = 0;
  c->open_sent = 0;
  c->egress_shut = 0;
  c->ingress_eof = 0;
  c->protocol = HT_PROTO_UNKNOWN;
  c->tries_left = HT_TRIES_MID_STREAM;
  c->opened_ns = bpf_ktime_get_boot_ns();
  count(HT_CNT_VERDICT_CHANGED, 1);
  // Every other (tgid, fd) cached for this socket names the old id: they re-resolve.
  fd_cache_put(key, c->sk, c->id);
}

// Since when `value` has been allowed in one filter dimension (see ht_config): its set entry,
// else (unrestricted dimension) unrestricted_since. Returns -1 when not allowed at all.
static __always_inline long allowed_since(void* set, void* value, __u8 restricted,
                                          __u32 unrestricted_since) {
  __u32* since = bpf_map_lookup_elem(set, value);
  if (since) return *since;
  if (restricted) return -1;
  return unrestricted_since;
}

static __always_inline __u32 max_u32(__u32 a, __u32 b) { return a > b ? a : b; }

// The filters' verdict on a connection, decided once per connection and filter epoch. The
// process filters (tgid, cgroup) ran before: this syscall's process passes them now.
static __always_inline int conn_allowed(struct conn_state* c, struct conn_key* key,
                                        struct ht_config* cfg, __u32 tid) {
  if (c->filter_epoch != cfg->filter_epoch) {
    __u8 ok = 1;
    __u32 since = 0;  // the latest epoch since which every dimension has let it through
    long v;
    __u32 tgid = key->tgid;
    v = allowed_since(&filter_tgids, &tgid, cfg->filter_tgid, cfg->unrestricted_since[HT_DIM_TGID]);
    if (v >= 0) since = max_u32(since, v);
    __u64 cg = bpf_get_current_cgroup_id();
    v = allowed_since(&filter_cgroups, &cg, cfg->filter_cgroup,
                      cfg->unrestricted_since[HT_DIM_CGROUP]);
    if (v >= 0) since = max_u32(since, v);
    __u16 port = c->local_port;
    v = allowed_since(&filter_ports, &port, cfg->filter_port, cfg->unrestricted_since[HT_DIM_PORT]);
    if (v < 0) {
      port = c->remote_port;
      v = allowed_since(&filter_ports, &port, cfg->filter_port,
                        cfg->unrestricted_since[HT_DIM_PORT]);
    }
    if (v < 0)
      ok = 0;
    else
      since = max_u32(since, v);
    __u32 ns = c->mntns;
    v = allowed_since(&filter_mntns, &ns, cfg->filter_mntns, cfg->unrestricted_since[HT_DIM_MNTNS]);
    if (v < 0)
      ok = 0;
    else
      since = max_u32(since, v);
    // Excluded now, or excluded at some point since it last passed (its bytes then were not
    // counted): the stream as the probes numbered it has a hole. Start over under a new id.
    if ((c->verdict_seen && ok != c->allowed) || (ok && since > c->passed_epoch))
      conn_restart(c, key, tid);
    c->allowed = ok;
    c->verdict_seen = 1;
    c->filter_epoch = cfg->filter_epoch;
  }
  if (!c->allowed) {
    count(HT_CNT_SKIP_CONN_FILTER, 1);
    return 0;
  }
  c->passed_epoch = cfg->filter_epoch;
  return 1;
}

// Enter/exit pairing lives in task-local storage: the exit of every read/write on the host must
// find out cheaply that its entry recorded nothing (a flag in the task, not a hash lookup).
// Kernels without task storage (before 5.11) take a hash lookup instead (compat.bpf.h).
static __always_inline struct call_args* call_begin(struct ht_config* cfg) {
  struct call_args* a = calls_lookup(1);
  if (!a) {
    count(HT_CNT_CALL_TABLE_FULL, 1);
    return NULL;
  }
  a->attach_epoch = cfg->attach_epoch;
  return a;
}

// Copies out and clears the pending call of this thread; false when there is none, or when it
// was entered under an earlier attach (its exit was never seen).
static __always_inline int call_end(struct call_args* out, struct ht_config* cfg) {
  struct call_args* a = calls_lookup(0);
  if (!a || !a->sys) return 0;
  *out = *a;
  a->sys = 0;
  if (out->attach_epoch == cfg->attach_epoch) return 1;
  count(HT_CNT_STALE_CALL, 1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Entry: decide cheaply whether this syscall is worth pairing with its exit.

// The connection to capture for (tgid, fd), or NULL: not TCP, not HTTP, filtered. Discovers
// connections opened before capture started, and finds the connection of a socket this process
// got by fork, dup or SCM_RIGHTS. The caller checked the process filters.
static __always_inline struct conn_state* track_fd(struct conn_key* key, struct ht_config* cfg,
                                                   __u32 tid) {
  struct conn_state* c = NULL;
  struct fd_ref* ref = bpf_map_lookup_elem(&conns, key);
  if (ref) {
    __u64 skey = ref->sk;
    c = bpf_map_lookup_elem(&socks, &skey);
    if (!c || c->id != ref->id || ref->fd_epoch != fd_epoch_of(key->tgid)) {
      // The socket ended (its fd number may now be anything), restarted under a new id, or the
      // fd table changed without a close() seen (exec, close_range): look again.
      count(HT_CNT_FD_CACHE_STALE, 1);
      bpf_map_delete_elem(&conns, key);
      c = NULL;
    }
  }
  if (!c) {
    // Not seen before: a file, a pipe, a connection opened before capture started, or a socket
    // another fd or process already uses. The negative cache spares files and pipes the
    // fd-table walk on every syscall.
    // (The negative cache is not checked against fd_epochs: that would cost every pipe and
    // file syscall a lookup; its entries expire after HT_SKIP_TTL_JIFFIES instead.)
    __u64 now = 0;
    struct skip_fd* skip = bpf_map_lookup_elem(&skip_fds, key);
    if (skip) {
      now = bpf_jiffies64();
      if (now - skip->checked_jiffies < HT_SKIP_TTL_JIFFIES) {
        count(skip->reason, 1);
        return NULL;
      }
    }
    __u32 reason;
    struct sock* sk = fd_to_tcp_sock(key->fd, &reason);
    if (!sk) {
      if (reason) {
        struct skip_fd v = {.checked_jiffies = now ? now : bpf_jiffies64(), .reason = reason};
        bpf_map_update_elem(&skip_fds, key, &v, BPF_ANY);
      }
      return NULL;
    }
    __u64 skey = (__u64)sk;
    c = bpf_map_lookup_elem(&socks, &skey);
    if (c)
      fd_cache_put(key, skey, c->id);
    else
      c = conn_create(key, sk, HT_ROLE_UNKNOWN, tid);
    if (!c) return NULL;
  }
  if (c->protocol == HT_PROTO_NONE) {
    count(HT_CNT_SKIP_NOT_HTTP, 1);
    return NULL;
  }
  if (c->own_api) {
    count(HT_CNT_SKIP_SELF, 1);
    return NULL;
  }
  if (!conn_allowed(c, key, cfg, tid)) return NULL;
  return c;
}

static __always_inline int enter_data(__u8 sys, int fd, __u64 buf, __u64 cnt, __u64 flags) {
  if (fd < 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  if (flags & MSG_PEEK) {
    count(HT_CNT_PEEK_SKIPPED, 1);
    return 0;
  }
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct conn_state* c = track_fd(&key, cfg, (__u32)id);
  if (!c) return 0;
  struct call_args* a = call_begin(cfg);
  if (!a) return 0;
  a->buf = buf;
  a->count = cnt;
  a->fd = fd;
  a->id = c->id;
  a->sys = sys;
  return 0;
}

static __always_inline int enter_connect(int fd) {
  if (fd < 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  struct call_args* a = call_begin(cfg);
  if (!a) return 0;
  a->fd = fd;
  a->sys = HT_SYS_CONNECT;
  return 0;
}

// close() (and dup2/dup3 over a target fd) only forgets what (tgid, fd) named: the socket may
// live on in other fds or processes. Its end comes from the socket itself (sock_end below). In
// tracepoint mode this runs at entry, in raw mode at exit; either way a stale entry is harmless
// now: a cached fd_ref is checked against the socket's current id.
static __always_inline int enter_close(int fd) {
  __u64 id = bpf_get_current_pid_tgid();
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  bpf_map_delete_elem(&skip_fds, &key);
  bpf_map_delete_elem(&conns, &key);
  return 0;
}

// exec (O_CLOEXEC fds closed) and close_range close fds without a close() each: every fd of
// the process is looked up again. The sockets themselves end through sock_end when their last
// holder is gone.
static __always_inline int fd_table_changed(void) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u32* e = bpf_map_lookup_elem(&fd_epochs, &tgid);
  if (e) {
    __sync_fetch_and_add(e, 1);
  } else {
    __u32 one = 1;
    bpf_map_update_elem(&fd_epochs, &tgid, &one, BPF_NOEXIST);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Exit: classify, then copy the bytes the syscall really moved, in chunks.

// After a syscall's copy, when the ring buffer refused some of it: the refused bytes join the
// connection's pending loss, and so does the HTTP message they began when the ring buffer refused
// the syscall's first event, whether it refused all of the syscall or only a part beginning with
// its first bytes (the later events' bytes are then the middle of a message whose start is
// gone: the agent's engine resynchronises at the next start and leaves the count to this one).
// A syscall whose first event went out lost no message start. Its first bytes are read again
// from the caller's buffer, still there at the syscall's exit. Out of line,
// and nothing added to the copy loops: inlined here, this code pushed raw_sys_exit's jumps past
// the verifier's 16-bit patching range, and any change to flush() (a call, a flag) made the
// compat loops look infinite to the verifier.
static __noinline void lost_start_account(struct conn_state* c, struct scratch* s, __u8 dir) {
  struct copy_ctx* x = &s->x;
  __sync_fetch_and_add(&c->lost[dir & 1], x->lost);
  if (!x->first_lost || !x->src) return;
  __u64 ptr = x->src;
  __u64 len = x->src_len;
  if (!x->single) {
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), (void*)x->src)) return;
    ptr = (__u64)v.iov_base;
    len = v.iov_len;
  }
  __u8 head[8] = {};
  if (len < sizeof(head) || bpf_probe_read_user(head, sizeof(head), (void*)ptr)) return;
  if (c->protocol == HT_PROTO_HTTP2 ? http2_begins_message(head) : http1_begins_message(head))
    __sync_fetch_and_add(&c->lost_starts[dir & 1], 1);
}

// How many of a syscall's `to_copy` bytes an HTTP/1 connection may copy under the sessions'
// per-message limit (ht_config.h1_message_limit): a syscall whose first bytes begin a message
// (a request or status line: http1_begins_message) starts the count again. The kernel does not
// parse framing: a message that begins inside a syscall (pipelining) is counted with the one
// before it, and its headers may go uncopied; the agent's engine counts such a message lost
// (bytes missing in its headers), never guesses. A body that begins with four capitals resets
// the count: more is copied, never less. Out of line, like lost_start_account (jump range).
static __noinline __u64 h1_message_allowance(struct conn_state* c, struct scratch* s, __u8 dir,
                                             __u64 to_copy, __u32 message_limit) {
  struct copy_ctx* x = &s->x;
  __u64 ptr = x->src;
  if (!x->single && ptr) {
    // The first non-empty iovec (writev with an empty header iovec is common).
    __u64 vec = ptr;
    ptr = 0;
    for (int i = 0; i < 4; i++) {
      struct iovec v = {};
      if (bpf_probe_read_user(&v, sizeof(v), (void*)(vec + i * sizeof(v)))) break;
      if (v.iov_len == 0) continue;
      ptr = (__u64)v.iov_base;
      break;
    }
  }
  __u8 head[8] = {};
  if (ptr && !bpf_probe_read_user(head, sizeof(head), (void*)ptr)) {
    __u64 w;
    __builtin_memcpy(&w, head, sizeof(w));
    if (w == 0x5448202A20495250ULL) {  // "PRI * HT": the HTTP/2 preface after an h2c upgrade
      c->h1_unlimited = 1;
      return to_copy;
    }
    if (http1_begins_message(head)) c->msg_copied[dir & 1] = 0;
  }
  __u32 used = c->msg_copied[dir & 1];
  __u64 left = message_limit > used ? message_limit - used : 0;
  if (to_copy > left) {
    count(HT_CNT_TRUNC_MESSAGE_BYTES, to_copy - left);
    to_copy = left;
  }
  c->msg_copied[dir & 1] = used + (__u32)to_copy;
  return to_copy;
}

// Sends the pending scratch event: `fill` payload bytes standing for fill + extra stream bytes.
static __always_inline void flush(struct scratch* s, __u64 extra, __u8 flags) {
  struct copy_ctx* x = &s->x;
  struct ht_data_event* e = (struct ht_data_event*)s->buf;
  __u32 fill = x->fill;
  if (fill > HT_MAX_CHUNK) fill = HT_MAX_CHUNK;
  e->hdr.kind = HT_EVENT_DATA;
  e->hdr.tid = x->tid;
  e->hdr.conn.id = x->id;
  e->hdr.conn.tgid = x->tgid;
  e->hdr.conn.fd = x->fd;
  e->hdr.timestamp_ns = x->ts;
  e->position = x->ev_pos;
  e->length = fill + extra;
  e->captured = fill;
  e->direction = x->dir;
  e->flags = flags;
  e->syscall = x->sys;
  e->protocol = x->protocol;
  e->tls = x->tls;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  // Keep the bound on the register the helper gets (clang may otherwise re-derive it).
  __u64 size = sizeof(*e) + fill;
  barrier_var(size);
  if (size > sizeof(*e) + HT_MAX_CHUNK) size = sizeof(*e) + HT_MAX_CHUNK;
  if (bpf_ringbuf_output(&events, e, size, rb_flags())) {
    count(HT_CNT_RINGBUF_FULL, 1);
    count(HT_CNT_RINGBUF_FULL_BYTES, fill);
    x->first_lost |= x->copied == 0;  // events go out in order: none accepted before this one
    x->lost += fill + extra;
  } else {
    count(HT_CNT_DATA_EVENTS, 1);
    count(HT_CNT_DATA_BYTES, fill);
    x->copied += fill;
  }
  x->ev_pos += fill + extra;
  x->fill = 0;
}

// The copy loops keep their state in the per-CPU scratch entry, not on the stack: the verifier
// does not track map values, so the bpf_loop callbacks converge after one pass instead of being
// explored per value of fill/to_copy (which blew the 1M instruction limit).

// Copies the next piece of the current iovec into the scratch event; sends it when full.
static long piece_cb(__u32 i, void* unused) {
  struct scratch* s = get_scratch();
  if (!s) return 1;
  struct copy_ctx* x = &s->x;
  if (x->rem == 0 || x->to_copy == 0 || x->run_left == 0) return 1;
  __u64 n = x->rem;
  if (n > x->to_copy) n = x->to_copy;
  if (n > x->run_left) n = x->run_left;
  __u32 fill = x->fill;
  if (fill >= x->limit) fill = 0;  // cannot happen (flushed when full); keeps space positive
  __u32 space = x->limit - fill;
  if (n > space) n = space;
  __u32 off = fill & (HT_MAX_CHUNK - 1);  // fill < limit <= HT_MAX_CHUNK
  __u32 len = n;
  barrier_var(len);
  if (len > HT_MAX_CHUNK) len = HT_MAX_CHUNK;
  if (bpf_probe_read_user(s->buf + sizeof(struct ht_data_event) + off, len, (void*)x->base)) {
    // Not resident (or a bad pointer): report the piece size-only so positions stay right.
    count(HT_CNT_READ_USER_FAILED, 1);
    if (x->fill) flush(s, 0, 0);
    flush(s, len, HT_DATA_READ_FAILED);
  } else {
    x->fill = fill + len;
    if (x->fill >= x->limit) flush(s, 0, 0);
  }
  x->base += len;
  x->rem -= len;
  x->to_copy -= len;
  x->run_left -= len;
  return 0;
}
HT_LOOP_FUNCTION(piece_cb, HT_MAX_EVENTS_PER_CALL + 2, 2)

static long iov_cb(__u32 i, void* unused) {
  struct scratch* s = get_scratch();
  if (!s) return 1;
  struct copy_ctx* x = &s->x;
  if (x->to_copy == 0 || x->run_left == 0) return 1;
  if (x->single) {
    x->base = x->src;
    x->rem = x->src_len;
  } else {
    struct iovec v = {};
    if (bpf_probe_read_user(&v, sizeof(v), (void*)(x->src + (__u64)i * sizeof(v)))) return 1;
    x->base = (__u64)v.iov_base;
    x->rem = v.iov_len;
  }
  HT_LOOP(piece_cb, HT_MAX_EVENTS_PER_CALL + 2);
  return 0;
}
HT_LOOP_FUNCTION(iov_cb, HT_MAX_IOV, 8)

static long mmsg_size_cb(__u32 i, void* unused) {
  struct scratch* s = get_scratch();
  if (!s) return 1;
  struct mmsghdr h = {};
  if (bpf_probe_read_user(&h, sizeof(h), (void*)(s->x.vec + (__u64)i * sizeof(h)))) return 1;
  if (i == 0) s->x.first_iov = (__u64)h.msg_hdr.msg_iov;
  s->x.total += h.msg_len;
  return 0;
}
HT_LOOP_FUNCTION(mmsg_size_cb, HT_MAX_MMSG, 4)

static long mmsg_copy_cb(__u32 i, void* unused) {
  struct scratch* s = get_scratch();
  if (!s) return 1;
  struct mmsghdr h = {};
  if (s->x.to_copy == 0) return 1;
  if (bpf_probe_read_user(&h, sizeof(h), (void*)(s->x.vec + (__u64)i * sizeof(h)))) return 1;
  s->x.src = (__u64)h.msg_hdr.msg_iov;
  s->x.run_left = h.msg_len;
  __u64 iovlen = h.msg_hdr.msg_iovlen;
  if (iovlen > HT_MAX_IOV) iovlen = HT_MAX_IOV;
  HT_LOOP(iov_cb, iovlen);
  return 0;
}
HT_LOOP_FUNCTION(mmsg_copy_cb, HT_MAX_MMSG, 4)

// Copies the data of a finished syscall on connection `c`: `buf` and `cnt` are its buffer (or
// iovec array, msghdr, mmsghdr array) and length (or count) arguments, ret > 0.
static __always_inline int process_data(struct conn_state* c, struct conn_key* key,
                                        struct ht_config* cfg, __u8 sys, long ret, __u64 buf,
                                        __u64 cnt, __u32 tid) {
  struct call_args a = {.buf = buf, .count = cnt};
  struct scratch* s = get_scratch();
  if (!s) return 0;
  struct copy_ctx* x = &s->x;
  __builtin_memset(x, 0, sizeof(*x));

  __u64 total = ret;
  __u64 first = 0;  // user address of the first bytes, for classification
  __u64 first_len = ret;
  __u64 iovcnt = 0;
  switch (sys) {
    case HT_SYS_READ:
    case HT_SYS_WRITE:
    case HT_SYS_RECVFROM:
    case HT_SYS_SENDTO:
    case HT_SYS_TLS_READ:
    case HT_SYS_TLS_WRITE:
      x->single = 1;
      x->src = a.buf;
      x->src_len = ret;
      first = a.buf;
      break;
    case HT_SYS_READV:
    case HT_SYS_WRITEV:
      x->src = a.buf;
      iovcnt = a.count;
      break;
    case HT_SYS_RECVMSG:
    case HT_SYS_SENDMSG: {
      struct user_msghdr h = {};
      if (bpf_probe_read_user(&h, sizeof(h), (void*)a.buf)) return 0;
      x->src = (__u64)h.msg_iov;
      iovcnt = h.msg_iovlen;
      break;
    }
    case HT_SYS_RECVMMSG:
    case HT_SYS_SENDMMSG: {
      __u64 nmsg = ret;
      if (nmsg > HT_MAX_MMSG) {
        count(HT_CNT_TRUNC_IOV, 1);
        nmsg = HT_MAX_MMSG;
      }
      x->vec = a.buf;
      HT_LOOP(mmsg_size_cb, nmsg);
      total = x->total;
      x->src = x->first_iov;
      iovcnt = nmsg;  // messages, for the copy loop below
      break;
    }
    case HT_SYS_SENDFILE:
      break;
    default:
      return 0;
  }
  if (iovcnt > HT_MAX_IOV) {
    count(HT_CNT_TRUNC_IOV, 1);
    iovcnt = HT_MAX_IOV;
  }
  s->class_iov = 0;
  if (!first && sys != HT_SYS_SENDFILE && x->src && c->protocol == HT_PROTO_UNKNOWN) {
    // Classify on the first non-empty iovec (writev with an empty header iovec is common).
    // mmsg: x->src is the first message's iovec array (its length is not at hand: take one).
    __u64 nvec = (sys == HT_SYS_RECVMMSG || sys == HT_SYS_SENDMMSG) ? 1 : iovcnt;
    for (int i = 0; i < 4 && i < nvec; i++) {
      struct iovec v = {};
      if (bpf_probe_read_user(&v, sizeof(v), (void*)(x->src + i * sizeof(v)))) break;
      if (v.iov_len == 0) continue;
      first = (__u64)v.iov_base;
      first_len = v.iov_len < total ? v.iov_len : total;
      s->class_iov = x->src + i * sizeof(v);
      s->class_nvec = nvec - i;
      s->class_total = sys == HT_SYS_RECVMMSG || sys == HT_SYS_SENDMMSG ? first_len : total;
      break;
    }
  }

  __u8 dir = is_ingress(sys) ? HT_INGRESS : HT_EGRESS;
  __u64 now = bpf_ktime_get_boot_ns();
  if (c->protocol == HT_PROTO_UNKNOWN && sys != HT_SYS_SENDFILE) {
    // Mid-stream: found already open, or its first bytes were unreadable (see below).
    int kind = classify(first, first_len,
                        c->role == HT_ROLE_UNKNOWN || c->tries_left > HT_TRIES_FROM_START, s);
    if (kind == HT_CLASS_EMPTY_LINES) {
      // Empty lines only, as a client may send before a request line: the next payload decides
      // (no try spent). Positions do not move.
      count(HT_CNT_SKIP_NOT_HTTP, 1);
      return 0;
    }
    if (kind == HT_CLASS_NONE || kind == HT_CLASS_TLS) {
      // Not the start of a message. Positions do not move: they count from the first byte of
      // the first HTTP message the probes see.
      count(HT_CNT_SKIP_NOT_HTTP, 1);
      if (c->tries_left > 1) {
        c->tries_left--;
        return 0;
      }
      c->protocol = HT_PROTO_NONE;
      count(HT_CNT_CONN_NOT_HTTP, 1);
      // TLS ciphertext is not "not traced": its plaintext is, at the library (or the session's
      // notes name the library that could not be probed).
      if (kind == HT_CLASS_NONE) emit_not_traced(c, key->tgid, key->fd, tid);
      return 0;
    }
    if (kind == HT_CLASS_UNREADABLE) {
      // Unreadable first bytes decide nothing: copying them would open a connection nobody
      // classified. Positions do not move (they count from the first message seen); later
      // syscalls are mid-stream now, so they get the mid-stream tries.
      count(HT_CNT_CLASSIFY_READ_FAILED, 1);
      if (c->tries_left <= HT_TRIES_FROM_START)
        c->tries_left = HT_TRIES_MID_STREAM;
      else
        c->tries_left--;
      return 0;
    }
    c->protocol = class_protocol(kind);
    // A request or the HTTP/2 client preface written, or a response or the HTTP/2 server
    // preface read: this end is the client. HTTP/2 frames joined mid-stream do not say (the
    // agent's engine decides from :method).
    if (c->role == HT_ROLE_UNKNOWN && kind != HT_CLASS_H2_FRAMES)
      c->role = ((kind == HT_CLASS_H1_REQUEST || kind == HT_CLASS_H2_PREFACE) == (dir == HT_EGRESS))
                    ? HT_ROLE_CLIENT
                    : HT_ROLE_SERVER;
  }
  if (!c->open_sent) emit_open(key, c, tid, c->opened_ns);
  if (c->lost[dir & 1]) emit_loss(key, c, tid, dir, now);

  x->ev_pos = ht_fetch_add(&c->pos[dir & 1], total);
  x->ts = now;
  x->tgid = key->tgid;
  x->fd = key->fd;
  x->id = c->id;
  x->tid = tid;
  x->dir = dir;
  x->sys = sys;
  x->protocol = c->protocol;
  x->tls = c->tls;
  __u32 limit = cfg->copy_limit;
  if (limit == 0 || limit > HT_MAX_CHUNK) limit = HT_MAX_CHUNK;
  x->limit = limit;

  if (sys == HT_SYS_SENDFILE) {
    count(HT_CNT_SIZE_ONLY_BYTES, total);
    flush(s, total, HT_DATA_SIZE_ONLY);
    return 0;
  }

  __u64 to_copy = total;
  __u64 max_events = (__u64)limit * HT_MAX_EVENTS_PER_CALL;
  if (to_copy > max_events) {
    count(HT_CNT_TRUNC_LIMIT_BYTES, to_copy - max_events);
    to_copy = max_events;
  }
  if (cfg->conn_budget) {
    __u64 left = cfg->conn_budget > c->copied ? cfg->conn_budget - c->copied : 0;
    if (to_copy > left) {
      count(HT_CNT_TRUNC_BUDGET_BYTES, to_copy - left);
      to_copy = left;
    }
  }
  if (cfg->h1_message_limit && c->protocol == HT_PROTO_HTTP1 && !c->h1_unlimited)
    to_copy = h1_message_allowance(c, s, dir, to_copy, cfg->h1_message_limit);
  x->to_copy = to_copy;
  x->rest = total - to_copy;
  x->run_left = total;

  // Fast path, the common case (read/write/send/recv of one buffer that fits one event): one
  // copy, no loops.
  if (x->single && to_copy == total && total <= limit) {
    __u32 len = total;
    barrier_var(len);
    if (len > HT_MAX_CHUNK) len = HT_MAX_CHUNK;
    if (bpf_probe_read_user(s->buf + sizeof(struct ht_data_event), len, (void*)x->src)) {
      count(HT_CNT_READ_USER_FAILED, 1);
      flush(s, len, HT_DATA_READ_FAILED);
    } else {
      x->fill = len;
      flush(s, 0, 0);
    }
    c->copied += x->copied;
    if (x->lost) lost_start_account(c, s, dir);
    return 0;
  }

  if (sys == HT_SYS_RECVMMSG || sys == HT_SYS_SENDMMSG)
    HT_LOOP(mmsg_copy_cb, iovcnt);
  else
    HT_LOOP(iov_cb, x->single ? 1 : iovcnt);

  // Bytes the loops did not reach (an iovec walk cut short) join the size-only tail, so the
  // events of one syscall always add up to its true length.
  __u64 rest = x->rest + x->to_copy;
  if (x->fill || rest) flush(s, rest, rest ? HT_DATA_TRUNCATED : 0);
  c->copied += x->copied;
  if (x->lost) lost_start_account(c, s, dir);
  return 0;
}

// A read that returned 0 on a known connection: the end of the peer's stream, in the reading
// process, after every byte before it was read (the peer's FIN arrives earlier, in softirq, when
// the bytes in front of it may still be unread). Only cached fds: no fd-table walk for it.
static __always_inline int read_eof(__u8 sys, int fd, __u64 cnt) {
  // A zero-length read returns 0 too; recvmmsg counts messages.
  if (((sys == HT_SYS_READ || sys == HT_SYS_RECVFROM) && cnt == 0) || sys == HT_SYS_RECVMMSG)
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct fd_ref* ref = bpf_map_lookup_elem(&conns, &key);
  if (!ref) return 0;
  __u64 skey = ref->sk;
  struct conn_state* c = bpf_map_lookup_elem(&socks, &skey);
  if (!c || c->id != ref->id || !c->open_sent || c->ingress_eof) return 0;
  c->ingress_eof = 1;
  count(HT_CNT_CONN_READ_EOF, 1);
  emit_shutdown(c, key.tgid, fd, (__u32)id, HT_INGRESS);
  return 0;
}

// Tracepoint mode: the exit pairs with what the entry recorded for this thread.
static __always_inline int exit_data(__u8 sys, long ret) {
  struct ht_config* cfg = get_config();
  struct call_args a;
  if (!cfg || !call_end(&a, cfg)) return 0;
  if (a.sys != sys) {
    count(HT_CNT_STALE_CALL, 1);
    return 0;
  }
  if (ret == 0 && is_ingress(sys)) return read_eof(sys, a.fd, a.count);
  if (ret <= 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct conn_key key = {.tgid = id >> 32, .fd = a.fd};
  struct fd_ref* ref = bpf_map_lookup_elem(&conns, &key);
  if (!ref) return 0;
  __u64 skey = ref->sk;
  struct conn_state* c = bpf_map_lookup_elem(&socks, &skey);
  if (!c || c->id != a.id) return 0;  // the fd was closed and reused, or the socket restarted
  return process_data(c, &key, cfg, sys, ret, a.buf, a.count, (__u32)id);
}

static __always_inline int exit_connect(long ret) {
  struct ht_config* cfg = get_config();
  struct call_args a;
  if (!cfg || !call_end(&a, cfg)) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  if (a.sys != HT_SYS_CONNECT || (ret != 0 && ret != -EINPROGRESS)) return 0;
  __u32 reason;
  struct sock* sk = fd_to_tcp_sock(a.fd, &reason);
  if (!sk) return 0;
  struct conn_key key = {.tgid = id >> 32, .fd = a.fd};
  conn_create(&key, sk, HT_ROLE_CLIENT, (__u32)id);
  return 0;
}

static __always_inline int exit_accept(long ret) {
  if (ret < 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  __u32 reason;
  struct sock* sk = fd_to_tcp_sock(ret, &reason);
  if (!sk) return 0;
  struct conn_key key = {.tgid = id >> 32, .fd = ret};
  conn_create(&key, sk, HT_ROLE_SERVER, (__u32)id);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Ends of a socket, whoever holds it and however its fds went away (close of the last fd,
// process exit, exec with O_CLOEXEC, close_range, dup2 over it, a reset): the socket's own state
// changes, seen from two raw tracepoints that need no tracefs and are loaded in both attach
// modes. They may run in softirq or timer context, so they use only the socket, never the
// current task.

#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define RCV_SHUTDOWN 1
#define SEND_SHUTDOWN 2
#define SHUTDOWN_MASK 3

// `map`: socks, or tls_socks for the TLS plaintext record of the same socket (bpf/tls.bpf.h).
static __always_inline void sock_end(void* map, __u64 skey, struct conn_state* c) {
  if (c->open_sent) emit_end(HT_EVENT_CLOSE, c, 0, -1, 0);
  count(HT_CNT_CONN_ENDED, 1);
  bpf_map_delete_elem(map, &skey);
}

static __always_inline void sock_state_changed(void* map, __u64 skey, struct conn_state* c,
                                               __u8 shut, int newstate) {
  // TCP_CLOSE may come while a process still holds the socket with bytes to read (it shut down
  // its sending side, then the peer's FIN arrived: FIN_WAIT2 to TCP_CLOSE, both shutdown bits
  // set). tcp_destroy_sock ends it when the socket goes: at once when the close itself moved it to
  // TCP_CLOSE, at the holder's close otherwise.
  if (newstate == TCP_CLOSE) return;
  if ((shut & SHUTDOWN_MASK) == SHUTDOWN_MASK) {
    sock_end(map, skey, c);
    return;
  }
  if ((shut & SEND_SHUTDOWN) && (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) &&
      !c->egress_shut) {
    c->egress_shut = 1;
    count(HT_CNT_CONN_SHUTDOWN, 1);
    if (c->open_sent) emit_shutdown(c, 0, -1, 0, HT_EGRESS);
  }
}

// tcp_close() (the last holder's close, whatever closed it) sets sk_shutdown to SHUTDOWN_MASK
// before it moves the state on (to FIN_WAIT1 or LAST_ACK): that is the end of the connection for
// every process. A FIN sent while the socket is still held (FIN_WAIT1 from ESTABLISHED, LAST_ACK
// from CLOSE_WAIT) with only SEND_SHUTDOWN set is shutdown(SHUT_WR): the traced side's sending
// direction ends.
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(sock_set_state, struct sock* sk, int oldstate, int newstate) {
  __u64 skey = (__u64)sk;
  struct conn_state* c = bpf_map_lookup_elem(&socks, &skey);
  if (c) {
    // A bitfield on older kernels, a u8 on newer ones: the probed bitfield read handles both.
    __u8 shut = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
    sock_state_changed(&socks, skey, c, shut, newstate);
  }
  struct conn_state* t = bpf_map_lookup_elem(&tls_socks, &skey);
  if (t) {
    __u8 shut = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown);
    sock_state_changed(&tls_socks, skey, t, shut, newstate);
  }
  return 0;
}

// The socket is freed (after a reset, a close that moved it to TCP_CLOSE, or the holder's close of
// a socket that reached TCP_CLOSE while held): end whatever is still recorded for it.
SEC("raw_tp/tcp_destroy_sock")
int BPF_PROG(sock_destroy, struct sock* sk) {
  __u64 skey = (__u64)sk;
  struct conn_state* c = bpf_map_lookup_elem(&socks, &skey);
  if (c) sock_end(&socks, skey, c);
  c = bpf_map_lookup_elem(&tls_socks, &skey);
  if (c) sock_end(&tls_socks, skey, c);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Attach mode "tracepoints": one tracepoint per syscall (needs tracefs). Only the syscalls we
// handle run a program at all.

#define TP_ENTER(name)                        \
  SEC("tracepoint/syscalls/sys_enter_" #name) \
  int tp_enter_##name(struct trace_event_raw_sys_enter* ctx)
#define TP_EXIT(name)                        \
  SEC("tracepoint/syscalls/sys_exit_" #name) \
  int tp_exit_##name(struct trace_event_raw_sys_exit* ctx)
#define ARG(i) (ctx->args[i])

TP_ENTER(read) { return enter_data(HT_SYS_READ, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(write) { return enter_data(HT_SYS_WRITE, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(readv) { return enter_data(HT_SYS_READV, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(writev) { return enter_data(HT_SYS_WRITEV, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(recvfrom) { return enter_data(HT_SYS_RECVFROM, ARG(0), ARG(1), ARG(2), ARG(3)); }
TP_ENTER(sendto) { return enter_data(HT_SYS_SENDTO, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(recvmsg) { return enter_data(HT_SYS_RECVMSG, ARG(0), ARG(1), 0, ARG(2)); }
TP_ENTER(sendmsg) { return enter_data(HT_SYS_SENDMSG, ARG(0), ARG(1), 0, 0); }
TP_ENTER(recvmmsg) { return enter_data(HT_SYS_RECVMMSG, ARG(0), ARG(1), ARG(2), ARG(3)); }
TP_ENTER(sendmmsg) { return enter_data(HT_SYS_SENDMMSG, ARG(0), ARG(1), ARG(2), 0); }
TP_ENTER(sendfile64) { return enter_data(HT_SYS_SENDFILE, ARG(0), 0, ARG(3), 0); }
TP_ENTER(connect) { return enter_connect(ARG(0)); }
TP_ENTER(close) { return enter_close(ARG(0)); }
// dup2/dup3 close their target fd silently: treat it as close(newfd).
TP_ENTER(dup2) { return enter_close(ARG(1)); }
TP_ENTER(dup3) { return enter_close(ARG(1)); }

TP_EXIT(read) { return exit_data(HT_SYS_READ, ctx->ret); }
TP_EXIT(write) { return exit_data(HT_SYS_WRITE, ctx->ret); }
TP_EXIT(readv) { return exit_data(HT_SYS_READV, ctx->ret); }
TP_EXIT(writev) { return exit_data(HT_SYS_WRITEV, ctx->ret); }
TP_EXIT(recvfrom) { return exit_data(HT_SYS_RECVFROM, ctx->ret); }
TP_EXIT(sendto) { return exit_data(HT_SYS_SENDTO, ctx->ret); }
TP_EXIT(recvmsg) { return exit_data(HT_SYS_RECVMSG, ctx->ret); }
TP_EXIT(sendmsg) { return exit_data(HT_SYS_SENDMSG, ctx->ret); }
TP_EXIT(recvmmsg) { return exit_data(HT_SYS_RECVMMSG, ctx->ret); }
TP_EXIT(sendmmsg) { return exit_data(HT_SYS_SENDMMSG, ctx->ret); }
TP_EXIT(sendfile64) { return exit_data(HT_SYS_SENDFILE, ctx->ret); }
TP_EXIT(connect) { return exit_connect(ctx->ret); }
TP_EXIT(accept) { return exit_accept(ctx->ret); }
TP_EXIT(accept4) { return exit_accept(ctx->ret); }
TP_EXIT(execve) { return ctx->ret == 0 ? fd_table_changed() : 0; }
TP_EXIT(execveat) { return ctx->ret == 0 ? fd_table_changed() : 0; }
TP_EXIT(close_range) { return ctx->ret == 0 ? fd_table_changed() : 0; }

// ---------------------------------------------------------------------------------------------
// Attach mode "raw tracepoints": one raw sys_exit tracepoint (no tracefs needed), dispatching on
// the x86_64 syscall number. At exit the argument registers are still in pt_regs, so nothing is
// paired: no entry program, no per-thread state, and a read that returns EAGAIN costs one switch.
// close()/dup2()/dup3() are handled at their exit; see README ("Known limits") for the race.

#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_dup2 33
#define NR_sendfile 40
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept4 288
#define NR_dup3 292
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#define NR_execve 59
#define NR_execveat 322
#define NR_close_range 436

static __always_inline int raw_exit_data(__u8 sys, struct syscall_regs* r, long ret, __u64 flags) {
  if (ret == 0 && is_ingress(sys) && !(flags & MSG_PEEK)) return read_eof(sys, r->di, r->dx);
  if (ret <= 0) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  if (flags & MSG_PEEK) {
    count(HT_CNT_PEEK_SKIPPED, 1);
    return 0;
  }
  int fd = r->di;
  if (fd < 0) return 0;
  struct conn_key key = {.tgid = id >> 32, .fd = fd};
  struct conn_state* c = track_fd(&key, cfg, (__u32)id);
  if (!c) return 0;
  __u64 cnt = sys == HT_SYS_SENDFILE ? r->r10 : r->dx;
  return process_data(c, &key, cfg, sys, ret, r->si, cnt, (__u32)id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs* arg_regs, long ret) {
  // The task's user registers as a BTF pointer: plain loads, no helper call per syscall (this
  // program runs for every syscall on the host). compat.bpf.h has the fallback.
  struct pt_regs* regs = task_regs();
  const long nr = regs_syscall_nr(regs, arg_regs);
  switch (nr) {
    case NR_read:
    case NR_write:
    case NR_close:
    case NR_readv:
    case NR_writev:
    case NR_dup2:
    case NR_sendfile:
    case NR_connect:
    case NR_accept:
    case NR_sendto:
    case NR_recvfrom:
    case NR_sendmsg:
    case NR_recvmsg:
    case NR_accept4:
    case NR_dup3:
    case NR_recvmmsg:
    case NR_sendmmsg:
    case NR_execve:
    case NR_execveat:
    case NR_close_range:
      break;
    default:
      return 0;
  }
  struct syscall_regs r;
  regs_syscall_args(regs, arg_regs, &r);
  switch (nr) {
    case NR_read:
      return raw_exit_data(HT_SYS_READ, &r, ret, 0);
    case NR_write:
      return raw_exit_data(HT_SYS_WRITE, &r, ret, 0);
    case NR_readv:
      return raw_exit_data(HT_SYS_READV, &r, ret, 0);
    case NR_writev:
      return raw_exit_data(HT_SYS_WRITEV, &r, ret, 0);
    case NR_recvfrom:
      return raw_exit_data(HT_SYS_RECVFROM, &r, ret, r.r10);
    case NR_sendto:
      return raw_exit_data(HT_SYS_SENDTO, &r, ret, 0);
    case NR_recvmsg:
      return raw_exit_data(HT_SYS_RECVMSG, &r, ret, r.dx);
    case NR_sendmsg:
      return raw_exit_data(HT_SYS_SENDMSG, &r, ret, 0);
    case NR_recvmmsg:
      return raw_exit_data(HT_SYS_RECVMMSG, &r, ret, r.r10);
    case NR_sendmmsg:
      return raw_exit_data(HT_SYS_SENDMMSG, &r, ret, 0);
    case NR_sendfile:
      return raw_exit_data(HT_SYS_SENDFILE, &r, ret, 0);
    case NR_close:
      return ret == 0 ? enter_close(r.di) : 0;
    case NR_dup2:
    case NR_dup3:
      return ret >= 0 ? enter_close(r.si) : 0;
    case NR_connect: {
      if (ret != 0 && ret != -EINPROGRESS) return 0;
      __u64 id = bpf_get_current_pid_tgid();
      struct ht_config* cfg = get_config();
      if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
      int fd = r.di;
      __u32 reason;
      struct sock* sk = fd_to_tcp_sock(fd, &reason);
      if (!sk) return 0;
      struct conn_key key = {.tgid = id >> 32, .fd = fd};
      conn_create(&key, sk, HT_ROLE_CLIENT, (__u32)id);
      return 0;
    }
    case NR_accept:
    case NR_accept4:
      return exit_accept(ret);
    case NR_execve:
    case NR_execveat:
    case NR_close_range:
      return ret == 0 ? fd_table_changed() : 0;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// TLS libraries' plaintext calls (uprobes, attached per library file by agent/tls/). Nothing of
// it is in the syscall programs above: raw sys_exit is close to the verifier's 16-bit jump range.
#include "bpf/tls.bpf.h"
