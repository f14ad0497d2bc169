// The application protocols the probes tell apart and the agent has engines for. Its own small
// header: the capture layer's events carry it without depending on the engines.

#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace httptrace::protocols {

// As the probes classify a connection (bpf/events.h: enum ht_protocol; the values are the same,
// checked in agent/capture/event_decoder.cc).
enum class Protocol : uint8_t { kUnknown = 0, kHttp1 = 1, kHttp2 = 2 };

// "http1", "http2", or "unknown".
absl::string_view ProtocolName(Protocol protocol);

}  // namespace httptrace::protocols
