// The user-space view of what the capture probes report: connection keys, socket addresses, and
// the data, open, close and loss events handed to a CaptureSink. No libbpf types: the rest of
// the agent codes against this header only.

#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/string_view.h"
#include "agent/protocols/common/protocol.h"

namespace httptrace::capture {

// Egress: the traced process wrote the bytes; ingress: it read them.
enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };
enum class Role : uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

absl::string_view DirectionName(Direction direction);  // "egress", "ingress"
absl::string_view RoleName(Role role);                 // "unknown", "client", "server"

// One connection: one kernel socket, whichever processes and fds use it (dup, fork, fds passed
// over unix sockets). The id is the probes' and unique on the host while they stay loaded; a
// socket whose filter verdict changed continues under a new id (a new connection seen
// mid-stream), so a stream with bytes skipped by a filter is never spliced.
struct ConnectionKey {
  uint64_t id = 0;

  friend bool operator==(const ConnectionKey&, const ConnectionKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ConnectionKey& key) {
    return H::combine(std::move(h), key.id);
  }
  std::string ToString() const;  // "#42"
};

struct SocketAddress {
  int family = 0;                  // AF_INET, AF_INET6, or 0 when unknown
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes; network order
  uint16_t port = 0;               // host order

  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
  std::string ToString() const;       // "127.0.0.1:80", "[::1]:80"
  std::string AddressString() const;  // "127.0.0.1", "::1"
};

enum class Syscall : uint8_t {
  kUnknown = 0,
  kRead,
  kWrite,
  kReadv,
  kWritev,
  kRecvfrom,
  kSendto,
  kRecvmsg,
  kSendmsg,
  kRecvmmsg,
  kSendmmsg,
  kSendfile,
  kTlsRead,   // plaintext a TLS library's read returned (SSL_read, ...)
  kTlsWrite,  // plaintext a TLS library's write took (SSL_write, ...)
};

// Which TLS library a connection's plaintext came from (kNone: plaintext on the socket).
enum class TlsLibrary : uint8_t { kNone = 0, kOpenssl = 1, kGnutls = 2, kGo = 3 };
absl::string_view TlsLibraryName(TlsLibrary library);  // "", "openssl", "gnutls", "go"

// Bytes of one connection and direction. Events of a direction arrive in stream order; a jump in
// `position` is a gap (events lost). `length` counts the stream bytes this event stands for:
// more than data.size() when the probes copied less (copy limit, budget, sendfile).
struct DataEvent {
  ConnectionKey conn;
  Direction direction = Direction::kEgress;
  uint64_t position = 0;      // stream offset of data[0], from the first byte the probes saw
  uint64_t length = 0;        // true bytes this event stands for, >= data.size()
  absl::string_view data;     // valid only during the callback
  uint64_t timestamp_ns = 0;  // CLOCK_REALTIME nanoseconds
  uint32_t pid = 0;           // the process that made the syscall (any holder of the socket)
  uint32_t tid = 0;
  int32_t fd = -1;           // its fd for the socket
  std::string_view comm;     // valid only during the callback
  bool size_only = false;    // sendfile: the bytes were never in user memory
  bool read_failed = false;  // the probes could not read the user buffer (length is right)
  Syscall syscall = Syscall::kUnknown;
  // kTlsRead/kTlsWrite: the plaintext of this TLS library's call (the connection carries TLS).
  TlsLibrary tls = TlsLibrary::kNone;
  // What the probes classified the connection as (they copy only connections they recognise).
  protocols::Protocol protocol = protocols::Protocol::kUnknown;
};

// Sent before the first data of a connection that carries HTTP/1.x (connections whose first
// bytes are not HTTP never produce events).
struct ConnectionOpenEvent {
  ConnectionKey conn;
  Role role = Role::kUnknown;  // from connect/accept, else inferred from the first bytes
  SocketAddress local;
  SocketAddress remote;
  uint64_t timestamp_ns = 0;  // connect/accept time, or when the probes first saw the socket
  uint32_t pid = 0;           // the process whose first HTTP bytes opened it
  uint32_t tid = 0;
  int32_t fd = -1;
  std::string_view comm;               // valid only during the callback
  TlsLibrary tls = TlsLibrary::kNone;  // its data is this library's plaintext (uprobes)
  // Of that process, read by the probes at its syscall (0 when unknown): the container it was
  // in, even after it has exited.
  uint32_t mount_namespace = 0;
  uint64_t cgroup_id = 0;
  // Sent through OnNotTraced: the probes classified the connection as no protocol they trace
  // (its bytes are never copied); nothing else follows for it.
  bool not_traced = false;
};

// The socket ended, for every holder: the last fd closed (close, exit, exec with O_CLOEXEC,
// close_range, dup2 over it), shut down both ways, or reset. Sent only after an open event.
struct ConnectionCloseEvent {
  ConnectionKey conn;
  uint64_t timestamp_ns = 0;
  uint64_t egress_bytes = 0;  // stream bytes per direction (what the final positions are)
  uint64_t ingress_bytes = 0;
  uint32_t tid = 0;
};

// One direction ended while the socket lives on. Egress: the traced side shut down its sending
// direction (shutdown(SHUT_WR)) and may still read; its egress stream ends at egress_bytes.
// Ingress: the traced side read the end of the stream (read() returned 0), at ingress_bytes.
// Either way a close-delimited message in that direction is complete.
struct ConnectionShutdownEvent {
  ConnectionKey conn;
  Direction direction = Direction::kEgress;
  uint64_t timestamp_ns = 0;
  uint64_t egress_bytes = 0;
  uint64_t ingress_bytes = 0;
};

enum class LossCause : uint8_t {
  kRingBufferFull = 1,  // the kernel could not queue data events of this connection
  kAgentQueueFull = 2,  // the agent could not queue them for its worker (memory budget)
};
absl::string_view LossCauseName(LossCause cause);

// Data the kernel (or the agent, before parsing it) had to drop for one connection and direction.
// The matching gap also shows in the positions of the next DataEvent; this says why.
struct KernelLossEvent {
  ConnectionKey conn;
  Direction direction = Direction::kEgress;
  LossCause cause = LossCause::kRingBufferFull;
  uint64_t bytes = 0;
  // Syscalls dropped whole that began an HTTP message (bpf/events.h): the messages lost, exact
  // when each carried at most one, a lower bound otherwise.
  uint32_t message_starts = 0;
  uint64_t timestamp_ns = 0;
};

// Receives decoded events on the capture's poll thread, in ring-buffer order. Implementations
// must be quick and must not block: they run on the only consumer of the kernel's buffer.
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  virtual void OnOpen(const ConnectionOpenEvent& event) = 0;
  virtual void OnData(const DataEvent& event) = 0;
  virtual void OnShutdown(const ConnectionShutdownEvent& event) = 0;
  virtual void OnClose(const ConnectionCloseEvent& event) = 0;
  virtual void OnKernelLoss(const KernelLossEvent& event) = 0;
  // A connection the probes will not copy: not HTTP/1.x or HTTP/2 (event.not_traced is set).
  // Sessions name such connections in their notes; sinks that do not care ignore it.
  virtual void OnNotTraced(const ConnectionOpenEvent& event) {}
  // Called on the poll thread after every poll of the ring buffer (and after the final drain of
  // a Detach): a sink that batches events hands them on now.
  virtual void OnPollDone() {}
  // Called on the poll thread after a poll that a Capture::Flush waits for: everything queued
  // before the Flush has been handed over, so what the sink holds back (losses it batches)
  // should go out now.
  virtual void OnFlush() {}
};

}  // namespace httptrace::capture
