// The one interface between the connection tracker (agent/pipeline) and a protocol engine: the
// tracker feeds a connection's positioned bytes and its ends, and the engine hands out finished
// Exchanges and says what it holds and what it lost. One engine per connection, made by
// MakeEngine (agent/protocols/engine_factory.h) for the protocol the probes detected.
//
//   std::unique_ptr<ProtocolEngine> engine = MakeEngine(Protocol::kHttp1, options, hint, publish);
//   engine->OnData(Direction::kEgress, position, captured, length, ts, /*from_file=*/false);
//   engine->OnClose(ts);  // flushes what is pending
//
// Single-threaded: an engine is used by one thread at a time.

#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/exchange.h"
#include "agent/protocols/common/protocol.h"

namespace httptrace::protocols {

// client: egress carries requests; server: ingress carries requests; unknown: decided by content.
enum class RoleHint : uint8_t { kUnknown, kClient, kServer };

// What an engine lost, in the terms the tracker reports losses in (agent/pipeline/
// exchange_tracker.h). Every field only grows.
struct LossCounters {
  uint64_t gap_bytes = 0;             // stream bytes never seen (all gaps)
  uint64_t messages_dropped_gap = 0;  // messages cut by a gap outside a body of known length
  uint64_t parse_errors = 0;          // bytes the protocol's parser refused, by occurrence
  uint64_t messages_dropped_parse_error = 0;  // messages cut by those errors
  uint64_t buffer_overflow_bytes = 0;         // bytes dropped at the engine's buffer limit
};

// Conservation of an engine's exchanges: every exchange it began (a message start it saw, or a
// placeholder for one it knows was lost) is emitted exactly once, or still held. After OnClose
// nothing is held: started == emitted. The tracker checks it for every connection that ends.
struct ExchangeBalance {
  uint64_t started = 0;
  uint64_t emitted = 0;
  uint64_t held = 0;
  bool balanced() const { return started == emitted + held; }
};

// An engine's request to hand its connection on to another protocol's engine (an HTTP/1.1
// Upgrade answered 101, e.g. h2c: RFC 7540 3.2). Bytes before `start_position` stay with the
// engine that asked; bytes at or after it belong to `protocol`. The factory's SwitchingEngine
// (agent/protocols/switching_engine.h) acts on it.
struct ProtocolSwitch {
  // A piece of a direction's stream that the old engine received past the switch point (early
  // chunks it held, bytes behind the message that switched). Empty `bytes` with a `length`: a
  // gap the old engine saw there.
  struct Chunk {
    Direction direction;
    uint64_t position;
    std::string bytes;
    uint64_t length;
    uint64_t timestamp_ns;
  };

  Protocol protocol = Protocol::kUnknown;
  // Per Direction (index static_cast<size_t>(direction)): where the new protocol's bytes begin.
  std::array<uint64_t, 2> start_position{};
  // The request that asked for the switch, for the new engine to adopt (h2c: stream 1's
  // request, whose response comes in the new protocol).
  Direction request_direction = Direction::kEgress;
  Request request;
  uint64_t request_start_ns = 0;
  uint64_t request_end_ns = 0;
  std::vector<Chunk> handed_over;
};

class ProtocolEngine {
 public:
  // Called from inside OnData/OnEndOfStream/OnClose; must not call back into the engine.
  using ExchangeCallback = std::function<void(Exchange&&)>;

  virtual ~ProtocolEngine() = default;

  virtual Protocol protocol() const = 0;

  // `position` is the byte offset of captured[0] in this direction's stream; `length` is the
  // true number of bytes the syscall moved starting at `position` (>= captured.size(): the
  // missing tail is a known gap). Chunks may arrive slightly out of order or with holes.
  // `from_file`: the bytes went from a file straight to the socket (sendfile): the missing tail
  // is reported as "sent from a file", not as lost. `not_copied`: the probes copied only a prefix
  // on purpose (the sessions' per-message limit or another capture limit): the missing tail is
  // a truncation, not a loss. Otherwise the missing tail is lost.
  virtual void OnData(Direction direction, uint64_t position, absl::string_view captured,
                      uint64_t length, uint64_t timestamp_ns, bool from_file = false,
                      bool not_copied = false) = 0;
  // Nothing more comes in `direction` while the other direction may go on.
  virtual void OnEndOfStream(Direction direction, uint64_t timestamp_ns) = 0;
  // End of both streams: emits whatever is pending, with notes. Later data is counted, ignored.
  virtual void OnClose(uint64_t timestamp_ns) = 0;

  // Bytes this connection holds (reassembly buffers, messages waiting for their other half),
  // approximately: what the agent's memory budget is charged for it. Called after every chunk.
  virtual size_t HeldBytes() const = 0;
  // Cheap (a few loads): compared after every chunk.
  virtual LossCounters losses() const = 0;
  // Its exchanges begun, emitted and held; std::nullopt for an engine that does not count them.
  virtual std::optional<ExchangeBalance> balance() const { return std::nullopt; }
  // Calls fn("<protocol>.<name>", value) for every counter of the engine.
  virtual void ForEachCounter(
      absl::FunctionRef<void(const char* name, uint64_t value)> fn) const = 0;

  // A protocol switch this engine asked for since the last call (asked after any OnData,
  // OnEndOfStream or OnClose), once. After it the engine parses nothing at or past the switch
  // point: what it receives there waits in the next switch's `handed_over`.
  virtual std::optional<ProtocolSwitch> TakeProtocolSwitch() { return std::nullopt; }
};

}  // namespace httptrace::protocols
