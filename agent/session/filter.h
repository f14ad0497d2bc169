// Checks and applies a session's Filter (proto/httptrace.proto) to finished exchanges.
//
// The kernel already drops most traffic that no session wants (see the pipeline's kernel filter);
// this is the exact, per-session decision, including what the kernel cannot see (method, path).

#pragma once

#include "absl/status/status.h"
#include "proto/httptrace.pb.h"

namespace httptrace::session {

// INVALID_ARGUMENT with a message a person can act on ("ports: 70000 is not a port (1-65535)").
absl::Status ValidateFilter(const v1::Filter& filter);

// True when every non-empty field of `filter` matches `exchange`.
bool MatchesFilter(const v1::Filter& filter, const v1::Exchange& exchange);

// For losses, where only the connection is known (`scope` carries process and connection, no
// request): true unless a field the scope knows rules the connection out. Unknown parts (role,
// method, path) never exclude, so a loss may be over-reported but never hidden from a session.
bool MayMatchConnection(const v1::Filter& filter, const v1::Exchange& scope);

}  // namespace httptrace::session
