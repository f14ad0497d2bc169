#include "cli/render/text_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace httptrace::render {

bool IsValidUtf8(absl::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length;
    uint32_t min;
    uint32_t code;
    if ((c & 0xe0) == 0xc0) {
      length = 2, min = 0x80, code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3, min = 0x800, code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > n) return false;
    for (size_t j = 1; j < length; ++j) {
      const unsigned char cc = bytes[i + j];
      if ((cc & 0xc0) != 0x80) return false;
      code = (code << 6) | (cc & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

std::string EndpointString(const v1::Endpoint& endpoint) {
  if (endpoint.address().find(':') != std::string::npos) {
    return absl::StrCat("[", endpoint.address(), "]:", endpoint.port());
  }
  return absl::StrCat(endpoint.address(), ":", endpoint.port());
}

std::string LostSummary(const v1::SessionCounters& counters) {
  std::string out = absl::StrCat(counters.exchanges_lost(), " lost");
  if (counters.bytes_lost() > 0) {
    absl::StrAppend(&out, ", ", counters.bytes_lost(), " bytes lost in the kernel");
  }
  return out;
}

absl::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_CLIENT:
      return "client";
    case v1::ROLE_SERVER:
      return "server";
    default:
      return "unknown";
  }
}

std::string LossReasonName(v1::LossReason reason) {
  const std::string& name = v1::LossReason_Name(reason);
  if (name.empty()) return "unknown";
  return absl::AsciiStrToLower(absl::StripPrefix(name, "LOSS_REASON_"));
}

std::string EndReasonName(v1::EndReason reason) {
  const std::string& name = v1::EndReason_Name(reason);
  if (name.empty()) return "unknown";
  return absl::AsciiStrToLower(absl::StripPrefix(name, "END_REASON_"));
}

}  // namespace httptrace::render
