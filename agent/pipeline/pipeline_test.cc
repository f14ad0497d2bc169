// The pipeline's glue with the real HTTP engine and the real session manager, fed with capture
// events as the poll thread delivers them. The probes themselves are tested in agent/capture and
// the whole chain with real traffic in test/e2e.

#include "agent/pipeline/pipeline.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <string>

#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::pipeline {
namespace {

class NoProbes : public session::CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>&) override { return absl::OkStatus(); }
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

  void Open(capture::ConnectionKey key, capture::Role role) {
    capture::ConnectionOpenEvent open;
    open.conn = key;
    open.role = role;
    open.local = V4("127.0.0.1", 8080);
    open.remote = V4("127.0.0.1", 51234);
    open.timestamp_ns = 1'000'000'000;
    open.pid = key.tgid;
    open.tid = key.tgid + 1;
    open.comm = "server";
    pipeline_->OnOpen(open);
  }

  void Data(capture::ConnectionKey key, capture::Direction direction, uint64_t position,
            absl::string_view bytes, uint64_t ts, uint64_t length = 0) {
    capture::DataEvent event;
    event.conn = key;
    event.direction = direction;
    event.position = position;
    event.data = bytes;
    event.length = length ? length : bytes.size();
    event.timestamp_ns = ts;
    event.pid = key.tgid;
    event.tid = key.tgid + 1;
    event.comm = "server";
    pipeline_->OnData(event);
  }

  std::vector<v1::Event> Events() {
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
  const capture::ConnectionKey key{4213, 7, 1};
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
  const capture::ConnectionKey key{100, 3, 1};
  Open(key, capture::Role::kClient);
  Data(key, capture::Direction::kEgress, 0, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 5);
  EXPECT_TRUE(Events().empty());
  capture::ConnectionCloseEvent close;
  close.conn = key;
  close.timestamp_ns = 10;
  pipeline_->OnClose(close);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].exchange().connection().role(), v1::ROLE_CLIENT);
  EXPECT_FALSE(events[0].exchange().has_response());
  EXPECT_FALSE(events[0].exchange().complete());
  EXPECT_GT(events[0].exchange().notes_size(), 0);
}

TEST_F(PipelineTest, KernelLossReachesTheSessionAndStatusCountsIt) {
  capture::KernelLossEvent loss;
  loss.conn = {1, 2, 3};
  loss.bytes = 4096;
  loss.timestamp_ns = 5'000'000'000;
  pipeline_->OnKernelLoss(loss);
  const std::vector<v1::Event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].loss().reason(), v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  EXPECT_EQ(events[0].loss().bytes(), 4096u);
}

TEST_F(PipelineTest, KernelLossReachesOnlySessionsThatMayMatchItsConnection) {
  v1::StartCaptureRequest other_port;
  other_port.mutable_filter()->add_ports(9090);
  const std::string other = sessions_.Start(other_port)->id();
  const capture::ConnectionKey key{4213, 7, 1};
  Open(key, capture::Role::kServer);  // local port 8080
  capture::KernelLossEvent loss;
  loss.conn = key;
  loss.bytes = 512;
  loss.timestamp_ns = 9'000'000'000;
  pipeline_->OnKernelLoss(loss);
  const std::vector<v1::Event> events = Events();  // the session without a filter
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].loss().bytes(), 512u);
  EXPECT_NE(events[0].loss().detail().find("pid 4213 (server)"), std::string::npos)
      << events[0].loss().detail();
  uint64_t next = 0;
  EXPECT_TRUE((*sessions_.Find(other))->Read(&next, 10, absl::ZeroDuration()).events.empty());
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

}  // namespace
}  // namespace httptrace::pipeline
