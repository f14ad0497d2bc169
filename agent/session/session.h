// One capture session: its filter and options, a bounded queue of sequenced events, counters,
// and the readers streaming it. Thread-safe: the pipeline thread offers exchanges while gRPC
// threads read.
//
// Events are shared (agent/session/event.h): an exchange offered to several sessions is one
// object unless a session must trim or redact it; the session's sequence number is kept beside
// each event.
//
// Retention: the queue holds at most `capacity` events. Events some reader has received make room
// for new ones; when every retained event is still unread, new exchanges are dropped, counted and
// marked by one SLOW_READER Loss event as soon as there is room, so nothing vanishes silently.

#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/session/event.h"
#include "agent/session/memory_budget.h"
#include "agent/session/redaction.h"
#include "proto/httptrace.pb.h"

namespace httptrace::session {

// What consumes a session besides its readers: an export session's exporter (agent/export). The
// session owns its sink and destroys it before anything else, so a sink may keep the session by
// pointer and read it like any reader (Read, AddReader) from threads of its own. Nothing on the
// pipeline's path calls a sink: a session without one costs nothing more.
class SessionSink {
 public:
  // Stops the sink's threads; must return in bounded time.
  virtual ~SessionSink() = default;
  // Adds what the sink did (SessionInfo.export_status). Any thread; must not block long.
  virtual void FillInfo(v1::SessionInfo* info) const = 0;
};

// Agent-wide defaults for CaptureOptions fields the client leaves unset.
struct SessionDefaults {
  uint32_t body_limit_bytes = 4096;
  uint32_t queue_capacity = 4096;
  uint32_t max_queue_capacity = 1 << 20;
  absl::Duration idle_timeout = absl::Minutes(10);
};

class Session {
 public:
  // `options` must be normalized (see NormalizeOptions). Retained events are charged to
  // `budget` (not owned; null: not accounted), which must outlive the session.
  Session(std::string id, v1::Filter filter, v1::CaptureOptions options, absl::Time now,
          MemoryBudget* budget = nullptr);
  ~Session();

  const std::string& id() const { return id_; }
  const v1::Filter& filter() const { return filter_; }
  const v1::CaptureOptions& options() const { return options_; }

  // Gives the session its sink. Called once, before the session is shared with other threads
  // (SessionManager::Start), so sink_ needs no lock.
  void AttachSink(std::unique_ptr<SessionSink> sink) { sink_ = std::move(sink); }

  // Queues the published exchange (seq 0) when it matches the filter: its shared bytes when the
  // session keeps it whole, else a trimmed and/or redacted copy's. Returns true when the session
  // reached max_exchanges with this exchange (the caller then ends it). *matched (if given):
  // whether the filter took it (queued, or counted lost).
  bool OfferExchange(const PublishedEvent& published, bool* matched = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Queues a Loss that concerns this session (e.g. events lost in the kernel).
  void OfferLoss(const v1::Loss& loss) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the session: queues any pending loss marker, then SessionEnd. Idempotent.
  void End(v1::EndReason reason, std::string detail, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  bool active() const ABSL_LOCKS_EXCLUDED(mu_);

  // The reason the session should end at `now` (max duration, idle timeout), if any.
  std::optional<v1::EndReason> DueToEnd(absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

  // When the session ended (InfiniteFuture while active).
  absl::Time ended_at() const ABSL_LOCKS_EXCLUDED(mu_);

  struct ReadResult {
    // Shared with the queue, never copied: events are immutable once queued.
    std::vector<SequencedEvent> events;
    bool finished = false;  // The SessionEnd event was delivered: the stream is over.
  };
  // Returns events with seq >= *next_seq (0: from the oldest retained), waiting up to `timeout`
  // for at least `min_events` of them (or the session's end). Advances *next_seq past what it
  // returns.
  ReadResult Read(uint64_t* next_seq, size_t max_events, absl::Duration timeout,
                  size_t min_events = 1) ABSL_LOCKS_EXCLUDED(mu_);

  // OUT_OF_RANGE when a reader asks to start beyond the next sequence number.
  absl::Status CheckResumePoint(uint64_t from_seq) const ABSL_LOCKS_EXCLUDED(mu_);

  void AddReader() ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveReader(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  v1::SessionInfo Info() const ABSL_LOCKS_EXCLUDED(mu_);

  // Adds notes about the capture as a whole (SessionInfo.notes): new ones only, at most
  // kMaxNotes (the rest counted). No-op once ended.
  static constexpr size_t kMaxNotes = 16;
  void AddNotes(const std::vector<std::string>& notes) ABSL_LOCKS_EXCLUDED(mu_);

  // Counts a connection end the probes did not trace (not HTTP/1.x or HTTP/2) by its service
  // port; `server`: the end that accepted it. The notes say "N connection(s) on port P not
  // traced: not HTTP/1.x or HTTP/2", N the larger of the server and client ends seen (both ends
  // of a connection on this node are two sockets). At most kMaxNotTracedPorts ports are named;
  // the rest are summed as "other ports".
  static constexpr size_t kMaxNotTracedPorts = 8;
  void CountNotTraced(uint16_t port, bool server) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Appends an event with the next sequence number; `force` ignores the capacity (used for the
  // end-of-session events so a full queue still ends cleanly).
  bool PushLocked(EventPtr event, bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PopFrontLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The exchange as this session keeps it: the shared bytes, or a copy's with bodies trimmed to the
  // body limit and listed headers, secret query parameters and body fields redacted when that
  // changes anything.
  EventPtr Variant(const PublishedEvent& published) const;
  bool MakeRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushPendingLossLocked(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a `reason` marker for the *pending exchanges dropped; clears *pending when queued.
  bool PushLossMarkerLocked(v1::LossReason reason, uint64_t* pending, std::string detail,
                            bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::SessionCounters CountersLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename Repeated>
  void NotesLocked(Repeated* out) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string id_;
  const v1::Filter filter_;
  const v1::CaptureOptions options_;
  const absl::Time started_at_;
  const absl::Duration max_duration_;
  const absl::Duration idle_timeout_;
  const std::vector<std::string> redacted_lowercase_;
  // Query parameters and body fields (agent/session/redaction.h); null when no_redact.
  const std::unique_ptr<const Redactor> redactor_;
  // Set before the session is shared; reset first in the destructor (see SessionSink).
  std::unique_ptr<SessionSink> sink_;

  mutable absl::Mutex mu_;
  bool end_queued_ ABSL_GUARDED_BY(mu_) = false;  // the SessionEnd event is in the queue
  MemoryBudget* const budget_;
  struct Queued {
    SequencedEvent event;
    uint64_t charged = 0;  // bytes charged to budget_
  };
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Highest sequence number any reader has received: older events may be evicted.
  uint64_t delivered_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t pending_dropped_exchanges_ ABSL_GUARDED_BY(mu_) = 0;
  // Exchanges refused by the memory budget, not yet reported by a LIMIT loss marker.
  uint64_t pending_budget_refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t exchanges_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t exchanges_lost_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_lost_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t loss_events_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t readers_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> notes_ ABSL_GUARDED_BY(mu_);
  uint64_t notes_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  // Connection ends not traced, per service port (in the order first seen), and beyond the limit.
  struct NotTraced {
    uint16_t port = 0;
    uint64_t server_ends = 0;
    uint64_t client_ends = 0;  // and ends whose role is unknown
  };
  std::vector<NotTraced> not_traced_ ABSL_GUARDED_BY(mu_);
  NotTraced not_traced_other_ports_ ABSL_GUARDED_BY(mu_);
  absl::Time last_reader_seen_ ABSL_GUARDED_BY(mu_);
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time ended_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  v1::EndReason end_reason_ ABSL_GUARDED_BY(mu_) = v1::END_REASON_UNSPECIFIED;
};

// Checks `options` and fills the defaults in. INVALID_ARGUMENT for values out of range.
absl::StatusOr<v1::CaptureOptions> NormalizeOptions(const v1::CaptureOptions& options,
                                                    const SessionDefaults& defaults);

// Replaces the value of every header (and trailer) named in `lowercase_names` with "[REDACTED]".
void RedactHeaders(const std::vector<std::string>& lowercase_names, v1::Exchange* exchange);

// Replaces the values of `redactor`'s secret query parameters (in the target and in URL-valued
// headers: :path, Location, Content-Location, Referer) and body fields (form and JSON bodies,
// by their Content-Type) with "[REDACTED]". The rewrites themselves live in redaction.h, which
// knows nothing of the API's types, so the OTLP span builder shares them.
void RedactSecrets(const Redactor& redactor, v1::Exchange* exchange);

}  // namespace httptrace::session
