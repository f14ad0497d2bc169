// The agent's one memory budget for what it holds for its readers: every event a session queue
// retains is charged here (its serialized size: what it costs to hold and to send), and
// released when the queue lets it go. When the budget is spent, new exchanges are refused and
// counted (as LIMIT losses in the sessions that wanted them), so a burst of large bodies or a
// reader that stopped reading cannot grow the agent without bound. Lock-free; any thread.
//
//   MemoryBudget budget(64 << 20);
//   if (!budget.TryCharge(n)) { ...count the loss... }  ...  budget.Release(n);

#pragma once

#include <atomic>
#include <cstdint>

namespace httptrace::session {

class MemoryBudget {
 public:
  // 0: unlimited (still counted).
  explicit MemoryBudget(uint64_t limit_bytes) : limit_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Charges `bytes` if they fit; false (counted as refused) if they do not.
  bool TryCharge(uint64_t bytes);
  // Charges `bytes` even past the limit: for what must be kept (loss markers, session ends).
  void ForceCharge(uint64_t bytes);
  void Release(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  uint64_t refused_bytes() const { return refused_bytes_.load(std::memory_order_relaxed); }
  uint64_t refused_charges() const { return refused_charges_.load(std::memory_order_relaxed); }

 private:
  void RaisePeak(uint64_t used);

  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> refused_bytes_{0};
  std::atomic<uint64_t> refused_charges_{0};
};

}  // namespace httptrace::session
