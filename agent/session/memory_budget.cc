#include "agent/session/memory_budget.h"

namespace httptrace::session {

bool MemoryBudget::TryCharge(uint64_t bytes) {
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (limit_ != 0 && used + bytes > limit_) {
      refused_bytes_.fetch_add(bytes, std::memory_order_relaxed);
      refused_charges_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  RaisePeak(used + bytes);
  return true;
}

void MemoryBudget::ForceCharge(uint64_t bytes) {
  RaisePeak(used_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void MemoryBudget::RaisePeak(uint64_t used) {
  uint64_t peak = peak_.load(std::memory_order_relaxed);
  while (used > peak && !peak_.compare_exchange_weak(peak, used, std::memory_order_relaxed)) {
  }
}

}  // namespace httptrace::session
