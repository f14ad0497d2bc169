// See switching_engine.h.

#include "agent/protocols/switching_engine.h"

#include <algorithm>
#include <utility>

#include "agent/protocols/http2/http2_connection.h"

namespace httptrace::protocols {

SwitchingEngine::SwitchingEngine(std::unique_ptr<ProtocolEngine> first,
                                 const EngineOptions& options, ExchangeCallback on_exchange)
    : options_(options), on_exchange_(std::move(on_exchange)), first_(std::move(first)) {}

void SwitchingEngine::OnData(Direction direction, uint64_t position, absl::string_view captured,
                             uint64_t length, uint64_t timestamp_ns, bool from_file,
                             bool not_copied) {
  length = std::max<uint64_t>(length, captured.size());
  if (!next_) {
    first_->OnData(direction, position, captured, length, timestamp_ns, from_file, not_copied);
    MaybeSwitch();
    return;
  }
  const uint64_t boundary = switch_position_[static_cast<size_t>(direction)];
  if (position < boundary) {
    // Late bytes of the old protocol (a duplicate or a reordered chunk): the first engine's.
    const uint64_t head = std::min(length, boundary - position);
    const absl::string_view head_bytes =
        captured.substr(0, std::min<uint64_t>(head, captured.size()));
    first_->OnData(direction, position, head_bytes, head, timestamp_ns, from_file && head == length,
                   not_copied && head == length);
    if (head == length) return;
    captured.remove_prefix(head_bytes.size());
    position = boundary;
    length -= head;
  }
  next_->OnData(direction, position, captured, length, timestamp_ns, from_file, not_copied);
}

void SwitchingEngine::MaybeSwitch() {
  std::optional<ProtocolSwitch> change = first_->TakeProtocolSwitch();
  if (!change) return;
  if (change->protocol != Protocol::kHttp2) return;  // no other target exists
  auto http2 = std::make_unique<http2::Http2Connection>(
      options_,
      change->request_direction == Direction::kEgress ? RoleHint::kClient : RoleHint::kServer,
      on_exchange_);
  for (Direction d : {Direction::kEgress, Direction::kIngress}) {
    http2->StartAt(d, change->start_position[static_cast<size_t>(d)]);
  }
  switch_position_ = change->start_position;
  http2->AdoptUpgradeRequest(std::move(change->request), change->request_direction,
                             change->request_start_ns, change->request_end_ns);
  next_ = std::move(http2);
  for (ProtocolSwitch::Chunk& chunk : change->handed_over) {
    OnData(chunk.direction, chunk.position, chunk.bytes, chunk.length, chunk.timestamp_ns,
           /*from_file=*/false);
  }
}

void SwitchingEngine::OnEndOfStream(Direction direction, uint64_t timestamp_ns) {
  first_->OnEndOfStream(direction, timestamp_ns);
  if (!next_) MaybeSwitch();
  if (next_) next_->OnEndOfStream(direction, timestamp_ns);
}

void SwitchingEngine::OnClose(uint64_t timestamp_ns) {
  first_->OnClose(timestamp_ns);
  if (!next_) MaybeSwitch();
  if (next_) next_->OnClose(timestamp_ns);
}

size_t SwitchingEngine::HeldBytes() const {
  return first_->HeldBytes() + (next_ ? next_->HeldBytes() : 0);
}

LossCounters SwitchingEngine::losses() const {
  LossCounters total = first_->losses();
  if (next_) {
    const LossCounters more = next_->losses();
    total.gap_bytes += more.gap_bytes;
    total.messages_dropped_gap += more.messages_dropped_gap;
    total.parse_errors += more.parse_errors;
    total.messages_dropped_parse_error += more.messages_dropped_parse_error;
    total.buffer_overflow_bytes += more.buffer_overflow_bytes;
  }
  return total;
}

void SwitchingEngine::ForEachCounter(
    absl::FunctionRef<void(const char* name, uint64_t value)> fn) const {
  first_->ForEachCounter(fn);
  if (next_) next_->ForEachCounter(fn);
}

}  // namespace httptrace::protocols
