// What the running kernel and process allow for the capture probes: BTF, privileges, and which
// attach mode works (syscall tracepoints through tracefs, or raw sys_enter/sys_exit tracepoints).
// Capture::Create calls these; they are separate so the errors can be tested and reported alone.

#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httptrace::capture {

enum class AttachMode {
  kAuto = 0,            // raw tracepoints on x86_64, else tracepoints
  kTracepoints = 1,     // tracepoint/syscalls/sys_{enter,exit}_*: one program per syscall
  kRawTracepoints = 2,  // raw_tp/sys_exit alone, dispatching on the syscall number (x86_64)
};
absl::string_view AttachModeName(AttachMode mode);  // "auto", "tracepoints", "raw_tracepoints"

// FailedPrecondition when the kernel has no BTF (/sys/kernel/btf/vmlinux), PermissionDenied when
// the process lacks root or CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN).
absl::Status CheckKernelSupport();
// The same with another BTF path (tests).
absl::Status CheckKernelSupport(const std::string& btf_path);

// The tracefs directory holding events/syscalls (e.g. "/sys/kernel/tracing"). When none is
// mounted and `allow_mount`, mounts tracefs on /sys/kernel/tracing. Errors say what failed.
absl::StatusOr<std::string> FindOrMountTracefs(bool allow_mount);
// The same over other candidate directories; the first one is the mount target (tests).
absl::StatusOr<std::string> FindOrMountTracefs(bool allow_mount,
                                               const std::vector<std::string>& candidates);

struct ResolvedAttachMode {
  AttachMode mode = AttachMode::kAuto;
  std::string detail;  // why this mode, for logs and ProbeInfo
};

// kAuto picks raw tracepoints on x86_64 (cheaper, no tracefs), tracepoints elsewhere.
// kTracepoints needs FindOrMountTracefs and fails with its error; kRawTracepoints fails off
// x86_64.
absl::StatusOr<ResolvedAttachMode> ResolveAttachMode(AttachMode requested, bool allow_mount);

}  // namespace httptrace::capture
