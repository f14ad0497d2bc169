// Waiting for the user's Ctrl-C (SIGINT, SIGTERM or SIGHUP, blocked in every thread by main) with
// a deadline and a way to stop waiting early. Used by the ctl's capture loop (cli/ctl.cc).

#pragma once

#include <functional>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace httptrace::cli {

// Waits for one of them, `deadline`, or `done`; calls `tick` about four times a second.
// Returns true when interrupted or the deadline passed, false when `done` was notified.
bool WaitForInterrupt(absl::Time deadline, const absl::Notification& done,
                      const std::function<void()>& tick);

}  // namespace httptrace::cli
