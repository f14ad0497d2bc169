// The HTTP/2 engine on conversations between two real libnghttp2 peers (nghttp2_peers_testing.h)
// and, for what nghttp2 will not send on cue (padding, CONTINUATION, gaps), on frames built here
// around nghttp2's HPACK deflater. Every conversation is fed whole, byte by byte and in random
// splits, and must give the same exchanges.

#include "agent/protocols/http2/http2_connection.h"

#include <nghttp2/nghttp2.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/protocols/common/compression_testing.h"
#include "agent/protocols/http2/nghttp2_peers_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protocols::http2 {
namespace {

using testing::Chunk;
using ::testing::Contains;
using testing::Fields;
using testing::GrpcFrame;
using ::testing::HasSubstr;
using testing::Nghttp2Peers;

enum class Split { kWhole, kByteByByte, kRandom };

struct Result {
  std::vector<Exchange> exchanges;
  Http2Counters counters;
  LossCounters losses;
  size_t held_at_end = 0;
};

// Feeds chunks (positions per direction from 0) and closes the connection.
Result Drive(const std::vector<Chunk>& chunks, Split split = Split::kWhole,
             EngineOptions options = {}, RoleHint hint = RoleHint::kClient, uint32_t seed = 1,
             bool close = true) {
  Result r;
  Http2Connection conn(options, hint, [&](Exchange&& e) { r.exchanges.push_back(std::move(e)); });
  std::map<Direction, uint64_t> position;
  std::mt19937 rng(seed);
  uint64_t ts = 1000;
  for (const Chunk& c : chunks) {
    size_t at = 0;
    while (at < c.bytes.size()) {
      size_t n = c.bytes.size() - at;
      if (split == Split::kByteByByte) n = 1;
      if (split == Split::kRandom)
        n = std::min(n, std::uniform_int_distribution<size_t>(1, 64)(rng));
      conn.OnData(c.direction, position[c.direction], absl::string_view(c.bytes).substr(at, n), n,
                  ts++, false);
      position[c.direction] += n;
      at += n;
    }
  }
  r.held_at_end = conn.HeldBytes();
  if (close) conn.OnClose(ts++);
  r.counters = conn.counters();
  r.losses = conn.losses();
  return r;
}

std::vector<std::string> Debug(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const Exchange& e : exchanges) {
    std::string s = DebugString(e);
    // Timestamps differ between splits; the content must not.
    out.push_back(s.substr(s.find(" requests_on=")));
  }
  return out;
}

// Same exchanges however the bytes are split.
void ExpectSplitInvariant(const std::vector<Chunk>& chunks, EngineOptions options = {}) {
  const std::vector<std::string> whole = Debug(Drive(chunks, Split::kWhole, options).exchanges);
  EXPECT_EQ(Debug(Drive(chunks, Split::kByteByByte, options).exchanges), whole) << "byte by byte";
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    ASSERT_EQ(Debug(Drive(chunks, Split::kRandom, options, RoleHint::kClient, seed).exchanges),
              whole)
        << "random split, seed " << seed;
  }
}

Fields Get(const std::string& path) {
  return {{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "example"}};
}

Fields GrpcRequest(const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":path", path},
          {":authority", "localhost:50051"},
          {"content-type", "application/grpc"},
          {"te", "trailers"}};
}

const Fields kGrpcResponse = {{":status", "200"}, {"content-type", "application/grpc"}};

TEST(Http2ConnectionTest, UnaryGetIsOneCompleteExchange) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/index.html"));
  peers.Pump();
  peers.Respond(id, {{":status", "200"}, {"content-type", "text/plain"}}, "hello world");
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  const Exchange& e = r.exchanges[0];
  EXPECT_TRUE(e.complete) << DebugString(e);
  EXPECT_EQ(e.stream_id, 1u);
  EXPECT_EQ(e.request.version, "HTTP/2");
  EXPECT_EQ(e.request.method, "GET");
  EXPECT_EQ(e.request.target, "/index.html");
  EXPECT_EQ(e.response.status, 200u);
  EXPECT_EQ(e.response.body.data, "hello world");
  EXPECT_EQ(e.response.body.size, 11u);
  EXPECT_TRUE(e.traced_process_is_client());
  // Pseudo-headers kept, in wire order.
  ASSERT_GE(e.request.headers.size(), 4u);
  EXPECT_EQ(e.request.headers[0].name, ":method");
  EXPECT_EQ(e.request.headers[2].name, ":path");
  EXPECT_EQ(e.response.headers[0].name, ":status");
  EXPECT_FALSE(e.grpc.has_value());
  EXPECT_GE(e.end_time_ns, e.response_start_time_ns);
  EXPECT_GE(e.response_start_time_ns, e.request_end_time_ns);
  EXPECT_EQ(r.counters.incomplete_exchanges, 0u);
  EXPECT_EQ(r.losses.gap_bytes + r.losses.parse_errors, 0u);
  ExpectSplitInvariant(peers.chunks());
}

TEST(Http2ConnectionTest, RolesComeFromContentWithoutAHint) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/"));
  peers.Pump();
  peers.Respond(id, {{":status", "204"}});
  peers.Pump();
  // The traced process is the server here: its ingress carries requests. Swap directions.
  std::vector<Chunk> swapped = peers.chunks();
  for (Chunk& c : swapped) c.direction = Opposite(c.direction);
  Result r = Drive(swapped, Split::kWhole, {}, RoleHint::kUnknown);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_FALSE(r.exchanges[0].traced_process_is_client());
  EXPECT_EQ(r.exchanges[0].request.method, "GET");
  EXPECT_EQ(r.exchanges[0].response.status, 204u);
  // A wrong hint is overridden by the preface.
  Result wrong = Drive(swapped, Split::kWhole, {}, RoleHint::kClient);
  ASSERT_EQ(wrong.exchanges.size(), 1u);
  EXPECT_FALSE(wrong.exchanges[0].traced_process_is_client());
  EXPECT_EQ(wrong.counters.role_hint_overridden, 1u);
}

TEST(Http2ConnectionTest, PostWithBodyAndTrailersBothWays) {
  Nghttp2Peers peers;
  Fields post = Get("/upload");
  post[0].second = "POST";
  const int32_t id = peers.Request(post, std::string(40000, 'b'), {{"x-checksum", "abc"}});
  peers.Pump();
  peers.Respond(id, {{":status", "201"}}, "created", {{"x-trailer", "done"}});
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  const Exchange& e = r.exchanges[0];
  EXPECT_TRUE(e.complete) << DebugString(e);
  EXPECT_EQ(e.request.body.size, 40000u);
  EXPECT_EQ(e.request.body.data, std::string(40000, 'b'));
  ASSERT_EQ(e.request.trailers.size(), 1u);
  EXPECT_EQ(e.request.trailers[0].value, "abc");
  ASSERT_EQ(e.response.trailers.size(), 1u);
  EXPECT_EQ(e.response.trailers[0].name, "x-trailer");
  EXPECT_EQ(e.response.status, 201u);
  ExpectSplitInvariant(peers.chunks());
}

TEST(Http2ConnectionTest, ConcurrentStreamsAnsweredOutOfOrder) {
  Nghttp2Peers peers;
  std::vector<int32_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(peers.Request(Get(absl::StrCat("/item/", i))));
  peers.Pump();
  for (int i = 9; i >= 0; --i) {
    peers.Respond(ids[i], {{":status", "200"}}, absl::StrCat("body of ", i));
  }
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 10u);
  for (const Exchange& e : r.exchanges) {
    EXPECT_TRUE(e.complete);
    const std::string n = e.request.target.substr(6);
    EXPECT_EQ(e.response.body.data, absl::StrCat("body of ", n));
    EXPECT_EQ(e.stream_id, static_cast<uint32_t>(ids[std::stoi(n)]));
  }
  ExpectSplitInvariant(peers.chunks());
}

TEST(Http2ConnectionTest, GzipResponseIsDecoded) {
  Nghttp2Peers peers;
  const std::string text(5000, 'z');
  const int32_t id = peers.Request(Get("/z"));
  peers.Pump();
  peers.Respond(id, {{":status", "200"}, {"content-encoding", "gzip"}},
                protocols::testing::Compress(text, true));
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].response.body.decoded_from, "gzip");
  EXPECT_EQ(r.exchanges[0].response.body.data, text);
  EXPECT_EQ(r.exchanges[0].response.body.size, 5000u);
  EXPECT_LT(r.exchanges[0].response.body.encoded_size, 5000u);
}

TEST(Http2ConnectionTest, GrpcUnaryCall) {
  Nghttp2Peers peers;
  const std::string request_message = "\x0a\x05world";
  const std::string reply = "\x0a\x0bhello world";
  const int32_t id =
      peers.Request(GrpcRequest("/helloworld.Greeter/SayHello"), GrpcFrame(request_message));
  peers.Pump();
  peers.Respond(id, kGrpcResponse, GrpcFrame(reply), {{"grpc-status", "0"}});
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  const Exchange& e = r.exchanges[0];
  ASSERT_TRUE(e.grpc.has_value());
  EXPECT_TRUE(e.complete) << DebugString(e);
  EXPECT_EQ(e.grpc->service, "helloworld.Greeter");
  EXPECT_EQ(e.grpc->method, "SayHello");
  EXPECT_EQ(e.grpc->status_code, 0u);
  EXPECT_FALSE(e.grpc->trailers_only);
  ASSERT_EQ(e.grpc->request.count, 1u);
  EXPECT_EQ(e.grpc->request.messages[0].data, request_message);
  ASSERT_EQ(e.grpc->response.count, 1u);
  EXPECT_EQ(e.grpc->response.messages[0].data, reply);
  EXPECT_EQ(e.grpc->response.messages[0].size, reply.size());
  EXPECT_EQ(r.counters.grpc_calls, 1u);
  ExpectSplitInvariant(peers.chunks());
}

TEST(Http2ConnectionTest, GrpcStreamingIsOneExchangeWithEveryMessage) {
  Nghttp2Peers peers;
  // Client streaming with 3 messages, server streaming with a 64 KiB message among others:
  // messages cross DATA frame boundaries (16 KiB frames).
  std::string request_body, response_body;
  for (int i = 0; i < 3; ++i) request_body += GrpcFrame(absl::StrCat("req", i));
  response_body += GrpcFrame("small");
  response_body += GrpcFrame(std::string(64 * 1024, 'm'));
  response_body += GrpcFrame("", false);
  response_body += GrpcFrame("last", true);
  const int32_t id = peers.Request(GrpcRequest("/pkg.Chat/Talk"), request_body);
  peers.Pump();
  peers.Respond(id, kGrpcResponse, response_body, {{"grpc-status", "0"}});
  peers.Pump();
  EngineOptions options;
  options.max_body_bytes = 128 * 1024;
  Result r = Drive(peers.chunks(), Split::kWhole, options);
  ASSERT_EQ(r.exchanges.size(), 1u);
  const GrpcCall& g = *r.exchanges[0].grpc;
  EXPECT_EQ(g.request.count, 3u);
  EXPECT_EQ(g.request.messages[2].data, "req2");
  ASSERT_EQ(g.response.count, 4u);
  EXPECT_EQ(g.response.messages[1].size, 64u * 1024);
  EXPECT_EQ(g.response.messages[1].data, std::string(64 * 1024, 'm'));
  EXPECT_TRUE(g.response.messages[1].complete);
  EXPECT_EQ(g.response.messages[2].size, 0u);
  EXPECT_TRUE(g.response.messages[3].compressed);
  ExpectSplitInvariant(peers.chunks(), options);
}

TEST(Http2ConnectionTest, GrpcGzipMessagesAreDecompressedForDisplay) {
  Nghttp2Peers peers;
  const std::string message = "\x0a\x20" + std::string(32, 'g');
  const std::string compressed = protocols::testing::Compress(message, true);
  Fields request = GrpcRequest("/pkg.Svc/Zip");
  request.push_back({"grpc-encoding", "gzip"});
  const int32_t id = peers.Request(request, GrpcFrame(compressed, /*compressed=*/true));
  peers.Pump();
  peers.Respond(id, kGrpcResponse, GrpcFrame("\x08\x01"), {{"grpc-status", "0"}});
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  const GrpcCall& g = *r.exchanges[0].grpc;
  EXPECT_EQ(g.encoding, "gzip");
  ASSERT_EQ(g.request.messages.size(), 1u);
  EXPECT_TRUE(g.request.messages[0].compressed);
  EXPECT_EQ(g.request.messages[0].size, compressed.size());
  EXPECT_EQ(g.request.messages[0].decoded_from, "gzip");
  EXPECT_EQ(g.request.messages[0].data, message);
  EXPECT_EQ(g.response.messages[0].decoded_from, "");  // not compressed
}

TEST(Http2ConnectionTest, GrpcTrailersOnlyErrorWithPercentEncodedMessage) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(GrpcRequest("/pkg.Users/Get"), GrpcFrame("\x08\x07"));
  peers.Pump();
  peers.Respond(id, {{":status", "200"},
                     {"content-type", "application/grpc"},
                     {"grpc-status", "5"},
                     {"grpc-message", "user%207%20not%20found"}});
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  const Exchange& e = r.exchanges[0];
  ASSERT_TRUE(e.grpc.has_value());
  EXPECT_TRUE(e.complete);
  EXPECT_TRUE(e.grpc->trailers_only);
  EXPECT_EQ(e.grpc->status_code, 5u);
  EXPECT_EQ(e.grpc->status_message, "user 7 not found");
  EXPECT_EQ(e.grpc->response.count, 0u);
}

TEST(Http2ConnectionTest, BodyLimitKeepsPrefixAndCountsAll) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/big"));
  peers.Pump();
  peers.Respond(id, {{":status", "200"}}, std::string(100000, 'x'));
  peers.Pump();
  EngineOptions options;
  options.max_body_bytes = 1000;
  Result r = Drive(peers.chunks(), Split::kWhole, options);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].response.body.data.size(), 1000u);
  EXPECT_EQ(r.exchanges[0].response.body.size, 100000u);
  EXPECT_TRUE(r.exchanges[0].response.body.truncated);
  EXPECT_TRUE(r.exchanges[0].complete);  // the limit is not a loss
  EXPECT_EQ(r.counters.bodies_truncated, 1u);
  EXPECT_EQ(r.counters.body_bytes_not_kept, 99000u);
}

TEST(Http2ConnectionTest, ResetStreamEndsTheExchangeWithANote) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/slow"));
  peers.Pump();
  peers.ResetFromClient(id, NGHTTP2_CANCEL);
  peers.Pump();
  Result r = Drive(peers.chunks(), Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
  ASSERT_EQ(r.exchanges.size(), 1u);  // emitted at the reset, not at close
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_THAT(r.exchanges[0].notes, Contains("stream reset by the client: CANCEL (8)"));
  EXPECT_EQ(r.counters.streams_reset, 1u);
}

// RFC 9113 §8.1: a complete response, then RST_STREAM NO_ERROR from the server before the
// client half-closed (grpcio's server answering a grpc-js client's call with an early status):
// a normal end, complete, with a note; from either end's record.
TEST(Http2ConnectionTest, ServerResetNoErrorAfterACompleteResponseIsANormalEnd) {
  for (RoleHint hint : {RoleHint::kClient, RoleHint::kServer}) {
    Nghttp2Peers peers;
    const int32_t id = peers.Request(GrpcRequest("/pkg.Users/Get"), GrpcFrame("\x08\x07"), {},
                                     /*end_stream=*/false);
    peers.Pump();
    peers.Respond(id, {{":status", "200"},
                       {"content-type", "application/grpc"},
                       {"grpc-status", "5"},
                       {"grpc-message", "no%20such%20user"}});
    peers.Pump();  // the response out first: nghttp2 would drop it for a reset submitted with it
    peers.ResetFromServer(id, NGHTTP2_NO_ERROR);
    peers.Pump();
    // Each end's record: the client's writes are its egress, the server's its ingress.
    std::vector<Chunk> chunks = peers.chunks();
    if (hint == RoleHint::kServer) {
      for (Chunk& c : chunks) {
        c.direction = c.direction == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
      }
    }
    Result r = Drive(chunks, Split::kWhole, {}, hint, 1, /*close=*/false);
    ASSERT_EQ(r.exchanges.size(), 1u);
    const Exchange& e = r.exchanges[0];
    EXPECT_TRUE(e.complete) << DebugString(e);
    EXPECT_THAT(e.notes, Contains("the server ended the request after its complete response "
                                  "(RST_STREAM NO_ERROR)"));
    ASSERT_TRUE(e.grpc.has_value());
    EXPECT_EQ(e.grpc->status_code, 5u);
    EXPECT_EQ(e.grpc->request.count, 1u);
  }
}

// Any other reset, or NO_ERROR before the response is complete, leaves the exchange incomplete.
TEST(Http2ConnectionTest, ServerResetNoErrorBeforeTheResponseEndsIsIncomplete) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/slow"));
  peers.Pump();
  peers.ResetFromServer(id, NGHTTP2_NO_ERROR);
  peers.Pump();
  Result r = Drive(peers.chunks(), Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_THAT(r.exchanges[0].notes, Contains("stream reset by the server: NO_ERROR (0)"));
}

TEST(Http2ConnectionTest, GoawayEndsStreamsAboveLastStreamId) {
  Nghttp2Peers peers;
  const int32_t a = peers.Request(Get("/a"));
  const int32_t b = peers.Request(Get("/b"));
  peers.Pump();
  peers.GoawayFromServer(a, NGHTTP2_NO_ERROR);
  peers.Respond(a, {{":status", "200"}}, "a");
  peers.Pump();
  Result r = Drive(peers.chunks(), Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
  ASSERT_EQ(r.exchanges.size(), 2u);
  const Exchange& refused =
      r.exchanges[0].stream_id == static_cast<uint32_t>(b) ? r.exchanges[0] : r.exchanges[1];
  EXPECT_EQ(refused.request.target, "/b");
  EXPECT_FALSE(refused.has_response);
  EXPECT_THAT(refused.notes,
              Contains(HasSubstr("not processed: GOAWAY from the server (last stream 1")));
  EXPECT_EQ(r.counters.streams_refused_goaway, 1u);
}

TEST(Http2ConnectionTest, PushPromiseMakesAPushedExchange) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/page"));
  peers.Pump();
  const int32_t pushed = peers.Push(id, Get("/style.css"));
  peers.Respond(id, {{":status", "200"}}, "<html>");
  peers.Respond(pushed, {{":status", "200"}, {"content-type", "text/css"}}, "body{}");
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 2u);
  const Exchange& p =
      r.exchanges[0].stream_id == static_cast<uint32_t>(pushed) ? r.exchanges[0] : r.exchanges[1];
  EXPECT_EQ(p.request.target, "/style.css");
  EXPECT_EQ(p.response.body.data, "body{}");
  EXPECT_TRUE(p.complete) << DebugString(p);
  EXPECT_THAT(p.notes, Contains("server push (promised on stream 1)"));
  EXPECT_EQ(r.counters.pushed_streams, 1u);
  ExpectSplitInvariant(peers.chunks());
}

TEST(Http2ConnectionTest, InformationalResponseIsNotTheResponse) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/early"));
  peers.Pump();
  peers.Informational(id, {{":status", "103"}, {"link", "</s.css>; rel=preload"}});
  peers.Respond(id, {{":status", "200"}}, "ok");
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].response.status, 200u);
  EXPECT_TRUE(r.exchanges[0].complete);
  EXPECT_THAT(r.exchanges[0].notes, Contains("informational response 103"));
  EXPECT_EQ(r.counters.informational_responses, 1u);
}

TEST(Http2ConnectionTest, OpenStreamsAreEmittedAtCloseWithNotes) {
  Nghttp2Peers peers;
  peers.Request(Get("/never-answered"));
  peers.Pump();
  Result r = Drive(peers.chunks());
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_FALSE(r.exchanges[0].has_response);
  EXPECT_THAT(r.exchanges[0].notes, Contains("connection closed before the stream ended"));
}

TEST(Http2ConnectionTest, StreamLimitEmitsOldestEarly) {
  Nghttp2Peers peers;
  for (int i = 0; i < 5; ++i) peers.Request(Get(absl::StrCat("/", i)));
  peers.Pump();
  EngineOptions options;
  options.max_concurrent_streams = 2;
  Result r = Drive(peers.chunks(), Split::kWhole, options, RoleHint::kClient, 1, /*close=*/false);
  EXPECT_EQ(r.exchanges.size(), 3u);
  EXPECT_EQ(r.counters.streams_over_limit, 3u);
  EXPECT_THAT(r.exchanges[0].notes, Contains(HasSubstr("emitted early: more than 2 streams")));
}

TEST(Http2ConnectionTest, HeaderBlockOverLimitIsCountedAndExplicit) {
  Nghttp2Peers peers;
  Fields big = Get("/big-headers");
  big.push_back({"x-large", std::string(3000, 'h')});
  const int32_t id = peers.Request(big);
  peers.Pump();
  peers.Respond(id, {{":status", "200"}}, "ok");
  peers.Pump();
  EngineOptions options;
  options.max_header_block_bytes = 1024;
  Result r = Drive(peers.chunks(), Split::kWhole, options);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_EQ(r.counters.header_blocks_too_large, 1u);
  EXPECT_THAT(r.exchanges[0].notes, Contains(HasSubstr("header block larger than 1024 bytes")));
  EXPECT_EQ(r.exchanges[0].response.status, 200u);
}

TEST(Http2ConnectionTest, H2cUpgradeRequestIsStreamOne) {
  Nghttp2Peers peers;
  peers.UpgradeStream1();
  peers.Respond(1, {{":status", "200"}}, "upgraded answer");
  const int32_t next = peers.Request(Get("/after"));
  peers.Pump();
  peers.Respond(next, {{":status", "200"}}, "second");
  peers.Pump();
  Result r;
  Http2Connection conn({}, RoleHint::kUnknown,
                       [&](Exchange&& e) { r.exchanges.push_back(std::move(e)); });
  Request upgrade;
  upgrade.method = "GET";
  upgrade.target = "/";
  upgrade.version = "HTTP/1.1";
  upgrade.headers = {{"Host", "example"},
                     {"Connection", "Upgrade, HTTP2-Settings"},
                     {"Upgrade", "h2c"},
                     {"HTTP2-Settings", "AAMAAAPo"}};
  conn.AdoptUpgradeRequest(upgrade, Direction::kEgress, 1, 2);
  std::map<Direction, uint64_t> pos;
  uint64_t ts = 10;
  for (const Chunk& c : peers.chunks()) {
    conn.OnData(c.direction, pos[c.direction], c.bytes, c.bytes.size(), ts++, false);
    pos[c.direction] += c.bytes.size();
  }
  conn.OnClose(ts);
  ASSERT_EQ(r.exchanges.size(), 2u);
  const Exchange& first = r.exchanges[0];
  EXPECT_EQ(first.stream_id, 1u);
  EXPECT_TRUE(first.complete) << DebugString(first);
  EXPECT_EQ(first.request.version, "HTTP/1.1");
  EXPECT_EQ(first.request.target, "/");
  EXPECT_EQ(first.response.version, "HTTP/2");
  EXPECT_EQ(first.response.body.data, "upgraded answer");
  EXPECT_THAT(first.notes, Contains("upgraded to HTTP/2 (h2c): the request was HTTP/1.1"));
  EXPECT_EQ(r.exchanges[1].request.target, "/after");
  EXPECT_TRUE(r.exchanges[1].complete);
}

// --- Frames built here: padding, CONTINUATION, gaps, late join. ---

std::string FrameBytes(FrameType type, uint8_t flags, uint32_t stream, const std::string& p) {
  FrameHeader h;
  h.length = p.size();
  h.type = static_cast<uint8_t>(type);
  h.flags = flags;
  h.stream_id = stream;
  return SerializeFrameHeader(h) + p;
}

class Deflater {
 public:
  Deflater() { nghttp2_hd_deflate_new(&d_, 4096); }
  ~Deflater() { nghttp2_hd_deflate_del(d_); }
  std::string Deflate(const Fields& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : fields) {
      nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                               reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(),
                               v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(d_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(d_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                            nva.data(), nva.size());
    out.resize(n > 0 ? n : 0);
    return out;
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

TEST(Http2ConnectionTest, PaddingAndContinuation) {
  Deflater client, server;
  const std::string req_block = client.Deflate(Get("/padded"));
  const std::string resp_block = server.Deflate({{":status", "200"}, {"x-long", "value"}});
  std::string c = std::string(kClientPreface) + FrameBytes(FrameType::kSettings, 0, 0, "");
  // Padded HEADERS with priority carrying half the block, CONTINUATION the rest.
  const size_t half = req_block.size() / 2;
  c += FrameBytes(FrameType::kHeaders, kFlagPadded | kFlagPriority | kFlagEndStream, 1,
                  std::string("\x04", 1) + std::string("\x00\x00\x00\x00\x10", 5) +
                      req_block.substr(0, half) + std::string(4, '\0'));
  c += FrameBytes(FrameType::kContinuation, kFlagEndHeaders, 1, req_block.substr(half));
  std::string s = FrameBytes(FrameType::kSettings, 0, 0, "");
  s += FrameBytes(FrameType::kHeaders, kFlagEndHeaders, 1, resp_block);
  s += FrameBytes(FrameType::kData, kFlagPadded, 1, std::string("\x03", 1) + "pad" + "xyz");
  s +=
      FrameBytes(FrameType::kData, kFlagEndStream | kFlagPadded, 1, std::string("\x00", 1) + "ded");
  const std::vector<Chunk> chunks = {{Direction::kEgress, c}, {Direction::kIngress, s}};
  Result r = Drive(chunks);
  ASSERT_EQ(r.exchanges.size(), 1u);
  const Exchange& e = r.exchanges[0];
  EXPECT_TRUE(e.complete) << DebugString(e);
  EXPECT_EQ(e.request.target, "/padded");
  EXPECT_EQ(e.response.body.data, "padded");
  EXPECT_EQ(e.response.headers[1].value, "value");
  ExpectSplitInvariant(chunks);
}

TEST(Http2ConnectionTest, GapInsideDataKeepsFramingAndSaysSo) {
  Nghttp2Peers peers;
  const int32_t a = peers.Request(Get("/a"));
  peers.Pump();
  peers.Respond(a, {{":status", "200"}}, std::string(1000, 'a'));
  peers.Pump();
  const int32_t b = peers.Request(Get("/b"));
  peers.Pump();
  peers.Respond(b, {{":status", "200"}}, "bee");
  peers.Pump();
  // Find the server chunk carrying stream 1's DATA and report 100 of its payload bytes lost.
  Result r;
  Http2Connection conn({}, RoleHint::kClient,
                       [&](Exchange&& e) { r.exchanges.push_back(std::move(e)); });
  std::map<Direction, uint64_t> pos;
  uint64_t ts = 1;
  bool cut = false;
  for (const Chunk& c : peers.chunks()) {
    const size_t at = c.bytes.find(std::string(1000, 'a'));
    if (!cut && c.direction == Direction::kIngress && at != std::string::npos) {
      cut = true;
      conn.OnData(c.direction, pos[c.direction], absl::string_view(c.bytes).substr(0, at + 50),
                  at + 50, ts++, false);
      // 100 bytes never seen, then the rest.
      conn.OnData(c.direction, pos[c.direction] + at + 150,
                  absl::string_view(c.bytes).substr(at + 150), c.bytes.size() - at - 150, ts++,
                  false);
    } else {
      conn.OnData(c.direction, pos[c.direction], c.bytes, c.bytes.size(), ts++, false);
    }
    pos[c.direction] += c.bytes.size();
  }
  conn.OnClose(ts);
  ASSERT_TRUE(cut);
  ASSERT_EQ(r.exchanges.size(), 2u);
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_EQ(r.exchanges[0].response.body.size, 1000u);
  EXPECT_EQ(r.exchanges[0].response.body.missing_bytes, 100u);
  EXPECT_EQ(r.exchanges[0].response.body.data, std::string(900, 'a'));
  EXPECT_THAT(r.exchanges[0].notes, Contains("response body: 100 of 1000 bytes not captured"));
  EXPECT_TRUE(r.exchanges[1].complete) << DebugString(r.exchanges[1]);
  EXPECT_EQ(conn.losses().gap_bytes, 100u);
  EXPECT_EQ(conn.counters().data_gap_bytes, 100u);
  EXPECT_EQ(conn.counters().lost_sync, 0u);
}

// Many requests whose headers reuse the dynamic table; the capture begins before chunk k for
// every k. Every exchange emitted is either exact (the same as with the whole conversation) or
// carries explicit placeholders, the note and incompleteness; none is invented.
TEST(Http2ConnectionTest, LateJoinAtEveryChunkIsExactOrExplicit) {
  Nghttp2Peers peers;
  for (int i = 0; i < 12; ++i) {
    Fields f = Get(absl::StrCat("/r", i));
    f.push_back({"user-agent", "late-join-test/1.0"});
    f.push_back({"x-session", i < 6 ? "first-half" : "second-half"});
    f.push_back({"x-request", absl::StrCat("n", i)});
    const int32_t id = peers.Request(f);
    peers.Pump();
    peers.Respond(id, {{":status", "200"}, {"x-served-by", "node-7"}}, absl::StrCat("resp", i));
    peers.Pump();
  }
  const std::vector<Chunk>& all = peers.chunks();
  std::map<uint32_t, std::string> truth;
  for (const Exchange& e : Drive(all).exchanges) truth[e.stream_id] = Debug({e})[0];
  ASSERT_EQ(truth.size(), 12u);
  uint64_t exact = 0, explicit_placeholders = 0;
  for (size_t k = 1; k < all.size(); ++k) {
    const std::vector<Chunk> tail(all.begin() + k, all.end());
    Result r = Drive(tail);
    for (const Exchange& e : r.exchanges) {
      ASSERT_TRUE(truth.count(e.stream_id)) << "invented stream " << e.stream_id;
      const std::string got = Debug({e})[0];
      if (got == truth[e.stream_id]) {
        ++exact;
        continue;
      }
      EXPECT_FALSE(e.complete) << "join " << k << ": differs yet complete\n" << got;
      // Every header that is not a placeholder is a real one of this stream.
      for (const Header& h : e.request.headers) {
        if (h.name == kUnknownHeaderName) {
          ++explicit_placeholders;
          EXPECT_THAT(e.notes, Contains(HasSubstr("indexed before the capture began (shown as "
                                                  "\"(indexed before capture)\")")));
          continue;
        }
        EXPECT_THAT(truth[e.stream_id], HasSubstr(absl::StrCat(h.name, ": ", h.value)))
            << "join " << k;
      }
    }
    // The last request, sent whole after the join, always comes out.
    if (k < all.size() - 4) {
      EXPECT_GE(r.exchanges.size(), 1u) << "join " << k;
    }
  }
  EXPECT_GT(exact, 20u);
  EXPECT_GT(explicit_placeholders, 5u);
}

// Joined after a request was sent whole: its response still comes out when it ends, not only
// when the connection closes.
TEST(Http2ConnectionTest, ResponseToARequestBeforeTheJoinIsEmittedWhenItEnds) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/before-join"));
  peers.Pump();
  const size_t join = peers.chunks().size();
  peers.Respond(id, {{":status", "200"}}, "late answer");
  peers.Pump();
  const std::vector<Chunk> tail(peers.chunks().begin() + join, peers.chunks().end());
  Result r = Drive(tail, Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_FALSE(r.exchanges[0].has_request);
  EXPECT_FALSE(r.exchanges[0].complete);
  EXPECT_EQ(r.exchanges[0].response.body.data, "late answer");
  EXPECT_THAT(r.exchanges[0].notes,
              Contains("request not seen: sent before the capture began, or lost"));
}

TEST(Http2ConnectionTest, LostHeadersFrameLosesOnlyWhatItMust) {
  Nghttp2Peers peers;
  std::vector<int32_t> ids;
  for (int i = 0; i < 4; ++i) {
    Fields f = Get(absl::StrCat("/h", i));
    f.push_back({"x-same", "indexed-value"});
    ids.push_back(peers.Request(f));
    peers.Pump();
    peers.Respond(ids.back(), {{":status", "200"}}, "ok");
    peers.Pump();
  }
  // Drop the client chunk with request 2's HEADERS entirely (a lost event).
  Result r;
  Http2Connection conn({}, RoleHint::kClient,
                       [&](Exchange&& e) { r.exchanges.push_back(std::move(e)); });
  std::map<Direction, uint64_t> pos;
  uint64_t ts = 1;
  int client_headers_chunks = 0;
  for (const Chunk& c : peers.chunks()) {
    bool drop = false;
    if (c.direction == Direction::kEgress && c.bytes.size() > 9 &&
        static_cast<uint8_t>(c.bytes[3]) == 1) {
      drop = ++client_headers_chunks == 3;
    }
    if (!drop) conn.OnData(c.direction, pos[c.direction], c.bytes, c.bytes.size(), ts++, false);
    pos[c.direction] += c.bytes.size();
  }
  conn.OnClose(ts);
  ASSERT_EQ(client_headers_chunks, 4);
  // Stream 5's request is gone, its response is still there and says so; later streams decode
  // exactly or explicitly.
  ASSERT_EQ(r.exchanges.size(), 4u);
  const Exchange* lost = nullptr;
  for (const Exchange& e : r.exchanges) {
    if (e.stream_id == 5) lost = &e;
  }
  ASSERT_NE(lost, nullptr);
  EXPECT_FALSE(lost->has_request);
  EXPECT_EQ(lost->response.status, 200u);
  EXPECT_FALSE(lost->complete);
  EXPECT_GT(conn.losses().gap_bytes, 0u);
  EXPECT_GT(conn.losses().messages_dropped_gap, 0u);
}

TEST(Http2ConnectionTest, HeldBytesFallBackWhenStreamsEnd) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(Get("/"));
  peers.Pump();
  peers.Respond(id, {{":status", "200"}}, std::string(50000, 'q'));
  peers.Pump();
  Result r = Drive(peers.chunks(), Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_LT(r.held_at_end, 24u * 1024);  // HPACK tables and buffers, no body
}

TEST(Http2ConnectionTest, GarbageIsNotMadeIntoExchanges) {
  std::vector<Chunk> chunks = {
      {Direction::kEgress, "this is not HTTP/2 but it is on a connection said to be"},
      {Direction::kIngress, std::string(5000, '\xff')}};
  Result r = Drive(chunks);
  EXPECT_TRUE(r.exchanges.empty());
  EXPECT_GT(r.counters.resync_skipped_bytes, 0u);
}

// --- Real peers on loopback, recorded by testdata/capture.py. ---

std::vector<Chunk> LoadCapture(const std::string& name) {
  const std::string path = "agent/protocols/http2/testdata/" + name;
  FILE* f = fopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::vector<Chunk> chunks;
  if (f == nullptr) return chunks;
  unsigned char head[5];
  while (fread(head, 1, 5, f) == 5) {
    const uint32_t n = (head[1] << 24) | (head[2] << 16) | (head[3] << 8) | head[4];
    std::string bytes(n, '\0');
    if (fread(bytes.data(), 1, n, f) != n) break;
    chunks.push_back(Chunk{head[0] == 'C' ? Direction::kEgress : Direction::kIngress, bytes});
  }
  fclose(f);
  return chunks;
}

const Exchange* ByTarget(const std::vector<Exchange>& exchanges, absl::string_view target) {
  for (const Exchange& e : exchanges) {
    if (e.request.target == target) return &e;
  }
  return nullptr;
}

TEST(Http2ConnectionTest, RealNghttpAgainstNghttpd) {
  const std::vector<Chunk> chunks = LoadCapture("nghttp_nghttpd.h2");
  ASSERT_FALSE(chunks.empty());
  Result r = Drive(chunks);
  ASSERT_EQ(r.exchanges.size(), 4u);
  for (const Exchange& e : r.exchanges) EXPECT_TRUE(e.complete) << DebugString(e);
  const Exchange* index = ByTarget(r.exchanges, "/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->response.status, 200u);
  EXPECT_EQ(index->response.body.size, 640u);
  EXPECT_THAT(index->response.body.data, HasSubstr("hello from nghttpd"));
  const Exchange* big = ByTarget(r.exchanges, "/big.bin");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->response.body.size, 51200u);
  const Exchange* missing = ByTarget(r.exchanges, "/missing");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->response.status, 404u);
  EXPECT_EQ(r.losses.gap_bytes + r.losses.parse_errors, 0u);
  ExpectSplitInvariant(chunks);
}

TEST(Http2ConnectionTest, RealPythonGrpcioCalls) {
  const std::vector<Chunk> chunks = LoadCapture("grpcio_python.h2");
  ASSERT_FALSE(chunks.empty());
  EngineOptions options;
  options.max_body_bytes = 256 * 1024;
  Result r = Drive(chunks, Split::kWhole, options);
  ASSERT_EQ(r.exchanges.size(), 6u);
  std::map<std::string, std::vector<const Exchange*>> by_method;
  for (const Exchange& e : r.exchanges) {
    ASSERT_TRUE(e.grpc.has_value()) << DebugString(e);
    EXPECT_EQ(e.grpc->service, "test.Echo");
    EXPECT_TRUE(e.complete) << DebugString(e);
    by_method[e.grpc->method].push_back(&e);
  }
  ASSERT_EQ(by_method["Unary"].size(), 3u);
  const GrpcCall& first = *by_method["Unary"][0]->grpc;
  EXPECT_EQ(first.status_code, 0u);
  ASSERT_EQ(first.request.count, 1u);
  EXPECT_EQ(first.request.messages[0].data,
            "\x0a\x03"
            "abc");
  EXPECT_EQ(first.response.messages[0].data,
            "\x0a\x05hello\x0a\x03"
            "abc");
  const GrpcCall& big = *by_method["Unary"][1]->grpc;
  ASSERT_EQ(big.request.count, 1u);
  EXPECT_EQ(big.request.messages[0].size, 65540u);
  EXPECT_TRUE(big.request.messages[0].complete);
  const GrpcCall& failed = *by_method["Unary"][2]->grpc;
  EXPECT_EQ(failed.status_code, 5u);
  EXPECT_EQ(failed.status_message, "no such item: fail \xE2\x9C\x93");
  const GrpcCall& server_stream = *by_method["ServerStream"][0]->grpc;
  EXPECT_EQ(server_stream.response.count, 3u);
  EXPECT_EQ(server_stream.response.messages[2].data, "\x08\x03");
  EXPECT_EQ(by_method["ClientStream"][0]->grpc->request.count, 3u);
  EXPECT_EQ(by_method["Bidi"][0]->grpc->request.count, 2u);
  EXPECT_EQ(by_method["Bidi"][0]->grpc->response.count, 2u);
  ExpectSplitInvariant(chunks, options);
}

// h2load -n 200 -c 2 -m 10 against nghttpd: every one of the 200 requests is one complete
// exchange, ten streams in flight per connection.
TEST(Http2ConnectionTest, RealH2loadTwoHundredRequestsExactly) {
  uint64_t total = 0;
  for (const char* name : {"h2load_n200_c2_m10_0.h2", "h2load_n200_c2_m10_1.h2"}) {
    const std::vector<Chunk> chunks = LoadCapture(name);
    ASSERT_FALSE(chunks.empty()) << name;
    Result r = Drive(chunks, Split::kWhole, {}, RoleHint::kClient, 1, /*close=*/false);
    for (const Exchange& e : r.exchanges) {
      EXPECT_TRUE(e.complete) << DebugString(e);
      EXPECT_EQ(e.request.target, "/index.html");
      EXPECT_EQ(e.response.status, 200u);
      EXPECT_EQ(e.response.body.size, 180u);
    }
    EXPECT_EQ(r.counters.incomplete_exchanges, 0u);
    total += r.exchanges.size();
    ExpectSplitInvariant(chunks);
  }
  EXPECT_EQ(total, 200u);
}

// For every stream, the index of the first chunk carrying one of its frames.
std::map<uint32_t, size_t> FirstChunkOfStreams(const std::vector<Chunk>& chunks) {
  struct Visitor : FrameParser::Visitor {
    void Saw(uint32_t id) {
      if (id != 0 && !first->count(id)) (*first)[id] = chunk;
    }
    void OnDataBegin(const FrameHeader& h) override { Saw(h.stream_id); }
    void OnHeaders(const FrameHeader& h, absl::string_view) override { Saw(h.stream_id); }
    void OnPushPromise(const FrameHeader& h, uint32_t p, absl::string_view) override {
      Saw(h.stream_id);
      Saw(p);
    }
    std::map<uint32_t, size_t>* first;
    size_t chunk = 0;
  };
  std::map<uint32_t, size_t> first;
  Visitor v[2];
  v[0].first = v[1].first = &first;
  FrameParser p0(v[0], FrameParser::Start::kConnectionStart);
  FrameParser p1(v[1], FrameParser::Start::kConnectionStart);
  FrameParser* parsers[2] = {&p0, &p1};
  for (size_t k = 0; k < chunks.size(); ++k) {
    const int d = static_cast<int>(chunks[k].direction);
    v[d].chunk = k;
    parsers[d]->Feed(chunks[k].bytes);
  }
  return first;
}

// A late join on real gRPC traffic (the channel and its HPACK tables set up before the
// capture), at every chunk: every call whose frames all come after the join appears; each call
// is exact or says what it could not see; none is invented.
void ExpectLateJoinExactOrExplicit(const std::string& capture, uint64_t min_exact,
                                   uint64_t min_explicit) {
  const std::vector<Chunk> chunks = LoadCapture(capture);
  ASSERT_FALSE(chunks.empty());
  EngineOptions options;
  options.max_body_bytes = 256 * 1024;
  std::map<uint32_t, std::string> truth;
  std::map<uint32_t, const Exchange*> truth_exchange;
  const Result whole = Drive(chunks, Split::kWhole, options);
  for (const Exchange& e : whole.exchanges) {
    truth[e.stream_id] = Debug({e})[0];
    truth_exchange[e.stream_id] = &e;
  }
  const std::map<uint32_t, size_t> first_chunk = FirstChunkOfStreams(chunks);
  ASSERT_EQ(first_chunk.size(), truth.size());
  uint64_t exact = 0, explicit_ones = 0, whole_bodies = 0, inferred = 0;
  for (size_t k = 1; k < chunks.size(); ++k) {
    const Result r = Drive(std::vector<Chunk>(chunks.begin() + k, chunks.end()), Split::kWhole,
                           options, RoleHint::kClient);
    std::map<uint32_t, const Exchange*> got;
    inferred += r.counters.grpc_inferred;
    for (const Exchange& e : r.exchanges) {
      ASSERT_TRUE(truth.count(e.stream_id)) << "join " << k << ": invented stream " << e.stream_id;
      got[e.stream_id] = &e;
      if (Debug({e})[0] == truth[e.stream_id]) {
        ++exact;
        continue;
      }
      ++explicit_ones;
      EXPECT_FALSE(e.complete) << "join " << k << "\n" << DebugString(e);
      EXPECT_FALSE(e.notes.empty()) << "join " << k;
      for (const Header& h : e.request.headers) {
        if (h.name == kUnknownHeaderName) continue;
        EXPECT_THAT(truth[e.stream_id], HasSubstr(absl::StrCat(h.name, ": ", h.value)));
      }
      if (e.grpc && e.grpc->status_code && truth_exchange[e.stream_id]->grpc) {
        EXPECT_EQ(e.grpc->status_code, truth_exchange[e.stream_id]->grpc->status_code);
      }
      // A call whose bodies were all seen is gRPC even where its content-type was indexed
      // before the join, with the messages the whole capture shows.
      const Exchange& t = *truth_exchange[e.stream_id];
      if (t.grpc && e.request.body.missing_bytes == 0 && e.response.body.missing_bytes == 0 &&
          e.request.body.size == t.request.body.size &&
          e.response.body.size == t.response.body.size) {
        ++whole_bodies;
        ASSERT_TRUE(e.grpc.has_value()) << "join " << k << "\n" << DebugString(e);
        EXPECT_EQ(e.grpc->request.count, t.grpc->request.count);
        EXPECT_EQ(e.grpc->response.count, t.grpc->response.count);
        if (e.grpc->response.messages.size() == t.grpc->response.messages.size()) {
          for (size_t i = 0; i < t.grpc->response.messages.size(); ++i) {
            EXPECT_EQ(e.grpc->response.messages[i].data, t.grpc->response.messages[i].data);
          }
        }
      }
    }
    for (const auto& [id, chunk] : first_chunk) {
      if (chunk >= k) {
        EXPECT_TRUE(got.count(id)) << "join " << k << ": stream " << id << " missing";
      }
    }
  }
  EXPECT_GE(exact, min_exact);
  EXPECT_GE(explicit_ones, min_explicit);
  EXPECT_GT(whole_bodies, 0u) << "no late-joined call with whole bodies to recognise";
  EXPECT_GT(inferred, 0u) << "no call recognised by its framing alone";
}

TEST(Http2ConnectionTest, RealGrpcioLateJoinAtEveryChunk) {
  ExpectLateJoinExactOrExplicit("grpcio_python.h2", 10, 5);
}

TEST(Http2ConnectionTest, RealGrpcGoLateJoinAtEveryChunk) {
  ExpectLateJoinExactOrExplicit("grpc_go.h2", 5, 2);
}

TEST(Http2ConnectionTest, RealGrpcGoCalls) {
  const std::vector<Chunk> chunks = LoadCapture("grpc_go.h2");
  ASSERT_FALSE(chunks.empty());
  Result r = Drive(chunks);
  ASSERT_EQ(r.exchanges.size(), 5u);
  int unary_ok = 0;
  for (const Exchange& e : r.exchanges) {
    ASSERT_TRUE(e.grpc.has_value()) << DebugString(e);
    EXPECT_TRUE(e.complete) << DebugString(e);
    EXPECT_EQ(e.grpc->service, "test.Echo");
    if (e.grpc->method == "Unary" && e.grpc->status_code == 0u) {
      ++unary_ok;
      ASSERT_EQ(e.grpc->response.count, 1u);
      EXPECT_THAT(e.grpc->response.messages[0].data, HasSubstr("hello"));
    } else if (e.grpc->method == "Unary") {
      EXPECT_EQ(e.grpc->status_code, 7u);  // PERMISSION_DENIED
      EXPECT_EQ(e.grpc->status_message, "denied: 100% sure");
    } else {
      EXPECT_EQ(e.grpc->method, "Bidi");
      EXPECT_EQ(e.grpc->request.count, 3u);
      EXPECT_EQ(e.grpc->response.count, 3u);
      EXPECT_EQ(e.grpc->status_code, 0u);
    }
  }
  EXPECT_EQ(unary_ok, 3);
  ExpectSplitInvariant(chunks);
}

}  // namespace
}  // namespace httptrace::protocols::http2
