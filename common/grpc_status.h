// gRPC's status codes by name (grpc/doc/statuscodes.md), for the agent's exporters and the ctl's
// renderers alike: one table.

#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace httptrace {

// "OK", "CANCELLED", ... "UNAUTHENTICATED" for 0..16; empty for any other code.
absl::string_view GrpcStatusName(uint32_t code);

}  // namespace httptrace
