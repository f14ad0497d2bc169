// Turns the HTTP engine's Exchange plus what the agent knows of the connection and process into
// the API's v1::Exchange. The one place where internal structs meet the wire format.

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/protocols/common/exchange.h"
#include "proto/httptrace.pb.h"

namespace httptrace::pipeline {

struct ConnectionContext {
  uint64_t connection_id = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  std::string local_address;  // textual IP
  uint32_t local_port = 0;
  std::string remote_address;
  uint32_t remote_port = 0;
  std::string node;
  std::optional<v1::Container> container;
  std::string tls_library;  // "openssl", "gnutls", "go": plaintext from that TLS library; "" none
};

// Fills *out (empty; typically on an event's arena, so nothing is copied twice): strings and
// bodies are moved out of `exchange`.
void ToProtoExchange(protocols::Exchange&& exchange, const ConnectionContext& context,
                     v1::Exchange* out);

}  // namespace httptrace::pipeline
