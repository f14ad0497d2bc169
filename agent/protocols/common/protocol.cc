#include "agent/protocols/common/protocol.h"

namespace httptrace::protocols {

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kHttp2:
      return "http2";
    case Protocol::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace httptrace::protocols
