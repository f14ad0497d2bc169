// The h2c upgrade through the factory's engine for an HTTP/1 connection: a real conversation
// (nghttp -u against apache2's mod_http2, recorded by http2/testdata/capture.py) fed whole, byte
// by byte, in random splits, reordered around the switch, and from the server's side.

#include "agent/protocols/switching_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "agent/protocols/engine_factory.h"

namespace httptrace::protocols {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

struct Chunk {
  Direction direction;
  std::string bytes;
};

// The capture's 'C' (client to server) chunks are the client's egress.
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

// One OnData call: the chunk's bytes at its stream position.
struct Piece {
  Direction direction;
  uint64_t position;
  std::string bytes;
};

enum class Split { kWhole, kByteByByte, kRandom };

std::vector<Piece> Pieces(const std::vector<Chunk>& chunks, Split split, uint32_t seed) {
  std::vector<Piece> pieces;
  std::map<Direction, uint64_t> position;
  std::mt19937 rng(seed);
  for (const Chunk& c : chunks) {
    size_t at = 0;
    while (at < c.bytes.size()) {
      size_t n = c.bytes.size() - at;
      if (split == Split::kByteByByte) n = 1;
      if (split == Split::kRandom) {
        n = std::min(n, std::uniform_int_distribution<size_t>(1, 64)(rng));
      }
      pieces.push_back(Piece{c.direction, position[c.direction], c.bytes.substr(at, n)});
      position[c.direction] += n;
      at += n;
    }
  }
  return pieces;
}

// The traced process is the server: what the client sent is its ingress.
std::vector<Chunk> FromServerSide(std::vector<Chunk> chunks) {
  for (Chunk& c : chunks) c.direction = Opposite(c.direction);
  return chunks;
}

struct Result {
  std::vector<Exchange> exchanges;
  std::map<std::string, uint64_t> counters;
  LossCounters losses;
  Protocol protocol_at_end = Protocol::kUnknown;
  size_t held_before_close = 0;
};

Result Drive(const std::vector<Piece>& pieces, RoleHint hint = RoleHint::kClient) {
  Result r;
  std::unique_ptr<ProtocolEngine> engine =
      MakeEngine(Protocol::kHttp1, EngineOptions{}, hint,
                 [&](Exchange&& e) { r.exchanges.push_back(std::move(e)); });
  uint64_t ts = 1000;
  for (const Piece& p : pieces) {
    engine->OnData(p.direction, p.position, p.bytes, p.bytes.size(), ts++, false);
  }
  r.held_before_close = engine->HeldBytes();
  r.protocol_at_end = engine->protocol();
  engine->OnClose(ts++);
  engine->ForEachCounter([&](const char* name, uint64_t value) { r.counters[name] = value; });
  r.losses = engine->losses();
  return r;
}

std::vector<std::string> Debug(const std::vector<Exchange>& exchanges) {
  std::vector<std::string> out;
  for (const Exchange& e : exchanges) {
    std::string s = DebugString(e);
    out.push_back(s.substr(s.find(" requests_on=")));  // timestamps differ between splits
  }
  return out;
}

const Exchange* ByTarget(const std::vector<Exchange>& exchanges, absl::string_view target) {
  for (const Exchange& e : exchanges) {
    if (e.request.target == target) return &e;
  }
  return nullptr;
}

// What the client saw (nghttp -u -a -v): GET /index.html as HTTP/1.1 with Upgrade: h2c, 101,
// then the page on stream 1 in HTTP/2; its two assets asked on streams 13 and 15, which apache
// refused with GOAWAY(last stream 1) before answering.
void ExpectTheRecordedConversation(const Result& r, Direction request_direction) {
  ASSERT_EQ(r.exchanges.size(), 3u);
  const Exchange* page = ByTarget(r.exchanges, "/index.html");
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->stream_id, 1u);
  EXPECT_EQ(page->request_direction, request_direction);
  EXPECT_EQ(page->request.method, "GET");
  EXPECT_EQ(page->request.version, "HTTP/1.1");
  EXPECT_EQ(FindHeader(page->request.headers, "upgrade"), "h2c");
  EXPECT_EQ(page->response.version, "HTTP/2");
  EXPECT_EQ(page->response.status, 200u);
  EXPECT_THAT(page->response.body.data, HasSubstr("upgraded to h2c"));
  EXPECT_TRUE(page->complete) << DebugString(*page);
  EXPECT_THAT(page->notes, Contains("upgraded to HTTP/2 (h2c): the request was HTTP/1.1"));
  for (const char* asset : {"/style.css", "/missing.png"}) {
    const Exchange* refused = ByTarget(r.exchanges, asset);
    ASSERT_NE(refused, nullptr) << asset;
    EXPECT_EQ(refused->request.version, "HTTP/2");
    EXPECT_FALSE(refused->has_response);
    EXPECT_FALSE(refused->notes.empty()) << DebugString(*refused);
  }
  EXPECT_EQ(r.protocol_at_end, Protocol::kHttp2);
  EXPECT_EQ(r.counters.at("http.upgrades"), 1u);
  EXPECT_EQ(r.counters.at("http.upgrades_h2c"), 1u);
  EXPECT_EQ(r.counters.at("http.exchanges"), 0u);  // stream 1 is HTTP/2's
  EXPECT_EQ(r.counters.at("http.bytes_not_parsed"), 0u);
  EXPECT_EQ(r.counters.at("http2.exchanges"), 3u);
  EXPECT_EQ(r.counters.at("http2.streams_refused_goaway"), 2u);
  EXPECT_EQ(r.counters.at("http2.hpack_placeholders"), 0u);
  EXPECT_EQ(r.counters.at("http2.resync_skipped_bytes"), 0u);
  EXPECT_EQ(r.losses.gap_bytes + r.losses.parse_errors + r.losses.buffer_overflow_bytes, 0u);
}

TEST(SwitchingEngineTest, RealH2cUpgradeWhole) {
  const std::vector<Chunk> chunks = LoadCapture("h2c_upgrade.h2");
  ASSERT_EQ(chunks.size(), 8u);
  // The 101 and the server's first SETTINGS came in one read: that chunk straddles the switch.
  ASSERT_TRUE(absl::StartsWith(chunks[1].bytes, "HTTP/1.1 101 "));
  ASSERT_GT(chunks[1].bytes.size(), chunks[1].bytes.find("\r\n\r\n") + 4);
  ExpectTheRecordedConversation(Drive(Pieces(chunks, Split::kWhole, 0)), Direction::kEgress);
}

TEST(SwitchingEngineTest, RealH2cUpgradeByteByByteAndRandomSplits) {
  const std::vector<Chunk> chunks = LoadCapture("h2c_upgrade.h2");
  const Result whole = Drive(Pieces(chunks, Split::kWhole, 0));
  const Result bytes = Drive(Pieces(chunks, Split::kByteByByte, 0));
  ExpectTheRecordedConversation(bytes, Direction::kEgress);
  EXPECT_EQ(Debug(bytes.exchanges), Debug(whole.exchanges));
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    const Result split = Drive(Pieces(chunks, Split::kRandom, seed));
    ExpectTheRecordedConversation(split, Direction::kEgress);
    ASSERT_EQ(Debug(split.exchanges), Debug(whole.exchanges)) << "seed " << seed;
  }
}

TEST(SwitchingEngineTest, RealH2cUpgradeSeenFromTheServer) {
  const std::vector<Chunk> chunks = FromServerSide(LoadCapture("h2c_upgrade.h2"));
  for (RoleHint hint : {RoleHint::kServer, RoleHint::kUnknown}) {
    ExpectTheRecordedConversation(Drive(Pieces(chunks, Split::kWhole, 0), hint),
                                  Direction::kIngress);
    ExpectTheRecordedConversation(Drive(Pieces(chunks, Split::kRandom, 7), hint),
                                  Direction::kIngress);
  }
}

// The probes' events may arrive slightly out of order: pieces of the HTTP/2 bytes that come
// before the 101 (held by the HTTP/1 engine's reassembly) and late duplicates of the HTTP/1
// bytes after it end up where they belong.
TEST(SwitchingEngineTest, ReorderedAroundTheSwitch) {
  const std::vector<Chunk> chunks = LoadCapture("h2c_upgrade.h2");
  std::vector<Piece> pieces = Pieces(chunks, Split::kRandom, 3);
  // Find the piece carrying the end of the 101 and move the two client pieces after it
  // (the client preface) before it, in reverse order.
  size_t switch_piece = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].direction == Direction::kIngress && pieces[i].position <= 71 &&
        pieces[i].position + pieces[i].bytes.size() > 71) {
      switch_piece = i;
    }
  }
  ASSERT_GT(switch_piece, 0u);
  std::vector<size_t> preface;
  for (size_t i = switch_piece + 1; i < pieces.size() && preface.size() < 2; ++i) {
    if (pieces[i].direction == Direction::kEgress) preface.push_back(i);
  }
  ASSERT_EQ(preface.size(), 2u);
  std::vector<Piece> reordered;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i == switch_piece) reordered.push_back(pieces[preface[1]]);  // early: held
    if (i == preface[1]) continue;
    reordered.push_back(pieces[i]);
    if (i == switch_piece) reordered.push_back(pieces[0]);  // a late duplicate of HTTP/1 bytes
  }
  ExpectTheRecordedConversation(Drive(reordered), Direction::kEgress);
}

// One byte lost at every position of the conversation (the probes' copy cut short): never a
// crash, the gap always counted, and each of the three requests either appears or a lost
// message is counted: nothing vanishes silently.
TEST(SwitchingEngineTest, OneByteLostAtEveryPosition) {
  const std::vector<Piece> pieces = Pieces(LoadCapture("h2c_upgrade.h2"), Split::kWhole, 0);
  size_t total = 0;
  for (const Piece& p : pieces) total += p.bytes.size();
  size_t upgraded_whole = 0;
  for (size_t lost = 0; lost < total; ++lost) {
    std::vector<Exchange> exchanges;
    std::unique_ptr<ProtocolEngine> engine =
        MakeEngine(Protocol::kHttp1, EngineOptions{}, RoleHint::kClient,
                   [&](Exchange&& e) { exchanges.push_back(std::move(e)); });
    size_t seen = 0;
    uint64_t ts = 1;
    for (const Piece& p : pieces) {
      const size_t n = p.bytes.size();
      if (lost >= seen && lost < seen + n) {
        const size_t k = lost - seen;
        // The chunk's copy ends before the lost byte; the rest comes as its own chunk.
        engine->OnData(p.direction, p.position, absl::string_view(p.bytes).substr(0, k), k + 1,
                       ts++, false);
        if (k + 1 < n) {
          engine->OnData(p.direction, p.position + k + 1, absl::string_view(p.bytes).substr(k + 1),
                         n - k - 1, ts++, false);
        }
      } else {
        engine->OnData(p.direction, p.position, p.bytes, n, ts++, false);
      }
      seen += n;
    }
    engine->OnClose(ts++);
    const LossCounters losses = engine->losses();
    ASSERT_EQ(losses.gap_bytes, 1u) << "lost byte " << lost;
    const bool some_message_lost = losses.messages_dropped_gap + losses.parse_errors > 0;
    for (const char* target : {"/index.html", "/style.css", "/missing.png"}) {
      EXPECT_TRUE(ByTarget(exchanges, target) != nullptr || some_message_lost ||
                  std::any_of(exchanges.begin(), exchanges.end(),
                              [](const Exchange& e) { return !e.complete; }))
          << target << " vanished, lost byte " << lost;
    }
    const Exchange* page = ByTarget(exchanges, "/index.html");
    if (page != nullptr && page->complete && page->response.version == "HTTP/2") ++upgraded_whole;
  }
  // A lost byte inside a DATA payload or a PRIORITY frame still leaves the switch intact.
  EXPECT_GT(upgraded_whole, 0u);
}

// The real conversation damaged at random (bytes changed, neighbouring pieces swapped, the
// limits small): whatever the engines make of it, every exchange is well formed, the counters
// agree with what was emitted, and little is held after the close. (The libFuzzer targets
// drive each engine alone; this drives the switch between them.)
TEST(SwitchingEngineTest, DamagedConversationsStayWellFormed) {
  const std::vector<Chunk> chunks = LoadCapture("h2c_upgrade.h2");
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Piece> pieces = Pieces(chunks, Split::kRandom, seed);
    const int flips = std::uniform_int_distribution<int>(0, 3)(rng);
    for (int f = 0; f < flips; ++f) {
      Piece& p = pieces[std::uniform_int_distribution<size_t>(0, pieces.size() - 1)(rng)];
      p.bytes[std::uniform_int_distribution<size_t>(0, p.bytes.size() - 1)(rng)] ^=
          static_cast<char>(std::uniform_int_distribution<int>(1, 255)(rng));
    }
    for (size_t i = 0; i + 1 < pieces.size(); ++i) {
      if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) std::swap(pieces[i], pieces[i + 1]);
    }
    EngineOptions options;
    if (seed % 3 == 0) {
      options.max_buffered_bytes = 256;
      options.max_reorder_chunks = 2;
      options.max_header_block_bytes = 128;
      options.max_body_bytes = 16;
    }
    uint64_t emitted = 0;
    std::unique_ptr<ProtocolEngine> engine =
        MakeEngine(Protocol::kHttp1, options, static_cast<RoleHint>(seed % 3), [&](Exchange&& e) {
          ++emitted;
          EXPECT_TRUE(e.has_request || e.has_response || !e.notes.empty()) << "seed " << seed;
          EXPECT_TRUE(!e.complete || (e.has_request && e.has_response)) << "seed " << seed;
          EXPECT_LE(e.response.body.data.size(), options.max_body_bytes) << "seed " << seed;
        });
    uint64_t ts = 1;
    for (const Piece& p : pieces) {
      engine->OnData(p.direction, p.position, p.bytes, p.bytes.size(), ts++, false);
    }
    engine->OnClose(ts);
    std::map<std::string, uint64_t> counters;
    engine->ForEachCounter([&](const char* name, uint64_t value) { counters[name] = value; });
    EXPECT_EQ(counters["http.exchanges"] + counters["http2.exchanges"], emitted) << "seed " << seed;
    // After the close only the HTTP/2 engine's HPACK tables and parser buffers remain.
    EXPECT_LT(engine->HeldBytes(), 24u * 1024) << "seed " << seed;
  }
}

// Other upgrades keep the HTTP/1 engine's behaviour: the exchange with its 101, a note, and
// the later bytes counted as not parsed.
TEST(SwitchingEngineTest, WebSocketUpgradeIsNotSwitched) {
  const std::vector<Chunk> chunks = {
      {Direction::kEgress,
       "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
      {Direction::kIngress,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
       "\x81\x05hello"}};
  const Result r = Drive(Pieces(chunks, Split::kWhole, 0));
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].response.status, 101u);
  EXPECT_THAT(r.exchanges[0].notes[0], HasSubstr("connection upgraded to websocket"));
  EXPECT_EQ(r.protocol_at_end, Protocol::kHttp1);
  EXPECT_EQ(r.counters.at("http.upgrades"), 1u);
  EXPECT_EQ(r.counters.at("http.upgrades_h2c"), 0u);
  EXPECT_EQ(r.counters.at("http.bytes_not_parsed"), 7u);
}

// A server that answers the upgrade request in HTTP/1.1 (no 101): HTTP/1 goes on.
TEST(SwitchingEngineTest, RefusedH2cUpgradeStaysHttp1) {
  const std::vector<Chunk> chunks = {
      {Direction::kEgress,
       "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
       "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n"},
      {Direction::kIngress,
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nnoHTTP/1.1 200 OK\r\nContent-Length: "
       "1\r\n\r\ny"}};
  const Result r = Drive(Pieces(chunks, Split::kWhole, 0));
  ASSERT_EQ(r.exchanges.size(), 2u);
  EXPECT_EQ(r.exchanges[1].request.target, "/next");
  EXPECT_EQ(r.exchanges[1].response.body.data, "y");
  EXPECT_EQ(r.protocol_at_end, Protocol::kHttp1);
  EXPECT_EQ(r.counters.at("http.upgrades_h2c"), 0u);
}

// The connection is counted once in each engine's counters when it ends.
TEST(SwitchingEngineTest, CounterTotalsAddBothEngines) {
  const std::vector<Chunk> chunks = LoadCapture("h2c_upgrade.h2");
  std::unique_ptr<ProtocolEngine> engine =
      MakeEngine(Protocol::kHttp1, EngineOptions{}, RoleHint::kClient, [](Exchange&&) {});
  std::map<Direction, uint64_t> position;
  for (const Chunk& c : chunks) {
    engine->OnData(c.direction, position[c.direction], c.bytes, c.bytes.size(), 1, false);
    position[c.direction] += c.bytes.size();
  }
  engine->OnClose(2);
  EngineCounterTotals totals;
  totals.Add(*engine);
  std::map<std::string, uint64_t> counters;
  totals.ForEach([&](const char* name, uint64_t value) { counters[name] = value; });
  EXPECT_EQ(counters.at("http.upgrades_h2c"), 1u);
  EXPECT_EQ(counters.at("http2.exchanges"), 3u);
}

}  // namespace
}  // namespace httptrace::protocols
