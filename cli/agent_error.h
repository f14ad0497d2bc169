// An agent's error (or the failure to reach it) in words for a person, with what to check when
// the cause is a common one: a unix socket this user may not open, no agent listening, no
// answer in time.

#pragma once

#include <string>

#include "grpcpp/support/status.h"

namespace httptrace::cli {

// `address` is the agent's address as given (--agent): "unix:///run/httptrace/agent.sock",
// "/path", "host:port". Only a failure to connect is explained as socket access: an error the
// agent itself returned says "Permission denied" too (another process's /proc, say) and is
// passed on as the agent worded it.
std::string DescribeAgentError(const grpc::Status& status, const std::string& address);

}  // namespace httptrace::cli
