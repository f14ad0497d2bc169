// In-order delivery of a positioned byte stream; see stream_assembler.h.

#include "agent/protocols/common/stream_assembler.h"

#include <algorithm>

namespace httptrace::protocols {

void StreamAssembler::Add(uint64_t position, absl::string_view captured, uint64_t length,
                          uint64_t timestamp_ns, Sink& sink) {
  if (length < captured.size()) length = captured.size();
  if (!started_) {
    // With no known origin the first chunk defines it (content resynchronises the engine).
    // With origin 0 an early first chunk waits for the bytes before it like any other.
    started_ = true;
    if (!origin_zero_) next_ = delivered_end_ = position;
  }
  if (position + length <= next_) {
    if (length > 0) ++stats_.stale_chunks;
    return;
  }
  if (position > next_) {
    ++stats_.held_chunks;
    Held held{position, length, timestamp_ns, std::string(captured)};
    auto it = std::upper_bound(held_.begin(), held_.end(), position,
                               [](uint64_t pos, const Held& h) { return pos < h.position; });
    held_bytes_ += held.data.size();
    held_.insert(it, std::move(held));
    while (!held_.empty() && (held_.size() > max_held_chunks_ || held_bytes_ > max_held_bytes_)) {
      ++stats_.window_overflows;
      SkipToEarliestHeld(sink);
    }
    return;
  }
  Deliver(position, captured, length, timestamp_ns, sink);
  DrainHeld(sink);
}

void StreamAssembler::Flush(Sink& sink) {
  while (!held_.empty()) SkipToEarliestHeld(sink);
}

std::vector<StreamAssembler::HeldChunk> StreamAssembler::TakeHeld() {
  std::vector<HeldChunk> held = std::move(held_);
  held_.clear();
  held_bytes_ = 0;
  return held;
}

void StreamAssembler::Deliver(uint64_t position, absl::string_view captured, uint64_t length,
                              uint64_t timestamp_ns, Sink& sink) {
  uint64_t end = position + length;
  if (end <= next_) return;
  if (position < next_) {
    uint64_t skip = next_ - position;
    stats_.overlap_bytes += std::min<uint64_t>(skip, captured.size());
    captured.remove_prefix(std::min<uint64_t>(skip, captured.size()));
    position = next_;
  }
  // A position beyond next_ only reaches here from SkipToEarliestHeld, which reports the hole.
  uint64_t captured_end = position + captured.size();
  next_ = end;
  if (!captured.empty()) {
    delivered_end_ = captured_end;
    sink.OnBytes(captured, timestamp_ns);
  }
  if (end > captured_end) {
    delivered_end_ = end;
    sink.OnGap(end - captured_end, timestamp_ns);
  }
}

void StreamAssembler::DrainHeld(Sink& sink) {
  while (!held_.empty() && held_.front().position <= next_) {
    Held held = std::move(held_.front());
    held_.erase(held_.begin());
    held_bytes_ -= held.data.size();
    Deliver(held.position, held.data, held.length, held.timestamp_ns, sink);
  }
}

void StreamAssembler::SkipToEarliestHeld(Sink& sink) {
  Held held = std::move(held_.front());
  held_.erase(held_.begin());
  held_bytes_ -= held.data.size();
  if (held.position > next_) {
    uint64_t hole = held.position - next_;
    next_ = delivered_end_ = held.position;
    sink.OnGap(hole, held.timestamp_ns);
  }
  Deliver(held.position, held.data, held.length, held.timestamp_ns, sink);
  DrainHeld(sink);
}

}  // namespace httptrace::protocols
