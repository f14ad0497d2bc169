// Finds and dials httptrace agents: the address list (--agent, else $HTTPTRACE_AGENT, else the
// default unix socket) and a gRPC channel per address, with TLS for TCP unless told otherwise.

#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace httptrace::cli {

inline constexpr char kDefaultAgentAddress[] = "unix:///run/httptrace/agent.sock";

struct ClientTls {
  std::string ca;    // PEM bundle that signs the agents' certificates
  std::string cert;  // client certificate for mutual TLS
  std::string key;
  bool insecure = false;  // plaintext TCP
  // Name the agent's certificate must carry when it differs from the dialled host, e.g. the
  // Service name when dialling the pod addresses that name resolved to.
  std::string server_name;
};

// `flag_values` first, else the comma-separated $HTTPTRACE_AGENT, else the default socket.
std::vector<std::string> ResolveAgentAddresses(const std::vector<std::string>& flag_values);

// Every address (A and AAAA) of "NAME:PORT", as "ip:port" / "[ip6]:port", sorted and without
// duplicates: one per agent behind a Kubernetes headless Service. NOT_FOUND when the name does
// not resolve, INVALID_ARGUMENT when it is not NAME:PORT.
absl::StatusOr<std::vector<std::string>> ResolveAgentsDns(absl::string_view name_port);

// Accepts "unix:///path", "/path", "tcp://host:port" and "host:port".
absl::StatusOr<std::shared_ptr<grpc::Channel>> DialAgent(const std::string& address,
                                                         const ClientTls& tls);

}  // namespace httptrace::cli
