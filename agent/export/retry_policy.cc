#include "agent/export/retry_policy.h"

#include <algorithm>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace httptrace::otlp {

RetryDecision ClassifyExportFailure(const grpc::Status& status) {
  RetryDecision decision;
  // The google.rpc.Status in the call's trailers (grpc-status-details-bin), when the server
  // sent one.
  if (!status.error_details().empty()) {
    google::rpc::Status details;
    if (details.ParseFromString(status.error_details())) {
      for (const google::protobuf::Any& any : details.details()) {
        google::rpc::RetryInfo retry;
        if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&retry)) {
          decision.server_delay = absl::Seconds(retry.retry_delay().seconds()) +
                                  absl::Nanoseconds(retry.retry_delay().nanos());
        }
      }
    }
  }
  switch (status.error_code()) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      decision.retryable = true;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      decision.retryable = decision.server_delay.has_value();
      break;
    default:
      decision.retryable = false;
  }
  return decision;
}

absl::Duration Backoff(int attempt, absl::Duration initial, absl::Duration max, double jitter) {
  absl::Duration wait = initial;
  for (int i = 0; i < attempt && wait < max; ++i) wait *= 2;
  wait = std::min(wait, max);
  return wait * (0.8 + 0.4 * std::clamp(jitter, 0.0, 0.999999));
}

}  // namespace httptrace::otlp
