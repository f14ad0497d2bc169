// Incremental HTTP/2 frame parser (RFC 9113 section 4 and 6) for one direction of a connection,
// fed the stream in arbitrary pieces and told about the bytes it never saw. Non-DATA frames are
// delivered whole (buffered up to a bound); DATA payloads stream through in pieces with padding
// removed, so a large body is never buffered and a gap inside a DATA payload keeps framing.
// Joined mid-stream (or after a gap outside a DATA payload) it resynchronises on a plausible
// frame header sequence; README.md says exactly what is accepted.
//
//   FrameParser parser(visitor, FrameParser::Start::kConnectionStart);
//   parser.Feed(bytes);  // as they arrive, in order
//   parser.OnGap(n);     // n bytes never seen
//   parser.OnChunkEnd(); // a syscall's bytes ended here (helps resynchronising)

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace::protocols::http2 {

inline constexpr absl::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderSize = 9;
inline constexpr uint32_t kDefaultMaxFrameSize = 1u << 14;
inline constexpr uint32_t kMaxFrameSizeLimit = (1u << 24) - 1;

enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

inline constexpr uint8_t kFlagEndStream = 0x1;
inline constexpr uint8_t kFlagAck = 0x1;
inline constexpr uint8_t kFlagEndHeaders = 0x4;
inline constexpr uint8_t kFlagPadded = 0x8;
inline constexpr uint8_t kFlagPriority = 0x20;

inline constexpr uint16_t kSettingsHeaderTableSize = 0x1;
inline constexpr uint16_t kSettingsMaxFrameSize = 0x5;

struct FrameHeader {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;
  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  bool is(FrameType t) const { return type == static_cast<uint8_t>(t); }
};

// Reads a frame header from 9 bytes.
FrameHeader ParseFrameHeader(absl::string_view nine_bytes);
// Writes one (tests, fuzz seeds).
std::string SerializeFrameHeader(const FrameHeader& header);
// "DATA", "HEADERS", ..., "UNKNOWN".
absl::string_view FrameTypeName(uint8_t type);

// A header that could start a frame of a connection joined mid-way (see README.md): a known
// type, only that type's flags, the right kind of stream id, a length the type allows and no
// larger than max_frame_size.
bool PlausibleFrameHeader(const FrameHeader& header, uint32_t max_frame_size);

// Whether the bytes of one syscall, read as frames from their first byte (after the client
// preface, if there), hold the start of a message: a HEADERS or PUSH_PROMISE frame. For
// counting the messages in bytes that had to be dropped unparsed (the pipeline's queue);
// stops at the first implausible header.
bool BeginsHttp2Message(absl::string_view data);

class FrameParser {
 public:
  // Receives frames in stream order. Payloads are only valid during the call.
  class Visitor {
   public:
    virtual ~Visitor() = default;
    virtual void OnPreface() {}
    // DATA: Begin, then pieces of the payload without padding (missing: bytes never seen inside
    // it), then End (header.flags says END_STREAM).
    virtual void OnDataBegin(const FrameHeader& header) {}
    virtual void OnDataPayload(const FrameHeader& header, absl::string_view data) {}
    virtual void OnDataMissing(const FrameHeader& header, uint64_t bytes) {}
    virtual void OnDataEnd(const FrameHeader& header) {}
    // HEADERS (padding and priority removed), PUSH_PROMISE (padding and promised id removed)
    // and CONTINUATION: fragments of a header block, which ends at the frame with END_HEADERS.
    virtual void OnHeaders(const FrameHeader& header, absl::string_view fragment) {}
    virtual void OnPushPromise(const FrameHeader& header, uint32_t promised_stream_id,
                               absl::string_view fragment) {}
    virtual void OnContinuation(const FrameHeader& header, absl::string_view fragment) {}
    virtual void OnRstStream(const FrameHeader& header, uint32_t error_code) {}
    // Each setting of a SETTINGS frame that is not an ACK.
    virtual void OnSetting(uint16_t id, uint32_t value) {}
    virtual void OnGoaway(const FrameHeader& header, uint32_t last_stream_id, uint32_t error_code,
                          absl::string_view debug_data) {}
    // PRIORITY, PING, WINDOW_UPDATE, SETTINGS (after its settings), unknown types: the header
    // only (their content matters to no exchange).
    virtual void OnOtherFrame(const FrameHeader& header) {}
    // A non-DATA frame longer than max_buffered_frame_bytes: its payload is skipped (framing
    // kept). For HEADERS/PUSH_PROMISE/CONTINUATION the header block is lost.
    virtual void OnFrameTooLarge(const FrameHeader& header) {}
    // A non-DATA frame part of whose payload was never seen (a gap): skipped, framing kept. For
    // HEADERS/PUSH_PROMISE/CONTINUATION the header block is lost.
    virtual void OnFrameLost(const FrameHeader& header) {}
    // A frame whose payload contradicts its type (bad padding, wrong fixed length): skipped,
    // framing kept.
    virtual void OnMalformedFrame(const FrameHeader& header, absl::string_view reason) {}
    // Framing was lost (a gap outside a DATA payload, a frame header impossible for this
    // connection): the parser looks for a plausible frame start from here.
    virtual void OnLostSync(absl::string_view reason) {}
    // A frame start was found again after `skipped_bytes` bytes that were not parsed.
    virtual void OnResync(uint64_t skipped_bytes) {}
  };

  enum class Start : uint8_t {
    // The bytes begin at the connection's start: the client preface, or (server side) the
    // first frame.
    kConnectionStart,
    // The bytes begin somewhere in the middle: resynchronise first.
    kMidStream,
  };

  // `max_buffered_frame_bytes`: largest non-DATA payload held to be delivered whole.
  FrameParser(Visitor& visitor, Start start, size_t max_buffered_frame_bytes = 64 * 1024,
              size_t max_resync_bytes = 64 * 1024);
  FrameParser(const FrameParser&) = delete;
  FrameParser& operator=(const FrameParser&) = delete;

  // The next byte is the connection's HTTP/2 start after all (h2c: right after the HTTP/1.1
  // upgrade request or its 101): expect the client preface or the first frame. Before Feed.
  void StartAtConnectionStart() { state_ = State::kPreface; }
  void Feed(absl::string_view data);
  // `bytes` of the stream were never seen.
  void OnGap(uint64_t bytes);
  // The bytes fed so far ended a write/read: a frame ending exactly here while resynchronising
  // is accepted without waiting for the next frame header.
  void OnChunkEnd();

  // SETTINGS_MAX_FRAME_SIZE the receiver of this direction announced (frames up to it are
  // valid). Frames beyond it are still parsed (the limit is the peer's business) unless larger
  // than 2^24-1, which cannot be.
  void set_max_frame_size(uint32_t size) { max_frame_size_ = size; }

  bool in_sync() const { return state_ != State::kResync; }
  // Bytes held (a partial frame, the resync window), for memory accounting.
  size_t HeldBytes() const { return buffer_.capacity(); }

  uint64_t frames() const { return frames_; }
  uint64_t resync_skipped_bytes() const { return resync_skipped_bytes_; }

 private:
  enum class State : uint8_t {
    kPreface,        // matching the client preface at the connection's start
    kFrameHeader,    // collecting 9 header bytes
    kPayload,        // collecting a non-DATA payload to deliver whole
    kSkipPayload,    // skipping a payload (too large, or malformed after its header)
    kDataPadLength,  // DATA: the pad length byte
    kDataPayload,    // DATA: payload bytes
    kDataPadding,    // DATA: padding
    kResync,         // looking for a plausible frame start in buffer_
  };

  // Consumes from data; returns bytes used.
  size_t Step(absl::string_view data);
  void BeginFrame();
  void DeliverFrame(absl::string_view payload);
  void EndData();
  void LoseSync(absl::string_view reason);
  // Scans buffer_ for a frame start; at_chunk_end: the buffer ends where a write ended.
  void TryResync(bool at_chunk_end);
  // Where in buffer_ a resync can start, or npos; *wait: a candidate needs more bytes.
  size_t FindFrameStart(bool at_chunk_end, bool* wait) const;

  Visitor& visitor_;
  const size_t max_buffered_frame_bytes_;
  const size_t max_resync_bytes_;
  uint32_t max_frame_size_ = kDefaultMaxFrameSize;
  State state_;
  std::string buffer_;      // partial header/payload, or the resync window
  FrameHeader header_;      // the frame being parsed
  uint64_t remaining_ = 0;  // payload bytes left in the current state
  uint64_t data_left_ = 0;  // DATA: data bytes left after the current piece
  uint8_t pad_length_ = 0;
  uint64_t resync_skipped_ = 0;  // bytes skipped since sync was lost
  uint64_t frames_ = 0;
  uint64_t resync_skipped_bytes_ = 0;
  // Resync: offsets in buffer_ where a write/read began or ended (a candidate frame that starts
  // and ends on such offsets is accepted alone). Few: older ones are forgotten.
  std::vector<size_t> boundaries_;
  // Resync waiting on the candidate at buffer_[0]: no decision before buffer_ has resync_need_
  // bytes (its frame plus the next header), or exactly resync_frame_end_ at a write's end.
  size_t resync_need_ = 0;
  size_t resync_frame_end_ = 0;
};

}  // namespace httptrace::protocols::http2
