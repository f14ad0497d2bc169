// The limits and choices every protocol engine of a connection works within (agent/protocols/):
// set once per agent from its flags, the same for every connection.

#pragma once

#include <cstddef>
#include <cstdint>

namespace httptrace::protocols {

struct EngineOptions {
  // Start line plus header bytes kept per message (trailers have their own budget of the same
  // size). Beyond it headers are dropped, framing is kept, and the exchange says so. Blocks over
  // libhttp-parser's own limit (80 KiB) are HTTP/1 parse errors.
  size_t max_header_block_bytes = 32 * 1024;
  // Headers kept per message (and trailers per message).
  size_t max_headers = 128;
  // Body bytes kept per message; the true size is always counted.
  size_t max_body_bytes = 64 * 1024;
  // Requests waiting for their response; beyond it the oldest is emitted as unanswered.
  size_t max_pending_requests = 64;
  // Bytes a connection may hold: a quarter each for the reorder window and the resync buffer of
  // each direction.
  size_t max_buffered_bytes = 256 * 1024;
  // Early chunks held per direction before the hole in front of them is declared a gap.
  size_t max_reorder_chunks = 32;
  // Stream positions count from 0 at the start of tracking (as the capture layer reports them):
  // an early first chunk waits for the bytes before it. False: the first chunk seen is the origin.
  bool positions_start_at_zero = true;
  // Longest start line accepted when resynchronising.
  size_t max_start_line_bytes = 8 * 1024;
  // Decode Content-Encoding gzip/deflate bodies for display.
  bool decode_content_encoding = true;
  // Work bound for decoding: stop inflating after this many output bytes.
  uint64_t max_decode_output_bytes = 1 << 20;

  // HTTP/2: streams tracked at once per connection; beyond it the oldest is emitted early,
  // incomplete, with a note (http2.streams_over_limit). Header blocks (HEADERS + CONTINUATION)
  // are bounded by max_header_block_bytes and each direction's HPACK table copy by twice that.
  size_t max_concurrent_streams = 128;
  // gRPC messages kept per direction of a call (all are counted; bytes within max_body_bytes).
  size_t max_grpc_messages_kept = 256;
};

}  // namespace httptrace::protocols
