#include "cli/status_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

v1::GetStatusResponse Answer(uint64_t exchanges, uint64_t ringbuf_full, bool attached,
                             int active_sessions) {
  v1::GetStatusResponse r;
  (*r.mutable_counters())["pipeline.exchanges"] = exchanges;
  (*r.mutable_counters())["kernel.ringbuf_full"] = ringbuf_full;
  r.mutable_probes()->set_attached(attached);
  r.mutable_probes()->set_mode(v1::ATTACH_MODE_RAW_TRACEPOINTS);
  r.mutable_probes()->add_programs("sys_exit");
  r.mutable_probes()->add_programs("tls openssl /usr/lib/libssl.so.3 (8 uprobes)");
  r.mutable_probes()->add_programs("tls not probed (no_symbol): /usr/bin/node");
  for (int i = 0; i < active_sessions; ++i) {
    r.add_sessions()->set_state(v1::SESSION_STATE_ACTIVE);
  }
  return r;
}

TEST(Assess, HealthyIdleAgentSaysWhyNothingIsAttached) {
  const v1::GetStatusResponse now = Answer(0, 0, false, 0);
  const Health h = Assess(now, &now, absl::Seconds(1));
  EXPECT_EQ(h.word, "healthy");
  EXPECT_THAT(h.lines, ElementsAre("probes:   ready; they attach while a capture runs (none now); "
                                   "TLS: 1 library probed, 1 not (status --counters lists them)",
                                   "sessions: 0 active, 0 ended",
                                   "traffic:  0.0 exchanges/s now, 0 exchange(s) since start",
                                   "losses:   none since start"));
}

TEST(Assess, RateOverTheSampleAndLossesSinceStartByReason) {
  const v1::GetStatusResponse before = Answer(100, 3, true, 1);
  const v1::GetStatusResponse now = Answer(150, 3, true, 1);
  const Health h = Assess(now, &before, absl::Milliseconds(500));
  EXPECT_EQ(h.word, "healthy") << "old losses do not make it degraded";
  EXPECT_DOUBLE_EQ(h.exchanges_per_second, 100.0);
  EXPECT_THAT(h.lines[0], HasSubstr("attached via raw tracepoints (1 programs)"));
  EXPECT_EQ(h.lines[2], "traffic:  100.0 exchanges/s now, 150 exchange(s) since start");
  EXPECT_EQ(h.lines[3], "losses:   kernel_buffer_full 3 event(s) the ring buffer refused");
}

TEST(Assess, LosingNowIsDegradedAndSessionsWithoutProbesAreNotHealthy) {
  const v1::GetStatusResponse before = Answer(100, 3, true, 1);
  const Health losing = Assess(Answer(150, 9, true, 1), &before, absl::Seconds(1));
  EXPECT_EQ(losing.word, "degraded");
  EXPECT_EQ(losing.why, "losing data now (kernel_buffer_full)");
  v1::GetStatusResponse broken = Answer(0, 0, false, 2);
  broken.mutable_probes()->set_detail("attach failed: EPERM");
  const Health h = Assess(broken, nullptr, absl::ZeroDuration());
  EXPECT_EQ(h.word, "NOT healthy");
  EXPECT_EQ(h.why, "sessions are active but the probes are not attached");
  EXPECT_THAT(h.lines[0], HasSubstr("NOT attached although 2 session(s) are active: attach "
                                    "failed: EPERM"));
  EXPECT_EQ(h.lines[2], "traffic:  0 exchange(s) since start");
}

TEST(AuditLines, SayWhoDidWhatToWhichSessionAndWhatWasDropped) {
  v1::GetStatusResponse status;
  v1::AuditRecord& start = *status.add_audit();
  start.mutable_time()->set_seconds(1796677200);  // 2026-12-07T21:00:00Z
  start.set_verb("start");
  start.set_code("OK");
  start.mutable_caller()->set_transport("unix");
  start.mutable_caller()->set_uid(1000);
  start.mutable_caller()->set_gid(100);
  start.mutable_caller()->set_pid(4242);
  start.mutable_caller()->set_comm("httptracectl");
  start.set_session_id("4f1c0a01");
  start.set_rule("team-a");
  start.set_request_json(R"({"filter":{"pod_namespaces":["team-a"]}})");
  v1::AuditRecord& refused = *status.add_audit();
  refused.mutable_time()->set_seconds(1796677201);
  refused.set_verb("start");
  refused.set_code("PERMISSION_DENIED");
  refused.set_message("policy rule viewers does not allow start");
  refused.mutable_caller()->set_transport("mtls");
  refused.mutable_caller()->set_subject("CN=team-b");
  refused.mutable_caller()->add_sans("team-b.example.com");
  status.set_audit_dropped(7);
  EXPECT_THAT(
      AuditLines(status, absl::UTCTimeZone()),
      ElementsAre("2026-12-07 21:00:00  start  OK                uid 1000 gid 100 pid 4242 "
                  "(httptracectl)  session 4f1c0a01  rule team-a  "
                  R"({"filter":{"pod_namespaces":["team-a"]}})",
                  "2026-12-07 21:00:01  start  PERMISSION_DENIED subject CN=team-b SANs "
                  "team-b.example.com  (policy rule viewers does not allow start)",
                  "(7 older record(s) no longer kept in memory: the agent's audit log has them)"));
  EXPECT_THAT(AuditLines(v1::GetStatusResponse(), absl::UTCTimeZone()),
              ElementsAre("(no audit records yet)"));
}

}  // namespace
}  // namespace httptrace::cli
