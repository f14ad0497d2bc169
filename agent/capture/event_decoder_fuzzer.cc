// libFuzzer target for the kernel event decoder: the input is a sequence of ring-buffer records
// as the probes would write them (or as a kernel bug, a mismatched probe object or a corrupted
// buffer might), each decoded and, when it is data, handed to one HTTP engine per connection the
// way the pipeline does. Checks that every malformed record is refused and counted, that
// accepted data lies inside its record, and that the engines survive the positions, lengths and
// directions the records claim.
//
// Run: bazel test //agent/capture:event_decoder_fuzz_test (30 s), or by hand (see BUILD.bazel).
// Input format: repeated [u16 little-endian record size][record bytes]; a size beyond the rest of
// the input takes the rest. Byte 0 of a record is its kind (enum ht_event_kind).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "agent/capture/capture_events.h"
#include "agent/capture/event_decoder.h"
#include "agent/protocols/http1/http1_connection.h"
#include "bpf/events.h"
#include "common/testing/fuzz_check.h"

namespace {

namespace capture = httptrace::capture;
namespace protocols = httptrace::protocols;

// At most this many engines at once, as the pipeline bounds its connection table.
constexpr size_t kMaxConnections = 8;

class EngineSink final : public capture::CaptureSink {
 public:
  EngineSink(const uint8_t* record, size_t size) { SetRecord(record, size); }
  void SetRecord(const uint8_t* record, size_t size) { record_ = record, size_ = size; }

  void OnOpen(const capture::ConnectionOpenEvent& e) override {
    FUZZ_CHECK(e.comm.size() <= HT_COMM_LEN);  // bounded even without its NUL
    Engine(e.conn.id);
  }
  void OnData(const capture::DataEvent& e) override {
    FUZZ_CHECK(e.data.size() <= e.length);
    FUZZ_CHECK(e.comm.size() <= HT_COMM_LEN);  // bounded even without its NUL
    // The payload is a view into the record: never past its end.
    const auto* p = reinterpret_cast<const uint8_t*>(e.data.data());
    FUZZ_CHECK(e.data.empty() || (p >= record_ && p + e.data.size() <= record_ + size_));
    protocols::http1::Http1Connection* conn = Engine(e.conn.id);
    if (conn == nullptr) return;
    conn->OnData(e.direction == capture::Direction::kEgress ? protocols::Direction::kEgress
                                                            : protocols::Direction::kIngress,
                 e.position, e.data, e.length, e.timestamp_ns);
  }
  void OnShutdown(const capture::ConnectionShutdownEvent& e) override { Engine(e.conn.id); }
  void OnClose(const capture::ConnectionCloseEvent& e) override {
    auto it = engines_.find(e.conn.id);
    if (it == engines_.end()) return;
    it->second->OnClose(e.timestamp_ns);
    FUZZ_CHECK(it->second->stopped());
    engines_.erase(it);
  }
  void OnKernelLoss(const capture::KernelLossEvent&) override {}

  void CloseAll() {
    for (auto& [id, conn] : engines_) conn->OnClose(~0ull);
    engines_.clear();
  }

 private:
  protocols::http1::Http1Connection* Engine(uint64_t id) {
    auto it = engines_.find(id);
    if (it != engines_.end()) return it->second.get();
    if (engines_.size() >= kMaxConnections) return nullptr;
    protocols::EngineOptions options;
    options.max_body_bytes = 256;
    auto conn = std::make_unique<protocols::http1::Http1Connection>(
        options, protocols::RoleHint::kUnknown, [](protocols::Exchange&& exchange) {
          FUZZ_CHECK(exchange.has_request || exchange.has_response || !exchange.notes.empty());
        });
    return engines_.emplace(id, std::move(conn)).first->second.get();
  }

  const uint8_t* record_ = nullptr;
  size_t size_ = 0;
  std::map<uint64_t, std::unique_ptr<protocols::http1::Http1Connection>> engines_;
};

uint64_t Counter(const capture::EventDecoder& decoder, const char* name) {
  absl::flat_hash_map<std::string, uint64_t> counters;
  decoder.AddCounters(counters);
  return counters[name];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  EngineSink sink(nullptr, 0);
  capture::EventDecoder decoder(&sink, 1000);
  // Ring-buffer records are 8-byte aligned; the decoder relies on it, so copy each one to an
  // aligned buffer of exactly its size (ASan then sees any read past it).
  size_t i = 0, refused = 0;
  while (i + 2 <= size) {
    size_t n = data[i] | (static_cast<size_t>(data[i + 1]) << 8);
    i += 2;
    n = std::min(n, size - i);
    std::unique_ptr<uint64_t[]> words(new uint64_t[(n + 7) / 8 + 1]);
    auto* record = reinterpret_cast<uint8_t*>(words.get());
    if (n > 0) std::memcpy(record, data + i, n);
    i += n;
    sink.SetRecord(record, n);
    if (!decoder.Decode(record, n)) ++refused;
  }
  sink.CloseAll();
  FUZZ_CHECK(Counter(decoder, "poller.malformed") == refused);
  return 0;
}
