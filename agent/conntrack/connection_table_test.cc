// Connection table: open/data/close lifecycle, gap and overlap detection, data before open,
// attachments freed on every way out, idle eviction and the size limit.

#include "agent/conntrack/connection_table.h"

#include <sys/socket.h>

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::conntrack {
namespace {

using capture::ConnectionCloseEvent;
using capture::ConnectionKey;
using capture::ConnectionOpenEvent;
using capture::DataEvent;
using capture::Direction;
using capture::Role;

constexpr uint64_t kSecond = 1000000000;

ConnectionOpenEvent Open(ConnectionKey key, uint64_t ts = 1) {
  ConnectionOpenEvent e;
  e.conn = key;
  e.role = Role::kServer;
  e.local.family = AF_INET;
  e.local.port = 80;
  e.pid = 4213;
  e.comm = "nginx";
  e.timestamp_ns = ts;
  return e;
}

DataEvent Data(ConnectionKey key, Direction d, uint64_t position, absl::string_view bytes,
               uint64_t length = 0, uint64_t ts = 2) {
  DataEvent e;
  e.conn = key;
  e.direction = d;
  e.position = position;
  e.data = bytes;
  e.length = length ? length : bytes.size();
  e.timestamp_ns = ts;
  e.pid = 4213;
  e.comm = "curl";
  return e;
}

ConnectionCloseEvent Close(ConnectionKey key, uint64_t egress, uint64_t ingress) {
  ConnectionCloseEvent e;
  e.conn = key;
  e.egress_bytes = egress;
  e.ingress_bytes = ingress;
  e.timestamp_ns = 3;
  return e;
}

// Counts its own destruction, to prove the table frees attachments.
struct Probe : ConnectionAttachment {
  explicit Probe(int* freed) : freed(freed) {}
  ~Probe() override { ++*freed; }
  int* freed;
};

struct Ended {
  std::vector<std::pair<ConnectionKey, EndReason>> ends;
  ConnectionTable::EndCallback callback() {
    return [this](Connection& c, EndReason r) { ends.emplace_back(c.key, r); };
  }
};

TEST(ConnectionTableTest, OpenDataCloseKeepsPositionsAndFreesAttachment) {
  Ended ended;
  int freed = 0;
  ConnectionTable table({}, ended.callback());
  const ConnectionKey key{1};
  Connection& c = table.OnOpen(Open(key));
  c.attachment = std::make_unique<Probe>(&freed);
  EXPECT_EQ(c.role, Role::kServer);
  EXPECT_EQ(c.comm, "nginx");

  auto r = table.OnData(Data(key, Direction::kIngress, 0, "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(r.conn, &c);
  EXPECT_EQ(r.gap_bytes, 0u);
  r = table.OnData(Data(key, Direction::kEgress, 0, "HTTP/1.1 200 OK\r\n", 1000));
  EXPECT_EQ(c.stream(Direction::kEgress).next_position, 1000u);
  EXPECT_EQ(c.stream(Direction::kEgress).captured_bytes, 17u);

  EXPECT_TRUE(table.OnClose(Close(key, 1000, 18)));
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(freed, 1);
  ASSERT_EQ(ended.ends.size(), 1u);
  EXPECT_EQ(ended.ends[0].second, EndReason::kClosed);
  EXPECT_EQ(table.counters().gaps, 0u);
  EXPECT_FALSE(table.OnClose(Close(key, 0, 0)));
  EXPECT_EQ(table.counters().close_unknown, 1u);
}

TEST(ConnectionTableTest, DetectsGapsOverlapsAndTrailingLoss) {
  ConnectionTable table({});
  const ConnectionKey key{9};
  table.OnOpen(Open(key));
  EXPECT_EQ(table.OnData(Data(key, Direction::kEgress, 0, "abcd")).gap_bytes, 0u);
  auto r = table.OnData(Data(key, Direction::kEgress, 10, "xy"));
  EXPECT_EQ(r.gap_bytes, 6u);
  EXPECT_FALSE(r.overlap);
  r = table.OnData(Data(key, Direction::kEgress, 11, "y"));
  EXPECT_TRUE(r.overlap);
  EXPECT_EQ(r.conn->stream(Direction::kEgress).next_position, 12u);
  // Ingress is independent.
  EXPECT_EQ(table.OnData(Data(key, Direction::kIngress, 0, "q")).gap_bytes, 0u);
  // 8 egress bytes never arrived before the close.
  table.OnClose(Close(key, 20, 1));
  EXPECT_EQ(table.counters().gaps, 2u);
  EXPECT_EQ(table.counters().gap_bytes, 14u);
  EXPECT_EQ(table.counters().overlaps, 1u);
}

TEST(ConnectionTableTest, KernelLossIsRecordedPerStream) {
  ConnectionTable table({});
  const ConnectionKey key{9};
  table.OnOpen(Open(key));
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.direction = Direction::kIngress;
  loss.bytes = 4096;
  table.OnKernelLoss(loss);
  loss.conn = {999};  // unknown: counted in total only
  table.OnKernelLoss(loss);
  EXPECT_EQ(table.Find(key)->stream(Direction::kIngress).kernel_lost_bytes, 4096u);
  EXPECT_EQ(table.counters().kernel_lost_bytes, 8192u);
}

TEST(ConnectionTableTest, DataBeforeOpenCreatesEntryThenOpenFillsIt) {
  ConnectionTable table({});
  const ConnectionKey key{7};
  auto r = table.OnData(Data(key, Direction::kIngress, 0, "GET"));
  EXPECT_FALSE(r.conn->open_seen);
  EXPECT_EQ(r.conn->pid, 4213u);
  EXPECT_EQ(r.conn->comm, "curl");
  EXPECT_EQ(table.counters().data_without_open, 1u);
  Connection& c = table.OnOpen(Open(key));
  EXPECT_TRUE(c.open_seen);
  EXPECT_EQ(&c, r.conn);
  EXPECT_EQ(c.stream(Direction::kIngress).next_position, 3u);
  EXPECT_EQ(table.size(), 1u);
}

TEST(ConnectionTableTest, EveryIdIsItsOwnConnection) {
  ConnectionTable table({});
  table.OnOpen(Open({31}));
  table.OnOpen(Open({32}));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_NE(table.Find({31}), table.Find({32}));
}

TEST(ConnectionTableTest, IdleEvictionEndsOnlyStaleEntries) {
  Ended ended;
  int freed = 0;
  ConnectionTable table({.idle_timeout = absl::Seconds(10)}, ended.callback());
  table.OnOpen(Open({11}, 1 * kSecond)).attachment = std::make_unique<Probe>(&freed);
  table.OnOpen(Open({21}, 5 * kSecond));
  table.OnData(Data({11}, Direction::kEgress, 0, "x", 0, 8 * kSecond));  // touched later
  table.OnOpen(Open({31}, 9 * kSecond));
  EXPECT_EQ(table.EvictIdle(16 * kSecond), 1u);  // only {1,2,1}: last seen at 5 s
  EXPECT_EQ(table.Find({21}), nullptr);
  EXPECT_EQ(table.EvictIdle(18 * kSecond), 1u);  // {1,1,1}: last seen at 8 s
  EXPECT_EQ(freed, 1);
  EXPECT_EQ(table.counters().evicted_idle, 2u);
  ASSERT_EQ(ended.ends.size(), 2u);
  EXPECT_EQ(ended.ends[1].second, EndReason::kIdle);
  EXPECT_EQ(table.size(), 1u);
}

TEST(ConnectionTableTest, SizeLimitEvictsLeastRecentlySeenAndCounts) {
  Ended ended;
  ConnectionTable table({.max_connections = 2}, ended.callback());
  table.OnOpen(Open({11}));
  table.OnOpen(Open({21}));
  table.OnData(Data({11}, Direction::kEgress, 0, "x"));  // {1,1,1} is now most recent
  table.OnOpen(Open({31}));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find({21}), nullptr);
  EXPECT_NE(table.Find({11}), nullptr);
  EXPECT_EQ(table.counters().evicted_full, 1u);
  ASSERT_EQ(ended.ends.size(), 1u);
  EXPECT_EQ(ended.ends[0].second, EndReason::kEvicted);
}

TEST(ConnectionTableTest, ClearEndsEverything) {
  Ended ended;
  int freed = 0;
  ConnectionTable table({}, ended.callback());
  table.OnOpen(Open({11})).attachment = std::make_unique<Probe>(&freed);
  table.OnOpen(Open({21})).attachment = std::make_unique<Probe>(&freed);
  table.Clear();
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(freed, 2);
  EXPECT_EQ(ended.ends.size(), 2u);
  EXPECT_EQ(EndReasonName(ended.ends[0].second), "cleared");
}

TEST(ConnectionTableTest, DataFromAnotherProcessNamesItAndShutdownChecksTheEgressEnd) {
  ConnectionTable table({});
  const ConnectionKey key{5};
  table.OnOpen(Open(key));
  DataEvent from_child = Data(key, Direction::kEgress, 0, "HTTP/1.0 404");
  from_child.pid = 77;
  from_child.comm = "httpd";
  table.OnData(from_child);
  const Connection* conn = table.Find(key);
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(conn->pid, 77u);
  EXPECT_EQ(conn->comm, "httpd");
  EXPECT_EQ(table.counters().process_changes, 1u);
  capture::ConnectionShutdownEvent shutdown;
  shutdown.conn = key;
  shutdown.egress_bytes = 20;  // 8 bytes never arrived
  ASSERT_NE(table.OnShutdown(shutdown), nullptr);
  EXPECT_TRUE(conn->egress_shut);
  EXPECT_EQ(conn->stream(Direction::kEgress).gap_bytes, 8u);
  shutdown.conn = {6};
  EXPECT_EQ(table.OnShutdown(shutdown), nullptr);
}

}  // namespace
}  // namespace httptrace::conntrack
