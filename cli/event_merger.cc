#include "cli/event_merger.h"

#include <algorithm>

namespace httptrace::cli {

EventMerger::EventMerger(size_t sources, absl::Duration window, size_t max_held)
    : window_(window),
      max_held_(std::max<size_t>(max_held, 1)),
      last_key_(sources, absl::InfinitePast()) {}

void EventMerger::Push(size_t source, EventPtr event, absl::Time now) {
  absl::Time key = now;
  if (event->has_exchange() && event->exchange().has_start_time()) {
    const auto& ts = event->exchange().start_time();
    key = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  }
  // An agent emits exchanges as they complete, so start times within one stream may go
  // backwards; keeping each source's own order keeps its loss markers and its session end in
  // place. Across sources, the keys interleave by time.
  key = std::max(key, last_key_[source]);
  last_key_[source] = key;
  Entry entry{key, next_order_++, source, now, std::move(event)};
  if (single_source()) {
    fifo_.push_back(std::move(entry));
  } else {
    PushToHeap(std::move(entry));
  }
}

void EventMerger::PushToHeap(Entry entry) {
  arrivals_.emplace_back(entry.order, entry.arrival);
  heap_.push(std::move(entry));
}

size_t EventMerger::AddSource() {
  last_key_.push_back(absl::InfinitePast());
  if (!single_source()) {
    for (Entry& entry : fifo_) PushToHeap(std::move(entry));
    fifo_.clear();
  }
  return last_key_.size() - 1;
}

void EventMerger::PopTop(std::vector<Item>* out) {
  // priority_queue::top is const; the event pointer is moved out through a const_cast, which is
  // safe because the entry is popped right after and the heap order does not depend on it.
  Entry& top = const_cast<Entry&>(heap_.top());
  out->push_back(Item{top.source, std::move(top.event)});
  released_.insert(top.order);
  heap_.pop();
  while (!arrivals_.empty() && released_.erase(arrivals_.front().first) > 0) {
    arrivals_.pop_front();
  }
}

void EventMerger::PopReady(absl::Time now, std::vector<Item>* out) {
  while (!fifo_.empty() && (fifo_.front().arrival + window_ <= now || fifo_.size() > max_held_)) {
    out->push_back(Item{fifo_.front().source, std::move(fifo_.front().event)});
    fifo_.pop_front();
  }
  // Every event whose wait is over goes out, and with it everything that sorts before it.
  while (!arrivals_.empty() && arrivals_.front().second + window_ <= now) {
    PopTop(out);
  }
  while (heap_.size() > max_held_) PopTop(out);
}

void EventMerger::PopAll(std::vector<Item>* out) {
  for (Entry& entry : fifo_) out->push_back(Item{entry.source, std::move(entry.event)});
  fifo_.clear();
  while (!heap_.empty()) PopTop(out);
}

absl::Time EventMerger::NextDeadline() const {
  if (!fifo_.empty()) return fifo_.front().arrival + window_;
  return arrivals_.empty() ? absl::InfiniteFuture() : arrivals_.front().second + window_;
}

}  // namespace httptrace::cli
