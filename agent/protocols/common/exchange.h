// What the HTTP/1.x engine produces: one request and its response (either may be missing), with
// headers in wire order, bodies as kept, and notes for anything incomplete. Redaction is not done
// here: each capture session applies its own list to the API message (agent/session/session.h).

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace::protocols {

// egress: the traced process wrote these bytes; ingress: it read them.
enum class Direction : uint8_t { kEgress = 0, kIngress = 1 };

inline Direction Opposite(Direction d) {
  return d == Direction::kEgress ? Direction::kIngress : Direction::kEgress;
}

struct Header {
  std::string name;  // As sent (case preserved).
  std::string value;
};

struct Body {
  // Bytes kept (at most EngineOptions::max_body_bytes). Decoded when decoded_from is not empty,
  // otherwise as sent after removing chunked framing.
  std::string data;
  // True size: the decoded size when the whole body was decoded, else the body bytes on the wire
  // (including bytes never captured).
  uint64_t size = 0;
  // data holds fewer bytes than size, or the bytes are not the whole story (gaps).
  bool truncated = false;
  // "gzip" or "deflate" when data was decoded for display; empty otherwise.
  std::string decoded_from;
  // Body bytes on the wire (after removing chunked framing), before decoding.
  uint64_t encoded_size = 0;
  // Bytes of the body that were never captured (lost events, or the kernel copied only a
  // prefix). Counted in size and encoded_size; data never contains them.
  uint64_t missing_bytes = 0;
  // Of missing_bytes, those the sender passed from a file (sendfile): never in user memory, so
  // never capturable, but not lost either (they do not make a message incomplete).
  uint64_t file_bytes = 0;
  // Of missing_bytes, those the probes did not copy on purpose: past what the capture sessions
  // keep of a message (the kernel's per-message copy limit, agent/pipeline/
  // kernel_filter_control.h) or another capture limit. Not lost: the body is truncated, the
  // message still complete.
  uint64_t not_copied_bytes = 0;
};

struct Request {
  std::string method;            // "GET"
  std::string target;            // As sent: "/users?id=1", or "host:443" for CONNECT.
  std::string version;           // "HTTP/1.1"
  std::vector<Header> headers;   // Wire order.
  std::vector<Header> trailers;  // Chunked trailers, wire order.
  Body body;
};

struct Response {
  std::string version;  // "HTTP/1.1"
  uint32_t status = 0;
  std::string reason;
  std::vector<Header> headers;
  std::vector<Header> trailers;
  Body body;
};

// One gRPC length-prefixed message (HTTP/2 engine).
struct GrpcMessage {
  uint64_t size = 0;        // payload length from the message's prefix
  bool compressed = false;  // the prefix's compressed flag (GrpcCall::encoding applies)
  std::string data;         // payload bytes kept: a prefix when cut by the body limit
  // "gzip" or "deflate" when a compressed message's data was decompressed for display (size
  // stays the size on the wire); empty otherwise.
  std::string decoded_from;
  uint64_t missing_bytes = 0;  // payload bytes never captured (counted in size, not in data)
  bool complete = false;       // the whole payload went by (seen or missing)
};

// The messages of one direction of a gRPC call. Streaming calls have many.
struct GrpcMessages {
  uint64_t count = 0;  // messages whose prefix was read (may exceed messages.size())
  // The first EngineOptions::max_grpc_messages_kept of them, bytes within max_body_bytes.
  std::vector<GrpcMessage> messages;
  // A gap fell in a prefix (or the bytes were not gRPC framing): messages after it not read.
  bool framing_lost = false;
};

// A gRPC call (content-type application/grpc*) on an HTTP/2 stream.
struct GrpcCall {
  std::string service;  // "helloworld.Greeter", from :path "/helloworld.Greeter/SayHello"
  std::string method;   // "SayHello"
  std::optional<uint32_t> status_code;  // grpc-status; absent when not seen
  std::string status_message;           // grpc-message, percent-decoded
  std::string encoding;                 // grpc-encoding ("gzip"), empty for identity
  bool trailers_only = false;           // grpc-status came in the response's only header block
  GrpcMessages request;
  GrpcMessages response;
};

struct Exchange {
  // First byte of the request; the response's first byte when there is no request.
  uint64_t start_time_ns = 0;
  // Last byte of the request (0 when not seen).
  uint64_t request_end_time_ns = 0;
  // First and last byte of the response (0 when no response was seen).
  uint64_t response_start_time_ns = 0;
  uint64_t end_time_ns = 0;

  // Which direction carried requests: kEgress means the traced process is the client.
  Direction request_direction = Direction::kEgress;

  bool has_request = false;        // Some of the request was seen.
  bool has_response = false;       // Some of the response was seen.
  bool request_complete = false;   // The request was parsed to its end without lost bytes.
  bool response_complete = false;  // The response was parsed to its end without lost bytes.
  // Both messages seen whole (bodies may still be truncated by the body limit).
  bool complete = false;

  Request request;
  Response response;
  // Anything incomplete or unusual, for a person: "response missing: connection closed".
  std::vector<std::string> notes;

  // HTTP/2: the stream the exchange was (0 for HTTP/1).
  uint32_t stream_id = 0;
  // gRPC calls (HTTP/2 with content-type application/grpc*).
  std::optional<GrpcCall> grpc;

  // Request first byte to response last byte; 0 without both.
  uint64_t latency_ns() const {
    return has_request && has_response && end_time_ns >= start_time_ns ? end_time_ns - start_time_ns
                                                                       : 0;
  }
  bool traced_process_is_client() const { return request_direction == Direction::kEgress; }
};

// Value of the first header named `name` (case-insensitive), or empty.
absl::string_view FindHeader(const std::vector<Header>& headers, absl::string_view name);

// A compact multi-line rendering for tests and debugging (not a user-facing format).
std::string DebugString(const Exchange& exchange);

}  // namespace httptrace::protocols
