// EventStream over a real gRPC channel on a unix socket. The server stands in for the agent's
// StreamEventBatches (a real agent cannot be made to send a corrupt event on cue); its batches
// are built the way the agent builds them (session::Serialize, AppendSerialized). The real agent
// and the ctl together are tested in test/e2e:ctl_e2e_test.

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/session/event.h"
#include "cli/agent_client.h"
#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

using ::testing::HasSubstr;

v1::Event Exchange(int i) {
  v1::Event event;
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_request()->set_method("GET");
  x->mutable_request()->set_target(absl::StrCat("/users?id=", i));
  x->mutable_response()->set_status(200);
  x->mutable_response()->mutable_body()->set_data(std::string(100 + i, 'b'));
  return event;
}

class BatchServer final : public v1::HttpTrace::Service {
 public:
  // Each element: one message of the stream, its events as the agent sends them.
  std::vector<v1::EventBatch> batches;
  // After the batches: keep sending the last one until the client goes away (bounded).
  bool repeat_until_cancelled = false;
  v1::StreamEventsRequest request;  // the last one received
  absl::Notification client_went_away;

  grpc::Status StreamEventBatches(grpc::ServerContext* context,
                                  const v1::StreamEventsRequest* request,
                                  grpc::ServerWriter<v1::EventBatch>* writer) override {
    this->request = *request;
    for (const v1::EventBatch& batch : batches) writer->Write(batch);
    if (repeat_until_cancelled) {
      for (int i = 0; i < 20000 && !context->IsCancelled(); ++i) {
        if (!writer->Write(batches.back())) break;
        absl::SleepFor(absl::Milliseconds(1));
      }
      if (context->IsCancelled()) client_went_away.Notify();
    }
    return grpc::Status::OK;
  }
};

class EventStreamTest : public testing::Test {
 protected:
  // gRPC stays initialized for the whole process, as in the ctl: otherwise the last channel or
  // server of each test shuts gRPC down, and that can wait out an executor thread's poll (10 s).
  static void SetUpTestSuite() { grpc_init(); }

  void SetUp() override {
    dir_ = test_support::MakeSocketDir("event_stream");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + dir_ + "/s.sock", grpc::InsecureServerCredentials());
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel = DialAgent("unix://" + dir_ + "/s.sock", {});
    ASSERT_TRUE(channel.ok()) << channel.status();
    channel_ = *channel;
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::filesystem::remove_all(dir_);
  }

  // Events with sequence numbers from `first_seq`, in batches of at most 256 as the agent sends.
  std::vector<v1::Event> AddBatches(int exchanges, uint64_t first_seq) {
    std::vector<v1::Event> sent;
    for (int i = 0; i < exchanges; ++i) {
      if (i % 256 == 0) service_.batches.emplace_back();
      const session::SequencedEvent e{first_seq + i, session::Serialize(Exchange(i))};
      session::AppendSerialized(e, service_.batches.back().add_events());
      sent.push_back(session::WithSeq(e));
    }
    return sent;
  }

  BatchServer service_;
  std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(EventStreamTest, ReadsTheAgentsBatchesEqualInOrderThenEnds) {
  std::vector<v1::Event> sent = AddBatches(600, 5);
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  session::AppendSerialized({605, session::Serialize(end)}, service_.batches.back().add_events());
  sent.push_back(session::WithSeq({605, session::Serialize(end)}));

  EventStream stream(channel_, "sess-1", 5);
  std::vector<std::shared_ptr<const v1::Event>> events;
  std::vector<std::shared_ptr<const v1::Event>> read;
  int messages = 0;
  while (stream.Next(&events)) {
    ++messages;
    read.insert(read.end(), events.begin(), events.end());
  }
  const grpc::Status status = stream.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(service_.request.session_id(), "sess-1");
  EXPECT_EQ(service_.request.from_seq(), 5u);
  EXPECT_EQ(messages, 3);  // 256 + 256 + 89
  ASSERT_EQ(read.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read[i], sent[i])) << i;
  }
}

TEST_F(EventStreamTest, CorruptEventEndsTheStreamWithDataLossAndCancelsIt) {
  AddBatches(3, 1);
  v1::EventBatch& corrupt = service_.batches.emplace_back();
  session::AppendSerialized({4, session::Serialize(Exchange(3))}, corrupt.add_events());
  // Event 2 of the batch: its exchange (field 2) claims 4294967000 bytes.
  *corrupt.add_events() = std::string("\x08\x05\x12\xd8\xfd\xff\xff\x0f", 8) + "short";
  service_.repeat_until_cancelled = true;  // a stream that would otherwise go on

  EventStream stream(channel_, "sess-1", -1);
  std::vector<std::shared_ptr<const v1::Event>> events;
  ASSERT_TRUE(stream.Next(&events));
  EXPECT_EQ(events.size(), 3u);
  EXPECT_FALSE(stream.Next(&events));
  EXPECT_TRUE(events.empty());
  const grpc::Status status = stream.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(status.error_message(),
              HasSubstr("corrupt event stream from the agent: event 2 of a batch of "));
  EXPECT_THAT(status.error_message(),
              HasSubstr("field 2 (exchange): length 4294967000 runs past the message's end "
                        "(13 bytes)"));
  // The ctl hung up: the server saw the cancellation instead of writing on.
  EXPECT_TRUE(service_.client_went_away.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace httptrace::cli
