#include "agent/protocols/http2/http2_connection.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/protocols/common/body_decoder.h"
#include "agent/protocols/common/body_finalizer.h"
#include "agent/protocols/grpc/grpc_call.h"
#include "common/percent_decode.h"

namespace httptrace::protocols::http2 {
namespace {

constexpr size_t kClosedIdsRemembered = 256;

absl::string_view Find(const std::vector<Header>& headers, absl::string_view name) {
  for (const Header& h : headers) {
    if (absl::EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

bool Has(const std::vector<Header>& headers, absl::string_view name) {
  for (const Header& h : headers) {
    if (h.name == name) return true;
  }
  return false;
}

// A half's body read as gRPC messages, when all of it was seen and it is nothing but
// well-framed messages (one at least): how a call is recognised on a connection joined
// mid-stream, where HPACK indexed its content-type before the capture began. A body that is not
// gRPC almost never frames exactly (a flag byte of 0 or 1, then lengths that add up to the
// last byte).
std::unique_ptr<grpc::MessageReader> ReadWholeBodyAsGrpc(const Body& body,
                                                         const EngineOptions& options) {
  if (body.size == 0 || body.missing_bytes > 0 || body.data.size() != body.size) return nullptr;
  auto reader =
      std::make_unique<grpc::MessageReader>(options.max_body_bytes, options.max_grpc_messages_kept);
  reader->Feed(body.data);
  reader->Finish();
  if (reader->framing_lost() || reader->count() == 0 || reader->ends_mid_message()) return nullptr;
  return reader;
}

absl::string_view Who(Direction d, std::optional<Direction> request_direction) {
  if (!request_direction) return d == Direction::kEgress ? "traced process" : "peer";
  return d == *request_direction ? "client" : "server";
}

// RFC 9113 section 7.
std::string ErrorCodeName(uint32_t code) {
  static constexpr absl::string_view kNames[] = {"NO_ERROR",
                                                 "PROTOCOL_ERROR",
                                                 "INTERNAL_ERROR",
                                                 "FLOW_CONTROL_ERROR",
                                                 "SETTINGS_TIMEOUT",
                                                 "STREAM_CLOSED",
                                                 "FRAME_SIZE_ERROR",
                                                 "REFUSED_STREAM",
                                                 "CANCEL",
                                                 "COMPRESSION_ERROR",
                                                 "CONNECT_ERROR",
                                                 "ENHANCE_YOUR_CALM",
                                                 "INADEQUATE_SECURITY",
                                                 "HTTP_1_1_REQUIRED"};
  if (code < 14) return absl::StrCat(kNames[code], " (", code, ")");
  return absl::StrCat("error ", code);
}

size_t HeadersBytes(const std::vector<Header>& headers) {
  size_t n = 0;
  for (const Header& h : headers) n += h.name.size() + h.value.size() + sizeof(Header);
  return n;
}

}  // namespace

// One direction of a stream.
struct Http2Connection::Half {
  bool seen = false;          // any frame of this half
  bool headers_seen = false;  // its (first, non-informational) header block
  bool ended = false;         // END_STREAM (or cut: see cut_note)
  bool lost = false;          // something of it was never seen or not decodable
  std::vector<Header> headers;
  std::vector<Header> trailers;
  Body body;
  uint64_t start_ts = 0;
  uint64_t end_ts = 0;
  uint64_t last_ts = 0;
  bool body_limit_hit = false;
  bool sync_lost = false;  // frame boundaries were lost while this half was open
  std::unique_ptr<grpc::MessageReader> grpc;
};

struct Http2Connection::Stream {
  uint32_t id = 0;
  uint64_t created = 0;  // creation order, for eviction
  std::array<Half, 2> half;
  bool pushed = false;
  // h2c: the HTTP/1.1 request that asked for the upgrade (stream 1).
  std::optional<Request> upgrade_request;
  std::vector<std::string> notes;
  size_t held = 0;  // bytes charged to stream_bytes_
  Half& of(Direction d) { return half[static_cast<size_t>(d)]; }
};

// A header block being collected from HEADERS/PUSH_PROMISE and CONTINUATION frames.
struct Http2Connection::PendingBlock {
  bool active = false;
  uint32_t stream_id = 0;
  bool end_stream = false;
  bool push = false;
  uint32_t promised_id = 0;
  std::string block;
  bool too_large = false;
  bool lost = false;
};

class Http2Connection::Side final : public FrameParser::Visitor, public StreamAssembler::Sink {
 public:
  Side(Http2Connection* c, Direction d, const EngineOptions& o)
      : conn(c),
        direction(d),
        options(o),
        assembler(o.max_reorder_chunks, o.max_buffered_bytes / 4, o.positions_start_at_zero),
        // Always resynchronise first: positions start at 0 when tracking starts, which need not
        // be the connection's start; the preface or a first SETTINGS says it is.
        parser(*this, FrameParser::Start::kMidStream, o.max_header_block_bytes,
               o.max_buffered_bytes / 4),
        hpack(o.max_header_block_bytes * 2) {}

  // StreamAssembler::Sink
  void OnBytes(absl::string_view data, uint64_t timestamp_ns) override {
    ts = timestamp_ns;
    parser.Feed(data);
  }
  void OnGap(uint64_t bytes, uint64_t timestamp_ns) override {
    ts = timestamp_ns;
    gap_seen = true;
    ++conn->counters_.gaps;
    conn->counters_.gap_bytes += bytes;
    conn->losses_.gap_bytes += bytes;
    parser.OnGap(bytes);
  }

  // FrameParser::Visitor
  void OnPreface() override {
    if (!hpack_decided && at_start) hpack_decided = true;  // seen from the start: exact
    conn->OnPreface(*this);
  }
  void OnResync(uint64_t skipped) override {
    ++conn->counters_.resyncs;
    at_start = !resynced && !gap_seen && skipped == 0;
    resynced = true;
  }
  void OnLostSync(absl::string_view reason) override {
    ++conn->counters_.lost_sync;
    conn->OnLostSync(*this);
  }
  void OnDataBegin(const FrameHeader& h) override {
    Frame(h);
    if (h.stream_id == 0) {
      ++conn->counters_.malformed_frames;  // DATA on the connection stream: ignored
    } else if (!conn->streams_.contains(h.stream_id) && conn->WasClosed(h.stream_id)) {
      ++conn->counters_.frames_for_closed_streams;
    }
  }
  void OnDataPayload(const FrameHeader& h, absl::string_view data) override {
    conn->OnDataFrame(*this, h, data, 0);
  }
  void OnDataMissing(const FrameHeader& h, uint64_t bytes) override {
    conn->counters_.data_gap_bytes += bytes;
    conn->OnDataFrame(*this, h, {}, bytes);
  }
  void OnDataEnd(const FrameHeader& h) override { conn->OnDataEnd(*this, h); }
  void OnHeaders(const FrameHeader& h, absl::string_view fragment) override {
    Frame(h);
    BeginBlock(h.stream_id, h.has(kFlagEndStream), false, 0);
    AppendBlock(fragment);
    if (h.has(kFlagEndHeaders)) EndBlock();
  }
  void OnPushPromise(const FrameHeader& h, uint32_t promised, absl::string_view fragment) override {
    Frame(h);
    BeginBlock(h.stream_id, false, true, promised);
    AppendBlock(fragment);
    if (h.has(kFlagEndHeaders)) EndBlock();
  }
  void OnContinuation(const FrameHeader& h, absl::string_view fragment) override {
    Frame(h);
    if (!pending.active || pending.stream_id != h.stream_id) {
      // Its HEADERS was never seen (a join or a gap): nothing to add it to.
      ++conn->counters_.header_blocks_lost;
      hpack.MarkUnsynchronized();
      return;
    }
    AppendBlock(fragment);
    if (h.has(kFlagEndHeaders)) EndBlock();
  }
  void OnRstStream(const FrameHeader& h, uint32_t code) override {
    Frame(h);
    conn->OnRstStream(*this, h.stream_id, code);
  }
  void OnSetting(uint16_t id, uint32_t value) override { conn->OnSetting(*this, id, value); }
  void OnGoaway(const FrameHeader& h, uint32_t last, uint32_t code,
                absl::string_view debug) override {
    Frame(h);
    conn->OnGoaway(*this, last, code);
  }
  void OnOtherFrame(const FrameHeader& h) override { Frame(h); }
  void OnFrameTooLarge(const FrameHeader& h) override {
    Frame(h);
    ++conn->counters_.frames_too_large;
    if (h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise) ||
        h.is(FrameType::kContinuation)) {
      conn->losses_.buffer_overflow_bytes += h.length;  // a header block not kept
    }
    BlockFrameUnusable(h, /*lost=*/false);
  }
  void OnFrameLost(const FrameHeader& h) override {
    ++conn->counters_.frames_lost;
    BlockFrameUnusable(h, /*lost=*/true);
  }
  void OnMalformedFrame(const FrameHeader& h, absl::string_view reason) override {
    Frame(h);
    ++conn->counters_.malformed_frames;
    ++conn->losses_.parse_errors;
    if (h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise)) {
      BlockFrameUnusable(h, /*lost=*/true);
    }
  }

  // The first frame after the first resync decides whether HPACK starts exact: the client's
  // preface, or a server's first SETTINGS at the very first byte tracked.
  void Frame(const FrameHeader& h) {
    ++conn->counters_.frames;
    if (hpack_decided) return;
    hpack_decided = true;
    if (!(at_start && h.is(FrameType::kSettings) && !h.has(kFlagAck))) hpack.MarkUnsynchronized();
  }

  void BeginBlock(uint32_t stream_id, bool end_stream, bool push, uint32_t promised) {
    if (pending.active) {
      // The previous block never got its END_HEADERS.
      pending.lost = true;
      EndBlock();
    }
    pending.active = true;
    pending.stream_id = stream_id;
    pending.end_stream = end_stream;
    pending.push = push;
    pending.promised_id = promised;
    pending.block.clear();
    pending.too_large = false;
    pending.lost = false;
  }
  void AppendBlock(absl::string_view fragment) {
    if (pending.too_large) return;
    if (pending.block.size() + fragment.size() > options.max_header_block_bytes) {
      pending.too_large = true;
      conn->losses_.buffer_overflow_bytes += pending.block.size() + fragment.size();
      pending.block.clear();
      pending.block.shrink_to_fit();
      return;
    }
    pending.block.append(fragment.data(), fragment.size());
  }
  void BlockFrameUnusable(const FrameHeader& h, bool lost) {
    if (h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise)) {
      BeginBlock(h.stream_id, h.has(kFlagEndStream), h.is(FrameType::kPushPromise), 0);
    } else if (!h.is(FrameType::kContinuation) || !pending.active ||
               pending.stream_id != h.stream_id) {
      return;  // not part of a block we track
    }
    if (lost) {
      pending.lost = true;
    } else {
      pending.too_large = true;
    }
    if (h.has(kFlagEndHeaders)) EndBlock();
  }
  void EndBlock() {
    PendingBlock b = std::move(pending);
    pending = PendingBlock{};
    std::vector<HpackHeader> headers;
    std::string problem;
    if (b.too_large) {
      ++conn->counters_.header_blocks_too_large;
      hpack.MarkUnsynchronized();
      problem = absl::StrCat("header block larger than ", options.max_header_block_bytes,
                             " bytes: headers not kept");
    } else if (b.lost) {
      ++conn->counters_.header_blocks_lost;
      ++conn->losses_.messages_dropped_gap;
      hpack.MarkUnsynchronized();
      problem = "header block partly lost: headers not decoded";
    } else {
      absl::Status status = hpack.Decode(b.block, &headers);
      if (!status.ok()) {
        ++conn->counters_.hpack_errors;
        ++conn->losses_.parse_errors;
        ++conn->losses_.messages_dropped_parse_error;
        problem = absl::StrCat("header block not decodable (", status.message(), ")");
      }
    }
    conn->OnHeaderBlock(*this, b.stream_id, b.end_stream, b.push, b.promised_id, &headers, problem);
  }

  size_t HeldBytes() const {
    return assembler.held_bytes() + parser.HeldBytes() + hpack.HeldBytes() +
           pending.block.capacity();
  }

  Http2Connection* conn;
  const Direction direction;
  const EngineOptions& options;
  StreamAssembler assembler;
  FrameParser parser;
  HpackDecoder hpack;
  PendingBlock pending;
  uint64_t ts = 0;
  bool gap_seen = false;
  bool resynced = false;
  bool at_start = false;
  bool hpack_decided = false;
  StreamAssembler::Stats last_stats;
  uint64_t last_resync_skipped = 0;
};

Http2Connection::Http2Connection(const EngineOptions& options, RoleHint hint,
                                 ExchangeCallback on_exchange)
    : options_(options), on_exchange_(std::move(on_exchange)), closed_ids_(kClosedIdsRemembered) {
  sides_[0] = std::make_unique<Side>(this, Direction::kEgress, options_);
  sides_[1] = std::make_unique<Side>(this, Direction::kIngress, options_);
  if (hint == RoleHint::kClient) request_direction_ = Direction::kEgress;
  if (hint == RoleHint::kServer) request_direction_ = Direction::kIngress;
}

Http2Connection::~Http2Connection() = default;

std::optional<Direction> Http2Connection::request_direction() const { return request_direction_; }

void Http2Connection::OnData(Direction direction, uint64_t position, absl::string_view captured,
                             uint64_t length, uint64_t timestamp_ns, bool from_file,
                             bool /*not_copied: HTTP/2 is always copied whole*/) {
  if (closed_) {
    counters_.data_after_close += length;
    return;
  }
  ++counters_.chunks;
  counters_.captured_bytes += captured.size();
  Side& s = side(direction);
  s.assembler.Add(position, captured, std::max<uint64_t>(length, captured.size()), timestamp_ns, s);
  // What the assembler delivered ends on a write boundary (it delivers whole chunks).
  s.parser.OnChunkEnd();
  const StreamAssembler::Stats& st = s.assembler.stats();
  counters_.stale_chunks += st.stale_chunks - s.last_stats.stale_chunks;
  counters_.reordered_chunks += st.held_chunks - s.last_stats.held_chunks;
  counters_.reorder_window_overflows += st.window_overflows - s.last_stats.window_overflows;
  s.last_stats = st;
  counters_.resync_skipped_bytes += s.parser.resync_skipped_bytes() - s.last_resync_skipped;
  s.last_resync_skipped = s.parser.resync_skipped_bytes();
  (void)from_file;  // sendfile under HTTP/2 would be inside DATA: an ordinary gap, counted.
}

void Http2Connection::OnEndOfStream(Direction direction, uint64_t timestamp_ns) {
  if (closed_) return;
  Side& s = side(direction);
  s.assembler.Flush(s);
  std::vector<uint32_t> ids;
  for (const auto& [id, stream] : streams_) {
    if (!stream->of(direction).ended) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) {
    Finish(id, absl::StrCat(Who(direction, request_direction_),
                            " closed its side of the connection before the stream ended"));
  }
}

void Http2Connection::OnClose(uint64_t timestamp_ns) {
  if (closed_) return;
  for (auto& s : sides_) s->assembler.Flush(*s);
  closed_ = true;
  std::vector<uint32_t> ids;
  for (const auto& [id, stream] : streams_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) Finish(id, "connection closed before the stream ended");
}

size_t Http2Connection::HeldBytes() const {
  return sides_[0]->HeldBytes() + sides_[1]->HeldBytes() + stream_bytes_ +
         streams_.size() * sizeof(Stream);
}

void Http2Connection::ForEachCounter(
    absl::FunctionRef<void(const char* name, uint64_t value)> fn) const {
  counters_.ForEach(fn);
}

void Http2Connection::AdoptUpgradeRequest(Request request, Direction request_direction,
                                          uint64_t start_time_ns, uint64_t end_time_ns) {
  SetRequestDirection(request_direction, /*from_content=*/true);
  Stream* stream = FindOrCreateStream(1);
  if (stream == nullptr) return;
  Half& half = stream->of(request_direction);
  half.seen = true;
  half.headers_seen = true;
  half.ended = true;
  half.start_ts = start_time_ns;
  half.end_ts = half.last_ts = end_time_ns;
  const size_t held = HeadersBytes(request.headers) + request.body.data.size();
  stream_bytes_ += held;
  stream->held += held;
  stream->upgrade_request = std::move(request);
  stream->notes.push_back("upgraded to HTTP/2 (h2c): the request was HTTP/1.1");
}

void Http2Connection::StartAt(Direction direction, uint64_t position) {
  Side& s = side(direction);
  s.assembler.StartAt(position);
  // HTTP/2 begins exactly here: framing and HPACK are exact from the first byte.
  s.parser.StartAtConnectionStart();
  s.at_start = true;
  s.resynced = true;  // a later resynchronisation (after a gap) is not the start
}

void Http2Connection::SetRequestDirection(Direction d, bool from_content) {
  if (!request_direction_) {
    request_direction_ = d;
  } else if (*request_direction_ != d && from_content && !roles_from_content_) {
    ++counters_.role_hint_overridden;
    request_direction_ = d;
  }
  roles_from_content_ = roles_from_content_ || from_content;
}

void Http2Connection::OnPreface(Side& s) { SetRequestDirection(s.direction, true); }

void Http2Connection::OnSetting(Side& s, uint16_t id, uint32_t value) {
  // The receiver of these settings is the other direction's sender.
  if (id == kSettingsHeaderTableSize) side(Opposite(s.direction)).hpack.SetMaxCapacity(value);
  if (id == kSettingsMaxFrameSize && value >= kDefaultMaxFrameSize && value <= kMaxFrameSizeLimit) {
    side(Opposite(s.direction)).parser.set_max_frame_size(value);
  }
}

void Http2Connection::OnLostSync(Side& s) {
  ++losses_.messages_dropped_gap;  // at least one frame is gone; how many messages, unknown
  s.hpack.MarkUnsynchronized();
  s.pending = PendingBlock{};
  for (auto& [id, stream] : streams_) {
    Half& half = stream->of(s.direction);
    if (half.ended || half.sync_lost) continue;  // one note per half
    half.lost = true;
    half.sync_lost = true;
    stream->notes.push_back(
        absl::StrCat("bytes lost from the ", Who(s.direction, request_direction_),
                     " outside a DATA payload: frames of this stream may be missing"));
  }
}

Http2Connection::Stream* Http2Connection::FindOrCreateStream(uint32_t id) {
  if (auto it = streams_.find(id); it != streams_.end()) return it->second.get();
  // (Callers count frames of streams already emitted, once per frame.)
  if (WasClosed(id)) return nullptr;
  if (streams_.size() >= std::max<size_t>(1, options_.max_concurrent_streams)) {
    uint32_t oldest = 0;
    uint64_t oldest_created = UINT64_MAX;
    for (const auto& [sid, stream] : streams_) {
      if (stream->created < oldest_created) {
        oldest_created = stream->created;
        oldest = sid;
      }
    }
    ++counters_.streams_over_limit;
    Finish(oldest, absl::StrCat("emitted early: more than ", options_.max_concurrent_streams,
                                " streams open on this connection; later frames ignored"));
  }
  auto stream = std::make_unique<Stream>();
  stream->id = id;
  stream->created = counters_.streams++;
  Stream* raw = stream.get();
  streams_.emplace(id, std::move(stream));
  return raw;
}

void Http2Connection::OnHeaderBlock(Side& s, uint32_t stream_id, bool end_stream, bool push,
                                    uint32_t promised_id, std::vector<HpackHeader>* decoded,
                                    absl::string_view problem) {
  if (problem.empty()) ++counters_.header_blocks;
  std::vector<Header> headers;
  size_t placeholders = 0;
  bool too_many = false;
  for (HpackHeader& h : *decoded) {
    if (!h.name_known || !h.value_known) {
      ++placeholders;
      ++counters_.hpack_placeholders;
    }
    if (headers.size() >= options_.max_headers) {
      too_many = true;
      continue;
    }
    headers.push_back(Header{std::move(h.name), std::move(h.value)});
  }
  if (too_many) ++counters_.too_many_headers;

  // Roles from content: requests carry :method, responses :status.
  if (!push && problem.empty()) {
    if (Has(headers, ":method")) {
      SetRequestDirection(s.direction, true);
    } else if (Has(headers, ":status")) {
      SetRequestDirection(Opposite(s.direction), true);
    }
  }

  const uint32_t id = push ? promised_id : stream_id;
  if (id == 0) {
    ++counters_.malformed_frames;  // a header block on the connection stream: ignored
    return;
  }
  Stream* stream = FindOrCreateStream(id);
  if (stream == nullptr) {
    ++counters_.frames_for_closed_streams;
    return;
  }
  // A promise describes the client's request of a pushed stream.
  Half& half = stream->of(push ? Opposite(s.direction) : s.direction);
  const size_t held_before = HeadersBytes(half.headers) + HeadersBytes(half.trailers);
  if (!half.seen) half.start_ts = s.ts;
  half.seen = true;
  half.last_ts = s.ts;
  if (push) {
    ++counters_.pushed_streams;
    stream->pushed = true;
    stream->notes.push_back(absl::StrCat("server push (promised on stream ", stream_id, ")"));
  }
  if (!problem.empty()) {
    half.lost = true;
    stream->notes.push_back(absl::StrCat(Who(s.direction, request_direction_), " ",
                                         half.headers_seen ? "trailers" : "headers", ": ",
                                         problem));
  }
  if (placeholders > 0) {
    // One note per header block, saying whose and how many: the names or values are in the
    // peer's HPACK table from before the capture and can never be known on this connection.
    half.lost = true;
    stream->notes.push_back(absl::StrCat(
        Who(s.direction, request_direction_), " ", half.headers_seen ? "trailers" : "headers", ": ",
        placeholders, placeholders == 1 ? " field" : " fields",
        " indexed before the capture began (shown as \"", kUnknownHeaderName, "\")"));
  }
  if (too_many) {
    stream->notes.push_back(
        absl::StrCat("more than ", options_.max_headers, " headers: later ones dropped"));
  }
  const absl::string_view status = Find(headers, ":status");
  if (status.size() == 3 && status[0] == '1' && status != "101" && problem.empty()) {
    ++counters_.informational_responses;
    stream->notes.push_back(absl::StrCat("informational response ", status));
  } else if (!half.headers_seen) {
    half.headers_seen = true;
    half.headers = std::move(headers);
  } else {
    half.trailers = std::move(headers);
  }
  if (end_stream || push) {
    half.ended = true;
    half.end_ts = s.ts;
  }
  const size_t held_after = HeadersBytes(half.headers) + HeadersBytes(half.trailers);
  stream_bytes_ += held_after - std::min(held_after, held_before);
  stream->held += held_after - std::min(held_after, held_before);
  MaybeFinish(*stream);
}

void Http2Connection::OnDataFrame(Side& s, const FrameHeader& h, absl::string_view data,
                                  uint64_t missing) {
  if (h.stream_id == 0 || (data.empty() && missing == 0)) return;
  Stream* stream = FindOrCreateStream(h.stream_id);
  if (stream == nullptr) return;
  Half& half = stream->of(s.direction);
  if (!half.seen) half.start_ts = s.ts;
  half.seen = true;
  half.last_ts = s.ts;
  Body& body = half.body;
  body.size += data.size() + missing;
  if (missing > 0) {
    body.missing_bytes += missing;
    half.lost = true;
  }
  if (!data.empty()) {
    const size_t room =
        options_.max_body_bytes - std::min(options_.max_body_bytes, body.data.size());
    const size_t keep = std::min(room, data.size());
    body.data.append(data.data(), keep);
    stream_bytes_ += keep;
    stream->held += keep;
    if (keep < data.size()) {
      counters_.body_bytes_not_kept += data.size() - keep;
      if (!half.body_limit_hit) ++counters_.bodies_truncated;
      half.body_limit_hit = true;
    }
  }
  // gRPC: either half's content-type says so (a late join may have missed one of them).
  if (!half.grpc && (grpc::IsGrpcContentType(Find(stream->half[0].headers, "content-type")) ||
                     grpc::IsGrpcContentType(Find(stream->half[1].headers, "content-type")))) {
    half.grpc = std::make_unique<grpc::MessageReader>(options_.max_body_bytes,
                                                      options_.max_grpc_messages_kept);
    if (body.size > data.size() + missing) {
      // DATA came before we knew it was gRPC (cannot happen in order; be explicit anyway).
      half.grpc->OnMissing(body.size - data.size() - missing);
    }
  }
  if (half.grpc) {
    const size_t before = half.grpc->HeldBytes();
    if (!data.empty()) half.grpc->Feed(data);
    if (missing > 0) half.grpc->OnMissing(missing);
    const size_t after = half.grpc->HeldBytes();
    stream_bytes_ += after - std::min(after, before);
    stream->held += after - std::min(after, before);
  }
}

void Http2Connection::OnDataEnd(Side& s, const FrameHeader& h) {
  if (!h.has(kFlagEndStream) || h.stream_id == 0) return;
  auto it = streams_.find(h.stream_id);
  if (it == streams_.end()) {
    // An empty DATA with END_STREAM for a stream not seen yet: the half ended.
    Stream* stream = FindOrCreateStream(h.stream_id);
    if (stream == nullptr) return;
    it = streams_.find(h.stream_id);
  }
  Half& half = it->second->of(s.direction);
  half.seen = true;
  half.ended = true;
  half.end_ts = s.ts;
  half.last_ts = s.ts;
  if (half.start_ts == 0) half.start_ts = s.ts;
  MaybeFinish(*it->second);
}

void Http2Connection::OnRstStream(Side& s, uint32_t stream_id, uint32_t error_code) {
  ++counters_.streams_reset;
  auto it = streams_.find(stream_id);
  if (stream_id == 0 || it == streams_.end()) return;  // nothing of it seen: nothing to emit
  // RFC 9113 §8.1: a server that has sent a complete response may ask the client to stop
  // sending the rest of its request with RST_STREAM NO_ERROR, "without error" (gRPC servers do
  // so for a status sent before the client half-closed). The exchange ended normally there:
  // the request is what was sent up to then.
  Stream& stream = *it->second;
  if (error_code == 0 && request_direction_ && s.direction != *request_direction_) {
    Half& request = stream.of(*request_direction_);
    const Half& response = stream.of(s.direction);
    if (response.headers_seen && response.ended && !response.lost && request.headers_seen &&
        !request.ended) {
      request.ended = true;
      request.end_ts = s.ts;
      Finish(stream_id,
             "the server ended the request after its complete response (RST_STREAM NO_ERROR)");
      return;
    }
  }
  Finish(stream_id, absl::StrCat("stream reset by the ", Who(s.direction, request_direction_), ": ",
                                 ErrorCodeName(error_code)));
}

void Http2Connection::OnGoaway(Side& s, uint32_t last_stream_id, uint32_t error_code) {
  // Streams the receiver of the GOAWAY opened above last_stream_id were not processed: the
  // server's GOAWAY concerns client streams (odd ids), a client's concerns pushed ones (even).
  const bool from_server = request_direction_ ? s.direction != *request_direction_ : true;
  std::vector<uint32_t> ids;
  for (const auto& [id, stream] : streams_) {
    if (id > last_stream_id && (id % 2 == 1) == from_server) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) {
    ++counters_.streams_refused_goaway;
    Finish(id,
           absl::StrCat("not processed: GOAWAY from the ", Who(s.direction, request_direction_),
                        " (last stream ", last_stream_id, ", ", ErrorCodeName(error_code), ")"));
  }
}

Direction Http2Connection::RequestDirectionOf(Stream& stream) const {
  if (request_direction_) return *request_direction_;
  return Has(stream.of(Direction::kIngress).headers, ":method") ||
                 Has(stream.of(Direction::kEgress).headers, ":status")
             ? Direction::kIngress
             : Direction::kEgress;
}

void Http2Connection::MaybeFinish(Stream& stream) {
  if (stream.half[0].ended && stream.half[1].ended) return Finish(stream.id, "");
  // Joined mid-way: a response that ended on a stream of which no request frame was ever seen
  // answered a request that ended before the capture began; nothing more will come.
  const Direction req = RequestDirectionOf(stream);
  if (stream.of(Opposite(req)).ended && !stream.of(req).seen) Finish(stream.id, "");
}

void Http2Connection::Finish(uint32_t id, absl::string_view note) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::unique_ptr<Stream> stream = std::move(it->second);
  streams_.erase(it);
  stream_bytes_ -= std::min(stream_bytes_, stream->held);
  RememberClosed(id);
  if (!note.empty()) stream->notes.push_back(std::string(note));
  Exchange exchange = BuildExchange(*stream);
  ++counters_.exchanges;
  if (!exchange.complete) ++counters_.incomplete_exchanges;
  on_exchange_(std::move(exchange));
}

void Http2Connection::RememberClosed(uint32_t id) {
  closed_ids_[next_closed_] = id;
  next_closed_ = (next_closed_ + 1) % closed_ids_.size();
}

bool Http2Connection::WasClosed(uint32_t id) const {
  return std::find(closed_ids_.begin(), closed_ids_.end(), id) != closed_ids_.end() && id != 0;
}

Exchange Http2Connection::BuildExchange(Stream& stream) {
  Exchange e;
  // Which half is the request: the roles if known, else the half that carries :method.
  const Direction req = RequestDirectionOf(stream);
  Half& rq = stream.of(req);
  Half& rs = stream.of(Opposite(req));
  e.stream_id = stream.id;
  e.request_direction = req;
  e.has_request = rq.seen;
  e.has_response = rs.seen;
  e.request.version = "HTTP/2";
  e.response.version = "HTTP/2";
  e.request.method = std::string(Find(rq.headers, ":method"));
  e.request.target = std::string(e.request.method == "CONNECT" ? Find(rq.headers, ":authority")
                                                               : Find(rq.headers, ":path"));
  uint32_t status = 0;
  if (absl::SimpleAtoi(Find(rs.headers, ":status"), &status)) e.response.status = status;
  e.request_complete = rq.headers_seen && rq.ended && !rq.lost;
  e.response_complete = rs.headers_seen && rs.ended && !rs.lost;
  e.complete = e.request_complete && e.response_complete;
  e.start_time_ns = rq.seen ? rq.start_ts : rs.start_ts;
  e.request_end_time_ns = rq.ended ? rq.end_ts : 0;
  e.response_start_time_ns = rs.seen ? rs.start_ts : 0;
  e.end_time_ns = rs.seen ? (rs.ended ? rs.end_ts : rs.last_ts) : 0;

  if (!rq.seen) {
    e.notes.push_back("request not seen: sent before the capture began, or lost");
  } else if (!rq.headers_seen) {
    e.notes.push_back("request headers not seen: sent before the capture began, or lost");
  }
  if (rs.seen && !rs.headers_seen) {
    e.notes.push_back("response headers not seen: sent before the capture began, or lost");
  }
  for (std::string& note : stream.notes) e.notes.push_back(std::move(note));

  // gRPC: by its content-type, or, where the content-type is hidden (indexed before a late
  // join, or its header block not seen), by bodies that are whole, well-framed gRPC messages.
  bool is_grpc = grpc::IsGrpcContentType(Find(rq.headers, "content-type")) ||
                 grpc::IsGrpcContentType(Find(rs.headers, "content-type"));
  const bool content_type_hidden =
      Find(rq.headers, "content-type").empty() && Find(rs.headers, "content-type").empty() &&
      (Has(rq.headers, kUnknownHeaderName) || Has(rs.headers, kUnknownHeaderName) ||
       !rq.headers_seen || !rs.headers_seen);
  if (!is_grpc && content_type_hidden && !rq.grpc && !rs.grpc) {
    std::unique_ptr<grpc::MessageReader> request = ReadWholeBodyAsGrpc(rq.body, options_);
    std::unique_ptr<grpc::MessageReader> response = ReadWholeBodyAsGrpc(rs.body, options_);
    if ((request || response) && (request || rq.body.size == 0) &&
        (response || rs.body.size == 0)) {
      is_grpc = true;
      rq.grpc = std::move(request);
      rs.grpc = std::move(response);
      ++counters_.grpc_inferred;
      e.notes.push_back(
          "gRPC recognised by its message framing: the content-type was not seen (indexed "
          "before the capture began)");
    }
  }
  if (is_grpc) {
    // A half whose DATA went by, in all or in part, before either content-type was seen (a
    // request sent before the response's headers, on a late-joined connection) is read again
    // from its kept body: a prefix of it, when no byte of it is missing.
    for (Half* half : {&rq, &rs}) {
      if ((half->grpc && !half->grpc->framing_lost()) || half->body.size == 0 ||
          half->body.missing_bytes > 0) {
        continue;
      }
      half->grpc = std::make_unique<grpc::MessageReader>(options_.max_body_bytes,
                                                         options_.max_grpc_messages_kept);
      half->grpc->Feed(half->body.data);
      if (half->body.size > half->body.data.size()) {
        half->grpc->OnMissing(half->body.size - half->body.data.size());
      }
    }
    GrpcCall call;
    grpc::ParseGrpcPath(Find(rq.headers, ":path"), &call.service, &call.method);
    // Trailers-only responses carry grpc-status in their only header block.
    const std::vector<Header>& status_block =
        Has(rs.trailers, "grpc-status") || !Has(rs.headers, "grpc-status") ? rs.trailers
                                                                           : rs.headers;
    call.trailers_only = &status_block == &rs.headers;
    call.status_code = grpc::ParseGrpcStatus(Find(status_block, "grpc-status"));
    // grpc-message is percent-encoded; invalid escapes are kept as sent (the spec asks
    // receivers not to fail on them).
    call.status_message = PercentDecode(Find(status_block, "grpc-message"));
    call.encoding = std::string(Find(rq.headers, "grpc-encoding"));
    if (call.encoding.empty()) call.encoding = std::string(Find(rs.headers, "grpc-encoding"));
    const auto take = [&](Half& half, GrpcMessages& out, absl::string_view label) {
      if (!half.grpc) return;
      half.grpc->Finish();
      out.count = half.grpc->count();
      out.framing_lost = half.grpc->framing_lost();
      counters_.grpc_messages += out.count;
      if (out.framing_lost) {
        ++counters_.grpc_framing_lost;
        e.notes.push_back(absl::StrCat("gRPC ", label, " messages: framing lost after ", out.count,
                                       " messages (", half.grpc->unread_bytes(),
                                       " bytes not read)"));
      } else if (half.grpc->ends_mid_message()) {
        e.notes.push_back(absl::StrCat("gRPC ", label, " messages: the last one is cut short"));
      }
      const ContentCoding coding = ParseContentCoding(call.encoding);
      for (grpc::MessageReader::Message& m : half.grpc->TakeMessages()) {
        GrpcMessage message;
        message.size = m.size;
        message.compressed = m.compressed;
        message.data = std::move(m.data);
        message.missing_bytes = m.missing_bytes;
        message.complete = m.complete;
        // grpc-encoding gzip/deflate: decompress the kept bytes for display, bounded as bodies.
        if (m.compressed && coding != ContentCoding::kIdentity &&
            options_.decode_content_encoding && !message.data.empty()) {
          absl::StatusOr<DecodedBody> decoded = DecodeBody(
              message.data, coding, options_.max_body_bytes, options_.max_decode_output_bytes);
          if (decoded.ok()) {
            ++counters_.bodies_decoded;
            message.data = std::move(decoded->data);
            message.decoded_from = std::string(ContentCodingName(coding));
          } else {
            ++counters_.decode_errors;
          }
        }
        out.messages.push_back(std::move(message));
      }
    };
    take(rq, call.request, "request");
    take(rs, call.response, "response");
    if (!call.status_code && rs.ended && !rs.lost) {
      e.notes.push_back(Has(status_block, kUnknownHeaderName)
                            ? "gRPC: grpc-status not seen (indexed before the capture began)"
                            : "gRPC: grpc-status missing from a response that ended");
    }
    ++counters_.grpc_calls;
    e.grpc = std::move(call);
  }

  e.request.headers = std::move(rq.headers);
  e.request.trailers = std::move(rq.trailers);
  e.request.body = std::move(rq.body);
  if (stream.upgrade_request) {
    // Parsed (and its body finalized) by the HTTP/1 engine.
    Request& r = *stream.upgrade_request;
    e.request = std::move(r);
    e.request_complete = true;
    e.complete = e.response_complete;
  }
  e.response.headers = std::move(rs.headers);
  e.response.trailers = std::move(rs.trailers);
  e.response.body = std::move(rs.body);
  if (!stream.upgrade_request) FinalizeBody(e.request.body, e.request.headers, "request", e);
  FinalizeBody(e.response.body, e.response.headers, "response", e);
  return e;
}

void Http2Connection::FinalizeBody(Body& body, const std::vector<Header>& headers,
                                   absl::string_view label, Exchange& exchange) {
  protocols::FinalizeBody(body, Find(headers, "content-encoding"), label, options_,
                          {counters_.bodies_decoded, counters_.decode_errors}, exchange.notes);
}

}  // namespace httptrace::protocols::http2
