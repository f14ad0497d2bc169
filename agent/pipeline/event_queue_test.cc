// The queue between the poll thread and the worker: events arrive whole and in order on another
// thread, and what does not fit the budget becomes a counted loss in the same order.

#include "agent/pipeline/event_queue.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace httptrace::pipeline {
namespace {

// Records what the worker hands over, as text, with the thread it arrived on.
class Recorder : public capture::CaptureSink {
 public:
  void OnOpen(const capture::ConnectionOpenEvent& e) override {
    Add("open " + e.conn.ToString() + " " + std::string(e.comm));
  }
  void OnData(const capture::DataEvent& e) override {
    Add("data " + e.conn.ToString() + " @" + std::to_string(e.position) + " " +
        std::string(e.data) + " " + std::string(e.comm));
  }
  void OnShutdown(const capture::ConnectionShutdownEvent& e) override {
    Add("shutdown " + e.conn.ToString());
  }
  void OnClose(const capture::ConnectionCloseEvent& e) override {
    Add("close " + e.conn.ToString());
  }
  void OnKernelLoss(const capture::KernelLossEvent& e) override {
    Add("loss " + e.conn.ToString() + " " + std::string(capture::LossCauseName(e.cause)) + " " +
        std::to_string(e.bytes) + " starts " + std::to_string(e.message_starts));
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  std::thread::id thread() {
    absl::MutexLock lock(&mu_);
    return thread_;
  }

 private:
  void Add(std::string line) {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
    thread_ = std::this_thread::get_id();
  }
  absl::Mutex mu_;
  std::vector<std::string> lines_;
  std::thread::id thread_;
};

capture::DataEvent Data(uint64_t conn, uint64_t position, absl::string_view bytes) {
  capture::DataEvent e;
  e.conn = {conn};
  e.position = position;
  e.data = bytes;
  e.length = bytes.size();
  e.comm = "curl";
  return e;
}

TEST(EventQueue, DeliversCopiesInOrderOnTheWorkerThread) {
  Recorder recorder;
  EventQueue queue({.batch_events = 2}, &recorder, nullptr);
  capture::ConnectionOpenEvent open;
  open.conn = {7};
  std::string comm = "nginx";
  open.comm = comm;
  queue.OnOpen(open);
  std::string payload = "GET / HTTP/1.1\r\n";
  queue.OnData(Data(7, 0, payload));
  // The poll thread's buffers are reused as soon as the callback returns: the queue has copied.
  payload.assign(payload.size(), 'x');
  comm = "xxxxx";
  queue.OnData(Data(7, 16, "\r\n"));
  capture::ConnectionCloseEvent close;
  close.conn = {7};
  queue.OnClose(close);
  queue.OnPollDone();
  queue.RunOnWorker([] {});
  EXPECT_EQ(recorder.lines(), (std::vector<std::string>{
                                  "open #7 nginx",
                                  "data #7 @0 GET / HTTP/1.1\r\n curl",
                                  "data #7 @16 \r\n curl",
                                  "close #7",
                              }));
  EXPECT_NE(recorder.thread(), std::this_thread::get_id());
  const auto counters = queue.Counters();
  EXPECT_EQ(counters.at("queue.events"), 4u);
  EXPECT_EQ(counters.at("queue.dropped_events"), 0u);
  EXPECT_EQ(counters.at("queue.queued_bytes"), 0u);  // all released once processed
}

TEST(EventQueue, DataBeyondTheBudgetBecomesOneLossCountingTheMessagesItStarted) {
  Recorder recorder;
  session::MemoryBudget budget(200);  // room for the first event only
  EventQueue queue({}, &recorder, &budget);
  const std::string request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string big(2000, 'b');
  queue.OnData(Data(1, 0, request));                      // fits
  queue.OnData(Data(1, request.size(), big));             // does not: dropped
  queue.OnData(Data(1, request.size() + 2000, request));  // dropped, and starts a message
  queue.OnData(Data(2, 0, big));                          // another connection: its own loss
  queue.OnPollDone();
  queue.RunOnWorker([] {});
  const std::vector<std::string> lines = recorder.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1],
            "loss #1 agent_queue_full " + std::to_string(2000 + request.size()) + " starts 1");
  EXPECT_EQ(lines[2], "loss #2 agent_queue_full 2000 starts 0");
  const auto counters = queue.Counters();
  EXPECT_EQ(counters.at("queue.dropped_events"), 3u);
  EXPECT_EQ(counters.at("queue.dropped_bytes"), 4000 + request.size());
  EXPECT_GT(budget.refused_charges(), 0u);
  EXPECT_EQ(budget.used(), 0u);  // released once processed
}

TEST(EventQueue, ADestroyedQueueProcessesWhatWasHandedOver) {
  Recorder recorder;
  {
    EventQueue queue({}, &recorder, nullptr);
    queue.OnData(Data(3, 0, "x"));
  }
  EXPECT_EQ(recorder.lines().size(), 1u);
}

}  // namespace
}  // namespace httptrace::pipeline
