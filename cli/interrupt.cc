#include "cli/interrupt.h"

#include <signal.h>

#include <algorithm>

#include "common/termination_signals.h"

namespace httptrace::cli {
namespace {

constexpr absl::Duration kWatchPeriod = absl::Milliseconds(250);

}  // namespace

bool WaitForInterrupt(absl::Time deadline, const absl::Notification& done,
                      const std::function<void()>& tick) {
  const sigset_t signals = httptrace::TerminationSignals();
  while (!done.HasBeenNotified()) {
    if (absl::Now() >= deadline) return true;
    const absl::Duration wait = std::min(kWatchPeriod, deadline - absl::Now());
    const timespec timeout = absl::ToTimespec(std::max(wait, absl::Milliseconds(1)));
    if (sigtimedwait(&signals, nullptr, &timeout) > 0) return true;
    tick();
  }
  return false;
}

}  // namespace httptrace::cli
