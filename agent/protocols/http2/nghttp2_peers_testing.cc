#include "agent/protocols/http2/nghttp2_peers_testing.h"

#include <cstring>
#include <stdexcept>

namespace httptrace::protocols::http2::testing {
namespace {

std::vector<nghttp2_nv> ToNv(const Fields& fields) {
  std::vector<nghttp2_nv> nva;
  for (const auto& [name, value] : fields) {
    nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                             reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                             name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nva;
}

void Check(int rv, const char* what) {
  if (rv < 0) throw std::runtime_error(std::string(what) + ": " + nghttp2_strerror(rv));
}

}  // namespace

std::string GrpcFrame(const std::string& payload, bool compressed) {
  const uint32_t n = payload.size();
  std::string out{static_cast<char>(compressed ? 1 : 0), static_cast<char>(n >> 24),
                  static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + payload;
}

Nghttp2Peers::Nghttp2Peers(uint32_t header_table_size) {
  client_.direction = Direction::kEgress;
  server_.direction = Direction::kIngress;
  client_.peers = server_.peers = this;
  nghttp2_session_callbacks* callbacks = nullptr;
  Check(nghttp2_session_callbacks_new(&callbacks), "callbacks");
  nghttp2_session_callbacks_set_send_callback(callbacks, &Nghttp2Peers::OnSend);
  Check(nghttp2_session_client_new(&client_.session, callbacks, &client_), "client");
  Check(nghttp2_session_server_new(&server_.session, callbacks, &server_), "server");
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, header_table_size},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
  Check(nghttp2_submit_settings(client_.session, NGHTTP2_FLAG_NONE, settings, 2), "settings");
  Check(nghttp2_submit_settings(server_.session, NGHTTP2_FLAG_NONE, settings, 2), "settings");
}

Nghttp2Peers::~Nghttp2Peers() {
  nghttp2_session_del(client_.session);
  nghttp2_session_del(server_.session);
}

ssize_t Nghttp2Peers::OnSend(nghttp2_session*, const uint8_t* data, size_t length, int,
                             void* user_data) {
  Side* side = static_cast<Side*>(user_data);
  side->peers->chunks_.push_back(
      Chunk{side->direction, std::string(reinterpret_cast<const char*>(data), length)});
  return static_cast<ssize_t>(length);
}

ssize_t Nghttp2Peers::OnRead(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                             size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                             void*) {
  Source* s = static_cast<Source*>(source->ptr);
  const size_t n = std::min(length, s->data.size() - s->offset);
  std::memcpy(buf, s->data.data() + s->offset, n);
  s->offset += n;
  if (s->offset == s->data.size()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!s->end_stream) *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    if (!s->trailers.empty()) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva = ToNv(s->trailers);
      Check(nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size()), "trailer");
    }
  }
  return static_cast<ssize_t>(n);
}

nghttp2_data_provider Nghttp2Peers::Provider(Side& side, int32_t stream_id, const std::string& body,
                                             const Fields& trailers) {
  auto source = std::make_unique<Source>();
  source->data = body;
  source->trailers = trailers;
  nghttp2_data_provider provider;
  provider.source.ptr = source.get();
  provider.read_callback = &Nghttp2Peers::OnRead;
  side.sources[stream_id] = std::move(source);
  return provider;
}

int32_t Nghttp2Peers::Request(const Fields& headers, const std::string& body,
                              const Fields& trailers, bool end_stream) {
  std::vector<nghttp2_nv> nva = ToNv(headers);
  if (body.empty() && trailers.empty() && end_stream) {
    const int32_t id =
        nghttp2_submit_request(client_.session, nullptr, nva.data(), nva.size(), nullptr, nullptr);
    Check(id, "request");
    return id;
  }
  // The stream id is only known after submitting: give the provider a placeholder key first.
  auto source = std::make_unique<Source>();
  source->data = body;
  source->trailers = trailers;
  source->end_stream = end_stream;
  nghttp2_data_provider provider;
  provider.source.ptr = source.get();
  provider.read_callback = &Nghttp2Peers::OnRead;
  const int32_t id =
      nghttp2_submit_request(client_.session, nullptr, nva.data(), nva.size(), &provider, nullptr);
  Check(id, "request");
  client_.sources[id] = std::move(source);
  return id;
}

void Nghttp2Peers::Respond(int32_t stream_id, const Fields& headers, const std::string& body,
                           const Fields& trailers) {
  std::vector<nghttp2_nv> nva = ToNv(headers);
  if (body.empty() && trailers.empty()) {
    Check(nghttp2_submit_response(server_.session, stream_id, nva.data(), nva.size(), nullptr),
          "response");
    return;
  }
  nghttp2_data_provider provider = Provider(server_, stream_id, body, trailers);
  Check(nghttp2_submit_response(server_.session, stream_id, nva.data(), nva.size(), &provider),
        "response");
}

void Nghttp2Peers::Informational(int32_t stream_id, const Fields& headers) {
  std::vector<nghttp2_nv> nva = ToNv(headers);
  Check(nghttp2_submit_headers(server_.session, NGHTTP2_FLAG_NONE, stream_id, nullptr, nva.data(),
                               nva.size(), nullptr),
        "informational");
}

int32_t Nghttp2Peers::Push(int32_t stream_id, const Fields& request_headers) {
  std::vector<nghttp2_nv> nva = ToNv(request_headers);
  const int32_t id = nghttp2_submit_push_promise(server_.session, NGHTTP2_FLAG_NONE, stream_id,
                                                 nva.data(), nva.size(), nullptr);
  Check(id, "push");
  return id;
}

void Nghttp2Peers::ResetFromClient(int32_t stream_id, uint32_t code) {
  Check(nghttp2_submit_rst_stream(client_.session, NGHTTP2_FLAG_NONE, stream_id, code), "rst");
}

void Nghttp2Peers::ResetFromServer(int32_t stream_id, uint32_t code) {
  Check(nghttp2_submit_rst_stream(server_.session, NGHTTP2_FLAG_NONE, stream_id, code), "rst");
}

void Nghttp2Peers::GoawayFromServer(int32_t last_stream_id, uint32_t code) {
  Check(nghttp2_submit_goaway(server_.session, NGHTTP2_FLAG_NONE, last_stream_id, code, nullptr, 0),
        "goaway");
}

void Nghttp2Peers::UpgradeStream1() {
  uint8_t payload[64];
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
  const ssize_t n = nghttp2_pack_settings_payload(payload, sizeof(payload), settings, 1);
  Check(static_cast<int>(n), "pack settings");
  Check(nghttp2_session_upgrade2(client_.session, payload, n, /*head_request=*/0, nullptr),
        "client upgrade");
  Check(nghttp2_session_upgrade2(server_.session, payload, n, /*head_request=*/0, nullptr),
        "server upgrade");
}

void Nghttp2Peers::ClientEncoderTableSize(size_t size) {
  // The encoder's table size follows the server's SETTINGS_HEADER_TABLE_SIZE: announce it.
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, static_cast<uint32_t>(size)}};
  Check(nghttp2_submit_settings(server_.session, NGHTTP2_FLAG_NONE, settings, 1), "settings");
}

void Nghttp2Peers::Pump() {
  for (int round = 0; round < 1000; ++round) {
    const size_t before = chunks_.size();
    Check(nghttp2_session_send(client_.session), "client send");
    Check(nghttp2_session_send(server_.session), "server send");
    if (chunks_.size() == before) return;
    // Deliver what each side wrote to the other (each chunk once).
    for (size_t i = before; i < chunks_.size(); ++i) {
      const Chunk c = chunks_[i];
      nghttp2_session* to = c.direction == Direction::kEgress ? server_.session : client_.session;
      Check(static_cast<int>(nghttp2_session_mem_recv(
                to, reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size())),
            "recv");
    }
  }
  throw std::runtime_error("Pump: no quiescence after 1000 rounds");
}

std::string Nghttp2Peers::Stream(Direction d) const {
  std::string out;
  for (const Chunk& c : chunks_) {
    if (c.direction == d) out += c.bytes;
  }
  return out;
}

}  // namespace httptrace::protocols::http2::testing
