// SIGINT, SIGTERM and SIGHUP handled by waiting for them (sigwait/sigtimedwait) instead of by
// handlers: block them in every thread first, before any thread (gRPC's included) starts.
// SIGHUP is a termination too: a ctl whose terminal closed (an ssh session that dropped) stops
// its session as Ctrl-C would, instead of dying and leaving it to capture on.

#pragma once

#include <signal.h>

namespace httptrace {

// {SIGINT, SIGTERM, SIGHUP}.
inline sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

// Blocks them in the calling thread and the threads it starts afterwards.
inline sigset_t BlockTerminationSignals() {
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace httptrace
