// Caller identities over a real gRPC unix socket served by ApiServer, and the registry's check
// against stale entries. mTLS identities are checked end to end (test/e2e/audit_e2e_test.py),
// where certificates are made with openssl.

#include "agent/service/peer_identity.h"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/service/api_server.h"
#include "common/testing/test_support.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "proto/httptrace.grpc.pb.h"

namespace httptrace::service {
namespace {

std::string OwnComm() {
  std::ifstream in("/proc/self/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// Answers GetStatus with what it learned about the caller.
class WhoAmI : public v1::HttpTrace::Service {
 public:
  explicit WhoAmI(const UnixPeerRegistry* peers) : peers_(peers) {}
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                         v1::GetStatusResponse*) override {
    caller = IdentifyCaller(context->peer(), context->auth_context().get(), peers_);
    return grpc::Status::OK;
  }
  auth::CallerIdentity caller;

 private:
  const UnixPeerRegistry* peers_;
};

TEST(PeerIdentity, UnixCallerIsKnownByUidGidPidAndComm) {
  const std::string dir = test_support::MakeSocketDir("peer_identity");
  const std::string socket = dir + "/agent.sock";
  UnixPeerRegistry peers;
  WhoAmI service(&peers);
  auto server = ApiServer::Start({"unix://" + socket}, TlsFiles(), &service, {"", &peers});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::HttpTrace::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
  for (int call = 0; call < 2; ++call) {  // the second call reuses the connection
    grpc::ClientContext context;
    v1::GetStatusResponse response;
    ASSERT_TRUE(stub->GetStatus(&context, {}, &response).ok());
    EXPECT_EQ(service.caller.transport, auth::CallerIdentity::Transport::kUnix);
    EXPECT_EQ(service.caller.uid, ::getuid());
    EXPECT_EQ(service.caller.gid, ::getgid());
    EXPECT_EQ(service.caller.pid, static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(service.caller.comm, OwnComm());
    EXPECT_NE(std::find(service.caller.groups.begin(), service.caller.groups.end(), ::getgid()),
              service.caller.groups.end());
    EXPECT_EQ(service.caller.peer.rfind("fd:", 0), 0u) << service.caller.peer;
  }
  (*server).reset();
  std::filesystem::remove_all(dir);
}

TEST(PeerIdentity, WithoutARegistryAUnixCallerIsUnidentified) {
  const std::string dir = test_support::MakeSocketDir("peer_identity");
  const std::string socket = dir + "/agent.sock";
  WhoAmI service(nullptr);
  auto server = ApiServer::Start({"unix://" + socket}, TlsFiles(), &service);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::HttpTrace::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::GetStatusResponse response;
  ASSERT_TRUE(stub->GetStatus(&context, {}, &response).ok());
  EXPECT_EQ(service.caller.transport, auth::CallerIdentity::Transport::kUnknown);
  EXPECT_EQ(service.caller.Describe().rfind("unidentified caller fd:", 0), 0u);
  (*server).reset();
  std::filesystem::remove_all(dir);
}

TEST(PeerIdentity, PlaintextTcpCallerIsOnlyAnAddress) {
  WhoAmI service(nullptr);
  TlsFiles insecure;
  insecure.insecure_tcp = true;
  auto server = ApiServer::Start({"tcp://127.0.0.1:0"}, insecure, &service);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::HttpTrace::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->bound_ports()[0]),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::GetStatusResponse response;
  ASSERT_TRUE(stub->GetStatus(&context, {}, &response).ok());
  EXPECT_EQ(service.caller.transport, auth::CallerIdentity::Transport::kTcp);
  EXPECT_EQ(service.caller.peer.rfind("ipv4:127.0.0.1:", 0), 0u) << service.caller.peer;
}

TEST(UnixPeerRegistry, AStaleEntryIsNeverTakenForTheCaller) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  absl::StatusOr<UnixPeer> real = ReadUnixPeer(a.get());
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(real->pid, static_cast<uint32_t>(::getpid()));
  UnixPeerRegistry peers;
  UnixPeer stale = *real;
  stale.pid += 1;  // what an earlier connection on the same fd number would have left
  peers.Register(a.get(), stale);
  EXPECT_FALSE(peers.Lookup(a.get()).has_value());
  peers.Register(a.get(), *real);
  ASSERT_TRUE(peers.Lookup(a.get()).has_value());
  EXPECT_EQ(peers.Lookup(a.get())->comm, OwnComm());
  EXPECT_FALSE(peers.Lookup(12345).has_value());  // never registered
}

}  // namespace
}  // namespace httptrace::service
