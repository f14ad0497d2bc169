// What differs between kernels, in one place: the agent probes the running kernel
// (agent/capture/kernel_features.h) and picks the object and the switches below, so one agent
// runs on every kernel >= 5.8 with BTF. Included by capture.bpf.c only.
//
// Two kinds of fallback, because the verifier treats missing features in two ways:
// - A helper or map type the kernel lacks may sit in code the verifier proves dead: the switches
//   are `const volatile` rodata, frozen before load, so the verifier knows their value and drops
//   the other branch before it resolves helper calls. (Privileged loads remove dead code.)
// - An instruction or relocation the kernel cannot decode is refused before any analysis, dead
//   or not: atomic fetch-and-add/exchange (5.12) and bpf_loop's callback references (5.13; the
//   helper 5.17). The object is therefore built twice from this source (bpf/BUILD.bazel): the
//   default one, and capture_compat.bpf.o with HT_COMPAT=1, which has neither.

#pragma once

// Set by the agent before load (true on current kernels).
// BPF_MAP_TYPE_TASK_STORAGE (5.11): per-thread syscall state of the tracepoint mode. Without it,
// `calls` becomes an LRU hash keyed by thread id (the agent changes its type before load).
const volatile bool have_task_storage = true;
// bpf_task_pt_regs (5.15): the raw sys_exit program reads the task's registers with plain loads.
// Without it, it reads them through the tracepoint's own pt_regs argument (bpf_probe_read_kernel).
const volatile bool have_task_pt_regs = true;

#if HT_COMPAT
// No atomic fetch-and-add on these kernels. The read-modify-write is not atomic: two threads
// moving data on the same socket at the same instant may be given overlapping stream ranges (the
// agent then reports a gap or an overlap); syscalls on one socket from one thread, the common
// case, are exact. Connection ids do not come from a counter there (new_conn_id).
#define ht_fetch_add(p, v)           \
  ({                                 \
    __typeof__(*(p)) ht_old_ = *(p); \
    *(p) = ht_old_ + (v);            \
    ht_old_;                         \
  })
#define ht_exchange(p, v)            \
  ({                                 \
    __typeof__(*(p)) ht_old_ = *(p); \
    *(p) = (v);                      \
    ht_old_;                         \
  })

// bpf_loop(n, cb) without bpf_loop: bounded loops in global functions of their own. The verifier
// checks a global function once, by its signature, not per call, so nested loops cost the sum of
// their iterations to verify, not the product. Each loop is split in blocks: an outer loop of
// max / block calls (a few instructions each to verify) of a function running `block` iterations
// of the callback (its whole body each), so an expensive body gets a small block. Per compat exit
// program: 287k instructions verified unsplit, 55k with blocks of 32, 8k with the blocks below
// and global outer loops; 71k (raw: 182k) with the outer loop inlined into its caller, which 5.10
// needs (measured on 6.18 after the socket-identity merge): a global function is a call frame, and
// 5.10 refuses a call chain whose frames (each rounded up to 32 bytes) exceed 512 bytes of stack
// (raw_sys_exit -> 3 nested loops was 7 frames, 544 bytes; it is 4 frames now). Define it right
// after the callback; HT_LOOP(cb, n) calls it.
#define HT_LOOP_FUNCTION(cb, max, block)                           \
  __attribute__((noinline)) int cb##_block(__u32 start, __u32 n) { \
    for (__u32 j = 0; j < (block); j++) {                          \
      if (start + j >= n || cb(start + j, (void*)0)) return 1;     \
    }                                                              \
    return 0;                                                      \
  }                                                                \
  static __always_inline int cb##_bounded(__u32 n) {               \
    for (__u32 b = 0; b < ((max) + (block)-1) / (block); b++) {    \
      if (cb##_block(b * (block), n < (max) ? n : (max))) break;   \
    }                                                              \
    return 0;                                                      \
  }
#define HT_LOOP(cb, n) cb##_bounded(n)
#else
#define ht_fetch_add(p, v) __sync_fetch_and_add((p), (v))
#define ht_exchange(p, v) __sync_lock_test_and_set((p), (v))
#define HT_LOOP_FUNCTION(cb, max, block)
#define HT_LOOP(cb, n) bpf_loop((n), cb, NULL, 0)
#endif

// The thread's record in `calls`: task-local storage, or the LRU hash keyed by thread id that
// replaces it where the kernel has no task storage. NULL when there is none (and !create), or
// when the hash could not take one more thread.
static __always_inline struct call_args* calls_lookup(int create) {
  if (have_task_storage) {
    return bpf_task_storage_get(&calls, bpf_get_current_task_btf(), 0,
                                create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
  }
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct call_args* a = bpf_map_lookup_elem(&calls, &tid);
  if (a || !create) return a;
  struct call_args empty = {};
  bpf_map_update_elem(&calls, &tid, &empty, BPF_NOEXIST);
  return bpf_map_lookup_elem(&calls, &tid);
}

// The syscall's arguments as the x86_64 syscall ABI passes them.
struct syscall_regs {
  __u64 di, si, dx, r10;
};

// 64-bit user code segment: 32-bit (ia32) tasks number their syscalls differently (3 is read
// there, close here), so their syscalls are not interpreted at all.
#define USER64_CS 0x33

// The user registers of the task at sys_exit. `arg` is the tracepoint's own pt_regs argument,
// read with bpf_probe_read_kernel where bpf_task_pt_regs is missing.
static __always_inline struct pt_regs* task_regs(void) {
  return have_task_pt_regs ? (struct pt_regs*)bpf_task_pt_regs(bpf_get_current_task_btf()) : NULL;
}

// The syscall number, or -1 for a 32-bit task.
static __always_inline long regs_syscall_nr(struct pt_regs* regs, struct pt_regs* arg) {
  if (have_task_pt_regs) return regs->cs == USER64_CS ? (long)regs->orig_ax : -1;
  return BPF_CORE_READ(arg, cs) == USER64_CS ? (long)BPF_CORE_READ(arg, orig_ax) : -1;
}

static __always_inline void regs_syscall_args(struct pt_regs* regs, struct pt_regs* arg,
                                              struct syscall_regs* r) {
  if (have_task_pt_regs) {
    r->di = regs->di;
    r->si = regs->si;
    r->dx = regs->dx;
    r->r10 = regs->r10;
  } else {
    r->di = BPF_CORE_READ(arg, di);
    r->si = BPF_CORE_READ(arg, si);
    r->dx = BPF_CORE_READ(arg, dx);
    r->r10 = BPF_CORE_READ(arg, r10);
  }
}
