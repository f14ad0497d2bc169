#include "cli/render/text_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace httptrace::render {

int Utf8Sequence(absl::string_view bytes) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char c = byte(0);
  // The second byte's range depends on the lead byte (this is what excludes overlongs,
  // surrogates and code points past U+10FFFF); later bytes are 80..BF.
  int length;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<size_t>(i) >= bytes.size()) return -i;
    const unsigned char cc = byte(i);
    if (cc < lo || cc > hi) return -i;
    lo = 0x80, hi = 0xbf;
  }
  return length;
}

bool IsValidUtf8(absl::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const int n = Utf8Sequence(bytes.substr(i));
    if (n < 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

void AppendEndpoint(std::string* out, const v1::Endpoint& endpoint) {
  if (endpoint.address().find(':') != std::string::npos) {
    absl::StrAppend(out, "[", endpoint.address(), "]:", endpoint.port());
  } else {
    absl::StrAppend(out, endpoint.address(), ":", endpoint.port());
  }
}

std::string EndpointString(const v1::Endpoint& endpoint) {
  std::string out;
  AppendEndpoint(&out, endpoint);
  return out;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

int64_t ToMicros(const google::protobuf::Duration& d) {
  return d.seconds() * 1'000'000 + d.nanos() / 1000;
}

int64_t MicrosBetween(const google::protobuf::Timestamp& from,
                      const google::protobuf::Timestamp& to) {
  if ((from.seconds() == 0 && from.nanos() == 0) || (to.seconds() == 0 && to.nanos() == 0)) {
    return -1;
  }
  const int64_t ns = (to.seconds() - from.seconds()) * 1'000'000'000 + (to.nanos() - from.nanos());
  return ns < 0 ? -1 : ns / 1000;
}

void SecondsFormatter::Append(std::string* out, const google::protobuf::Timestamp& ts,
                              int fraction_digits) {
  if (ts.seconds() != cached_second_) {
    cached_second_ = ts.seconds();
    cached_ = absl::FormatTime(format_, absl::FromUnixSeconds(ts.seconds()), zone_);
    if (!suffix_format_.empty()) {
      cached_suffix_ = absl::FormatTime(suffix_format_, absl::FromUnixSeconds(ts.seconds()), zone_);
    }
  }
  out->append(cached_);
  char digits[7];
  int32_t fraction = ts.nanos() / (fraction_digits == 3 ? 1'000'000 : 1000);
  for (int i = fraction_digits - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  out->push_back('.');
  out->append(digits, static_cast<size_t>(fraction_digits));
  out->append(cached_suffix_);
}

Palette Palette::For(bool color) {
  if (!color) return Palette{};
  return Palette{"\033[32m",   "\033[36m", "\033[33m", "\033[31m",
                 "\033[1;31m", "\033[2m",  "\033[1m",  "\033[0m"};
}

const char* Palette::Status(uint32_t code) const {
  if (code >= 200 && code < 300) return green;
  if (code >= 300 && code < 400) return cyan;
  if (code >= 400 && code < 500) return yellow;
  if (code >= 500 && code < 600) return red;
  return "";
}

void AppendDuration(std::string* out, int64_t us) {
  if (us < 1000) {
    absl::StrAppend(out, us, " µs");
  } else if (us < 10'000'000) {
    absl::StrAppendFormat(out, "%.3f ms", us / 1000.0);
  } else {
    absl::StrAppendFormat(out, "%.3f s", us / 1e6);
  }
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
