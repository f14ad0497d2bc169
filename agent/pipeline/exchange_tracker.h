// Turns capture events into exchanges and losses for the sessions: keeps the connection table
// and one protocol engine per connection (agent/protocols), converts each finished exchange into
// its API message once (the sessions share it), and publishes every loss where it happens, with its
// reason:
//   kernel_buffer_full   data events the ring buffer refused (bytes and, from the HTTP message
//                        starts the probes saw in them, exchanges)
//   limit                data the agent's queue refused (memory budget; exchanges likewise), and
//                        bytes a connection's engine dropped at its buffer limit
//   stream_gap           messages cut by bytes missing from a stream with no kernel loss behind
//                        them (capture limits, unreadable user memory)
//   parse_error          bytes the connection's protocol engine could not parse
//   connection_table_full  a connection evicted to make room for a new one
// Losses are summed per connection and reason and published at most every loss_report_period,
// and at once on Flush, so a loss just before a stop reaches the session's summary.
//
// Threads: everything but CounterSnapshot runs on one thread (the pipeline's worker).

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/capture/capture_events.h"
#include "agent/conntrack/connection_table.h"
#include "agent/container/container_resolver.h"
#include "agent/cri/pod_filter.h"
#include "agent/pipeline/node_info.h"
#include "agent/protocols/common/engine.h"
#include "agent/protocols/common/engine_options.h"
#include "agent/protocols/engine_factory.h"
#include "agent/session/memory_budget.h"
#include "agent/session/session_manager.h"
#include "google/protobuf/arena.h"

namespace httptrace::pipeline {

struct ExchangeTrackerOptions {
  protocols::EngineOptions engine;
  // Connections tracked; beyond it the least recently seen one is ended (its pending exchanges
  // are emitted with notes) to make room, and a connection_table_full loss says so.
  size_t max_connections = 65536;
  // A connection with no event for this long is forgotten (its pending requests are emitted
  // with a note): covers closes the probes never saw.
  absl::Duration idle_timeout = absl::Minutes(5);
  // Losses are summed and published to sessions at most this often.
  absl::Duration loss_report_period = absl::Milliseconds(200);
};

class ExchangeTracker final : public capture::CaptureSink {
 public:
  // `containers` and `pods` may be null (no attribution, no pod metadata); `budget` may be null
  // (no agent-wide budget). All outlive the tracker. What the engines hold is charged to the
  // budget as it grows (forced: the bytes are already here) and released as it shrinks, so a
  // spent budget makes the queue refuse new data (counted losses) instead of the engines
  // growing without bound.
  ExchangeTracker(const ExchangeTrackerOptions& options, const NodeInfo& node,
                  container::ContainerResolver* containers, cri::PodFilter* pods,
                  session::MemoryBudget* budget);
  ~ExchangeTracker() override;

  // Where exchanges and losses go. Set once, before the first event.
  void SetSessions(session::SessionManager* sessions) { sessions_ = sessions; }

  // capture::CaptureSink.
  void OnOpen(const capture::ConnectionOpenEvent& event) override;
  void OnData(const capture::DataEvent& event) override;
  void OnShutdown(const capture::ConnectionShutdownEvent& event) override;
  void OnClose(const capture::ConnectionCloseEvent& event) override;
  void OnKernelLoss(const capture::KernelLossEvent& event) override;
  // Tells the sessions that could have matched it (not the connection table: nothing follows).
  void OnNotTraced(const capture::ConnectionOpenEvent& event) override;
  // Publishes the losses held back and refreshes the counter snapshot.
  void OnFlush() override;

  // Ends every tracked connection without publishing what they flush (counted): for when no
  // session is active, or before the kernel forgets its connections (Capture::Attach).
  void ForgetConnections();

  // The "conntrack.*", "http.*", "pipeline.*" counters as of the last snapshot (about once a
  // second, and on every flush). Any thread.
  absl::flat_hash_map<std::string, uint64_t> CounterSnapshot() const;

 private:
  struct ConnectionState;
  // A loss not yet published: one per connection and reason.
  struct PendingLoss {
    uint64_t bytes = 0;
    uint64_t events = 0;
    uint64_t exchanges = 0;           // kernel and queue losses of a tracked connection
    uint64_t message_starts[2] = {};  // ... of one not tracked (yet), per direction
    uint64_t messages_cut = 0;        // stream gaps and parse errors
    bool from_queue = false;          // a limit loss: the agent's queue refused data
    // The connection as known when the loss was first seen (it may be gone when published).
    bool described = false;
    v1::Exchange scope;  // what sessions filter on
    std::string where;   // for the detail
  };
  using LossKey = std::pair<capture::ConnectionKey, v1::LossReason>;

  // What the tracker keeps of a connection, created on first use.
  ConnectionState* Attach(conntrack::Connection& connection);
  // The connection's engine, made on its first data for the protocol the probes detected.
  protocols::ProtocolEngine& Engine(ConnectionState& state, const capture::DataEvent& event);
  void PublishExchange(ConnectionState& state, protocols::Exchange&& exchange);
  void OnConnectionEnd(conntrack::Connection& connection, conntrack::EndReason reason);
  // After the engine's close: every exchange it began was emitted, else a violation is counted,
  // logged with the connection, and the missing exchanges become a loss (never silent).
  void CheckConservation(const conntrack::Connection& connection, ConnectionState& state);
  // Charges (or releases) the change in what the connection's engine holds.
  void Recharge(ConnectionState& state);
  // Turns what the engine counted since the last call into pending losses.
  void AccountEngineLosses(const capture::ConnectionKey& key, ConnectionState& state);
  void Housekeeping(uint64_t now_ns);
  // Publishes the losses gathered since the last report, at most once per loss_report_period
  // unless `now_or_never` (a flush).
  void PublishPendingLosses(uint64_t now_ns, bool now_or_never = false);
  // The pending loss of a connection and reason, described from the connection if it is known.
  PendingLoss& Pending(const capture::ConnectionKey& key, v1::LossReason reason);
  void Describe(const conntrack::Connection& connection, PendingLoss& pending) const;
  v1::Loss MakeLoss(const LossKey& key, PendingLoss& pending);
  void SnapshotCounters();

  const ExchangeTrackerOptions options_;
  const NodeInfo& node_;
  container::ContainerResolver* const containers_;
  cri::PodFilter* const pods_;
  session::MemoryBudget* const budget_;
  session::SessionManager* sessions_ = nullptr;
  uint64_t engine_held_bytes_ = 0;  // charged for every engine together

  conntrack::ConnectionTable connections_;
  uint64_t next_connection_id_ = 1;
  uint64_t last_housekeeping_ns_ = 0;
  bool forgetting_ = false;  // ForgetConnections is running
  absl::flat_hash_map<LossKey, PendingLoss> pending_losses_;
  uint64_t last_loss_report_ns_ = 0;
  protocols::EngineCounterTotals closed_engine_counters_;

  struct Counters {
    uint64_t kernel_loss_events = 0;
    uint64_t kernel_loss_bytes = 0;
    uint64_t queue_loss_events = 0;
    uint64_t queue_loss_bytes = 0;
    uint64_t lost_exchanges = 0;  // in published losses
    uint64_t exchanges_published = 0;
    uint64_t exchanges_after_capture = 0;  // flushed by ForgetConnections, not published
    // Connections whose engine began exchanges it did not emit by their end (CheckConservation).
    uint64_t conservation_violations = 0;
    uint64_t connections_not_traced = 0;  // classified as no protocol we trace
  };
  Counters counters_;
  // Every published exchange is built on this arena, offered to the sessions, then the arena is
  // reset (PublishExchange). The initial block is ours, so Reset keeps it.
  static constexpr size_t kPublishBlockBytes = 64 << 10;
  std::unique_ptr<char[]> publish_block_{new char[kPublishBlockBytes]};
  google::protobuf::Arena publish_arena_{PublishArenaOptions(publish_block_.get())};
  static google::protobuf::ArenaOptions PublishArenaOptions(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kPublishBlockBytes;
    options.start_block_size = kPublishBlockBytes;
    return options;
  }
  // From HTTPTRACE_TEST_DROP_EXCHANGE=N (tests only): the Nth exchange is dropped uncounted, so
  // the end-to-end conservation check can be shown to notice. 0: never.
  uint64_t drop_exchange_for_testing_ = 0;

  mutable absl::Mutex snapshot_mu_;
  absl::flat_hash_map<std::string, uint64_t> counter_snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
};

}  // namespace httptrace::pipeline
