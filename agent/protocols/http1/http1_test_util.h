// Test helpers for the HTTP engine: a script of per-direction segments (bytes, timestamp, bytes
// lost after them) fed through Http1Connection whole, one byte at a time or in random pieces, and
// a canonical rendering of the outcome so splits can be compared.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/protocols/common/compression_testing.h"
#include "agent/protocols/http1/http1_connection.h"

namespace httptrace::protocols::http1::testing {

using ::httptrace::protocols::testing::Compress;

struct Segment {
  Direction direction;
  std::string bytes;
  uint64_t timestamp_ns = 0;
  // Bytes the syscall moved beyond `bytes` that were never captured (a known gap).
  uint64_t lost_after = 0;
};

struct Script {
  RoleHint hint = RoleHint::kClient;
  std::vector<Segment> segments;
  bool close = true;
  uint64_t close_ts = 1000;
  EngineOptions options;
};

enum class Split { kWhole, kOneByte, kRandom };

struct Outcome {
  std::vector<Exchange> exchanges;
  EngineCounters counters;
  ExchangeBalance balance;  // after the script (and its close, if any)
};

// Feeds every segment as chunks: whole, one byte each, or random sizes from `seed`.
Outcome RunScript(const Script& script, Split split, uint32_t seed = 0);

// Exchanges plus the counters that do not depend on how bytes were split.
std::string Canonical(const Outcome& outcome);

// Shorthands for segments.
Segment Out(std::string bytes, uint64_t ts, uint64_t lost_after = 0);
Segment In(std::string bytes, uint64_t ts, uint64_t lost_after = 0);

}  // namespace httptrace::protocols::http1::testing
