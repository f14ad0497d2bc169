#include "agent/pipeline/event_queue.h"

#include <algorithm>
#include <utility>

#include "agent/protocols/engine_factory.h"

namespace httptrace::pipeline {
namespace {

// What an item costs beyond its bytes (the batch's vector slot), charged with them.
constexpr uint64_t kItemOverhead = 128;
// Processed batches kept for reuse.
constexpr size_t kSpareBatches = 4;

void RaiseTo(std::atomic<uint64_t>& peak, uint64_t value) {
  uint64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

EventQueue::EventQueue(const EventQueueOptions& options, capture::CaptureSink* consumer,
                       session::MemoryBudget* budget)
    : options_(options),
      consumer_(consumer),
      budget_(budget),
      open_(std::make_unique<Batch>()),
      worker_([this] { WorkerLoop(); }) {}

EventQueue::~EventQueue() {
  Submit();
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  worker_.join();
}

uint32_t EventQueue::AppendBytes(std::string_view bytes) {
  const uint32_t offset = static_cast<uint32_t>(open_->bytes.size());
  open_->bytes.append(bytes.data(), bytes.size());
  return offset;
}

void EventQueue::Push(Item item) {
  open_->items.push_back(std::move(item));
  events_.fetch_add(1, std::memory_order_relaxed);
  if (open_->items.size() >= options_.batch_events || open_->bytes.size() >= options_.batch_bytes) {
    Submit();
  }
}

void EventQueue::OnOpen(const capture::ConnectionOpenEvent& event) {
  Item item{.event = event};
  item.comm_offset = AppendBytes(event.comm);
  item.comm_size = static_cast<uint32_t>(event.comm.size());
  open_->charged += kItemOverhead;
  if (budget_ != nullptr) budget_->ForceCharge(kItemOverhead);
  Push(std::move(item));
}

void EventQueue::OnData(const capture::DataEvent& event) {
  const uint64_t cost = event.data.size() + event.comm.size() + kItemOverhead;
  const uint64_t queued = queued_bytes_.load(std::memory_order_relaxed) + open_->charged;
  if (queued + cost > options_.max_bytes || (budget_ != nullptr && !budget_->TryCharge(cost))) {
    Drop(event);
    return;
  }
  open_->charged += cost;
  Item item{.event = event};
  item.data_offset = AppendBytes(std::string_view(event.data.data(), event.data.size()));
  item.comm_offset = AppendBytes(event.comm);
  item.comm_size = static_cast<uint32_t>(event.comm.size());
  bytes_.fetch_add(event.data.size(), std::memory_order_relaxed);
  Push(std::move(item));
}

void EventQueue::Drop(const capture::DataEvent& event) {
  dropped_events_.fetch_add(1, std::memory_order_relaxed);
  dropped_bytes_.fetch_add(event.length, std::memory_order_relaxed);
  const uint32_t starts = protocols::BeginsMessage(event.protocol, event.data) ? 1 : 0;
  // Consecutive drops of one stream make one loss event.
  if (!open_->items.empty()) {
    if (auto* last = std::get_if<capture::KernelLossEvent>(&open_->items.back().event);
        last != nullptr && last->cause == capture::LossCause::kAgentQueueFull &&
        last->conn == event.conn && last->direction == event.direction) {
      last->bytes += event.length;
      last->message_starts += starts;
      return;
    }
  }
  capture::KernelLossEvent loss;
  loss.conn = event.conn;
  loss.direction = event.direction;
  loss.cause = capture::LossCause::kAgentQueueFull;
  loss.bytes = event.length;
  loss.message_starts = starts;
  loss.timestamp_ns = event.timestamp_ns;
  OnKernelLoss(loss);
}

void EventQueue::OnShutdown(const capture::ConnectionShutdownEvent& event) {
  open_->charged += kItemOverhead;
  if (budget_ != nullptr) budget_->ForceCharge(kItemOverhead);
  Push(Item{.event = event});
}

void EventQueue::OnClose(const capture::ConnectionCloseEvent& event) {
  open_->charged += kItemOverhead;
  if (budget_ != nullptr) budget_->ForceCharge(kItemOverhead);
  Push(Item{.event = event});
}

void EventQueue::OnKernelLoss(const capture::KernelLossEvent& event) {
  open_->charged += kItemOverhead;
  if (budget_ != nullptr) budget_->ForceCharge(kItemOverhead);
  Push(Item{.event = event});
}

void EventQueue::Submit() {
  if (open_->items.empty()) return;
  // What the batch really occupies (string and vector capacity), not only its payload: a
  // thousand small batches each with room for a megabyte would be a gigabyte nobody counted.
  const uint64_t footprint =
      open_->bytes.capacity() + open_->items.capacity() * sizeof(Item) + sizeof(Batch);
  if (footprint > open_->charged) {
    if (budget_ != nullptr) budget_->ForceCharge(footprint - open_->charged);
    open_->charged = footprint;
  }
  const uint64_t queued =
      queued_bytes_.fetch_add(open_->charged, std::memory_order_relaxed) + open_->charged;
  RaiseTo(peak_bytes_, queued);
  batches_.fetch_add(1, std::memory_order_relaxed);
  std::unique_ptr<Batch> next = NextBatch();
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::exchange(open_, std::move(next)));
}

std::unique_ptr<EventQueue::Batch> EventQueue::NextBatch() {
  {
    absl::MutexLock lock(&mu_);
    if (!spare_.empty()) {
      std::unique_ptr<Batch> batch = std::move(spare_.back());
      spare_.pop_back();
      batch->charged = 0;  // Submit charges its footprint
      return batch;
    }
  }
  return std::make_unique<Batch>();
}

void EventQueue::Recycle(std::unique_ptr<Batch> batch) {
  batch->items.clear();
  batch->bytes.clear();
  const uint64_t room = batch->bytes.capacity() + batch->items.capacity() * sizeof(Item);
  // Only batches of the usual size: a rare huge one is given back.
  if (room > 2 * (options_.batch_bytes + options_.batch_events * sizeof(Item))) return;
  absl::MutexLock lock(&mu_);
  if (spare_.size() >= kSpareBatches) return;
  spare_.push_back(std::move(batch));
}

void EventQueue::RunOnWorker(absl::FunctionRef<void()> fn) {
  Task task{fn};
  auto batch = std::make_unique<Batch>();
  batch->items.push_back(Item{.event = &task});
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::move(batch));
  mu_.Await(absl::Condition(&task.done));
}

void EventQueue::WorkerLoop() {
  while (true) {
    std::unique_ptr<Batch> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](EventQueue* q)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) { return q->stop_ || !q->ready_.empty(); },
          this));
      if (ready_.empty()) return;  // stopping, and everything is processed
      batch = std::move(ready_.front());
      ready_.pop_front();
    }
    Process(*batch);
    queued_bytes_.fetch_sub(batch->charged, std::memory_order_relaxed);
    if (budget_ != nullptr) budget_->Release(batch->charged);
    Recycle(std::move(batch));
  }
}

void EventQueue::Process(Batch& batch) {
  const char* bytes = batch.bytes.data();
  for (Item& item : batch.items) {
    const std::string_view comm(bytes + item.comm_offset, item.comm_size);
    std::visit(
        [&](auto& event) {
          using T = std::decay_t<decltype(event)>;
          if constexpr (std::is_same_v<T, capture::ConnectionOpenEvent>) {
            event.comm = comm;
            if (event.not_traced) {
              consumer_->OnNotTraced(event);
            } else {
              consumer_->OnOpen(event);
            }
          } else if constexpr (std::is_same_v<T, capture::DataEvent>) {
            event.data = absl::string_view(bytes + item.data_offset, event.data.size());
            event.comm = comm;
            consumer_->OnData(event);
          } else if constexpr (std::is_same_v<T, capture::ConnectionShutdownEvent>) {
            consumer_->OnShutdown(event);
          } else if constexpr (std::is_same_v<T, capture::ConnectionCloseEvent>) {
            consumer_->OnClose(event);
          } else if constexpr (std::is_same_v<T, capture::KernelLossEvent>) {
            consumer_->OnKernelLoss(event);
          } else {
            event->fn();
            absl::MutexLock lock(&mu_);
            event->done = true;
          }
        },
        item.event);
  }
}

absl::flat_hash_map<std::string, uint64_t> EventQueue::Counters() const {
  return {
      {"queue.events", events_.load(std::memory_order_relaxed)},
      {"queue.bytes", bytes_.load(std::memory_order_relaxed)},
      {"queue.batches", batches_.load(std::memory_order_relaxed)},
      {"queue.dropped_events", dropped_events_.load(std::memory_order_relaxed)},
      {"queue.dropped_bytes", dropped_bytes_.load(std::memory_order_relaxed)},
      {"queue.queued_bytes", queued_bytes_.load(std::memory_order_relaxed)},
      {"queue.peak_bytes", peak_bytes_.load(std::memory_order_relaxed)},
  };
}

}  // namespace httptrace::pipeline
