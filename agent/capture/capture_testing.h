// Test helpers for the capture: loopback TCP connections made in-process, and a CaptureSink that
// records every event (thread-safe) so tests can wait for and inspect what the probes reported.

#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/capture/capture_events.h"
#include "common/unique_fd.h"

namespace httptrace::capture::testing {

// A listening socket on loopback (127.0.0.1 or ::1), ephemeral port.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;
  int family = 0;
};
absl::StatusOr<Listener> Listen(int family);

// A connected client/server pair through `listener` (blocking sockets).
struct TcpPair {
  UniqueFd client;
  UniqueFd server;
};
absl::StatusOr<TcpPair> Connect(const Listener& listener);

// Writes/reads exactly n bytes (loops over short transfers).
bool WriteAll(int fd, const void* data, size_t n);
bool ReadExactly(int fd, void* data, size_t n);

class RecordingSink : public CaptureSink {
 public:
  struct Stream {
    std::string bytes;           // captured payload, in order
    uint64_t next_position = 0;  // position + length of the last event
    uint64_t total_length = 0;   // sum of event lengths
    uint64_t size_only_bytes = 0;
    int events = 0;
    bool contiguous = true;  // every event started where the previous ended, the first at 0
    uint32_t pid = 0;
    std::string comm;
  };
  struct Conn {
    bool opened = false;
    bool closed = false;
    bool shut_down = false;  // a shutdown event (SHUT_WR) arrived
    ConnectionShutdownEvent shutdown;
    ConnectionOpenEvent open;  // comm cleared; see open_comm
    std::string open_comm;
    ConnectionCloseEvent close;
    Stream streams[2];  // by Direction
    const Stream& egress() const { return streams[0]; }
    const Stream& ingress() const { return streams[1]; }
  };
  using Conns = absl::flat_hash_map<ConnectionKey, Conn>;

  void OnOpen(const ConnectionOpenEvent& event) override;
  void OnData(const DataEvent& event) override;
  void OnShutdown(const ConnectionShutdownEvent& event) override;
  void OnClose(const ConnectionCloseEvent& event) override;
  void OnKernelLoss(const KernelLossEvent& event) override;
  void OnFlush() override { flushes_.fetch_add(1); }
  uint64_t flushes() const { return flushes_.load(); }

  Conns Snapshot() const;
  uint64_t losses() const;
  // Summed over every loss event of a direction.
  uint64_t lost_bytes(Direction direction) const;
  uint64_t lost_message_starts(Direction direction) const;
  // Polls until `done(snapshot)` is true or `timeout` passes; returns the last verdict.
  bool WaitUntil(absl::FunctionRef<bool(const Conns&)> done, absl::Duration timeout) const;

  // The latest connection (highest id) opened through (tgid, fd) in `conns`, or nullptr.
  static const Conn* Find(const Conns& conns, uint32_t tgid, int fd);

 private:
  std::atomic<uint64_t> flushes_{0};
  mutable absl::Mutex mu_;
  Conns conns_ ABSL_GUARDED_BY(mu_);
  uint64_t losses_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lost_bytes_[2] ABSL_GUARDED_BY(mu_) = {};
  uint64_t lost_message_starts_[2] ABSL_GUARDED_BY(mu_) = {};
};

}  // namespace httptrace::capture::testing
