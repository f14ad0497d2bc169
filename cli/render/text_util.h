// Small text helpers the renderers share: UTF-8 validation and display names of enum values.

#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "proto/httptrace.pb.h"

namespace httptrace::render {

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool IsValidUtf8(absl::string_view bytes);

// "127.0.0.1:8080", "[::1]:8080".
std::string EndpointString(const v1::Endpoint& endpoint);
// "3 lost" or, when the kernel dropped bytes it could not attribute to exchanges,
// "3 lost, 40960 bytes lost in the kernel": exchanges that vanished whole are only known as bytes.
std::string LostSummary(const v1::SessionCounters& counters);
// "client", "server" or "unknown".
absl::string_view RoleName(v1::Role role);
// "kernel_buffer_full", "slow_reader", ... (the enum name without its prefix, lower case).
std::string LossReasonName(v1::LossReason reason);
// "stopped", "max_duration", ...
std::string EndReasonName(v1::EndReason reason);

}  // namespace httptrace::render
