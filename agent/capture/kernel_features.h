// The BPF features of the running kernel that the capture probes can do without, probed with
// libbpf and small test loads (never by version number), and the fallback each absence selects.
// probe_object.h turns them into the object and switches that are loaded; bpf/compat.bpf.h is the
// kernel side. Only the ring buffer (5.8) is required.
//   KernelFeatures f = ProbeKernelFeatures();
//   if (absl::Status s = CheckRequiredFeatures(f); !s.ok()) return s;
//   HT_LOG(INFO) << DescribeFeatures(f);

#pragma once

#include <string>

#include "absl/status/status.h"

namespace httptrace::capture {

struct KernelFeatures {
  bool ring_buffer = false;   // BPF_MAP_TYPE_RINGBUF (5.8): required
  bool task_storage = false;  // BPF_MAP_TYPE_TASK_STORAGE (5.11); else an LRU hash by thread id
  bool task_pt_regs = false;  // bpf_task_pt_regs (5.15); else the raw tracepoint's pt_regs arg
  bool bpf_loop = false;      // bpf_loop (5.17); else bounded loops in global functions
  bool atomic_fetch = false;  // atomic fetch-and-add/exchange (5.12); else plain updates
  // The probes built with HT_COMPAT=1 (bounded loops, no atomic fetch instructions).
  bool compat_object() const { return !bpf_loop || !atomic_fetch; }
  // The same kernel with every optional feature treated as missing (tests of the fallbacks).
  KernelFeatures WithoutOptional() const {
    KernelFeatures f;
    f.ring_buffer = ring_buffer;
    return f;
  }
};

// Probes the running kernel. Needs the privileges that loading the probes needs.
KernelFeatures ProbeKernelFeatures();

// FailedPrecondition, naming the kernel and what to do, when a required feature is missing.
absl::Status CheckRequiredFeatures(const KernelFeatures& features);

// One line for logs and `httptracectl status`: each optional feature, and what is used instead
// where it is missing ("bpf_loop no: bounded loops (compat object)").
std::string DescribeFeatures(const KernelFeatures& features);

}  // namespace httptrace::capture
