#include "agent/session/event.h"

#include "google/protobuf/io/coded_stream.h"
#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

v1::Event SomeExchange() {
  v1::Event event;
  v1::Exchange* exchange = event.mutable_exchange();
  exchange->mutable_request()->set_method("GET");
  exchange->mutable_request()->set_target("/users?id=1");
  v1::Header* header = exchange->mutable_request()->add_headers();
  header->set_name("Host");
  header->set_value("caf\xe9");  // ISO-8859-1, not UTF-8: bytes fields keep it as sent
  exchange->mutable_response()->set_status(200);
  return event;
}

TEST(EventTest, SerializeKeepsTheKindAndTheWireBytes) {
  const v1::Event exchange = SomeExchange();
  const EventPtr serialized = Serialize(exchange);
  EXPECT_EQ(serialized->kind, v1::Event::kExchange);
  EXPECT_EQ(serialized->bytes, exchange.SerializeAsString());
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  EXPECT_EQ(Serialize(end)->kind, v1::Event::kEnd);
}

TEST(EventTest, HeldBytesIsTheBytesAllocationAndAtLeastTheWireSize) {
  const EventPtr small = Serialize(SomeExchange());
  EXPECT_GE(HeldBytes(*small), small->bytes.size());
  EXPECT_LT(HeldBytes(*small), 512u);  // ~60 bytes on the wire: no arena blocks behind them
  v1::Event big;
  big.mutable_exchange()->mutable_response()->mutable_body()->set_data(std::string(100000, 'x'));
  const EventPtr held = Serialize(big);
  EXPECT_GE(HeldBytes(*held), 100000u);
  EXPECT_LT(HeldBytes(*held), 100000u + 4096u);
}

TEST(EventTest, PublishedEventSerializesOnceAndOnlyWhenAsked) {
  const v1::Event exchange = SomeExchange();
  const PublishedEvent published(exchange);
  const EventPtr first = published.Shared();
  EXPECT_EQ(published.Shared(), first);  // the same bytes for every session that shares them
  EXPECT_EQ(first->bytes, exchange.SerializeAsString());
}

TEST(EventTest, AppendSerializedParsesAsTheEventWithItsSeq) {
  const EventPtr shared = Serialize(SomeExchange());
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                       uint64_t{1} << 40, ~uint64_t{0}}) {
    std::string wire;
    AppendSerialized({seq, shared}, &wire);
    v1::Event parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire)) << seq;
    EXPECT_EQ(parsed.seq(), seq);
    EXPECT_EQ(parsed.SerializeAsString(), WithSeq({seq, shared}).SerializeAsString()) << seq;
    EXPECT_EQ(parsed.exchange().request().headers(0).value(), "caf\xe9");
  }
  EXPECT_EQ(shared->bytes, SomeExchange().SerializeAsString());  // never touched
}

TEST(EventTest, BatchOfSerializedEventsParsesAsRepeatedEvents) {
  // EventBatch's bytes elements are wire-identical to `repeated Event events = 1`.
  v1::EventBatch batch;
  const EventPtr shared = Serialize(SomeExchange());
  for (uint64_t seq = 5; seq < 8; ++seq) AppendSerialized({seq, shared}, batch.add_events());
  const std::string wire = batch.SerializeAsString();
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(wire.data()),
                                               static_cast<int>(wire.size()));
  uint64_t seq = 5;
  while (uint32_t tag = input.ReadTag()) {
    ASSERT_EQ(tag, (1u << 3) | 2u);  // field 1, length-delimited
    uint32_t length;
    ASSERT_TRUE(input.ReadVarint32(&length));
    const auto limit = input.PushLimit(static_cast<int>(length));
    v1::Event event;
    ASSERT_TRUE(event.ParseFromCodedStream(&input));
    input.PopLimit(limit);
    EXPECT_EQ(event.seq(), seq++);
    EXPECT_EQ(event.exchange().request().target(), "/users?id=1");
  }
  EXPECT_EQ(seq, 8u);
}

}  // namespace
}  // namespace httptrace::session
