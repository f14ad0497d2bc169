// The end of a message's body, the same for every protocol engine: what was not captured is
// flagged and said in the exchange's notes, and a gzip/deflate body is decoded for display
// (EngineOptions::decode_content_encoding) with its true size when all of it was there.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/protocols/common/engine_options.h"
#include "agent/protocols/common/exchange.h"

namespace httptrace::protocols {

// The engine's counters FinalizeBody adds to.
struct BodyCounters {
  uint64_t& bodies_decoded;
  uint64_t& decode_errors;
};

// `content_encoding` is the message's Content-Encoding value (empty when absent); `label` is
// "request" or "response" and begins each note.
void FinalizeBody(Body& body, absl::string_view content_encoding, absl::string_view label,
                  const EngineOptions& options, BodyCounters counters,
                  std::vector<std::string>& notes);

}  // namespace httptrace::protocols
