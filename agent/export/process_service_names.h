// The service name a process gave itself for OpenTelemetry, so its eBPF spans carry the same
// service.name as the spans its own SDK emits: OTEL_SERVICE_NAME, else `service.name` in
// OTEL_RESOURCE_ATTRIBUTES (the SDKs' order), read once per process from /proc/PID/environ
// (the agent has CAP_SYS_PTRACE, which reading another process's environment needs). Only those
// two variables are looked at; nothing else of the environment is kept.
//
//   ProcessServiceNames names;
//   std::string name = names.Lookup(pid, comm);   // "" when the process set none or is gone

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace httptrace::otlp {

// The name from a NUL-separated environment block ("A=1\0B=2\0"), "" when it sets none.
std::string ServiceNameFromEnviron(absl::string_view environ);

class ProcessServiceNames {
 public:
  // The environment block of a process, nullopt when it cannot be read.
  using EnvironReader = std::function<std::optional<std::string>(uint32_t pid)>;
  static std::optional<std::string> ReadProcEnviron(uint32_t pid);

  explicit ProcessServiceNames(EnvironReader reader = ReadProcEnviron, size_t max_entries = 4096)
      : reader_(std::move(reader)), max_entries_(max_entries) {}

  // Thread-safe. Cached by pid and comm (a pid reused by another program is asked again); the
  // cache is emptied when it holds max_entries.
  std::string Lookup(uint32_t pid, absl::string_view comm) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const EnvironReader reader_;
  const size_t max_entries_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace httptrace::otlp
