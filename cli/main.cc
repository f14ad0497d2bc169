// httptracectl: starts, streams and stops capture sessions on httptrace agents and renders the
// exchanges as a readable trace (text) or JSON lines.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/flags.h"

ABSL_FLAG(std::vector<std::string>, agent, {},
          "Agent address (repeatable): unix:///path or host:port. Default: $HTTPTRACE_AGENT, "
          "else unix:///run/httptrace/agent.sock.");

int main(int argc, char** argv) {
  httptrace::InitFlagsUsage(
      "Capture HTTP/1.x traffic through httptrace agents.\n"
      "Usage: httptracectl [--agent ADDR]... start|stop|attach|list|status [ARGS]");
  std::vector<std::string> args = httptrace::ParseFlags(argc, argv);
  if (args.size() < 2) {
    std::fprintf(stderr, "httptracectl: missing command (start, stop, attach, list, status)\n");
    return 2;
  }
  std::fprintf(stderr, "httptracectl: commands arrive with the control-plane issue\n");
  return 1;
}
