// Round-trips the API's messages through the generated code: the wire format keeps every field an
// exchange carries, including bytes that are not UTF-8 and headers in wire order.

#include <string>

#include "gtest/gtest.h"
#include "proto/httptrace.pb.h"

namespace httptrace::v1 {
namespace {

Event MakeExchangeEvent() {
  Event event;
  event.set_seq(12);
  Exchange* exchange = event.mutable_exchange();
  exchange->mutable_start_time()->set_seconds(1795824705);
  exchange->mutable_start_time()->set_nanos(123456000);
  exchange->mutable_latency()->set_nanos(532000);
  exchange->set_complete(true);
  exchange->set_node("node-a");
  Process* process = exchange->mutable_process();
  process->set_pid(4213);
  process->set_tid(4214);
  process->set_comm("nginx");
  process->mutable_container()->set_id(std::string(64, 'a'));
  process->mutable_container()->set_name("web");
  Connection* connection = exchange->mutable_connection();
  connection->mutable_local()->set_address("::1");
  connection->mutable_local()->set_port(8080);
  connection->mutable_remote()->set_address("::1");
  connection->mutable_remote()->set_port(51234);
  connection->set_role(ROLE_SERVER);
  HttpRequest* request = exchange->mutable_request();
  request->set_method("POST");
  request->set_target("/user");
  request->set_version("HTTP/1.1");
  for (const char* name : {"Host", "Content-Type", "Authorization"}) {
    Header* header = request->add_headers();
    header->set_name(name);
    header->set_value(std::string("value of ") + name);
  }
  request->mutable_headers(2)->set_value("[REDACTED]");
  request->mutable_headers(2)->set_redacted(true);
  request->mutable_body()->set_data(std::string("\x00\xff\x1f binary", 10));
  request->mutable_body()->set_size(1 << 20);
  request->mutable_body()->set_truncated(true);
  HttpResponse* response = exchange->mutable_response();
  response->set_version("HTTP/1.1");
  response->set_status(201);
  response->set_reason("Created");
  response->mutable_body()->set_data("{\"id\":4}");
  response->mutable_body()->set_size(8);
  response->mutable_body()->set_decoded_from("gzip");
  response->mutable_body()->set_encoded_size(28);
  exchange->add_notes("request body truncated at 4096 bytes");
  return event;
}

TEST(EventRoundTrip, ExchangeSurvivesSerializationFieldForField) {
  const Event original = MakeExchangeEvent();
  std::string wire;
  ASSERT_TRUE(original.SerializeToString(&wire));

  Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.SerializeAsString(), wire);
  ASSERT_EQ(parsed.kind_case(), Event::kExchange);
  EXPECT_EQ(parsed.seq(), 12u);
  const Exchange& exchange = parsed.exchange();
  EXPECT_EQ(exchange.process().pid(), 4213u);
  EXPECT_EQ(exchange.process().container().id(), std::string(64, 'a'));
  EXPECT_EQ(exchange.connection().local().address(), "::1");
  EXPECT_EQ(exchange.connection().role(), ROLE_SERVER);
  ASSERT_EQ(exchange.request().headers_size(), 3);
  EXPECT_EQ(exchange.request().headers(0).name(), "Host");
  EXPECT_EQ(exchange.request().headers(1).name(), "Content-Type");
  EXPECT_TRUE(exchange.request().headers(2).redacted());
  EXPECT_EQ(exchange.request().body().data(), std::string("\x00\xff\x1f binary", 10));
  EXPECT_EQ(exchange.request().body().size(), 1u << 20);
  EXPECT_TRUE(exchange.request().body().truncated());
  EXPECT_EQ(exchange.response().status(), 201u);
  EXPECT_EQ(exchange.response().body().decoded_from(), "gzip");
  EXPECT_EQ(exchange.latency().nanos(), 532000);
  ASSERT_EQ(exchange.notes_size(), 1);
}

TEST(EventRoundTrip, LossAndSessionEndKeepTheirKind) {
  Event loss;
  loss.set_seq(3);
  loss.mutable_loss()->set_exchanges(7);
  loss.mutable_loss()->set_bytes(9000);
  loss.mutable_loss()->set_reason(LOSS_REASON_KERNEL_BUFFER_FULL);
  Event parsed_loss;
  ASSERT_TRUE(parsed_loss.ParseFromString(loss.SerializeAsString()));
  ASSERT_EQ(parsed_loss.kind_case(), Event::kLoss);
  EXPECT_EQ(parsed_loss.loss().exchanges(), 7u);
  EXPECT_EQ(parsed_loss.loss().reason(), LOSS_REASON_KERNEL_BUFFER_FULL);

  Event end;
  end.set_seq(4);
  end.mutable_end()->set_reason(END_REASON_MAX_EXCHANGES);
  end.mutable_end()->mutable_counters()->set_exchanges(100);
  Event parsed_end;
  ASSERT_TRUE(parsed_end.ParseFromString(end.SerializeAsString()));
  ASSERT_EQ(parsed_end.kind_case(), Event::kEnd);
  EXPECT_EQ(parsed_end.end().counters().exchanges(), 100u);
}

TEST(CaptureOptions, UnsetBodyLimitIsDistinctFromZero) {
  CaptureOptions unset;
  CaptureOptions zero;
  zero.set_body_limit_bytes(0);
  CaptureOptions parsed_unset, parsed_zero;
  ASSERT_TRUE(parsed_unset.ParseFromString(unset.SerializeAsString()));
  ASSERT_TRUE(parsed_zero.ParseFromString(zero.SerializeAsString()));
  EXPECT_FALSE(parsed_unset.has_body_limit_bytes());
  EXPECT_TRUE(parsed_zero.has_body_limit_bytes());
}

}  // namespace
}  // namespace httptrace::v1
