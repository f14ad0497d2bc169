// Finds, dials and reads httptrace agents: the address list (--agent, else $HTTPTRACE_AGENT, else
// the default unix socket, plus every address of --agents-dns names, resolved again on demand so
// agents on nodes that join are found), a gRPC channel per address with TLS for TCP unless told
// otherwise, and EventStream, the one place that knows how StreamEvents carries a session's
// events.

#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cli/wire/event_batch_reader.h"
#include "proto/httptrace.grpc.pb.h"

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

// Resolves "NAME:PORT" to agent addresses; ResolveAgentsDns unless a test injects another.
using DnsResolver =
    std::function<absl::StatusOr<std::vector<std::string>>(absl::string_view name_port)>;

// One agent to dial: its address, and the name its TLS certificate must carry.
struct AgentSpec {
  std::string address;
  std::string server_name;
};

// Where the agents are: addresses given as they are, and names whose every address is an agent.
class AgentDirectory {
 public:
  // `addresses` empty and no `dns_names`: $HTTPTRACE_AGENT, else the default socket.
  // `tls.server_name`, when set, overrides the name checked for every agent.
  AgentDirectory(std::vector<std::string> addresses, std::vector<std::string> dns_names,
                 ClientTls tls, DnsResolver resolver = ResolveAgentsDns);

  // Every agent known now, addresses first, without duplicates. Errors of the resolver
  // (INVALID_ARGUMENT for a malformed name, NOT_FOUND for one that does not resolve).
  absl::StatusOr<std::vector<AgentSpec>> Resolve() const;
  bool has_dns_names() const { return !dns_names_.empty(); }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Dial(const AgentSpec& agent) const;

 private:
  std::vector<std::string> addresses_;
  std::vector<std::string> dns_names_;
  ClientTls tls_;
  DnsResolver resolver_;
};

// One session's events from one agent, in sequence order. Everything the ctl knows about how the
// API carries events is here: StreamEventBatches, several serialized events per gRPC message
// (one message per event cost the agent more than building the event), each message taken as
// gRPC received it (a grpc::ByteBuffer, not an EventBatch object) and parsed by
// wire::EventBatchReader straight into the events. Next and Finish from one thread; Cancel from
// any.
class EventStream {
 public:
  // from_seq < 0: from the oldest event the agent still holds.
  EventStream(const std::shared_ptr<grpc::ChannelInterface>& channel, const std::string& session_id,
              int64_t from_seq);
  // Replaces `*events` with the events of the next message (at least one), parsed onto one
  // arena that they share; false when the stream ended (then call Finish). A message that does
  // not parse ends the stream: Finish says DATA_LOSS, where and why.
  bool Next(std::vector<std::shared_ptr<const v1::Event>>* events);
  grpc::Status Finish();
  // Ends the stream early: Next returns false soon.
  void Cancel();

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader_;
  grpc::ByteBuffer message_;
  wire::EventBatchReader batch_reader_;
  grpc::Status parse_error_;
};

}  // namespace httptrace::cli
