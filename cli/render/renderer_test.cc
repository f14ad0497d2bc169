#include <string>

#include "cli/render/jsonl_renderer.h"
#include "cli/render/text_renderer.h"
#include "cli/render/text_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::render {
namespace {

using testing::HasSubstr;

v1::Event UsersExchange() {
  v1::Event event;
  event.set_seq(12);
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_start_time()->set_seconds(1795800705);  // 2026-11-27 17:31:45 UTC
  x->mutable_start_time()->set_nanos(123456789);
  x->mutable_latency()->set_nanos(532000);
  x->set_complete(true);
  x->mutable_process()->set_pid(4213);
  x->mutable_process()->set_tid(4213);
  x->mutable_process()->set_comm("nginx");
  x->mutable_connection()->mutable_local()->set_address("127.0.0.1");
  x->mutable_connection()->mutable_local()->set_port(8080);
  x->mutable_connection()->mutable_remote()->set_address("127.0.0.1");
  x->mutable_connection()->mutable_remote()->set_port(51234);
  x->mutable_connection()->set_role(v1::ROLE_SERVER);
  x->mutable_connection()->set_id(7);
  v1::HttpRequest* req = x->mutable_request();
  req->set_method("GET");
  req->set_target("/users");
  req->set_version("HTTP/1.1");
  v1::Header* host = req->add_headers();
  host->set_name("Host");
  host->set_value("localhost:8080");
  v1::HttpResponse* resp = x->mutable_response();
  resp->set_version("HTTP/1.1");
  resp->set_status(200);
  resp->set_reason("OK");
  v1::Header* type = resp->add_headers();
  type->set_name("Content-Type");
  type->set_value("application/json");
  resp->mutable_body()->set_data("[{\"id\":1,\"name\":\"Alice\"}]");
  resp->mutable_body()->set_size(26);
  return event;
}

RenderOptions Utc() {
  RenderOptions options;
  options.time_zone = absl::UTCTimeZone();
  return options;
}

TEST(TextRenderer, ExchangeBlockFollowsTheSeedFormatWithRoleAddressesAndLatency) {
  const std::string text = TextRenderer(Utc()).Render(UsersExchange());
  EXPECT_EQ(text,
            "[2026-11-27 17:31:45.123] PID 4213 (nginx) server 127.0.0.1:8080 ← 127.0.0.1:51234 "
            "latency 532 µs\n"
            "  → HTTP GET /users HTTP/1.1\n"
            "     Host: localhost:8080\n"
            "  ← Response 200 OK\n"
            "     Content-Type: application/json\n"
            "     Body: [{\"id\":1,\"name\":\"Alice\"}]\n"
            "\n");
}

TEST(TextRenderer, ContainerNotesTruncationAndMissingResponse) {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_connection()->set_role(v1::ROLE_CLIENT);
  x->mutable_connection()->mutable_remote()->set_address("::1");
  x->mutable_process()->mutable_container()->set_id("4f2a9c0e11aa55555555");
  x->mutable_process()->mutable_container()->set_name("web");
  x->mutable_request()->mutable_body()->set_data("abcd");
  x->mutable_request()->mutable_body()->set_size(10);
  x->mutable_request()->mutable_body()->set_truncated(true);
  x->clear_response();
  x->clear_latency();
  x->set_complete(false);
  x->add_notes("response missing: connection closed");
  const std::string text = TextRenderer(Utc()).Render(event);
  EXPECT_THAT(text,
              HasSubstr("client 127.0.0.1:8080 → [::1]:51234 container web (4f2a9c0e11aa)\n"));
  EXPECT_THAT(text, HasSubstr("     Body: abcd\n           … [4 of 10 bytes shown]\n"));
  EXPECT_THAT(text, HasSubstr("  ! response missing: connection closed\n"));
  EXPECT_THAT(text, testing::Not(HasSubstr("Response")));
}

TEST(TextRenderer, ResponseWithoutRequestSaysRequestNotCaptured) {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->clear_request();
  x->clear_latency();
  x->add_notes(
      "request not captured: capture began mid-connection or the request's bytes were lost");
  const std::string text = TextRenderer(Utc()).Render(event);
  EXPECT_THAT(text, HasSubstr("  → (request not captured)\n  ← Response 200"));
  EXPECT_THAT(text, testing::Not(HasSubstr("→ HTTP")));
}

TEST(TextRenderer, ControlCharactersFromThePeerAreEscaped) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_request()->mutable_headers(0)->set_value("x\x1b[2J\ny");
  const std::string text = TextRenderer(Utc()).Render(event);
  EXPECT_THAT(text, HasSubstr("Host: x\\x1b[2J\\x0ay\n"));
}

TEST(TextRenderer, BinaryBodyIsSummarizedAndLossAndEndAreMarked) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_response()->mutable_body()->set_data(
      std::string("\xff\x00", 2));
  EXPECT_THAT(TextRenderer(Utc()).Render(event), HasSubstr("Body: [binary, 26 bytes]"));
  v1::Event loss;
  loss.mutable_loss()->set_reason(v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  loss.mutable_loss()->set_exchanges(3);
  loss.mutable_loss()->set_detail("ring buffer full");
  EXPECT_EQ(TextRenderer(Utc()).Render(loss),
            "!! LOSS (kernel_buffer_full): 3 exchange(s) lost — ring buffer full\n\n");
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  end.mutable_end()->mutable_counters()->set_exchanges(5);
  EXPECT_EQ(TextRenderer(Utc()).Render(end), "-- session ended (stopped): 5 exchange(s), 0 lost\n");
  end.mutable_end()->mutable_counters()->set_bytes_lost(4096);
  EXPECT_EQ(TextRenderer(Utc()).Render(end),
            "-- session ended (stopped): 5 exchange(s), 0 lost, 4096 bytes lost in the kernel\n");
}

TEST(JsonlRenderer, ExchangeHasTheDocumentedShape) {
  EXPECT_EQ(JsonlRenderer(Utc()).Render(UsersExchange()),
            "{\"seq\":12,\"time\":\"2026-11-27T17:31:45.123456Z\",\"pid\":4213,\"tid\":4213,"
            "\"comm\":\"nginx\",\"role\":\"server\",\"local\":\"127.0.0.1:8080\","
            "\"remote\":\"127.0.0.1:51234\",\"connection_id\":7,\"latency_us\":532,"
            "\"complete\":true,\"notes\":[],"
            "\"request\":{\"method\":\"GET\",\"target\":\"/users\",\"version\":\"HTTP/1.1\","
            "\"headers\":[[\"Host\",\"localhost:8080\"]],\"body\":\"\",\"body_encoding\":\"text\","
            "\"body_size\":0,\"body_truncated\":false},"
            "\"response\":{\"version\":\"HTTP/1.1\",\"status\":200,\"reason\":\"OK\","
            "\"headers\":[[\"Content-Type\",\"application/json\"]],"
            "\"body\":\"[{\\\"id\\\":1,\\\"name\\\":\\\"Alice\\\"}]\",\"body_encoding\":\"text\","
            "\"body_size\":26,\"body_truncated\":false}}\n");
}

TEST(JsonlRenderer, BinaryBodiesAreBase64AndBadUtf8InHeadersIsReplaced) {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_response()->mutable_body()->set_data(std::string("\x00\xff", 2));
  x->mutable_request()->mutable_headers(0)->set_value("a\xff\"b");
  x->mutable_connection()->mutable_local()->set_address("::1");
  x->mutable_process()->mutable_container()->set_id("abc");
  const std::string json = JsonlRenderer(Utc()).Render(event);
  EXPECT_THAT(json, HasSubstr("\"body\":\"AP8=\",\"body_encoding\":\"base64\""));
  EXPECT_THAT(json, HasSubstr("[\"Host\",\"a\\ufffd\\\"b\"]"));
  EXPECT_THAT(json, HasSubstr("\"local\":\"[::1]:8080\""));
  EXPECT_THAT(
      json,
      HasSubstr("\"container\":{\"id\":\"abc\",\"name\":\"\",\"pod\":\"\",\"namespace\":\"\"}"));
}

TEST(JsonlRenderer, LossAndEndLines) {
  v1::Event loss;
  loss.set_seq(3);
  loss.mutable_loss()->set_exchanges(2);
  loss.mutable_loss()->set_bytes(100);
  loss.mutable_loss()->set_reason(v1::LOSS_REASON_SLOW_READER);
  EXPECT_EQ(JsonlRenderer(Utc()).Render(loss),
            "{\"seq\":3,\"loss\":{\"exchanges\":2,\"bytes\":100,\"events\":0,"
            "\"reason\":\"slow_reader\",\"detail\":\"\"}}\n");
  v1::Event end;
  end.set_seq(4);
  end.mutable_end()->set_reason(v1::END_REASON_MAX_EXCHANGES);
  EXPECT_THAT(JsonlRenderer(Utc()).Render(end), HasSubstr("\"end\":{\"reason\":\"max_exchanges\""));
}

TEST(IsValidUtf8, AcceptsUtf8AndRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("µs → ✓ 😀"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // beyond U+10FFFF
}

TEST(MakeRenderer, UnknownFormatIsRejectedWithTheChoices) {
  EXPECT_TRUE(MakeRenderer("text", Utc()).ok());
  EXPECT_TRUE(MakeRenderer("jsonl", Utc()).ok());
  const auto bad = MakeRenderer("xml", Utc());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("text or jsonl"));
}

}  // namespace
}  // namespace httptrace::render
