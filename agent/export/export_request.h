// The export session an agent starts by itself (httptrace-agent --otlp-endpoint ...): its
// StartCaptureRequest from the agent's flags, so a DaemonSet exports without anyone running
// httptracectl. Filters mean what httptracectl's do (--otlp-port is --port, ...).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::otlp {

struct ExportFlags {
  std::string endpoint;
  std::vector<std::string> ports, pids, containers, namespaces, pods;
  std::vector<std::string> headers;  // "name=value"
  // OTEL_EXPORTER_OTLP_HEADERS: "name=value,name2=value2" (values may be %-encoded), the
  // OpenTelemetry SDKs' variable: how a Kubernetes Secret reaches the agent without a flag.
  std::string headers_env;
  std::string ca_file, cert_file, key_file;
  absl::Duration metrics_interval = absl::Seconds(15);
  absl::Duration batch_delay = absl::Seconds(1);
  absl::Duration max_retry_time = absl::Seconds(60);
  uint32_t max_queue_spans = 0, max_batch_spans = 0, max_metric_series = 0;
};

// INVALID_ARGUMENT naming the flag to fix; a file that cannot be read is named.
absl::StatusOr<v1::StartCaptureRequest> ExportRequestFromFlags(const ExportFlags& flags);

}  // namespace httptrace::otlp
