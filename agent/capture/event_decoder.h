// Turns the probes' ring-buffer records (bpf/events.h) into capture events for a CaptureSink.
// Kernel-free, so it is unit-tested with hand-made records; the poll thread owns one instance.
// Hot path: no allocation, no locks, no logging per record.

#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/types/span.h"
#include "agent/capture/capture_events.h"

namespace httptrace::capture {

// Names of the kernel's per-CPU counters (enum ht_counter), in index order, without prefix:
// "ringbuf_full", "skip_not_socket", ...
absl::Span<const char* const> KernelCounterNames();

// CLOCK_REALTIME minus CLOCK_BOOTTIME, now: add it to bpf_ktime_get_boot_ns() stamps.
int64_t BootToRealtimeOffsetNs();

class EventDecoder {
 public:
  // `sink` must outlive the decoder.
  EventDecoder(CaptureSink* sink, int64_t boot_to_realtime_ns)
      : sink_(sink), boot_to_realtime_ns_(boot_to_realtime_ns) {}

  // Decodes one record and calls the sink. Returns false (and counts it) for a malformed one.
  bool Decode(const void* data, size_t size);

  // Re-reads the clock offset (the poll thread calls it about once a second, so a stepped
  // realtime clock is followed).
  void set_boot_to_realtime_ns(int64_t offset) { boot_to_realtime_ns_ = offset; }

  // Poller counters by name ("data_events", "malformed", ...), safe from any thread.
  void AddCounters(absl::flat_hash_map<std::string, uint64_t>& out) const;

 private:
  void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  CaptureSink* sink_;
  int64_t boot_to_realtime_ns_;
  // Written only by the poll thread; read by Counters() from others.
  std::atomic<uint64_t> data_events_{0};
  std::atomic<uint64_t> data_bytes_{0};
  std::atomic<uint64_t> open_events_{0};
  std::atomic<uint64_t> not_traced_events_{0};
  std::atomic<uint64_t> close_events_{0};
  std::atomic<uint64_t> shutdown_events_{0};
  std::atomic<uint64_t> loss_events_{0};
  std::atomic<uint64_t> lost_bytes_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace httptrace::capture
