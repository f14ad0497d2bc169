// httptrace-agent: loads the probes, turns captured bytes into HTTP exchanges and serves the
// httptrace.v1 gRPC API to httptracectl.

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "common/flags.h"
#include "common/log.h"

ABSL_FLAG(std::vector<std::string>, listen, {"unix:///run/httptrace/agent.sock"},
          "Where to serve the API: unix:///path or tcp://host:port (repeatable, comma-separated). "
          "TCP needs --tls-cert and --tls-key unless --insecure-tcp is given.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TCP listeners.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for TCP listeners.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, TCP clients must present a certificate it signed (mTLS).");
ABSL_FLAG(bool, insecure_tcp, false,
          "Allow TCP listeners without TLS. Anyone who reaches the port can read all traffic.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");

int main(int argc, char** argv) {
  httptrace::ParseFlags(
      argc, argv,
      "Traces plaintext HTTP/1.x on this node and serves the httptrace.v1 API.\n"
      "Usage: httptrace-agent [--listen ADDR]... [--log-level LEVEL]");
  auto level = httptrace::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    HT_LOG(ERROR) << "--log-level: " << level.status().message();
    return 2;
  }
  httptrace::SetLogLevel(*level);
  HT_LOG(ERROR) << "the agent cannot capture yet: capture and the API service arrive with the "
                   "capture and control-plane issues";
  return 1;
}
