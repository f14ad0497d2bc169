// Merges the event streams of several agents into one stream ordered by time, with a bounded
// reordering window: an event is held until it is `window` old (or the window is full), so a
// slower agent's older exchanges still come out before a faster agent's newer ones.
//
// Each source keeps its own order (its events come out in the order they were pushed); across
// sources, events come out by exchange start time. Not thread-safe: the caller locks.

#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <queue>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::cli {

// An event as the ctl holds it. Events parsed from one stream message share that message's
// arena (the pointer keeps the arena alive), so a batch of events costs a few allocations and
// one release instead of one per message object and string: malloc and free were 40% of the
// ctl's CPU with an allocation per field.
using EventPtr = std::shared_ptr<const v1::Event>;

class EventMerger {
 public:
  struct Item {
    size_t source = 0;
    EventPtr event;
  };

  // `window`: how long an event may wait for older events of other sources. `max_held`: events
  // held at most; beyond it the oldest by time are released early.
  EventMerger(size_t sources, absl::Duration window, size_t max_held);

  // An event from `source` received at `now`. Exchanges sort by start time; other events (loss
  // markers, session ends) carry no time and sort by `now`, never before their source's
  // earlier events.
  void Push(size_t source, EventPtr event, absl::Time now);
  void Push(size_t source, v1::Event event, absl::Time now) {
    Push(source, std::make_shared<const v1::Event>(std::move(event)), now);
  }
  // A source that joined (an agent found by a later DNS resolution); returns its number.
  size_t AddSource();

  // Appends to `out`, in merge order, every event that may go out at `now`.
  void PopReady(absl::Time now, std::vector<Item>* out);
  // Appends every held event, in merge order (all sources finished, or shutting down).
  void PopAll(std::vector<Item>* out);

  // When the next event becomes ready; InfiniteFuture when nothing is held.
  absl::Time NextDeadline() const;
  size_t held() const { return heap_.size() + fifo_.size(); }

 private:
  struct Entry {
    absl::Time key;
    uint64_t order;  // push order: ties and per-source order
    size_t source;
    absl::Time arrival;
    EventPtr event;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.key != b.key ? a.key > b.key : a.order > b.order;
    }
  };
  void PopTop(std::vector<Item>* out);
  void PushToHeap(Entry entry);
  bool single_source() const { return last_key_.size() <= 1; }

  const absl::Duration window_;
  const size_t max_held_;
  std::vector<absl::Time> last_key_;  // per source: keys never go backwards within a source
  uint64_t next_order_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  // Push order of held events with their arrival time; the front is the oldest arrival.
  std::deque<std::pair<uint64_t, absl::Time>> arrivals_;
  absl::flat_hash_set<uint64_t> released_;  // popped by time before reaching the deque's front
  // One source (one agent): its own order is the merge order, so its events wait in a FIFO,
  // not the heap; the N=1 case costs one move per event. Moved to the heap when a second
  // source joins.
  std::deque<Entry> fifo_;
};

}  // namespace httptrace::cli
