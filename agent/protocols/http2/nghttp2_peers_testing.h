// Tests only: a real HTTP/2 client and server (two libnghttp2 sessions) talking in memory, with
// every write recorded as a chunk of the client's (egress) or the server's (ingress) byte stream,
// the way the probes see a traced client's syscalls. The engine's tests drive conversations with
// it instead of hand-made frames, so what they parse is what a real peer sends.

#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/protocols/common/exchange.h"

namespace httptrace::protocols::http2::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Chunk {
  Direction direction;  // kEgress: client to server
  std::string bytes;
};

// gRPC's length-prefixed message framing of `payload`.
std::string GrpcFrame(const std::string& payload, bool compressed = false);

class Nghttp2Peers {
 public:
  // `header_table_size`: SETTINGS_HEADER_TABLE_SIZE each side announces (the peer's encoder
  // uses at most this).
  explicit Nghttp2Peers(uint32_t header_table_size = 4096);
  ~Nghttp2Peers();
  Nghttp2Peers(const Nghttp2Peers&) = delete;
  Nghttp2Peers& operator=(const Nghttp2Peers&) = delete;

  // Client side. Returns the stream id. An empty body with no trailers ends the stream with the
  // HEADERS frame. `end_stream=false` leaves the request open after its body (no END_STREAM).
  int32_t Request(const Fields& headers, const std::string& body = "", const Fields& trailers = {},
                  bool end_stream = true);
  // Server side, on a stream the server has received.
  void Respond(int32_t stream_id, const Fields& headers, const std::string& body = "",
               const Fields& trailers = {});
  // Server: a 1xx header block before the response.
  void Informational(int32_t stream_id, const Fields& headers);
  // Server: PUSH_PROMISE on `stream_id` with the promised request; returns the promised id.
  int32_t Push(int32_t stream_id, const Fields& request_headers);
  void ResetFromClient(int32_t stream_id, uint32_t error_code);
  void ResetFromServer(int32_t stream_id, uint32_t error_code);
  void GoawayFromServer(int32_t last_stream_id, uint32_t error_code);
  // h2c: both sessions take the HTTP/1.1 `Upgrade: h2c` request (sent before these bytes) as
  // stream 1, half-closed by the client; the server answers it with Respond(1, ...).
  void UpgradeStream1();
  // Client: change the table size its encoder uses (emits a size update).
  void ClientEncoderTableSize(size_t size);

  // Moves bytes both ways until neither side has anything to send.
  void Pump();

  // Every write so far, in order.
  const std::vector<Chunk>& chunks() const { return chunks_; }
  // The client's stream and the server's stream, concatenated.
  std::string Stream(Direction d) const;

 private:
  struct Source {
    std::string data;
    size_t offset = 0;
    Fields trailers;
    bool end_stream = true;  // false: the body's last DATA frame does not end the stream
  };
  struct Side {
    nghttp2_session* session = nullptr;
    Direction direction;
    Nghttp2Peers* peers;
    std::map<int32_t, std::unique_ptr<Source>> sources;
  };

  static ssize_t OnSend(nghttp2_session*, const uint8_t* data, size_t length, int flags,
                        void* user_data);
  static ssize_t OnRead(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t length,
                        uint32_t* data_flags, nghttp2_data_source* source, void* user_data);
  nghttp2_data_provider Provider(Side& side, int32_t stream_id, const std::string& body,
                                 const Fields& trailers);

  Side client_;
  Side server_;
  std::vector<Chunk> chunks_;
};

}  // namespace httptrace::protocols::http2::testing
