// Calls the HttpTrace service through the generated stubs over a real gRPC channel on a unix
// socket, as httptracectl talks to the agent. The service here is a small test implementation:
// this test proves the API's wire contract (unary calls, server streaming, status codes), not
// the agent's behaviour, which the agent's own tests cover.

#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/testing/test_support.h"
#include "gtest/gtest.h"
#include "proto/httptrace.grpc.pb.h"

namespace httptrace::v1 {
namespace {

class FixedEventsService final : public HttpTrace::Service {
 public:
  grpc::Status StartCapture(grpc::ServerContext*, const StartCaptureRequest* request,
                            StartCaptureResponse* response) override {
    if (request->filter().path_prefix().rfind('/', 0) != 0 &&
        !request->filter().path_prefix().empty()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "path prefix must start with /"};
    }
    SessionInfo* session = response->mutable_session();
    session->set_id("s-1");
    *session->mutable_filter() = request->filter();
    session->set_state(SESSION_STATE_ACTIVE);
    return grpc::Status::OK;
  }

  grpc::Status StreamEvents(grpc::ServerContext*, const StreamEventsRequest* request,
                            grpc::ServerWriter<Event>* writer) override {
    if (request->session_id() != "s-1") {
      return {grpc::StatusCode::NOT_FOUND, "no session " + request->session_id()};
    }
    const uint64_t first = request->has_from_seq() ? request->from_seq() : 1;
    for (uint64_t seq = first; seq <= 3; ++seq) {
      Event event;
      event.set_seq(seq);
      if (seq < 3) {
        event.mutable_exchange()->mutable_request()->set_method("GET");
      } else {
        event.mutable_end()->set_reason(END_REASON_STOPPED);
      }
      if (!writer->Write(event)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetStatus(grpc::ServerContext*, const GetStatusRequest*,
                         GetStatusResponse* response) override {
    response->set_version("test");
    (*response->mutable_counters())["kernel.ringbuf_full"] = 5;
    return grpc::Status::OK;
  }
};

class HttpTraceGrpcTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = httptrace::test_support::MakeSocketDir("httptrace_grpc_test");
    address_ = "unix://" + dir_ + "/agent.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = HttpTrace::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    unlink((dir_ + "/agent.sock").c_str());
    rmdir(dir_.c_str());
  }

  FixedEventsService service_;
  std::string dir_;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpTrace::Stub> stub_;
};

TEST_F(HttpTraceGrpcTest, UnaryCallCarriesTheFilterOverTheUnixSocket) {
  StartCaptureRequest request;
  request.mutable_filter()->add_pids(42);
  request.mutable_filter()->set_path_prefix("/api/");
  StartCaptureResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->StartCapture(&context, request, &response).ok());
  EXPECT_EQ(response.session().id(), "s-1");
  EXPECT_EQ(response.session().filter().pids(0), 42u);
  EXPECT_EQ(response.session().filter().path_prefix(), "/api/");
}

TEST_F(HttpTraceGrpcTest, ServerErrorCodeAndMessageReachTheClient) {
  StartCaptureRequest request;
  request.mutable_filter()->set_path_prefix("api");
  StartCaptureResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->StartCapture(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "path prefix must start with /");
}

TEST_F(HttpTraceGrpcTest, StreamDeliversEventsInOrderFromTheRequestedSequence) {
  StreamEventsRequest request;
  request.set_session_id("s-1");
  request.set_from_seq(2);
  grpc::ClientContext context;
  auto reader = stub_->StreamEvents(&context, request);
  std::vector<uint64_t> seqs;
  Event event;
  Event::KindCase last_kind = Event::KIND_NOT_SET;
  while (reader->Read(&event)) {
    seqs.push_back(event.seq());
    last_kind = event.kind_case();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(last_kind, Event::kEnd);
}

TEST_F(HttpTraceGrpcTest, StreamOfUnknownSessionFailsWithNotFound) {
  StreamEventsRequest request;
  request.set_session_id("nope");
  grpc::ClientContext context;
  auto reader = stub_->StreamEvents(&context, request);
  Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HttpTraceGrpcTest, StatusCountersMapRoundTrips) {
  GetStatusResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->GetStatus(&context, GetStatusRequest(), &response).ok());
  EXPECT_EQ(response.version(), "test");
  EXPECT_EQ(response.counters().at("kernel.ringbuf_full"), 5u);
}

}  // namespace
}  // namespace httptrace::v1
