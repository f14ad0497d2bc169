// How our binaries that use gRPC end: without atexit handlers and static destructors.
//
// gRPC's threads outlive main(): a channel is destroyed asynchronously and its subchannel may
// still be connecting (the ctl whose client certificate an agent refused retries at once) while
// exit() runs OpenSSL's atexit clean-up, which frees the tables that handshake is reading: the
// ctl died of SIGSEGV in about 1 of 30 such runs. Everything we own is released by then (main's
// locals, files closed and checked); what is left is the kernel's to reclaim.

#pragma once

#include <cstdio>
#include <cstdlib>

namespace httptrace {

// Flushes stdio and ends the process with `code`.
[[noreturn]] inline void ExitSkippingStaticTeardown(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace httptrace
