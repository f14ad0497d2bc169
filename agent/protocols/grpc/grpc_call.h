// gRPC call metadata from HTTP/2 pseudo-headers and trailers: the service and method of
// `:path`, `grpc-status`, and `grpc-message` percent-decoded (gRPC's HTTP/2 protocol spec).

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace httptrace::protocols::grpc {

// content-type application/grpc, application/grpc+proto, application/grpc-web... (any
// parameters after ';').
bool IsGrpcContentType(absl::string_view content_type);

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}; false when :path has another shape.
bool ParseGrpcPath(absl::string_view path, std::string* service, std::string* method);

// grpc-status: a decimal code; nullopt when absent or not a number.
std::optional<uint32_t> ParseGrpcStatus(absl::string_view value);

}  // namespace httptrace::protocols::grpc
