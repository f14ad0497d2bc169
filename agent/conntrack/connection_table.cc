// Connection table: an LRU list of entries indexed by key, so touching, size-limit eviction and
// idle eviction are all O(1) per entry.

#include "agent/conntrack/connection_table.h"

#include <utility>

namespace httptrace::conntrack {

using capture::Direction;

absl::string_view EndReasonName(EndReason reason) {
  switch (reason) {
    case EndReason::kClosed:
      return "closed";
    case EndReason::kIdle:
      return "idle";
    case EndReason::kEvicted:
      return "evicted";
    case EndReason::kCleared:
      return "cleared";
  }
  return "unknown";
}

ConnectionTable::ConnectionTable(Options options, EndCallback on_end)
    : options_(options), on_end_(std::move(on_end)) {
  if (options_.max_connections == 0) options_.max_connections = 1;
}

Connection* ConnectionTable::Find(const capture::ConnectionKey& key) {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &*it->second;
}

Connection& ConnectionTable::Insert(const capture::ConnectionKey& key) {
  while (index_.size() >= options_.max_connections && !lru_.empty()) {
    ++counters_.evicted_full;
    End(std::prev(lru_.end()), EndReason::kEvicted);
  }
  lru_.emplace_front();
  Connection& conn = lru_.front();
  conn.key = key;
  index_.emplace(key, lru_.begin());
  return conn;
}

void ConnectionTable::End(List::iterator it, EndReason reason) {
  if (on_end_) on_end_(*it, reason);
  index_.erase(it->key);
  lru_.erase(it);
}

Connection& ConnectionTable::OnOpen(const capture::ConnectionOpenEvent& event) {
  auto found = index_.find(event.conn);
  Connection* conn;
  if (found != index_.end()) {
    Touch(found->second);
    conn = &*found->second;
  } else {
    conn = &Insert(event.conn);
    ++counters_.opened;
  }
  conn->role = event.role;
  conn->local = event.local;
  conn->remote = event.remote;
  conn->pid = event.pid;
  conn->comm = std::string(event.comm);
  conn->mount_namespace = event.mount_namespace;
  conn->cgroup_id = event.cgroup_id;
  conn->opened_ns = event.timestamp_ns;
  if (conn->last_seen_ns < event.timestamp_ns) conn->last_seen_ns = event.timestamp_ns;
  conn->open_seen = true;
  return *conn;
}

DataResult ConnectionTable::OnData(const capture::DataEvent& event) {
  DataResult result;
  auto found = index_.find(event.conn);
  Connection* conn;
  if (found != index_.end()) {
    Touch(found->second);
    conn = &*found->second;
  } else {
    conn = &Insert(event.conn);
    ++counters_.opened;
    ++counters_.data_without_open;
    conn->pid = event.pid;
    conn->comm = std::string(event.comm);
    conn->opened_ns = event.timestamp_ns;
  }
  result.conn = conn;
  conn->last_seen_ns = event.timestamp_ns;
  if (event.tls != capture::TlsLibrary::kNone) conn->tls = event.tls;
  if (event.pid != conn->pid && event.pid != 0) {
    // Another holder of the socket (a forked child, a process it was passed to): exchanges
    // name the process that carried them.
    ++counters_.process_changes;
    conn->pid = event.pid;
    conn->comm = std::string(event.comm);
  }
  StreamState& s = conn->stream(event.direction);
  if (event.position > s.next_position) {
    result.gap_bytes = event.position - s.next_position;
    ++s.gaps;
    s.gap_bytes += result.gap_bytes;
    ++counters_.gaps;
    counters_.gap_bytes += result.gap_bytes;
  } else if (event.position < s.next_position) {
    result.overlap = true;
    ++counters_.overlaps;
  }
  const uint64_t end = event.position + event.length;
  if (end > s.next_position) s.next_position = end;
  s.bytes += event.length;
  s.captured_bytes += event.data.size();
  return result;
}

namespace {
// Events lost at the very end of a stream show only in its final position.
void CheckFinal(StreamState& s, uint64_t final_position, TableCounters& counters) {
  if (final_position <= s.next_position) return;
  ++s.gaps;
  s.gap_bytes += final_position - s.next_position;
  ++counters.gaps;
  counters.gap_bytes += final_position - s.next_position;
  s.next_position = final_position;
}
}  // namespace

bool ConnectionTable::OnClose(const capture::ConnectionCloseEvent& event) {
  auto found = index_.find(event.conn);
  if (found == index_.end()) {
    ++counters_.close_unknown;
    return false;
  }
  Connection& conn = *found->second;
  conn.last_seen_ns = event.timestamp_ns;
  CheckFinal(conn.stream(Direction::kEgress), event.egress_bytes, counters_);
  CheckFinal(conn.stream(Direction::kIngress), event.ingress_bytes, counters_);
  ++counters_.closed;
  End(found->second, EndReason::kClosed);
  return true;
}

Connection* ConnectionTable::OnShutdown(const capture::ConnectionShutdownEvent& event) {
  auto found = index_.find(event.conn);
  if (found == index_.end()) return nullptr;
  Touch(found->second);
  Connection& conn = *found->second;
  conn.last_seen_ns = event.timestamp_ns;
  if (event.direction == Direction::kEgress) {
    CheckFinal(conn.stream(Direction::kEgress), event.egress_bytes, counters_);
    conn.egress_shut = true;
    ++counters_.shutdowns;
  } else {
    CheckFinal(conn.stream(Direction::kIngress), event.ingress_bytes, counters_);
    conn.ingress_ended = true;
    ++counters_.read_eofs;
  }
  return &conn;
}

void ConnectionTable::OnKernelLoss(const capture::KernelLossEvent& event) {
  counters_.kernel_lost_bytes += event.bytes;
  if (Connection* conn = Find(event.conn))
    conn->stream(event.direction).kernel_lost_bytes += event.bytes;
}

size_t ConnectionTable::EvictIdle(uint64_t now_ns) {
  const int64_t timeout = absl::ToInt64Nanoseconds(options_.idle_timeout);
  size_t evicted = 0;
  while (!lru_.empty()) {
    auto oldest = std::prev(lru_.end());
    if (static_cast<int64_t>(now_ns - oldest->last_seen_ns) < timeout) break;
    ++counters_.evicted_idle;
    End(oldest, EndReason::kIdle);
    ++evicted;
  }
  return evicted;
}

void ConnectionTable::Clear() {
  while (!lru_.empty()) End(std::prev(lru_.end()), EndReason::kCleared);
}

}  // namespace httptrace::conntrack
