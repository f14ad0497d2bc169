// TLS plaintext: uprobes on the read/write calls of TLS libraries, attached per library file by
// the agent (agent/tls/) only while a session is active. Included at the end of capture.bpf.c:
// the plaintext goes through the same connection records, filters, positions and copy loops as
// a syscall's bytes, so TLS exchanges carry the same pid, role, addresses and container.
//
// Tying plaintext to its socket: the syscalls a library makes inside the call (seen by
// tls_sys_enter) record their fd in the thread's tls_call; a call served from the library's
// buffer makes none and takes the fd its connection object used last (tls_fds). Every program
// here is named tls_*: the capture attaches none of them itself (agent/capture/capture.cc).
//
// Memory BIOs (node, python's ssl.SSLObject): the library makes no syscall at all; the program
// reads the socket itself and hands the ciphertext over. Tied by thread (tls_threads): once a
// thread has called a TLS function, tls_sys_enter records the fd of its read-type syscalls made
// outside TLS calls; the first TLS object that reads after such a read (any return, WANT_READ
// included) is bound to that fd (tls_fds), and its writes and buffered reads use the binding (a
// write of an object not bound yet may take the thread's read the same way).
// This holds for event loops that read a socket and then decrypt that connection's bytes on the
// same thread (libuv, asyncio). Only sockets are recorded (files, pipes and eventfds read in
// between are passed over). Limits: a program that decrypts on another thread than the one that
// read, or reads a second socket (another connection, a unix socket) before decrypting the
// first, is tied wrongly or not at all; python's SSLObject is tied from SSL_do_handshake on. A
// thread whose TLS calls make their own socket syscalls (socket BIO) is marked own_io and never
// tied this way.

#pragma once

// Entry of SSL_read(ssl, buf, num), SSL_write(...), and the _ex forms (whose byte count comes
// back through a size_t*), gnutls_record_recv/send(session, data, size).
static __always_inline int tls_enter(__u64 session, __u64 buf, __u64 len, __u64 size_ptr, __u8 dir,
                                     __u8 lib, __u8 ret_int) {
  if (!tls_gate) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  struct tls_call t = {
      .session = session,
      .buf = buf,
      .size_ptr = size_ptr,
      .len = len,
      .fd = -1,
      .dir = dir,
      .lib = lib,
      .ret_int = ret_int,
  };
  if (bpf_map_update_elem(&tls_calls, &id, &t, BPF_ANY)) count(HT_CNT_TLS_CALL_TABLE_FULL, 1);
  // Marks the thread, so tls_sys_enter records its socket reads from now on (memory BIOs).
  if (!bpf_map_lookup_elem(&tls_threads, &id)) {
    struct tls_thread th = {.fd = -1};
    bpf_map_update_elem(&tls_threads, &id, &th, BPF_NOEXIST);
  }
  // And in its own storage, which tls_sys_enter reads first (see there).
  struct call_args* a = calls_lookup(1);
  if (a) a->tls_thread = 1;
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_ssl_read_enter, void* ssl, void* buf, int num) {
  return tls_enter((__u64)ssl, (__u64)buf, num < 0 ? 0 : num, 0, HT_INGRESS, HT_TLS_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(tls_ssl_write_enter, void* ssl, void* buf, int num) {
  return tls_enter((__u64)ssl, (__u64)buf, num < 0 ? 0 : num, 0, HT_EGRESS, HT_TLS_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(tls_ssl_read_ex_enter, void* ssl, void* buf, __u64 num, void* readbytes) {
  return tls_enter((__u64)ssl, (__u64)buf, num, (__u64)readbytes, HT_INGRESS, HT_TLS_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(tls_ssl_write_ex_enter, void* ssl, void* buf, __u64 num, void* written) {
  return tls_enter((__u64)ssl, (__u64)buf, num, (__u64)written, HT_EGRESS, HT_TLS_OPENSSL, 1);
}

// SSL_do_handshake(ssl): a read of length 0 that copies nothing; it marks the thread and ties
// the object by thread (tls_thread_fd) in a handshake that no SSL_read drives (python's
// SSLObject.do_handshake), so its first SSL_write has its socket.
SEC("uprobe")
int BPF_KPROBE(tls_ssl_handshake_enter, void* ssl) {
  return tls_enter((__u64)ssl, 0, 0, 0, HT_INGRESS, HT_TLS_OPENSSL, 1);
}

SEC("uprobe")
int BPF_KPROBE(tls_gnutls_recv_enter, void* session, void* data, __u64 size) {
  return tls_enter((__u64)session, (__u64)data, size, 0, HT_INGRESS, HT_TLS_GNUTLS, 0);
}

SEC("uprobe")
int BPF_KPROBE(tls_gnutls_send_enter, void* session, void* data, __u64 size) {
  return tls_enter((__u64)session, (__u64)data, size, 0, HT_EGRESS, HT_TLS_GNUTLS, 0);
}

// The TLS plaintext record of socket `sk` (tls_socks), created on first use with what the
// socket's own record knows (role from connect/accept) or the socket itself.
static __always_inline struct conn_state* tls_conn(struct conn_key* key, struct sock* sk, __u8 lib,
                                                   struct ht_config* cfg) {
  __u64 skey = (__u64)sk;
  struct conn_state* t = bpf_map_lookup_elem(&tls_socks, &skey);
  if (t) return t;
  // Built in the per-CPU scratch event buffer (unused until process_data stages an event),
  // not on the stack: 5.10 allows 512 bytes of stack for a program and its callees together.
  struct scratch* s = get_scratch();
  if (!s) return NULL;
  struct conn_state* n = (struct conn_state*)s->buf;
  __builtin_memset(n, 0, sizeof(*n));
  struct conn_state* c = bpf_map_lookup_elem(&socks, &skey);
  n->role = c ? c->role : HT_ROLE_UNKNOWN;
  n->opened_ns = c ? c->opened_ns : bpf_ktime_get_boot_ns();
  n->id = new_conn_id();
  n->sk = skey;
  n->tls = lib;
  n->tries_left = n->role == HT_ROLE_UNKNOWN ? HT_TRIES_MID_STREAM : HT_TRIES_FROM_START;
  n->passed_epoch = cfg->filter_epoch;
  read_addresses(sk, n);
  // A client of the agent's own TCP API (a ctl over TLS) is as untraced in plaintext as on its
  // socket: the ciphertext syscalls' record says so (conn_create), or the socket itself.
  n->own_api = c ? c->own_api : own_api_client(sk, n->remote_port);
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  n->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  if (bpf_map_update_elem(&tls_socks, &skey, n, BPF_ANY)) {
    count(HT_CNT_CONN_TABLE_FULL, 1);
    return NULL;
  }
  count(HT_CNT_TLS_CONNS, 1);
  return bpf_map_lookup_elem(&tls_socks, &skey);
}

// The plaintext of a TLS call that moved `n` bytes through `buf` on socket `fd` of this process:
// into the socket's TLS record, then the same path as a syscall's bytes.
static __always_inline int tls_deliver(__u64 id, __s32 fd, __u8 lib, __u8 dir, __u64 buf, __u64 n,
                                       struct ht_config* cfg) {
  __u32 tgid = id >> 32;
  struct conn_key key = {.tgid = tgid, .fd = fd};
  __u32 reason;
  struct sock* s = fd_to_tcp_sock(fd, &reason);
  if (!s) {
    count(HT_CNT_TLS_NO_FD, 1);
    return 0;
  }
  count(HT_CNT_TLS_CALLS, 1);
  struct conn_state* c = tls_conn(&key, s, lib, cfg);
  if (!c) return 0;
  if (c->own_api) {
    count(HT_CNT_SKIP_SELF, 1);
    return 0;
  }
  if (!conn_allowed(c, &key, cfg, (__u32)id)) return 0;
  if (c->protocol == HT_PROTO_NONE) {
    count(HT_CNT_SKIP_NOT_HTTP, 1);
    return 0;
  }
  // The library travels in the connection's record (c->tls, set by tls_conn) to the data event.
  __u8 sys = dir == HT_EGRESS ? HT_SYS_TLS_WRITE : HT_SYS_TLS_READ;
  return process_data(c, &key, cfg, sys, n, buf, n, (__u32)id);
}

// A read call that made no syscall of its own, on a thread that reads sockets itself (a memory
// BIO): takes the fd of the thread's last read outside a TLS call, if no other object has taken
// that read since, and binds the object to it (tls_fds) for its writes and buffered reads. Done
// for calls that return no data too (WANT_READ in a handshake), so the binding is right before
// data flows. Returns the fd, or -1.
static __noinline int tls_thread_fd(__u64 id, __u64 session, __u32 tgid) {
  struct tls_thread* th = bpf_map_lookup_elem(&tls_threads, &id);
  if (!th || th->own_io || th->fd < 0) return -1;
  if (th->session && th->session != session) return -1;
  th->session = session;
  __s32 fd = th->fd;
  struct tls_session_key sk = {.session = session, .tgid = tgid};
  bpf_map_update_elem(&tls_fds, &sk, &fd, BPF_ANY);
  count(HT_CNT_TLS_THREAD_FD, 1);
  return fd;
}

// Return of an OpenSSL/GnuTLS call (the entry said which): `ret` is its return value, a byte
// count (SSL_read, gnutls), or 1 for success (_ex forms). Fills the call, its byte count and its
// socket; false when there is nothing to copy.
static __always_inline bool tls_c_return(__u64 id, long ret, struct tls_call* t, __u64* n) {
  struct tls_call* p = bpf_map_lookup_elem(&tls_calls, &id);
  if (!p) return false;
  *t = *p;
  bpf_map_delete_elem(&tls_calls, &id);
  __u32 tgid = id >> 32;
  int own = t->fd >= 0, tied = 0;
  if (!own && t->dir == HT_INGRESS) {
    t->fd = tls_thread_fd(id, t->session, tgid);
    tied = t->fd >= 0;
  }
  // OpenSSL's calls return an int: -1 (WANT_READ on a non-blocking socket) is 0xffffffff in
  // the 64-bit register.
  if (t->ret_int) ret = (int)ret;
  if (t->size_ptr) {
    if (ret != 1) return false;
    if (bpf_probe_read_user(n, sizeof(*n), (void*)t->size_ptr)) return false;
  } else {
    if (ret <= 0) return false;
    *n = ret;
  }
  if (*n == 0 || *n > t->len) return false;
  struct tls_session_key sk = {.session = t->session, .tgid = tgid};
  if (own) {
    bpf_map_update_elem(&tls_fds, &sk, &t->fd, BPF_ANY);
    // This thread's library does its own socket I/O (tls_sys_enter records sockets only): its
    // reads outside TLS calls are not tied.
    struct tls_thread* th = bpf_map_lookup_elem(&tls_threads, &id);
    if (th && !th->own_io) th->own_io = 1;
  } else if (!tied) {
    __s32* fd = bpf_map_lookup_elem(&tls_fds, &sk);
    // A write of an object not bound yet: node's client writes its first request in the call
    // that ends the handshake, before its first SSL_read with data.
    if (fd) {
      t->fd = *fd;
    } else if (t->dir == HT_EGRESS) {
      t->fd = tls_thread_fd(id, t->session, tgid);
    }
    if (t->fd < 0) {
      count(HT_CNT_TLS_NO_FD, 1);
      return false;
    }
  }
  return true;
}

// Go crypto/tls: (*Conn).Read(b []byte) (int, error) and (*Conn).Write(b []byte). Go 1.17+
// passes arguments in registers (ABIInternal): the receiver in RAX, b's pointer and length in
// RBX and RCX; the result n comes back in RAX; R14 always holds the running goroutine (g).
// - Read: a uprobe at the entry records the call by goroutine (a goroutine blocked in Read
//   resumes on another thread), and uprobes on each RET instruction (agent/tls/go_functions.h:
//   uretprobes corrupt Go stacks) copy n bytes. A goroutine whose stack grows re-runs the entry
//   (morestack restarts the function): the record is overwritten with the same values.
// - Write: copied at its entry, after the stack check (so a restart does not copy twice). At the
//   return it would be too late: the peer's answer, read by another goroutine on another CPU,
//   can reach the ring buffer before the writer reaches its RET, and the response would come
//   before its request. Write sends all of b or fails (a failed write is copied anyway).
static __always_inline int go_tls_enter(struct pt_regs* ctx, __u8 dir) {
  if (!tls_gate) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct ht_config* cfg = get_config();
  if (!cfg || !process_allowed(id >> 32, cfg)) return 0;
  struct tls_session_key g = {.session = ctx->r14, .tgid = id >> 32};
  struct tls_call t = {
      .session = ctx->ax,
      .buf = ctx->bx,
      .len = ctx->cx,
      .fd = -1,
      .dir = dir,
      .lib = HT_TLS_GO,
      .at_entry = dir == HT_EGRESS,
  };
  if (bpf_map_update_elem(&go_tls_calls, &g, &t, BPF_ANY)) {
    count(HT_CNT_TLS_CALL_TABLE_FULL, 1);
    return 0;
  }
  return 1;
}

SEC("uprobe")
int tls_go_read_enter(struct pt_regs* ctx) {
  go_tls_enter(ctx, HT_INGRESS);
  return 0;
}

SEC("uprobe")
int tls_go_write_enter(struct pt_regs* ctx) {
  if (!go_tls_enter(ctx, HT_EGRESS)) return 0;
  bpf_tail_call(ctx, &tls_tail, 0);  // tls_return_probe: copies the record made above
  count(HT_CNT_TLS_TAIL_CALL_FAILED, 1);
  struct tls_session_key g = {.session = ctx->r14, .tgid = bpf_get_current_pid_tgid() >> 32};
  bpf_map_delete_elem(&go_tls_calls, &g);
  return 0;
}

// The socket descriptor of a *tls.Conn, from the Go structures (stable since Go 1.9): Conn starts
// with `conn net.Conn`, an interface (type word, data word); for the *net.TCPConn that crypto/tls
// servers and clients wrap, data points at net.conn{fd *netFD}; netFD starts with
// poll.FD{fdmu fdMutex (16 bytes), Sysfd int}. A net.Conn of another type gives a number that
// tls_deliver checks is a TCP socket of this process, or counts as tls_no_fd.
static __always_inline __s32 go_conn_fd(__u64 conn) {
  __u64 data = 0, netfd = 0;
  __s64 sysfd = -1;
  if (bpf_probe_read_user(&data, sizeof(data), (void*)(conn + 8)) || !data) return -1;
  if (bpf_probe_read_user(&netfd, sizeof(netfd), (void*)data) || !netfd) return -1;
  if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void*)(netfd + 16))) return -1;
  return sysfd >= 0 && sysfd < (1 << 30) ? (__s32)sysfd : -1;
}

// A RET of Go's (*Conn).Read, or a Write's entry (tail-called), on goroutine `g`: fills the
// call, n and its socket; false when it is not one (no record for this goroutine) or there is
// nothing to copy.
static __always_inline bool go_tls_return(struct tls_session_key* g, long ret, struct tls_call* t,
                                          __u64* n) {
  struct tls_call* p = bpf_map_lookup_elem(&go_tls_calls, g);
  if (!p) return false;
  *t = *p;
  bpf_map_delete_elem(&go_tls_calls, g);
  if (t->at_entry) ret = t->len;
  if (ret <= 0 || (__u64)ret > t->len) return false;
  *n = ret;
  t->fd = go_conn_fd(t->session);
  if (t->fd < 0) {
    count(HT_CNT_TLS_NO_FD, 1);
    return false;
  }
  return true;
}

// Every copy of TLS plaintext: the uretprobe of the C libraries' calls, the uprobes on Go's RET
// instructions and Go's Write entry (tail call). One program, so the copy path of process_data
// is verified once more, not three times: under qemu's emulation that verification is what a
// kernel spends longest on at load. Which it is: a record of this goroutine (R14, only
// meaningful in Go code) in go_tls_calls, else the thread's C call.
SEC("uretprobe")
int tls_return_probe(struct pt_regs* ctx) {
  if (!tls_gate) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  long ret = (long)PT_REGS_RC(ctx);
  struct tls_session_key g = {.session = ctx->r14, .tgid = id >> 32};
  struct tls_call t;
  __u64 n = 0;
  if (!go_tls_return(&g, ret, &t, &n) && !tls_c_return(id, ret, &t, &n)) return 0;
  struct ht_config* cfg = get_config();
  if (!cfg) return 0;
  return tls_deliver(id, t.fd, t.lib, t.dir, t.buf, n, cfg);
}

// True when `fd` of the current task is a socket (no counter: fd_to_tcp_sock judges it later).
// Keeps files and eventfds a thread reads, inside a TLS call (node reads the time zone file
// while it checks a certificate) or between its socket read and its TLS read, from being taken
// for the connection's socket.
static __always_inline int tls_fd_is_socket(int fd) {
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* file = NULL;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  if (!file) return 0;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  return (mode & S_IFMT) == S_IFSOCK;
}

// Syscall entries while TLS probes are attached: a read or write inside a TLS call of this
// thread is that call's ciphertext, on the socket its plaintext belongs to. Attached by
// agent/tls/ with the uprobes (a raw tracepoint: no tracefs). Costs every syscall of the host
// a switch, and the data syscalls a look at the thread's own storage (task storage: no hashing;
// an LRU hash lookup on kernels without it), only while a TLS probe is attached. Only threads
// that have called a TLS function (marked by tls_enter) go on to the tls_calls and tls_threads
// lookups: on a server that makes no TLS calls (plain HTTP nginx) those were two hash lookups per
// read, one per write.
SEC("raw_tp/sys_enter")
int BPF_PROG(tls_sys_enter, struct pt_regs* regs, long nr) {
  switch (nr) {
    case NR_read:
    case NR_write:
    case NR_readv:
    case NR_writev:
    case NR_sendto:
    case NR_recvfrom:
    case NR_sendmsg:
    case NR_recvmsg:
      break;
    default:
      return 0;
  }
  struct call_args* mark = calls_lookup(0);
  if (!mark || !mark->tls_thread) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct tls_call* t = bpf_map_lookup_elem(&tls_calls, &id);
  if (!t) {
    // Outside a TLS call: a socket read of a thread that calls TLS functions with a memory BIO
    // (node, python SSLObject); its next TLS read takes this fd (tls_thread_fd).
    if (nr == NR_write || nr == NR_writev || nr == NR_sendto || nr == NR_sendmsg) return 0;
    struct tls_thread* th = bpf_map_lookup_elem(&tls_threads, &id);
    if (!th || th->own_io) return 0;
    int fd = (int)BPF_CORE_READ(regs, di);
    if (!tls_fd_is_socket(fd)) return 0;
    th->fd = fd;
    th->session = 0;
    return 0;
  }
  int fd = (int)BPF_CORE_READ(regs, di);
  if (!tls_fd_is_socket(fd)) return 0;
  t->fd = fd;
  count(HT_CNT_TLS_CIPHER_SKIPPED, 1);
  return 0;
}

// exec: the agent looks at the new image and, once the dynamic loader has run, at its mapped
// libraries. Raw tracepoint: no tracefs needed.
SEC("raw_tp/sched_process_exec")
int BPF_PROG(tls_exec, struct task_struct* p, int old_pid, struct linux_binprm* bprm) {
  struct ht_exec_event e = {.tgid = bpf_get_current_pid_tgid() >> 32};
  if (e.tgid == self_tgid) return 0;
  bpf_ringbuf_output(&tls_execs, &e, sizeof(e), 0);
  return 0;
}
