// Loopback sockets and the recording sink for capture tests.

#include "agent/capture/capture_testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/time/clock.h"

namespace httptrace::capture::testing {

absl::StatusOr<Listener> Listen(int family) {
  Listener l;
  l.family = family;
  l.fd.reset(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l.fd) return absl::ErrnoToStatus(errno, "socket");
  const int one = 1;
  setsockopt(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*sin);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    len = sizeof(*sin6);
  }
  if (bind(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return absl::ErrnoToStatus(errno, "bind");
  if (listen(l.fd.get(), 64) != 0) return absl::ErrnoToStatus(errno, "listen");
  if (getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return absl::ErrnoToStatus(errno, "getsockname");
  l.port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return l;
}

absl::StatusOr<TcpPair> Connect(const Listener& listener) {
  TcpPair p;
  p.client.reset(socket(listener.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!p.client) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return absl::ErrnoToStatus(errno, "getsockname");
  if (connect(p.client.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return absl::ErrnoToStatus(errno, "connect");
  p.server.reset(accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!p.server) return absl::ErrnoToStatus(errno, "accept4");
  return p;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= w;
  }
  return true;
}

bool ReadExactly(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= r;
  }
  return true;
}

void RecordingSink::OnOpen(const ConnectionOpenEvent& event) {
  absl::MutexLock lock(&mu_);
  Conn& c = conns_[event.conn];
  c.opened = true;
  c.open = event;
  c.open.comm = {};
  c.open_comm = std::string(event.comm);
}

void RecordingSink::OnData(const DataEvent& event) {
  absl::MutexLock lock(&mu_);
  Stream& s = conns_[event.conn].streams[static_cast<int>(event.direction)];
  if (event.position != s.next_position) s.contiguous = false;
  s.next_position = event.position + event.length;
  s.total_length += event.length;
  s.bytes.append(event.data.data(), event.data.size());
  if (event.size_only) s.size_only_bytes += event.length;
  ++s.events;
  s.pid = event.pid;
  s.comm = std::string(event.comm);
}

void RecordingSink::OnShutdown(const ConnectionShutdownEvent& event) {
  absl::MutexLock lock(&mu_);
  Conn& c = conns_[event.conn];
  c.shut_down = true;
  c.shutdown = event;
}

void RecordingSink::OnClose(const ConnectionCloseEvent& event) {
  absl::MutexLock lock(&mu_);
  Conn& c = conns_[event.conn];
  c.closed = true;
  c.close = event;
}

void RecordingSink::OnKernelLoss(const KernelLossEvent& event) {
  absl::MutexLock lock(&mu_);
  ++losses_;
  lost_bytes_[static_cast<int>(event.direction)] += event.bytes;
  lost_message_starts_[static_cast<int>(event.direction)] += event.message_starts;
}

RecordingSink::Conns RecordingSink::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return conns_;
}

uint64_t RecordingSink::losses() const {
  absl::MutexLock lock(&mu_);
  return losses_;
}

uint64_t RecordingSink::lost_bytes(Direction direction) const {
  absl::MutexLock lock(&mu_);
  return lost_bytes_[static_cast<int>(direction)];
}

uint64_t RecordingSink::lost_message_starts(Direction direction) const {
  absl::MutexLock lock(&mu_);
  return lost_message_starts_[static_cast<int>(direction)];
}

bool RecordingSink::WaitUntil(absl::FunctionRef<bool(const Conns&)> done,
                              absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (done(Snapshot())) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

const RecordingSink::Conn* RecordingSink::Find(const Conns& conns, uint32_t tgid, int fd) {
  const Conn* best = nullptr;
  uint64_t best_id = 0;
  for (const auto& [key, conn] : conns) {
    if (conn.opened && conn.open.pid == tgid && conn.open.fd == fd &&
        (best == nullptr || key.id > best_id)) {
      best = &conn;
      best_id = key.id;
    }
  }
  return best;
}

}  // namespace httptrace::capture::testing
