// Table-driven tests of the HTTP/1.x engine. Every case is fed whole, one byte at a time and in
// random pieces (fixed seeds); all splits must give the same exchanges and counters, and each
// case asserts the fields, notes and counters that prove its point.

#include "agent/protocols/http1/http1_connection.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/protocols/http1/http1_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protocols::http1 {
namespace {

using ::httptrace::protocols::http1::testing::Canonical;
using ::httptrace::protocols::http1::testing::Compress;
using ::httptrace::protocols::http1::testing::In;
using ::httptrace::protocols::http1::testing::Out;
using ::httptrace::protocols::http1::testing::Outcome;
using ::httptrace::protocols::http1::testing::RunScript;
using ::httptrace::protocols::http1::testing::Script;
using ::httptrace::protocols::http1::testing::Split;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Case {
  std::string name;
  Script script;
  std::function<void(const Outcome&)> check;
};

std::string Get(absl::string_view target, absl::string_view extra = "") {
  return absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: example.test\r\n", extra, "\r\n");
}

std::string Ok(absl::string_view body, absl::string_view extra = "") {
  return absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body.size(), "\r\n", extra, "\r\n",
                      body);
}

bool HasNote(const Exchange& e, absl::string_view text) {
  for (const std::string& note : e.notes) {
    if (absl::StrContains(note, text)) return true;
  }
  return false;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;

  cases.push_back(
      {"KeepAliveContentLength",
       {RoleHint::kClient,
        {Out(Get("/a"), 10), In(Ok("hello"), 20), Out(Get("/b"), 30), In(Ok("world!"), 40)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         const Exchange& a = o.exchanges[0];
         EXPECT_TRUE(a.complete);
         EXPECT_EQ(a.request.method, "GET");
         EXPECT_EQ(a.request.target, "/a");
         EXPECT_EQ(a.request.version, "HTTP/1.1");
         ASSERT_EQ(a.request.headers.size(), 1u);
         EXPECT_EQ(a.request.headers[0].name, "Host");
         EXPECT_EQ(a.request.headers[0].value, "example.test");
         EXPECT_EQ(a.response.status, 200u);
         EXPECT_EQ(a.response.reason, "OK");
         EXPECT_EQ(a.response.body.data, "hello");
         EXPECT_EQ(a.response.body.size, 5u);
         EXPECT_FALSE(a.response.body.truncated);
         EXPECT_EQ(a.start_time_ns, 10u);
         EXPECT_EQ(a.end_time_ns, 20u);
         EXPECT_EQ(a.latency_ns(), 10u);
         EXPECT_TRUE(a.traced_process_is_client());
         EXPECT_TRUE(a.notes.empty());
         EXPECT_EQ(o.exchanges[1].request.target, "/b");
         EXPECT_EQ(o.exchanges[1].response.body.data, "world!");
         EXPECT_EQ(o.counters.incomplete_exchanges, 0u);
       }});

  cases.push_back({"ChunkedWithExtensionsAndTrailers",
                   {RoleHint::kClient,
                    {Out("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 1),
                     In("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                        "4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 42\r\n\r\n",
                        2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     const Exchange& e = o.exchanges[0];
                     EXPECT_TRUE(e.complete);
                     EXPECT_EQ(e.request.method, "POST");
                     EXPECT_EQ(e.request.body.data, "abc");
                     EXPECT_EQ(e.response.body.data, "Wikipedia");
                     EXPECT_EQ(e.response.body.size, 9u);
                     ASSERT_EQ(e.response.trailers.size(), 1u);
                     EXPECT_EQ(e.response.trailers[0].name, "X-Sum");
                     EXPECT_EQ(e.response.trailers[0].value, "42");
                     EXPECT_EQ(e.response.headers.size(), 2u);
                   }});

  cases.push_back({"ChunkedRequestBody",
                   {RoleHint::kClient,
                    {Out("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nfoo\r\n3\r\nbar\r\n0\r\n\r\n",
                         1),
                     In("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].request.body.data, "foobar");
                     EXPECT_EQ(o.exchanges[0].response.status, 201u);
                     EXPECT_EQ(o.exchanges[0].response.reason, "Created");
                     EXPECT_TRUE(o.exchanges[0].complete);
                   }});

  cases.push_back(
      {"PipelinedAnsweredInOrder",
       {RoleHint::kClient,
        {Out(Get("/1") + Get("/2") + Get("/3"), 5), In(Ok("one") + Ok("two") + Ok("three"), 9)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 3u);
         EXPECT_EQ(o.exchanges[0].request.target, "/1");
         EXPECT_EQ(o.exchanges[0].response.body.data, "one");
         EXPECT_EQ(o.exchanges[1].request.target, "/2");
         EXPECT_EQ(o.exchanges[1].response.body.data, "two");
         EXPECT_EQ(o.exchanges[2].request.target, "/3");
         EXPECT_EQ(o.exchanges[2].response.body.data, "three");
         for (const Exchange& e : o.exchanges) EXPECT_TRUE(e.complete);
       }});

  cases.push_back({"HeadResponseHasNoBody",
                   {RoleHint::kClient,
                    {Out("HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n", 1),
                     In("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 2), Out(Get("/next"), 3),
                     In(Ok("n"), 4)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 2u);
                     EXPECT_EQ(o.exchanges[0].request.method, "HEAD");
                     EXPECT_EQ(o.exchanges[0].response.status, 200u);
                     EXPECT_EQ(o.exchanges[0].response.body.size, 0u);
                     EXPECT_TRUE(o.exchanges[0].complete);
                     EXPECT_EQ(o.exchanges[1].request.target, "/next");
                     EXPECT_EQ(o.exchanges[1].response.body.data, "n");
                     EXPECT_TRUE(o.exchanges[1].complete);
                   }});

  cases.push_back(
      {"Continue100IsNotAnExchange",
       {RoleHint::kClient,
        {Out("POST /p HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", 1),
         In("HTTP/1.1 100 Continue\r\n\r\n", 2), Out("data", 3), In(Ok("done"), 4)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         const Exchange& e = o.exchanges[0];
         EXPECT_TRUE(e.complete);
         EXPECT_EQ(e.request.body.data, "data");
         EXPECT_EQ(e.response.status, 200u);
         EXPECT_EQ(e.response.body.data, "done");
         EXPECT_EQ(e.response.headers.size(), 1u);
         EXPECT_EQ(e.response_start_time_ns, 4u);
         EXPECT_EQ(o.counters.interim_responses, 1u);
       }});

  cases.push_back(
      {"NoContent204AndNotModified304",
       {RoleHint::kClient,
        {Out(Get("/a") + Get("/b"), 1),
         In("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n"
            "ETag: \"x\"\r\n\r\n",
            2),
         Out(Get("/c"), 3), In(Ok("c"), 4)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 3u);
         EXPECT_EQ(o.exchanges[0].response.status, 204u);
         EXPECT_EQ(o.exchanges[1].response.status, 304u);
         EXPECT_EQ(o.exchanges[1].response.body.size, 0u);
         EXPECT_EQ(o.exchanges[2].response.body.data, "c");
         for (const Exchange& e : o.exchanges) EXPECT_TRUE(e.complete);
       }});

  cases.push_back({"CloseDelimitedResponse",
                   {RoleHint::kClient,
                    {Out("GET / HTTP/1.0\r\n\r\n", 1),
                     In("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nhello ", 2), In("until close", 3)},
                    true,
                    50},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     const Exchange& e = o.exchanges[0];
                     EXPECT_TRUE(e.complete);
                     EXPECT_EQ(e.request.version, "HTTP/1.0");
                     EXPECT_EQ(e.response.version, "HTTP/1.0");
                     EXPECT_EQ(e.response.body.data, "hello until close");
                     EXPECT_EQ(e.end_time_ns, 3u);  // last byte, not the close
                   }});

  cases.push_back(
      {"ConnectionCloseThenNewMessagesStillParse",
       {RoleHint::kClient,
        {Out(Get("/a", "Connection: close\r\n"), 1), In(Ok("bye", "Connection: close\r\n"), 2)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         EXPECT_TRUE(o.exchanges[0].complete);
         EXPECT_EQ(FindHeader(o.exchanges[0].request.headers, "connection"), "close");
         EXPECT_EQ(o.exchanges[0].response.body.data, "bye");
       }});

  cases.push_back(
      {"Http10KeepAlive",
       {RoleHint::kClient,
        {Out("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1),
         In("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 2),
         Out("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 3),
         In("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\ny", 4)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         EXPECT_EQ(o.exchanges[1].request.target, "/2");
         EXPECT_EQ(o.exchanges[1].response.body.data, "y");
         EXPECT_TRUE(o.exchanges[1].complete);
       }});

  cases.push_back(
      {"WebSocketUpgradeStopsParsing",
       {RoleHint::kClient,
        {Out(Get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"), 1),
         In("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "\r\n\x81\x05hello",
            2),
         Out("\x81\x85garbageGET / HTTP/1.1\r\n\r\n", 3)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         const Exchange& e = o.exchanges[0];
         EXPECT_EQ(e.response.status, 101u);
         EXPECT_TRUE(HasNote(e, "connection upgraded to websocket"));
         EXPECT_EQ(o.counters.upgrades, 1u);
         EXPECT_EQ(o.counters.parse_errors, 0u);
       }});

  cases.push_back(
      {"UpgradeWhileRequestBodyInFlight",
       {RoleHint::kClient,
        {Out("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 1),
         In("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n", 2),
         Out("defg", 3)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         const Exchange& e = o.exchanges[0];
         EXPECT_EQ(e.response.status, 101u);
         EXPECT_EQ(e.request.body.data, "abc");
         EXPECT_EQ(e.request.body.encoded_size, 3u);
         EXPECT_TRUE(HasNote(e, "connection upgraded to x"));
         EXPECT_TRUE(HasNote(e, "request incomplete: connection closed"));
         EXPECT_EQ(o.counters.bytes_not_parsed, 4u);
       }});

  cases.push_back({"ConnectTunnelStopsParsing",
                   {RoleHint::kClient,
                    {Out("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n", 1),
                     In("HTTP/1.1 200 Connection Established\r\n\r\n", 2),
                     Out("\x16\x03\x01 tls", 3), In("\x16\x03\x03 tls", 4)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     const Exchange& e = o.exchanges[0];
                     EXPECT_EQ(e.request.method, "CONNECT");
                     EXPECT_EQ(e.request.target, "example.test:443");
                     EXPECT_EQ(e.response.status, 200u);
                     EXPECT_TRUE(e.complete);
                     EXPECT_TRUE(HasNote(e, "CONNECT tunnel established"));
                     EXPECT_EQ(o.counters.connect_tunnels, 1u);
                   }});

  cases.push_back(
      {"RefusedUpgradeContinuesHttp",
       {RoleHint::kClient,
        {Out(Get("/h2", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n") + Get("/next"),
             1),
         In(Ok("no upgrade") + Ok("next"), 2)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         EXPECT_EQ(o.exchanges[0].response.body.data, "no upgrade");
         EXPECT_EQ(o.exchanges[1].request.target, "/next");
         EXPECT_EQ(o.exchanges[1].response.body.data, "next");
         EXPECT_EQ(o.counters.upgrades, 0u);
       }});

  cases.push_back({"ServerRoleRequestsOnIngress",
                   {RoleHint::kServer, {In(Get("/s"), 1), Out(Ok("srv"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_FALSE(o.exchanges[0].traced_process_is_client());
                     EXPECT_EQ(o.exchanges[0].request_direction, Direction::kIngress);
                     EXPECT_EQ(o.exchanges[0].response.body.data, "srv");
                   }});

  cases.push_back({"UnknownRoleDecidedByContent",
                   {RoleHint::kUnknown, {In(Get("/u"), 1), Out(Ok("x"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].request_direction, Direction::kIngress);
                     EXPECT_TRUE(o.exchanges[0].complete);
                     EXPECT_EQ(o.counters.role_hint_overridden, 0u);
                   }});

  cases.push_back({"UnknownRoleResponseSeenFirst",
                   {RoleHint::kUnknown, {Out(Get("/u"), 1), In(Ok("x"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].request_direction, Direction::kEgress);
                   }});

  cases.push_back({"WrongHintOverriddenByContent",
                   {RoleHint::kServer, {Out(Get("/w"), 1), In(Ok("x"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].request_direction, Direction::kEgress);
                     EXPECT_TRUE(o.exchanges[0].complete);
                     EXPECT_EQ(o.counters.role_hint_overridden, 1u);
                   }});

  cases.push_back({"MidStreamStartResynchronises",
                   {RoleHint::kClient,
                    {Out("dy of an earlier request}\r\n", 1),
                     In("of an earlier response, with HTTP/1.1 inside\n", 2), Out(Get("/after"), 3),
                     In(Ok("fine"), 4)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].request.target, "/after");
                     EXPECT_EQ(o.exchanges[0].response.body.data, "fine");
                     EXPECT_TRUE(o.exchanges[0].complete);
                     EXPECT_EQ(o.counters.resync_skipped_bytes, 27u + 45u);
                   }});

  cases.push_back({"ResponseWithoutRequest",
                   {RoleHint::kClient, {In(Ok("orphan"), 1), Out(Get("/x"), 2), In(Ok("y"), 3)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 2u);
                     EXPECT_FALSE(o.exchanges[0].has_request);
                     EXPECT_EQ(o.exchanges[0].response.body.data, "orphan");
                     EXPECT_TRUE(HasNote(o.exchanges[0], "request not captured"));
                     EXPECT_FALSE(o.exchanges[0].complete);
                     EXPECT_TRUE(o.exchanges[1].complete);
                     EXPECT_EQ(o.counters.responses_without_request, 1u);
                   }});

  cases.push_back({"RequestWithoutResponseAtClose",
                   {RoleHint::kClient, {Out(Get("/lonely"), 1)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_FALSE(o.exchanges[0].has_response);
                     EXPECT_FALSE(o.exchanges[0].complete);
                     EXPECT_THAT(o.exchanges[0].notes,
                                 ElementsAre("response missing: connection closed"));
                     EXPECT_EQ(o.counters.requests_without_response, 1u);
                   }});

  cases.push_back(
      {"ResponseCutByClose",
       {RoleHint::kClient,
        {Out(Get("/cut"), 1), In("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         EXPECT_TRUE(o.exchanges[0].has_response);
         EXPECT_FALSE(o.exchanges[0].response_complete);
         EXPECT_EQ(o.exchanges[0].response.body.data, "abc");
         EXPECT_TRUE(HasNote(o.exchanges[0], "response incomplete: connection closed"));
       }});

  const std::string text(3000, 'z');
  cases.push_back(
      {"GzipBodyDecoded",
       {RoleHint::kClient,
        {Out(Get("/gz"), 1), In(Ok(Compress(text, true), "Content-Encoding: gzip\r\n"), 2)}},
       [text](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         const Body& b = o.exchanges[0].response.body;
         EXPECT_EQ(b.decoded_from, "gzip");
         EXPECT_EQ(b.data, text);
         EXPECT_EQ(b.size, 3000u);
         EXPECT_EQ(b.encoded_size, Compress(text, true).size());
         EXPECT_FALSE(b.truncated);
         EXPECT_EQ(o.counters.bodies_decoded, 1u);
       }});

  cases.push_back({"DeflateBodyDecoded",
                   {RoleHint::kClient,
                    {Out(Get("/df"), 1),
                     In(Ok(Compress("deflated text", false), "Content-Encoding: deflate\r\n"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].response.body.decoded_from, "deflate");
                     EXPECT_EQ(o.exchanges[0].response.body.data, "deflated text");
                   }});

  cases.push_back({"CorruptGzipKeptAsSent",
                   {RoleHint::kClient,
                    {Out(Get("/bad"), 1), In(Ok("not gzip", "Content-Encoding: gzip\r\n"), 2)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     EXPECT_EQ(o.exchanges[0].response.body.data, "not gzip");
                     EXPECT_TRUE(o.exchanges[0].response.body.decoded_from.empty());
                     EXPECT_TRUE(HasNote(o.exchanges[0], "not valid gzip"));
                     EXPECT_EQ(o.counters.decode_errors, 1u);
                   }});

  {
    Script s{RoleHint::kClient, {Out(Get("/big"), 1), In(Ok(std::string(100, 'b')), 2)}};
    s.options.max_body_bytes = 10;
    cases.push_back({"BodyLimitKeepsTrueSize", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 1u);
                       const Body& b = o.exchanges[0].response.body;
                       EXPECT_EQ(b.data, std::string(10, 'b'));
                       EXPECT_EQ(b.size, 100u);
                       EXPECT_TRUE(b.truncated);
                       EXPECT_TRUE(o.exchanges[0].complete);
                       EXPECT_EQ(o.counters.bodies_truncated, 1u);
                       EXPECT_EQ(o.counters.body_bytes_not_kept, 90u);
                     }});
  }

  {
    Script s{RoleHint::kClient,
             {Out(Get("/h", "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), 1), In(Ok("k"), 2)}};
    s.options.max_headers = 3;
    cases.push_back({"TooManyHeaders", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 1u);
                       ASSERT_EQ(o.exchanges[0].request.headers.size(), 3u);
                       EXPECT_EQ(o.exchanges[0].request.headers[2].name, "B");
                       EXPECT_TRUE(HasNote(o.exchanges[0], "request headers: more than 3"));
                       EXPECT_EQ(o.exchanges[0].response.body.data, "k");
                       EXPECT_EQ(o.counters.too_many_headers, 1u);
                     }});
  }

  {
    Script s{
        RoleHint::kClient,
        {Out(Get("/h", "Big: " + std::string(200, 'v') + "\r\nAfter: 1\r\n"), 1), In(Ok("k"), 2)}};
    s.options.max_header_block_bytes = 64;
    cases.push_back({"HeaderBlockTooLarge", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 1u);
                       const Request& r = o.exchanges[0].request;
                       EXPECT_EQ(r.target, "/h");
                       ASSERT_EQ(r.headers.size(), 2u);  // Host, Big (cut); After dropped
                       EXPECT_LT(r.headers[1].value.size(), 64u);
                       EXPECT_TRUE(HasNote(o.exchanges[0], "request headers: more than 64 bytes"));
                       EXPECT_EQ(o.exchanges[0].response.body.data, "k");
                       EXPECT_EQ(o.counters.header_block_too_large, 1u);
                     }});
  }

  {
    Script s{RoleHint::kClient, {Out(Get("/1") + Get("/2") + Get("/3") + Get("/4"), 1)}};
    s.options.max_pending_requests = 2;
    cases.push_back({"PendingRequestLimit", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 4u);
                       EXPECT_EQ(o.exchanges[0].request.target, "/1");
                       EXPECT_TRUE(HasNote(o.exchanges[0], "more than 2 requests pending"));
                       EXPECT_TRUE(HasNote(o.exchanges[3], "connection closed"));
                       EXPECT_EQ(o.counters.pending_requests_overflow, 2u);
                     }});
  }

  {
    // Found by test/stress (a pipelined burst of 1000 requests): the responses of the requests
    // emitted unanswered were paired with the next pending ones, shifting every later pair.
    Script s{RoleHint::kClient,
             {Out(Get("/1") + Get("/2") + Get("/3") + Get("/4"), 1),
              In(Ok("r1") + Ok("r2") + Ok("r3") + Ok("r4"), 2)}};
    s.options.max_pending_requests = 2;
    cases.push_back({"PendingLimitKeepsLaterResponsesWithTheirRequests", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 4u);
                       EXPECT_EQ(o.exchanges[0].request.target, "/1");
                       EXPECT_FALSE(o.exchanges[0].has_response);
                       EXPECT_EQ(o.exchanges[1].request.target, "/2");
                       EXPECT_FALSE(o.exchanges[1].has_response);
                       EXPECT_EQ(o.exchanges[2].request.target, "/3");
                       EXPECT_EQ(o.exchanges[2].response.body.data, "r3");
                       EXPECT_TRUE(o.exchanges[2].complete);
                       EXPECT_EQ(o.exchanges[3].request.target, "/4");
                       EXPECT_EQ(o.exchanges[3].response.body.data, "r4");
                       EXPECT_TRUE(o.exchanges[3].complete);
                       EXPECT_EQ(o.counters.evicted_request_responses, 2u);
                       EXPECT_EQ(o.counters.responses_without_request, 0u);
                     }});
  }

  {
    Script s{RoleHint::kClient,
             {Out(Get("/1"), 1), In("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2),
              Out(Get("/2") + Get("/3"), 3), In("defghij", 4)}};
    s.options.max_pending_requests = 2;
    cases.push_back({"PendingLimitWhileOldestIsAnsweredStopsParsing", s, [](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 2u);
                       EXPECT_EQ(o.exchanges[0].request.target, "/1");
                       EXPECT_EQ(o.exchanges[0].response.body.data, "abc");
                       EXPECT_TRUE(
                           HasNote(o.exchanges[0], "response incomplete: connection closed"));
                       EXPECT_EQ(o.exchanges[1].request.target, "/2");
                       EXPECT_TRUE(HasNote(o.exchanges[1], "requests pending: later bytes"));
                       EXPECT_EQ(o.counters.pending_requests_overflow, 1u);
                     }});
  }

  cases.push_back(
      {"GapInsideContentLengthBodyKeepsFraming",
       {RoleHint::kClient,
        {Out(Get("/a"), 1), In("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2, 4),
         In("xyz", 3), Out(Get("/b"), 4), In(Ok("next"), 5)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         const Exchange& a = o.exchanges[0];
         EXPECT_EQ(a.response.body.data, "abcxyz");
         EXPECT_EQ(a.response.body.size, 10u);
         EXPECT_EQ(a.response.body.missing_bytes, 4u);
         EXPECT_TRUE(a.response.body.truncated);
         EXPECT_FALSE(a.complete);
         EXPECT_THAT(a.notes, ElementsAre("response body: 4 of 10 bytes not captured"));
         EXPECT_TRUE(o.exchanges[1].complete);
         EXPECT_EQ(o.exchanges[1].response.body.data, "next");
         EXPECT_EQ(o.counters.body_gap_bytes, 4u);
       }});

  cases.push_back(
      {"KernelCopiedOnlyHeadersOfLargeBody",
       {RoleHint::kClient,
        {Out(Get("/a"), 1), In("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 2, 100000),
         Out(Get("/b"), 3), In(Ok("ok"), 4)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         EXPECT_EQ(o.exchanges[0].response.body.size, 100000u);
         EXPECT_EQ(o.exchanges[0].response.body.missing_bytes, 100000u);
         EXPECT_EQ(o.exchanges[0].end_time_ns, 2u);
         EXPECT_TRUE(o.exchanges[1].complete);
       }});

  cases.push_back(
      {"GapFromBodyEndIntoNextResponse",
       {RoleHint::kClient,
        {Out(Get("/a") + Get("/b"), 1),
         In("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", 2, 2 + 3),
         In("P/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 3), Out(Get("/c"), 4), In(Ok("c"), 5)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 3u);
         EXPECT_EQ(o.exchanges[0].response.body.data, "abc");
         EXPECT_EQ(o.exchanges[0].response.body.missing_bytes, 2u);
         EXPECT_EQ(o.exchanges[1].request.target, "/b");
         EXPECT_FALSE(o.exchanges[1].has_response);
         EXPECT_TRUE(HasNote(o.exchanges[1], "response lost: its first bytes were not captured"));
         EXPECT_EQ(o.exchanges[2].request.target, "/c");
         EXPECT_EQ(o.exchanges[2].response.body.data, "c");
         EXPECT_TRUE(o.exchanges[2].complete);
       }});

  cases.push_back(
      {"GapEndingAtAMessageStartIsNoted",
       {RoleHint::kClient,
        {Out(Get("/a"), 1, 20), In(Ok("a"), 2), In(Ok("b"), 3), Out(Get("/c"), 4), In(Ok("c"), 5)}},
       [](const Outcome& o) {
         // The 20 lost bytes held a request (/b): its response is recognised as answering a
         // request never seen (it came before /c was sent), and /c says bytes were lost.
         ASSERT_EQ(o.exchanges.size(), 3u);
         EXPECT_TRUE(o.exchanges[0].complete);
         EXPECT_FALSE(o.exchanges[1].has_request);
         EXPECT_EQ(o.exchanges[1].response.body.data, "b");
         EXPECT_EQ(o.exchanges[2].request.target, "/c");
         EXPECT_EQ(o.exchanges[2].response.body.data, "c");
         EXPECT_TRUE(HasNote(
             o.exchanges[2],
             "request: 20 bytes were lost just before it; earlier messages may be missing"));
       }});

  cases.push_back({"GapInCloseDelimitedBodyKeepsFraming",
                   {RoleHint::kClient,
                    {Out("GET / HTTP/1.0\r\n\r\n", 1), In("HTTP/1.0 200 OK\r\n\r\nbegin", 2, 1000),
                     In("end", 3)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 1u);
                     const Body& b = o.exchanges[0].response.body;
                     EXPECT_EQ(b.data, "beginend");
                     EXPECT_EQ(b.size, 1008u);
                     EXPECT_EQ(b.missing_bytes, 1000u);
                     EXPECT_EQ(o.exchanges[0].end_time_ns, 3u);
                     EXPECT_TRUE(
                         HasNote(o.exchanges[0], "response body: 1000 of 1008 bytes not captured"));
                   }});

  {
    std::string numbers;
    for (int i = 0; i < 3000; ++i) absl::StrAppend(&numbers, i * 7919 % 10007, ",");
    const std::string gz = Compress(numbers, true);
    Script s{RoleHint::kClient, {Out(Get("/n"), 1), In(Ok(gz, "Content-Encoding: gzip\r\n"), 2)}};
    s.options.max_body_bytes = 300;
    cases.push_back({"GzipBodyKeptOnlyInPartDecodesThePrefix", s, [numbers, gz](const Outcome& o) {
                       ASSERT_EQ(o.exchanges.size(), 1u);
                       const Body& b = o.exchanges[0].response.body;
                       EXPECT_EQ(b.decoded_from, "gzip");
                       EXPECT_TRUE(b.truncated);
                       EXPECT_EQ(b.size, gz.size());
                       EXPECT_EQ(b.encoded_size, gz.size());
                       ASSERT_GT(b.data.size(), 100u);
                       EXPECT_EQ(numbers.compare(0, b.data.size(), b.data), 0);
                       EXPECT_TRUE(
                           HasNote(o.exchanges[0], absl::StrCat("decoded from the first 300 of ",
                                                                gz.size(), " encoded bytes only")));
                     }});
  }

  cases.push_back({"GapInsideChunkKeepsFraming",
                   {RoleHint::kClient,
                    {Out(Get("/c"), 1),
                     In("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01", 2, 5),
                     In("789\r\n0\r\n\r\n", 3), Out(Get("/d"), 4), In(Ok("d"), 5)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 2u);
                     EXPECT_EQ(o.exchanges[0].response.body.data, "01789");
                     EXPECT_EQ(o.exchanges[0].response.body.size, 10u);
                     EXPECT_EQ(o.exchanges[0].response.body.missing_bytes, 5u);
                     EXPECT_TRUE(o.exchanges[1].complete);
                   }});

  cases.push_back(
      {"GapInHeadersDropsMessageAndResyncs",
       {RoleHint::kClient,
        {Out(Get("/a"), 1), In("HTTP/1.1 200 OK\r\nContent-Le", 2, 3), In("th: 5\r\n\r\nhello", 3),
         Out(Get("/b"), 4), In(Ok("b"), 5)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         EXPECT_EQ(o.exchanges[0].request.target, "/a");
         EXPECT_FALSE(o.exchanges[0].response_complete);
         EXPECT_TRUE(HasNote(o.exchanges[0], "response incomplete: 3 bytes lost in the headers"));
         EXPECT_EQ(o.exchanges[1].request.target, "/b");
         EXPECT_EQ(o.exchanges[1].response.body.data, "b");
         EXPECT_TRUE(o.exchanges[1].complete);
         EXPECT_EQ(o.counters.messages_dropped_gap, 1u) << Canonical(o);
       }});

  cases.push_back({"ParseErrorResyncsOnNextRequest",
                   {RoleHint::kClient,
                    {Out("GET /a HTTP/1.1\r\nBad Header Line\r\n\r\n", 1), In(Ok("a"), 2),
                     Out(Get("/b"), 3), In(Ok("b"), 4)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 2u);
                     EXPECT_TRUE(HasNote(o.exchanges[0], "request incomplete: parse error"));
                     EXPECT_EQ(o.exchanges[0].response.body.data, "a");
                     EXPECT_TRUE(o.exchanges[1].complete);
                     EXPECT_EQ(o.counters.parse_errors, 1u);
                     EXPECT_EQ(o.counters.messages_dropped_parse_error, 1u);
                   }});

  cases.push_back(
      {"HeadersInWireOrderWithDuplicatesAndEmptyValue",
       {RoleHint::kClient,
        {Out("GET / HTTP/1.1\r\nB: 1\r\nA: 2\r\nEmpty:\r\nB: 3\r\n\r\n", 1), In(Ok("x"), 2)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         const auto& h = o.exchanges[0].request.headers;
         ASSERT_EQ(h.size(), 4u);
         EXPECT_EQ(h[0].name, "B");
         EXPECT_EQ(h[1].name, "A");
         EXPECT_EQ(h[2].name, "Empty");
         EXPECT_EQ(h[2].value, "");
         EXPECT_EQ(h[3].name, "B");
         EXPECT_EQ(h[3].value, "3");
       }});

  cases.push_back(
      {"LenientHeaderValuesAndChunkedWithContentLength",
       {RoleHint::kClient,
        {Out("GET / HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n\r\n", 1),
         In("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\nok\r\n0\r\n\r\n",
            2)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         EXPECT_EQ(o.exchanges[0].request.headers[0].value, "caf\xc3\xa9");
         EXPECT_EQ(o.exchanges[0].response.body.data, "ok");
         EXPECT_TRUE(o.exchanges[0].complete);
       }});

  cases.push_back(
      {"EarlyResponseBeforeRequestBodyEnds",
       {RoleHint::kClient,
        {Out("POST /up HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc", 1),
         In("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n", 2), Out("def", 3)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 1u);
         EXPECT_EQ(o.exchanges[0].response.status, 413u);
         EXPECT_EQ(o.exchanges[0].request.body.data, "abcdef");
         EXPECT_TRUE(o.exchanges[0].complete);
       }});

  // HTTP/1.x as real peers send it (issue 25): empty lines before a request line (RFC 9112
  // 2.2), methods libhttp-parser does not know (methods.txt: QUERY, and IANA's others), HTAB as
  // OWS around field values (RFC 9110 5.6.3), on both sides of the connection.
  cases.push_back({"EmptyLinesBeforeARequestLine",
                   {RoleHint::kServer,
                    {In("\r\n\r\n" + Get("/first"), 10), Out(Ok("1"), 20),
                     In("\r\n" + Get("/second"), 30), Out(Ok("2"), 40)}},
                   [](const Outcome& o) {
                     ASSERT_EQ(o.exchanges.size(), 2u);
                     EXPECT_EQ(o.exchanges[0].request.target, "/first");
                     EXPECT_EQ(o.exchanges[1].request.target, "/second");
                     for (const Exchange& e : o.exchanges) {
                       EXPECT_TRUE(e.complete);
                       EXPECT_TRUE(e.notes.empty()) << e.notes[0];
                     }
                     EXPECT_EQ(o.counters.parse_errors, 0u);
                     EXPECT_EQ(o.counters.messages_dropped_gap, 0u);
                   }});
  cases.push_back(
      {"MethodsBeyondHttpParsersList",
       {RoleHint::kClient,
        {Out("QUERY /search HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\nq=terms", 10),
         In(Ok("found"), 20), Out("LABEL /doc HTTP/1.1\r\nHost: h\r\n\r\n", 30),
         Out("UPDATEREDIRECTREF /r HTTP/1.1\r\nHost: h\r\n\r\n", 31), In(Ok("a"), 40),
         In(Ok("b"), 41), Out(Get("/after"), 50), In(Ok("c"), 60)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 4u);
         EXPECT_EQ(o.exchanges[0].request.method, "QUERY");
         EXPECT_EQ(o.exchanges[0].request.target, "/search");
         EXPECT_EQ(o.exchanges[0].request.body.data, "q=terms");
         EXPECT_EQ(o.exchanges[0].response.body.data, "found");
         EXPECT_EQ(o.exchanges[1].request.method, "LABEL");
         EXPECT_EQ(o.exchanges[1].request.target, "/doc");
         // Deliberate differences from llhttp are said (README.md); QUERY is not one.
         EXPECT_TRUE(o.exchanges[0].notes.empty());
         EXPECT_TRUE(HasNote(o.exchanges[1], "LABEL is in IANA's registry; Node's llhttp"));
         EXPECT_EQ(o.exchanges[2].request.method, "UPDATEREDIRECTREF");
         EXPECT_EQ(o.exchanges[3].request.method, "GET");
         for (const Exchange& e : o.exchanges) EXPECT_TRUE(e.complete);
         EXPECT_EQ(o.counters.parse_errors, 0u);
       }});
  cases.push_back(
      {"TabsAroundFieldValues",
       {RoleHint::kServer,
        {In("POST /t HTTP/1.1\r\nHost:\th\t\r\nContent-Length:\t4\t\r\n"
            "X-Inner: a\tb \t\r\n\r\nbody",
            10),
         Out("HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\t\r\nConnection: \tkeep-alive\t"
             "\r\n\r\n3\r\na\tb\r\n0\r\nT:\tv\t\r\n\r\n",
             20),
         In(Get("/next"), 30), Out(Ok("n"), 40)}},
       [](const Outcome& o) {
         ASSERT_EQ(o.exchanges.size(), 2u);
         const Exchange& e = o.exchanges[0];
         EXPECT_TRUE(e.complete);
         ASSERT_EQ(e.request.headers.size(), 3u);
         EXPECT_EQ(e.request.headers[0].value, "h");
         EXPECT_EQ(e.request.headers[1].value, "4");
         EXPECT_EQ(e.request.headers[2].value, "a\tb");  // HTAB inside a value stays
         EXPECT_EQ(e.request.body.data, "body");
         EXPECT_EQ(e.response.body.data, "a\tb");
         ASSERT_EQ(e.response.headers.size(), 2u);
         EXPECT_EQ(e.response.headers[0].value, "chunked");
         EXPECT_EQ(e.response.headers[1].value, "keep-alive");
         ASSERT_EQ(e.response.trailers.size(), 1u);
         EXPECT_EQ(e.response.trailers[0].value, "v");
         EXPECT_EQ(o.exchanges[1].request.target, "/next");
         EXPECT_TRUE(o.exchanges[1].complete);
         EXPECT_TRUE(HasNote(e, "request headers: HTAB after the Content-Length value"));
         EXPECT_TRUE(HasNote(e, "response headers: HTAB after the Transfer-Encoding value"));
         EXPECT_EQ(e.notes.size(), 2u);
         EXPECT_EQ(o.counters.parse_errors, 0u);
       }});

  return cases;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Http1ConnectionCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(Http1ConnectionCaseTest, SameOutcomeForEverySplit) {
  const Case& c = GetParam();
  Outcome whole = RunScript(c.script, Split::kWhole);
  {
    SCOPED_TRACE("whole");
    c.check(whole);
    // Conservation: every exchange begun was emitted or is still held (none after a close).
    EXPECT_TRUE(whole.balance.balanced())
        << whole.balance.started << " begun, " << whole.balance.emitted << " emitted, "
        << whole.balance.held << " held";
    if (c.script.close) EXPECT_EQ(whole.balance.held, 0u);
  }
  const std::string expected = Canonical(whole);
  {
    SCOPED_TRACE("one byte at a time");
    Outcome bytes = RunScript(c.script, Split::kOneByte);
    c.check(bytes);
    EXPECT_EQ(Canonical(bytes), expected);
  }
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(absl::StrCat("random pieces, seed ", seed));
    Outcome random = RunScript(c.script, Split::kRandom, seed);
    c.check(random);
    EXPECT_EQ(Canonical(random), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Http1ConnectionCaseTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

// Loses one byte at every position of one direction of a two-exchange conversation. A byte lost
// inside a body of known length keeps framing (the exchange says how much is missing); a byte
// lost elsewhere costs only the message it hit: the other exchange comes out exactly as without
// the gap, and every split of the input gives the same outcome.
struct GapConversation {
  Direction gap_direction;
  std::string first;              // message 1 in the gap direction
  std::string second;             // message 2 in the gap direction
  absl::string_view first_body;   // body data bytes of `first` (found in it)
  absl::string_view second_body;  // body data bytes of `second` (one chunk when chunked)
};

Script GapScript(const GapConversation& c, size_t p) {
  const bool requests = c.gap_direction == Direction::kEgress;
  const std::string req1 =
      requests ? c.first : "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  const std::string req2 = requests ? c.second : Get("/b");
  const std::string resp1 = requests ? Ok("first") : c.first;
  const std::string resp2 = requests ? Ok("second") : c.second;
  auto seg = [&](Direction d, const std::string& bytes, uint64_t ts, size_t offset) {
    std::vector<testing::Segment> out;
    if (d != c.gap_direction || p < offset || p >= offset + bytes.size()) {
      out.push_back({d, bytes, ts, 0});
      return out;
    }
    size_t at = p - offset;
    out.push_back({d, bytes.substr(0, at), ts, 1});
    if (at + 1 < bytes.size()) out.push_back({d, bytes.substr(at + 1), ts, 0});
    return out;
  };
  Script script;
  script.hint = RoleHint::kClient;
  const std::string& m1 = requests ? req1 : resp1;
  for (const auto& part : {std::make_tuple(Direction::kEgress, req1, 10, size_t{0}),
                           std::make_tuple(Direction::kIngress, resp1, 20, size_t{0}),
                           std::make_tuple(Direction::kEgress, req2, 30, req1.size()),
                           std::make_tuple(Direction::kIngress, resp2, 40, resp1.size())}) {
    auto [d, bytes, ts, offset] = part;
    size_t local = d == c.gap_direction ? (offset == 0 ? 0 : m1.size()) : 0;
    for (auto& s : seg(d, bytes, ts, local)) script.segments.push_back(s);
  }
  return script;
}

void CheckGapConversation(const GapConversation& c) {
  const bool requests = c.gap_direction == Direction::kEgress;
  const Outcome baseline = RunScript(GapScript(c, std::string::npos), Split::kWhole);
  ASSERT_EQ(baseline.exchanges.size(), 2u);
  ASSERT_TRUE(baseline.exchanges[0].complete);
  ASSERT_TRUE(baseline.exchanges[1].complete);
  const size_t total = c.first.size() + c.second.size();
  for (size_t p = 0; p < total; ++p) {
    SCOPED_TRACE(absl::StrCat("byte lost at ", p));
    const Script script = GapScript(c, p);
    const Outcome o = RunScript(script, Split::kWhole);
    EXPECT_EQ(Canonical(RunScript(script, Split::kOneByte)), Canonical(o));
    EXPECT_EQ(Canonical(RunScript(script, Split::kRandom, 3)), Canonical(o));
    ASSERT_EQ(o.exchanges.size(), 2u) << Canonical(o);
    EXPECT_EQ(o.counters.gap_bytes, 1u);
    const bool in_first = p < c.first.size();
    const size_t at = in_first ? p : p - c.first.size();
    const std::string& message = in_first ? c.first : c.second;
    const absl::string_view body_data = in_first ? c.first_body : c.second_body;
    const size_t body_begin = message.rfind(std::string(body_data));
    const size_t body = body_data.size();
    const Exchange& hit = o.exchanges[in_first ? 0 : 1];
    const Exchange& other = o.exchanges[in_first ? 1 : 0];
    EXPECT_EQ(DebugString(other), DebugString(baseline.exchanges[in_first ? 1 : 0]));
    EXPECT_FALSE(hit.complete);
    const Body& hit_body = requests ? hit.request.body : hit.response.body;
    if (at >= body_begin && at < body_begin + body) {
      // Inside the body: framing kept, one byte accounted as missing.
      EXPECT_EQ(hit_body.missing_bytes, 1u);
      EXPECT_EQ(hit_body.size, body);
      EXPECT_EQ(hit_body.data.size(), body - 1);
      EXPECT_TRUE(hit_body.truncated);
      EXPECT_EQ(o.counters.body_gap_bytes, 1u);
      EXPECT_TRUE(HasNote(hit, absl::StrCat("body: 1 of ", body, " bytes not captured")));
    } else {
      // Elsewhere: that message is dropped (and says so); its partner is intact.
      EXPECT_EQ(o.counters.messages_dropped_gap, 1u) << Canonical(o);
      EXPECT_TRUE(HasNote(hit, requests ? "request " : "response ")) << Canonical(o);
      const Exchange& base = baseline.exchanges[in_first ? 0 : 1];
      if (requests) {
        EXPECT_FALSE(hit.request_complete);
        EXPECT_EQ(hit.response.body.data, base.response.body.data);
      } else {
        EXPECT_FALSE(hit.response_complete);
        EXPECT_EQ(hit.request.target, base.request.target) << Canonical(o);
      }
    }
  }
}

TEST(Http1ConnectionGapTest, ByteLostAtEveryPositionOfResponses) {
  CheckGapConversation({Direction::kIngress,
                        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX: y\r\n\r\n0123456789",
                        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nabcde\r\n0\r\n\r\n",
                        "0123456789", "abcde"});
}

TEST(Http1ConnectionGapTest, ByteLostAtEveryPositionOfRequests) {
  CheckGapConversation({Direction::kEgress,
                        "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\npayload",
                        "PUT /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz", "payload", "xyz"});
}

// Chunks delivered out of order within the reorder window give the in-order outcome.
TEST(Http1ConnectionReorderTest, SwappedChunksGiveTheSameExchanges) {
  const std::string req = Get("/r", "Accept: */*\r\n");
  const std::string resp = Ok("reordered body");
  auto run = [&](bool swap) {
    std::vector<Exchange> out;
    Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                         [&](Exchange&& e) { out.push_back(std::move(e)); });
    auto feed = [&](Direction d, const std::string& bytes, uint64_t ts) {
      size_t a = bytes.size() / 3, b = 2 * bytes.size() / 3;
      absl::string_view v(bytes);
      if (swap) {
        conn.OnData(d, a, v.substr(a, b - a), b - a, ts);
        conn.OnData(d, b, v.substr(b), bytes.size() - b, ts);
        conn.OnData(d, 0, v.substr(0, a), a, ts);
      } else {
        conn.OnData(d, 0, v.substr(0, a), a, ts);
        conn.OnData(d, a, v.substr(a, b - a), b - a, ts);
        conn.OnData(d, b, v.substr(b), bytes.size() - b, ts);
      }
    };
    feed(Direction::kEgress, req, 1);
    feed(Direction::kIngress, resp, 2);
    conn.OnClose(3);
    EXPECT_EQ(conn.counters().gaps, 0u);
    EXPECT_EQ(conn.counters().reordered_chunks, swap ? 4u : 0u);
    std::string text;
    for (const Exchange& e : out) text += DebugString(e);
    return text;
  };
  const std::string in_order = run(false);
  EXPECT_THAT(in_order, HasSubstr("reordered body"));
  EXPECT_EQ(run(true), in_order);
}

TEST(Http1ConnectionReorderTest, FullWindowDeclaresTheHoleAGap) {
  EngineOptions options;
  options.max_reorder_chunks = 2;
  std::vector<Exchange> out;
  Http1Connection conn(options, RoleHint::kClient,
                       [&](Exchange&& e) { out.push_back(std::move(e)); });
  const std::string first = Get("/1");
  const std::string second = Get("/2");
  // Bytes [0, 5) of the first request never arrive; the second request follows.
  const std::string stream = first + second;
  for (size_t pos = 5; pos < stream.size(); pos += 10) {
    conn.OnData(Direction::kEgress, pos, absl::string_view(stream).substr(pos, 10),
                std::min<size_t>(10, stream.size() - pos), 1);
  }
  EXPECT_EQ(conn.counters().gaps, 1u);
  EXPECT_EQ(conn.counters().gap_bytes, 5u);
  EXPECT_GE(conn.counters().reorder_window_overflows, 1u);
  conn.OnData(Direction::kIngress, 0, Ok("two"), Ok("two").size(), 2);
  conn.OnClose(3);
  // The first response answers the request whose start was lost, not /2.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].has_request);
  EXPECT_TRUE(HasNote(out[0], "request lost"));
  EXPECT_EQ(out[0].response.body.data, "two");
  EXPECT_EQ(out[1].request.target, "/2");
  EXPECT_TRUE(HasNote(out[1], "response missing: connection closed"));
}

TEST(Http1ConnectionReorderTest, DuplicateChunksAreIgnored) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                       [&](Exchange&& e) { out.push_back(std::move(e)); });
  const std::string req = Get("/dup");
  conn.OnData(Direction::kEgress, 0, req, req.size(), 1);
  conn.OnData(Direction::kEgress, 0, req, req.size(), 1);
  conn.OnData(Direction::kIngress, 0, Ok("x"), Ok("x").size(), 2);
  conn.OnClose(3);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].complete);
  EXPECT_EQ(conn.counters().stale_chunks, 1u);
}

TEST(Http1ConnectionLimitTest, BufferLimitBoundsResyncBytes) {
  EngineOptions options;
  options.max_buffered_bytes = 4 * 1024;  // 1 KiB per resync buffer
  Http1Connection conn(options, RoleHint::kClient, [](Exchange&&) {});
  // A start line that never ends must not grow the buffer without bound.
  std::string line = "GET /" + std::string(100000, 'a');
  conn.OnData(Direction::kEgress, 0, line, line.size(), 1);
  EXPECT_GT(conn.counters().resync_skipped_bytes + conn.counters().buffer_overflow_bytes, 90000u);
  conn.OnClose(2);
  EXPECT_EQ(conn.counters().exchanges, 0u);
}

TEST(Http1ConnectionTest, DataAfterCloseIsCountedAndIgnored) {
  int exchanges = 0;
  Http1Connection conn(EngineOptions{}, RoleHint::kClient, [&](Exchange&&) { ++exchanges; });
  conn.OnClose(1);
  const std::string req = Get("/late");
  conn.OnData(Direction::kEgress, 0, req, req.size(), 2);
  EXPECT_EQ(exchanges, 0);
  EXPECT_EQ(conn.counters().bytes_not_parsed, req.size());
  EXPECT_TRUE(conn.stopped());
}

// busybox httpd: a server answers with a close-delimited 404 and shuts down its sending side
// (then exits later, or never closes while the client lingers): the exchange is complete at the
// shutdown, not at a close or an idle timeout.
TEST(Http1ConnectionTest, ServerShutdownEndsACloseDelimitedResponseAtOnce) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kServer, [&](Exchange&& e) { out.push_back(e); });
  const std::string req = Get("/missing");
  const std::string resp = "HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\nno such";
  conn.OnData(Direction::kIngress, 0, req, req.size(), 1);
  conn.OnData(Direction::kEgress, 0, resp, resp.size(), 2);
  EXPECT_TRUE(out.empty());                    // the body ends at the end of the stream
  conn.OnEndOfStream(Direction::kIngress, 3);  // the requests' direction: nothing changes
  EXPECT_TRUE(out.empty());
  conn.OnEndOfStream(Direction::kEgress, 4);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].complete);
  EXPECT_EQ(out[0].response.status, 404u);
  EXPECT_EQ(out[0].response.body.data, "no such");
  EXPECT_EQ(out[0].end_time_ns, 2u);
}

// A client that shuts down its sending side after the request still gets its response.
TEST(Http1ConnectionTest, ClientShutdownKeepsWaitingForTheResponse) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kClient, [&](Exchange&& e) { out.push_back(e); });
  const std::string req = Get("/x");
  conn.OnData(Direction::kEgress, 0, req, req.size(), 1);
  conn.OnEndOfStream(Direction::kEgress, 2);
  EXPECT_TRUE(out.empty());
  const std::string resp = Ok("hi");
  conn.OnData(Direction::kIngress, 0, resp, resp.size(), 3);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].complete);
}

// sendfile: the body's bytes never pass through user memory. They are counted and named as
// sent from a file, and the exchange is complete (nothing was lost); a real gap is still a loss.
TEST(Http1ConnectionTest, BytesSentFromAFileAreNamedNotLost) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kServer, [&](Exchange&& e) { out.push_back(e); });
  const std::string req = Get("/file");
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  conn.OnData(Direction::kIngress, 0, req, req.size(), 1);
  conn.OnData(Direction::kEgress, 0, head, head.size(), 2);
  conn.OnData(Direction::kEgress, head.size(), "", 1000, 3, /*from_file=*/true);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].complete);
  EXPECT_EQ(out[0].response.body.size, 1000u);
  EXPECT_EQ(out[0].response.body.file_bytes, 1000u);
  EXPECT_TRUE(out[0].response.body.truncated);
  EXPECT_THAT(out[0].notes,
              ElementsAre("response body: 1000 bytes sent from a file, not captured"));

  // The same response with 10 bytes lost before the file part: a loss, and named as one.
  out.clear();
  const std::string req2 = Get("/file2");
  const std::string head2 = "HTTP/1.1 200 OK\r\nContent-Length: 1010\r\n\r\n0123456789";
  const uint64_t in2 = req.size(), out2 = head.size() + 1000;
  conn.OnData(Direction::kIngress, in2, req2, req2.size(), 4);
  conn.OnData(Direction::kEgress, out2, head2.substr(0, head2.size() - 10), head2.size() - 10, 5);
  conn.OnData(Direction::kEgress, out2 + head2.size(), "", 1000, 6, /*from_file=*/true);
  conn.OnClose(7);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].complete);
  EXPECT_THAT(out[0].notes, ::testing::Contains("response body: 1000 bytes sent from a file, "
                                                "not captured"));
  EXPECT_THAT(out[0].notes, ::testing::Contains("response body: 10 of 1010 bytes not captured"));
}

// The probes copy no more of an HTTP/1 message than the sessions keep (body limit + header
// allowance): the rest of a Content-Length body is a tail not copied. The exchange is complete,
// its body truncated, nothing counted lost; the next exchange is whole.
TEST(Http1ConnectionNotCopiedTest, ContentLengthBodyPastTheLimitIsTruncatedNotLost) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kServer, [&](Exchange&& e) { out.push_back(e); });
  const std::string req = Get("/big");
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n";
  const std::string copied = head + std::string(4096, 'b');
  conn.OnData(Direction::kIngress, 0, req, req.size(), 1);
  // One write of the whole response, copied up to the limit.
  conn.OnData(Direction::kEgress, 0, copied, head.size() + 65536, 2, false, /*not_copied=*/true);
  const std::string req2 = Get("/small");
  conn.OnData(Direction::kIngress, req.size(), req2, req2.size(), 3);
  const std::string resp2 = Ok("small");
  conn.OnData(Direction::kEgress, head.size() + 65536, resp2, resp2.size(), 4);
  conn.OnClose(5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].complete);
  EXPECT_TRUE(out[0].response.body.truncated);
  EXPECT_EQ(out[0].response.body.size, 65536u);
  EXPECT_EQ(out[0].response.body.data, std::string(4096, 'b'));
  EXPECT_EQ(out[0].response.body.not_copied_bytes, 65536u - 4096u);
  EXPECT_THAT(out[0].notes, ::testing::IsEmpty());
  EXPECT_TRUE(out[1].complete);
  EXPECT_EQ(out[1].request.target, "/small");
  EXPECT_EQ(out[1].response.body.data, "small");
  EXPECT_EQ(conn.counters().messages_dropped_gap, 0u);
  EXPECT_EQ(conn.losses().messages_dropped_gap, 0u);
}

// A chunked body cut by the limit: its end is in bytes never copied, so it ends where the next
// response starts (or at the end of the stream), complete and truncated, not dropped.
TEST(Http1ConnectionNotCopiedTest, ChunkedBodyPastTheLimitEndsAtTheNextMessage) {
  for (bool close_after : {false, true}) {
    SCOPED_TRACE(close_after ? "ends at close" : "ends at the next response");
    std::vector<Exchange> out;
    Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                         [&](Exchange&& e) { out.push_back(e); });
    const std::string req = Get("/chunked");
    conn.OnData(Direction::kEgress, 0, req, req.size(), 1);
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk = "4000\r\n" + std::string(0x4000, 'c') + "\r\n";
    const std::string wire = head + chunk + chunk + chunk + chunk + "0\r\n\r\n";
    const size_t copied = head.size() + 6 + 1000;  // the limit falls inside the first chunk
    // Read in 16 KiB pieces: the first partly copied, the rest not at all.
    uint64_t pos = 0;
    for (size_t piece = 0; pos < wire.size(); ++piece) {
      const uint64_t len = std::min<uint64_t>(16384, wire.size() - pos);
      const uint64_t got = pos < copied ? std::min<uint64_t>(len, copied - pos) : 0;
      conn.OnData(Direction::kIngress, pos, absl::string_view(wire).substr(pos, got), len,
                  2 + piece, false, /*not_copied=*/got < len);
      pos += len;
    }
    EXPECT_TRUE(out.empty());  // its end is not known yet
    if (close_after) {
      conn.OnClose(20);
      ASSERT_EQ(out.size(), 1u);
    } else {
      const std::string req2 = Get("/next");
      conn.OnData(Direction::kEgress, req.size(), req2, req2.size(), 10);
      const std::string resp2 = Ok("next");
      conn.OnData(Direction::kIngress, wire.size(), resp2, resp2.size(), 11);
      conn.OnClose(20);
      ASSERT_EQ(out.size(), 2u);
      EXPECT_TRUE(out[1].complete);
      EXPECT_EQ(out[1].response.body.data, "next");
    }
    EXPECT_TRUE(out[0].complete) << DebugString(out[0]);
    EXPECT_TRUE(out[0].response.body.truncated);
    EXPECT_EQ(out[0].response.body.data, std::string(1000, 'c'));
    EXPECT_EQ(out[0].response.body.size, wire.size() - copied + 1000);
    EXPECT_THAT(out[0].notes, ElementsAre("response body: chunked, not copied past 1000 bytes (the "
                                          "capture's body limit); its size counts the chunk "
                                          "framing"));
    EXPECT_EQ(conn.counters().messages_dropped_gap, 0u);
    EXPECT_EQ(conn.counters().exchanges, conn.balance()->started);
  }
}

// Headers larger than the per-message limit are never cut silently: the message is counted
// dropped (the tracker reports it as a stream gap loss), its exchange says why, and the next
// exchange is whole.
TEST(Http1ConnectionNotCopiedTest, HeadersPastTheLimitAreCountedLost) {
  std::vector<Exchange> out;
  Http1Connection conn(EngineOptions{}, RoleHint::kClient, [&](Exchange&& e) { out.push_back(e); });
  const std::string req = Get("/cookies");
  conn.OnData(Direction::kEgress, 0, req, req.size(), 1);
  const std::string head = "HTTP/1.1 200 OK\r\nSet-Cookie: " + std::string(12000, 'k') +
                           "\r\nContent-Length: 5\r\n\r\nhello";
  const size_t limit = 8192;
  conn.OnData(Direction::kIngress, 0, absl::string_view(head).substr(0, limit), head.size(), 2,
              false, /*not_copied=*/true);
  const std::string req2 = Get("/after");
  conn.OnData(Direction::kEgress, req.size(), req2, req2.size(), 3);
  const std::string resp2 = Ok("after");
  conn.OnData(Direction::kIngress, head.size(), resp2, resp2.size(), 4);
  conn.OnClose(5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].complete);
  EXPECT_FALSE(out[0].response_complete);
  EXPECT_THAT(out[0].notes,
              ::testing::Contains(absl::StrCat(
                  "response incomplete: ", head.size() - limit,
                  " bytes not copied in the headers: they exceed the probes' per-message copy "
                  "limit (the sessions' body limit + 8 KiB)")));
  EXPECT_EQ(conn.losses().messages_dropped_gap, 1u);
  EXPECT_TRUE(out[1].complete);
  EXPECT_EQ(out[1].response.body.data, "after");
}

TEST(Http1ConnectionTest, CountersHaveStableNames) {
  EngineCounters counters;
  counters.parse_errors = 3;
  std::vector<std::string> names;
  uint64_t parse_errors = 0;
  counters.ForEach([&](const char* name, uint64_t value) {
    names.push_back(name);
    if (std::string(name) == "http.parse_errors") parse_errors = value;
  });
  EXPECT_EQ(parse_errors, 3u);
  EXPECT_THAT(names, ::testing::Contains("http.header_block_too_large"));
  EXPECT_THAT(names, ::testing::Contains("http.gap_bytes"));
  EngineCounters sum;
  sum += counters;
  sum += counters;
  EXPECT_EQ(sum.parse_errors, 6u);
}

}  // namespace
}  // namespace httptrace::protocols::http1
