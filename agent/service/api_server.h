// Serves the API on the listen addresses the agent was given: unix sockets (default, mode 0660)
// and TCP (TLS or mutual TLS; plaintext only when explicitly allowed).
//
//   auto server = ApiServer::Start({"unix:///run/httptrace/agent.sock"}, TlsFiles{}, &service);

#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/service/peer_identity.h"
#include "common/unique_fd.h"

namespace httptrace::service {

struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind;
  std::string target;  // Unix: the socket path. TCP: "host:port" (IPv6 as "[::1]:port").
};

// Accepts "unix:///abs/path" and "tcp://host:port". INVALID_ARGUMENT otherwise.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

struct TlsFiles {
  std::string cert;       // PEM chain
  std::string key;        // PEM private key
  std::string client_ca;  // PEM bundle; non-empty requires and verifies client certificates
  bool insecure_tcp = false;
};

// Who may connect to the unix sockets besides root: members of `group` (a name or a number).
// The socket becomes root:GROUP 0660 and the directory the agent makes for it root:GROUP 0750.
struct UnixSocketAccess {
  std::string group;  // empty: root only
  // Where the peers of accepted unix connections are recorded (see peer_identity.h); null: not
  // recorded (callers are then unidentified).
  UnixPeerRegistry* peers = nullptr;
};

class ApiServer {
 public:
  // Binds every address or fails naming the one that failed: a live agent already on a unix
  // socket, a stale socket file (removed), TCP without TLS and without insecure_tcp, unreadable
  // certificate files.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(const std::vector<std::string>& listen,
                                                          const TlsFiles& tls,
                                                          grpc::Service* service,
                                                          const UnixSocketAccess& access = {});
  ~ApiServer();

  // Stops accepting connections and calls, and ends running ones after `grace`.
  void Shutdown(absl::Duration grace);
  // TCP ports actually bound, in the order given (0 for unix addresses). For "tcp://host:0".
  const std::vector<int>& bound_ports() const { return bound_ports_; }

 private:
  ApiServer() = default;
  // Accepts on the unix sockets until Shutdown: reads each caller's SO_PEERCRED, then hands the
  // connection to gRPC.
  void AcceptUnixConnections();

  std::unique_ptr<grpc::Server> server_;
  UnixPeerRegistry* peers_ = nullptr;
  std::vector<UniqueFd> unix_listeners_;
  UniqueFd stop_accepting_;  // eventfd, written by Shutdown
  std::thread acceptor_;
  std::vector<std::string> unix_paths_;
  std::vector<int> bound_ports_;
};

}  // namespace httptrace::service
