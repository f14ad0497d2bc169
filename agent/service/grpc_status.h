// Maps absl::Status to grpc::Status with the same code and message, so clients see NOT_FOUND,
// INVALID_ARGUMENT, ... rather than a generic failure.

#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace httptrace::service {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace httptrace::service
