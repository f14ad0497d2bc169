// Kernel and privilege checks for the capture probes, and tracefs discovery/mounting.

#include "agent/capture/probe_environment.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace httptrace::capture {
namespace {

constexpr char kBtfPath[] = "/sys/kernel/btf/vmlinux";
const std::vector<std::string>& DefaultTracefsDirs() {
  static const auto* dirs =
      new std::vector<std::string>{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
  return *dirs;
}

bool HasSyscallEvents(const std::string& dir) {
  return access(absl::StrCat(dir, "/events/syscalls/sys_enter_write").c_str(), F_OK) == 0;
}

// Effective capability bits of this process, from /proc/self/status.
uint64_t EffectiveCapabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "CapEff:")) {
      uint64_t caps = 0;
      if (absl::SimpleHexAtoi(absl::StripAsciiWhitespace(rest), &caps)) return caps;
    }
  }
  return 0;
}

}  // namespace

absl::string_view AttachModeName(AttachMode mode) {
  switch (mode) {
    case AttachMode::kTracepoints:
      return "tracepoints";
    case AttachMode::kRawTracepoints:
      return "raw_tracepoints";
    case AttachMode::kAuto:
      break;
  }
  return "auto";
}

absl::Status CheckKernelSupport() { return CheckKernelSupport(kBtfPath); }

absl::Status CheckKernelSupport(const std::string& btf_path) {
  if (access(btf_path.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("kernel BTF not found at ", btf_path,
                     ": the capture probes need a kernel built with CONFIG_DEBUG_INFO_BTF=y"));
  }
  constexpr int kCapSysAdmin = 21, kCapPerfmon = 38, kCapBpf = 39;
  const uint64_t caps = EffectiveCapabilities();
  const bool admin = (caps >> kCapSysAdmin) & 1;
  const bool bpf_and_perfmon = ((caps >> kCapBpf) & 1) && ((caps >> kCapPerfmon) & 1);
  if (!admin && !bpf_and_perfmon) {
    // Both are checked by the kernel itself (bpf() fails with EPERM without either: verified by
    // dropping each); naming the missing one saves the operator a guess.
    std::vector<std::string> missing;
    if (((caps >> kCapBpf) & 1) == 0)
      missing.push_back("CAP_BPF (creating maps, loading programs)");
    if (((caps >> kCapPerfmon) & 1) == 0) {
      missing.push_back("CAP_PERFMON (loading tracing programs, reading kernel memory)");
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "loading the capture probes needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this agent "
        "lacks ",
        absl::StrJoin(missing, " and "),
        ": grant them (--cap-add=BPF,PERFMON) or run the agent privileged"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FindOrMountTracefs(bool allow_mount) {
  return FindOrMountTracefs(allow_mount, DefaultTracefsDirs());
}

absl::StatusOr<std::string> FindOrMountTracefs(bool allow_mount,
                                               const std::vector<std::string>& candidates) {
  if (candidates.empty()) return absl::InvalidArgumentError("no tracefs candidates");
  for (const std::string& dir : candidates) {
    if (HasSyscallEvents(dir)) return dir;
  }
  const std::string& target = candidates[0];
  if (access(absl::StrCat(target, "/events").c_str(), F_OK) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("tracefs at ", target,
                     " has no syscall tracepoints (kernel without CONFIG_FTRACE_SYSCALLS)"));
  }
  if (!allow_mount) {
    return absl::FailedPreconditionError(absl::StrCat("tracefs is not mounted (tried ",
                                                      absl::StrJoin(candidates, ", "),
                                                      ") and mounting it is not allowed"));
  }
  if (mount("tracefs", target.c_str(), "tracefs", 0, nullptr) != 0) {
    const int err = errno;
    return absl::ErrnoToStatus(
        err, absl::StrCat("tracefs is not mounted and mounting it on ", target, " failed"));
  }
  HT_LOG(INFO) << "mounted tracefs on " << target;
  if (!HasSyscallEvents(target)) {
    return absl::FailedPreconditionError(
        absl::StrCat("tracefs mounted at ", target,
                     " but it has no syscall tracepoints (kernel without CONFIG_FTRACE_SYSCALLS)"));
  }
  return target;
}

absl::StatusOr<ResolvedAttachMode> ResolveAttachMode(AttachMode requested, bool allow_mount) {
#if defined(__x86_64__)
  // Raw sys_exit is the default on x86_64: measured cheaper per syscall than the per-syscall
  // tracepoints (no perf record per call, no entry program, no pairing), needs no tracefs, and
  // attaches/detaches in milliseconds instead of ~1 s (bpf/README.md, "Cost").
  if (requested == AttachMode::kRawTracepoints) {
    return ResolvedAttachMode{AttachMode::kRawTracepoints, "raw tracepoint sys_exit (requested)"};
  }
  if (requested == AttachMode::kAuto) {
    return ResolvedAttachMode{AttachMode::kRawTracepoints,
                              "raw tracepoint sys_exit (default on x86_64; no tracefs needed)"};
  }
#else
  if (requested == AttachMode::kRawTracepoints) {
    return absl::FailedPreconditionError(
        "raw-tracepoint mode reads x86_64 registers; use tracepoints on this architecture");
  }
#endif
  absl::StatusOr<std::string> tracefs = FindOrMountTracefs(allow_mount);
  if (!tracefs.ok()) return tracefs.status();
  return ResolvedAttachMode{AttachMode::kTracepoints,
                            absl::StrCat("syscall tracepoints via tracefs at ", *tracefs)};
}

}  // namespace httptrace::capture
