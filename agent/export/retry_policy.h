// When an OTLP export call is worth repeating, and after how long. The OTLP specification's
// gRPC rules: CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
// retryable; RESOURCE_EXHAUSTED only when the server sends a google.rpc.RetryInfo (it can then
// recover); everything else is not. A RetryInfo's retry_delay is honoured; otherwise exponential
// backoff with jitter.

#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>

#include "absl/time/time.h"

namespace httptrace::otlp {

struct RetryDecision {
  bool retryable = false;
  // The server's RetryInfo.retry_delay, when it sent one.
  std::optional<absl::Duration> server_delay;
};

RetryDecision ClassifyExportFailure(const grpc::Status& status);

// The wait before retry number `attempt` (0 for the first retry): initial * 2^attempt, at most
// `max`, times a factor in [0.8, 1.2) from `jitter` in [0, 1).
absl::Duration Backoff(int attempt, absl::Duration initial, absl::Duration max, double jitter);

}  // namespace httptrace::otlp
