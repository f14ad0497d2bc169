// The protocol engines behind one door: the tracker makes a connection's engine here for the
// protocol the probes detected, adds up the counters of engines that are gone, and asks whether
// bytes it had to drop began a message (so the loss is counted in exchanges). Adding a protocol
// means adding it here and nowhere in agent/pipeline.

#pragma once

#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/engine.h"
#include "agent/protocols/common/engine_options.h"
#include "agent/protocols/http1/http1_connection.h"
#include "agent/protocols/http2/http2_connection.h"

namespace httptrace::protocols {

// The engine for `protocol`. kUnknown (the probes copy only classified connections, so only a
// corrupt or future event has it) gets the HTTP/1 engine, whose resynchronisation finds
// HTTP/1 messages in any bytes and counts everything else.
std::unique_ptr<ProtocolEngine> MakeEngine(Protocol protocol, const EngineOptions& options,
                                           RoleHint hint,
                                           ProtocolEngine::ExchangeCallback on_exchange);

// Whether `data`, the first bytes of a syscall's payload on a connection of `protocol`, begins
// a message (an HTTP/1 request or status line; an HTTP/2 HEADERS or PUSH_PROMISE frame among the
// frames it holds), as the probes count theirs (bpf/http1.bpf.h, bpf/http2.bpf.h; the probes see
// only the first frame header).
bool BeginsMessage(Protocol protocol, absl::string_view data);

// The counters of every engine added, per protocol (engines that ended; the live ones are
// added on top for a snapshot).
class EngineCounterTotals {
 public:
  void Add(const ProtocolEngine& engine);
  void ForEach(absl::FunctionRef<void(const char* name, uint64_t value)> fn) const;

 private:
  http1::EngineCounters http1_;
  http2::Http2Counters http2_;
};

}  // namespace httptrace::protocols
