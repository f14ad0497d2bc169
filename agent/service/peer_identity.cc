#include "agent/service/peer_identity.h"

#include <grpc/grpc_security_constants.h>
#include <sys/socket.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace httptrace::service {
namespace {

std::optional<ucred> PeerCred(int fd) {
  ucred cred{};
  socklen_t length = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return std::nullopt;
  return cred;
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "Groups:\t4 24 27 1000" from /proc/PID/status.
std::vector<uint32_t> ReadGroups(uint32_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  std::vector<uint32_t> groups;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "Groups:")) continue;
    for (absl::string_view word : absl::StrSplit(rest, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
      if (uint32_t gid = 0; absl::SimpleAtoi(word, &gid)) groups.push_back(gid);
    }
    break;
  }
  return groups;
}

std::vector<std::string> Property(const grpc::AuthContext& auth, const char* name) {
  std::vector<std::string> values;
  for (const grpc::string_ref& value : auth.FindPropertyValues(name)) {
    values.emplace_back(value.data(), value.size());
  }
  return values;
}

}  // namespace

absl::StatusOr<UnixPeer> ReadUnixPeer(int fd) {
  std::optional<ucred> cred = PeerCred(fd);
  if (!cred.has_value()) return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  UnixPeer peer;
  peer.uid = cred->uid;
  peer.gid = cred->gid;
  peer.pid = static_cast<uint32_t>(cred->pid);
  if (peer.pid != 0) {
    peer.comm = ReadFirstLine(absl::StrCat("/proc/", peer.pid, "/comm"));
    peer.groups = ReadGroups(peer.pid);
  }
  if (std::find(peer.groups.begin(), peer.groups.end(), peer.gid) == peer.groups.end()) {
    peer.groups.push_back(peer.gid);
  }
  return peer;
}

void UnixPeerRegistry::Register(int fd, UnixPeer peer) {
  absl::MutexLock lock(&mu_);
  peers_[fd] = std::move(peer);
}

std::optional<UnixPeer> UnixPeerRegistry::Lookup(int fd) const {
  std::optional<UnixPeer> peer;
  {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(fd);
    if (it == peers_.end()) return std::nullopt;
    peer = it->second;
  }
  std::optional<ucred> now = PeerCred(fd);
  if (!now.has_value() || now->uid != peer->uid || static_cast<uint32_t>(now->pid) != peer->pid) {
    return std::nullopt;
  }
  return peer;
}

auth::CallerIdentity IdentifyCaller(absl::string_view peer, const grpc::AuthContext* auth,
                                    const UnixPeerRegistry* unix_peers) {
  auth::CallerIdentity who;
  who.peer = std::string(peer);
  absl::string_view rest = peer;
  if (int fd = -1; absl::ConsumePrefix(&rest, "fd:") && absl::SimpleAtoi(rest, &fd)) {
    // Only unix sockets the ApiServer accepted are handed to gRPC by fd.
    std::optional<UnixPeer> unix_peer =
        unix_peers != nullptr ? unix_peers->Lookup(fd) : std::nullopt;
    if (!unix_peer.has_value()) return who;
    who.transport = auth::CallerIdentity::Transport::kUnix;
    who.uid = unix_peer->uid;
    who.gid = unix_peer->gid;
    who.pid = unix_peer->pid;
    who.comm = unix_peer->comm;
    who.groups = unix_peer->groups;
    return who;
  }
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    // gRPC marks the peer authenticated only when it verified the client's certificate (mTLS).
    who.transport = auth::CallerIdentity::Transport::kTls;
    std::vector<std::string> subject = Property(*auth, GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (!subject.empty()) who.subject = subject.front();
    who.sans = Property(*auth, GRPC_X509_SAN_PROPERTY_NAME);
    return who;
  }
  if (absl::StartsWith(peer, "ipv4:") || absl::StartsWith(peer, "ipv6:")) {
    who.transport = auth::CallerIdentity::Transport::kTcp;
  }
  return who;
}

}  // namespace httptrace::service
