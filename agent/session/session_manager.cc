#include "agent/session/session_manager.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/session/capture_notes.h"
#include "agent/session/filter.h"
#include "common/log.h"

namespace httptrace::session {

SessionManager::SessionManager(SessionManagerOptions options, CaptureControl* control)
    : options_(std::move(options)),
      own_budget_(options_.memory_budget_bytes),
      budget_(options_.memory_budget != nullptr ? options_.memory_budget : &own_budget_),
      control_(control) {}

SessionManager::~SessionManager() {
  if (reaper_.joinable()) {
    stop_reaper_.Notify();
    reaper_.join();
  }
}

void SessionManager::StartReaper(absl::Duration period) {
  reaper_ = std::thread([this, period] {
    while (!stop_reaper_.WaitForNotificationWithTimeout(period)) Tick(absl::Now());
  });
}

std::string SessionManager::NewIdLocked() {
  // Short enough to type, random enough that ids of a restarted agent do not collide with old
  // ones in a user's scripts. Eight hex digits can still collide with a session this agent
  // holds (live, or ended and still readable): such an id is never handed out again, and after
  // many tries the id grows by the whole counter, which is unique.
  static thread_local std::mt19937 rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    const uint32_t random = options_.id_random ? options_.id_random() : rng();
    ++id_counter_;
    std::string id = attempt < 64
                         ? absl::StrFormat("%06x%02x", random & 0xffffff, id_counter_ & 0xff)
                         : absl::StrFormat("%06x%016x", random & 0xffffff, id_counter_);
    if (!sessions_.contains(id)) return id;
    ++id_collisions_;
  }
}

std::vector<v1::Filter> SessionManager::ActiveFiltersLocked() const {
  std::vector<std::pair<std::string, v1::Filter>> active;
  for (const auto& [id, session] : sessions_) {
    if (session->active()) active.emplace_back(id, session->filter());
  }
  std::sort(active.begin(), active.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<v1::Filter> filters;
  for (auto& [id, filter] : active) filters.push_back(std::move(filter));
  return filters;
}

absl::Status SessionManager::SyncFiltersLocked() {
  std::vector<std::string> ids;
  std::vector<v1::Filter> filters;
  uint32_t body_limit = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) {
      if (!session->active()) continue;
      ids.push_back(id);
      body_limit = std::max(body_limit, session->options().body_limit_bytes());
    }
    body_limit_wanted_.store(body_limit, std::memory_order_relaxed);
    std::sort(ids.begin(), ids.end());
    filters = ActiveFiltersLocked();
  }
  if (ids == applied_session_ids_) return absl::OkStatus();
  absl::Status status = control_->ApplyFilters(filters, body_limit);
  if (status.ok()) applied_session_ids_ = std::move(ids);
  return status;
}

absl::StatusOr<v1::SessionInfo> SessionManager::Start(const v1::StartCaptureRequest& request,
                                                      const std::vector<std::string>& notes) {
  if (absl::Status s = ValidateFilter(request.filter()); !s.ok()) return s;
  absl::StatusOr<v1::CaptureOptions> options =
      NormalizeOptions(request.options(), options_.defaults);
  if (!options.ok()) return options.status();

  absl::MutexLock control_lock(&control_mu_);
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    size_t active = 0;
    for (const auto& [id, s] : sessions_) active += s->active() ? 1 : 0;
    if (active >= options_.max_sessions) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the agent already runs ", active, " capture sessions (--max-sessions=",
                       options_.max_sessions, "); stop one (httptracectl list / stop) and retry"));
    }
    std::string id = NewIdLocked();
    session =
        std::make_shared<Session>(id, request.filter(), *std::move(options), absl::Now(), budget_);
    if (request.has_export_options()) {
      if (!options_.sink_factory) {
        return absl::UnimplementedError("this agent cannot export sessions");
      }
      absl::StatusOr<std::unique_ptr<SessionSink>> sink =
          options_.sink_factory(session.get(), request.export_options());
      if (!sink.ok()) return sink.status();
      session->AttachSink(*std::move(sink));
    }
    sessions_[id] = session;
  }
  if (absl::Status s = SyncFiltersLocked(); !s.ok()) {
    absl::MutexLock lock(&mu_);
    sessions_.erase(session->id());
    // An export session's sink would otherwise wait for exchanges that never come.
    session->End(v1::END_REASON_ERROR, std::string(s.message()), absl::Now());
    return absl::FailedPreconditionError(absl::StrCat("cannot start capturing: ", s.message()));
  }
  HT_LOG(INFO) << "session " << session->id() << " started";
  if (!notes.empty()) session->AddNotes(notes);
  // The start-up scan is done: its refusals, those that concern this session.
  session->AddNotes(NotesForSession(session->filter(), control_->Notes()));
  return session->Info();
}

absl::StatusOr<v1::SessionInfo> SessionManager::Stop(const std::string& id) {
  absl::StatusOr<std::shared_ptr<Session>> session = Find(id);
  if (!session.ok()) return session.status();
  if ((*session)->active()) {
    // Everything the kernel captured before the stop becomes exchanges before SessionEnd.
    control_->Flush();
    (*session)->AddNotes(NotesForSession((*session)->filter(), control_->Notes()));
    (*session)->End(v1::END_REASON_STOPPED, "stopped by request", absl::Now());
    HT_LOG(INFO) << "session " << id << " stopped";
  }
  absl::MutexLock control_lock(&control_mu_);
  if (absl::Status s = SyncFiltersLocked(); !s.ok()) {
    HT_LOG(WARNING) << "updating the kernel filter after stopping " << id << ": " << s;
  }
  return (*session)->Info();
}

absl::StatusOr<std::shared_ptr<Session>> SessionManager::Find(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no session \"", id, "\" on this agent (httptracectl list shows them)"));
  }
  return it->second;
}

std::vector<v1::SessionInfo> SessionManager::List() const {
  std::vector<v1::SessionInfo> infos;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, session] : sessions_) infos.push_back(session->Info());
  std::sort(infos.begin(), infos.end(), [](const v1::SessionInfo& a, const v1::SessionInfo& b) {
    return std::make_pair(a.started_at().seconds(), a.started_at().nanos()) <
           std::make_pair(b.started_at().seconds(), b.started_at().nanos());
  });
  return infos;
}

void SessionManager::PublishExchange(v1::Exchange exchange) {
  v1::Event event;
  *event.mutable_exchange() = std::move(exchange);
  PublishExchange(event);
}

void SessionManager::PublishExchange(const v1::Event& event) {
  std::vector<std::shared_ptr<Session>> reached_limit;
  bool matched = false;
  {
    const PublishedEvent published(event);
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) {
      if (session->OfferExchange(published, &matched)) reached_limit.push_back(session);
    }
  }
  // The kernel's filter (the sessions' union, coarse: processes, mount namespaces, ports) let it
  // through and no session's exact filter took it: counted, for status.
  if (!matched) exchanges_unmatched_.fetch_add(1, std::memory_order_relaxed);
  for (const auto& session : reached_limit) {
    session->End(v1::END_REASON_MAX_EXCHANGES,
                 absl::StrCat("recorded ", session->options().max_exchanges(), " exchanges"),
                 absl::Now());
  }
}

void SessionManager::PublishLoss(const v1::Loss& loss, const v1::Exchange* scope) {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, session] : sessions_) {
    if (scope != nullptr && !MayMatchConnection(session->filter(), *scope)) continue;
    session->OfferLoss(loss);
  }
}

void SessionManager::PublishNotTraced(const v1::Exchange& scope, uint16_t port) {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, session] : sessions_) {
    if (!MayMatchConnection(session->filter(), scope)) continue;
    session->CountNotTraced(port, scope.connection().role() == v1::ROLE_SERVER);
  }
}

void SessionManager::Tick(absl::Time now) {
  std::vector<std::pair<std::shared_ptr<Session>, v1::EndReason>> due;
  std::vector<std::shared_ptr<Session>> active;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) {
      if (auto reason = session->DueToEnd(now)) due.emplace_back(session, *reason);
      if (session->active()) active.push_back(session);
    }
  }
  if (!active.empty()) {
    // The capture's notes (libraries found but not probed) reach the active sessions they
    // concern (capture_notes.h).
    const std::vector<std::string> notes = control_->Notes();
    for (const auto& session : active) {
      session->AddNotes(NotesForSession(session->filter(), notes));
    }
  }
  if (!due.empty()) control_->Flush();
  for (auto& [session, reason] : due) {
    session->End(reason,
                 reason == v1::END_REASON_IDLE_TIMEOUT ? "no reader for the idle timeout"
                                                       : "maximum duration reached",
                 now);
    HT_LOG(INFO) << "session " << session->id() << " ended: " << v1::EndReason_Name(reason);
  }
  // Destroyed after mu_ is released: an export session's sink joins its threads.
  std::vector<std::shared_ptr<Session>> forgotten;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<absl::Time, std::string>> ended;
    for (const auto& [id, session] : sessions_) {
      if (!session->active()) ended.emplace_back(session->ended_at(), id);
    }
    std::sort(ended.begin(), ended.end());
    for (size_t i = 0; i < ended.size(); ++i) {
      const bool too_many = ended.size() - i > options_.max_ended_sessions;
      if (too_many || now - ended[i].first > options_.ended_retention) {
        auto it = sessions_.find(ended[i].second);
        forgotten.push_back(std::move(it->second));
        sessions_.erase(it);
      }
    }
  }
  absl::MutexLock control_lock(&control_mu_);
  if (absl::Status s = SyncFiltersLocked(); !s.ok()) {
    HT_LOG_EVERY_N_SEC(WARNING, 10) << "updating the kernel filter: " << s;
  }
}

void SessionManager::Shutdown() {
  control_->Flush();
  std::vector<std::shared_ptr<Session>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, session] : sessions_) all.push_back(session);
  }
  for (const auto& session : all) {
    session->End(v1::END_REASON_AGENT_SHUTDOWN, "the agent is shutting down", absl::Now());
  }
  absl::MutexLock control_lock(&control_mu_);
  if (absl::Status s = SyncFiltersLocked(); !s.ok()) {
    HT_LOG(WARNING) << "detaching probes at shutdown: " << s;
  }
}

}  // namespace httptrace::session
