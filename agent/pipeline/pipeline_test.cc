// The pipeline's glue with the real HTTP engine and the real session manager, fed with capture
// events as the poll thread delivers them. The probes themselves are tested in agent/capture and
// the whole chain with real traffic in test/e2e.

#include "agent/pipeline/pipeline.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <string>

#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::pipeline {
namespace {

class NoProbes : public session::CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>&, uint32_t) override {
    return absl::OkStatus();
  }
  void Flush() override {}
};

capture::SocketAddress V4(const char* ip, uint16_t port) {
  capture::SocketAddress address;
  address.family = AF_INET;
  inet_pton(AF_INET, ip, address.addr.data());
  address.port = port;
  return address;
}

class PipelineTest : public testing::Test {
 protected:
  void SetUp() override {
    PipelineOptions options;
    // Hermetic: container attribution reads an empty test directory instead of the host's /proc
    // and asks no container engine.
    options.containers.proc_root = httptrace::test_support::MakeScratchDir("proc");
    options.containers.engine_sockets.clear();
    options.node_name = "test-node";
    pipeline_ = Pipeline::CreateForTest(options);
    pipeline_->SetSessions(&sessions_);
    session_ = sessions_.Start(v1::StartCaptureRequest())->id();
  }

  void Open(capture::ConnectionKey key, capture::Role role, uint32_t pid = 4213) {
    capture::ConnectionOpenEvent open;
    open.conn = key;
    open.role = role;
    open.local = V4("127.0.0.1", 8080);
    open.remote = V4("127.0.0.1", 51234);
    open.timestamp_ns = 1'000'000'000;
    open.pid = pid;
    open.tid = pid + 1;
    open.comm = "server";
    pipeline_->sink().OnOpen(open);
  }

  void Data(capture::ConnectionKey key, capture::Direction direction, uint64_t position,
            absl::string_view bytes, uint64_t ts, uint64_t length = 0, uint32_t pid = 4213) {
    capture::DataEvent event;
    event.conn = key;
    event.direction = direction;
    event.position = position;
    event.data = bytes;
    event.length = length ? length : bytes.size();
    event.timestamp_ns = ts;
    event.pid = pid;
    event.tid = pid + 1;
    event.comm = "server";
    pipeline_->sink().OnData(event);
  }

  // What the session received once the pipeline processed everything fed so far.
  std::vector<v1::Event> Events() {
    pipeline_->SyncForTest();
    uint64_t next = 0;
    std::vector<v1::Event> events;
    for (const auto& e :
         (*sessions_.Find(session_))->Read(&next, 100, absl::ZeroDuration()).events) {
      events.push_back(session::WithSeq(e));
    }
    return events;
  }

  NoProbes control_;
  session::SessionManager sessions_{session::SessionManagerOptions(), &control_};
  std::unique_ptr<Pipeline> pipeline_;
  std::string session_;
};

TEST_F(PipelineTest, ServerConnectionBecomesAnExchangeWithProcessAndAddresses) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  const std::string request = "GET /users HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";
  Data(key, capture::Direction::kIngress, 0, request, 2'000'000'000);
  Data(key, capture::Direction::kEgress, 0, response, 2'000'532'000);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const v1::Exchange& x = events[0].exchange();
  EXPECT_EQ(x.process().pid(), 4213u);
  EXPECT_EQ(x.process().comm(), "server");
  EXPECT_EQ(x.connection().role(), v1::ROLE_SERVER);
  EXPECT_EQ(x.connection().local().address(), "127.0.0.1");
  EXPECT_EQ(x.connection().local().port(), 8080u);
  EXPECT_EQ(x.connection().remote().port(), 51234u);
  EXPECT_EQ(x.request().target(), "/users");
  EXPECT_EQ(x.response().status(), 200u);
  EXPECT_EQ(x.response().body().data(), "[]");
  EXPECT_EQ(x.start_time().seconds(), 2);
  EXPECT_EQ(x.latency().nanos(), 532000);
  EXPECT_TRUE(x.complete());
}

TEST_F(PipelineTest, CloseEmitsAnUnansweredRequestWithANote) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kClient);
  Data(key, capture::Direction::kEgress, 0, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 5);
  EXPECT_TRUE(Events().empty());
  capture::ConnectionCloseEvent close;
  close.conn = key;
  close.timestamp_ns = 10;
  pipeline_->sink().OnClose(close);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].exchange().connection().role(), v1::ROLE_CLIENT);
  EXPECT_FALSE(events[0].exchange().has_response());
  EXPECT_FALSE(events[0].exchange().complete());
  EXPECT_GT(events[0].exchange().notes_size(), 0);
}

// inetd-style: the parent accepted (its open), a forked child reads the request and writes a
// close-delimited 404, then shuts down its sending side. One exchange, at the shutdown, naming
// the child.
TEST_F(PipelineTest, ShutdownEndsTheExchangeAndItNamesTheProcessThatServedIt) {
  const capture::ConnectionKey key{9};
  Open(key, capture::Role::kServer, /*pid=*/100);
  const std::string request = "GET /nope HTTP/1.0\r\n\r\n";
  const std::string response = "HTTP/1.0 404 Not Found\r\n\r\ngone";
  Data(key, capture::Direction::kIngress, 0, request, 2'000'000'000, 0, /*pid=*/101);
  Data(key, capture::Direction::kEgress, 0, response, 2'000'100'000, 0, /*pid=*/101);
  EXPECT_TRUE(Events().empty());
  capture::ConnectionShutdownEvent shutdown;
  shutdown.conn = key;
  shutdown.timestamp_ns = 2'000'200'000;
  shutdown.egress_bytes = response.size();
  shutdown.ingress_bytes = request.size();
  pipeline_->sink().OnShutdown(shutdown);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const v1::Exchange& x = events[0].exchange();
  EXPECT_EQ(x.process().pid(), 101u);
  EXPECT_EQ(x.response().status(), 404u);
  EXPECT_EQ(x.response().body().data(), "gone");
  EXPECT_TRUE(x.complete());
}

// A client reading a close-delimited response: the end of the stream it read completes the
// exchange at once, while it still holds the socket.
TEST_F(PipelineTest, ClientReadingTheEndOfTheStreamCompletesACloseDelimitedResponse) {
  const capture::ConnectionKey key{11};
  Open(key, capture::Role::kClient);
  const std::string request = "GET /old HTTP/1.0\r\n\r\n";
  const std::string response = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
  Data(key, capture::Direction::kEgress, 0, request, 2'000'000'000);
  Data(key, capture::Direction::kIngress, 0, response, 2'000'100'000);
  capture::ConnectionShutdownEvent egress;  // the client's own shutdown changes nothing
  egress.conn = key;
  egress.direction = capture::Direction::kEgress;
  egress.egress_bytes = request.size();
  pipeline_->sink().OnShutdown(egress);
  EXPECT_TRUE(Events().empty());
  capture::ConnectionShutdownEvent eof;
  eof.conn = key;
  eof.direction = capture::Direction::kIngress;
  eof.timestamp_ns = 2'000'200'000;
  eof.egress_bytes = request.size();
  eof.ingress_bytes = response.size();
  pipeline_->sink().OnShutdown(eof);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].exchange().response().body().data(), "until the end");
  EXPECT_TRUE(events[0].exchange().complete());
}

// A response with no request seen says so in the API (the ctl renders it).
TEST_F(PipelineTest, ResponseWithoutRequestSaysRequestNotCaptured) {
  const capture::ConnectionKey key{10};
  Open(key, capture::Role::kServer);
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Data(key, capture::Direction::kEgress, 0, response, 5);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].exchange().has_request());
  ASSERT_GT(events[0].exchange().notes_size(), 0);
  EXPECT_THAT(events[0].exchange().notes(0), ::testing::StartsWith("request not captured"));
}

TEST_F(PipelineTest, KernelLossReachesTheSessionAndStatusCountsIt) {
  capture::KernelLossEvent loss;
  loss.conn = {3};
  loss.bytes = 4096;
  loss.timestamp_ns = 5'000'000'000;
  pipeline_->sink().OnKernelLoss(loss);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].loss().reason(), v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  EXPECT_EQ(events[0].loss().bytes(), 4096u);
}

TEST_F(PipelineTest, AKernelLossHeldBackForTheReportPeriodGoesOutOnFlush) {
  capture::KernelLossEvent loss;
  loss.conn = {3};
  loss.bytes = 100;
  loss.timestamp_ns = 5'000'000'000;
  pipeline_->sink().OnKernelLoss(loss);  // the first is reported at once
  loss.bytes = 200;
  loss.timestamp_ns += 1'000'000;  // 1 ms later: within the report period, held back
  pipeline_->sink().OnKernelLoss(loss);
  ASSERT_EQ(Events().size(), 1u);
  // A stop flushes the pipeline: the held loss goes out before the session ends, so its summary
  // counts it.
  pipeline_->Flush();
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].loss().bytes(), 200u);
}

TEST_F(PipelineTest, KernelLossReachesOnlySessionsThatMayMatchItsConnection) {
  v1::StartCaptureRequest other_port;
  other_port.mutable_filter()->add_ports(9090);
  const std::string other = sessions_.Start(other_port)->id();
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);  // local port 8080
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.bytes = 512;
  loss.timestamp_ns = 9'000'000'000;
  pipeline_->sink().OnKernelLoss(loss);
  const std::vector<v1::Event> events = Events();  // the session without a filter
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].loss().bytes(), 512u);
  EXPECT_NE(events[0].loss().detail().find("pid 4213 (server)"), std::string::npos)
      << events[0].loss().detail();
  uint64_t next = 0;
  EXPECT_TRUE((*sessions_.Find(other))->Read(&next, 10, absl::ZeroDuration()).events.empty());
}

TEST_F(PipelineTest, KernelLossCountsTheMessagesItDroppedAsExchangesOnceEach) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);  // requests come in (ingress)
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.direction = capture::Direction::kIngress;
  loss.bytes = 300;
  loss.message_starts = 3;
  loss.timestamp_ns = 5'000'000'000;
  capture::KernelLossEvent responses = loss;
  responses.direction = capture::Direction::kEgress;
  responses.message_starts = 2;  // two of the three responses went too: still three exchanges
  pipeline_->sink().OnKernelLoss(responses);
  pipeline_->sink().OnKernelLoss(loss);
  pipeline_->Flush();
  const std::vector<v1::Event> events = Events();
  uint64_t exchanges = 0;
  for (const v1::Event& e : events) exchanges += e.loss().exchanges();
  EXPECT_EQ(exchanges, 3u);
  const v1::SessionCounters counters = (*sessions_.Find(session_))->Info().counters();
  EXPECT_EQ(counters.exchanges_lost(), 3u);
}

// Gaps the ring buffer made at every position class of a server's responses, as the probes
// report them (bpf/README.md): each response is one write cut into 1000-byte events; a loss is
// reported before the next syscall's data, and counts a message start when the syscall's first
// event was refused (whole or in part). Every exchange sent is then either seen complete or
// counted in a kernel_buffer_full loss, once.
TEST_F(PipelineTest, EveryExchangeWhoseStartTheRingBufferRefusedIsCountedOnce) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'x');
  // Which events (0, 1, 2: headers and body start, body, body end) of response i are refused.
  const std::vector<std::vector<int>> refused = {
      {},         // 0: whole
      {0},        // 1: inside the headers, the rest of the write went out
      {1},        // 2: inside the body
      {2},        // 3: across a message boundary: the end of 3 ...
      {0},        // 4: ... and the start of 4
      {0, 1, 2},  // 5: several whole messages
      {0, 1, 2},  // 6
      {0, 1, 2},  // 7
      {},         // 8: whole
  };
  const size_t sent = refused.size();
  uint64_t in = 0, out = 0, ts = 1'000'000'000;
  uint64_t pending_bytes = 0, pending_starts = 0;
  auto report_loss = [&] {
    if (pending_bytes == 0) return;
    capture::KernelLossEvent loss;
    loss.conn = key;
    loss.direction = capture::Direction::kEgress;
    loss.bytes = pending_bytes;
    loss.message_starts = pending_starts;
    loss.timestamp_ns = ts;
    pipeline_->sink().OnKernelLoss(loss);
    pending_bytes = pending_starts = 0;
  };
  for (size_t i = 0; i < sent; ++i) {
    const std::string request = absl::StrCat("GET /", i, " HTTP/1.1\r\nHost: h\r\n\r\n");
    Data(key, capture::Direction::kIngress, in, request, ts += 1000);
    in += request.size();
    report_loss();  // with the next syscall of the direction that lost bytes
    for (int e = 0; e < 3; ++e) {
      const size_t begin = e * 1000, end = std::min(response.size(), begin + 1000);
      if (std::count(refused[i].begin(), refused[i].end(), e)) {
        pending_bytes += end - begin;
        if (e == 0) ++pending_starts;  // the probes' first_lost: the start went with it
        continue;
      }
      Data(key, capture::Direction::kEgress, out + begin,
           absl::string_view(response).substr(begin, end - begin), ts += 1000);
    }
    out += response.size();
  }
  report_loss();
  // The end of the connection: the engine lets go of what waits behind the holes.
  capture::ConnectionCloseEvent close;
  close.conn = key;
  close.timestamp_ns = ts += 1000;
  close.egress_bytes = out;
  close.ingress_bytes = in;
  pipeline_->sink().OnClose(close);
  pipeline_->Flush();
  // Seen: a response whose start was captured (2 and 3 are incomplete, with notes: their
  // bodies lost bytes). Counted: the responses whose start went (1, 4, 5, 6, 7).
  uint64_t seen = 0, lost = 0;
  for (const v1::Event& e : Events()) {
    if (e.has_exchange() && e.exchange().has_response()) ++seen;
    if (e.has_loss()) {
      EXPECT_EQ(e.loss().reason(), v1::LOSS_REASON_KERNEL_BUFFER_FULL) << e.loss().detail();
      lost += e.loss().exchanges();
    }
  }
  EXPECT_EQ(seen + lost, sent) << seen << " seen, " << lost << " counted lost";
  EXPECT_EQ(lost, 5u);
  // No stream_gap loss counted them again (the engine's cut messages are the kernel loss's).
  EXPECT_EQ(seen, 4u);
}

TEST_F(PipelineTest, DataTheQueueCouldNotHoldIsALimitLossWithItsExchanges) {
  // The queue's own loss event, as EventQueue emits it when the memory budget is spent.
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.direction = capture::Direction::kIngress;
  loss.cause = capture::LossCause::kAgentQueueFull;
  loss.bytes = 64;
  loss.message_starts = 1;
  loss.timestamp_ns = 5'000'000'000;
  pipeline_->sink().OnKernelLoss(loss);
  pipeline_->Flush();
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].loss().reason(), v1::LOSS_REASON_LIMIT);
  EXPECT_EQ(events[0].loss().exchanges(), 1u);
  EXPECT_NE(events[0].loss().detail().find("memory budget"), std::string::npos);
}

TEST_F(PipelineTest, BytesThatAreNotHttpAreAParseErrorLoss) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  Data(key, capture::Direction::kIngress, 0, "GET /a HTTP/1.1\r\nHost x\r\n\r\n", 5);
  pipeline_->Flush();
  std::vector<v1::Event> losses;
  for (const v1::Event& e : Events()) {
    if (e.has_loss()) losses.push_back(e);
  }
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].loss().reason(), v1::LOSS_REASON_PARSE_ERROR);
  EXPECT_NE(losses[0].loss().detail().find("pid 4213 (server)"), std::string::npos)
      << losses[0].loss().detail();
}

TEST_F(PipelineTest, AGapInTheHeadersWithNoKernelLossIsAStreamGapLoss) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  // 10 bytes of the headers were never captured (the probes could not read them): no kernel
  // loss explains it.
  const std::string head = "GET /a HTTP/1.1\r\nHost: x";
  Data(key, capture::Direction::kIngress, 0, head, 5, head.size() + 10);
  Data(key, capture::Direction::kIngress, head.size() + 10, "\r\n\r\n", 6);
  pipeline_->Flush();
  std::vector<v1::Loss> losses;
  for (const v1::Event& e : Events()) {
    if (e.has_loss()) losses.push_back(e.loss());
  }
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].reason(), v1::LOSS_REASON_STREAM_GAP);
  EXPECT_EQ(losses[0].bytes(), 10u);
}

TEST_F(PipelineTest, AGapAKernelLossExplainsIsReportedOnceAsThatLoss) {
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  const std::string head = "GET /a HTTP/1.1\r\nHost: x";
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.direction = capture::Direction::kIngress;
  loss.bytes = 10;
  loss.timestamp_ns = 5;
  Data(key, capture::Direction::kIngress, 0, head, 5);
  pipeline_->sink().OnKernelLoss(loss);
  Data(key, capture::Direction::kIngress, head.size() + 10, "\r\n\r\n", 6);
  pipeline_->Flush();
  std::vector<v1::Loss> losses;
  for (const v1::Event& e : Events()) {
    if (e.has_loss()) losses.push_back(e.loss());
  }
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].reason(), v1::LOSS_REASON_KERNEL_BUFFER_FULL);
}

TEST(PipelineTableTest, AConnectionEvictedFromAFullTableIsAConnectionTableFullLoss) {
  PipelineOptions options;
  options.containers.proc_root = httptrace::test_support::MakeScratchDir("proc");
  options.containers.engine_sockets.clear();
  options.max_connections = 1;
  NoProbes control;
  session::SessionManager sessions(session::SessionManagerOptions(), &control);
  auto pipeline = Pipeline::CreateForTest(options);
  pipeline->SetSessions(&sessions);
  const std::string id = sessions.Start(v1::StartCaptureRequest())->id();
  for (uint64_t conn : {1, 2}) {
    capture::ConnectionOpenEvent open;
    open.conn = {conn};
    open.role = capture::Role::kServer;
    open.local = V4("127.0.0.1", 8080);
    open.remote = V4("127.0.0.1", static_cast<uint16_t>(50000 + conn));
    open.timestamp_ns = conn;
    open.pid = 10;
    open.comm = "server";
    pipeline->sink().OnOpen(open);
  }
  pipeline->Flush();
  uint64_t next = 0;
  std::vector<v1::Loss> losses;
  for (const auto& e : (*sessions.Find(id))->Read(&next, 100, absl::ZeroDuration()).events) {
    const v1::Event event = session::WithSeq(e);
    if (event.has_loss()) losses.push_back(event.loss());
  }
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].reason(), v1::LOSS_REASON_CONNECTION_TABLE_FULL);
  EXPECT_NE(losses[0].detail().find("127.0.0.1:50001"), std::string::npos) << losses[0].detail();
}

TEST(PipelineBudgetTest, WhatAConnectionHoldsIsChargedToTheBudgetUntilItEnds) {
  session::MemoryBudget budget(1 << 20);
  PipelineOptions options;
  options.containers.proc_root = httptrace::test_support::MakeScratchDir("proc");
  options.containers.engine_sockets.clear();
  options.memory_budget = &budget;
  auto pipeline = Pipeline::CreateForTest(options);
  capture::ConnectionOpenEvent open;
  open.conn = {1};
  open.role = capture::Role::kServer;
  open.comm = "server";
  pipeline->sink().OnOpen(open);
  // A request with a 10 KB body waits for its response: the engine holds it.
  const std::string request =
      "POST /a HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + std::string(10000, 'x');
  capture::DataEvent data;
  data.conn = {1};
  data.direction = capture::Direction::kIngress;
  data.data = request;
  data.length = request.size();
  data.comm = "server";
  pipeline->sink().OnData(data);
  pipeline->SyncForTest();
  EXPECT_GE(budget.used(), 10000u);
  capture::ConnectionCloseEvent close;
  close.conn = {1};
  pipeline->sink().OnClose(close);
  pipeline->SyncForTest();
  EXPECT_EQ(budget.used(), 0u);
}

TEST_F(PipelineTest, BodiesAreCutOnceToTheLargestSessionLimitAndEachSessionGetsItsOwn) {
  v1::StartCaptureRequest small;
  small.mutable_options()->set_body_limit_bytes(4);
  const std::string small_id = sessions_.Start(small)->id();
  // The fixture's session keeps the default 4096: the largest limit, so the body is cut to it.
  const capture::ConnectionKey key{1};
  Open(key, capture::Role::kServer);
  const std::string body(5000, 'b');
  Data(key, capture::Direction::kIngress, 0, "GET / HTTP/1.1\r\n\r\n", 5);
  Data(key, capture::Direction::kEgress, 0,
       "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body, 6);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].exchange().response().body().data().size(), 4096u);
  EXPECT_EQ(events[0].exchange().response().body().size(), 5000u);
  EXPECT_TRUE(events[0].exchange().response().body().truncated());
  uint64_t next = 0;
  const auto got = (*sessions_.Find(small_id))->Read(&next, 10, absl::ZeroDuration()).events;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(session::WithSeq(got[0]).exchange().response().body().data(), "bbbb");
  EXPECT_EQ(session::WithSeq(got[0]).exchange().response().body().size(), 5000u);
}

TEST(UnionKernelFilter, RestrictsADimensionOnlyWhenEverySessionDoes) {
  v1::Filter pid_only;
  pid_only.add_pids(10);
  v1::Filter port_only;
  port_only.add_ports(80);
  v1::Filter pid_and_port;
  pid_and_port.add_pids(20);
  pid_and_port.add_local_ports(8080);

  capture::KernelFilter both = UnionKernelFilter({pid_only, port_only});
  EXPECT_TRUE(both.tgids.empty());
  EXPECT_TRUE(both.ports.empty());

  capture::KernelFilter pids = UnionKernelFilter({pid_only, pid_and_port});
  EXPECT_EQ(pids.tgids, (std::vector<uint32_t>{10, 20}));
  EXPECT_TRUE(pids.ports.empty());

  capture::KernelFilter ports = UnionKernelFilter({port_only, pid_and_port});
  EXPECT_EQ(ports.ports, (std::vector<uint16_t>{80, 8080}));

  EXPECT_TRUE(UnionKernelFilter({v1::Filter()}).tgids.empty());
}

TEST(UnionKernelFilter, WantsTlsUnlessEverySessionIsPlainOnly) {
  v1::Filter plain;
  plain.set_tls(v1::TLS_PLAIN);
  v1::Filter only;
  only.set_tls(v1::TLS_ONLY);
  EXPECT_FALSE(UnionKernelFilter({plain}).tls);
  EXPECT_FALSE(UnionKernelFilter({plain, plain}).tls);
  EXPECT_TRUE(UnionKernelFilter({plain, v1::Filter()}).tls);  // TLS_BOTH
  EXPECT_TRUE(UnionKernelFilter({only, plain}).tls);
  EXPECT_TRUE(UnionKernelFilter({v1::Filter()}).tls);
}

}  // namespace
}  // namespace httptrace::pipeline
