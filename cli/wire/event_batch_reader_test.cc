#include "cli/wire/event_batch_reader.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "agent/session/event.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace httptrace::cli::wire {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using Events = std::vector<std::shared_ptr<const v1::Event>>;

v1::Event Exchange(int i, size_t body_size) {
  v1::Event event;
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_start_time()->set_seconds(1795800705 + i);
  x->mutable_process()->set_pid(4242);
  v1::HttpRequest* request = x->mutable_request();
  request->set_method("GET");
  request->set_target(absl::StrCat("/api/users?page=", i));
  v1::Header* host = request->add_headers();
  host->set_name("Host");
  host->set_value("caf\xe9");  // not UTF-8: header values are bytes, kept as sent
  x->mutable_response()->set_status(200);
  x->mutable_response()->mutable_body()->set_data(std::string(body_size, 'a' + i % 26));
  x->add_notes("response body: truncated");
  x->set_node("node-1");
  return event;
}

// A batch exactly as the agent's StreamEventBatches builds it: events serialized once with seq 0
// (session::Serialize), each written with its sequence number in front (AppendSerialized).
struct AgentBatch {
  std::vector<v1::Event> sent;  // what each element parses to
  v1::EventBatch batch;
};

AgentBatch MakeAgentBatch(int exchanges, size_t body_size) {
  AgentBatch out;
  uint64_t seq = 41;
  std::vector<session::SequencedEvent> held;
  for (int i = 0; i < exchanges; ++i) {
    held.push_back({seq++, session::Serialize(Exchange(i, body_size))});
  }
  v1::Event loss;
  loss.mutable_loss()->set_exchanges(3);
  held.push_back({seq++, session::Serialize(loss)});
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  held.push_back({seq++, session::Serialize(end)});
  for (const session::SequencedEvent& e : held) {
    session::AppendSerialized(e, out.batch.add_events());
    out.sent.push_back(session::WithSeq(e));
  }
  return out;
}

// The batch as gRPC hands it to a reader: serialized by gRPC's own protobuf serializer (the
// server's), as one or more slices.
grpc::ByteBuffer ToByteBuffer(const v1::EventBatch& batch) {
  grpc::ByteBuffer buffer;
  bool own = false;
  EXPECT_TRUE(grpc::SerializationTraits<v1::EventBatch>::Serialize(batch, &buffer, &own).ok());
  return buffer;
}

// `bytes` cut into chunks of `size` (the last one shorter).
std::vector<absl::string_view> Chunks(absl::string_view bytes, size_t size) {
  std::vector<absl::string_view> out;
  for (size_t at = 0; at < bytes.size(); at += size) out.push_back(bytes.substr(at, size));
  return out;
}

void ExpectEqual(const Events& read, const std::vector<v1::Event>& sent) {
  ASSERT_EQ(read.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read[i], sent[i]))
        << "event " << i << ":\n"
        << read[i]->DebugString() << "\nwant\n"
        << sent[i].DebugString();
  }
}

TEST(EventBatchReaderTest, AgentBatchFromGrpcByteBufferReadsBackEqual) {
  const AgentBatch agent = MakeAgentBatch(256, 48);
  const grpc::ByteBuffer buffer = ToByteBuffer(agent.batch);
  EventBatchReader reader;
  Events events;
  ASSERT_TRUE(reader.Read(buffer, &events).ok());
  ExpectEqual(events, agent.sent);
  EXPECT_EQ(events.front()->seq(), 41u);
  EXPECT_EQ(events.back()->seq(), 41u + 257u);
}

TEST(EventBatchReaderTest, EventsSpanningSlicesReadBackEqualWhereverTheSlicesEnd) {
  const AgentBatch agent = MakeAgentBatch(3, 300);
  const std::string wire = agent.batch.SerializeAsString();
  EventBatchReader reader;  // one reader for all: its gathering buffer is reused
  for (size_t size = 1; size <= wire.size(); ++size) {
    Events events;
    ASSERT_TRUE(reader.Read(Chunks(wire, size), &events).ok()) << "slices of " << size;
    ExpectEqual(events, agent.sent);
  }
}

TEST(EventBatchReaderTest, LargeEventOverManySlicesOfAByteBuffer) {
  const AgentBatch agent = MakeAgentBatch(2, 3 << 20);  // bodies of 3 MiB
  const std::string wire = agent.batch.SerializeAsString();
  std::vector<grpc::Slice> slices;
  for (absl::string_view chunk : Chunks(wire, 16 << 10))
    slices.emplace_back(chunk.data(), chunk.size());
  const grpc::ByteBuffer buffer(slices.data(), slices.size());
  EventBatchReader reader;
  Events events;
  ASSERT_TRUE(reader.Read(buffer, &events).ok());
  ExpectEqual(events, agent.sent);
}

TEST(EventBatchReaderTest, EmptyBatchGivesNoEvents) {
  EventBatchReader reader;
  Events events;
  EXPECT_TRUE(reader.Read(std::vector<absl::string_view>{}, &events).ok());
  EXPECT_TRUE(events.empty());
}

TEST(EventBatchReaderTest, FieldsOfANewerAgentAreSkipped) {
  const AgentBatch agent = MakeAgentBatch(2, 10);
  std::string wire = agent.batch.SerializeAsString();
  wire.insert(0, std::string("\x10\x96\x01"           // field 2, varint 150
                             "\x1a\x03xyz"            // field 3, 3 bytes
                             "\x25\x01\x02\x03\x04",  // field 4, fixed32
                             13));
  EventBatchReader reader;
  Events events;
  ASSERT_TRUE(reader.Read({wire}, &events).ok());
  ExpectEqual(events, agent.sent);
}

absl::Status ReadError(absl::string_view wire, Events* events) {
  EventBatchReader reader;
  const absl::Status status = reader.Read({wire}, events);
  EXPECT_FALSE(status.ok());
  return status;
}

TEST(EventBatchReaderTest, EventLengthBeyondTheBatchIsDataLossAndKeepsWhatWasHeld) {
  const AgentBatch agent = MakeAgentBatch(2, 10);
  std::string wire = agent.batch.SerializeAsString();
  wire += "\x0a\xd8\xfd\xff\xff\x0f";  // event 5: length 4294967000, nothing after
  Events events(1);                    // what the caller held before
  const absl::Status status = ReadError(wire, &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(std::string(status.message()),
            absl::StrCat("corrupt event stream from the agent: event 5 of a batch of ", wire.size(),
                         " bytes: length 4294967000 runs past the batch's end (0 "
                         "bytes left)"));
  EXPECT_EQ(events.size(), 1u);  // none of the four events that parsed
}

TEST(EventBatchReaderTest, LengthInsideAnEventBeyondItsEndNamesEventAndField) {
  // An event whose exchange (field 2) claims 4294967000 bytes; the event itself is 812 bytes.
  std::string event = "\x08\x11\x12\xd8\xfd\xff\xff\x0f";
  event.resize(812, 'x');
  v1::EventBatch batch;
  batch.add_events(Exchange(0, 5).SerializeAsString());
  batch.add_events(event);
  Events events;
  const absl::Status status = ReadError(batch.SerializeAsString(), &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr(": event 2 of a batch of "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(" bytes: field 2 (exchange): length 4294967000 runs past the message's "
                        "end (812 bytes)"));
  EXPECT_TRUE(events.empty());
}

TEST(EventBatchReaderTest, FaultDeepInAnEventIsNamedByItsPath) {
  v1::Event event = Exchange(0, 5);
  std::string wire = event.SerializeAsString();
  // The request's first header: its name's length (4, "Host") becomes 100.
  const size_t at = wire.find(std::string("\x0a\x04Host", 6));
  ASSERT_NE(at, std::string::npos);
  wire[at + 1] = 100;
  v1::EventBatch batch;
  batch.add_events(wire);
  Events events;
  const absl::Status status = ReadError(batch.SerializeAsString(), &events);
  EXPECT_THAT(std::string(status.message()), HasSubstr("event 1 of a batch of "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("field 2 (exchange): field 5 (request): field 4 (headers): field 1 "
                        "(name): length 100 runs past the message's end (12 bytes)"));
}

TEST(EventBatchReaderTest, InvalidWireTypeAndFieldNumberAreNamed) {
  Events events;
  v1::EventBatch batch;
  batch.add_events(std::string("\x0f", 1));  // field 1, wire type 7
  EXPECT_THAT(ReadError(batch.SerializeAsString(), &events).ToString(),
              HasSubstr("event 1 of a batch of 3 bytes: field 1 (seq): wire type 7 is not valid"));
  EXPECT_THAT(ReadError(std::string("\x00\x01", 2), &events).ToString(),
              HasSubstr("a batch of 2 bytes: at byte 0: field number 0 is not valid"));
  EXPECT_THAT(ReadError("\x08\x01", &events).ToString(),
              HasSubstr("event 1 of a batch of 2 bytes: field 1 (events) has wire type 0, not 2"));
  EXPECT_THAT(ReadError("\x0a\x80\x80", &events).ToString(),
              HasSubstr("event 1 of a batch of 3 bytes: its length runs past the message's end"));
  EXPECT_THAT(ReadError(std::string(11, '\xff'), &events).ToString(),
              HasSubstr("at byte 0: a tag is longer than 10 bytes"));
}

TEST(EventBatchReaderTest, EveryTruncationIsDataLossOrAWholePrefix) {
  const AgentBatch agent = MakeAgentBatch(4, 20);
  const std::string wire = agent.batch.SerializeAsString();
  std::set<size_t> event_ends;
  size_t end = 0;
  for (const std::string& e : agent.batch.events()) {
    end += 1 + google::protobuf::io::CodedOutputStream::VarintSize32(e.size()) + e.size();
    event_ends.insert(end);
  }
  EventBatchReader reader;
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    Events events;
    const absl::Status status = reader.Read({absl::string_view(wire).substr(0, cut)}, &events);
    if (event_ends.count(cut) > 0) {
      EXPECT_TRUE(status.ok()) << cut;  // a shorter batch, whole
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << cut;
      EXPECT_THAT(std::string(status.message()), HasSubstr("runs past")) << cut;
      EXPECT_TRUE(events.empty());
    }
  }
}

TEST(EventBatchReaderTest, GarbageNeverCrashesAndFailsClearly) {
  const std::string wire = MakeAgentBatch(3, 40).batch.SerializeAsString();
  std::mt19937 random(24);
  EventBatchReader reader;
  int failed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = wire;
    for (int flips = 1 + round % 4; flips > 0; --flips) {
      bytes[random() % bytes.size()] = static_cast<char>(random());
    }
    Events events;
    const absl::Status status = reader.Read(Chunks(bytes, 1 + random() % 200), &events);
    if (status.ok()) continue;
    ++failed;
    ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss);
    ASSERT_THAT(std::string(status.message()), StartsWith("corrupt event stream from the agent: "));
    ASSERT_TRUE(events.empty());
  }
  EXPECT_GT(failed, 1000);  // most corruptions are caught, not read as something else
}

}  // namespace
}  // namespace httptrace::cli::wire
