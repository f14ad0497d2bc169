// The agent's data path from the kernel to the sessions, assembled from its parts:
//   Capture (probes, poll thread) -> EventQueue (copies, batches; memory budget)
//     -> worker thread: ExchangeTracker (connection table, HTTP engines, losses) -> sessions
// and KernelFilterControl, which attaches the probes and keeps the in-kernel filter the union of
// the sessions' filters. It answers the session manager (CaptureControl: filters, flush) and the
// gRPC service (AgentStatusSource: kernel, probes, counters).
//
// Threads: the poll thread only drains the ring buffer into the queue; everything per exchange
// runs on the worker. ApplyFilters/Flush come from gRPC or reaper threads (serialized by the
// session manager); FillStatus from any thread.

#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/capture/capture.h"
#include "agent/container/container_resolver.h"
#include "agent/cri/cri_client.h"
#include "agent/cri/pod_filter.h"
#include "agent/pipeline/event_queue.h"
#include "agent/pipeline/exchange_tracker.h"
#include "agent/pipeline/kernel_filter_control.h"
#include "agent/pipeline/node_info.h"
#include "agent/session/memory_budget.h"
#include "agent/session/session_manager.h"
#include "agent/status/status_source.h"

namespace httptrace::pipeline {

struct PipelineOptions {
  capture::CaptureConfig capture;
  protocols::EngineOptions engine;
  // Connections tracked in user space (see ExchangeTrackerOptions).
  size_t max_connections = 65536;
  absl::Duration idle_timeout = absl::Minutes(5);
  absl::Duration loss_report_period = absl::Milliseconds(200);
  EventQueueOptions queue;
  std::string node_name;  // empty: $NODE_NAME or the host name
  // Container attribution of every connection and the in-kernel container filter.
  bool resolve_containers = true;
  container::ResolverOptions containers;
  // How often a container filter's mount namespaces are looked up again during a capture, so
  // containers that (re)start are traced within this delay.
  absl::Duration container_refresh_period = absl::Seconds(2);
  // The node's CRI runtime (not owned; outlives the pipeline), for the in-kernel --namespace and
  // --pod filters. Null: those filters apply in the sessions only.
  cri::CriClient* cri = nullptr;
  // The agent's memory budget (not owned; outlives the pipeline): queued events are charged to
  // it. Null: the queue's own max_bytes only.
  session::MemoryBudget* memory_budget = nullptr;
};

class Pipeline final : public session::CaptureControl, public status::AgentStatusSource {
 public:
  // Loads the probes (nothing is attached until a session starts). Fails with a message that
  // says what to do: no BTF, no privileges, verifier rejection.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Create(const PipelineOptions& options);
  // For tests that feed events without probes: feed them to sink(), then Flush().
  static std::unique_ptr<Pipeline> CreateForTest(const PipelineOptions& options);
  ~Pipeline() override;

  // Where exchanges go. Set once, before the first session starts.
  void SetSessions(session::SessionManager* sessions) { tracker_->SetSessions(sessions); }
  const std::string& node_name() const { return node_.node; }
  // Detaches the probes and forgets every connection.
  void Shutdown();
  // The TCP ports the API server bound: its clients' connections are never traced
  // (Capture::SetOwnApiPorts). A no-op in tests without probes.
  absl::Status SetOwnApiPorts(const std::vector<uint16_t>& ports);

  // What the capture's poll thread feeds (the queue): tests without probes call it directly,
  // then SyncForTest (only what was fed is processed) or Flush (held-back losses go out too).
  capture::CaptureSink& sink() { return *queue_; }
  void SyncForTest();

  // session::CaptureControl.
  absl::Status ApplyFilters(const std::vector<v1::Filter>& active_filters,
                            uint32_t body_limit_bytes) override;
  // Returns once every event the kernel had queued before the call has been processed and the
  // losses held back are published.
  void Flush() override;
  // The TLS libraries found but not probed (Capture::TlsNotes).
  std::vector<std::string> Notes() override;

  // status::AgentStatusSource.
  void FillStatus(v1::GetStatusResponse* response) override;

 private:
  explicit Pipeline(const PipelineOptions& options);

  const PipelineOptions options_;
  const NodeInfo node_;
  // Null when container attribution is off.
  std::unique_ptr<container::ContainerResolver> containers_;
  // Null without a CRI runtime or without container attribution.
  std::unique_ptr<cri::PodFilter> pods_;
  // Declared in the order they are built; destroyed in reverse: the filter control (its
  // refresh thread) and the capture (its poll thread) before the queue and the tracker they
  // feed.
  std::unique_ptr<ExchangeTracker> tracker_;
  std::unique_ptr<EventQueue> queue_;
  std::unique_ptr<capture::Capture> capture_;  // null in tests
  std::unique_ptr<KernelFilterControl> filters_;
};

}  // namespace httptrace::pipeline
