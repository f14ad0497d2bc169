// A connection whose protocol may change under it (an HTTP/1.1 Upgrade answered 101, e.g. h2c:
// RFC 7540 3.2): wraps the engine the probes' classification chose and, when that engine asks
// for a ProtocolSwitch, makes the next protocol's engine and gives it every byte at or after
// the switch point (a chunk that straddles the point is split: its head stays with the first
// engine). The tracker sees one engine; counters and losses are both engines' together.
//
// Why a wrapper and not the tracker: the tracker (agent/pipeline) knows no protocol (see
// engine_factory.h), and a switch needs protocol knowledge (the HTTP/2 engine adopts the upgrade
// request as stream 1). The factory makes every HTTP/1 engine inside one; the probes keep
// classifying the connection HTTP/1 and copying its bytes.
//
//   SwitchingEngine engine(std::make_unique<http1::Http1Connection>(...), options, publish);
//   engine.OnData(...);  // HTTP/1 until the 101 of an h2c upgrade, HTTP/2 after it

#pragma once

#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/engine.h"
#include "agent/protocols/common/engine_options.h"

namespace httptrace::protocols {

class SwitchingEngine final : public ProtocolEngine {
 public:
  SwitchingEngine(std::unique_ptr<ProtocolEngine> first, const EngineOptions& options,
                  ExchangeCallback on_exchange);

  // The protocol spoken now: the first engine's until a switch, then the next one's.
  Protocol protocol() const override { return current().protocol(); }
  void OnData(Direction direction, uint64_t position, absl::string_view captured, uint64_t length,
              uint64_t timestamp_ns, bool from_file, bool not_copied = false) override;
  void OnEndOfStream(Direction direction, uint64_t timestamp_ns) override;
  void OnClose(uint64_t timestamp_ns) override;
  size_t HeldBytes() const override;
  LossCounters losses() const override;
  void ForEachCounter(absl::FunctionRef<void(const char* name, uint64_t value)> fn) const override;

  const ProtocolEngine& first() const { return *first_; }
  // nullptr until the connection switched.
  const ProtocolEngine* next() const { return next_.get(); }

 private:
  const ProtocolEngine& current() const { return next_ ? *next_ : *first_; }
  // Acts on a switch the first engine asked for, if any.
  void MaybeSwitch();

  const EngineOptions options_;
  const ExchangeCallback on_exchange_;
  std::unique_ptr<ProtocolEngine> first_;
  std::unique_ptr<ProtocolEngine> next_;
  // Per Direction: where the next engine's bytes begin.
  std::array<uint64_t, 2> switch_position_{};
};

}  // namespace httptrace::protocols
