// The agent's data path from the kernel to the sessions: receives decoded capture events on the
// poll thread, keeps one HTTP engine per connection, turns finished exchanges into API messages
// and publishes them to the session manager. It also drives the probes for the sessions
// (CaptureControl: attach, detach, in-kernel filter as the union of the sessions' filters) and
// reports node, probe and loss counters for GetStatus (AgentStatusSource).
//
// Threads: On* run on the capture's poll thread only; ApplyFilters/Flush on gRPC or reaper
// threads (serialized by the session manager); FillStatus on any thread.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/capture/capture.h"
#include "agent/capture/capture_events.h"
#include "agent/conntrack/connection_table.h"
#include "agent/container/container_resolver.h"
#include "agent/cri/cri_client.h"
#include "agent/cri/pod_filter.h"
#include "agent/http/http_connection.h"
#include "agent/pipeline/node_info.h"
#include "agent/service/http_trace_service.h"
#include "agent/session/session_manager.h"

namespace httptrace::pipeline {

struct PipelineOptions {
  capture::CaptureConfig capture;
  http::EngineOptions engine;
  // Connections tracked in user space; beyond it new connections are not traced (counted).
  size_t max_connections = 65536;
  // A connection with no event for this long is forgotten (its pending requests are emitted
  // with a note): covers closes the probes never saw.
  absl::Duration idle_timeout = absl::Minutes(5);
  // Kernel losses are summed and published to sessions at most this often.
  absl::Duration loss_report_period = absl::Milliseconds(200);
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
};

// "auto", "tracepoints", "raw-tracepoints" (or "raw_tracepoints").
absl::StatusOr<capture::AttachMode> ParseAttachMode(absl::string_view text);

// Turns the sessions' filters into the in-kernel filter: a dimension (pids, ports) is
// restricted only when every session restricts it, so the kernel never drops what any session
// wants. Exact per-session filtering happens later, in the sessions.
capture::KernelFilter UnionKernelFilter(const std::vector<v1::Filter>& filters);

class Pipeline final : public capture::CaptureSink,
                       public session::CaptureControl,
                       public service::AgentStatusSource {
 public:
  // Loads the probes (nothing is attached until a session starts). Fails with a message that
  // says what to do: no BTF, no privileges, verifier rejection.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Create(const PipelineOptions& options);
  ~Pipeline() override;

  // Where exchanges go. Set once, before the first session starts.
  void SetSessions(session::SessionManager* sessions) { sessions_ = sessions; }
  const std::string& node_name() const { return node_.node; }
  // Detaches the probes and forgets every connection.
  void Shutdown();

  // capture::CaptureSink (poll thread).
  void OnOpen(const capture::ConnectionOpenEvent& event) override;
  void OnData(const capture::DataEvent& event) override;
  void OnShutdown(const capture::ConnectionShutdownEvent& event) override;
  void OnClose(const capture::ConnectionCloseEvent& event) override;
  void OnKernelLoss(const capture::KernelLossEvent& event) override;
  void OnFlush() override;

  // session::CaptureControl.
  absl::Status ApplyFilters(const std::vector<v1::Filter>& active_filters) override;
  void Flush() override;

  // service::AgentStatusSource.
  void FillStatus(v1::GetStatusResponse* response) override;

  // For tests that feed events without probes: a pipeline with no capture.
  static std::unique_ptr<Pipeline> CreateForTest(const PipelineOptions& options);

 private:
  struct HttpState;
  explicit Pipeline(const PipelineOptions& options);

  // The HTTP state of a tracked connection, created on first use.
  HttpState* Attach(conntrack::Connection& connection);
  void OnConnectionEnd(conntrack::Connection& connection, conntrack::EndReason reason);
  // Ends every tracked connection without publishing what they flush (counted): only while
  // detached, when no session is active.
  void ForgetConnections();
  void Housekeeping(uint64_t now_ns);
  // Publishes the kernel losses gathered since the last report, at most once per
  // loss_report_period unless `now_or_never` (a flush).
  void PublishPendingLoss(uint64_t now_ns, bool now_or_never = false);
  void SnapshotCounters();
  // The containers every session names (none when some session names none): these restrict the
  // kernel filter, by mount namespace.
  std::vector<std::string> ContainerSelectors(const std::vector<v1::Filter>& filters) const;
  void LogContainerFilter(absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(filter_mu_);
  // The pods every session names by namespace and/or name, one entry per session (none when
  // some session names no pod, or when a container filter already restricts the kernel).
  using PodSelector = std::pair<std::vector<std::string>, std::vector<std::string>>;
  std::vector<PodSelector> PodSelectors(const std::vector<v1::Filter>& filters) const;
  // Mount namespaces of the processes of every pod the selectors name (through the CRI runtime).
  absl::StatusOr<std::vector<uint32_t>> PodMountNamespaces()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(filter_mu_);
  // Follows containers that start, restart or stop during a capture (own thread).
  void ContainerFilterLoop();

  const PipelineOptions options_;
  const NodeInfo node_;
  std::unique_ptr<capture::Capture> capture_;
  // Null when container attribution is off.
  std::unique_ptr<container::ContainerResolver> containers_;
  // Null without a CRI runtime or without container attribution.
  std::unique_ptr<cri::PodFilter> pods_;

  // The kernel filter as last set; the container refresher updates its mount namespaces.
  absl::Mutex filter_mu_;
  capture::KernelFilter kernel_filter_ ABSL_GUARDED_BY(filter_mu_);
  std::vector<std::string> container_selectors_ ABSL_GUARDED_BY(filter_mu_);
  std::vector<PodSelector> pod_selectors_ ABSL_GUARDED_BY(filter_mu_);
  bool stop_container_refresh_ ABSL_GUARDED_BY(filter_mu_) = false;
  std::thread container_refresh_;
  session::SessionManager* sessions_ = nullptr;

  // Poll-thread state.
  conntrack::ConnectionTable connections_;
  uint64_t next_connection_id_ = 1;
  uint64_t last_housekeeping_ns_ = 0;
  bool forgetting_ = false;  // ForgetConnections is running
  // Kernel losses not yet published, per connection so each reaches only the sessions whose
  // filter may match it. At most one entry per tracked connection (plus unknown ones).
  struct PendingLoss {
    uint64_t bytes = 0;
    uint64_t events = 0;
  };
  absl::flat_hash_map<capture::ConnectionKey, PendingLoss> pending_losses_;
  uint64_t last_loss_report_ns_ = 0;
  http::EngineCounters closed_engine_counters_;

  struct Counters {
    uint64_t kernel_loss_events = 0;
    uint64_t kernel_loss_bytes = 0;
    uint64_t exchanges_published = 0;
    uint64_t exchanges_after_capture = 0;  // flushed by ForgetConnections, not published
  };
  Counters counters_;  // poll thread

  // Copies for FillStatus, refreshed by the poll thread about once a second and on Flush.
  mutable absl::Mutex snapshot_mu_;
  absl::flat_hash_map<std::string, uint64_t> counter_snapshot_ ABSL_GUARDED_BY(snapshot_mu_);
  uint64_t last_snapshot_ns_ = 0;
};

}  // namespace httptrace::pipeline
