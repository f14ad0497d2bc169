// Test helpers for the HTTP/1 engine; see http1_test_util.h.

#include "agent/protocols/http1/http1_test_util.h"

#include <random>

#include "absl/strings/str_cat.h"

namespace httptrace::protocols::http1::testing {

Outcome RunScript(const Script& script, Split split, uint32_t seed) {
  Outcome outcome;
  Http1Connection conn(script.options, script.hint,
                       [&](Exchange&& e) { outcome.exchanges.push_back(std::move(e)); });
  std::mt19937 rng(seed);
  uint64_t position[2] = {0, 0};
  for (const Segment& seg : script.segments) {
    uint64_t& pos = position[static_cast<int>(seg.direction)];
    const std::string& b = seg.bytes;
    size_t off = 0;
    if (b.empty()) {
      conn.OnData(seg.direction, pos, "", seg.lost_after, seg.timestamp_ns);
    }
    while (off < b.size()) {
      size_t n = b.size() - off;
      if (split == Split::kOneByte) n = 1;
      if (split == Split::kRandom) {
        n = std::min<size_t>(n, std::uniform_int_distribution<size_t>(1, 64)(rng));
      }
      bool last = off + n == b.size();
      uint64_t length = n + (last ? seg.lost_after : 0);
      conn.OnData(seg.direction, pos + off, absl::string_view(b).substr(off, n), length,
                  seg.timestamp_ns);
      off += n;
    }
    pos += b.size() + seg.lost_after;
  }
  if (script.close) conn.OnClose(script.close_ts);
  outcome.counters = conn.counters();
  outcome.balance = *conn.balance();
  return outcome;
}

std::string Canonical(const Outcome& outcome) {
  std::string out;
  for (const Exchange& e : outcome.exchanges) absl::StrAppend(&out, DebugString(e));
  const EngineCounters& c = outcome.counters;
  // chunks, captured_bytes and reordering depend on the split; these must not.
  absl::StrAppend(
      &out, "exchanges=", c.exchanges, " incomplete=", c.incomplete_exchanges, " gaps=", c.gaps,
      " gap_bytes=", c.gap_bytes, " body_gap=", c.body_gap_bytes,
      " dropped_gap=", c.messages_dropped_gap, " dropped_parse=", c.messages_dropped_parse_error,
      " skipped=", c.resync_skipped_bytes, " hdr_large=", c.header_block_too_large,
      " hdr_many=", c.too_many_headers, " body_trunc=", c.bodies_truncated,
      " body_not_kept=", c.body_bytes_not_kept, " pending_overflow=", c.pending_requests_overflow,
      " no_resp=", c.requests_without_response, " no_req=", c.responses_without_request,
      " interim=", c.interim_responses, " upgrades=", c.upgrades, " tunnels=", c.connect_tunnels,
      " decoded=", c.bodies_decoded, " decode_err=", c.decode_errors,
      " role_override=", c.role_hint_overridden, "\n");
  return out;
}

Segment Out(std::string bytes, uint64_t ts, uint64_t lost_after) {
  return Segment{Direction::kEgress, std::move(bytes), ts, lost_after};
}

Segment In(std::string bytes, uint64_t ts, uint64_t lost_after) {
  return Segment{Direction::kIngress, std::move(bytes), ts, lost_after};
}

}  // namespace httptrace::protocols::http1::testing
