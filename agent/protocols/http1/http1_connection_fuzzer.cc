// libFuzzer target for the HTTP engine: the input is a small program of chunk deliveries (either
// direction, captured bytes plus bytes lost after them, holes, reordering, close) run against
// one Http1Connection. Checks the engine's invariants on every exchange it emits.
//
// Built and run by //agent/protocols/http1:http1_connection_fuzz_test
// (common/testing/run_fuzzer.sh: clang; gcc has no libFuzzer). Input format (fuzz/make_corpus.py
// writes seeds):
//   byte 0: bits 0-1 role hint (0 unknown, 1 client, 2 server, 3 client), bit 2 tiny limits.
//   then ops; op byte bits 0-1 kind:
//     0, 1: data on egress/ingress. length = next byte | (op bits 2-3) << 8; bit 4: one more byte
//           of bytes lost after the chunk; bit 5: hold the chunk and deliver it after the next.
//     2:    hole: bit 2 direction; next byte: bytes skipped (never delivered).
//     3:    close.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "agent/protocols/http1/http1_connection.h"
#include "common/testing/fuzz_check.h"

namespace {

using httptrace::protocols::Direction;
using httptrace::protocols::EngineOptions;
using httptrace::protocols::Exchange;
using httptrace::protocols::RoleHint;
using httptrace::protocols::http1::Http1Connection;

struct Chunk {
  Direction direction;
  uint64_t position;
  std::string data;
  uint64_t length;
  uint64_t ts;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t i = 0;
  const uint8_t config = data[i++];
  static const RoleHint kHints[] = {RoleHint::kUnknown, RoleHint::kClient, RoleHint::kServer,
                                    RoleHint::kClient};
  EngineOptions options;
  if (config & 4) {
    options.max_header_block_bytes = 64;
    options.max_headers = 3;
    options.max_body_bytes = 16;
    options.max_pending_requests = 2;
    options.max_buffered_bytes = 256;
    options.max_reorder_chunks = 2;
    options.max_start_line_bytes = 40;
    options.max_decode_output_bytes = 4096;
  }
  const EngineOptions limits = options;
  uint64_t emitted = 0;
  Http1Connection conn(options, kHints[config & 3], [&](Exchange&& e) {
    ++emitted;
    FUZZ_CHECK(e.has_request || e.has_response || !e.notes.empty());
    FUZZ_CHECK(!e.complete || (e.has_request && e.has_response));
    FUZZ_CHECK(e.request.body.data.size() <= limits.max_body_bytes);
    FUZZ_CHECK(e.response.body.data.size() <= limits.max_body_bytes);
    FUZZ_CHECK(e.request.body.missing_bytes <= e.request.body.encoded_size);
    FUZZ_CHECK(e.response.body.missing_bytes <= e.response.body.encoded_size);
    FUZZ_CHECK(e.request.headers.size() <= limits.max_headers);
    FUZZ_CHECK(e.response.headers.size() <= limits.max_headers);
    (void)httptrace::protocols::DebugString(e);
  });
  uint64_t position[2] = {0, 0};
  uint64_t ts = 1;
  std::optional<Chunk> held;
  bool closed = false;
  auto deliver = [&](const Chunk& c) {
    conn.OnData(c.direction, c.position, c.data, c.length, c.ts);
    FUZZ_CHECK(conn.pending_requests() <= std::max<size_t>(limits.max_pending_requests, 1));
  };
  while (i < size) {
    const uint8_t op = data[i++];
    ++ts;
    switch (op & 3) {
      case 0:
      case 1: {
        const Direction d = static_cast<Direction>(op & 1);
        if (i >= size) break;
        size_t len = data[i++] | (static_cast<size_t>((op >> 2) & 3) << 8);
        uint64_t lost = 0;
        if ((op & 0x10) && i < size) lost = data[i++];
        len = std::min(len, size - i);
        Chunk c{d, position[static_cast<int>(d)],
                std::string(reinterpret_cast<const char*>(data + i), len), len + lost, ts};
        i += len;
        position[static_cast<int>(d)] += len + lost;
        if (op & 0x20) {
          if (held) deliver(*held);
          held = std::move(c);
        } else {
          deliver(c);
          if (held) {
            deliver(*held);
            held.reset();
          }
        }
        break;
      }
      case 2: {
        if (i >= size) break;
        position[(op >> 2) & 1] += data[i++];
        break;
      }
      case 3:
        if (held) {
          deliver(*held);
          held.reset();
        }
        conn.OnClose(ts);
        closed = true;
        break;
    }
  }
  if (held) deliver(*held);
  if (!closed) conn.OnClose(ts + 1);
  FUZZ_CHECK(conn.stopped());
  FUZZ_CHECK(conn.counters().exchanges == emitted);
  FUZZ_CHECK(conn.pending_requests() == 0);
  // Conservation: every exchange begun (a start seen, a placeholder for one lost) was emitted.
  FUZZ_CHECK(conn.balance().has_value() && conn.balance()->balanced() && conn.balance()->held == 0);
  return 0;
}
