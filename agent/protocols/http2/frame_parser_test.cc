// The frame parser fed whole, byte by byte and in random splits (same frames every way), with
// gaps inside and outside DATA payloads, and joined mid-stream at every offset.

#include "agent/protocols/http2/frame_parser.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protocols::http2 {
namespace {

using ::testing::ElementsAre;

// Records what the parser reports; DATA pieces are joined into one event per frame.
class Recorder : public FrameParser::Visitor {
 public:
  void OnPreface() override { events.push_back("PREFACE"); }
  void OnDataBegin(const FrameHeader& h) override {
    data.clear();
    missing = 0;
  }
  void OnDataPayload(const FrameHeader& h, absl::string_view d) override {
    data.append(d.data(), d.size());
  }
  void OnDataMissing(const FrameHeader& h, uint64_t bytes) override { missing += bytes; }
  void OnDataEnd(const FrameHeader& h) override {
    events.push_back(absl::StrCat("DATA s=", h.stream_id, " f=", h.flags, " '", data, "'",
                                  missing ? absl::StrCat(" missing=", missing) : ""));
  }
  void OnHeaders(const FrameHeader& h, absl::string_view f) override {
    events.push_back(absl::StrCat("HEADERS s=", h.stream_id, " f=", h.flags, " '", f, "'"));
  }
  void OnPushPromise(const FrameHeader& h, uint32_t promised, absl::string_view f) override {
    events.push_back(absl::StrCat("PUSH_PROMISE s=", h.stream_id, " p=", promised, " '", f, "'"));
  }
  void OnContinuation(const FrameHeader& h, absl::string_view f) override {
    events.push_back(absl::StrCat("CONTINUATION s=", h.stream_id, " f=", h.flags, " '", f, "'"));
  }
  void OnRstStream(const FrameHeader& h, uint32_t code) override {
    events.push_back(absl::StrCat("RST_STREAM s=", h.stream_id, " code=", code));
  }
  void OnSetting(uint16_t id, uint32_t value) override {
    events.push_back(absl::StrCat("SETTING ", id, "=", value));
  }
  void OnGoaway(const FrameHeader& h, uint32_t last, uint32_t code,
                absl::string_view debug) override {
    events.push_back(absl::StrCat("GOAWAY last=", last, " code=", code, " '", debug, "'"));
  }
  void OnOtherFrame(const FrameHeader& h) override {
    events.push_back(absl::StrCat(FrameTypeName(h.type), " s=", h.stream_id, " f=", h.flags));
  }
  void OnFrameTooLarge(const FrameHeader& h) override {
    events.push_back(absl::StrCat("TOO_LARGE ", FrameTypeName(h.type), " len=", h.length));
  }
  void OnFrameLost(const FrameHeader& h) override {
    events.push_back(absl::StrCat("LOST ", FrameTypeName(h.type), " s=", h.stream_id));
  }
  void OnMalformedFrame(const FrameHeader& h, absl::string_view reason) override {
    events.push_back(absl::StrCat("MALFORMED ", FrameTypeName(h.type), ": ", reason));
  }
  void OnLostSync(absl::string_view reason) override {
    events.push_back(absl::StrCat("LOST_SYNC ", reason));
  }
  void OnResync(uint64_t skipped) override { events.push_back(absl::StrCat("RESYNC ", skipped)); }

  std::vector<std::string> events;
  std::string data;
  uint64_t missing = 0;
};

std::string Frame(FrameType type, uint8_t flags, uint32_t stream, absl::string_view payload) {
  FrameHeader h;
  h.length = payload.size();
  h.type = static_cast<uint8_t>(type);
  h.flags = flags;
  h.stream_id = stream;
  return SerializeFrameHeader(h) + std::string(payload);
}

std::string U32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A client's side of a conversation touching every frame type, flags and padding. Payloads are
// text, so no payload byte sequence looks like a frame header (lengths of 0x2020xx and more).
struct Conversation {
  std::string bytes;
  std::vector<size_t> frame_starts;  // offsets of frame headers (after the preface)
  void Add(std::string frame) {
    frame_starts.push_back(bytes.size());
    bytes += frame;
  }
};

Conversation ClientConversation() {
  Conversation c;
  c.bytes = std::string(kClientPreface);
  c.Add(Frame(FrameType::kSettings, 0, 0, std::string("\x00\x04\x00\x01\x00\x00", 6)));
  c.Add(Frame(FrameType::kWindowUpdate, 0, 0, U32(65535)));
  c.Add(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, "first-block"));
  c.Add(Frame(FrameType::kData, kFlagEndStream, 1, "hello body"));
  // Padded HEADERS with priority, split over a CONTINUATION.
  c.Add(Frame(FrameType::kHeaders, kFlagPadded | kFlagPriority, 3,
              std::string("\x03") + U32(1) + "\x10" + "part-one" + "PAD"));
  c.Add(Frame(FrameType::kContinuation, kFlagEndHeaders, 3, "part-two"));
  c.Add(Frame(FrameType::kData, kFlagPadded, 3, std::string("\x04") + "padded data" + "PPPP"));
  c.Add(Frame(FrameType::kData, kFlagEndStream, 3, ""));
  c.Add(Frame(FrameType::kPriority, 0, 5, U32(3) + "\x20"));
  c.Add(Frame(FrameType::kPing, 0, 0, "pingpong"));
  c.Add(Frame(FrameType::kRstStream, 0, 5, U32(8)));
  c.Add(Frame(static_cast<FrameType>(0x42), 0, 0, "unknown extension frame"));
  c.Add(Frame(FrameType::kPushPromise, kFlagEndHeaders | kFlagPadded, 1,
              std::string("\x02") + U32(2) + "promised" + "XY"));
  c.Add(Frame(FrameType::kSettings, kFlagAck, 0, ""));
  c.Add(Frame(FrameType::kGoaway, 0, 0, U32(3) + U32(0) + "bye"));
  return c;
}

const std::vector<std::string> kClientEvents = {
    "PREFACE",
    "SETTING 4=65536",
    "SETTINGS s=0 f=0",
    "WINDOW_UPDATE s=0 f=0",
    "HEADERS s=1 f=4 'first-block'",
    "DATA s=1 f=1 'hello body'",
    "HEADERS s=3 f=40 'part-one'",
    "CONTINUATION s=3 f=4 'part-two'",
    "DATA s=3 f=8 'padded data'",
    "DATA s=3 f=1 ''",
    "PRIORITY s=5 f=0",
    "PING s=0 f=0",
    "RST_STREAM s=5 code=8",
    "UNKNOWN s=0 f=0",
    "PUSH_PROMISE s=1 p=2 'promised'",
    "SETTINGS s=0 f=1",
    "GOAWAY last=3 code=0 'bye'",
};

TEST(FrameParserTest, WholeByteByByteAndRandomSplitsGiveTheSameFrames) {
  const Conversation c = ClientConversation();
  {
    Recorder r;
    FrameParser p(r, FrameParser::Start::kConnectionStart);
    p.Feed(c.bytes);
    EXPECT_EQ(r.events, kClientEvents);
    EXPECT_TRUE(p.in_sync());
  }
  {
    Recorder r;
    FrameParser p(r, FrameParser::Start::kConnectionStart);
    for (char ch : c.bytes) p.Feed(absl::string_view(&ch, 1));
    EXPECT_EQ(r.events, kClientEvents);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    Recorder r;
    FrameParser p(r, FrameParser::Start::kConnectionStart);
    size_t at = 0;
    while (at < c.bytes.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(1, 40)(rng);
      p.Feed(absl::string_view(c.bytes).substr(at, n));
      at += n;
    }
    ASSERT_EQ(r.events, kClientEvents) << "round " << round;
  }
}

TEST(FrameParserTest, ServerSideStartsWithAFrame) {
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart);
  p.Feed(Frame(FrameType::kSettings, 0, 0, "") +
         Frame(FrameType::kHeaders, kFlagEndHeaders, 1, "status"));
  EXPECT_THAT(r.events, ElementsAre("SETTINGS s=0 f=0", "HEADERS s=1 f=4 'status'"));
}

TEST(FrameParserTest, GapInsideDataPayloadKeepsFraming) {
  const std::string data = Frame(FrameType::kData, kFlagEndStream, 1, "0123456789");
  const std::string next = Frame(FrameType::kHeaders, kFlagEndHeaders, 3, "next");
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart);
  p.Feed(Frame(FrameType::kSettings, 0, 0, ""));
  p.Feed(data.substr(0, 12));  // header + "012"
  p.OnGap(4);                  // "3456"
  p.Feed(data.substr(16));     // "789"
  p.Feed(next);
  EXPECT_THAT(r.events, ElementsAre("SETTINGS s=0 f=0", "DATA s=1 f=1 '012789' missing=4",
                                    "HEADERS s=3 f=4 'next'"));
  EXPECT_TRUE(p.in_sync());
}

TEST(FrameParserTest, GapInsideHeadersPayloadLosesTheBlockNotTheFraming) {
  const std::string headers = Frame(FrameType::kHeaders, kFlagEndHeaders, 1, "abcdefgh");
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart);
  p.Feed(headers.substr(0, 11));
  p.OnGap(3);
  p.Feed(headers.substr(14));
  p.Feed(Frame(FrameType::kRstStream, 0, 1, U32(8)));
  EXPECT_THAT(r.events, ElementsAre("LOST HEADERS s=1", "RST_STREAM s=1 code=8"));
}

TEST(FrameParserTest, GapAcrossFrameHeaderResynchronises) {
  const Conversation c = ClientConversation();
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart);
  // Lose the WINDOW_UPDATE and the next HEADERS' first 3 bytes: resync at the DATA after it.
  const size_t cut = c.frame_starts[1];
  p.Feed(absl::string_view(c.bytes).substr(0, cut));
  p.OnGap(c.frame_starts[2] + 3 - cut);
  p.Feed(absl::string_view(c.bytes).substr(c.frame_starts[2] + 3));
  std::vector<std::string> want = {
      "PREFACE", "SETTING 4=65536", "SETTINGS s=0 f=0", "LOST_SYNC gap in a frame header",
      absl::StrCat("RESYNC ", c.frame_starts[3] - c.frame_starts[2] - 3)};
  want.insert(want.end(), kClientEvents.begin() + 5, kClientEvents.end());
  EXPECT_EQ(r.events, want);
}

// Joined at every offset of the conversation: after the resync, exactly the frames that start
// at or after the join point, never an invented one.
TEST(FrameParserTest, MidStreamJoinAtEveryOffsetFindsTheNextRealFrame) {
  const Conversation c = ClientConversation();
  // Event index of the first event of each frame (frame i starts at frame_starts[i]).
  const std::vector<size_t> first_event = {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  ASSERT_EQ(first_event.size(), c.frame_starts.size());
  // What follows the conversation: enough PINGs that a false start whose claimed length runs
  // past the conversation's end (up to 16 KiB) is resolved by real bytes.
  std::string pings;
  for (int i = 0; i < 1100; ++i) pings += Frame(FrameType::kPing, 0, 0, "12345678");
  for (size_t join = 0; join < c.bytes.size(); ++join) {
    Recorder r;
    FrameParser p(r, FrameParser::Start::kMidStream);
    p.Feed(absl::string_view(c.bytes).substr(join));
    p.OnChunkEnd();
    p.Feed(pings);
    p.OnChunkEnd();
    // The first frame starting at or after the join that can start a resync: frame 11 is of an
    // unknown type, which never starts one (it only continues a chain).
    size_t frame = 0;
    while (frame < c.frame_starts.size() && (c.frame_starts[frame] < join || frame == 11)) {
      ++frame;
    }
    std::vector<std::string> want;
    if (join == 0) {
      want.push_back("RESYNC 0");
      want.insert(want.end(), kClientEvents.begin(), kClientEvents.end());
    } else if (frame < c.frame_starts.size()) {
      want.push_back(absl::StrCat("RESYNC ", c.frame_starts[frame] - join));
      want.insert(want.end(), kClientEvents.begin() + first_event[frame], kClientEvents.end());
    } else {
      want.push_back(absl::StrCat("RESYNC ", c.bytes.size() - join));
    }
    for (int i = 0; i < 1100; ++i) want.push_back("PING s=0 f=0");
    ASSERT_EQ(r.events, want) << "join at " << join;
  }
}

TEST(FrameParserTest, SingleFrameWriteIsAcceptedAtItsEnd) {
  // A late join whose first write is one HEADERS frame: accepted at the write's end, without
  // waiting for the next frame.
  Recorder r;
  FrameParser p(r, FrameParser::Start::kMidStream);
  p.Feed(Frame(FrameType::kHeaders, kFlagEndHeaders | kFlagEndStream, 7, "block"));
  EXPECT_TRUE(r.events.empty());
  p.OnChunkEnd();
  EXPECT_THAT(r.events, ElementsAre("RESYNC 0", "HEADERS s=7 f=5 'block'"));
}

TEST(FrameParserTest, GarbageIsSkippedNotParsed) {
  Recorder r;
  FrameParser p(r, FrameParser::Start::kMidStream);
  const std::string garbage = "this is not http/2 at all, just text in a stream";
  p.Feed(garbage);
  p.OnChunkEnd();
  EXPECT_TRUE(r.events.empty());
  EXPECT_FALSE(p.in_sync());
  EXPECT_LE(p.HeldBytes(), 64u * 1024);
}

TEST(FrameParserTest, LargeFramesAreSkippedAndDataStreamed) {
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart, /*max_buffered_frame_bytes=*/16);
  p.Feed(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, std::string(100, 'h')));
  const std::string big(100000, 'd');
  FrameHeader h;
  h.length = big.size();
  h.type = 0;
  h.flags = kFlagEndStream;
  h.stream_id = 1;
  p.Feed(SerializeFrameHeader(h));
  for (size_t i = 0; i < big.size(); i += 1000) p.Feed(absl::string_view(big).substr(i, 1000));
  EXPECT_LT(p.HeldBytes(), 1024u);  // DATA never buffered
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0], "TOO_LARGE HEADERS len=100");
  EXPECT_EQ(r.events[1].size(), std::string("DATA s=1 f=1 ''").size() + big.size());
}

TEST(FrameParserTest, MalformedFramesAreSkippedWithFramingKept) {
  Recorder r;
  FrameParser p(r, FrameParser::Start::kConnectionStart);
  p.Feed(Frame(FrameType::kData, kFlagPadded, 1, std::string("\x09") + "abc"));  // pad > length
  p.Feed(Frame(FrameType::kRstStream, 0, 1, "abc"));                             // not 4 bytes
  p.Feed(Frame(FrameType::kHeaders, kFlagEndHeaders, 1, "ok"));
  EXPECT_THAT(r.events, ElementsAre("MALFORMED DATA: DATA padding longer than the frame",
                                    "MALFORMED RST_STREAM: RST_STREAM length is not 4",
                                    "HEADERS s=1 f=4 'ok'"));
}

TEST(FrameParserTest, PlausibleFrameHeaderRules) {
  FrameHeader h;
  h.type = 1;
  h.flags = kFlagEndHeaders;
  h.stream_id = 1;
  h.length = 100;
  EXPECT_TRUE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));
  h.stream_id = 0;
  EXPECT_FALSE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));  // HEADERS on stream 0
  h.stream_id = 1;
  h.flags = 0x40;
  EXPECT_FALSE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));  // undefined flag
  h.flags = 0;
  h.length = 20000;
  EXPECT_FALSE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));
  h = FrameHeader{8, static_cast<uint8_t>(FrameType::kPing), 0, 0};
  EXPECT_TRUE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));
  h.length = 7;
  EXPECT_FALSE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));
  h = FrameHeader{4, 0x0b, 0, 0};
  EXPECT_FALSE(PlausibleFrameHeader(h, kDefaultMaxFrameSize));  // unknown type
}

TEST(FrameParserTest, BeginsHttp2Message) {
  const std::string settings = Frame(FrameType::kSettings, 0, 0, "");
  const std::string headers = Frame(FrameType::kHeaders, kFlagEndHeaders, 1, "block");
  const std::string data = Frame(FrameType::kData, 0, 1, "body");
  EXPECT_TRUE(BeginsHttp2Message(std::string(kClientPreface) + settings + headers));
  EXPECT_TRUE(BeginsHttp2Message(data + headers));
  EXPECT_TRUE(
      BeginsHttp2Message(Frame(FrameType::kPushPromise, kFlagEndHeaders, 1, U32(2) + "block")));
  EXPECT_FALSE(BeginsHttp2Message(data + settings));
  EXPECT_FALSE(BeginsHttp2Message(data.substr(3) + headers));  // not a frame start
  EXPECT_FALSE(BeginsHttp2Message("GET / HTTP/1.1\r\n\r\n"));
}

}  // namespace
}  // namespace httptrace::protocols::http2
