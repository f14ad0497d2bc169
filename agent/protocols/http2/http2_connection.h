// The HTTP/2 engine for one connection (h2 with prior knowledge, h2c after the preface, or h2
// over TLS from the plaintext uprobes): reassembles both byte streams, parses frames, decodes
// header blocks with one HPACK decoder per direction, and hands out one Exchange per stream when
// the stream ends (END_STREAM both ways, RST_STREAM, GOAWAY, end of the connection). gRPC calls
// (content-type application/grpc*) also get Exchange::grpc. Single-threaded, one instance per
// connection; no locks, no logging; every limit, gap and error has a counter. See README.md.
//
//   Http2Connection conn(options, RoleHint::kClient, [](Exchange&& e) { ... });
//   conn.OnData(Direction::kEgress, position, captured, length, ts, /*from_file=*/false);
//   conn.OnClose(ts);

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "agent/protocols/common/engine.h"
#include "agent/protocols/common/engine_options.h"
#include "agent/protocols/common/exchange.h"
#include "agent/protocols/common/stream_assembler.h"
#include "agent/protocols/grpc/message_reader.h"
#include "agent/protocols/http2/frame_parser.h"
#include "agent/protocols/http2/hpack_decoder.h"

namespace httptrace::protocols::http2 {

// Every drop, limit, gap and error, by cause. Counters only grow.
struct Http2Counters {
#define HTTPTRACE_HTTP2_COUNTERS(X)                                                          \
  X(chunks)                    /* OnData calls */                                            \
  X(captured_bytes)            /* bytes handed to OnData */                                  \
  X(frames)                    /* frames parsed */                                           \
  X(exchanges)                 /* exchanges emitted (one per stream) */                      \
  X(incomplete_exchanges)      /* ... of which not complete */                               \
  X(grpc_calls)                /* ... of which gRPC */                                       \
  X(grpc_inferred)             /* ... recognised by framing (content-type not seen) */       \
  X(grpc_messages)             /* gRPC length-prefixed messages read */                      \
  X(grpc_framing_lost)         /* gRPC message framing lost (gap in a prefix, bad flag) */   \
  X(stale_chunks)              /* chunks entirely before the stream position (duplicates) */ \
  X(reordered_chunks)          /* chunks that arrived early and were held */                 \
  X(reorder_window_overflows)  /* holes declared gaps because the window filled */           \
  X(gaps)                      /* ranges of the stream never seen */                         \
  X(gap_bytes)                 /* bytes in those ranges */                                   \
  X(data_gap_bytes)            /* gap bytes inside DATA payloads (framing kept) */           \
  X(lost_sync)                 /* gaps outside a DATA payload: frame boundaries lost */      \
  X(resyncs)                   /* frame boundaries found again (incl. a mid-stream join) */  \
  X(resync_skipped_bytes)      /* bytes skipped looking for a frame start */                 \
  X(frames_lost)               /* non-DATA frames partly never seen */                       \
  X(frames_too_large)          /* non-DATA frames over max_header_block_bytes: skipped */    \
  X(malformed_frames)          /* frames contradicting their type: skipped */                \
  X(header_blocks)             /* header blocks decoded */                                   \
  X(header_blocks_too_large)   /* blocks over max_header_block_bytes: not decoded */         \
  X(header_blocks_lost)        /* blocks with a frame lost or a CONTINUATION missing */      \
  X(hpack_errors)              /* blocks HPACK could not decode */                           \
  X(hpack_placeholders)        /* headers indexed before the capture began (placeholders) */ \
  X(too_many_headers)          /* messages with more than max_headers headers */             \
  X(streams)                   /* streams tracked */                                         \
  X(streams_over_limit)        /* oldest stream emitted early: max_concurrent_streams */     \
  X(frames_for_closed_streams) /* frames of streams already emitted: ignored */              \
  X(streams_reset)             /* RST_STREAM */                                              \
  X(streams_refused_goaway)    /* streams above a GOAWAY's last stream id */                 \
  X(pushed_streams)            /* PUSH_PROMISE */                                            \
  X(informational_responses)   /* 1xx header blocks */                                       \
  X(bodies_truncated)          /* bodies larger than max_body_bytes */                       \
  X(body_bytes_not_kept)       /* body bytes beyond max_body_bytes */                        \
  X(bodies_decoded)            /* gzip/deflate bodies decoded */                             \
  X(decode_errors)             /* gzip/deflate bodies that failed to decode */               \
  X(role_hint_overridden)      /* content contradicted the role hint */                      \
  X(data_after_close)          /* bytes after OnClose */

#define HTTPTRACE_HTTP2_COUNTER_FIELD(name) uint64_t name = 0;
  HTTPTRACE_HTTP2_COUNTERS(HTTPTRACE_HTTP2_COUNTER_FIELD)
#undef HTTPTRACE_HTTP2_COUNTER_FIELD

  // Calls fn("http2.<name>", value) for every counter.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
#define HTTPTRACE_HTTP2_COUNTER_VISIT(name) fn("http2." #name, name);
    HTTPTRACE_HTTP2_COUNTERS(HTTPTRACE_HTTP2_COUNTER_VISIT)
#undef HTTPTRACE_HTTP2_COUNTER_VISIT
  }

  Http2Counters& operator+=(const Http2Counters& other) {
#define HTTPTRACE_HTTP2_COUNTER_ADD(name) name += other.name;
    HTTPTRACE_HTTP2_COUNTERS(HTTPTRACE_HTTP2_COUNTER_ADD)
#undef HTTPTRACE_HTTP2_COUNTER_ADD
    return *this;
  }
};

class Http2Connection final : public ProtocolEngine {
 public:
  // `on_exchange` is called from inside OnData/OnEndOfStream/OnClose and must not call back
  // into this object. Not copyable or movable.
  Http2Connection(const EngineOptions& options, RoleHint hint, ExchangeCallback on_exchange);
  ~Http2Connection() override;
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  Protocol protocol() const override { return Protocol::kHttp2; }
  void OnData(Direction direction, uint64_t position, absl::string_view captured, uint64_t length,
              uint64_t timestamp_ns, bool from_file, bool not_copied = false) override;
  // Streams still waiting for `direction` to end one of their halves are emitted now.
  void OnEndOfStream(Direction direction, uint64_t timestamp_ns) override;
  // Emits every stream still open, with notes. Later calls to OnData are counted and ignored.
  void OnClose(uint64_t timestamp_ns) override;
  size_t HeldBytes() const override;
  LossCounters losses() const override { return losses_; }
  void ForEachCounter(absl::FunctionRef<void(const char* name, uint64_t value)> fn) const override;

  // h2c (RFC 7540 3.2): the connection became HTTP/2 after an HTTP/1.1 request with
  // `Upgrade: h2c` was answered 101. That request is stream 1, already ended; its response comes
  // as HTTP/2. Call before the first HTTP/2 bytes, with the request as the HTTP/1 engine parsed
  // it and which direction carried it.
  void AdoptUpgradeRequest(Request request, Direction request_direction, uint64_t start_time_ns,
                           uint64_t end_time_ns);
  // The connection's bytes in `direction` before `position` were another engine's (h2c: the
  // HTTP/1.1 upgrade request or the 101): this engine's stream starts there, at HTTP/2's start
  // (the client preface or the server's first frame). Before any data.
  void StartAt(Direction direction, uint64_t position);

  const Http2Counters& counters() const { return counters_; }
  // Which direction carries requests, once known (hint, preface or content).
  std::optional<Direction> request_direction() const;
  size_t open_streams() const { return streams_.size(); }

 private:
  class Side;
  struct Half;
  struct Stream;
  struct PendingBlock;

  Side& side(Direction d) { return *sides_[static_cast<size_t>(d)]; }

  // Called by Side (the frame visitor).
  void OnHeaderBlock(Side& s, uint32_t stream_id, bool end_stream, bool push, uint32_t promised_id,
                     std::vector<HpackHeader>* headers, absl::string_view problem);
  void OnDataFrame(Side& s, const FrameHeader& h, absl::string_view data, uint64_t missing);
  void OnDataEnd(Side& s, const FrameHeader& h);
  void OnRstStream(Side& s, uint32_t stream_id, uint32_t error_code);
  void OnGoaway(Side& s, uint32_t last_stream_id, uint32_t error_code);
  void OnSetting(Side& s, uint16_t id, uint32_t value);
  void OnPreface(Side& s);
  void OnLostSync(Side& s);

  void SetRequestDirection(Direction d, bool from_content);
  // The stream's state, created if needed (evicting the oldest beyond the limit). nullptr for a
  // stream already emitted.
  Stream* FindOrCreateStream(uint32_t id);
  Direction RequestDirectionOf(Stream& stream) const;
  void MaybeFinish(Stream& stream);
  // Emits and forgets the stream.
  void Finish(uint32_t id, absl::string_view note);
  Exchange BuildExchange(Stream& stream);
  void FinalizeBody(Body& body, const std::vector<Header>& headers, absl::string_view label,
                    Exchange& exchange);
  void RememberClosed(uint32_t id);
  bool WasClosed(uint32_t id) const;

  const EngineOptions options_;
  const ExchangeCallback on_exchange_;
  Http2Counters counters_;
  LossCounters losses_;
  std::array<std::unique_ptr<Side>, 2> sides_;
  std::optional<Direction> request_direction_;
  bool roles_from_content_ = false;
  bool closed_ = false;
  absl::flat_hash_map<uint32_t, std::unique_ptr<Stream>> streams_;
  // Ids of streams already emitted (a bounded ring): their late frames are ignored, not made
  // into new exchanges.
  std::vector<uint32_t> closed_ids_;
  size_t next_closed_ = 0;
  size_t stream_bytes_ = 0;  // approximate bytes held by streams_
};

}  // namespace httptrace::protocols::http2
