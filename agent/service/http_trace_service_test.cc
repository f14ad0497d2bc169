// The service over a real gRPC channel on a unix socket, with the real session manager. Only the
// capture pipeline is replaced (CaptureControl): exchanges are published the way the pipeline
// publishes them. The whole agent with real probes is tested in test/e2e.

#include "agent/service/http_trace_service.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "agent/service/api_server.h"
#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::service {
namespace {

class NoProbes : public session::CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>& filters, uint32_t) override {
    active = filters.size();
    return absl::OkStatus();
  }
  void Flush() override {}
  size_t active = 0;
};

v1::Exchange ExchangeIn(const std::string& pod_namespace) {
  v1::Exchange exchange;
  exchange.mutable_process()->mutable_container()->set_pod_namespace(pod_namespace);
  exchange.mutable_request()->set_method("GET");
  exchange.mutable_request()->set_target("/");
  return exchange;
}

class FixedStatus : public AgentStatusSource {
 public:
  void FillStatus(v1::GetStatusResponse* response) override {
    response->mutable_kernel()->set_release("6.18-test");
    (*response->mutable_counters())["kernel.ringbuf_full"] = 0;
  }
};

class ServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = httptrace::test_support::MakeSocketDir("service_test");
    socket_ = dir_ + "/sub/agent.sock";
    auto server = ApiServer::Start({"unix://" + socket_}, TlsFiles(), &service_, {"", &peers_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::HttpTrace::NewStub(
        grpc::CreateChannel("unix://" + socket_, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string StartSession(uint32_t port = 0) {
    v1::StartCaptureRequest request;
    if (port) request.mutable_filter()->add_ports(port);
    v1::StartCaptureResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->StartCapture(&context, request, &response).ok());
    return response.session().id();
  }

  static v1::Exchange ExchangeOnPort(uint32_t port) {
    v1::Exchange exchange;
    exchange.mutable_connection()->mutable_local()->set_port(port);
    exchange.mutable_request()->set_method("GET");
    exchange.mutable_request()->set_target("/users");
    return exchange;
  }

  NoProbes control_;
  FixedStatus status_;
  session::SessionManager manager_{session::SessionManagerOptions(), &control_};
  UnixPeerRegistry peers_;
  std::unique_ptr<auth::AuditLog> audit_ = *auth::AuditLog::Open({.capacity = 64});
  HttpTraceService service_{
      {"1.2.3", "node-a"}, &manager_, &status_, {.peers = &peers_, .audit = audit_.get()}};
  std::string dir_;
  std::string socket_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<v1::HttpTrace::Stub> stub_;
};

TEST_F(ServiceTest, SocketIsCreatedWithMode0660InANewDirectory) {
  struct stat st;
  ASSERT_EQ(stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ServiceTest, StreamDeliversPublishedExchangesThenEndsAfterStop) {
  const std::string id = StartSession(8080);
  EXPECT_EQ(control_.active, 1u);
  grpc::ClientContext stream_context;
  v1::StreamEventsRequest stream_request;
  stream_request.set_session_id(id);
  auto reader = stub_->StreamEvents(&stream_context, stream_request);
  reader->WaitForInitialMetadata();

  manager_.PublishExchange(ExchangeOnPort(8080));
  manager_.PublishExchange(ExchangeOnPort(9999));  // filtered out
  manager_.PublishExchange(ExchangeOnPort(8080));
  std::thread stopper([&] {
    v1::StopCaptureRequest stop;
    stop.set_session_id(id);
    v1::StopCaptureResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub_->StopCapture(&context, stop, &response).ok());
    EXPECT_EQ(response.session().end_reason(), v1::END_REASON_STOPPED);
  });
  std::vector<v1::Event> events;
  v1::Event event;
  while (reader->Read(&event)) events.push_back(event);
  stopper.join();
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].seq(), 1u);
  EXPECT_EQ(events[0].exchange().request().target(), "/users");
  EXPECT_EQ(events[1].seq(), 2u);
  EXPECT_EQ(events[2].end().reason(), v1::END_REASON_STOPPED);
  EXPECT_EQ(events[2].end().counters().exchanges(), 2u);
  EXPECT_EQ(control_.active, 0u);
}

TEST_F(ServiceTest, AuditRecordsStartAttachStopAndRefusalsWithTheCallersUid) {
  v1::StartCaptureRequest start;
  start.mutable_filter()->add_ports(8080);
  start.mutable_options()->set_body_limit_bytes(100);
  v1::StartCaptureResponse started;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->StartCapture(&context, start, &started).ok());
  }
  const std::string id = started.session().id();
  {
    grpc::ClientContext context;
    v1::StreamEventsRequest attach;
    attach.set_session_id(id);
    auto reader = stub_->StreamEventBatches(&context, attach);
    reader->WaitForInitialMetadata();
    ASSERT_TRUE(manager_.Stop(id).ok());
    v1::EventBatch batch;
    while (reader->Read(&batch)) {
    }
    EXPECT_TRUE(reader->Finish().ok());
  }
  {
    grpc::ClientContext context;
    v1::StopCaptureRequest stop;
    stop.set_session_id(id);
    v1::StopCaptureResponse response;
    ASSERT_TRUE(stub_->StopCapture(&context, stop, &response).ok());
  }
  {
    grpc::ClientContext context;  // refused: recorded too
    v1::StreamEventsRequest attach;
    attach.set_session_id("no-such-session");
    auto reader = stub_->StreamEvents(&context, attach);
    v1::Event event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;  // a successful list is not a session call: not recorded
    v1::ListSessionsResponse response;
    ASSERT_TRUE(stub_->ListSessions(&context, {}, &response).ok());
  }
  grpc::ClientContext context;
  v1::GetStatusRequest request;
  request.set_include_audit(true);
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(&context, request, &status).ok());
  ASSERT_EQ(status.audit_size(), 4) << status.DebugString();
  EXPECT_EQ(status.audit(0).verb(), "start");
  EXPECT_EQ(status.audit(1).verb(), "attach");
  EXPECT_EQ(status.audit(1).call(), "StreamEventBatches");
  EXPECT_EQ(status.audit(2).verb(), "stop");
  EXPECT_EQ(status.audit(3).verb(), "attach");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(status.audit(i).session_id(), id);
    EXPECT_EQ(status.audit(i).code(), "OK");
    EXPECT_NE(status.audit(i).request_json().find("\"ports\":[8080]"), std::string::npos)
        << status.audit(i).request_json();
  }
  EXPECT_EQ(status.audit(3).code(), "NOT_FOUND");
  EXPECT_EQ(status.audit(3).session_id(), "no-such-session");
  for (const v1::AuditRecord& record : status.audit()) {
    EXPECT_EQ(record.caller().transport(), "unix");
    EXPECT_EQ(record.caller().uid(), ::getuid());
    EXPECT_EQ(record.caller().pid(), static_cast<uint32_t>(::getpid()));
  }
  EXPECT_EQ(status.audit_dropped(), 0u);
}

TEST_F(ServiceTest, AttachLaterResumesFromASequenceNumber) {
  const std::string id = StartSession();
  for (int i = 0; i < 5; ++i) manager_.PublishExchange(ExchangeOnPort(1));
  ASSERT_TRUE(manager_.Stop(id).ok());
  grpc::ClientContext context;
  v1::StreamEventsRequest request;
  request.set_session_id(id);
  request.set_from_seq(4);
  auto reader = stub_->StreamEvents(&context, request);
  std::vector<uint64_t> seqs;
  v1::Event event;
  while (reader->Read(&event)) seqs.push_back(event.seq());
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{4, 5, 6}));
}

// Every event of a batch stream, parsed, in order.
std::vector<v1::Event> ReadBatches(grpc::ClientReader<v1::EventBatch>* reader,
                                   size_t* messages = nullptr) {
  std::vector<v1::Event> events;
  v1::EventBatch batch;
  while (reader->Read(&batch)) {
    if (messages != nullptr) ++*messages;
    for (const std::string& bytes : batch.events()) {
      v1::Event event;
      EXPECT_TRUE(event.ParseFromString(bytes));
      events.push_back(std::move(event));
    }
  }
  return events;
}

TEST_F(ServiceTest, BatchStreamCarriesEveryEventInOrderInFewMessages) {
  const std::string id = StartSession();
  constexpr int kExchanges = 600;  // more than one batch (at most 256 events each)
  for (int i = 0; i < kExchanges; ++i) manager_.PublishExchange(ExchangeOnPort(1));
  ASSERT_TRUE(manager_.Stop(id).ok());
  grpc::ClientContext context;
  v1::StreamEventsRequest request;
  request.set_session_id(id);
  auto reader = stub_->StreamEventBatches(&context, request);
  size_t messages = 0;
  const std::vector<v1::Event> events = ReadBatches(reader.get(), &messages);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(events.size(), kExchanges + 1u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), i + 1);
  EXPECT_EQ(events.back().end().counters().exchanges(), static_cast<uint64_t>(kExchanges));
  EXPECT_EQ(events[0].exchange().request().target(), "/users");
  EXPECT_EQ(messages, 3u);  // 256 + 256 + 89
}

TEST_F(ServiceTest, BatchStreamResumesFromASequenceNumberAndSaysWhatWasDropped) {
  v1::StartCaptureRequest start;
  start.mutable_options()->set_queue_capacity(4);
  const std::string id = (*manager_.Start(start)).id();
  for (int i = 0; i < 3; ++i) manager_.PublishExchange(ExchangeOnPort(1));
  {
    // A reader takes 1..3, so the queue may drop them to make room for 4..7.
    grpc::ClientContext context;
    v1::StreamEventsRequest request;
    request.set_session_id(id);
    auto reader = stub_->StreamEventBatches(&context, request);
    v1::EventBatch batch;
    ASSERT_TRUE(reader->Read(&batch));
    EXPECT_EQ(batch.events_size(), 3);
    context.TryCancel();
    reader->Finish();
  }
  // The server side notices the cancellation on its own time: publish only once it has gone, so
  // it cannot take (and so deliver) any of the next events.
  std::shared_ptr<session::Session> session = *manager_.Find(id);
  for (int i = 0; i < 1000 && session->Info().readers() > 0; ++i)
    absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(session->Info().readers(), 0u);
  for (int i = 0; i < 4; ++i) manager_.PublishExchange(ExchangeOnPort(1));
  ASSERT_TRUE(manager_.Stop(id).ok());
  grpc::ClientContext context;
  v1::StreamEventsRequest request;
  request.set_session_id(id);
  request.set_from_seq(2);
  auto reader = stub_->StreamEventBatches(&context, request);
  const std::vector<v1::Event> events = ReadBatches(reader.get());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].seq(), 0u);
  EXPECT_EQ(events[0].loss().reason(), v1::LOSS_REASON_RESUME_GAP);
  std::vector<uint64_t> seqs;
  for (size_t i = 1; i < events.size(); ++i) seqs.push_back(events[i].seq());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{4, 5, 6, 7, 8}));
}

TEST_F(ServiceTest, BytesAPeerSentThatAreNotUtf8ReachTheClientIntact) {
  // A proto3 `string` with invalid UTF-8 fails to parse on the client, which would end the
  // stream: header values, targets and reasons are `bytes`.
  const std::string id = StartSession();
  v1::Exchange exchange = ExchangeOnPort(1);
  exchange.mutable_request()->set_target("/caf\xe9?q=\xff");
  v1::Header* header = exchange.mutable_request()->add_headers();
  header->set_name("X-Latin1");
  header->set_value("na\xefve");
  exchange.mutable_response()->set_reason("\xc3(");
  manager_.PublishExchange(exchange);
  ASSERT_TRUE(manager_.Stop(id).ok());
  for (bool batches : {false, true}) {
    grpc::ClientContext context;
    v1::StreamEventsRequest request;
    request.set_session_id(id);
    std::vector<v1::Event> events;
    if (batches) {
      auto reader = stub_->StreamEventBatches(&context, request);
      events = ReadBatches(reader.get());
      EXPECT_TRUE(reader->Finish().ok());
    } else {
      auto reader = stub_->StreamEvents(&context, request);
      v1::Event event;
      while (reader->Read(&event)) events.push_back(event);
      EXPECT_TRUE(reader->Finish().ok());
    }
    ASSERT_EQ(events.size(), 2u) << batches;
    EXPECT_EQ(events[0].exchange().request().target(), "/caf\xe9?q=\xff");
    EXPECT_EQ(events[0].exchange().request().headers().rbegin()->value(), "na\xefve");
    EXPECT_EQ(events[0].exchange().response().reason(), "\xc3(");
  }
}

TEST_F(ServiceTest, BadRequestsGetPreciseStatusCodes) {
  {
    v1::StartCaptureRequest request;
    request.mutable_filter()->add_ports(0);
    v1::StartCaptureResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub_->StartCapture(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("ports: 0"), std::string::npos);
  }
  {
    v1::StopCaptureRequest request;
    request.set_session_id("missing");
    v1::StopCaptureResponse response;
    grpc::ClientContext context;
    EXPECT_EQ(stub_->StopCapture(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::StopCaptureRequest request;
    v1::StopCaptureResponse response;
    grpc::ClientContext context;
    EXPECT_EQ(stub_->StopCapture(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    const std::string id = StartSession();
    v1::StreamEventsRequest request;
    request.set_session_id(id);
    request.set_from_seq(99);
    grpc::ClientContext context;
    auto reader = stub_->StreamEvents(&context, request);
    v1::Event event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::OUT_OF_RANGE);
  }
}

TEST_F(ServiceTest, StatusNamesVersionNodeKernelAndSessions) {
  const std::string id = StartSession();
  v1::GetStatusResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &response).ok());
  EXPECT_EQ(response.version(), "1.2.3");
  EXPECT_EQ(response.node(), "node-a");
  EXPECT_EQ(response.kernel().release(), "6.18-test");
  ASSERT_EQ(response.sessions_size(), 1);
  EXPECT_EQ(response.sessions(0).id(), id);
  EXPECT_TRUE(response.counters().contains("kernel.ringbuf_full"));
}

TEST(ApiServer, RefusesPlaintextTcpUnlessAskedAndASecondAgentOnTheSameSocket) {
  NoProbes control;
  session::SessionManager manager(session::SessionManagerOptions(), &control);
  HttpTraceService service({"v", "n"}, &manager, nullptr);
  const auto plaintext = ApiServer::Start({"tcp://127.0.0.1:0"}, TlsFiles(), &service);
  EXPECT_EQ(plaintext.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(plaintext.status().message().find("--insecure-tcp"), std::string::npos);

  TlsFiles insecure;
  insecure.insecure_tcp = true;
  auto tcp = ApiServer::Start({"tcp://127.0.0.1:0"}, insecure, &service);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  EXPECT_GT((*tcp)->bound_ports()[0], 0);

  TlsFiles missing_key;
  missing_key.cert = "/nonexistent.pem";
  EXPECT_FALSE(ApiServer::Start({"tcp://127.0.0.1:0"}, missing_key, &service).ok());
  EXPECT_EQ(ParseListenAddress("http://x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseListenAddress("unix://relative").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ServiceTest, SecondServerOnALiveSocketIsRefused) {
  NoProbes control;
  session::SessionManager manager(session::SessionManagerOptions(), &control);
  HttpTraceService service({"v", "n"}, &manager, nullptr);
  const auto second = ApiServer::Start({"unix://" + socket_}, TlsFiles(), &service);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("already listening"), std::string::npos);
}

}  // namespace
}  // namespace httptrace::service

namespace httptrace::service {
namespace {

// The policy as the service enforces it on a real unix-socket caller (this test's own uid).
class PolicyServiceTest : public testing::Test {
 protected:
  void Serve(const std::string& policy_json) {
    auto policy = auth::Policy::Parse(policy_json, "test-policy.json");
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = std::make_unique<auth::Policy>(*std::move(policy));
    service_ = std::make_unique<HttpTraceService>(
        ServiceInfo{"1.2.3", "node-a"}, &manager_, nullptr,
        AccessOptions{.peers = &peers_, .audit = audit_.get(), .policy = policy_.get()});
    dir_ = test_support::MakeSocketDir("policy_service");
    auto server = ApiServer::Start({"unix://" + dir_ + "/agent.sock"}, TlsFiles(), service_.get(),
                                   {"", &peers_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::HttpTrace::NewStub(
        grpc::CreateChannel("unix://" + dir_ + "/agent.sock", grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  grpc::Status Start(const v1::StartCaptureRequest& request, v1::StartCaptureResponse* response) {
    grpc::ClientContext context;
    return stub_->StartCapture(&context, request, response);
  }
  std::string uid() const { return std::to_string(::getuid()); }

  NoProbes control_;
  session::SessionManager manager_{session::SessionManagerOptions(), &control_};
  UnixPeerRegistry peers_;
  std::unique_ptr<auth::AuditLog> audit_ = *auth::AuditLog::Open({.capacity = 64});
  std::unique_ptr<auth::Policy> policy_;
  std::unique_ptr<HttpTraceService> service_;
  std::string dir_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<v1::HttpTrace::Stub> stub_;
};

TEST_F(PolicyServiceTest, ReadOnlyCallerMayListButNotCaptureAndTheRefusalIsAudited) {
  Serve(R"({"rules": [{"name": "viewers", "callers": {"unix_users": [)" + uid() +
        R"(]}, "verbs": ["status", "list"]}]})");
  grpc::ClientContext list_context;
  v1::ListSessionsResponse list;
  EXPECT_TRUE(stub_->ListSessions(&list_context, {}, &list).ok());
  v1::StartCaptureResponse started;
  const grpc::Status refused = Start(v1::StartCaptureRequest(), &started);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(),
            "policy rule \"viewers\" does not allow capture (it allows status, list)");
  EXPECT_EQ(control_.active, 0u);  // nothing reached the probes
  v1::GetStatusResponse status;
  audit_->Fill(&status);
  ASSERT_EQ(status.audit_size(), 1);
  EXPECT_EQ(status.audit(0).verb(), "start");
  EXPECT_EQ(status.audit(0).code(), "PERMISSION_DENIED");
  EXPECT_EQ(status.audit(0).rule(), "viewers");
  EXPECT_EQ(status.audit(0).caller().uid(), ::getuid());
}

TEST_F(PolicyServiceTest, ACaptureOfEverythingGetsTheAllowedNamespaceAndItsNotes) {
  Serve(R"({"rules": [{"name": "team-a", "callers": {"unix_users": [)" + uid() +
        R"(]}, "verbs": ["status", "list", "capture"], "namespaces": ["team-a"],
             "bodies": false, "tls_plaintext": false}]})");
  v1::StartCaptureResponse started;
  ASSERT_TRUE(Start(v1::StartCaptureRequest(), &started).ok());
  const v1::SessionInfo& session = started.session();
  EXPECT_THAT(session.filter().pod_namespaces(), testing::ElementsAre("team-a"));
  EXPECT_EQ(session.filter().tls(), v1::TLS_PLAIN);
  EXPECT_EQ(session.options().body_limit_bytes(), 0u);
  EXPECT_THAT(session.notes(),
              testing::IsSupersetOf(
                  {"policy rule \"team-a\": capture narrowed to namespace team-a",
                   "policy rule \"team-a\": HTTPS not captured (tls_plaintext: false); plaintext "
                   "HTTP only",
                   "policy rule \"team-a\": bodies not captured (bodies: false); their sizes "
                   "are"}));
  // Exchanges of another namespace never reach the session.
  v1::Exchange other = ExchangeIn("team-b"), own = ExchangeIn("team-a");
  manager_.PublishExchange(other);
  manager_.PublishExchange(own);
  auto found = manager_.Find(session.id());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->Info().counters().exchanges(), 1u);

  v1::StartCaptureRequest team_b;
  team_b.mutable_filter()->add_pod_namespaces("team-b");
  const grpc::Status refused = Start(team_b, &started);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused.error_message(),
            "policy rule \"team-a\" does not allow capturing namespace team-b (allowed: team-a)");
}

TEST_F(PolicyServiceTest, ACallerNoRuleMatchesMayNotEvenAskTheStatus) {
  Serve(R"({"rules": [{"name": "someone-else", "callers": {"unix_users": [4000000]},
                       "verbs": ["status"]}]})");
  grpc::ClientContext context;
  v1::GetStatusResponse status;
  const grpc::Status refused = stub_->GetStatus(&context, {}, &status);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(
      refused.error_message(),
      testing::HasSubstr("no rule of the agent's policy (test-policy.json) matches uid " + uid()));
  v1::GetStatusResponse audit;
  audit_->Fill(&audit);
  ASSERT_EQ(audit.audit_size(), 1);
  EXPECT_EQ(audit.audit(0).verb(), "status");
}

}  // namespace
}  // namespace httptrace::service
