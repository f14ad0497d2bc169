// The HTTP/1.x engine (ProtocolEngine) for one connection: reassembles both byte streams from
// positioned chunks, frames requests and responses with libhttp-parser, pairs them in order
// (pipelining included) and hands out Exchanges. Single-threaded; one instance per connection;
// hot-path friendly (no locks, no logging, no heap allocation per chunk on the in-order path;
// counters for everything).
//
//   Http1Connection conn(options, RoleHint::kClient, [](Exchange&& e) { ... });
//   conn.OnData(Direction::kEgress, position, captured, length, ts);  // as events arrive
//   conn.OnClose(ts);                                                 // flushes what is pending

#pragma once

#include <http_parser.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/engine.h"
#include "agent/protocols/common/engine_options.h"
#include "agent/protocols/common/exchange.h"
#include "agent/protocols/common/stream_assembler.h"

namespace httptrace::protocols::http1 {

// Every drop, limit, gap and parse error, by cause. Counters only grow.
struct EngineCounters {
#define HTTPTRACE_HTTP_COUNTERS(X)                                                               \
  X(chunks)                       /* OnData calls */                                             \
  X(captured_bytes)               /* bytes handed to OnData */                                   \
  X(exchanges)                    /* exchanges emitted */                                        \
  X(incomplete_exchanges)         /* ... of which not complete */                                \
  X(exchange_starts)              /* requests begun, and responses begun without a request */    \
  X(placeholders)                 /* exchanges made for requests lost before their first byte */ \
  X(stale_chunks)                 /* chunks entirely before the stream position (duplicates) */  \
  X(reordered_chunks)             /* chunks that arrived early and were held */                  \
  X(reorder_window_overflows)     /* holes declared gaps because the window filled */            \
  X(gaps)                         /* ranges of the stream never seen */                          \
  X(gap_bytes)                    /* bytes in those ranges */                                    \
  X(body_gap_bytes)               /* gap bytes inside bodies of known length (framing kept) */   \
  X(messages_dropped_gap)         /* messages cut by a gap outside a body */                     \
  X(messages_dropped_parse_error) /* messages cut by a parse error */                            \
  X(parse_errors)                 /* libhttp-parser errors */                                    \
  X(resync_skipped_bytes)         /* bytes skipped looking for a message start */                \
  X(data_after_connection_close)  /* bytes after a message that closed the connection */         \
  X(role_hint_overridden)         /* content contradicted the role hint */                       \
  X(header_block_too_large)       /* messages whose headers exceeded max_header_block_bytes */   \
  X(too_many_headers)             /* messages with more than max_headers headers */              \
  X(bodies_truncated)             /* bodies larger than max_body_bytes */                        \
  X(body_bytes_not_kept)          /* body bytes beyond max_body_bytes */                         \
  X(pending_requests_overflow)    /* requests emitted unanswered: max_pending_requests */        \
  X(buffer_overflow_bytes)        /* bytes dropped: max_buffered_bytes */                        \
  X(requests_without_response)    /* requests emitted with no response */                        \
  X(responses_without_request)    /* responses that matched no request */                        \
  X(evicted_request_responses)    /* responses to requests emitted unanswered: dropped */        \
  X(interim_responses)            /* 1xx responses other than 101 */                             \
  X(interim_without_request)      /* ... of which answered no request seen (no exchange) */      \
  X(upgrades)                     /* 101 Switching Protocols (not h2c: parsing stopped) */       \
  X(upgrades_h2c)                 /* ... of which to h2c: handed to the HTTP/2 engine */         \
  X(connect_tunnels)              /* CONNECT answered 2xx: parsing stopped */                    \
  X(bytes_not_parsed)             /* bytes after an upgrade, tunnel or close */                  \
  X(bodies_decoded)               /* gzip/deflate bodies decoded */                              \
  X(decode_errors)                /* gzip/deflate bodies that failed to decode */

#define HTTPTRACE_HTTP_COUNTER_FIELD(name) uint64_t name = 0;
  HTTPTRACE_HTTP_COUNTERS(HTTPTRACE_HTTP_COUNTER_FIELD)
#undef HTTPTRACE_HTTP_COUNTER_FIELD

  // Calls fn("http.<name>", value) for every counter.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
#define HTTPTRACE_HTTP_COUNTER_VISIT(name) fn("http." #name, name);
    HTTPTRACE_HTTP_COUNTERS(HTTPTRACE_HTTP_COUNTER_VISIT)
#undef HTTPTRACE_HTTP_COUNTER_VISIT
  }

  EngineCounters& operator+=(const EngineCounters& other) {
#define HTTPTRACE_HTTP_COUNTER_ADD(name) name += other.name;
    HTTPTRACE_HTTP_COUNTERS(HTTPTRACE_HTTP_COUNTER_ADD)
#undef HTTPTRACE_HTTP_COUNTER_ADD
    return *this;
  }
};

class Http1Connection final : public ProtocolEngine {
 public:
  // `on_exchange` is called from inside OnData/OnClose and must not call back into this object.
  // Not copyable or movable (the parsers point back into it): hold it by std::unique_ptr.
  Http1Connection(const EngineOptions& options, RoleHint hint, ExchangeCallback on_exchange);
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  // `position` is the byte offset of captured[0] in this direction's stream; `length` is the
  // true number of bytes the syscall moved starting at `position` (>= captured.size(): the
  // missing tail is a known gap). Chunks may arrive slightly out of order or with holes.
  // `from_file`: the bytes went from a file straight to the socket (sendfile): the missing tail
  // is reported as "sent from a file", not as lost. `not_copied`: the probes copied only a prefix
  // on purpose (the sessions' per-message limit): the missing tail truncates a body (a chunked
  // body ends where the next message starts), or, in headers, cuts the message (counted).
  void OnData(Direction direction, uint64_t position, absl::string_view captured, uint64_t length,
              uint64_t timestamp_ns, bool from_file = false, bool not_copied = false) override;
  // Nothing more comes in `direction` (egress: shutdown(SHUT_WR); ingress: end of stream read)
  // while the other direction may go on. When that direction carries responses nothing more
  // can be answered: a close-delimited body ends here and pending requests are emitted, as by
  // OnClose. A direction that carries requests ending changes nothing: responses may still
  // come.
  void OnEndOfStream(Direction direction, uint64_t timestamp_ns) override;
  // End of both streams: completes close-delimited bodies and emits whatever is pending, with
  // notes. Later calls to OnData are counted and ignored.
  void OnClose(uint64_t timestamp_ns) override;

  Protocol protocol() const override { return Protocol::kHttp1; }
  const EngineCounters& counters() const { return counters_; }
  LossCounters losses() const override;
  void ForEachCounter(absl::FunctionRef<void(const char* name, uint64_t value)> fn) const override {
    counters_.ForEach(fn);
  }
  // Which direction carries requests, once known (hint or content).
  std::optional<Direction> request_direction() const;
  // Parsing stopped: upgrade (h2c: handed on), CONNECT tunnel or close.
  bool stopped() const;
  // Requests waiting for a response.
  size_t pending_requests() const { return pending_.size(); }
  // An h2c upgrade (a complete request with `Upgrade: h2c` answered 101 with `Upgrade: h2c`):
  // the request, not emitted here, becomes stream 1's; bytes after the request and after the 101
  // are HTTP/2's. Other upgrades stop parsing as before.
  std::optional<ProtocolSwitch> TakeProtocolSwitch() override;
  // Bytes this connection holds (reassembly buffers, messages waiting for their other half),
  // approximately: what the agent's memory budget is charged for it. A few loads per message
  // held; called after every chunk.
  size_t HeldBytes() const override;
  std::optional<ExchangeBalance> balance() const override;

 private:
  // kSwitched: the connection switched protocols (h2c); bytes are kept for the next engine.
  enum class Mode : uint8_t { kResync, kParsing, kWaitUpgrade, kStopped, kSwitched };
  enum class BodyKind : uint8_t { kNone, kLength, kChunked, kEof };

  struct PendingExchange {
    Exchange exchange;
    bool request_done = false;
    bool response_done = false;
    bool is_head = false;
    bool is_connect = false;
    bool upgrade_requested = false;
    bool response_upgraded = false;
    bool handed_over = false;  // an h2c upgrade: the request went to the HTTP/2 engine
  };

  struct Stream final : StreamAssembler::Sink {
    Stream(Http1Connection* c, Direction d, const EngineOptions& o)
        : conn(c),
          direction(d),
          assembler(o.max_reorder_chunks, o.max_buffered_bytes / 4, o.positions_start_at_zero) {}
    void OnBytes(absl::string_view data, uint64_t timestamp_ns) override {
      conn->OnStreamBytes(*this, data, timestamp_ns);
    }
    void OnGap(uint64_t bytes, uint64_t timestamp_ns) override {
      // The tail of a chunk sent from a file ends exactly where that chunk ends (it may have
      // been held for reordering: the last few such ends are remembered).
      const uint64_t end = assembler.next_position();
      from_file = false;
      for (uint64_t e : file_chunk_ends) from_file |= e != 0 && e == end;
      not_copied = false;
      for (uint64_t e : tail_chunk_ends) not_copied |= !from_file && e != 0 && e == end;
      conn->OnStreamGap(*this, bytes, timestamp_ns);
      from_file = false;
      not_copied = false;
    }

    Http1Connection* conn;
    Direction direction;
    StreamAssembler assembler;
    Mode mode = Mode::kResync;
    bool carries_requests = false;
    http_parser parser{};
    // Bytes not consumed yet: a partial start line while resynchronising, or requests held
    // while an upgrade request waits for its answer.
    std::string buffer;
    uint64_t buffer_ts = 0;
    bool reprocess = false;      // buffer must be looked at again (roles or mode changed)
    bool skip_first = false;     // after a parse error: a start at offset 0 is not accepted
    bool await_upgrade = false;  // the request just parsed asked for an upgrade
    bool seen_bytes = false;     // any byte of this stream was delivered
    bool from_file = false;      // the gap being handled is bytes sent from a file (sendfile)
    // Stream ends of the latest chunks sent from a file (a ring; 0: empty).
    std::array<uint64_t, 4> file_chunk_ends{};
    uint8_t next_file_chunk = 0;
    // The gap being handled is the uncopied tail of a chunk (length > captured): the probes
    // copied only a prefix on purpose (the sessions' per-message limit, a capture limit), not
    // lost bytes. Stream ends of the latest such chunks (a ring; 0: empty).
    bool not_copied = false;
    std::array<uint64_t, 4> tail_chunk_ends{};
    uint8_t next_tail_chunk = 0;
    // A chunked body whose rest was not copied: its end cannot be found, so the message ends,
    // truncated but whole, where the next message starts (or at the end of the stream).
    bool skipping_body = false;
    bool processing = false;  // Process() is running on this stream (no re-entry)
    // End of the bytes Process() was given: they end at assembler.delivered_end(), which gives
    // every byte of them its stream position.
    const char* data_end = nullptr;
    uint64_t upgrade_boundary = 0;  // stream position just past a request asking to upgrade
    // A gap hid where the next message starts: if resynchronising has to skip bytes, a message
    // was cut, and the exchange it belongs to must say so (keeps requests and responses paired).
    bool lost_message_start = false;
    uint64_t lost_message_ts = 0;
    // Bytes lost right before the next message start (whole messages may have been in them).
    uint64_t lost_before_next = 0;
    uint64_t ts = 0;        // timestamp of the bytes being parsed
    uint64_t begin_ts = 0;  // timestamp to use for a message's first byte
    uint64_t last_ts = 0;   // timestamp of the last byte delivered

    // The message being parsed.
    bool in_message = false;
    bool headers_done = false;
    bool last_was_value = true;
    bool line_done = false;          // the start line was parsed whole
    const char* exec_end = nullptr;  // end of the bytes given to http_parser_execute
    // Those bytes were a normalised copy (Execute): callbacks add this to a pointer into it to
    // read the bytes themselves.
    std::ptrdiff_t feed_offset = 0;
    std::string feed_copy;
    // The request's method when libhttp-parser was given a stand-in for it (Execute).
    std::string method_override;
    bool need_more = false;    // Execute consumed nothing: a request's method is incomplete
    bool header_open = false;  // the last header may still grow
    bool dropping_header = false;
    bool header_limit_hit = false;
    bool header_count_hit = false;
    bool body_limit_hit = false;
    bool filling = false;  // feeding a gap through the parser as placeholder body bytes
    BodyKind body_kind = BodyKind::kNone;
    bool in_chunk_data = false;
    size_t header_bytes = 0;
    Exchange* target = nullptr;          // where the message goes
    PendingExchange* pending = nullptr;  // its queue entry (nullptr: response without request)
  };

  static const http_parser_settings kSettings;
  static int CbMessageBegin(http_parser* p);
  static int CbUrl(http_parser* p, const char* at, size_t length);
  static int CbStatus(http_parser* p, const char* at, size_t length);
  static int CbHeaderField(http_parser* p, const char* at, size_t length);
  static int CbHeaderValue(http_parser* p, const char* at, size_t length);
  static int CbHeadersComplete(http_parser* p);
  static int CbBody(http_parser* p, const char* at, size_t length);
  static int CbMessageComplete(http_parser* p);
  static int CbChunkHeader(http_parser* p);
  static int CbChunkComplete(http_parser* p);

  Stream& stream(Direction d) { return d == Direction::kEgress ? egress_ : ingress_; }
  Stream& other(const Stream& s) { return stream(Opposite(s.direction)); }

  void OnStreamBytes(Stream& s, absl::string_view data, uint64_t ts);
  void OnStreamGap(Stream& s, uint64_t bytes, uint64_t ts);
  // Consumes what it can of `data`; never touches s.buffer.
  size_t Process(Stream& s, absl::string_view data, uint64_t ts);
  size_t Consume(Stream& s, absl::string_view data);
  size_t Resync(Stream& s, absl::string_view data);
  size_t Execute(Stream& s, absl::string_view data);
  void AppendToBuffer(Stream& s, absl::string_view data, uint64_t ts);
  void RunDeferred(uint64_t ts);
  // Processes s.buffer now when safe, else marks it for RunDeferred.
  void ProcessBuffer(Stream& s, uint64_t ts);
  void SetRoles(Direction request_direction);
  void StartParser(Stream& s);
  uint64_t BodyRemaining(const Stream& s) const;
  void FillGap(Stream& s, uint64_t bytes);
  void DropMessage(Stream& s, absl::string_view reason);
  // Ends the message whose chunked body was not copied to its end (skipping_body).
  void EndSkippedBody(Stream& s);
  void AccountLostMessage(Stream& s);

  void BeginMessage(Stream& s);
  void BeginRequest(Stream& s);
  // False when the limit is reached and the oldest request cannot be given up.
  bool MakeRoomForRequest(Stream& s);
  void BeginResponse(Stream& s);
  void FinishRequest(Stream& s, bool parsed_whole);
  void FinishResponse(Stream& s, bool parsed_whole);
  void FinalizeBody(Body& body, const std::vector<Header>& headers, absl::string_view label,
                    Exchange& exchange);
  void StopParsing(Exchange& exchange, std::string note);
  // The 101 on `responses` answered `entry`'s h2c upgrade: hand the connection on.
  void BeginSwitch(Stream& responses, PendingExchange& entry);
  // Keeps bytes (or a gap: empty `bytes`) at `position` for the next engine.
  void HandOver(Stream& s, uint64_t position, absl::string_view bytes, uint64_t length,
                uint64_t ts);
  uint64_t PositionOf(const Stream& s, const char* at) const {
    return s.assembler.delivered_end() - static_cast<uint64_t>(s.data_end - at);
  }
  void EmitReady();
  void Emit(Exchange&& exchange);

  void AppendHeaderBytes(Stream& s, std::string& to, const char* at, size_t length);
  std::vector<Header>& HeaderList(Stream& s);
  Body& MessageBody(Stream& s);

  const EngineOptions options_;
  const ExchangeCallback on_exchange_;
  EngineCounters counters_;
  Stream egress_;
  Stream ingress_;
  bool roles_known_ = false;
  bool any_message_seen_ = false;
  bool closed_ = false;
  std::deque<PendingExchange> pending_;
  std::optional<Exchange> orphan_;  // a response that matched no request
  // Responses still owed to requests that MakeRoomForRequest emitted unanswered: responses come
  // in request order, so the next ones answer those requests, not the oldest pending one, and
  // are parsed (for framing) and dropped. `discard_response_`: the current one is such.
  uint64_t owed_evicted_responses_ = 0;
  bool discard_response_ = false;
  // An h2c switch being prepared (until the 101's end is known) or ready to be taken.
  std::optional<ProtocolSwitch> switch_;
  bool switch_ready_ = false;
  size_t handed_over_bytes_ = 0;
};

}  // namespace httptrace::protocols::http1
