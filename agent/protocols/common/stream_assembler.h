// Puts one direction of a connection back in order from positioned chunks: appends in-order
// bytes, holds a bounded number of early chunks, and reports every range it never saw as a gap
// (bytes the kernel did not copy, lost events, or a reorder window that ran out).

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace::protocols {

class StreamAssembler {
 public:
  // Receives the stream in order.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void OnBytes(absl::string_view data, uint64_t timestamp_ns) = 0;
    virtual void OnGap(uint64_t bytes, uint64_t timestamp_ns) = 0;
  };

  struct Stats {
    uint64_t stale_chunks = 0;      // Entirely before the stream's current position (duplicates).
    uint64_t overlap_bytes = 0;     // Bytes dropped because they were already delivered.
    uint64_t held_chunks = 0;       // Chunks that arrived early and waited for their turn.
    uint64_t window_overflows = 0;  // The reorder window filled: a hole was declared a gap.
  };

  // origin_zero: positions count from 0 at the start of tracking, so bytes before the first
  // chunk that arrives are still expected. Otherwise the first chunk's position is the origin.
  StreamAssembler(size_t max_held_chunks, size_t max_held_bytes, bool origin_zero = true)
      : max_held_chunks_(max_held_chunks),
        max_held_bytes_(max_held_bytes),
        origin_zero_(origin_zero) {}

  // `position`: stream offset of captured[0]; `length`: bytes the syscall moved (>= captured).
  void Add(uint64_t position, absl::string_view captured, uint64_t length, uint64_t timestamp_ns,
           Sink& sink);
  // Delivers every held chunk, with gaps for the holes before them (end of stream).
  void Flush(Sink& sink);

  // For a stream taken over from another engine (a protocol switch): the bytes before
  // `position` were someone else's. Call before the first Add.
  void StartAt(uint64_t position) {
    started_ = true;
    next_ = position;
    delivered_end_ = position;
  }
  // A chunk that arrived early and was never delivered.
  struct HeldChunk {
    uint64_t position;
    uint64_t length;
    uint64_t timestamp_ns;
    std::string data;
  };
  // Gives up the early chunks without delivering them (a protocol switch hands them on).
  std::vector<HeldChunk> TakeHeld();
  // Stream position just past the last byte or gap handed to the sink (also inside a Sink
  // callback: the end of the bytes or gap being delivered).
  uint64_t delivered_end() const { return delivered_end_; }

  size_t held_bytes() const { return held_bytes_; }
  bool started() const { return started_; }
  uint64_t next_position() const { return next_; }
  const Stats& stats() const { return stats_; }

 private:
  using Held = HeldChunk;

  // Delivers a chunk that starts at or before next_ (trimming what was already delivered).
  void Deliver(uint64_t position, absl::string_view captured, uint64_t length,
               uint64_t timestamp_ns, Sink& sink);
  void DrainHeld(Sink& sink);
  // Declares the hole before the earliest held chunk a gap and delivers from there.
  void SkipToEarliestHeld(Sink& sink);

  const size_t max_held_chunks_;
  const size_t max_held_bytes_;
  const bool origin_zero_;
  bool started_ = false;
  uint64_t next_ = 0;
  uint64_t delivered_end_ = 0;
  std::vector<Held> held_;  // Sorted by position; small.
  size_t held_bytes_ = 0;
  Stats stats_;
};

}  // namespace httptrace::protocols
