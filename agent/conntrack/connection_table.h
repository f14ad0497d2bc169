// The agent's connection table: per connection (kernel socket) the addresses, role, process, and
// byte positions per direction, with gap detection, idle eviction and a size limit. Later stages
// hang their per-connection state on Connection::attachment; the table frees it on close/evict.
//   ConnectionTable table({.max_connections = 65536}, [](Connection& c, EndReason why) {...});
//   table.OnOpen(open); auto r = table.OnData(data); if (r.gap_bytes) ...; table.OnClose(close);
// Not thread-safe: one owner (the pipeline thread that receives capture events) drives it.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/capture/capture_events.h"

namespace httptrace::conntrack {

// Base for the state another stage keeps per connection (e.g. HTTP stream parsers).
class ConnectionAttachment {
 public:
  virtual ~ConnectionAttachment() = default;
};

enum class EndReason : uint8_t {
  kClosed = 0,   // close event from the kernel
  kIdle = 1,     // no event for idle_timeout (EvictIdle)
  kEvicted = 2,  // the table was full: least recently seen connection made room
  kCleared = 3,  // Clear()
};
absl::string_view EndReasonName(EndReason reason);  // "closed", "idle", "evicted", "cleared"

struct StreamState {
  uint64_t next_position = 0;      // where the next event should start
  uint64_t bytes = 0;              // stream bytes accounted (sum of event lengths)
  uint64_t captured_bytes = 0;     // payload bytes received
  uint64_t gaps = 0;               // times a position jumped forward (events lost)
  uint64_t gap_bytes = 0;          // bytes in those jumps
  uint64_t kernel_lost_bytes = 0;  // bytes the kernel reported dropped (OnKernelLoss)
};

struct Connection {
  capture::ConnectionKey key;
  capture::Role role = capture::Role::kUnknown;
  capture::SocketAddress local;
  capture::SocketAddress remote;
  uint32_t pid = 0;  // the process that used it last (a socket may pass between processes)
  std::string comm;
  // Of the process that opened it, as the probes read them (0: unknown, the open event lost).
  uint32_t mount_namespace = 0;
  uint64_t cgroup_id = 0;
  capture::TlsLibrary tls = capture::TlsLibrary::kNone;  // plaintext from this TLS library
  uint64_t opened_ns = 0;
  uint64_t last_seen_ns = 0;   // timestamp of the latest event (CLOCK_REALTIME ns)
  bool open_seen = false;      // false: data came first (the open event was lost)
  bool egress_shut = false;    // the traced side shut down its sending direction
  bool ingress_ended = false;  // the traced side read the end of the peer's stream
  StreamState streams[2];      // by capture::Direction
  std::unique_ptr<ConnectionAttachment> attachment;  // owned; freed when the entry ends

  StreamState& stream(capture::Direction d) { return streams[static_cast<int>(d)]; }
  const StreamState& stream(capture::Direction d) const { return streams[static_cast<int>(d)]; }
};

// What OnData found out about an event's place in its stream.
struct DataResult {
  Connection* conn = nullptr;  // never null
  uint64_t gap_bytes = 0;      // bytes missing right before this event (0: contiguous)
  bool overlap = false;        // the event starts before the expected position
};

struct TableCounters {
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t evicted_idle = 0;
  uint64_t evicted_full = 0;       // the size-limit counter
  uint64_t data_without_open = 0;  // connections created by data (open event lost)
  uint64_t close_unknown = 0;      // closes of connections not in the table
  uint64_t shutdowns = 0;          // shutdown(SHUT_WR) of a tracked connection
  uint64_t read_eofs = 0;          // end of stream read on a tracked connection
  uint64_t process_changes = 0;    // data from another process than the previous event's
  uint64_t gaps = 0;
  uint64_t gap_bytes = 0;
  uint64_t overlaps = 0;
  uint64_t kernel_lost_bytes = 0;
};

class ConnectionTable {
 public:
  struct Options {
    size_t max_connections = 65536;
    absl::Duration idle_timeout = absl::Minutes(5);
  };
  // Called for every entry that ends, before it (and its attachment) is freed. It must not call
  // back into the table.
  using EndCallback = std::function<void(Connection&, EndReason)>;

  explicit ConnectionTable(Options options, EndCallback on_end = nullptr);
  ConnectionTable(const ConnectionTable&) = delete;
  ConnectionTable& operator=(const ConnectionTable&) = delete;

  // Creates (or refreshes) the entry. May evict the least recently seen entry when full.
  Connection& OnOpen(const capture::ConnectionOpenEvent& event);
  // Accounts an event in its stream; creates the entry if the open was not seen.
  DataResult OnData(const capture::DataEvent& event);
  // Checks the final byte counts for a trailing gap, ends the entry (kClosed) and frees it.
  // Returns false when the connection is unknown.
  bool OnClose(const capture::ConnectionCloseEvent& event);
  // One direction ended (shutdown(SHUT_WR), or end of stream read): checks that stream for a
  // trailing gap. Returns the connection, or nullptr when unknown.
  Connection* OnShutdown(const capture::ConnectionShutdownEvent& event);
  // Records bytes the kernel could not queue for a connection (the same bytes also show as a gap
  // at the next DataEvent or the close). Unknown connections are only counted in total.
  void OnKernelLoss(const capture::KernelLossEvent& event);
  // Ends every entry whose last event is older than now_ns - idle_timeout. Returns how many.
  size_t EvictIdle(uint64_t now_ns);
  // Ends every entry (kCleared).
  void Clear();

  Connection* Find(const capture::ConnectionKey& key);
  // Calls fn(const Connection&) for every entry, most recently seen first.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Connection& connection : lru_) fn(connection);
  }
  size_t size() const { return index_.size(); }
  const TableCounters& counters() const { return counters_; }

 private:
  using List = std::list<Connection>;  // most recently seen first

  Connection& Insert(const capture::ConnectionKey& key);
  void Touch(List::iterator it) { lru_.splice(lru_.begin(), lru_, it); }
  void End(List::iterator it, EndReason reason);

  Options options_;
  EndCallback on_end_;
  List lru_;
  absl::flat_hash_map<capture::ConnectionKey, List::iterator> index_;
  TableCounters counters_;
};

}  // namespace httptrace::conntrack
