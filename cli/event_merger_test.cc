#include "cli/event_merger.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

v1::Event Exchange(uint64_t seq, absl::Duration start_offset, const std::string& target) {
  v1::Event e;
  e.set_seq(seq);
  const absl::Time start = kT0 + start_offset;
  e.mutable_exchange()->mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  e.mutable_exchange()->mutable_request()->set_target(target);
  return e;
}

v1::Event End(uint64_t seq) {
  v1::Event e;
  e.set_seq(seq);
  e.mutable_end()->set_reason(v1::END_REASON_STOPPED);
  return e;
}

std::vector<std::string> Names(const std::vector<EventMerger::Item>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    out.push_back(item.event->has_end() ? "end" + std::to_string(item.source)
                                        : item.event->exchange().request().target());
  }
  return out;
}

TEST(EventMergerTest, SlowerAgentsOlderExchangeComesFirstWithinTheWindow) {
  EventMerger merger(2, absl::Seconds(1), 100);
  std::vector<EventMerger::Item> out;
  merger.Push(0, Exchange(1, absl::Seconds(5), "/fast"), kT0 + absl::Seconds(6));
  merger.PopReady(kT0 + absl::Seconds(6.5), &out);
  EXPECT_TRUE(out.empty()) << "held for the window";
  merger.Push(1, Exchange(1, absl::Seconds(4), "/slow"), kT0 + absl::Seconds(6.8));
  merger.PopReady(kT0 + absl::Seconds(7), &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/slow", "/fast"}));
  EXPECT_EQ(out[0].source, 1u);
  EXPECT_EQ(merger.held(), 0u);
}

TEST(EventMergerTest, EventsAreReleasedOnceTheyHaveWaitedTheWindow) {
  EventMerger merger(2, absl::Seconds(1), 100);
  std::vector<EventMerger::Item> out;
  merger.Push(0, Exchange(1, absl::Seconds(1), "/a"), kT0 + absl::Seconds(2));
  merger.Push(1, Exchange(1, absl::Seconds(3), "/b"), kT0 + absl::Seconds(2.5));
  EXPECT_EQ(merger.NextDeadline(), kT0 + absl::Seconds(3));
  merger.PopReady(kT0 + absl::Seconds(3), &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/a"}));
  merger.PopReady(kT0 + absl::Seconds(3.5), &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(merger.NextDeadline(), absl::InfiniteFuture());
}

TEST(EventMergerTest, AnExpiredEventTakesOutEverythingThatSortsBeforeIt) {
  EventMerger merger(2, absl::Seconds(1), 100);
  std::vector<EventMerger::Item> out;
  // /late arrived first but started last; /early arrived later but started first.
  merger.Push(0, Exchange(1, absl::Seconds(9), "/late"), kT0 + absl::Seconds(10));
  merger.Push(1, Exchange(1, absl::Seconds(2), "/early"), kT0 + absl::Seconds(10.9));
  merger.PopReady(kT0 + absl::Seconds(11), &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/early", "/late"}));
}

TEST(EventMergerTest, EachSourceKeepsItsOwnOrderAndItsEndComesLast) {
  EventMerger merger(2, absl::Seconds(1), 100);
  std::vector<EventMerger::Item> out;
  // One agent completes a long exchange after a short one that started later.
  merger.Push(0, Exchange(1, absl::Seconds(5), "/short"), kT0 + absl::Seconds(6));
  merger.Push(0, Exchange(2, absl::Seconds(1), "/long"), kT0 + absl::Seconds(6));
  merger.Push(0, End(3), kT0 + absl::Seconds(6));
  merger.Push(1, Exchange(1, absl::Seconds(3), "/other"), kT0 + absl::Seconds(6));
  merger.PopAll(&out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/other", "/short", "/long", "end0"}));
}

TEST(EventMergerTest, AFullWindowReleasesTheOldestEarly) {
  EventMerger merger(1, absl::Hours(1), 2);
  std::vector<EventMerger::Item> out;
  merger.Push(0, Exchange(1, absl::Seconds(1), "/1"), kT0);
  merger.Push(0, Exchange(2, absl::Seconds(2), "/2"), kT0);
  merger.Push(0, Exchange(3, absl::Seconds(3), "/3"), kT0);
  merger.PopReady(kT0, &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/1"}));
  EXPECT_EQ(merger.held(), 2u);
}

TEST(EventMergerTest, OneSourceWithoutWindowPassesEventsAtOnceInOrder) {
  EventMerger merger(0, absl::ZeroDuration(), 100);
  EXPECT_EQ(merger.AddSource(), 0u);
  merger.Push(0, Exchange(1, absl::Seconds(5), "/late-start"), kT0);
  merger.Push(0, Exchange(2, absl::Seconds(1), "/early-start"), kT0);
  merger.Push(0, End(3), kT0);
  std::vector<EventMerger::Item> out;
  merger.PopReady(kT0, &out);
  // A source's own order is kept, even when start times go backwards.
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/late-start", "/early-start", "end0"}));
  EXPECT_EQ(merger.held(), 0u);
}

TEST(EventMergerTest, ASourceThatJoinsMergesWithWhatTheFirstStillHolds) {
  EventMerger merger(1, absl::Seconds(1), 100);
  merger.Push(0, Exchange(1, absl::Seconds(3), "/a3"), kT0);
  EXPECT_EQ(merger.AddSource(), 1u);
  merger.Push(1, Exchange(1, absl::Seconds(2), "/b2"), kT0);
  std::vector<EventMerger::Item> out;
  merger.PopReady(kT0 + absl::Milliseconds(500), &out);
  EXPECT_TRUE(out.empty());
  merger.PopReady(kT0 + absl::Seconds(1), &out);
  EXPECT_EQ(Names(out), (std::vector<std::string>{"/b2", "/a3"}));
}

}  // namespace
}  // namespace httptrace::cli
