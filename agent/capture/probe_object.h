// Opens the capture probes' BPF object that fits the running kernel: the default object, or the
// HT_COMPAT one where bpf_loop or atomic fetch instructions are missing, with the fallback
// switches of bpf/compat.bpf.h set and `calls` retyped where task storage is missing. Both
// Capture and the probe load test (bpf/capture_bpf_load_test.cc) open the probes through here.
//   auto skel = OpenCaptureObject(ProbeKernelFeatures());
//   ... size maps, set autoload ...; capture_bpf__load(skel->get());

#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "agent/capture/kernel_features.h"

struct capture_bpf;

namespace httptrace::capture {

struct CaptureObjectDeleter {
  void operator()(capture_bpf* skel) const;
};
using CaptureObject = std::unique_ptr<capture_bpf, CaptureObjectDeleter>;

// Entries of the LRU hash that stands in for task storage: threads in a syscall on a traced
// socket at the same time (threads that ended are evicted).
inline constexpr uint32_t kCallsHashEntries = 16384;

// Opened, not loaded. Errors name the operation (libbpf's errno).
absl::StatusOr<CaptureObject> OpenCaptureObject(const KernelFeatures& features);

}  // namespace httptrace::capture
