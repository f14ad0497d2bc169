#include "cli/event_merger.h"

#include <algorithm>

namespace httptrace::cli {

EventMerger::EventMerger(size_t sources, absl::Duration window, size_t max_held)
    : window_(window),
      max_held_(std::max<size_t>(max_held, 1)),
      last_key_(sources, absl::InfinitePast()) {}

void EventMerger::Push(size_t source, v1::Event event, absl::Time now) {
  absl::Time key = now;
  if (event.has_exchange() && event.exchange().has_start_time()) {
    const auto& ts = event.exchange().start_time();
    key = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  }
  // An agent emits exchanges as they complete, so start times within one stream may go
  // backwards; keeping each source's own order keeps its loss markers and its session end in
  // place. Across sources, the keys interleave by time.
  key = std::max(key, last_key_[source]);
  last_key_[source] = key;
  const uint64_t order = next_order_++;
  heap_.push(Entry{key, order, source, now, std::move(event)});
  arrivals_.emplace_back(order, now);
}

size_t EventMerger::AddSource() {
  last_key_.push_back(absl::InfinitePast());
  return last_key_.size() - 1;
}

void EventMerger::PopTop(std::vector<Item>* out) {
  // priority_queue::top is const; the event is moved out through a const_cast, which is safe
  // because the entry is popped right after and the heap order does not depend on the event.
  Entry& top = const_cast<Entry&>(heap_.top());
  out->push_back(Item{top.source, std::move(top.event)});
  released_.insert(top.order);
  heap_.pop();
  while (!arrivals_.empty() && released_.erase(arrivals_.front().first) > 0) {
    arrivals_.pop_front();
  }
}

void EventMerger::PopReady(absl::Time now, std::vector<Item>* out) {
  // Every event whose wait is over goes out, and with it everything that sorts before it.
  while (!arrivals_.empty() && arrivals_.front().second + window_ <= now) {
    PopTop(out);
  }
  while (heap_.size() > max_held_) PopTop(out);
}

void EventMerger::PopAll(std::vector<Item>* out) {
  while (!heap_.empty()) PopTop(out);
}

absl::Time EventMerger::NextDeadline() const {
  return arrivals_.empty() ? absl::InfiniteFuture() : arrivals_.front().second + window_;
}

}  // namespace httptrace::cli
