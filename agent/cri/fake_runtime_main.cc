// fake-cri-runtime: serves FakeRuntime (a CRI runtime.v1 server with fixed answers) on a unix
// socket for end-to-end tests of the agent's pod metadata and pod filters.
//
//   fake_cri_runtime SOCKET CONTAINER_ID:CONTAINER_NAME:POD:NAMESPACE:POD_UID...
// Prints "serving" on stderr once listening; runs until SIGTERM/SIGINT.

#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/cri/fake_runtime.h"
#include "common/termination_signals.h"

int main(int argc, char** argv) {
  [[maybe_unused]] const sigset_t signals = httptrace::BlockTerminationSignals();
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SOCKET [ID:NAME:POD:NAMESPACE:UID]...\n", argv[0]);
    return 2;
  }
  auto runtime = httptrace::cri::FakeRuntime::Start(argv[1]);
  if (!runtime.ok()) {
    std::fprintf(stderr, "%s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    std::vector<std::string> f = absl::StrSplit(argv[i], ':');
    if (f.size() != 5) {
      std::fprintf(stderr, "bad container %s\n", argv[i]);
      return 2;
    }
    (*runtime)->AddContainer(f[0], f[1], f[2], f[3], f[4]);
    (*runtime)->AddSandbox(std::string(64, 'f'), f[2], f[3], f[4]);
  }
  std::fprintf(stderr, "serving\n");
  int sig = 0;
  sigwait(&signals, &sig);
  return 0;
}
