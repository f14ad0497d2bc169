#include "agent/protocols/http2/frame_parser.h"

#include <algorithm>
#include <utility>

namespace httptrace::protocols::http2 {
namespace {

constexpr size_t kMaxBoundaries = 64;

uint32_t Read32(absl::string_view b) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[3]));
}

// Flags each frame type defines (RFC 9113 section 6).
uint8_t AllowedFlags(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kData:
      return kFlagEndStream | kFlagPadded;
    case FrameType::kHeaders:
      return kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority;
    case FrameType::kSettings:
    case FrameType::kPing:
      return kFlagAck;
    case FrameType::kPushPromise:
      return kFlagEndHeaders | kFlagPadded;
    case FrameType::kContinuation:
      return kFlagEndHeaders;
    default:
      return 0;
  }
}

}  // namespace

FrameHeader ParseFrameHeader(absl::string_view b) {
  FrameHeader h;
  h.length = (static_cast<uint32_t>(static_cast<uint8_t>(b[0])) << 16) |
             (static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 8) |
             static_cast<uint32_t>(static_cast<uint8_t>(b[2]));
  h.type = static_cast<uint8_t>(b[3]);
  h.flags = static_cast<uint8_t>(b[4]);
  // The reserved bit is kept: PlausibleFrameHeader rejects it, parsing ignores it.
  h.stream_id = Read32(b.substr(5, 4));
  return h;
}

std::string SerializeFrameHeader(const FrameHeader& h) {
  std::string out(kFrameHeaderSize, '\0');
  out[0] = static_cast<char>((h.length >> 16) & 0xff);
  out[1] = static_cast<char>((h.length >> 8) & 0xff);
  out[2] = static_cast<char>(h.length & 0xff);
  out[3] = static_cast<char>(h.type);
  out[4] = static_cast<char>(h.flags);
  out[5] = static_cast<char>((h.stream_id >> 24) & 0xff);
  out[6] = static_cast<char>((h.stream_id >> 16) & 0xff);
  out[7] = static_cast<char>((h.stream_id >> 8) & 0xff);
  out[8] = static_cast<char>(h.stream_id & 0xff);
  return out;
}

absl::string_view FrameTypeName(uint8_t type) {
  static constexpr absl::string_view kNames[] = {
      "DATA",         "HEADERS", "PRIORITY", "RST_STREAM",    "SETTINGS",
      "PUSH_PROMISE", "PING",    "GOAWAY",   "WINDOW_UPDATE", "CONTINUATION"};
  return type < 10 ? kNames[type] : "UNKNOWN";
}

bool PlausibleFrameHeader(const FrameHeader& h, uint32_t max_frame_size) {
  // HEADERS and CONTINUATION carry a block; an empty one is possible but never seen in practice.
  if (h.type > static_cast<uint8_t>(FrameType::kContinuation)) return false;
  if ((h.flags & ~AllowedFlags(h.type)) != 0) return false;
  if ((h.stream_id & 0x80000000u) != 0) return false;
  if (h.length > max_frame_size) return false;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kData:
      return h.stream_id != 0;
    case FrameType::kHeaders:
    case FrameType::kContinuation:
      return h.stream_id != 0 && h.length > 0;
    case FrameType::kPriority:
      return h.stream_id != 0 && h.length == 5;
    case FrameType::kRstStream:
      return h.stream_id != 0 && h.length == 4;
    case FrameType::kPushPromise:
      return h.stream_id != 0 && h.length >= 4;
    case FrameType::kSettings:
      return h.stream_id == 0 && h.length % 6 == 0 && (!h.has(kFlagAck) || h.length == 0);
    case FrameType::kPing:
      return h.stream_id == 0 && h.length == 8;
    case FrameType::kGoaway:
      return h.stream_id == 0 && h.length >= 8;
    case FrameType::kWindowUpdate:
      return h.length == 4;
  }
  return false;
}

bool BeginsHttp2Message(absl::string_view data) {
  if (data.substr(0, kClientPreface.size()) == kClientPreface) {
    data.remove_prefix(kClientPreface.size());
  }
  while (data.size() >= kFrameHeaderSize) {
    const FrameHeader h = ParseFrameHeader(data);
    if (!PlausibleFrameHeader(h, kMaxFrameSizeLimit)) return false;
    if (h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise)) return true;
    if (data.size() - kFrameHeaderSize <= h.length) return false;
    data.remove_prefix(kFrameHeaderSize + h.length);
  }
  return false;
}

FrameParser::FrameParser(Visitor& visitor, Start start, size_t max_buffered_frame_bytes,
                         size_t max_resync_bytes)
    : visitor_(visitor),
      max_buffered_frame_bytes_(max_buffered_frame_bytes),
      max_resync_bytes_(max_resync_bytes),
      state_(start == Start::kConnectionStart ? State::kPreface : State::kResync) {}

void FrameParser::Feed(absl::string_view data) {
  while (!data.empty()) data.remove_prefix(Step(data));
}

size_t FrameParser::Step(absl::string_view data) {
  switch (state_) {
    case State::kPreface: {
      const size_t n = std::min(data.size(), kClientPreface.size() - buffer_.size());
      buffer_.append(data.data(), n);
      if (kClientPreface.substr(0, buffer_.size()) != buffer_) {
        // Not a client: the first frame of a server (or of a client that skipped the preface).
        std::string seen = std::move(buffer_);
        buffer_.clear();
        state_ = State::kFrameHeader;
        Feed(seen);
        return n;
      }
      if (buffer_.size() == kClientPreface.size()) {
        buffer_.clear();
        state_ = State::kFrameHeader;
        visitor_.OnPreface();
      }
      return n;
    }
    case State::kFrameHeader: {
      const size_t n = std::min(data.size(), kFrameHeaderSize - buffer_.size());
      buffer_.append(data.data(), n);
      if (buffer_.size() == kFrameHeaderSize) {
        header_ = ParseFrameHeader(buffer_);
        header_.stream_id &= 0x7fffffffu;
        buffer_.clear();
        BeginFrame();
      }
      return n;
    }
    case State::kPayload: {
      const size_t n = std::min<uint64_t>(data.size(), remaining_);
      buffer_.append(data.data(), n);
      remaining_ -= n;
      if (remaining_ == 0) {
        state_ = State::kFrameHeader;
        std::string payload = std::move(buffer_);
        buffer_.clear();
        DeliverFrame(payload);
        // Keep the allocation for the next frame when it is small.
        if (payload.capacity() <= 16 * 1024) {
          payload.clear();
          buffer_.swap(payload);
        }
      }
      return n;
    }
    case State::kSkipPayload: {
      const size_t n = std::min<uint64_t>(data.size(), remaining_);
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kFrameHeader;
      return n;
    }
    case State::kDataPadLength: {
      pad_length_ = static_cast<uint8_t>(data[0]);
      if (pad_length_ > header_.length - 1) {
        visitor_.OnMalformedFrame(header_, "DATA padding longer than the frame");
        remaining_ = header_.length - 1;
        state_ = remaining_ > 0 ? State::kSkipPayload : State::kFrameHeader;
        return 1;
      }
      data_left_ = header_.length - 1 - pad_length_;
      remaining_ = pad_length_;
      visitor_.OnDataBegin(header_);
      state_ = State::kDataPayload;
      if (data_left_ == 0) state_ = remaining_ > 0 ? State::kDataPadding : State::kFrameHeader;
      if (data_left_ == 0 && remaining_ == 0) EndData();
      return 1;
    }
    case State::kDataPayload: {
      const size_t n = std::min<uint64_t>(data.size(), data_left_);
      data_left_ -= n;
      visitor_.OnDataPayload(header_, data.substr(0, n));
      if (data_left_ == 0) {
        if (remaining_ > 0) {
          state_ = State::kDataPadding;
        } else {
          EndData();
        }
      }
      return n;
    }
    case State::kDataPadding: {
      const size_t n = std::min<uint64_t>(data.size(), remaining_);
      remaining_ -= n;
      if (remaining_ == 0) EndData();
      return n;
    }
    case State::kResync: {
      if (boundaries_.size() >= kMaxBoundaries) boundaries_.erase(boundaries_.begin());
      boundaries_.push_back(buffer_.size());
      buffer_.append(data.data(), data.size());
      TryResync(/*at_chunk_end=*/false);
      return data.size();
    }
  }
  return data.size();
}

void FrameParser::BeginFrame() {
  ++frames_;
  if (header_.is(FrameType::kData)) {
    pad_length_ = 0;
    remaining_ = 0;
    if (header_.has(kFlagPadded)) {
      if (header_.length == 0) {
        visitor_.OnMalformedFrame(header_, "padded DATA without a pad length");
        state_ = State::kFrameHeader;
        return;
      }
      state_ = State::kDataPadLength;
      return;
    }
    data_left_ = header_.length;
    visitor_.OnDataBegin(header_);
    if (data_left_ == 0) {
      EndData();
    } else {
      state_ = State::kDataPayload;
    }
    return;
  }
  remaining_ = header_.length;
  if (header_.length > max_buffered_frame_bytes_) {
    visitor_.OnFrameTooLarge(header_);
    state_ = State::kSkipPayload;
    return;
  }
  if (remaining_ == 0) {
    state_ = State::kFrameHeader;
    DeliverFrame({});
    return;
  }
  state_ = State::kPayload;
}

void FrameParser::EndData() {
  state_ = State::kFrameHeader;
  visitor_.OnDataEnd(header_);
}

void FrameParser::DeliverFrame(absl::string_view p) {
  const FrameHeader& h = header_;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise: {
      const bool push = h.is(FrameType::kPushPromise);
      size_t offset = 0;
      size_t pad = 0;
      if (h.has(kFlagPadded)) {
        if (p.empty()) return visitor_.OnMalformedFrame(h, "padded frame without a pad length");
        pad = static_cast<uint8_t>(p[0]);
        offset = 1;
      }
      if (!push && h.has(kFlagPriority)) offset += 5;
      if (push) offset += 4;
      if (offset + pad > p.size())
        return visitor_.OnMalformedFrame(h, "padding or fields too long");
      const absl::string_view fragment = p.substr(offset, p.size() - offset - pad);
      if (push) {
        return visitor_.OnPushPromise(h, Read32(p.substr(offset - 4, 4)) & 0x7fffffffu, fragment);
      }
      return visitor_.OnHeaders(h, fragment);
    }
    case FrameType::kContinuation:
      return visitor_.OnContinuation(h, p);
    case FrameType::kRstStream:
      if (p.size() != 4) return visitor_.OnMalformedFrame(h, "RST_STREAM length is not 4");
      return visitor_.OnRstStream(h, Read32(p));
    case FrameType::kSettings:
      if (p.size() % 6 != 0) {
        return visitor_.OnMalformedFrame(h, "SETTINGS length not a multiple of 6");
      }
      if (!h.has(kFlagAck)) {
        for (size_t i = 0; i + 6 <= p.size(); i += 6) {
          const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(p[i]) << 8) |
                                                    static_cast<uint8_t>(p[i + 1]));
          visitor_.OnSetting(id, Read32(p.substr(i + 2, 4)));
        }
      }
      return visitor_.OnOtherFrame(h);
    case FrameType::kGoaway:
      if (p.size() < 8) return visitor_.OnMalformedFrame(h, "GOAWAY shorter than 8 bytes");
      return visitor_.OnGoaway(h, Read32(p) & 0x7fffffffu, Read32(p.substr(4, 4)), p.substr(8));
    case FrameType::kPing:
      if (p.size() != 8) return visitor_.OnMalformedFrame(h, "PING length is not 8");
      return visitor_.OnOtherFrame(h);
    case FrameType::kPriority:
      if (p.size() != 5) return visitor_.OnMalformedFrame(h, "PRIORITY length is not 5");
      return visitor_.OnOtherFrame(h);
    case FrameType::kWindowUpdate:
      if (p.size() != 4) return visitor_.OnMalformedFrame(h, "WINDOW_UPDATE length is not 4");
      return visitor_.OnOtherFrame(h);
    case FrameType::kData:  // streamed, never here
      return;
  }
  visitor_.OnOtherFrame(h);  // unknown type: ignored, as RFC 9113 5.5 asks
}

void FrameParser::OnGap(uint64_t bytes) {
  while (bytes > 0) {
    switch (state_) {
      case State::kDataPayload: {
        const uint64_t n = std::min(bytes, data_left_);
        data_left_ -= n;
        bytes -= n;
        visitor_.OnDataMissing(header_, n);
        if (data_left_ == 0) {
          if (remaining_ > 0) {
            state_ = State::kDataPadding;
          } else {
            EndData();
          }
        }
        break;
      }
      case State::kDataPadding:
      case State::kSkipPayload: {
        const uint64_t n = std::min(bytes, remaining_);
        remaining_ -= n;
        bytes -= n;
        if (remaining_ == 0) {
          if (state_ == State::kDataPadding) {
            EndData();
          } else {
            state_ = State::kFrameHeader;
          }
        }
        break;
      }
      case State::kDataPadLength:
        // The pad length is lost: the rest of the frame is counted as missing DATA (an upper
        // bound: some of it may have been padding).
        visitor_.OnDataBegin(header_);
        data_left_ = header_.length;
        pad_length_ = 0;
        remaining_ = 0;
        state_ = State::kDataPayload;
        break;
      case State::kPayload: {
        // The frame's length is known: framing survives, its content does not.
        visitor_.OnFrameLost(header_);
        buffer_.clear();
        state_ = State::kSkipPayload;
        break;
      }
      case State::kResync:
        // Bytes before the gap cannot join bytes after it.
        resync_need_ = 0;
        resync_skipped_ += buffer_.size();
        buffer_.clear();
        boundaries_.clear();
        return;
      case State::kPreface:
      case State::kFrameHeader:
        LoseSync(state_ == State::kPreface ? "gap in the client preface" : "gap in a frame header");
        resync_skipped_ += buffer_.size();
        buffer_.clear();
        boundaries_.clear();
        return;
    }
  }
}

void FrameParser::OnChunkEnd() {
  if (state_ != State::kResync) return;
  if (boundaries_.size() >= kMaxBoundaries) boundaries_.erase(boundaries_.begin());
  boundaries_.push_back(buffer_.size());
  TryResync(/*at_chunk_end=*/true);
}

void FrameParser::LoseSync(absl::string_view reason) {
  // A partial header in buffer_ is dropped by the caller (counted as skipped).
  state_ = State::kResync;
  resync_skipped_ = 0;
  resync_need_ = 0;
  visitor_.OnLostSync(reason);
}

size_t FrameParser::FindFrameStart(bool at_chunk_end, bool* wait) const {
  *wait = false;
  const absl::string_view b = buffer_;
  const size_t n = b.size();
  const auto is_boundary = [&](size_t offset) {
    return std::find(boundaries_.begin(), boundaries_.end(), offset) != boundaries_.end();
  };
  const auto plausible_at = [&](size_t i) {
    if (n - i < kFrameHeaderSize) return false;
    const FrameHeader h = ParseFrameHeader(b.substr(i));
    if (!PlausibleFrameHeader(h, kDefaultMaxFrameSize)) return false;
    // Runs of zero bytes (binary payloads are full of them) read as empty DATA frames: an empty
    // DATA frame only starts a resync when it ends a stream.
    return !(h.length == 0 && h.is(FrameType::kData) && !h.has(kFlagEndStream));
  };
  // After a plausible frame, a frame of a type we do not know (an extension) continues the chain
  // if its stream id's reserved bit is clear and its length fits.
  const auto continues_at = [&](size_t i) {
    if (plausible_at(i)) return true;
    if (n - i < kFrameHeaderSize) return false;
    const FrameHeader h = ParseFrameHeader(b.substr(i));
    return h.type > static_cast<uint8_t>(FrameType::kContinuation) &&
           (h.stream_id & 0x80000000u) == 0 && h.length <= kDefaultMaxFrameSize;
  };
  // For every offset, the chain of plausible frames starting there: how many whole frames, and
  // whether it runs to the end of the buffer (true starts do; false ones mostly meet an
  // implausible header). Computed backwards, each offset once.
  struct Chain {
    int32_t frames = -1;         // -1: no chain from here (implausible header on the way)
    bool first_partial = false;  // the first frame runs past the buffer: cannot judge yet
  };
  std::vector<Chain> chain(n + 1);
  std::vector<Chain> link(n + 1);  // the same for chains that may start with an unknown type
  for (size_t i = n; i-- > 0;) {
    if (!continues_at(i)) continue;
    const size_t end = i + kFrameHeaderSize + ParseFrameHeader(b.substr(i)).length;
    Chain c;
    if (end > n) {
      c = {0, true};
    } else if (end + kFrameHeaderSize > n) {
      c = {1, false};  // the next header is not (all) here yet
    } else if (link[end].frames >= 0 && !link[end].first_partial) {
      c = {1 + link[end].frames, false};
    } else if (link[end].first_partial) {
      c = {1, false};
    }
    link[i] = c;
    if (plausible_at(i)) chain[i] = c;
  }
  // The preface is certain; a partial preface at the end waits.
  for (size_t i = 0; i < n; ++i) {
    const absl::string_view rest = b.substr(i);
    if (rest.size() >= kClientPreface.size()) {
      if (rest.substr(0, kClientPreface.size()) == kClientPreface) return i;
    } else if (kClientPreface.substr(0, rest.size()) == rest) {
      break;
    }
  }
  // The earliest chain that reaches the end; if its first frame is still partial, wait (a
  // start inside its payload must not win over it before its bytes are here).
  size_t first = std::string::npos;
  for (size_t i = 0; i < n; ++i) {
    if (chain[i].frames >= 0) {
      first = i;
      break;
    }
  }
  // Bytes after the last full header's worth may yet start a chain.
  const size_t tail = n >= kFrameHeaderSize ? n - kFrameHeaderSize + 1 : 0;
  if (first == std::string::npos) {
    if (tail < n) *wait = true;
    return tail < n ? tail : std::string::npos;
  }
  if (chain[first].first_partial) {
    *wait = true;
    return first;
  }
  // The longest chain wins (a false start that lands on a real frame boundary swallows the real
  // frames it covers, so its chain is shorter); ties go to the earliest.
  size_t best = first;
  for (size_t i = first + 1; i < n; ++i) {
    if (chain[i].frames > chain[best].frames) best = i;
  }
  if (chain[best].frames >= 2) return best;
  // One frame from a write's first byte to a write's last byte.
  if (chain[best].frames == 1 && at_chunk_end && is_boundary(best) &&
      best + kFrameHeaderSize + ParseFrameHeader(b.substr(best)).length == n) {
    return best;
  }
  *wait = true;
  return first;
}

void FrameParser::TryResync(bool at_chunk_end) {
  // Waiting on a candidate nothing can be decided before its frame (and the next header) are
  // here: skip the scan, which would otherwise run over the whole window for every small chunk.
  if (resync_need_ > 0 && buffer_.size() < resync_need_ &&
      !(at_chunk_end && buffer_.size() == resync_frame_end_)) {
    return;
  }
  resync_need_ = 0;
  bool wait = false;
  size_t start = FindFrameStart(at_chunk_end, &wait);
  if (start == std::string::npos) {
    start = buffer_.size();
    wait = true;  // nothing plausible: skip it all, keep looking in what comes next
  }
  if (wait) {
    // Everything before the candidate is rejected; keep the rest (bounded).
    if (buffer_.size() - start > max_resync_bytes_) start = buffer_.size() - max_resync_bytes_;
    if (start > 0) {
      resync_skipped_ += start;
      resync_skipped_bytes_ += start;
      buffer_.erase(0, start);
      std::vector<size_t> kept;
      for (size_t b : boundaries_) {
        if (b >= start) kept.push_back(b - start);
      }
      boundaries_.swap(kept);
    }
    if (buffer_.size() >= kFrameHeaderSize) {
      const FrameHeader h = ParseFrameHeader(buffer_);
      if (PlausibleFrameHeader(h, kDefaultMaxFrameSize)) {
        resync_frame_end_ = kFrameHeaderSize + h.length;
        resync_need_ = resync_frame_end_ + kFrameHeaderSize;
      }
    }
    return;
  }
  resync_skipped_ += start;
  resync_skipped_bytes_ += start;
  std::string rest = buffer_.substr(start);
  buffer_.clear();
  boundaries_.clear();
  const uint64_t skipped = resync_skipped_;
  resync_skipped_ = 0;
  visitor_.OnResync(skipped);
  if (absl::string_view(rest).substr(0, kClientPreface.size()) == kClientPreface) {
    rest.erase(0, kClientPreface.size());
    visitor_.OnPreface();
  }
  state_ = State::kFrameHeader;
  Feed(rest);
}

}  // namespace httptrace::protocols::http2
