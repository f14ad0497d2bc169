#include "cli/agent_error.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/socket_access.h"

namespace httptrace::cli {

std::string DescribeAgentError(const grpc::Status& status, const std::string& address) {
  std::string text = status.error_message();
  const bool unix_socket = absl::StartsWith(address, "unix://") || absl::StartsWith(address, "/");
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && unix_socket &&
      absl::StrContains(text, "Permission denied")) {
    // gRPC could not connect: this user may not use the socket. Say whose it is.
    absl::string_view path = address;
    absl::ConsumePrefix(&path, "unix://");
    if (::access(std::string(path).c_str(), W_OK) != 0) {
      return ExplainSocketAccess(std::string(path));
    }
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    absl::StrAppend(&text, " (is httptrace-agent running and listening on ", address,
                    "? set --agent or HTTPTRACE_AGENT)");
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    absl::StrAppend(&text, " (no answer within --timeout)");
  }
  return text;
}

}  // namespace httptrace::cli
