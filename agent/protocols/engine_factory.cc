#include "agent/protocols/engine_factory.h"

#include "agent/protocols/http1/message_start.h"
#include "agent/protocols/http2/frame_parser.h"
#include "agent/protocols/switching_engine.h"

namespace httptrace::protocols {

std::unique_ptr<ProtocolEngine> MakeEngine(Protocol protocol, const EngineOptions& options,
                                           RoleHint hint,
                                           ProtocolEngine::ExchangeCallback on_exchange) {
  switch (protocol) {
    case Protocol::kHttp2:
      return std::make_unique<http2::Http2Connection>(options, hint, std::move(on_exchange));
    case Protocol::kHttp1:
    case Protocol::kUnknown:
      break;
  }
  // HTTP/1 may upgrade to h2c: the wrapper hands the connection on at the 101.
  return std::make_unique<SwitchingEngine>(
      std::make_unique<http1::Http1Connection>(options, hint, on_exchange), options, on_exchange);
}

bool BeginsMessage(Protocol protocol, absl::string_view data) {
  switch (protocol) {
    case Protocol::kHttp2:
      return http2::BeginsHttp2Message(data);
    case Protocol::kHttp1:
    case Protocol::kUnknown:
      break;
  }
  constexpr size_t kMaxLine = 8192;
  const http1::StartScan scan =
      http1::FindMessageStart(data.substr(0, kMaxLine), /*want_request=*/true,
                              /*want_response=*/true, kMaxLine);
  return scan.found && scan.offset == 0;
}

void EngineCounterTotals::Add(const ProtocolEngine& engine) {
  // The factory's own wrapper: both engines of a connection that switched protocols.
  if (const auto* switching = dynamic_cast<const SwitchingEngine*>(&engine)) {
    Add(switching->first());
    if (switching->next() != nullptr) Add(*switching->next());
    return;
  }
  switch (engine.protocol()) {
    case Protocol::kHttp1:
      http1_ += static_cast<const http1::Http1Connection&>(engine).counters();
      break;
    case Protocol::kHttp2:
      http2_ += static_cast<const http2::Http2Connection&>(engine).counters();
      break;
    case Protocol::kUnknown:
      break;
  }
}

void EngineCounterTotals::ForEach(
    absl::FunctionRef<void(const char* name, uint64_t value)> fn) const {
  http1_.ForEach(fn);
  http2_.ForEach(fn);
}

}  // namespace httptrace::protocols
