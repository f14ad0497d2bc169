// Who is calling: the caller's identity for a gRPC call, from what the transport proved.
//
// gRPC (1.51, and still in later releases: grpc/grpc#15511, #28755) exposes no peer credentials
// for unix sockets: the auth context of a unix-socket call is empty and its peer string names the
// server's own socket. So the agent accepts on its unix sockets itself, reads SO_PEERCRED (and
// the caller's comm and groups from /proc) at accept time, records them here under the fd, and
// hands the fd to gRPC (grpc::AddInsecureChannelFromFd), whose calls then report the peer
// "fd:N". A socket mutator would see the fd too, but its vtable is not public API and it cannot
// tell calls apart afterwards; an interceptor or AuthMetadataProcessor never sees the fd.
// mTLS callers are identified by the verified certificate gRPC puts in the auth context.
//
//   UnixPeerRegistry peers;             // shared by ApiServer (writes) and the service (reads)
//   auth::CallerIdentity who = IdentifyCaller(context->peer(), context->auth_context().get(),
//                                             &peers);

#pragma once

#include <grpcpp/security/auth_context.h>

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/auth/caller_identity.h"

namespace httptrace::service {

struct UnixPeer {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  std::string comm;
  std::vector<uint32_t> groups;
};

// SO_PEERCRED of a connected unix socket, with the process's comm and supplementary groups
// read from /proc (empty when the process already exited or is in another pid namespace).
absl::StatusOr<UnixPeer> ReadUnixPeer(int fd);

// The unix peers of the connections the agent accepted, by fd.
class UnixPeerRegistry {
 public:
  // A newly accepted connection on `fd` (replaces whatever an earlier, closed, fd N held).
  void Register(int fd, UnixPeer peer) ABSL_LOCKS_EXCLUDED(mu_);
  // The peer of connection `fd`, checked against the socket's SO_PEERCRED now: a stale entry
  // (the fd closed and reused by something else) is never taken for the caller.
  std::optional<UnixPeer> Lookup(int fd) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, UnixPeer> peers_ ABSL_GUARDED_BY(mu_);
};

// `peer`: grpc::ServerContext::peer(); `auth`: its auth_context() (may be null); `unix_peers`
// may be null (then unix callers are unidentified).
auth::CallerIdentity IdentifyCaller(absl::string_view peer, const grpc::AuthContext* auth,
                                    const UnixPeerRegistry* unix_peers);

}  // namespace httptrace::service
