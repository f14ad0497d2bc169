// Formatting helpers of the capture event types.

#include "agent/capture/capture_events.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace httptrace::capture {

absl::string_view DirectionName(Direction direction) {
  return direction == Direction::kEgress ? "egress" : "ingress";
}

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kServer:
      return "server";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

absl::string_view TlsLibraryName(TlsLibrary library) {
  switch (library) {
    case TlsLibrary::kOpenssl:
      return "openssl";
    case TlsLibrary::kGnutls:
      return "gnutls";
    case TlsLibrary::kGo:
      return "go";
    case TlsLibrary::kNone:
      break;
  }
  return "";
}

absl::string_view LossCauseName(LossCause cause) {
  switch (cause) {
    case LossCause::kRingBufferFull:
      return "ringbuf_full";
    case LossCause::kAgentQueueFull:
      return "agent_queue_full";
  }
  return "unknown";
}

std::string ConnectionKey::ToString() const { return absl::StrCat("#", id); }

std::string SocketAddress::AddressString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    if (inet_ntop(AF_INET, addr.data(), text, sizeof(text)) != nullptr) return text;
  } else if (family == AF_INET6) {
    if (inet_ntop(AF_INET6, addr.data(), text, sizeof(text)) != nullptr) return text;
  }
  return "?";
}

std::string SocketAddress::ToString() const {
  if (family == AF_INET6) return absl::StrCat("[", AddressString(), "]:", port);
  return absl::StrCat(AddressString(), ":", port);
}

}  // namespace httptrace::capture
