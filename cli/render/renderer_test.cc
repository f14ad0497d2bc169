#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "cli/render/example_events.h"
#include "cli/render/har_renderer.h"
#include "cli/render/json_string.h"
#include "cli/render/jsonl_renderer.h"
#include "cli/render/line_renderer.h"
#include "cli/render/text_renderer.h"
#include "cli/render/text_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace httptrace::render {
namespace {

using testing::HasSubstr;

RenderOptions Utc() {
  RenderOptions options;
  options.time_zone = absl::UTCTimeZone();
  return options;
}

std::string RenderText(const v1::Event& event) {
  std::string out;
  TextRenderer(Utc()).Render(event, "", &out);
  return out;
}

std::string RenderJsonl(const v1::Event& event) {
  std::string out;
  JsonlRenderer(Utc()).Render(event, "", &out);
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

TEST(TextRenderer, ExchangeBlockFollowsTheSeedFormatWithRoleAddressesAndLatency) {
  const std::string text = RenderText(UsersExchange());
  EXPECT_EQ(
      text,
      "[2026-11-27 17:31:45.123 +00:00] PID 4213 (nginx) server 127.0.0.1:8080 ← 127.0.0.1:51234 "
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
  const std::string text = RenderText(event);
  EXPECT_THAT(text,
              HasSubstr("client 127.0.0.1:8080 → [::1]:51234 container web (4f2a9c0e11aa)\n"));
  EXPECT_THAT(text, HasSubstr("     Body: abcd\n           … [4 of 10 bytes shown]\n"));
  EXPECT_THAT(text, HasSubstr("  ! response missing: connection closed\n"));
  EXPECT_THAT(text, testing::Not(HasSubstr("Response")));
}

TEST(TextRenderer, ControlCharactersFromThePeerAreEscaped) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_request()->mutable_headers(0)->set_value("x\x1b[2J\ny");
  const std::string text = RenderText(event);
  EXPECT_THAT(text, HasSubstr("Host: x\\x1b[2J\\x0ay\n"));
}

TEST(TextRenderer, BinaryBodyIsSummarizedAndLossAndEndAreMarked) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_response()->mutable_body()->set_data(
      std::string("\xff\x00", 2));
  EXPECT_THAT(RenderText(event), HasSubstr("Body: [binary, 26 bytes]"));
  v1::Event loss;
  loss.mutable_loss()->set_reason(v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  loss.mutable_loss()->set_exchanges(3);
  loss.mutable_loss()->set_detail("ring buffer full");
  EXPECT_EQ(RenderText(loss),
            "!! LOSS (kernel_buffer_full): 3 exchange(s) lost — ring buffer full\n\n");
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  end.mutable_end()->mutable_counters()->set_exchanges(5);
  EXPECT_EQ(RenderText(end), "-- session ended (stopped): 5 exchange(s), 0 lost\n");
  end.mutable_end()->mutable_counters()->set_bytes_lost(4096);
  EXPECT_EQ(RenderText(end),
            "-- session ended (stopped): 5 exchange(s), 0 lost, 4096 bytes lost in the kernel\n");
}

TEST(JsonlRenderer, ExchangeHasTheDocumentedShape) {
  EXPECT_EQ(RenderJsonl(UsersExchange()),
            "{\"seq\":12,\"time\":\"2026-11-27T17:31:45.123456Z\",\"pid\":4213,\"tid\":4213,"
            "\"comm\":\"nginx\",\"role\":\"server\",\"local\":\"127.0.0.1:8080\","
            "\"remote\":\"127.0.0.1:51234\",\"connection_id\":7,\"latency_us\":532,"
            "\"ttfb_us\":null,"
            "\"complete\":true,\"notes\":[],"
            "\"request\":{\"method\":\"GET\",\"target\":\"/users\",\"version\":\"HTTP/1.1\","
            "\"headers\":[[\"Host\",\"localhost:8080\"]],\"body\":\"\",\"body_encoding\":\"text\","
            "\"body_size\":0,\"body_truncated\":false},"
            "\"response\":{\"version\":\"HTTP/1.1\",\"status\":200,\"reason\":\"OK\","
            "\"headers\":[[\"Content-Type\",\"application/json\"]],"
            "\"body\":\"[{\\\"id\\\":1,\\\"name\\\":\\\"Alice\\\"}]\",\"body_encoding\":\"text\","
            "\"body_size\":26,\"body_truncated\":false}}\n");
}

// A gRPC call on an HTTP/2 stream: a request message {1: "world"} and a NOT_FOUND status.
v1::Event GrpcExchange() {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_request()->set_method("POST");
  x->mutable_request()->set_target("/helloworld.Greeter/SayHello");
  x->mutable_request()->set_version("HTTP/2");
  x->mutable_response()->set_version("HTTP/2");
  x->mutable_response()->set_reason("");
  x->mutable_response()->clear_body();
  x->set_stream_id(3);
  v1::Grpc* grpc = x->mutable_grpc();
  grpc->set_service("helloworld.Greeter");
  grpc->set_method("SayHello");
  grpc->set_status_code(5);
  grpc->set_status_message("no such user 100%");
  grpc->set_trailers_only(true);
  grpc->mutable_request()->set_count(1);
  v1::GrpcMessage* message = grpc->mutable_request()->add_messages();
  message->set_size(7);
  message->set_complete(true);
  message->set_data(std::string("\x0a\x05world", 7));
  return event;
}

TEST(TextRenderer, GrpcCallShowsHttp2TheStreamTheStatusAndTheMessageDecodedRaw) {
  const std::string text = RenderText(GrpcExchange());
  EXPECT_THAT(text, HasSubstr(" stream 3\n"));
  EXPECT_THAT(text, HasSubstr("  → HTTP POST /helloworld.Greeter/SayHello HTTP/2\n"));
  EXPECT_THAT(text, HasSubstr("  gRPC helloworld.Greeter/SayHello → NOT_FOUND (5): "
                              "no such user 100%\n"));
  EXPECT_THAT(text, HasSubstr("     request message 1: 7 bytes\n       1: \"world\"\n"));
}

TEST(JsonlRenderer, GrpcCallHasStreamIdAndTheGrpcObject) {
  const nlohmann::json line = nlohmann::json::parse(RenderJsonl(GrpcExchange()));
  EXPECT_EQ(line["stream_id"], 3);
  EXPECT_EQ(line["request"]["version"], "HTTP/2");
  EXPECT_EQ(line["grpc"]["service"], "helloworld.Greeter");
  EXPECT_EQ(line["grpc"]["method"], "SayHello");
  EXPECT_EQ(line["grpc"]["status_code"], 5);
  EXPECT_EQ(line["grpc"]["status_message"], "no such user 100%");
  EXPECT_EQ(line["grpc"]["trailers_only"], true);
  EXPECT_EQ(line["grpc"]["request_messages"]["count"], 1);
  EXPECT_EQ(line["grpc"]["request_messages"]["messages"][0]["size"], 7);
  EXPECT_EQ(line["grpc"]["request_messages"]["messages"][0]["data_base64"], "CgV3b3JsZA==");
  EXPECT_EQ(line["grpc"]["response_messages"]["count"], 0);
  // An HTTP/1 exchange has neither.
  const nlohmann::json http1 = nlohmann::json::parse(RenderJsonl(UsersExchange()));
  EXPECT_FALSE(http1.contains("stream_id"));
  EXPECT_FALSE(http1.contains("grpc"));
}

TEST(JsonlRenderer, BinaryBodiesAreBase64AndBadUtf8InHeadersIsReplaced) {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_response()->mutable_body()->set_data(std::string("\x00\xff", 2));
  x->mutable_request()->mutable_headers(0)->set_value("a\xff\"b");
  x->mutable_connection()->mutable_local()->set_address("::1");
  x->mutable_process()->mutable_container()->set_id("abc");
  const std::string json = RenderJsonl(event);
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
  EXPECT_EQ(RenderJsonl(loss),
            "{\"seq\":3,\"loss\":{\"exchanges\":2,\"bytes\":100,\"events\":0,"
            "\"reason\":\"slow_reader\",\"detail\":\"\"}}\n");
  v1::Event end;
  end.set_seq(4);
  end.mutable_end()->set_reason(v1::END_REASON_MAX_EXCHANGES);
  EXPECT_THAT(RenderJsonl(end), HasSubstr("\"end\":{\"reason\":\"max_exchanges\""));
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

// Request first byte at .123456789, request end 20 µs later, response first byte 480 µs after
// the start, last byte 532 µs after it.
void SetPhases(v1::Exchange* x) {
  x->mutable_request()->mutable_end_time()->set_seconds(1795800705);
  x->mutable_request()->mutable_end_time()->set_nanos(123476789);
  x->mutable_response()->mutable_start_time()->set_seconds(1795800705);
  x->mutable_response()->mutable_start_time()->set_nanos(123936789);
  x->mutable_response()->mutable_end_time()->set_seconds(1795800705);
  x->mutable_response()->mutable_end_time()->set_nanos(123988789);
}

TEST(TextRenderer, TimeToFirstByteStandsBesideLatency) {
  v1::Event event = UsersExchange();
  SetPhases(event.mutable_exchange());
  EXPECT_THAT(RenderText(event), HasSubstr("latency 532 µs ttfb 480 µs\n"));
  EXPECT_THAT(RenderJsonl(event), HasSubstr("\"latency_us\":532,\"ttfb_us\":480,"));
}

TEST(TextRenderer, MissingRequestIsSaidSo) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->clear_request();
  const std::string text = RenderText(event);
  EXPECT_THAT(text, HasSubstr("\n  → (request not captured)\n  ← Response 200 OK\n"));
}

TEST(TextRenderer, InvalidUtf8IsEscapedByteByByteAndValidCharactersStay) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_request()->mutable_headers(0)->set_value("Zoë\xff Müller");
  EXPECT_THAT(RenderText(event), HasSubstr("Host: Zoë\\xff Müller\n"));
}

TEST(TextRenderer, TimesFollowTheZoneAcrossSecondsWithTheCache) {
  RenderOptions options;
  options.time_zone = absl::FixedTimeZone(3600);
  TextRenderer renderer(options);
  v1::Event event = UsersExchange();
  std::string out;
  renderer.Render(event, "", &out);
  event.mutable_exchange()->mutable_start_time()->set_nanos(999000000);
  renderer.Render(event, "", &out);
  event.mutable_exchange()->mutable_start_time()->set_seconds(1795800706);
  event.mutable_exchange()->mutable_start_time()->set_nanos(5000000);
  renderer.Render(event, "", &out);
  EXPECT_THAT(out, HasSubstr("[2026-11-27 18:31:45.123 +01:00]"));
  EXPECT_THAT(out, HasSubstr("[2026-11-27 18:31:45.999 +01:00]"));
  EXPECT_THAT(out, HasSubstr("[2026-11-27 18:31:46.005 +01:00]"));
}

TEST(JsonString, EscapesAndReplacesEachIllFormedSequenceOnce) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"plain", "\"plain\""},
      {"q\"b\\s/", "\"q\\\"b\\\\s/\""},
      {"\n\r\t\x01\x7f", "\"\\n\\r\\t\\u0001\\u007f\""},
      {"µs → ✓ 😀", "\"µs → ✓ 😀\""},
      // One bad byte no longer turns the value's other characters into U+FFFD.
      {"Zoë\xff Müller", "\"Zoë\\ufffd Müller\""},
      {"\xc0\xaf", "\"\\ufffd\\ufffd\""},                        // overlong: two maximal subparts
      {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},             // surrogate
      {"\xe2\x82", "\"\\ufffd\""},                               // truncated at the end: one
      {"\xe2\x82x", "\"\\ufffdx\""},                             // truncated mid-value: one
      {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},  // beyond U+10FFFF
      {"\xf0\x9f\x98", "\"\\ufffd\""},
  };
  for (const Case& c : cases) EXPECT_EQ(JsonString(c.in), c.want) << c.in;
}

// The escaping as defined, one byte at a time: the reference for the word-at-a-time scan.
std::string JsonStringByteByByte(absl::string_view in) {
  std::string out = "\"";
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c >= 0x80) {
      const int length = Utf8Sequence(in.substr(i));
      if (length > 0) {
        out.append(in.data() + i, static_cast<size_t>(length));
        i += static_cast<size_t>(length);
      } else {
        out.append("\\ufffd");
        i += static_cast<size_t>(-length);
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  return out + "\"";
}

// Every byte that is not plain, at every position of words and of the tail, among plain ones and
// next to each other: the 8-byte scan must stop for each (it once could skip what it should
// not, e.g. a byte >= 0x80 or 0x7f inside an otherwise printable word).
TEST(JsonString, WordAtATimeScanMatchesByteByByteEscaping) {
  const std::string specials =
      std::string("\"\\\n\r\t\x01\x1f\x7f\x80\xff\xc3\xa9 ~", 15) + std::string(1, '\0');
  for (size_t length : {1, 7, 8, 9, 15, 16, 17, 24, 33}) {
    for (size_t position = 0; position < length; ++position) {
      for (char special : specials) {
        std::string in(length, 'a');
        in[position] = special;
        EXPECT_EQ(JsonString(in), JsonStringByteByByte(in)) << length << " " << position;
        if (position + 1 < length) {
          in[position + 1] = '"';
          EXPECT_EQ(JsonString(in), JsonStringByteByByte(in)) << length << " " << position;
        }
      }
    }
  }
  // Random bytes from an alphabet rich in the cases above: a fixed seed, many lengths.
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (int round = 0; round < 2000; ++round) {
    std::string in;
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t length = (state >> 33) % 48;
    for (size_t i = 0; i < length; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const unsigned pick = static_cast<unsigned>(state >> 40);
      in.push_back(pick % 4 == 0 ? specials[(pick >> 2) % specials.size()]
                                 : static_cast<char>(0x20 + (pick >> 2) % 0x5f));
    }
    EXPECT_EQ(JsonString(in), JsonStringByteByByte(in)) << absl::CEscape(in);
  }
}

TEST(Utf8Sequence, LengthsAndMaximalSubparts) {
  EXPECT_EQ(Utf8Sequence("\xc3\xa9"), 2);
  EXPECT_EQ(Utf8Sequence("\xe2\x86\x92"), 3);
  EXPECT_EQ(Utf8Sequence("\xf0\x9f\x98\x80"), 4);
  EXPECT_EQ(Utf8Sequence("\x80"), -1);
  EXPECT_EQ(Utf8Sequence("\xe0\x80\x80"), -1);  // E0 needs A0..BF next
  EXPECT_EQ(Utf8Sequence("\xe2\x86"), -2);
  EXPECT_EQ(Utf8Sequence("\xf0\x9f\x98"), -3);
}

nlohmann::json RenderHar(const std::vector<v1::Event>& events) {
  RenderOptions options = Utc();
  options.version = "test";
  HarRenderer har(options);
  std::string out;
  har.Begin(&out);
  for (const v1::Event& e : events) har.Render(e, "node-a", &out);
  har.End(&out);
  return nlohmann::json::parse(out);
}

TEST(HarRenderer, EntryHasTimingsHeadersQueryCookiesAndExtensions) {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  SetPhases(x);
  x->mutable_request()->set_target("/users?id=1&name=Zo%C3%AB+M");
  v1::Header* cookie = x->mutable_request()->add_headers();
  cookie->set_name("Cookie");
  cookie->set_value("a=1; b=2");
  v1::Header* set_cookie = x->mutable_response()->add_headers();
  set_cookie->set_name("Set-Cookie");
  set_cookie->set_value("sid=xyz; Path=/; HttpOnly");
  const nlohmann::json har = RenderHar({event});
  EXPECT_EQ(har["log"]["version"], "1.2");
  EXPECT_EQ(har["log"]["creator"]["version"], "test");
  ASSERT_EQ(har["log"]["entries"].size(), 1u);
  const nlohmann::json& entry = har["log"]["entries"][0];
  EXPECT_EQ(entry["startedDateTime"], "2026-11-27T17:31:45.123456Z");
  EXPECT_DOUBLE_EQ(entry["timings"]["send"].get<double>(), 0.020);
  EXPECT_DOUBLE_EQ(entry["timings"]["wait"].get<double>(), 0.460);
  EXPECT_DOUBLE_EQ(entry["timings"]["receive"].get<double>(), 0.052);
  EXPECT_DOUBLE_EQ(entry["time"].get<double>(), 0.532);
  EXPECT_EQ(entry["request"]["url"], "http://localhost:8080/users?id=1&name=Zo%C3%AB+M");
  EXPECT_EQ(entry["request"]["queryString"][1]["value"], "Zoë M");
  EXPECT_EQ(entry["request"]["cookies"][1]["name"], "b");
  EXPECT_EQ(entry["response"]["cookies"][0]["value"], "xyz");
  EXPECT_EQ(entry["response"]["cookies"][0]["httpOnly"], true);
  EXPECT_EQ(entry["response"]["content"]["mimeType"], "application/json");
  EXPECT_EQ(entry["response"]["content"]["text"], "[{\"id\":1,\"name\":\"Alice\"}]");
  EXPECT_EQ(entry["serverIPAddress"], "127.0.0.1");
  EXPECT_EQ(entry["_httptrace"]["pid"], 4213);
  EXPECT_EQ(entry["_httptrace"]["role"], "server");
  EXPECT_EQ(entry["_httptrace"]["node"], "node-a");
}

TEST(HarRenderer, BinaryGzipMissingResponseAndLossesStayOneDocument) {
  v1::Event binary = UsersExchange();
  v1::Body* body = binary.mutable_exchange()->mutable_response()->mutable_body();
  body->set_data(std::string("\x00\xff", 2));
  body->set_size(2);
  v1::Event gzip = UsersExchange();
  body = gzip.mutable_exchange()->mutable_response()->mutable_body();
  body->set_decoded_from("gzip");
  body->set_encoded_size(20);
  v1::Event no_response = UsersExchange();
  no_response.mutable_exchange()->clear_response();
  no_response.mutable_exchange()->clear_latency();
  v1::Event loss;
  loss.set_seq(9);
  loss.mutable_loss()->set_reason(v1::LOSS_REASON_SLOW_READER);
  loss.mutable_loss()->set_exchanges(4);
  v1::Event end;
  end.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  const nlohmann::json har = RenderHar({binary, loss, gzip, no_response, end});
  const nlohmann::json& entries = har["log"]["entries"];
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["response"]["content"]["encoding"], "base64");
  EXPECT_EQ(entries[0]["response"]["content"]["text"], "AP8=");
  EXPECT_EQ(entries[1]["response"]["content"]["compression"], 6);
  EXPECT_EQ(entries[1]["response"]["bodySize"], 20);
  EXPECT_EQ(entries[2]["response"]["status"], 0);
  EXPECT_EQ(har["log"]["_httptrace"]["losses"][0]["exchanges"], 4);
  EXPECT_EQ(har["log"]["_httptrace"]["sessions"][0]["reason"], "stopped");
}

TEST(HarRenderer, NothingCapturedIsAnEmptyValidDocument) {
  const nlohmann::json har = RenderHar({});
  EXPECT_TRUE(har["log"]["entries"].is_array());
  EXPECT_TRUE(har["log"]["entries"].empty());
}

TEST(MakeRenderer, UnknownFormatIsRejectedWithTheChoices) {
  EXPECT_TRUE(MakeRenderer("text", Utc()).ok());
  EXPECT_TRUE(MakeRenderer("jsonl", Utc()).ok());
  EXPECT_TRUE(MakeRenderer("har", Utc()).ok());
  EXPECT_TRUE(MakeRenderer("line", Utc()).ok());
  const auto bad = MakeRenderer("xml", Utc());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("text, line, jsonl, har"));
}

// The users exchange as its client (curl, 1.2 ms) and its server (nginx, 532 µs) saw it.
std::pair<v1::Event, v1::Event> BothEnds() {
  v1::Event server = UsersExchange();
  server.set_seq(2);
  v1::Event client = UsersExchange();
  client.set_seq(1);
  v1::Exchange* c = client.mutable_exchange();
  c->mutable_process()->set_pid(5000);
  c->mutable_process()->set_comm("curl");
  c->mutable_connection()->set_role(v1::ROLE_CLIENT);
  c->mutable_connection()->set_id(11);
  std::swap(*c->mutable_connection()->mutable_local(), *c->mutable_connection()->mutable_remote());
  c->mutable_latency()->set_nanos(1'200'000);
  c->add_notes("example note");
  return {client, server};
}

TEST(TextRenderer, BothEndsShowTheExchangeOnceWithEachEndsViewAndTheDifference) {
  const auto [client, server] = BothEnds();
  std::string out;
  TextRenderer(Utc()).RenderPair(client, server, "11-7-1", "", &out);
  EXPECT_EQ(out,
            "[2026-11-27 17:31:45.123 +00:00] 127.0.0.1:51234 → 127.0.0.1:8080 both ends traced\n"
            "  client PID 5000 (curl) latency 1.200 ms\n"
            "  server PID 4213 (nginx) latency 532 µs (668 µs less: network and queueing)\n"
            "  → HTTP GET /users HTTP/1.1\n"
            "     Host: localhost:8080\n"
            "  ← Response 200 OK\n"
            "     Content-Type: application/json\n"
            "     Body: [{\"id\":1,\"name\":\"Alice\"}]\n"
            "  ! client: example note\n"
            "\n");
}

TEST(LineRenderer, OneLinePerExchangeForEachEndSeenAndForAPair) {
  const auto [client, server] = BothEnds();
  LineRenderer renderer(Utc());
  std::string out;
  renderer.Render(server, "", &out);
  renderer.Render(client, "", &out);
  renderer.RenderPair(client, server, "11-7-1", "", &out);
  EXPECT_EQ(out,
            "2026-11-27 17:31:45.123 +00:00 127.0.0.1:51234 → nginx[4213] 127.0.0.1:8080 GET "
            "/users 200 532 µs ↑0 B ↓26 B\n"
            "2026-11-27 17:31:45.123 +00:00 curl[5000] → 127.0.0.1:8080 GET /users 200 1.200 ms "
            "↑0 B ↓26 B ! example note\n"
            "2026-11-27 17:31:45.123 +00:00 curl[5000] → nginx[4213] 127.0.0.1:8080 GET /users "
            "200 1.200 ms (server 532 µs) ↑0 B ↓26 B ! example note\n");
}

TEST(LineRenderer, AGrpcCallShowsItsStatusBesideTheHttpOne) {
  // gRPC errors travel in HTTP 200 responses: the line must say NOT_FOUND, not just 200.
  LineRenderer renderer(Utc());
  std::string out;
  renderer.Render(GrpcExchange(), "", &out);
  EXPECT_THAT(out, HasSubstr(" 200 grpc NOT_FOUND "));
  v1::Event unknown = GrpcExchange();
  unknown.mutable_exchange()->mutable_grpc()->clear_status_code();
  out.clear();
  renderer.Render(unknown, "", &out);
  EXPECT_THAT(out, HasSubstr(" 200 grpc ? "));
}

TEST(LineRenderer, ColourMarksStatusClassesAndSlowExchangesOnlyWhenAsked) {
  v1::Event event = UsersExchange();
  event.mutable_exchange()->mutable_response()->set_status(503);
  event.mutable_exchange()->mutable_latency()->set_seconds(2);
  RenderOptions options = Utc();
  std::string plain;
  LineRenderer(options).Render(event, "", &plain);
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  options.color = true;
  std::string colored;
  LineRenderer(options).Render(event, "", &colored);
  EXPECT_THAT(colored, HasSubstr("\033[31m503\033[0m"));
  EXPECT_THAT(colored, HasSubstr("\033[1;31m2000.532 ms"));
}

TEST(JsonlRenderer, BothEndsKeepOneRecordEachLinkedByTheSamePairId) {
  const auto [client, server] = BothEnds();
  std::string out;
  JsonlRenderer(Utc()).RenderPair(client, server, "11-7-1", "", &out);
  const std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  const nlohmann::json a = nlohmann::json::parse(lines[0]);
  const nlohmann::json b = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(a["pair"], "11-7-1");
  EXPECT_EQ(b["pair"], "11-7-1");
  EXPECT_EQ(a["role"], "client");
  EXPECT_EQ(b["role"], "server");
  EXPECT_FALSE(nlohmann::json::parse(RenderJsonl(server)).contains("pair"));
}

TEST(HarRenderer, BothEndsAreOneEntryWithTheServersViewBeside) {
  const auto [client, server] = BothEnds();
  HarRenderer renderer(Utc());
  std::string out;
  renderer.Begin(&out);
  renderer.RenderPair(client, server, "11-7-1", "node-a", &out);
  renderer.End(&out);
  const nlohmann::json har = nlohmann::json::parse(out);
  ASSERT_EQ(har["log"]["entries"].size(), 1u);
  const nlohmann::json& entry = har["log"]["entries"][0];
  EXPECT_EQ(entry["_httptrace"]["role"], "client");
  EXPECT_EQ(entry["_httptrace"]["pair"], "11-7-1");
  EXPECT_EQ(entry["_httptrace"]["server"]["comm"], "nginx");
  EXPECT_EQ(entry["_httptrace"]["server"]["latency_ms"], 0.532);
}

// Redaction happens in the agent (agent/session/redaction.h): a session's queue never holds the
// secret. What the ctl receives is this exchange, and every format must show the marker where
// the value was, in the target, a URL-valued header, a form and a JSON body, so a reader sees
// that something was hidden and where.
v1::Event RedactedLoginExchange() {
  v1::Event event = UsersExchange();
  v1::HttpRequest* request = event.mutable_exchange()->mutable_request();
  request->set_method("POST");
  request->set_target("/login?access_token=[REDACTED]&next=%2Fhome");
  v1::Header* type = request->add_headers();
  type->set_name("Content-Type");
  type->set_value("application/x-www-form-urlencoded");
  const std::string form = "user=bob+smith&password=[REDACTED]&remember=on";
  request->mutable_body()->set_data(form);
  request->mutable_body()->set_size(form.size() + 3);  // the true size: "hunter2hunter" was sent
  v1::HttpResponse* response = event.mutable_exchange()->mutable_response();
  v1::Header* location = response->add_headers();
  location->set_name("Location");
  location->set_value("/cb?code=[REDACTED]&state=s1");
  const std::string json = R"({"token":"[REDACTED]","user":{"id":7}})";
  response->mutable_body()->set_data(json);
  response->mutable_body()->set_size(json.size());
  return event;
}

TEST(Redaction, TextShowsTheMarkerInTheTargetHeadersAndBodies) {
  const std::string text = RenderText(RedactedLoginExchange());
  EXPECT_THAT(text, HasSubstr("POST /login?access_token=[REDACTED]&next=%2Fhome HTTP/1.1"));
  EXPECT_THAT(text, HasSubstr("Location: /cb?code=[REDACTED]&state=s1"));
  EXPECT_THAT(text, HasSubstr("Body: user=bob+smith&password=[REDACTED]&remember=on"));
  EXPECT_THAT(text, HasSubstr(R"(Body: {"token":"[REDACTED]","user":{"id":7}})"));
}

TEST(Redaction, JsonlKeepsTheMarkerInEachField) {
  const nlohmann::json line = nlohmann::json::parse(RenderJsonl(RedactedLoginExchange()));
  EXPECT_EQ(line["request"]["target"], "/login?access_token=[REDACTED]&next=%2Fhome");
  EXPECT_EQ(line["request"]["body"], "user=bob+smith&password=[REDACTED]&remember=on");
  // The JSON body is still JSON, the marker a string in it.
  EXPECT_EQ(nlohmann::json::parse(line["response"]["body"].get<std::string>())["token"],
            "[REDACTED]");
  EXPECT_THAT(line.dump(), HasSubstr("/cb?code=[REDACTED]&state=s1"));
}

TEST(Redaction, LineShowsTheRedactedTarget) {
  std::string out;
  LineRenderer(Utc()).Render(RedactedLoginExchange(), "", &out);
  EXPECT_THAT(out, HasSubstr("POST /login?access_token=[REDACTED]&next=%2Fhome 200"));
}

TEST(Redaction, HarQueryStringAndPostDataParamsShowTheMarker) {
  const nlohmann::json har = RenderHar({RedactedLoginExchange()});
  const nlohmann::json& request = har["log"]["entries"][0]["request"];
  EXPECT_EQ(request["url"], "http://localhost:8080/login?access_token=[REDACTED]&next=%2Fhome");
  EXPECT_EQ(request["queryString"],
            nlohmann::json::parse(R"([{"name":"access_token","value":"[REDACTED]"},
                                      {"name":"next","value":"/home"}])"));
  EXPECT_EQ(request["postData"]["mimeType"], "application/x-www-form-urlencoded");
  EXPECT_EQ(request["postData"]["text"], "user=bob+smith&password=[REDACTED]&remember=on");
  EXPECT_EQ(request["postData"]["params"],
            nlohmann::json::parse(R"([{"name":"user","value":"bob smith"},
                                      {"name":"password","value":"[REDACTED]"},
                                      {"name":"remember","value":"on"}])"));
  const nlohmann::json& response = har["log"]["entries"][0]["response"];
  EXPECT_EQ(nlohmann::json::parse(response["content"]["text"].get<std::string>())["token"],
            "[REDACTED]");
  EXPECT_THAT(response["headers"].dump(), HasSubstr("/cb?code=[REDACTED]&state=s1"));
}

TEST(HarRenderer, PostDataParamsOnlyForFormBodies) {
  v1::Event event = RedactedLoginExchange();
  v1::HttpRequest* request = event.mutable_exchange()->mutable_request();
  request->mutable_headers()->rbegin()->set_value("application/json");
  request->mutable_body()->set_data(R"({"a":1})");
  const nlohmann::json har = RenderHar({event});
  EXPECT_FALSE(har["log"]["entries"][0]["request"]["postData"].contains("params"));
  EXPECT_EQ(har["log"]["entries"][0]["request"]["postData"]["text"], R"({"a":1})");
}

}  // namespace
}  // namespace httptrace::render
