// The hand-off between the capture's poll thread and the pipeline's worker thread. The poll
// thread only copies each decoded event (payload included) into a batch and moves on; the worker
// feeds the batches, in order, to the consumer (the exchange tracker: connection table, HTTP
// engines, sessions). So parsing, exchange assembly, container lookups and session fan-out never
// hold up the only reader of the kernel's ring buffer.
//
//   EventQueue queue({}, &tracker, &budget);   // starts the worker
//   Capture::Create(config, &queue);           // the poll thread calls queue.On*
//   queue.RunOnWorker([&] { tracker.Flush(); });  // after everything queued before the call
//
// Bounded: queued payload is charged to the agent's memory budget and limited to max_bytes; a
// data event that does not fit is not queued but replaced by a loss event of cause
// kAgentQueueFull (bytes and HTTP message starts counted), so the consumer sees the gap and
// why. Open, close, shutdown and loss events are small and always queued: they keep the
// connection table right.
//
// Threads: On* on the poll thread (or the thread draining a detached capture: one at a time);
// RunOnWorker from any thread but the worker; Counters from any thread.

#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "agent/capture/capture_events.h"
#include "agent/session/memory_budget.h"

namespace httptrace::pipeline {

struct EventQueueOptions {
  // Payload bytes queued and not yet processed, at most (also charged to the memory budget).
  size_t max_bytes = 32 << 20;
  // A batch goes to the worker when it holds this many events or bytes, or at the end of a poll.
  size_t batch_events = 1024;
  size_t batch_bytes = 1 << 20;
};

class EventQueue final : public capture::CaptureSink {
 public:
  // `consumer` receives every event on the worker thread; both must outlive the queue. `budget`
  // may be null (no agent-wide budget: max_bytes only).
  EventQueue(const EventQueueOptions& options, capture::CaptureSink* consumer,
             session::MemoryBudget* budget);
  ~EventQueue() override;  // processes what is queued, then stops the worker
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // capture::CaptureSink: the poll thread.
  void OnOpen(const capture::ConnectionOpenEvent& event) override;
  void OnNotTraced(const capture::ConnectionOpenEvent& event) override { OnOpen(event); }
  void OnData(const capture::DataEvent& event) override;
  void OnShutdown(const capture::ConnectionShutdownEvent& event) override;
  void OnClose(const capture::ConnectionCloseEvent& event) override;
  void OnKernelLoss(const capture::KernelLossEvent& event) override;
  void OnPollDone() override { Submit(); }
  void OnFlush() override { Submit(); }

  // Runs `fn` on the worker once every event handed over before the call has been processed,
  // and returns when it has run. Events still in the poll thread's open batch are not waited
  // for: Capture::Flush (or Detach) first, which ends the batch. Not from the worker.
  void RunOnWorker(absl::FunctionRef<void()> fn);

  // "queue.*" counters: events, bytes, batches, dropped_events, dropped_bytes, peak_bytes.
  absl::flat_hash_map<std::string, uint64_t> Counters() const;

 private:
  // A RunOnWorker call: `done` is guarded by mu_.
  struct Task {
    absl::FunctionRef<void()> fn;
    bool done = false;
  };
  // One queued event; payload and comm live in the batch's bytes.
  struct Item {
    std::variant<capture::ConnectionOpenEvent, capture::DataEvent, capture::ConnectionShutdownEvent,
                 capture::ConnectionCloseEvent, capture::KernelLossEvent, Task*>
        event;
    uint32_t data_offset = 0;  // payload (DataEvent)
    uint32_t comm_offset = 0;  // comm (open, data)
    uint32_t comm_size = 0;
  };
  struct Batch {
    std::vector<Item> items;
    std::string bytes;
    uint64_t charged = 0;  // to the budget and queued_bytes_, released once processed
  };

  uint32_t AppendBytes(std::string_view bytes);
  void Push(Item item);
  // Hands the open batch to the worker (poll thread).
  void Submit();
  // An empty batch for the poll thread: a spare one, or new.
  std::unique_ptr<Batch> NextBatch();
  // Keeps a processed batch for reuse if there is room (worker).
  void Recycle(std::unique_ptr<Batch> batch);
  // Replaces a data event that does not fit by a loss event of the same bytes.
  void Drop(const capture::DataEvent& event);
  void WorkerLoop();
  void Process(Batch& batch);

  const EventQueueOptions options_;
  capture::CaptureSink* const consumer_;
  session::MemoryBudget* const budget_;

  // Poll thread: the batch being filled.
  std::unique_ptr<Batch> open_;

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Batch>> ready_ ABSL_GUARDED_BY(mu_);
  // Processed batches kept for reuse: a fresh megabyte per batch cost a page fault per 4 KiB
  // (20% of the agent's CPU with 64 KiB bodies). At most 4, each at most twice the batch size:
  // a fixed reserve outside the budget (a batch in use is charged its whole footprint).
  std::vector<std::unique_ptr<Batch>> spare_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<uint64_t> peak_bytes_{0};
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> dropped_events_{0};
  std::atomic<uint64_t> dropped_bytes_{0};

  std::thread worker_;
};

}  // namespace httptrace::pipeline
