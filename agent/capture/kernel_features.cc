// Feature probes of the running kernel for the capture probes (see kernel_features.h).

#include "agent/capture/kernel_features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace httptrace::capture {
namespace {

bool MapType(bpf_map_type type) { return libbpf_probe_bpf_map_type(type, nullptr) == 1; }

bool Helper(bpf_prog_type prog_type, bpf_func_id helper) {
  return libbpf_probe_bpf_helper(prog_type, helper, nullptr) == 1;
}

// libbpf has no probe for instructions: load `*(u64 *)(r10 - 8) = 0; r1 = 1;
// r1 = atomic_fetch_add((u64 *)(r10 - 8), r1); r0 = 0; exit`. Kernels before 5.12 refuse the
// BPF_FETCH flag ("BPF_STX uses reserved fields").
bool AtomicFetch() {
  const bpf_insn insns[] = {
      {.code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_10, .off = -8, .imm = 0},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1},
      {.code = BPF_STX | BPF_ATOMIC | BPF_DW,
       .dst_reg = BPF_REG_10,
       .src_reg = BPF_REG_1,
       .off = -8,
       .imm = BPF_ADD | BPF_FETCH},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "ht_probe_atomic", "GPL", insns,
                               sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd < 0) return false;
  close(fd);
  return true;
}

std::string KernelRelease() {
  utsname u = {};
  return uname(&u) == 0 ? u.release : "unknown";
}

}  // namespace

KernelFeatures ProbeKernelFeatures() {
  KernelFeatures f;
  f.ring_buffer = MapType(BPF_MAP_TYPE_RINGBUF);
  f.task_storage = MapType(BPF_MAP_TYPE_TASK_STORAGE);
  f.task_pt_regs = Helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_task_pt_regs);
  f.bpf_loop = Helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_loop);
  f.atomic_fetch = AtomicFetch();
  return f;
}

absl::Status CheckRequiredFeatures(const KernelFeatures& features) {
  if (!features.ring_buffer) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel ", KernelRelease(),
        " has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8 and later): the capture "
        "probes need Linux 5.8 or later with BTF"));
  }
  return absl::OkStatus();
}

std::string DescribeFeatures(const KernelFeatures& f) {
  std::vector<std::string> parts;
  parts.push_back(f.task_storage ? "task storage yes"
                                 : "task storage no: per-thread state in an LRU hash");
  parts.push_back(f.task_pt_regs ? "bpf_task_pt_regs yes"
                                 : "bpf_task_pt_regs no: registers from the tracepoint argument");
  parts.push_back(f.bpf_loop ? "bpf_loop yes" : "bpf_loop no: bounded loops");
  parts.push_back(f.atomic_fetch ? "atomic fetch yes" : "atomic fetch no: plain updates");
  return absl::StrCat("kernel features: ", absl::StrJoin(parts, ", "), "; ",
                      f.compat_object() ? "compat object (HT_COMPAT)" : "default object");
}

}  // namespace httptrace::capture
