#include "agent/protocols/grpc/grpc_call.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace httptrace::protocols::grpc {

bool IsGrpcContentType(absl::string_view content_type) {
  content_type = absl::StripAsciiWhitespace(content_type);
  if (!absl::StartsWithIgnoreCase(content_type, "application/grpc")) return false;
  const absl::string_view rest = content_type.substr(16);
  return rest.empty() || rest[0] == '+' || rest[0] == ';' || rest[0] == '-';
}

bool ParseGrpcPath(absl::string_view path, std::string* service, std::string* method) {
  if (path.size() < 4 || path[0] != '/') return false;
  const size_t slash = path.find('/', 1);
  if (slash == absl::string_view::npos || slash == 1 || slash + 1 == path.size()) return false;
  if (path.find('/', slash + 1) != absl::string_view::npos) return false;
  *service = std::string(path.substr(1, slash - 1));
  *method = std::string(path.substr(slash + 1));
  return true;
}

std::optional<uint32_t> ParseGrpcStatus(absl::string_view value) {
  uint32_t code = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &code)) return std::nullopt;
  return code;
}

}  // namespace httptrace::protocols::grpc
