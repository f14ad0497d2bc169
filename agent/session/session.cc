#include "agent/session/session.h"

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/session/filter.h"
#include "agent/session/redaction.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::session {
namespace {

using google::protobuf::util::TimeUtil;

constexpr absl::string_view kRedacted = kRedactedMarker;

// Bounds on what a client may add to the redaction lists: each name is compared for every
// parameter and body field of every exchange.
constexpr int kMaxRedactNames = 64;
constexpr size_t kMaxRedactNameBytes = 256;

absl::Duration ToAbslDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

std::vector<std::string> LowercaseRedactionList(const v1::CaptureOptions& options) {
  std::vector<std::string> names;
  if (options.no_redact()) return names;
  for (const std::string& name : options.redact_headers()) {
    names.push_back(absl::AsciiStrToLower(name));
  }
  return names;
}

std::unique_ptr<const Redactor> RedactorFor(const v1::CaptureOptions& options) {
  if (options.no_redact()) return nullptr;
  return std::make_unique<const Redactor>(
      std::vector<std::string>(options.redact_params().begin(), options.redact_params().end()),
      std::vector<std::string>(options.redact_body_fields().begin(),
                               options.redact_body_fields().end()));
}

void RedactList(const std::vector<std::string>& names,
                google::protobuf::RepeatedPtrField<v1::Header>* headers) {
  for (v1::Header& header : *headers) {
    const std::string lower = absl::AsciiStrToLower(header.name());
    if (std::find(names.begin(), names.end(), lower) != names.end()) {
      header.set_value(std::string(kRedacted));
      header.set_redacted(true);
    }
  }
}

void TrimBody(uint32_t limit, v1::Body* body) {
  if (body->data().size() > limit) {
    body->mutable_data()->resize(limit);
    body->set_truncated(true);
  }
}

// The gRPC messages of one direction keep at most `limit` payload bytes together, as the body
// does (the engine cuts them the same way at the agent's limit).
uint64_t GrpcKeptBytes(const v1::GrpcMessages& messages) {
  uint64_t kept = 0;
  for (const v1::GrpcMessage& message : messages.messages()) kept += message.data().size();
  return kept;
}

void TrimGrpc(uint32_t limit, v1::GrpcMessages* messages) {
  uint64_t left = limit;
  for (v1::GrpcMessage& message : *messages->mutable_messages()) {
    if (message.data().size() > left) message.mutable_data()->resize(left);
    left -= message.data().size();
  }
}

// Header names compared as HTTP does. The length first, inline: most names differ in length, and
// EqualsIgnoreCase is a call into abseil (it showed in the worker's profile: every header of
// every exchange meets several names here).
bool SameName(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && absl::EqualsIgnoreCase(a, b);
}

bool AnyListed(const std::vector<std::string>& lowercase_names,
               const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  for (const v1::Header& header : headers) {
    for (const std::string& name : lowercase_names) {
      if (SameName(header.name(), name)) return true;
    }
  }
  return false;
}

// Headers whose value is a URL (or a request path) and so may carry the target's secrets: an
// HTTP/2 request keeps its :path beside the target; an OAuth redirect's Location holds the
// `code` the next request's target will.
bool IsUrlHeader(absl::string_view name) {
  return SameName(name, ":path") || SameName(name, "location") ||
         SameName(name, "content-location") || SameName(name, "referer");
}

absl::string_view ContentTypeOf(const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  for (const v1::Header& header : headers) {
    if (SameName(header.name(), "content-type")) return header.value();
  }
  return "";
}

bool UrlHeadersHaveSecrets(const Redactor& redactor,
                           const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  for (const v1::Header& header : headers) {
    if (IsUrlHeader(header.name()) && !header.redacted() &&
        redactor.TargetHasSecret(header.value())) {
      return true;
    }
  }
  return false;
}

void RedactUrlHeaders(const Redactor& redactor,
                      google::protobuf::RepeatedPtrField<v1::Header>* headers) {
  for (v1::Header& header : *headers) {
    if (IsUrlHeader(header.name()) && !header.redacted()) {
      redactor.RedactTarget(header.mutable_value());
    }
  }
}

// Whether `redactor` finds a secret in the target, a URL-valued header or the part of a body a
// session keeping `body_limit` bytes holds (the agent may have kept far more).
bool HasSecrets(const Redactor& redactor, uint32_t body_limit, const v1::Exchange& exchange) {
  const auto kept = [body_limit](const v1::Body& body) {
    return absl::string_view(body.data()).substr(0, body_limit);
  };
  if (exchange.has_request()) {
    const v1::HttpRequest& request = exchange.request();
    if (redactor.TargetHasSecret(request.target()) ||
        UrlHeadersHaveSecrets(redactor, request.headers()) ||
        redactor.BodyHasSecret(ContentTypeOf(request.headers()), kept(request.body()))) {
      return true;
    }
  }
  if (exchange.has_response()) {
    const v1::HttpResponse& response = exchange.response();
    if (UrlHeadersHaveSecrets(redactor, response.headers()) ||
        redactor.BodyHasSecret(ContentTypeOf(response.headers()), kept(response.body()))) {
      return true;
    }
  }
  return false;
}

// Whether a session with this body limit and redaction would change `exchange`.
bool NeedsVariant(uint32_t body_limit, const std::vector<std::string>& redacted,
                  const Redactor* redactor, const v1::Exchange& exchange) {
  if (exchange.request().body().data().size() > body_limit ||
      exchange.response().body().data().size() > body_limit) {
    return true;
  }
  if (exchange.has_grpc() && (GrpcKeptBytes(exchange.grpc().request()) > body_limit ||
                              GrpcKeptBytes(exchange.grpc().response()) > body_limit)) {
    return true;
  }
  if (!redacted.empty() && (AnyListed(redacted, exchange.request().headers()) ||
                            AnyListed(redacted, exchange.request().trailers()) ||
                            AnyListed(redacted, exchange.response().headers()) ||
                            AnyListed(redacted, exchange.response().trailers()))) {
    return true;
  }
  return redactor != nullptr && HasSecrets(*redactor, body_limit, exchange);
}

absl::Status CheckRedactNames(const google::protobuf::RepeatedPtrField<std::string>& names,
                              absl::string_view field) {
  if (names.size() > kMaxRedactNames) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": at most ", kMaxRedactNames, " names, got ", names.size()));
  }
  for (const std::string& name : names) {
    if (NormalizeSecretName(name).empty() || name.size() > kMaxRedactNameBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": \"", absl::CEscape(name.substr(0, 64)), "\" is not a name (1 to ",
                       kMaxRedactNameBytes, " bytes, not only '_' and '-')"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::CaptureOptions> NormalizeOptions(const v1::CaptureOptions& options,
                                                    const SessionDefaults& defaults) {
  v1::CaptureOptions out = options;
  if (!out.has_body_limit_bytes()) out.set_body_limit_bytes(defaults.body_limit_bytes);
  if (out.no_redact() && out.redact_headers_size() > 0) {
    return absl::InvalidArgumentError("no_redact and redact_headers cannot both be set");
  }
  if (out.no_redact() && (out.redact_params_size() > 0 || out.redact_body_fields_size() > 0)) {
    return absl::InvalidArgumentError(
        "no_redact and redact_params/redact_body_fields cannot both be set");
  }
  if (absl::Status s = CheckRedactNames(out.redact_params(), "redact_params"); !s.ok()) return s;
  if (absl::Status s = CheckRedactNames(out.redact_body_fields(), "redact_body_fields"); !s.ok()) {
    return s;
  }
  if (!out.no_redact() && out.redact_headers_size() == 0) {
    for (const char* name : {"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}) {
      out.add_redact_headers(name);
    }
  }
  for (const std::string& name : out.redact_headers()) {
    if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("redact_headers: \"", name, "\" is not a header name"));
    }
  }
  if (out.max_duration().seconds() < 0 || out.max_duration().nanos() < 0) {
    return absl::InvalidArgumentError("max_duration must not be negative");
  }
  if (out.idle_timeout().seconds() < 0 || out.idle_timeout().nanos() < 0) {
    return absl::InvalidArgumentError("idle_timeout must not be negative");
  }
  if (ToAbslDuration(out.idle_timeout()) == absl::ZeroDuration()) {
    *out.mutable_idle_timeout() =
        TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(defaults.idle_timeout));
  }
  if (out.queue_capacity() == 0) out.set_queue_capacity(defaults.queue_capacity);
  if (out.queue_capacity() > defaults.max_queue_capacity) {
    return absl::InvalidArgumentError(absl::StrCat("queue_capacity: at most ",
                                                   defaults.max_queue_capacity, " events, got ",
                                                   out.queue_capacity()));
  }
  return out;
}

void RedactSecrets(const Redactor& redactor, v1::Exchange* exchange) {
  if (exchange->has_request()) {
    v1::HttpRequest* request = exchange->mutable_request();
    redactor.RedactTarget(request->mutable_target());
    RedactUrlHeaders(redactor, request->mutable_headers());
    if (request->has_body()) {
      redactor.RedactBody(ContentTypeOf(request->headers()),
                          request->mutable_body()->mutable_data());
    }
  }
  if (exchange->has_response()) {
    v1::HttpResponse* response = exchange->mutable_response();
    RedactUrlHeaders(redactor, response->mutable_headers());
    if (response->has_body()) {
      redactor.RedactBody(ContentTypeOf(response->headers()),
                          response->mutable_body()->mutable_data());
    }
  }
}

void RedactHeaders(const std::vector<std::string>& lowercase_names, v1::Exchange* exchange) {
  if (lowercase_names.empty()) return;
  // mutable_request() would create an empty request where none was captured (rendered as an
  // empty request line, and `"request":{}` instead of null in jsonl).
  if (exchange->has_request()) {
    RedactList(lowercase_names, exchange->mutable_request()->mutable_headers());
    RedactList(lowercase_names, exchange->mutable_request()->mutable_trailers());
  }
  if (exchange->has_response()) {
    RedactList(lowercase_names, exchange->mutable_response()->mutable_headers());
    RedactList(lowercase_names, exchange->mutable_response()->mutable_trailers());
  }
}

Session::Session(std::string id, v1::Filter filter, v1::CaptureOptions options, absl::Time now,
                 MemoryBudget* budget)
    : id_(std::move(id)),
      filter_(std::move(filter)),
      options_(std::move(options)),
      started_at_(now),
      max_duration_(ToAbslDuration(options_.max_duration())),
      idle_timeout_(ToAbslDuration(options_.idle_timeout())),
      redacted_lowercase_(LowercaseRedactionList(options_)),
      redactor_(RedactorFor(options_)),
      budget_(budget),
      last_reader_seen_(now) {}

Session::~Session() {
  sink_.reset();  // its threads read this session
  absl::MutexLock lock(&mu_);
  while (!queue_.empty()) PopFrontLocked();
}

void Session::PopFrontLocked() {
  if (budget_ != nullptr) budget_->Release(queue_.front().charged);
  queue_.pop_front();
}

bool Session::MakeRoomLocked() {
  while (queue_.size() >= options_.queue_capacity()) {
    if (queue_.front().event.seq > delivered_through_) return false;
    PopFrontLocked();
  }
  return true;
}

bool Session::PushLocked(EventPtr event, bool force) {
  if (!MakeRoomLocked() && !force) return false;
  uint64_t charged = 0;
  if (budget_ != nullptr) {
    // What holding its bytes costs. A shared event is charged to each session that holds it:
    // an over-estimate.
    charged = HeldBytes(*event);
    if (force) {
      budget_->ForceCharge(charged);
    } else if (!budget_->TryCharge(charged)) {
      return false;
    }
  }
  end_queued_ |= event->kind == v1::Event::kEnd;
  queue_.push_back({{next_seq_++, std::move(event)}, charged});
  return true;
}

EventPtr Session::Variant(const PublishedEvent& published) const {
  if (!NeedsVariant(options_.body_limit_bytes(), redacted_lowercase_, redactor_.get(),
                    published.event().exchange())) {
    return published.Shared();
  }
  v1::Event copy = published.event();
  v1::Exchange* exchange = copy.mutable_exchange();
  // mutable_request() on an exchange without one would create an empty request.
  if (exchange->has_request()) {
    TrimBody(options_.body_limit_bytes(), exchange->mutable_request()->mutable_body());
  }
  if (exchange->has_response()) {
    TrimBody(options_.body_limit_bytes(), exchange->mutable_response()->mutable_body());
  }
  if (exchange->has_grpc()) {
    TrimGrpc(options_.body_limit_bytes(), exchange->mutable_grpc()->mutable_request());
    TrimGrpc(options_.body_limit_bytes(), exchange->mutable_grpc()->mutable_response());
  }
  RedactHeaders(redacted_lowercase_, exchange);
  // After trimming: what is hidden is what the session keeps (a value cut by the limit is
  // hidden as far as it goes).
  if (redactor_ != nullptr) RedactSecrets(*redactor_, exchange);
  return Serialize(copy);
}

bool Session::PushLossMarkerLocked(v1::LossReason reason, uint64_t* pending, std::string detail,
                                   bool force) {
  v1::Event event;
  v1::Loss* loss = event.mutable_loss();
  loss->set_reason(reason);
  loss->set_exchanges(*pending);
  loss->set_detail(std::move(detail));
  // Like the exchanges it reports, a marker waits for room in the queue and the memory budget
  // (one marker, its count growing), except when the session ends.
  if (!PushLocked(Serialize(event), force)) return false;
  ++loss_events_;
  *pending = 0;
  return true;
}

void Session::FlushPendingLossLocked(bool force) {
  if (pending_dropped_exchanges_ > 0 &&
      !PushLossMarkerLocked(
          v1::LOSS_REASON_SLOW_READER, &pending_dropped_exchanges_,
          absl::StrCat(pending_dropped_exchanges_, " exchange(s) dropped: the session queue (",
                       options_.queue_capacity(),
                       " events) was full of events no reader had received; read faster, narrow "
                       "the filter or raise the queue capacity"),
          force)) {
    return;
  }
  if (pending_budget_refused_ > 0) {
    PushLossMarkerLocked(
        v1::LOSS_REASON_LIMIT, &pending_budget_refused_,
        absl::StrCat(pending_budget_refused_, " exchange(s) dropped: the agent's memory budget (",
                     budget_->limit() >> 20,
                     " MiB for what sessions hold) was spent; read faster, lower --body-limit, "
                     "narrow the filter or raise the agent's --memory-budget-mb"),
        force);
  }
}

bool Session::OfferExchange(const PublishedEvent& published, bool* matched) {
  if (!MatchesFilter(filter_, published.event().exchange())) return false;
  // Outside the lock: a variant copies, serializing takes time, and readers must not wait.
  EventPtr kept = Variant(published);
  absl::MutexLock lock(&mu_);
  if (!active_) return false;
  if (matched != nullptr) *matched = true;
  FlushPendingLossLocked(/*force=*/false);
  if (pending_dropped_exchanges_ > 0 || !MakeRoomLocked()) {
    ++pending_dropped_exchanges_;
    ++exchanges_lost_;
  } else if (pending_budget_refused_ > 0 || !PushLocked(std::move(kept), /*force=*/false)) {
    // Room in the queue but not in the memory budget.
    ++pending_budget_refused_;
    ++exchanges_lost_;
  } else {
    ++exchanges_;
  }
  return options_.max_exchanges() > 0 && exchanges_ >= options_.max_exchanges();
}

void Session::OfferLoss(const v1::Loss& loss) {
  absl::MutexLock lock(&mu_);
  if (!active_) return;
  exchanges_lost_ += loss.exchanges();
  bytes_lost_ += loss.bytes();
  FlushPendingLossLocked(/*force=*/false);
  // Repeated losses while nobody reads merge into the newest unread marker, so a storm of
  // kernel drops cannot grow the queue past its capacity.
  if (!queue_.empty() && queue_.back().event.seq > delivered_through_ &&
      queue_.back().event.event->kind == v1::Event::kLoss) {
    v1::Event merged = WithSeq({0, queue_.back().event.event});
    if (merged.loss().reason() == loss.reason()) {
      // Unread, so no reader holds it: replace it with the merged marker. Its charge stays the
      // first marker's (the counts' varints and the newest detail change its size slightly).
      v1::Loss* last = merged.mutable_loss();
      last->set_exchanges(last->exchanges() + loss.exchanges());
      last->set_bytes(last->bytes() + loss.bytes());
      last->set_events(last->events() + loss.events());
      last->set_detail(loss.detail());
      queue_.back().event.event = Serialize(merged);
      return;
    }
  }
  v1::Event event;
  *event.mutable_loss() = loss;
  // A loss marker matters more than the exchange it would displace: it may exceed the capacity.
  PushLocked(Serialize(event), /*force=*/true);
  ++loss_events_;
}

void Session::End(v1::EndReason reason, std::string detail, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (!active_) return;
  FlushPendingLossLocked(/*force=*/true);
  active_ = false;
  ended_at_ = now;
  end_reason_ = reason;
  v1::Event event;
  v1::SessionEnd* end = event.mutable_end();
  end->set_reason(reason);
  end->set_detail(std::move(detail));
  // The end event's own sequence number is counted in next_seq.
  *end->mutable_counters() = CountersLocked();
  end->mutable_counters()->set_next_seq(next_seq_ + 1);
  NotesLocked(end->mutable_notes());
  PushLocked(Serialize(event), /*force=*/true);
}

bool Session::active() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

absl::Time Session::ended_at() const {
  absl::MutexLock lock(&mu_);
  return ended_at_;
}

std::optional<v1::EndReason> Session::DueToEnd(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  if (!active_) return std::nullopt;
  if (max_duration_ > absl::ZeroDuration() && now - started_at_ >= max_duration_) {
    return v1::END_REASON_MAX_DURATION;
  }
  if (readers_ == 0 && now - last_reader_seen_ >= idle_timeout_) {
    return v1::END_REASON_IDLE_TIMEOUT;
  }
  return std::nullopt;
}

absl::Status Session::CheckResumePoint(uint64_t from_seq) const {
  absl::MutexLock lock(&mu_);
  if (from_seq > next_seq_) {
    return absl::OutOfRangeError(absl::StrCat(
        "from_seq ", from_seq, " is beyond the session's next sequence number ", next_seq_));
  }
  return absl::OkStatus();
}

Session::ReadResult Session::Read(uint64_t* next_seq, size_t max_events, absl::Duration timeout,
                                  size_t min_events) {
  ReadResult result;
  absl::MutexLock lock(&mu_);
  const uint64_t oldest = queue_.empty() ? next_seq_ : queue_.front().event.seq;
  if (*next_seq == 0) *next_seq = oldest;
  if (*next_seq < oldest) {
    v1::Event gap;
    v1::Loss* loss = gap.mutable_loss();
    loss->set_reason(v1::LOSS_REASON_RESUME_GAP);
    loss->set_events(oldest - *next_seq);
    loss->set_detail(absl::StrCat("events ", *next_seq, "..", oldest - 1,
                                  " are no longer held by the agent; continuing at ", oldest));
    result.events.push_back({0, Serialize(gap)});
    *next_seq = oldest;
  }
  if (result.events.empty() && next_seq_ - std::min(*next_seq, next_seq_) < min_events) {
    // Woken only once enough events are there (or the session's end): the mutex evaluates the
    // condition for the publishing thread as it unlocks, so a reader waiting for a batch costs
    // the publisher no wake-up per event.
    struct Enough {
      const Session* session;
      uint64_t from;
      size_t wanted;
      bool operator()() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return session->next_seq_ - std::min(from, session->next_seq_) >= wanted ||
               session->end_queued_;
      }
    } enough{this, *next_seq, min_events};
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  const uint64_t first = queue_.empty() ? next_seq_ : queue_.front().event.seq;
  for (uint64_t seq = std::max(*next_seq, first); seq < next_seq_; ++seq) {
    if (result.events.size() >= max_events) break;
    const SequencedEvent& event = queue_[seq - first].event;
    result.events.push_back(event);
    *next_seq = seq + 1;
    if (event.event->kind == v1::Event::kEnd) result.finished = true;
  }
  if (*next_seq > 0) delivered_through_ = std::max(delivered_through_, *next_seq - 1);
  return result;
}

void Session::AddReader() {
  absl::MutexLock lock(&mu_);
  ++readers_;
}

void Session::RemoveReader(absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (readers_ > 0) --readers_;
  last_reader_seen_ = now;
}

v1::SessionCounters Session::CountersLocked() const {
  v1::SessionCounters counters;
  counters.set_exchanges(exchanges_);
  counters.set_exchanges_lost(exchanges_lost_);
  counters.set_bytes_lost(bytes_lost_);
  counters.set_loss_events(loss_events_);
  counters.set_next_seq(next_seq_);
  counters.set_oldest_retained_seq(queue_.empty() ? 0 : queue_.front().event.seq);
  return counters;
}

v1::SessionInfo Session::Info() const {
  v1::SessionInfo info;
  if (sink_ != nullptr) sink_->FillInfo(&info);  // outside mu_: the sink may read the session
  absl::MutexLock lock(&mu_);
  info.set_id(id_);
  *info.mutable_filter() = filter_;
  *info.mutable_options() = options_;
  info.set_state(active_ ? v1::SESSION_STATE_ACTIVE : v1::SESSION_STATE_ENDED);
  *info.mutable_started_at() = ToProtoTime(started_at_);
  if (!active_) {
    *info.mutable_ended_at() = ToProtoTime(ended_at_);
    info.set_end_reason(end_reason_);
  }
  *info.mutable_counters() = CountersLocked();
  info.set_readers(readers_);
  NotesLocked(info.mutable_notes());
  return info;
}

void Session::CountNotTraced(uint16_t port, bool server) {
  absl::MutexLock lock(&mu_);
  if (!active_) return;
  NotTraced* entry = nullptr;
  for (NotTraced& known : not_traced_) {
    if (known.port == port) entry = &known;
  }
  if (entry == nullptr && not_traced_.size() < kMaxNotTracedPorts) {
    entry = &not_traced_.emplace_back(NotTraced{.port = port});
  }
  if (entry == nullptr) entry = &not_traced_other_ports_;
  ++(server ? entry->server_ends : entry->client_ends);
}

void Session::AddNotes(const std::vector<std::string>& notes) {
  absl::MutexLock lock(&mu_);
  if (!active_) return;
  // The caller passes its whole current list each time: what does not fit is counted from
  // the largest such list, not summed over calls.
  uint64_t dropped = 0;
  for (const std::string& note : notes) {
    if (std::find(notes_.begin(), notes_.end(), note) != notes_.end()) continue;
    if (notes_.size() >= kMaxNotes) {
      ++dropped;
      continue;
    }
    notes_.push_back(note);
  }
  notes_dropped_ = std::max(notes_dropped_, dropped);
}

template <typename Repeated>
void Session::NotesLocked(Repeated* out) const {
  for (const std::string& note : notes_) out->Add(std::string(note));
  if (notes_dropped_ > 0) {
    out->Add(absl::StrCat("and ", notes_dropped_, " more note(s) not kept"));
  }
  auto describe = [](const NotTraced& n, absl::string_view where) {
    return absl::StrCat(std::max(n.server_ends, n.client_ends), " connection(s) ", where,
                        " not traced: not HTTP/1.x or HTTP/2 (", n.server_ends, " server end(s), ",
                        n.client_ends, " client end(s) seen)");
  };
  for (const NotTraced& n : not_traced_) {
    out->Add(describe(n, absl::StrCat("on port ", n.port)));
  }
  const NotTraced& other = not_traced_other_ports_;
  if (other.server_ends + other.client_ends > 0) out->Add(describe(other, "on other ports"));
}

}  // namespace httptrace::session
