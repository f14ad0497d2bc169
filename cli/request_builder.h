// Turns httptracectl's filter and option flags into a StartCaptureRequest, rejecting values the
// agent would reject anyway with a message that names the flag.

#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::cli {

struct RequestFlags {
  std::vector<std::string> pids, comms, containers, namespaces, pods;
  std::vector<std::string> ports, local_ports, remote_ports, methods, protocols;
  std::vector<std::string> statuses, hosts, connections;
  absl::Duration min_latency = absl::ZeroDuration();
  std::string path_prefix;
  std::string role = "both";
  std::string tls = "both";  // only, plain, both
  int64_t body_limit = -1;   // negative: the agent's default
  std::vector<std::string> redact;
  std::vector<std::string> redact_params, redact_body_fields;  // added to the agent's lists
  bool no_redact = false;
  int64_t max_exchanges = 0;
  int64_t queue = 0;
  absl::Duration idle_timeout = absl::ZeroDuration();
  absl::Duration max_duration = absl::ZeroDuration();
  // An export session (start --export otlp://host:4317): the agent sends the exchanges to an
  // OpenTelemetry collector. Certificate files are read here and sent as PEM.
  std::string export_endpoint;
  std::vector<std::string> export_headers;  // name=value
  std::string export_ca, export_cert, export_key;
  absl::Duration export_metrics_interval = absl::ZeroDuration();
};

absl::StatusOr<v1::StartCaptureRequest> BuildStartRequest(const RequestFlags& flags);

// The methods --method knows (IANA's registry and PURGE), upper case: a value that is not one
// of them, in any case, could never match and is refused.
const std::vector<std::string>& KnownMethods();

}  // namespace httptrace::cli
