#include "agent/session/session_manager.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

// Records what the manager asks of the probes. The real pipeline is exercised end to end in
// test/e2e; here the boundary is the CaptureControl interface itself.
class RecordingControl : public CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>& filters,
                            uint32_t body_limit_bytes) override {
    if (!fail_with.ok()) return fail_with;
    applied.push_back(filters.size());
    body_limits.push_back(body_limit_bytes);
    return absl::OkStatus();
  }
  void Flush() override {
    ++flushes;
    if (on_flush) on_flush();
  }
  std::vector<std::string> Notes() override { return notes; }

  absl::Status fail_with = absl::OkStatus();
  std::vector<size_t> applied;        // Number of active filters at each apply.
  std::vector<uint32_t> body_limits;  // The body limit passed at each apply.
  int flushes = 0;
  std::function<void()> on_flush;
  std::vector<std::string> notes;
};

v1::StartCaptureRequest Request(uint32_t port = 0) {
  v1::StartCaptureRequest request;
  if (port != 0) request.mutable_filter()->add_ports(port);
  return request;
}

v1::Exchange ExchangeOnPort(uint32_t port) {
  v1::Exchange exchange;
  exchange.mutable_connection()->mutable_local()->set_port(port);
  exchange.mutable_request()->set_method("GET");
  exchange.mutable_request()->set_target("/");
  return exchange;
}

std::vector<v1::Event> Drain(SessionManager& manager, const std::string& id) {
  std::shared_ptr<Session> session = *manager.Find(id);
  uint64_t next = 0;
  std::vector<v1::Event> events;
  for (const auto& e : session->Read(&next, 1000, absl::ZeroDuration()).events)
    events.push_back(WithSeq(e));
  return events;
}

// Ids have 8 hex digits; with a random part that repeats, the counter's low byte wraps after 256
// sessions and the next id is the first one again: a live session must never be replaced.
TEST(SessionManager, IdCollisionNeverReplacesAHeldSession) {
  RecordingControl control;
  SessionManagerOptions options;
  options.id_random = [] { return 0x123456u; };
  SessionManager manager(options, &control);
  const auto first = manager.Start(Request(8080));
  ASSERT_TRUE(first.ok());
  std::string last;
  for (int i = 0; i < 256; ++i) {
    const auto other = manager.Start(Request(9090));
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->id(), first->id()) << i;
    last = other->id();
    ASSERT_TRUE(manager.Stop(last).ok());
  }
  const auto kept = manager.Find(first->id());
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE((*kept)->active());
  EXPECT_EQ((*kept)->filter().ports(0), 8080u);
}

TEST(SessionManager, ProbesAttachWithFirstSessionAndDetachAfterLast) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  const auto a = manager.Start(Request(8080));
  const auto b = manager.Start(Request(9090));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id(), b->id());
  ASSERT_TRUE(manager.Stop(a->id()).ok());
  ASSERT_TRUE(manager.Stop(b->id()).ok());
  EXPECT_EQ(control.applied, (std::vector<size_t>{1, 2, 1, 0}));
}

// The probes copy an HTTP/1 message up to the largest body limit of the active sessions (and
// its headers): every start and stop tells them the new largest.
TEST(SessionManager, ProbesGetTheLargestBodyLimitOfTheActiveSessions) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions{}, &control);
  v1::StartCaptureRequest small = Request(8080);
  small.mutable_options()->set_body_limit_bytes(100);
  v1::StartCaptureRequest large = Request(9090);
  large.mutable_options()->set_body_limit_bytes(65536);
  const auto a = manager.Start(small);
  ASSERT_TRUE(a.ok());
  const auto b = manager.Start(large);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(manager.Stop(b->id()).ok());
  const auto c = manager.Start(Request(7070));  // the default body limit, 4096
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(control.body_limits, (std::vector<uint32_t>{100, 65536, 100, 4096}));
}

TEST(SessionManager, ExchangesReachOnlyMatchingSessions) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  const std::string a = manager.Start(Request(8080))->id();
  const std::string b = manager.Start(Request(9090))->id();
  manager.PublishExchange(ExchangeOnPort(8080));
  manager.PublishExchange(ExchangeOnPort(8080));
  manager.PublishExchange(ExchangeOnPort(9090));
  EXPECT_EQ(Drain(manager, a).size(), 2u);
  EXPECT_EQ(Drain(manager, b).size(), 1u);
}

TEST(SessionManager, StopFlushesThePipelineBeforeSessionEnd) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  const std::string id = manager.Start(Request())->id();
  // The exchange completes in the pipeline only when the stop flushes it.
  control.on_flush = [&] { manager.PublishExchange(ExchangeOnPort(1)); };
  const auto info = manager.Stop(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state(), v1::SESSION_STATE_ENDED);
  EXPECT_EQ(info->end_reason(), v1::END_REASON_STOPPED);
  const std::vector<v1::Event> events = Drain(manager, id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind_case(), v1::Event::kExchange);
  EXPECT_EQ(events[1].kind_case(), v1::Event::kEnd);
  EXPECT_EQ(events[1].end().counters().exchanges(), 1u);
}

TEST(SessionManager, ErrorsCarryTheRightCodes) {
  RecordingControl control;
  SessionManagerOptions options;
  options.max_sessions = 1;
  SessionManager manager(options, &control);
  EXPECT_EQ(manager.Stop("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager.Start(Request(70000)).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(manager.Start(Request()).ok());
  const auto second = manager.Start(Request());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(second.status().message().find("--max-sessions=1"), std::string::npos);
}

TEST(SessionManager, ProbeFailureFailsTheStartAndLeavesNoSession) {
  RecordingControl control;
  control.fail_with = absl::PermissionDeniedError("bpf(): operation not permitted");
  SessionManager manager(SessionManagerOptions(), &control);
  const auto started = manager.Start(Request());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(started.status().message().find("operation not permitted"), std::string::npos);
  EXPECT_TRUE(manager.List().empty());
}

TEST(SessionManager, MaxExchangesEndsTheSessionAndDetaches) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  v1::StartCaptureRequest request;
  request.mutable_options()->set_max_exchanges(2);
  const std::string id = manager.Start(request)->id();
  for (int i = 0; i < 3; ++i) manager.PublishExchange(ExchangeOnPort(1));
  const std::vector<v1::Event> events = Drain(manager, id);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].end().reason(), v1::END_REASON_MAX_EXCHANGES);
  manager.Tick(absl::Now());
  EXPECT_EQ(control.applied.back(), 0u);
}

TEST(SessionManager, TickEndsIdleSessionsAndForgetsOldEndedOnes) {
  RecordingControl control;
  SessionManagerOptions options;
  options.ended_retention = absl::Minutes(1);
  SessionManager manager(options, &control);
  v1::StartCaptureRequest request;
  request.mutable_options()->mutable_idle_timeout()->set_seconds(5);
  const std::string id = manager.Start(request)->id();
  manager.Tick(absl::Now() + absl::Seconds(6));
  EXPECT_EQ((*manager.Find(id))->Info().end_reason(), v1::END_REASON_IDLE_TIMEOUT);
  EXPECT_EQ(control.applied.back(), 0u);
  manager.Tick(absl::Now() + absl::Minutes(2));
  EXPECT_EQ(manager.Find(id).status().code(), absl::StatusCode::kNotFound);
}

TEST(SessionManager, LossReachesEveryActiveSession) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  const std::string a = manager.Start(Request(1))->id();
  const std::string b = manager.Start(Request(2))->id();
  v1::Loss loss;
  loss.set_reason(v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  loss.set_bytes(100);
  manager.PublishLoss(loss);
  EXPECT_EQ(Drain(manager, a)[0].loss().bytes(), 100u);
  EXPECT_EQ(Drain(manager, b)[0].loss().reason(), v1::LOSS_REASON_KERNEL_BUFFER_FULL);
}

TEST(SessionManager, ShutdownEndsEverySession) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions(), &control);
  const std::string id = manager.Start(Request())->id();
  manager.Shutdown();
  EXPECT_EQ((*manager.Find(id))->Info().end_reason(), v1::END_REASON_AGENT_SHUTDOWN);
  EXPECT_EQ(control.applied.back(), 0u);
}

// Libraries the capture could not probe reach the sessions' notes: at start, on each tick,
// and in SessionEnd. They were found in this (live) process, which the filter may match.
TEST(SessionManager, CaptureNotesReachActiveSessions) {
  RecordingControl control;
  const std::string self = absl::StrCat("/proc/", getpid(), "/root");
  control.notes = {"tls not probed (no_symbol): " + self + "/opt/libssl.so.1.0.0"};
  SessionManager manager(SessionManagerOptions(), &control);
  const auto started = manager.Start(Request(8080));
  ASSERT_TRUE(started.ok());
  ASSERT_EQ(started->notes_size(), 1);
  EXPECT_EQ(started->notes(0), control.notes[0]);

  control.notes.push_back("tls not probed (unreadable): " + self + "/usr/lib/libssl.so.3");
  manager.Tick(absl::Now());
  std::vector<v1::SessionInfo> listed = manager.List();
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_EQ(listed[0].notes_size(), 2);
  EXPECT_EQ(listed[0].notes(1), control.notes[1]);

  const auto stopped = manager.Stop(started->id());
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->notes_size(), 2);
  std::vector<v1::Event> events = Drain(manager, started->id());
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_end());
  EXPECT_EQ(events.back().end().notes_size(), 2);
}

// A plaintext-only session, or one whose filter names other processes, gets no TLS note.
TEST(SessionManager, TlsNotesOnlyWhereTheyConcernTheSession) {
  RecordingControl control;
  control.notes = {absl::StrCat("tls not probed (no_symbol): /proc/", getpid(), "/root/x.so")};
  SessionManager manager(SessionManagerOptions(), &control);
  v1::StartCaptureRequest plain = Request(8080);
  plain.mutable_filter()->set_tls(v1::TLS_PLAIN);
  v1::StartCaptureRequest other = Request(8080);
  other.mutable_filter()->add_process_names("no-such-comm");
  v1::StartCaptureRequest mine = Request(8080);
  mine.mutable_filter()->add_pids(static_cast<uint32_t>(getpid()));
  EXPECT_EQ(manager.Start(plain)->notes_size(), 0);
  EXPECT_EQ(manager.Start(other)->notes_size(), 0);
  EXPECT_EQ(manager.Start(mine)->notes_size(), 1);
}

}  // namespace
}  // namespace httptrace::session

namespace httptrace::session {
namespace {

// A sink that only reports itself, and reads like a reader would.
class FakeSink : public SessionSink {
 public:
  explicit FakeSink(Session* session) : session_(session) { session_->AddReader(); }
  void FillInfo(v1::SessionInfo* info) const override {
    info->mutable_export_status()->set_endpoint("otlp://fake:4317");
  }

 private:
  Session* session_;
};

TEST(SessionManager, ExportSessionsNeedASinkFactory) {
  RecordingControl control;
  SessionManager manager(SessionManagerOptions{}, &control);
  v1::StartCaptureRequest request = Request(80);
  request.mutable_export_options()->set_endpoint("otlp://fake:4317");
  EXPECT_EQ(manager.Start(request).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(manager.List().empty());
}

TEST(SessionManager, ExportSessionIsListedWithItsSinkAndHasNoIdleTimeout) {
  RecordingControl control;
  SessionManagerOptions options;
  int made = 0;
  options.sink_factory = [&made](Session* session, const v1::ExportOptions& export_options)
      -> absl::StatusOr<std::unique_ptr<SessionSink>> {
    if (export_options.endpoint() == "bad") return absl::InvalidArgumentError("bad endpoint");
    ++made;
    return std::make_unique<FakeSink>(session);
  };
  SessionManager manager(options, &control);
  v1::StartCaptureRequest bad = Request(80);
  bad.mutable_export_options()->set_endpoint("bad");
  EXPECT_EQ(manager.Start(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(manager.List().empty());

  v1::StartCaptureRequest request = Request(80);
  request.mutable_options()->mutable_idle_timeout()->set_seconds(1);
  request.mutable_export_options()->set_endpoint("otlp://fake:4317");
  absl::StatusOr<v1::SessionInfo> info = manager.Start(request);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(made, 1);
  EXPECT_EQ(info->export_status().endpoint(), "otlp://fake:4317");
  ASSERT_EQ(manager.List().size(), 1u);
  EXPECT_EQ(manager.List()[0].export_status().endpoint(), "otlp://fake:4317");
  // Long past the idle timeout: the sink is its reader, so the session stays.
  manager.Tick(absl::Now() + absl::Hours(1));
  EXPECT_EQ(manager.List()[0].state(), v1::SESSION_STATE_ACTIVE);
}

}  // namespace
}  // namespace httptrace::session
