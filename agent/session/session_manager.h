// The agent's capture sessions: creates, ends and lists them, fans finished exchanges out to the
// sessions whose filters match, and keeps the probes' in-kernel filter equal to the union of the
// active sessions' filters (probes attached only while a session is active).
//
// Threads: gRPC handlers call Start/Stop/List/Find; the pipeline thread calls Publish*; a reaper
// thread calls Tick to end sessions past their duration or idle timeout.

#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/session/session.h"
#include "proto/httptrace.pb.h"

namespace httptrace::session {

// What the session layer needs from the capture pipeline. Implemented by the agent's pipeline;
// tests use their own.
class CaptureControl {
 public:
  virtual ~CaptureControl() = default;
  // Makes the probes capture what `active_filters` need (their union); an empty list detaches
  // the probes. `body_limit_bytes`: the largest body limit of the active sessions (the probes
  // copy no more of an HTTP/1 message than it and its headers need). Returns once the change is
  // in effect in the kernel. Called serially.
  virtual absl::Status ApplyFilters(const std::vector<v1::Filter>& active_filters,
                                    uint32_t body_limit_bytes) = 0;
  // Processes every event captured so far, so exchanges completed before the call are published
  // before it returns. Must not be called from the pipeline thread.
  virtual void Flush() = 0;
  // Conditions of the capture a person should know of, for the sessions' notes: TLS libraries
  // found but not probed ("tls not probed (cause): path"). Any thread; must not block long.
  virtual std::vector<std::string> Notes() { return {}; }
};

// Makes the sink of an export session (StartCaptureRequest.export_options set) for `session`
// (which owns it). INVALID_ARGUMENT for bad options: the session is then not started.
using SinkFactory = std::function<absl::StatusOr<std::unique_ptr<SessionSink>>(
    Session* session, const v1::ExportOptions& options)>;

struct SessionManagerOptions {
  size_t max_sessions = 16;
  // Ended sessions stay listed and readable this long (a reader may still be draining), and at
  // most max_ended_sessions of them.
  absl::Duration ended_retention = absl::Minutes(5);
  size_t max_ended_sessions = 32;
  SessionDefaults defaults;
  // Source of the random part of session ids; empty: a seeded std::mt19937. Tests set it to
  // make ids collide on purpose.
  std::function<uint32_t()> id_random;
  // Bytes all session queues together may hold (see memory_budget.h); 0: unlimited.
  uint64_t memory_budget_bytes = 64 << 20;
  // The agent's one budget, shared with the pipeline's queue (not owned; outlives the manager).
  // Null: a budget of memory_budget_bytes of the manager's own.
  MemoryBudget* memory_budget = nullptr;
  // Export sessions' sinks (agent/export); empty: export sessions are refused (UNIMPLEMENTED).
  SinkFactory sink_factory;
};

class SessionManager {
 public:
  SessionManager(SessionManagerOptions options, CaptureControl* control);
  ~SessionManager();

  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED (max sessions), FAILED_PRECONDITION (probes failed).
  // `notes` go to the session's notes from its start (e.g. what the access policy narrowed).
  absl::StatusOr<v1::SessionInfo> Start(const v1::StartCaptureRequest& request,
                                        const std::vector<std::string>& notes = {})
      ABSL_LOCKS_EXCLUDED(control_mu_, mu_);
  // Flushes the pipeline, then ends the session: everything completed before the call is
  // queued before SessionEnd. NOT_FOUND for an unknown id. Stopping an ended session is OK.
  absl::StatusOr<v1::SessionInfo> Stop(const std::string& id) ABSL_LOCKS_EXCLUDED(control_mu_, mu_);
  absl::StatusOr<std::shared_ptr<Session>> Find(const std::string& id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<v1::SessionInfo> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Pipeline thread: an exchange finished (`event` holds it, seq 0; see event.h); every active
  // session that matches records it, sharing one serialization where it keeps it whole. The
  // event is the caller's again on return (the pipeline reuses it).
  void PublishExchange(const v1::Event& event) ABSL_LOCKS_EXCLUDED(mu_);
  // The same for an exchange built by value (tests, tools).
  void PublishExchange(v1::Exchange exchange) ABSL_LOCKS_EXCLUDED(mu_);
  // The largest body limit of the active sessions (0 with none). The pipeline keeps no more of a
  // body when it builds an exchange: sessions with that limit share the exchange as built, and
  // no session copies a body only to cut it. A session that starts with a larger limit may see
  // exchanges built just before cut to the earlier largest one (marked truncated). Any thread.
  uint32_t body_limit_wanted() const { return body_limit_wanted_.load(std::memory_order_relaxed); }

  // Pipeline thread: a loss. With a `scope` (the process and connection it happened on), only
  // sessions whose filter may match that connection get it; without, every active session.
  // A connection end the probes did not trace (not HTTP/1.x or HTTP/2), on service port `port`:
  // counted by every session whose filter could match `scope`, and named in its notes.
  void PublishNotTraced(const v1::Exchange& scope, uint16_t port) ABSL_LOCKS_EXCLUDED(mu_);
  void PublishLoss(const v1::Loss& loss, const v1::Exchange* scope = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Ends sessions due at `now`, forgets old ended ones, re-applies the kernel filter if the set
  // of active sessions changed. The reaper calls it; tests call it with their own clock.
  void Tick(absl::Time now) ABSL_LOCKS_EXCLUDED(control_mu_, mu_);

  // What a session gets for options its request leaves unset.
  const SessionDefaults& defaults() const { return options_.defaults; }
  // The budget every session's queue is charged to, for status counters.
  const MemoryBudget& memory_budget() const { return *budget_; }
  // Exchanges published that no session's filter took (the kernel's coarse filter let them
  // through: e.g. a container filter's mount namespace, an exchange not attributed to it).
  uint64_t exchanges_unmatched() const {
    return exchanges_unmatched_.load(std::memory_order_relaxed);
  }

  // Starts/stops a thread calling Tick(absl::Now()) every `period`.
  void StartReaper(absl::Duration period);
  // Ends every active session with END_REASON_AGENT_SHUTDOWN (after a flush) and detaches.
  void Shutdown() ABSL_LOCKS_EXCLUDED(control_mu_, mu_);

 private:
  std::vector<v1::Filter> ActiveFiltersLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-applies the union filter when it changed since the last successful apply.
  absl::Status SyncFiltersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::string NewIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SessionManagerOptions options_;
  // Declared before the sessions, so it outlives every session charged to it.
  MemoryBudget own_budget_;
  std::atomic<uint32_t> body_limit_wanted_{0};  // set by SyncFiltersLocked
  std::atomic<uint64_t> exchanges_unmatched_{0};
  MemoryBudget* const budget_;  // options_.memory_budget, or own_budget_
  CaptureControl* const control_;

  // Serializes changes of the probes' state. Taken before mu_, never while the pipeline thread
  // could be waiting for mu_ inside a call that control_ makes wait (Flush, detach).
  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::string> applied_session_ids_ ABSL_GUARDED_BY(control_mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Session>> sessions_ ABSL_GUARDED_BY(mu_);
  uint64_t id_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t id_collisions_ ABSL_GUARDED_BY(mu_) = 0;  // ids drawn again: already taken

  absl::Notification stop_reaper_;
  std::thread reaper_;
};

}  // namespace httptrace::session
