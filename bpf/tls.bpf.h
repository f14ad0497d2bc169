// TLS plaintext: uprobes on the read/write calls of TLS libraries, attached per library file by
// the agent (agent/tls/) only while a session is active. Included at the end of capture.bpf.c:
// the plaintext goes through the same connection records, filters, positions and copy loops as
// a syscall's bytes, so TLS exchanges carry the same pid, role, addresses and container.
//
// Tying plaintext to its socket: the syscalls a library makes inside the call (track_fd ->
// tls_syscall) record their fd in the thread's tls_call; a call served from the library's
// buffer makes none and takes the fd its connection object used last (tls_fds). Every program
// here is named tls_*: the capture attaches none of them itself (agent/capture/capture.cc).

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
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  n->mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  if (bpf_map_update_elem(&tls_socks, &skey, n, BPF_ANY)) {
    count(HT_CNT_CONN_TABLE_FULL, 1);
    return NULL;
  }
  count(HT_CNT_TLS_CONNS, 1);
  return bpf_map_lookup_elem(&tls_socks, &skey);
}

// Return of any of the calls above (one program: the entry said which call it was). `ret` is
// the call's return value: a byte count (SSL_read, gnutls), or 1 for success (_ex forms).
static __always_inline int tls_return(long ret) {
  if (!tls_gate) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  struct tls_call* p = bpf_map_lookup_elem(&tls_calls, &id);
  if (!p) return 0;
  struct tls_call t = *p;
  bpf_map_delete_elem(&tls_calls, &id);
  // OpenSSL's calls return an int: -1 (WANT_READ on a non-blocking socket) is 0xffffffff in
  // the 64-bit register.
  if (t.ret_int) ret = (int)ret;
  __u64 n;
  if (t.size_ptr) {
    if (ret != 1) return 0;
    if (bpf_probe_read_user(&n, sizeof(n), (void*)t.size_ptr)) return 0;
  } else {
    if (ret <= 0) return 0;
    n = ret;
  }
  if (n == 0 || n > t.len) return 0;
  struct ht_config* cfg = get_config();
  if (!cfg) return 0;
  __u32 tgid = id >> 32;
  struct tls_session_key sk = {.session = t.session, .tgid = tgid};
  if (t.fd >= 0) {
    bpf_map_update_elem(&tls_fds, &sk, &t.fd, BPF_ANY);
  } else {
    __s32* fd = bpf_map_lookup_elem(&tls_fds, &sk);
    if (!fd) {
      count(HT_CNT_TLS_NO_FD, 1);
      return 0;
    }
    t.fd = *fd;
  }
  count(HT_CNT_TLS_CALLS, 1);
  struct conn_key key = {.tgid = tgid, .fd = t.fd};
  __u32 reason;
  struct sock* s = fd_to_tcp_sock(t.fd, &reason);
  if (!s) return 0;
  struct conn_state* c = tls_conn(&key, s, t.lib, cfg);
  if (!c || !conn_allowed(c, &key, cfg, (__u32)id)) return 0;
  if (c->http == HT_HTTP_NO) {
    count(HT_CNT_SKIP_NOT_HTTP, 1);
    return 0;
  }
  __u8 lib = t.lib >= HT_TLS_OPENSSL && t.lib <= HT_TLS_GO ? t.lib : HT_TLS_OPENSSL;
  __u8 sys = HT_SYS_TLS_READ + 2 * (lib - HT_TLS_OPENSSL) + (t.dir == HT_EGRESS);
  return process_data(c, &key, cfg, sys, n, t.buf, n, (__u32)id);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_return_probe, long ret) { return tls_return(ret); }

// Syscall entries while TLS probes are attached: a read or write inside a TLS call of this
// thread is that call's ciphertext, on the socket its plaintext belongs to. Attached by
// agent/tls/ with the uprobes (a raw tracepoint: no tracefs). Costs every syscall of the host
// a switch, and the data syscalls one hash lookup, only while a TLS probe is attached.
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
  __u64 id = bpf_get_current_pid_tgid();
  struct tls_call* t = bpf_map_lookup_elem(&tls_calls, &id);
  if (!t) return 0;
  t->fd = (__s32)BPF_CORE_READ(regs, di);
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
