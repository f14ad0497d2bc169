#include "agent/service/http_trace_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_join.h"
#include "agent/service/grpc_status.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::service {
namespace {

// How long a stream waits for new events before it checks whether the client went away.
constexpr absl::Duration kReadPoll = absl::Milliseconds(200);
// Events per stream message at most, and how long a batch waits for more after its first event.
constexpr size_t kMaxBatch = 256;
constexpr absl::Duration kBatchLinger = absl::Milliseconds(2);

class ReaderRegistration {
 public:
  explicit ReaderRegistration(session::Session* session) : session_(session) {
    session_->AddReader();
  }
  ~ReaderRegistration() { session_->RemoveReader(absl::Now()); }

 private:
  session::Session* session_;
};

}  // namespace

// One call's audit record, written once the call's outcome is known (Finish). Calls that touch a
// session are always recorded; status and list only when refused (a ctl asks them often, and
// they show no traffic).
class HttpTraceService::CallRecord {
 public:
  CallRecord(const HttpTraceService& service, const grpc::ServerContext& context, const char* call,
             const char* verb, bool always)
      : audit_(service.access_.audit), always_(always), who_(service.Identify(context)) {
    *record_.mutable_time() =
        google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(absl::Now()));
    *record_.mutable_caller() = auth::ToProto(who_);
    record_.set_call(call);
    record_.set_verb(verb);
  }
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  const auth::CallerIdentity& who() const { return who_; }
  v1::AuditRecord& record() { return record_; }
  void SetSession(const v1::SessionInfo& session) {
    record_.set_session_id(session.id());
    record_.set_request_json(auth::AuditRequestJson(session));
  }

  grpc::Status Finish(grpc::Status status) {
    if (audit_ == nullptr || (!always_ && status.ok())) return status;
    record_.set_code(std::string(GrpcStatusName(status.error_code())));
    if (!status.ok()) record_.set_message(status.error_message());
    audit_->Record(std::move(record_));
    return status;
  }
  grpc::Status Finish(const absl::Status& status) { return Finish(ToGrpcStatus(status)); }

 private:
  auth::AuditLog* const audit_;
  const bool always_;
  const auth::CallerIdentity who_;
  v1::AuditRecord record_;
};

HttpTraceService::HttpTraceService(ServiceInfo info, session::SessionManager* sessions,
                                   AgentStatusSource* status_source, AccessOptions access)
    : info_(std::move(info)),
      access_(access),
      sessions_(sessions),
      status_source_(status_source),
      started_at_(absl::Now()) {}

auth::CallerIdentity HttpTraceService::Identify(const grpc::ServerContext& context) const {
  return IdentifyCaller(context.peer(), context.auth_context().get(), access_.peers);
}

absl::StatusOr<const auth::PolicyRule*> HttpTraceService::Authorize(CallRecord& call,
                                                                    auth::Verb verb) const {
  if (access_.policy == nullptr) return nullptr;
  // The record names the rule that decided, whether it allowed the call or not.
  if (const auth::PolicyRule* matched = access_.policy->Match(call.who())) {
    call.record().set_rule(matched->name);
  }
  return access_.policy->Authorize(call.who(), verb);
}

grpc::Status HttpTraceService::StartCapture(grpc::ServerContext* context,
                                            const v1::StartCaptureRequest* request,
                                            v1::StartCaptureResponse* response) {
  CallRecord call(*this, *context, "StartCapture",
                  request->has_export_options() ? "export" : "start", /*always=*/true);
  call.record().set_request_json(auth::AuditRequestJson(*request));
  absl::StatusOr<const auth::PolicyRule*> rule =
      Authorize(call, request->has_export_options() ? auth::Verb::kExport : auth::Verb::kCapture);
  if (!rule.ok()) return call.Finish(rule.status());
  // The policy narrows the request itself, so the session's filter (and with it the kernel's)
  // holds only what the rule allows, whatever the client asked.
  auth::NarrowedCapture narrowed{*request, {}};
  if (*rule != nullptr) {
    absl::StatusOr<auth::NarrowedCapture> scoped =
        auth::NarrowCapture(**rule, *request, sessions_->defaults().body_limit_bytes);
    if (!scoped.ok()) return call.Finish(scoped.status());
    narrowed = *std::move(scoped);
  }
  absl::StatusOr<v1::SessionInfo> session = sessions_->Start(narrowed.request, narrowed.notes);
  if (!session.ok()) {
    HT_LOG(INFO) << "StartCapture refused: " << session.status();
    return call.Finish(session.status());
  }
  call.SetSession(*session);
  call.record().set_message(absl::StrJoin(narrowed.notes, "; "));
  *response->mutable_session() = *std::move(session);
  return call.Finish(grpc::Status::OK);
}

grpc::Status HttpTraceService::StopCapture(grpc::ServerContext* context,
                                           const v1::StopCaptureRequest* request,
                                           v1::StopCaptureResponse* response) {
  CallRecord call(*this, *context, "StopCapture", "stop", /*always=*/true);
  call.record().set_session_id(request->session_id());
  absl::StatusOr<const auth::PolicyRule*> rule = Authorize(call, auth::Verb::kCapture);
  if (!rule.ok()) return call.Finish(rule.status());
  if (request->session_id().empty()) {
    return call.Finish({grpc::StatusCode::INVALID_ARGUMENT, "session_id is required"});
  }
  if (*rule != nullptr) {
    absl::StatusOr<std::shared_ptr<session::Session>> found =
        sessions_->Find(request->session_id());
    if (!found.ok()) return call.Finish(found.status());
    const v1::SessionInfo info = (*found)->Info();
    call.SetSession(info);
    if (absl::Status s = auth::CheckSessionInScope(**rule, info); !s.ok()) return call.Finish(s);
  }
  absl::StatusOr<v1::SessionInfo> session = sessions_->Stop(request->session_id());
  if (!session.ok()) return call.Finish(session.status());
  call.SetSession(*session);
  *response->mutable_session() = *std::move(session);
  return call.Finish(grpc::Status::OK);
}

grpc::Status HttpTraceService::StreamSession(
    grpc::ServerContext* context, const v1::StreamEventsRequest& request, absl::Duration linger,
    absl::FunctionRef<void()> opened,
    absl::FunctionRef<bool(const std::vector<session::SequencedEvent>&)> send) {
  // Recorded when the stream opens or is refused: its end is the session's (or the client's).
  CallRecord call(*this, *context,
                  linger > absl::ZeroDuration() ? "StreamEventBatches" : "StreamEvents", "attach",
                  /*always=*/true);
  call.record().set_session_id(request.session_id());
  absl::StatusOr<const auth::PolicyRule*> rule = Authorize(call, auth::Verb::kCapture);
  if (!rule.ok()) return call.Finish(rule.status());
  if (request.session_id().empty()) {
    return call.Finish({grpc::StatusCode::INVALID_ARGUMENT, "session_id is required"});
  }
  absl::StatusOr<std::shared_ptr<session::Session>> found = sessions_->Find(request.session_id());
  if (!found.ok()) return call.Finish(found.status());
  session::Session& session = **found;
  const v1::SessionInfo info = session.Info();
  call.SetSession(info);
  if (*rule != nullptr) {
    if (absl::Status s = auth::CheckSessionInScope(**rule, info); !s.ok()) return call.Finish(s);
  }
  uint64_t next_seq = 0;
  if (request.has_from_seq()) {
    if (absl::Status s = session.CheckResumePoint(request.from_seq()); !s.ok()) {
      return call.Finish(s);
    }
    // from_seq 0 means the same as unset: the oldest retained event.
    next_seq = request.from_seq();
  }
  call.Finish(grpc::Status::OK);
  ReaderRegistration registration(&session);
  // Tell the client the stream is open before the first event, so it can report "attached".
  opened();
  while (!context->IsCancelled()) {
    session::Session::ReadResult batch = session.Read(&next_seq, kMaxBatch, kReadPoll);
    if (!batch.events.empty() && !batch.finished && linger > absl::ZeroDuration()) {
      // Under load more events follow within microseconds: one message for all of them costs
      // far less than one each. At low rates this adds at most `linger` of delay.
      // One wait for the rest of the batch: woken when it is full or the linger is over.
      session::Session::ReadResult more = session.Read(&next_seq, kMaxBatch - batch.events.size(),
                                                       linger, kMaxBatch - batch.events.size());
      batch.events.insert(batch.events.end(), std::make_move_iterator(more.events.begin()),
                          std::make_move_iterator(more.events.end()));
      batch.finished |= more.finished;
    }
    if (!batch.events.empty() && !send(batch.events)) {
      return {grpc::StatusCode::CANCELLED, "the client went away"};
    }
    if (batch.finished) return grpc::Status::OK;
  }
  return {grpc::StatusCode::CANCELLED, "the client cancelled the stream"};
}

grpc::Status HttpTraceService::StreamEvents(grpc::ServerContext* context,
                                            const v1::StreamEventsRequest* request,
                                            grpc::ServerWriter<v1::Event>* writer) {
  return StreamSession(
      context, *request, absl::ZeroDuration(), [&] { writer->SendInitialMetadata(); },
      [&](const std::vector<session::SequencedEvent>& events) {
        for (size_t i = 0; i < events.size(); ++i) {
          grpc::WriteOptions options;
          if (i + 1 < events.size()) options.set_buffer_hint();
          if (!writer->Write(session::WithSeq(events[i]), options)) return false;
        }
        return true;
      });
}

grpc::Status HttpTraceService::StreamEventBatches(grpc::ServerContext* context,
                                                  const v1::StreamEventsRequest* request,
                                                  grpc::ServerWriter<v1::EventBatch>* writer) {
  v1::EventBatch batch;
  return StreamSession(
      context, *request, kBatchLinger, [&] { writer->SendInitialMetadata(); },
      [&](const std::vector<session::SequencedEvent>& events) {
        batch.Clear();
        for (const session::SequencedEvent& e : events) {
          session::AppendSerialized(e, batch.add_events());
        }
        return writer->Write(batch);
      });
}

grpc::Status HttpTraceService::ListSessions(grpc::ServerContext* context,
                                            const v1::ListSessionsRequest*,
                                            v1::ListSessionsResponse* response) {
  CallRecord call(*this, *context, "ListSessions", "list", /*always=*/false);
  if (absl::StatusOr<const auth::PolicyRule*> rule = Authorize(call, auth::Verb::kList);
      !rule.ok()) {
    return call.Finish(rule.status());
  }
  for (v1::SessionInfo& info : sessions_->List()) *response->add_sessions() = std::move(info);
  return call.Finish(grpc::Status::OK);
}

grpc::Status HttpTraceService::GetStatus(grpc::ServerContext* context,
                                         const v1::GetStatusRequest* request,
                                         v1::GetStatusResponse* response) {
  CallRecord call(*this, *context, "GetStatus", "status", /*always=*/false);
  if (absl::StatusOr<const auth::PolicyRule*> rule = Authorize(call, auth::Verb::kStatus);
      !rule.ok()) {
    return call.Finish(rule.status());
  }
  response->set_policy(access_.policy != nullptr ? access_.policy->Summary() : "none");
  response->set_version(info_.version);
  response->set_node(info_.node);
  *response->mutable_started_at() =
      google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(started_at_));
  if (status_source_ != nullptr) status_source_->FillStatus(response);
  const session::MemoryBudget& budget = sessions_->memory_budget();
  auto& counters = *response->mutable_counters();
  counters["memory.budget_bytes"] = budget.limit();
  counters["memory.used_bytes"] = budget.used();
  counters["memory.peak_bytes"] = budget.peak();
  counters["memory.refused_bytes"] = budget.refused_bytes();
  counters["memory.refused_exchanges"] = budget.refused_charges();
  counters["session.exchanges_unmatched"] = sessions_->exchanges_unmatched();
  for (v1::SessionInfo& info : sessions_->List()) *response->add_sessions() = std::move(info);
  if (request->include_audit() && access_.audit != nullptr) access_.audit->Fill(response);
  return call.Finish(grpc::Status::OK);
}

}  // namespace httptrace::service
