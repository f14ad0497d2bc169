// %XX decoding, one implementation for every place text arrives escaped: gRPC's grpc-message,
// OTEL_* environment values, query strings and form bodies (redaction, HAR). An escape that is
// not two hex digits is kept as it is; nothing fails.

#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace httptrace {

// "%41%zz" -> "A%zz". `+` stays a plus (grpc-message, W3C baggage-style values).
std::string PercentDecode(absl::string_view text);

// application/x-www-form-urlencoded (and query strings): as PercentDecode, and `+` is a space.
std::string FormDecode(absl::string_view text);

}  // namespace httptrace
