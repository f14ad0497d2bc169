#include "agent/session/memory_budget.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

TEST(MemoryBudgetTest, RefusesWhatDoesNotFitAndCountsIt) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryCharge(60));
  EXPECT_FALSE(budget.TryCharge(41));
  EXPECT_TRUE(budget.TryCharge(40));
  EXPECT_EQ(budget.used(), 100u);
  EXPECT_EQ(budget.refused_bytes(), 41u);
  EXPECT_EQ(budget.refused_charges(), 1u);
  budget.Release(60);
  EXPECT_TRUE(budget.TryCharge(41));
  EXPECT_EQ(budget.used(), 81u);
  EXPECT_EQ(budget.peak(), 100u);
}

TEST(MemoryBudgetTest, ForcedChargesMayExceedTheLimit) {
  MemoryBudget budget(10);
  budget.ForceCharge(25);
  EXPECT_EQ(budget.used(), 25u);
  EXPECT_FALSE(budget.TryCharge(1));
}

TEST(MemoryBudgetTest, ZeroMeansUnlimited) {
  MemoryBudget budget(0);
  EXPECT_TRUE(budget.TryCharge(uint64_t{1} << 40));
}

TEST(MemoryBudgetTest, ConcurrentChargesNeverOvershoot) {
  MemoryBudget budget(1000);
  std::vector<std::thread> threads;
  std::atomic<int> granted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) granted += budget.TryCharge(3);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 333);
  EXPECT_EQ(budget.used(), 999u);
}

}  // namespace
}  // namespace httptrace::session
