// SIGINT and SIGTERM handled by waiting for them (sigwait/sigtimedwait) instead of by handlers:
// block them in every thread first, before any thread (gRPC's included) starts.

#pragma once

#include <signal.h>

namespace httptrace {

// {SIGINT, SIGTERM}.
inline sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts afterwards.
inline sigset_t BlockTerminationSignals() {
  sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace httptrace
