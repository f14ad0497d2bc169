#include "agent/service/api_server.h"

#include <errno.h>
#include <grp.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace httptrace::service {
namespace {

constexpr mode_t kSocketMode = 0660;
constexpr mode_t kSocketDirMode = 0750;

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!absl::StrContains(buffer.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", path, " is not a PEM file"));
  }
  return buffer.str();
}

// The group that may use the socket: a name from the group database, or a number.
absl::StatusOr<gid_t> ResolveGroup(const std::string& name) {
  if (uint32_t number = 0; absl::SimpleAtoi(name, &number)) return static_cast<gid_t>(number);
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(16384);
  const int rc = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--socket-group ", name, ": no such group (create it: groupadd ", name,
                     "; then add the users who may trace: usermod -aG ", name, " USER)"));
  }
  return found->gr_gid;
}

// A socket file that nobody accepts on is left over from an agent that died; one that accepts
// belongs to a live agent, which we must not steal the address from. With a socket group, the
// directory becomes root:GROUP 0750 when the agent makes it (or an earlier agent did: owned by
// root, mode 0750); a directory someone else made is left as it is.
absl::Status PrepareUnixSocketPath(const std::string& path, std::optional<gid_t> group) {
  std::error_code error;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir, error)) {
    std::filesystem::create_directories(dir, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", dir.string(), ": ", error.message()));
    }
    ::chmod(dir.c_str(), kSocketDirMode);
  }
  struct stat dir_stat;
  if (group.has_value() && !dir.empty() && ::stat(dir.c_str(), &dir_stat) == 0) {
    if (dir_stat.st_uid == 0 && (dir_stat.st_mode & 07777) == kSocketDirMode) {
      if (::chown(dir.c_str(), 0, *group) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("chown ", dir.string(), ": ", std::strerror(errno)));
      }
    } else {
      HT_LOG(INFO) << "--socket-group: leaving " << dir.string()
                   << " as it is (not made by the agent); its group must be able to enter it";
    }
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; remove it or choose another --listen"));
  }
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another agent is already listening on ", path));
  }
  HT_LOG(INFO) << "removing stale socket " << path;
  ::unlink(path.c_str());
  return absl::OkStatus();
}

// The agent's own listening unix socket (see peer_identity.h for why not gRPC's). Bound under
// umask 0117: the socket must not be reachable by everyone even for the instant before chmod.
// Mode and group are set before listen(): whoever can connect sees the socket as it stays.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, std::optional<gid_t> group) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  const mode_t old_umask = ::umask(0117);
  const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (rc != 0) {
    return absl::ErrnoToStatus(bind_errno, absl::StrCat("cannot listen on unix://", path));
  }
  absl::Status status;
  if (::chmod(path.c_str(), kSocketMode) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  } else if (group.has_value() && ::chown(path.c_str(), 0, *group) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("chown ", path));
  } else if (::listen(fd.get(), SOMAXCONN) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("listen on unix://", path));
  }
  if (!status.ok()) {
    ::unlink(path.c_str());  // nobody will accept on it
    return status;
  }
  return fd;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  if (absl::ConsumePrefix(&text, "unix://")) {
    if (text.empty() || text[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen unix://", text, ": need an absolute path (unix:///run/x.sock)"));
    }
    return ListenAddress{ListenAddress::Kind::kUnix, std::string(text)};
  }
  if (absl::ConsumePrefix(&text, "tcp://")) {
    const size_t colon = text.rfind(':');
    int port = -1;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen tcp://", text, ": want tcp://HOST:PORT (e.g. tcp://0.0.0.0:9443)"));
    }
    return ListenAddress{ListenAddress::Kind::kTcp, std::string(text)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--listen ", text, ": want unix:///path or tcp://host:port"));
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(const std::vector<std::string>& listen,
                                                            const TlsFiles& tls,
                                                            grpc::Service* service,
                                                            const UnixSocketAccess& access) {
  if (listen.empty()) return absl::InvalidArgumentError("no --listen address");
  std::optional<gid_t> group;
  if (!access.group.empty()) {
    absl::StatusOr<gid_t> gid = ResolveGroup(access.group);
    if (!gid.ok()) return gid.status();
    group = *gid;
  }
  std::unique_ptr<ApiServer> server(new ApiServer());
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<int>> ports;
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials;
  for (const std::string& text : listen) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(text);
    if (!address.ok()) return address.status();
    ports.push_back(std::make_unique<int>(0));
    if (address->kind == ListenAddress::Kind::kUnix) {
      if (absl::Status s = PrepareUnixSocketPath(address->target, group); !s.ok()) return s;
      absl::StatusOr<UniqueFd> listener = ListenUnix(address->target, group);
      if (!listener.ok()) return listener.status();
      server->unix_paths_.push_back(address->target);
      server->unix_listeners_.push_back(*std::move(listener));
      continue;
    }
    if (!tcp_credentials) {
      if (tls.cert.empty() != tls.key.empty()) {
        return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
      }
      if (tls.cert.empty()) {
        if (!tls.insecure_tcp) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--listen ", text,
              ": TCP needs --tls-cert and --tls-key (and --tls-client-ca for mutual TLS); "
              "--insecure-tcp allows plaintext, which lets anyone who reaches the port read "
              "all traced traffic"));
        }
        HT_LOG(WARNING) << "serving the API on " << text
                        << " WITHOUT TLS (--insecure-tcp): anyone who reaches it can trace";
        tcp_credentials = grpc::InsecureServerCredentials();
      } else {
        absl::StatusOr<std::string> cert = ReadPemFile(tls.cert, "--tls-cert");
        if (!cert.ok()) return cert.status();
        absl::StatusOr<std::string> key = ReadPemFile(tls.key, "--tls-key");
        if (!key.ok()) return key.status();
        grpc::SslServerCredentialsOptions options(
            tls.client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                  : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
        if (!tls.client_ca.empty()) {
          absl::StatusOr<std::string> ca = ReadPemFile(tls.client_ca, "--tls-client-ca");
          if (!ca.ok()) return ca.status();
          options.pem_root_certs = *ca;
        }
        options.pem_key_cert_pairs.push_back({*key, *cert});
        tcp_credentials = grpc::SslServerCredentials(options);
      }
    }
    builder.AddListeningPort(address->target, tcp_credentials, ports.back().get());
  }
  builder.RegisterService(service);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", absl::StrJoin(listen, ", "),
                     " (address in use, or no permission; see the messages above)"));
  }
  for (size_t i = 0; i < ports.size(); ++i) server->bound_ports_.push_back(*ports[i]);
  if (!server->unix_listeners_.empty()) {
    server->peers_ = access.peers;
    server->stop_accepting_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!server->stop_accepting_) return absl::ErrnoToStatus(errno, "eventfd");
    server->acceptor_ = std::thread([s = server.get()] { s->AcceptUnixConnections(); });
  }
  return server;
}

void ApiServer::AcceptUnixConnections() {
  pthread_setname_np(pthread_self(), "api_accept");
  std::vector<pollfd> fds;
  for (const UniqueFd& listener : unix_listeners_) fds.push_back({listener.get(), POLLIN, 0});
  fds.push_back({stop_accepting_.get(), POLLIN, 0});
  while (true) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      HT_LOG(ERROR) << "API accept: poll: " << std::strerror(errno);
      return;
    }
    if (fds.back().revents != 0) return;
    for (size_t i = 0; i + 1 < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      // gRPC's own listeners accept non-blocking fds too.
      UniqueFd connection(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!connection) {
        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
        HT_LOG_EVERY_N_SEC(WARNING, 10)
            << "API accept on " << unix_paths_[i] << ": " << std::strerror(errno);
        // Out of fds: wait instead of spinning on a listener that stays readable.
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      if (peers_ != nullptr) {
        absl::StatusOr<UnixPeer> peer = ReadUnixPeer(connection.get());
        if (peer.ok()) {
          peers_->Register(connection.get(), *std::move(peer));
        } else {
          HT_LOG_EVERY_N_SEC(WARNING, 10) << "API connection on " << unix_paths_[i]
                                          << ": caller unidentified: " << peer.status();
        }
      }
      // gRPC owns the fd from here on and closes it with the connection.
      grpc::AddInsecureChannelFromFd(server_.get(), connection.release());
    }
  }
}

void ApiServer::Shutdown(absl::Duration grace) {
  if (acceptor_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_accepting_.get(), &one, sizeof(one));
    acceptor_.join();
  }
  if (server_ == nullptr) return;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
}

ApiServer::~ApiServer() {
  Shutdown(absl::ZeroDuration());
  for (const std::string& path : unix_paths_) ::unlink(path.c_str());
}

}  // namespace httptrace::service
