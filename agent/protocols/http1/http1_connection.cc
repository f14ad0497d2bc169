// The HTTP/1.x engine; see http1_connection.h. libhttp-parser does the framing; this file does the
// rest: stream modes (resynchronising, parsing, waiting for an upgrade verdict, stopped), gap
// handling, request/response pairing and exchange assembly.

#include "agent/protocols/http1/http1_connection.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/body_decoder.h"
#include "agent/protocols/common/body_finalizer.h"
#include "agent/protocols/http1/http1_methods.h"
#include "agent/protocols/http1/message_start.h"

namespace httptrace::protocols::http1 {
namespace {

constexpr uint64_t kUnbounded = std::numeric_limits<uint64_t>::max();
// One allocation for the header list of most messages instead of growing 1, 2, 4, 8, 16.
constexpr size_t kTypicalHeaders = 16;

std::string VersionString(const http_parser& p) {
  return absl::StrCat("HTTP/", p.http_major, ".", p.http_minor);
}

bool IsInterim(uint32_t status) { return status >= 100 && status < 200 && status != 101; }

// Methods of methods.txt that libhttp-parser does not know (QUERY, LABEL, UPDATE, ...): the parser
// is given kStandInMethod in their place (framing does not depend on the method, except for HEAD
// and CONNECT, which it knows), and the request keeps its own name.
constexpr absl::string_view kStandInMethod = "GET";

// The methods of methods.txt libhttp-parser does not know, and their first bytes (most requests
// are told apart by their first byte: no stand-in begins with G or P).
struct StandInMethods {
  std::vector<absl::string_view> names;
  std::array<bool, 256> first_byte{};
  StandInMethods() {
    std::vector<absl::string_view> parser_knows;
#define HT_PARSER_KNOWS(num, name, string) parser_knows.push_back(#string);
    HTTP_METHOD_MAP(HT_PARSER_KNOWS)
#undef HT_PARSER_KNOWS
    const auto add = [&](absl::string_view m) {
      if (std::find(parser_knows.begin(), parser_knows.end(), m) != parser_knows.end()) return;
      names.push_back(m);
      first_byte[static_cast<unsigned char>(m[0])] = true;
    };
#define HT_LISTED(name) add(name);
    HT_HTTP1_METHODS(HT_LISTED)
#undef HT_LISTED
  }
  bool Contains(absl::string_view method) const {
    if (method.empty() || !first_byte[static_cast<unsigned char>(method[0])]) return false;
    return std::find(names.begin(), names.end(), method) != names.end();
  }
  // `partial` may still grow into one of them.
  bool MayBecomeOne(absl::string_view partial) const {
    if (partial.empty() || !first_byte[static_cast<unsigned char>(partial[0])]) return false;
    for (absl::string_view m : names) {
      if (absl::StartsWith(m, partial)) return true;
    }
    return false;
  }
};

const StandInMethods& StandIns() {
  static const StandInMethods methods;
  return methods;
}

// Deliberate differences from Node's llhttp (README.md, "Where it differs from llhttp") that an
// exchange's notes name: HTAB in the OWS after a Content-Length or Transfer-Encoding value (its
// value as parsed, before TrimFieldValues).
void NoteTabAfterFramingValue(const std::vector<Header>& headers, absl::string_view label,
                              std::vector<std::string>& notes) {
  for (const Header& h : headers) {
    const bool length = absl::EqualsIgnoreCase(h.name, "Content-Length");
    if (!length && !absl::EqualsIgnoreCase(h.name, "Transfer-Encoding")) continue;
    const size_t end = h.value.find_last_not_of(" \t");
    const size_t ows = end == std::string::npos ? 0 : end + 1;
    if (h.value.find('\t', ows) == std::string::npos) continue;
    notes.push_back(absl::StrCat(
        label, " headers: HTAB after the ", h.name,
        " value read as whitespace (RFC 9110 5.6.3); Node's llhttp ",
        length ? "refuses it" : "refuses it in a request and reads a response as close-delimited"));
  }
}

void TrimFieldValues(std::vector<Header>& headers) {
  // OWS after a field value is not part of it (RFC 9110 5.5); libhttp-parser strips only what
  // comes before.
  for (Header& h : headers) {
    const size_t end = h.value.find_last_not_of(" \t");
    h.value.erase(end == std::string::npos ? 0 : end + 1);
  }
}

}  // namespace

const http_parser_settings Http1Connection::kSettings = {
    .on_message_begin = &Http1Connection::CbMessageBegin,
    .on_url = &Http1Connection::CbUrl,
    .on_status = &Http1Connection::CbStatus,
    .on_header_field = &Http1Connection::CbHeaderField,
    .on_header_value = &Http1Connection::CbHeaderValue,
    .on_headers_complete = &Http1Connection::CbHeadersComplete,
    .on_body = &Http1Connection::CbBody,
    .on_message_complete = &Http1Connection::CbMessageComplete,
    .on_chunk_header = &Http1Connection::CbChunkHeader,
    .on_chunk_complete = &Http1Connection::CbChunkComplete,
};

Http1Connection::Http1Connection(const EngineOptions& options, RoleHint hint,
                                 ExchangeCallback on_exchange)
    : options_(options),
      on_exchange_(std::move(on_exchange)),
      egress_(this, Direction::kEgress, options),
      ingress_(this, Direction::kIngress, options) {
  if (hint == RoleHint::kClient) SetRoles(Direction::kEgress);
  if (hint == RoleHint::kServer) SetRoles(Direction::kIngress);
}

std::optional<Direction> Http1Connection::request_direction() const {
  if (!roles_known_) return std::nullopt;
  return egress_.carries_requests ? Direction::kEgress : Direction::kIngress;
}

bool Http1Connection::stopped() const {
  auto done = [](Mode m) { return m == Mode::kStopped || m == Mode::kSwitched; };
  return closed_ || (done(egress_.mode) && done(ingress_.mode));
}

// ---------------------------------------------------------------------------------------------
// Stream assembly and modes

void Http1Connection::OnData(Direction direction, uint64_t position, absl::string_view captured,
                             uint64_t length, uint64_t timestamp_ns, bool from_file,
                             bool not_copied) {
  ++counters_.chunks;
  counters_.captured_bytes += captured.size();
  if (closed_) {
    counters_.bytes_not_parsed += captured.size();
    return;
  }
  Stream& s = stream(direction);
  const StreamAssembler::Stats before = s.assembler.stats();
  // Only the tail of this very chunk is file bytes; a hole before it is a loss (Stream::OnGap
  // tells them apart by where the gap ends).
  if (from_file) {
    s.file_chunk_ends[s.next_file_chunk] = position + length;
    s.next_file_chunk = (s.next_file_chunk + 1) % s.file_chunk_ends.size();
  } else if (not_copied && length > captured.size()) {
    s.tail_chunk_ends[s.next_tail_chunk] = position + length;
    s.next_tail_chunk = (s.next_tail_chunk + 1) % s.tail_chunk_ends.size();
  }
  s.assembler.Add(position, captured, length, timestamp_ns, s);
  const StreamAssembler::Stats& after = s.assembler.stats();
  counters_.stale_chunks += after.stale_chunks - before.stale_chunks;
  counters_.reordered_chunks += after.held_chunks - before.held_chunks;
  counters_.reorder_window_overflows += after.window_overflows - before.window_overflows;
}

void Http1Connection::OnStreamBytes(Stream& s, absl::string_view data, uint64_t ts) {
  s.last_ts = ts;
  s.seen_bytes = true;
  if (s.buffer.empty()) {
    s.begin_ts = ts;
    size_t used = Process(s, data, ts);
    if (used < data.size()) AppendToBuffer(s, data.substr(used), ts);
  } else {
    const size_t old_size = s.buffer.size();
    AppendToBuffer(s, data, ts);
    s.begin_ts = s.buffer_ts;
    size_t used = Process(s, s.buffer, ts);
    s.buffer.erase(0, used);
    if (used >= old_size) s.buffer_ts = ts;  // what is left arrived with this chunk
  }
  RunDeferred(ts);
}

void Http1Connection::AppendToBuffer(Stream& s, absl::string_view data, uint64_t ts) {
  if (s.mode == Mode::kStopped || s.mode == Mode::kSwitched) {
    counters_.bytes_not_parsed += data.size();
    return;
  }
  if (s.buffer.empty()) s.buffer_ts = ts;
  const size_t limit = std::max<size_t>(options_.max_buffered_bytes / 4, 1);
  if (data.size() >= limit) {
    counters_.buffer_overflow_bytes += s.buffer.size() + data.size() - limit;
    absl::string_view tail = data.substr(data.size() - limit);
    s.buffer.assign(tail.data(), tail.size());
  } else {
    if (s.buffer.size() + data.size() > limit) {
      size_t drop = s.buffer.size() + data.size() - limit;
      counters_.buffer_overflow_bytes += drop;
      s.buffer.erase(0, drop);
    }
    s.buffer.append(data.data(), data.size());
  }
}

void Http1Connection::RunDeferred(uint64_t ts) {
  // Role decisions and upgrade verdicts can make the other stream's buffered bytes parseable.
  for (int round = 0; round < 4; ++round) {
    bool again = false;
    for (Stream* s : {&egress_, &ingress_}) {
      if (!s->reprocess) continue;
      s->reprocess = false;
      if (s->buffer.empty()) continue;
      again = true;
      ProcessBuffer(*s, ts);
    }
    if (!again) break;
  }
}

void Http1Connection::ProcessBuffer(Stream& s, uint64_t ts) {
  if (s.processing) {
    s.reprocess = true;
    return;
  }
  if (s.buffer.empty()) return;
  s.begin_ts = s.buffer_ts;
  size_t used = Process(s, s.buffer, ts);
  s.buffer.erase(0, used);
}

size_t Http1Connection::Process(Stream& s, absl::string_view data, uint64_t ts) {
  s.ts = ts;
  s.processing = true;
  s.data_end = data.data() + data.size();
  size_t off = Consume(s, data);
  s.processing = false;
  return off;
}

size_t Http1Connection::Consume(Stream& s, absl::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    absl::string_view rest = data.substr(off);
    switch (s.mode) {
      case Mode::kStopped:
        counters_.bytes_not_parsed += rest.size();
        return data.size();
      case Mode::kSwitched:
        HandOver(s, PositionOf(s, rest.data()), rest, rest.size(), s.ts);
        return data.size();
      case Mode::kWaitUpgrade:
        return off;
      case Mode::kResync: {
        size_t used = Resync(s, rest);
        off += used;
        if (s.mode == Mode::kResync) return off;  // needs more bytes
        break;
      }
      case Mode::kParsing:
        off += Execute(s, rest);
        if (s.need_more) {  // a request's method continues in the next chunk
          s.need_more = false;
          return off;
        }
        break;
    }
  }
  return off;
}

size_t Http1Connection::Resync(Stream& s, absl::string_view data) {
  // Until a message has been seen, either kind may start the conversation: content decides (or
  // overrides a wrong hint).
  const bool open = !any_message_seen_;
  const bool want_request = open || s.carries_requests;
  const bool want_response = open || !s.carries_requests;
  size_t from = s.skip_first ? 1 : 0;
  if (from > data.size()) return 0;
  StartScan scan = FindMessageStart(data.substr(from), want_request, want_response,
                                    options_.max_start_line_bytes);
  if (!scan.found) {
    size_t discard = from + scan.keep_from;
    counters_.resync_skipped_bytes += discard;
    if (discard > 0) {
      s.skip_first = false;
      AccountLostMessage(s);
    }
    return discard;
  }
  s.skip_first = false;
  if (s.skipping_body) EndSkippedBody(s);
  size_t start = from + scan.offset;
  // Empty lines before a start line (RFC 9112 2.2) are counted skipped; they lose nothing
  // (AccountLostMessage acts only after a gap).
  counters_.resync_skipped_bytes += start;
  if (start > 0) AccountLostMessage(s);
  s.lost_message_start = false;
  const bool is_request = scan.kind == StartKind::kRequest;
  const Direction request_dir = is_request ? s.direction : Opposite(s.direction);
  if (!roles_known_ || s.carries_requests != is_request) {
    if (roles_known_) ++counters_.role_hint_overridden;
    SetRoles(request_dir);
  }
  StartParser(s);
  return start;
}

void Http1Connection::SetRoles(Direction request_dir) {
  roles_known_ = true;
  stream(request_dir).carries_requests = true;
  stream(Opposite(request_dir)).carries_requests = false;
  // The other stream may hold bytes it could not place before.
  egress_.reprocess = ingress_.reprocess = true;
}

void Http1Connection::StartParser(Stream& s) {
  http_parser_init(&s.parser, s.carries_requests ? HTTP_REQUEST : HTTP_RESPONSE);
  // An observer, not a server: accept what the peers accepted (obs-text in header values,
  // Content-Length next to chunked, where chunked wins as RFC 7230 says).
  s.parser.lenient_http_headers = 1;
  s.parser.allow_chunked_length = 1;
  s.parser.data = &s;
  s.mode = Mode::kParsing;
  s.in_message = false;
}

size_t Http1Connection::Execute(Stream& s, absl::string_view data) {
  // What libhttp-parser is given: the bytes themselves, or a copy with two differences from
  // what peers accept that it refuses (see below). Its callbacks read the bytes themselves:
  // pointers into the copy are moved by s.feed_offset.
  absl::string_view feed = data;
  s.feed_offset = 0;
  size_t method_at = 0, method_end = 0;
  bool stand_in = false;
  if (s.carries_requests && !s.in_message && !s.filling) {
    // A request begins (the parser pauses after each one, so every request passes here).
    s.method_override.clear();
    const size_t at = data.find_first_not_of("\r\n");  // empty lines before it are skipped
    if (at != absl::string_view::npos) {
      const size_t sp = data.substr(at, HT_HTTP1_METHOD_MAX_LEN + 1).find(' ');
      const absl::string_view method =
          data.substr(at, sp == absl::string_view::npos ? HT_HTTP1_METHOD_MAX_LEN + 1 : sp);
      if (sp == absl::string_view::npos) {
        // The method continues in the next chunk: wait for it if it may need the stand-in.
        if (at + method.size() == data.size() && StandIns().MayBecomeOne(method)) {
          s.need_more = true;
          return 0;
        }
      } else if (StandIns().Contains(method)) {
        stand_in = true;
        method_at = at;
        method_end = at + sp;
        s.method_override.assign(method.data(), method.size());
      }
    }
  }
  // HTAB is OWS around a field value as SP is (RFC 9110 5.6.3), but libhttp-parser takes only
  // SP after Content-Length's digits and around chunked or close: in the header block it sees SP.
  const bool tabs = !s.filling && (!s.in_message || !s.headers_done) &&
                    data.find('\t') != absl::string_view::npos;
  if (stand_in || tabs) {
    std::string& copy = s.feed_copy;
    copy.clear();
    size_t copied_from = 0;  // offset in `data` of copy[copy_at]
    size_t copy_at = 0;
    if (stand_in) {
      copy.append(data.data(), method_at);
      copy.append(kStandInMethod.data(), kStandInMethod.size());
      copied_from = method_end;
      copy_at = copy.size();
    }
    copy.append(data.data() + copied_from, data.size() - copied_from);
    if (tabs) std::replace(copy.begin() + copy_at, copy.end(), '\t', ' ');
    feed = copy;
    s.feed_offset = (data.data() + copied_from) - (copy.data() + copy_at);
  }
  // A data callback that ends before the end of the input was cut by its delimiter: the token is
  // whole. One that ends at the end of the input may continue in the next chunk.
  s.exec_end = feed.data() + feed.size();
  size_t n = http_parser_execute(&s.parser, &kSettings, feed.data(), feed.size());
  if (stand_in) {
    // Consumed bytes of the copy, as bytes of `data`.
    const size_t stand_in_end = method_at + kStandInMethod.size();
    n = n <= method_at ? n : n < stand_in_end ? method_at : n - stand_in_end + method_end;
  }
  // An upgrade or tunnel stopped the connection from inside a callback: the rest of these bytes
  // are the other protocol's.
  if (s.mode == Mode::kStopped) {
    counters_.bytes_not_parsed += data.size() - std::min(n, data.size());
    return data.size();
  }
  if (s.mode == Mode::kSwitched) {
    // The 101 of an h2c upgrade ended at data[n] (the parser halts right after the message):
    // the HTTP/2 bytes begin there. Consume() hands them over.
    if (switch_ && !switch_ready_) {
      switch_->start_position[static_cast<size_t>(s.direction)] =
          PositionOf(s, data.data() + std::min(n, data.size()));
      switch_ready_ = true;
    }
    return std::min(n, data.size());
  }
  auto err = static_cast<http_errno>(s.parser.http_errno);
  bool paused = false;
  if (err == HPE_PAUSED) {
    // After a request (CbMessageComplete): the next one starts at n, through the check above.
    http_parser_pause(&s.parser, 0);
    err = HPE_OK;
    paused = true;
  }
  if (err == HPE_OK) {
    if (s.parser.upgrade) {
      // The parser stops after a message that switches protocols. A request waits for its
      // response's verdict; a response that upgraded has already stopped the connection.
      if (s.mode == Mode::kStopped) return data.size();
      if (s.await_upgrade) {
        s.await_upgrade = false;
        s.mode = Mode::kWaitUpgrade;
        s.upgrade_boundary = PositionOf(s, data.data() + std::min(n, data.size()));
      } else {
        s.mode = Mode::kResync;  // refused upgrade: HTTP continues
      }
      return n;
    }
    if (n < data.size() && !paused) {
      // Should not happen without an error; make progress regardless.
      if (s.in_message) DropMessage(s, "parser stopped unexpectedly");
      s.mode = Mode::kResync;
      s.skip_first = true;
    }
    return n;
  }
  if (err == HPE_CLOSED_CONNECTION) {
    // Bytes after a message that announced the end of the connection: start afresh.
    ++counters_.data_after_connection_close;
    s.mode = Mode::kResync;
    return n;
  }
  ++counters_.parse_errors;
  if (s.in_message) {
    ++counters_.messages_dropped_parse_error;
    DropMessage(s, absl::StrCat("parse error (", http_errno_description(err), ")"));
  }
  // libhttp-parser stops at the offending byte: a new message cannot start there.
  s.mode = Mode::kResync;
  s.skip_first = n < data.size();
  return std::min(n, data.size());
}

uint64_t Http1Connection::BodyRemaining(const Stream& s) const {
  if (!s.in_message || !s.headers_done) return 0;
  switch (s.body_kind) {
    case BodyKind::kLength:
      return s.parser.content_length == kUnbounded ? 0 : s.parser.content_length;
    case BodyKind::kChunked:
      return s.in_chunk_data ? s.parser.content_length : 0;
    case BodyKind::kEof:
      return kUnbounded;
    case BodyKind::kNone:
      break;
  }
  return 0;
}

void Http1Connection::OnStreamGap(Stream& s, uint64_t bytes, uint64_t ts) {
  if (s.mode == Mode::kSwitched) {
    // The next engine's gap: it counts it.
    HandOver(s, s.assembler.delivered_end() - bytes, {}, bytes, ts);
    return;
  }
  ++counters_.gaps;
  counters_.gap_bytes += bytes;
  s.ts = ts;
  s.last_ts = ts;
  switch (s.mode) {
    case Mode::kStopped:
    case Mode::kSwitched:
      return;
    case Mode::kResync:
      if (s.skipping_body && s.not_copied) {
        // More of a chunked body that was not copied (the probes copy nothing of a message past
        // its limit): no message can start in it.
        Body& body = MessageBody(s);
        body.size += bytes;
        body.missing_bytes += bytes;
        body.not_copied_bytes += bytes;
        counters_.resync_skipped_bytes += s.buffer.size();
        s.buffer.clear();
        s.skip_first = false;
        return;
      }
      // A stream whose very first bytes are missing, or a start line cut by the gap, lost the
      // start of a message.
      if ((!s.seen_bytes || !s.buffer.empty()) && roles_known_) {
        s.lost_message_start = true;
        s.lost_message_ts = ts;
      }
      // A partial start line cannot continue across lost bytes.
      counters_.resync_skipped_bytes += s.buffer.size();
      s.buffer.clear();
      s.skip_first = false;
      return;
    case Mode::kWaitUpgrade:
      // Held requests lost bytes: after the verdict, find the next start.
      counters_.resync_skipped_bytes += s.buffer.size();
      s.buffer.clear();
      s.skip_first = false;
      return;
    case Mode::kParsing:
      break;
  }
  if (!s.in_message) {
    // Between messages: the next one may have begun in the gap. Find the next start.
    s.mode = Mode::kResync;
    s.lost_message_start = true;
    s.lost_message_ts = ts;
    s.lost_before_next += bytes;
    return;
  }
  uint64_t remaining = BodyRemaining(s);
  if (remaining > 0) {
    // Inside a body whose length is known: account the bytes, keep framing.
    uint64_t fill = std::min(bytes, remaining);
    counters_.body_gap_bytes += fill;
    FillGap(s, fill);
    bytes -= fill;
    if (bytes == 0) {
      RunDeferred(ts);
      return;
    }
    if (!s.in_message || s.mode != Mode::kParsing) {
      // The body ended inside the gap; the rest of it may hold the next message's start.
      if (s.mode == Mode::kParsing || s.mode == Mode::kResync) {
        s.mode = Mode::kResync;
        s.lost_message_start = true;
        s.lost_message_ts = ts;
      }
      RunDeferred(ts);
      return;
    }
  }
  if (s.not_copied && s.headers_done && s.body_kind == BodyKind::kChunked &&
      s.mode == Mode::kParsing && s.in_message && s.target != nullptr) {
    // The probes stopped copying inside a chunked body (the sessions' per-message limit): its
    // end cannot be found in bytes never seen, so the message ends where the next one starts.
    // Its size counts the uncopied bytes with their chunk framing.
    Body& body = MessageBody(s);
    body.size += bytes;
    body.missing_bytes += bytes;
    body.not_copied_bytes += bytes;
    s.skipping_body = true;
    s.mode = Mode::kResync;
    RunDeferred(ts);
    return;
  }
  ++counters_.messages_dropped_gap;
  DropMessage(s, s.not_copied && !s.headers_done
                     ? absl::StrCat(bytes,
                                    " bytes not copied in the headers: they exceed the probes' "
                                    "per-message copy limit (the sessions' body limit + 8 KiB)")
                     : absl::StrCat(bytes, " bytes lost ",
                                    s.headers_done ? "in the chunked framing" : "in the headers"));
  s.mode = Mode::kResync;
  RunDeferred(ts);
}

void Http1Connection::FillGap(Stream& s, uint64_t bytes) {
  s.filling = true;
  if (s.body_kind == BodyKind::kEof) {
    Body& body = MessageBody(s);
    body.size += bytes;
    body.missing_bytes += bytes;
    if (s.from_file) body.file_bytes += bytes;
    if (s.not_copied) body.not_copied_bytes += bytes;
  } else {
    // The parser only counts body bytes down: account all but the last one here and let it see
    // one placeholder byte, so it moves on exactly as if it had read them all.
    if (bytes > 1) {
      Body& body = MessageBody(s);
      body.size += bytes - 1;
      body.missing_bytes += bytes - 1;
      if (s.from_file) body.file_bytes += bytes - 1;
      if (s.not_copied) body.not_copied_bytes += bytes - 1;
      s.parser.content_length -= bytes - 1;
    }
    static const char kPlaceholder = 0;
    Execute(s, absl::string_view(&kPlaceholder, 1));
  }
  s.filling = false;
}

void Http1Connection::DropMessage(Stream& s, absl::string_view reason) {
  if (!s.in_message) return;
  s.in_message = false;
  if (s.target == nullptr) return;
  // Keep only what was parsed whole: how much of a partial token was reported depends on how
  // the bytes happened to be split.
  if (!s.line_done) {
    if (s.carries_requests) {
      s.target->request.target.clear();
    } else {
      s.target->response.reason.clear();
    }
  }
  if (s.header_open) {
    std::vector<Header>& list = HeaderList(s);
    if (!list.empty()) list.pop_back();
  }
  if (s.carries_requests) {
    s.target->notes.push_back(absl::StrCat("request incomplete: ", reason));
    FinishRequest(s, /*parsed_whole=*/false);
  } else {
    s.target->notes.push_back(absl::StrCat("response incomplete: ", reason));
    FinishResponse(s, /*parsed_whole=*/false);
  }
}

void Http1Connection::EndSkippedBody(Stream& s) {
  s.skipping_body = false;
  if (!s.in_message) return;
  s.in_message = false;
  if (s.target == nullptr) return;
  const std::string label = s.carries_requests ? "request" : "response";
  Body& body = MessageBody(s);
  body.truncated = true;
  s.target->notes.push_back(
      absl::StrCat(label, " body: chunked, not copied past ", body.size - body.not_copied_bytes,
                   " bytes (the capture's body limit); its size counts the chunk framing"));
  if (s.carries_requests) {
    FinishRequest(s, /*parsed_whole=*/true);
  } else {
    FinishResponse(s, /*parsed_whole=*/true);
  }
}

void Http1Connection::AccountLostMessage(Stream& s) {
  s.lost_before_next = 0;  // the loss is accounted as a cut message
  if (!s.lost_message_start || !roles_known_) return;
  s.lost_message_start = false;
  ++counters_.messages_dropped_gap;
  if (s.carries_requests) {
    // A placeholder keeps the next response from pairing with the wrong request.
    if (!MakeRoomForRequest(s)) return;
    ++counters_.placeholders;
    PendingExchange& entry = pending_.emplace_back();
    entry.exchange.request_direction = s.direction;
    entry.exchange.start_time_ns = s.lost_message_ts;
    entry.exchange.notes.push_back("request lost: its first bytes were not captured");
    entry.request_done = true;
    return;
  }
  for (PendingExchange& entry : pending_) {
    if (entry.response_done) continue;
    if (entry.exchange.start_time_ns > s.lost_message_ts) break;
    entry.exchange.notes.push_back("response lost: its first bytes were not captured");
    entry.response_done = true;
    EmitReady();
    break;
  }
}

void Http1Connection::OnEndOfStream(Direction direction, uint64_t timestamp_ns) {
  if (closed_ || !roles_known_ || stream(direction).carries_requests) return;
  OnClose(timestamp_ns);
}

void Http1Connection::OnClose(uint64_t timestamp_ns) {
  if (closed_) return;
  egress_.assembler.Flush(egress_);
  ingress_.assembler.Flush(ingress_);
  closed_ = true;
  for (Stream* s : {&egress_, &ingress_}) {
    counters_.bytes_not_parsed += s->buffer.size();
    s->buffer.clear();
    if (!s->in_message) continue;
    if (s->skipping_body) {
      // The stream ended behind a chunked body that was not copied to its end.
      s->ts = s->last_ts;
      EndSkippedBody(*s);
      continue;
    }
    if (s->mode == Mode::kParsing && !s->carries_requests) {
      // End of stream completes a close-delimited body at its last byte.
      s->ts = s->last_ts;
      http_parser_execute(&s->parser, &kSettings, nullptr, 0);
    }
    s->ts = timestamp_ns;
    DropMessage(*s, "connection closed");
  }
  while (!pending_.empty()) {
    PendingExchange& front = pending_.front();
    if (front.handed_over) {
      pending_.pop_front();
      continue;
    }
    if (!front.response_done) {
      front.exchange.notes.push_back("response missing: connection closed");
      ++counters_.requests_without_response;
    }
    Exchange exchange = std::move(front.exchange);
    pending_.pop_front();
    Emit(std::move(exchange));
  }
  egress_.mode = ingress_.mode = Mode::kStopped;
}

// ---------------------------------------------------------------------------------------------
// Messages and exchanges

void Http1Connection::BeginMessage(Stream& s) {
  any_message_seen_ = true;
  s.in_message = true;
  s.headers_done = false;
  s.last_was_value = true;
  s.line_done = false;
  s.header_open = false;
  s.dropping_header = false;
  s.header_limit_hit = false;
  s.header_count_hit = false;
  s.body_limit_hit = false;
  s.body_kind = BodyKind::kNone;
  s.in_chunk_data = false;
  s.header_bytes = 0;
  s.await_upgrade = false;
  if (s.carries_requests) {
    BeginRequest(s);
  } else {
    BeginResponse(s);
  }
  if (s.lost_before_next > 0 && s.target != nullptr) {
    // The gap ended exactly where this message starts: nothing was visibly cut, but whole
    // messages may have been lost, and with them the pairing of what follows.
    s.target->notes.push_back(
        absl::StrCat(s.carries_requests ? "request" : "response", ": ", s.lost_before_next,
                     " bytes were lost just before it; earlier messages may be missing"));
  }
  s.lost_before_next = 0;
}

bool Http1Connection::MakeRoomForRequest(Stream& s) {
  // Evict the oldest unanswered requests beyond the limit (never one a stream is filling).
  const size_t limit = std::max<size_t>(options_.max_pending_requests, 1);
  while (!pending_.empty() && pending_.size() >= limit) {
    PendingExchange& front = pending_.front();
    if (&front == other(s).pending || !front.request_done) break;
    ++counters_.pending_requests_overflow;
    ++counters_.requests_without_response;
    ++owed_evicted_responses_;
    front.exchange.notes.push_back(absl::StrCat("response missing: more than ",
                                                options_.max_pending_requests,
                                                " requests pending on the connection"));
    Exchange exchange = std::move(front.exchange);
    pending_.pop_front();
    Emit(std::move(exchange));
  }
  return pending_.size() < limit;
}

void Http1Connection::BeginRequest(Stream& s) {
  if (!MakeRoomForRequest(s)) {
    // The oldest request is still being answered: evicting a later one would pair responses
    // with the wrong requests. Give up on this connection instead, and say so.
    ++counters_.pending_requests_overflow;
    pending_.back().exchange.notes.push_back(
        absl::StrCat("more than ", options_.max_pending_requests,
                     " requests pending: later bytes on this connection are not parsed"));
    egress_.mode = ingress_.mode = Mode::kStopped;
    s.in_message = false;
    s.pending = nullptr;
    s.target = nullptr;
    return;
  }
  ++counters_.exchange_starts;
  PendingExchange& entry = pending_.emplace_back();
  entry.exchange.request_direction = s.direction;
  entry.exchange.has_request = true;
  entry.exchange.request.headers.reserve(kTypicalHeaders);
  entry.exchange.start_time_ns = s.begin_ts;
  s.pending = &entry;
  s.target = &entry.exchange;
}

void Http1Connection::BeginResponse(Stream& s) {
  PendingExchange* match = nullptr;
  for (PendingExchange& entry : pending_) {
    if (!entry.response_done) {
      match = &entry;
      break;
    }
  }
  // A response that began before the request's first byte answers some earlier request that was
  // never seen (capture began mid-connection, or it was lost).
  if (match != nullptr && match->exchange.start_time_ns > s.begin_ts) match = nullptr;
  // Pairing with the oldest pending request would shift every later pair by one.
  discard_response_ = owed_evicted_responses_ > 0;
  if (discard_response_) match = nullptr;
  if (match != nullptr) {
    s.pending = match;
    s.target = &match->exchange;
  } else {
    // A response to a request emitted unanswered is parsed and dropped (FinishResponse): not a
    // start of an exchange of its own.
    if (!discard_response_) ++counters_.exchange_starts;
    if (orphan_.has_value()) {
      // A response without request left unfinished is emitted, never overwritten (the
      // conservation check would count it as vanished).
      orphan_->notes.push_back("response incomplete: a later response began");
      Exchange earlier = std::move(*orphan_);
      orphan_.reset();
      Emit(std::move(earlier));
    }
    orphan_.emplace();
    orphan_->request_direction = Opposite(s.direction);
    orphan_->start_time_ns = s.begin_ts;
    s.pending = nullptr;
    s.target = &*orphan_;
  }
  s.target->has_response = true;
  s.target->response.headers.reserve(kTypicalHeaders);
  s.target->response_start_time_ns = s.begin_ts;
}

void Http1Connection::FinishRequest(Stream& s, bool parsed_whole) {
  PendingExchange& entry = *s.pending;
  Exchange& e = entry.exchange;
  e.request_end_time_ns = s.ts;
  FinalizeBody(e.request.body, e.request.headers, "request", e);
  e.request_complete =
      parsed_whole &&
      e.request.body.missing_bytes == e.request.body.file_bytes + e.request.body.not_copied_bytes;
  entry.request_done = true;
  if (parsed_whole && s.parser.upgrade) {
    if (!entry.response_done) {
      s.await_upgrade = true;  // Execute() holds the following bytes until the verdict
    } else if (entry.response_upgraded) {
      s.mode = Mode::kStopped;
    }
  }
  s.pending = nullptr;
  s.target = nullptr;
  EmitReady();
}

void Http1Connection::FinishResponse(Stream& s, bool parsed_whole) {
  Exchange& e = *s.target;
  const uint32_t status = e.response.status;
  if (parsed_whole && IsInterim(status)) {
    // 100 Continue and friends precede the real response: not an exchange of their own.
    ++counters_.interim_responses;
    e.response = Response{};
    e.has_response = false;
    e.response_start_time_ns = 0;
    if (s.pending == nullptr) {
      // It began as an exchange of its own (no request seen) and is none; one answering a
      // request emitted unanswered was never counted as begun (BeginResponse).
      if (!discard_response_) ++counters_.interim_without_request;
      orphan_.reset();
    }
    s.pending = nullptr;
    s.target = nullptr;
    return;
  }
  e.end_time_ns = s.ts;
  FinalizeBody(e.response.body, e.response.headers, "response", e);
  e.response_complete =
      parsed_whole && e.response.body.missing_bytes ==
                          e.response.body.file_bytes + e.response.body.not_copied_bytes;
  const bool connect_tunnel =
      parsed_whole && s.pending != nullptr && s.pending->is_connect && status / 100 == 2;
  const bool upgraded = parsed_whole && (status == 101 || connect_tunnel);
  // h2c (RFC 7540 3.2): only after a complete request (its body, if any, is HTTP/1's) whose
  // following bytes wait for this verdict; the server names the protocol it switches to.
  const bool h2c = upgraded && !connect_tunnel && s.pending != nullptr && s.pending->request_done &&
                   s.pending->upgrade_requested && other(s).mode == Mode::kWaitUpgrade &&
                   absl::EqualsIgnoreCase(FindHeader(e.response.headers, "Upgrade"), "h2c");
  if (h2c) {
    ++counters_.upgrades;
    ++counters_.upgrades_h2c;
    BeginSwitch(s, *s.pending);
    s.pending = nullptr;
    s.target = nullptr;
    EmitReady();
    return;
  }
  if (upgraded) {
    if (connect_tunnel) {
      ++counters_.connect_tunnels;
      StopParsing(e, "CONNECT tunnel established: later bytes on this connection are not parsed");
    } else {
      ++counters_.upgrades;
      absl::string_view protocol = FindHeader(e.response.headers, "Upgrade");
      if (protocol.empty()) protocol = FindHeader(e.request.headers, "Upgrade");
      StopParsing(e, absl::StrCat("connection upgraded to ", protocol.empty() ? "?" : protocol,
                                  ": later bytes on this connection are not parsed"));
    }
  }
  if (s.pending != nullptr) {
    PendingExchange& entry = *s.pending;
    entry.response_done = true;
    entry.response_upgraded = upgraded;
    Stream& requests = other(s);
    const bool resume = entry.upgrade_requested && !upgraded && requests.mode == Mode::kWaitUpgrade;
    s.pending = nullptr;
    s.target = nullptr;
    EmitReady();
    if (resume) {
      // Upgrade refused: the held bytes are HTTP again, and must be parsed before the next
      // response begins so that it finds its request.
      requests.mode = Mode::kResync;
      ProcessBuffer(requests, s.ts);
    }
  } else if (discard_response_) {
    discard_response_ = false;
    --owed_evicted_responses_;
    ++counters_.evicted_request_responses;
    orphan_.reset();
    s.target = nullptr;
  } else {
    ++counters_.responses_without_request;
    e.notes.push_back(
        "request not captured: capture began mid-connection or the request's bytes were lost");
    Exchange exchange = std::move(*orphan_);
    orphan_.reset();
    s.target = nullptr;
    Emit(std::move(exchange));
  }
}

void Http1Connection::BeginSwitch(Stream& responses, PendingExchange& entry) {
  Stream& requests = other(responses);
  entry.response_done = true;
  entry.response_upgraded = true;
  entry.handed_over = true;
  Exchange& e = entry.exchange;
  switch_.emplace();
  switch_ready_ = false;
  switch_->protocol = Protocol::kHttp2;
  switch_->request_direction = requests.direction;
  switch_->request = std::move(e.request);
  switch_->request_start_ns = e.start_time_ns;
  switch_->request_end_ns = e.request_end_time_ns;
  // The bytes held behind the request are the client's preface and frames. A gap there (seen
  // and counted here) moves the start past it: HTTP/2 resynchronises from there.
  const uint64_t held_from = requests.assembler.delivered_end() - requests.buffer.size();
  switch_->start_position[static_cast<size_t>(requests.direction)] =
      std::max(requests.upgrade_boundary, held_from);
  requests.mode = responses.mode = Mode::kSwitched;
  if (!requests.buffer.empty()) {
    HandOver(requests, held_from, requests.buffer, requests.buffer.size(), requests.buffer_ts);
    requests.buffer.clear();
  }
  // The response's own boundary is known when the parser returns (Execute).
}

void Http1Connection::HandOver(Stream& s, uint64_t position, absl::string_view bytes,
                               uint64_t length, uint64_t ts) {
  if (!switch_) {
    // Only after the switch was taken, which takes the early chunks too: none should come.
    counters_.bytes_not_parsed += bytes.size();
    return;
  }
  // Taken after the very call that asked for it (SwitchingEngine); a user that never takes it
  // must not make this grow without bound.
  if (handed_over_bytes_ + bytes.size() > options_.max_buffered_bytes) {
    counters_.buffer_overflow_bytes += bytes.size();
    return;
  }
  handed_over_bytes_ += bytes.size();
  switch_->handed_over.push_back(
      ProtocolSwitch::Chunk{s.direction, position, std::string(bytes), length, ts});
}

std::optional<ProtocolSwitch> Http1Connection::TakeProtocolSwitch() {
  if (!switch_ || !switch_ready_) return std::nullopt;
  // Early chunks past the switch point never reach this engine's parser: they go on too.
  for (Stream* s : {&egress_, &ingress_}) {
    for (StreamAssembler::HeldChunk& held : s->assembler.TakeHeld()) {
      switch_->handed_over.push_back(ProtocolSwitch::Chunk{
          s->direction, held.position, std::move(held.data), held.length, held.timestamp_ns});
    }
  }
  std::optional<ProtocolSwitch> taken = std::move(switch_);
  switch_.reset();
  handed_over_bytes_ = 0;
  return taken;
}

void Http1Connection::StopParsing(Exchange& exchange, std::string note) {
  exchange.notes.push_back(std::move(note));
  egress_.mode = ingress_.mode = Mode::kStopped;
}

void Http1Connection::FinalizeBody(Body& body, const std::vector<Header>& headers,
                                   absl::string_view label, Exchange& exchange) {
  protocols::FinalizeBody(body, FindHeader(headers, "Content-Encoding"), label, options_,
                          {counters_.bodies_decoded, counters_.decode_errors}, exchange.notes);
}

void Http1Connection::EmitReady() {
  while (!pending_.empty() && pending_.front().request_done && pending_.front().response_done) {
    if (pending_.front().handed_over) {
      pending_.pop_front();  // the HTTP/2 engine emits it as stream 1
      continue;
    }
    Exchange exchange = std::move(pending_.front().exchange);
    pending_.pop_front();
    Emit(std::move(exchange));
  }
}

void Http1Connection::Emit(Exchange&& exchange) {
  exchange.complete = exchange.has_request && exchange.has_response && exchange.request_complete &&
                      exchange.response_complete;
  ++counters_.exchanges;
  if (!exchange.complete) ++counters_.incomplete_exchanges;
  if (on_exchange_) on_exchange_(std::move(exchange));
}

// ---------------------------------------------------------------------------------------------
// libhttp-parser callbacks

std::vector<Header>& Http1Connection::HeaderList(Stream& s) {
  if (s.carries_requests)
    return s.headers_done ? s.target->request.trailers : s.target->request.headers;
  return s.headers_done ? s.target->response.trailers : s.target->response.headers;
}

Body& Http1Connection::MessageBody(Stream& s) {
  return s.carries_requests ? s.target->request.body : s.target->response.body;
}

void Http1Connection::AppendHeaderBytes(Stream& s, std::string& to, const char* at, size_t length) {
  const size_t limit = options_.max_header_block_bytes;
  const size_t room = s.header_bytes < limit ? limit - s.header_bytes : 0;
  s.header_bytes += length;
  if (length <= room) {
    to.append(at, length);
    return;
  }
  to.append(at, room);
  if (!s.header_limit_hit) {
    s.header_limit_hit = true;
    ++counters_.header_block_too_large;
    s.target->notes.push_back(absl::StrCat(s.carries_requests ? "request" : "response",
                                           s.headers_done ? " trailers" : " headers",
                                           ": more than ", limit, " bytes; the rest were dropped"));
  }
}

int Http1Connection::CbMessageBegin(http_parser* p) {
  Stream& s = *static_cast<Stream*>(p->data);
  s.conn->BeginMessage(s);
  return s.mode == Mode::kStopped ? 1 : 0;
}

int Http1Connection::CbUrl(http_parser* p, const char* at, size_t length) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  if (s.target->request.method.empty()) {
    s.target->request.method = s.method_override.empty()
                                   ? http_method_str(static_cast<http_method>(p->method))
                                   : s.method_override;
  }
  s.conn->AppendHeaderBytes(s, s.target->request.target, at + s.feed_offset, length);
  if (at + length < s.exec_end) s.line_done = true;
  return 0;
}

int Http1Connection::CbStatus(http_parser* p, const char* at, size_t length) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  s.conn->AppendHeaderBytes(s, s.target->response.reason, at + s.feed_offset, length);
  if (at + length < s.exec_end) s.line_done = true;
  return 0;
}

int Http1Connection::CbHeaderField(http_parser* p, const char* at, size_t length) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  Http1Connection& c = *s.conn;
  std::vector<Header>& list = c.HeaderList(s);
  if (s.last_was_value) {
    s.last_was_value = false;
    s.header_open = false;
    if (s.header_bytes >= c.options_.max_header_block_bytes) {
      s.dropping_header = true;
      s.header_bytes += length;
      return 0;
    }
    if (list.size() >= c.options_.max_headers) {
      s.dropping_header = true;
      if (!s.header_count_hit) {
        s.header_count_hit = true;
        ++c.counters_.too_many_headers;
        s.target->notes.push_back(absl::StrCat(
            s.carries_requests ? "request" : "response", s.headers_done ? " trailers" : " headers",
            ": more than ", c.options_.max_headers, "; the rest were dropped"));
      }
      return 0;
    }
    s.dropping_header = false;
    s.header_open = true;
    list.emplace_back();
  }
  if (!s.dropping_header) {
    c.AppendHeaderBytes(s, list.back().name, at + s.feed_offset, length);
  } else {
    s.header_bytes += length;
  }
  return 0;
}

int Http1Connection::CbHeaderValue(http_parser* p, const char* at, size_t length) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  s.last_was_value = true;
  if (at + length < s.exec_end) s.header_open = false;
  if (s.dropping_header) {
    s.header_bytes += length;
    return 0;
  }
  s.conn->AppendHeaderBytes(s, s.conn->HeaderList(s).back().value, at + s.feed_offset, length);
  return 0;
}

int Http1Connection::CbHeadersComplete(http_parser* p) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  s.headers_done = true;
  s.line_done = true;
  s.header_open = false;
  s.last_was_value = true;
  s.dropping_header = false;
  s.header_bytes = 0;  // trailers get their own budget
  int result = 0;
  if (s.carries_requests) {
    Request& r = s.target->request;
    NoteTabAfterFramingValue(r.headers, "request", s.target->notes);
    TrimFieldValues(r.headers);
    if (!s.method_override.empty() && s.method_override != "QUERY") {
      s.target->notes.push_back(absl::StrCat("request method ", s.method_override,
                                             " is in IANA's registry; Node's llhttp refuses it"));
    }
    r.version = VersionString(*p);
    r.method = s.method_override.empty() ? http_method_str(static_cast<http_method>(p->method))
                                         : s.method_override;
    s.pending->is_head = p->method == HTTP_HEAD;
    s.pending->is_connect = p->method == HTTP_CONNECT;
    s.pending->upgrade_requested = p->upgrade;
  } else {
    Response& r = s.target->response;
    NoteTabAfterFramingValue(r.headers, "response", s.target->notes);
    TrimFieldValues(r.headers);
    r.version = VersionString(*p);
    r.status = p->status_code;
    if (IsInterim(r.status)) {
      result = 0;  // the parser knows 1xx has no body
    } else if ((s.pending != nullptr && s.pending->is_head) || r.status == 204 || r.status == 304) {
      result = 1;  // no body whatever Content-Length says
    } else if (s.pending != nullptr && s.pending->is_connect && r.status / 100 == 2) {
      result = 2;  // tunnel: neither a body nor further responses
    }
  }
  if (result != 0 || IsInterim(p->status_code) || p->status_code == 204 || p->status_code == 304) {
    s.body_kind = BodyKind::kNone;
  } else if (p->flags & F_CHUNKED) {
    s.body_kind = BodyKind::kChunked;
  } else if (p->content_length > 0 && p->content_length != kUnbounded) {
    s.body_kind = BodyKind::kLength;
    // One allocation for what will be kept: appending 16 KiB chunks to a growing string copied
    // each 64 KiB body twice more.
    if (s.target != nullptr) {
      s.conn->MessageBody(s).data.reserve(
          std::min<uint64_t>(p->content_length, s.conn->options_.max_body_bytes));
    }
  } else if (!s.carries_requests && p->content_length == kUnbounded && p->status_code != 101) {
    s.body_kind = BodyKind::kEof;
  } else {
    s.body_kind = BodyKind::kNone;
  }
  return result;
}

int Http1Connection::CbBody(http_parser* p, const char* at, size_t length) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (s.target == nullptr) return 0;
  Http1Connection& c = *s.conn;
  Body& body = c.MessageBody(s);
  body.size += length;
  if (s.filling) {
    body.missing_bytes += length;
    if (s.from_file) body.file_bytes += length;
    if (s.not_copied) body.not_copied_bytes += length;
    return 0;
  }
  at += s.feed_offset;
  const size_t limit = c.options_.max_body_bytes;
  const size_t room = body.data.size() < limit ? limit - body.data.size() : 0;
  if (length <= room) {
    body.data.append(at, length);
    return 0;
  }
  body.data.append(at, room);
  c.counters_.body_bytes_not_kept += length - room;
  if (!s.body_limit_hit) {
    s.body_limit_hit = true;
    ++c.counters_.bodies_truncated;
  }
  return 0;
}

int Http1Connection::CbChunkHeader(http_parser* p) {
  Stream& s = *static_cast<Stream*>(p->data);
  s.in_chunk_data = p->content_length > 0;
  return 0;
}

int Http1Connection::CbChunkComplete(http_parser* p) {
  Stream& s = *static_cast<Stream*>(p->data);
  s.in_chunk_data = false;
  return 0;
}

int Http1Connection::CbMessageComplete(http_parser* p) {
  Stream& s = *static_cast<Stream*>(p->data);
  if (!s.in_message) return 0;
  s.in_message = false;
  // A request stream pauses after each request: Execute looks at the next one's method first.
  if (s.carries_requests) http_parser_pause(p, 1);
  if (s.target == nullptr) return 0;
  TrimFieldValues(s.carries_requests ? s.target->request.trailers : s.target->response.trailers);
  if (s.carries_requests) {
    s.conn->FinishRequest(s, /*parsed_whole=*/true);
  } else {
    s.conn->FinishResponse(s, /*parsed_whole=*/true);
  }
  // Halt the parser at once when the message stopped or switched the connection (upgrade,
  // tunnel).
  return s.mode == Mode::kStopped || s.mode == Mode::kSwitched ? 1 : 0;
}

namespace {

size_t HeaderBytes(const std::vector<Header>& headers) {
  size_t n = 0;
  for (const Header& h : headers) n += h.name.size() + h.value.size() + sizeof(Header);
  return n;
}

size_t ExchangeBytes(const Exchange& x) {
  return sizeof(Exchange) + x.request.target.size() + HeaderBytes(x.request.headers) +
         HeaderBytes(x.request.trailers) + x.request.body.data.size() +
         HeaderBytes(x.response.headers) + HeaderBytes(x.response.trailers) +
         x.response.body.data.size();
}

}  // namespace

LossCounters Http1Connection::losses() const {
  return {.gap_bytes = counters_.gap_bytes,
          .messages_dropped_gap = counters_.messages_dropped_gap,
          .parse_errors = counters_.parse_errors,
          .messages_dropped_parse_error = counters_.messages_dropped_parse_error,
          .buffer_overflow_bytes = counters_.buffer_overflow_bytes};
}

std::optional<ExchangeBalance> Http1Connection::balance() const {
  return ExchangeBalance{.started = counters_.exchange_starts + counters_.placeholders -
                                    counters_.interim_without_request,
                         .emitted = counters_.exchanges,
                         .held = pending_.size() + (orphan_ ? 1u : 0u)};
}

size_t Http1Connection::HeldBytes() const {
  size_t n = egress_.buffer.size() + ingress_.buffer.size() + egress_.assembler.held_bytes() +
             ingress_.assembler.held_bytes() + handed_over_bytes_;
  for (const PendingExchange& entry : pending_) n += ExchangeBytes(entry.exchange);
  if (orphan_) n += ExchangeBytes(*orphan_);
  return n;
}

}  // namespace httptrace::protocols::http1
