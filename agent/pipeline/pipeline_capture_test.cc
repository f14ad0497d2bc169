// The pipeline with the real probes: connections tracked during one capture must not outlive it.
// Capture::Attach clears the kernel's connection tables, so a connection the agent still held
// from an earlier capture would never see its close; before, its engine sat in the table until
// the idle eviction and then published its pending request into whatever session was active.

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "agent/capture/capture_testing.h"
#include "agent/pipeline/pipeline.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::pipeline {
namespace {

using capture::testing::Connect;
using capture::testing::Listen;
using capture::testing::ReadExactly;
using capture::testing::WriteAll;

bool Transfer(int from, int to, const std::string& bytes) {
  std::string got(bytes.size(), '\0');
  return WriteAll(from, bytes.data(), bytes.size()) && ReadExactly(to, got.data(), got.size());
}

std::vector<std::string> Targets(session::SessionManager& manager, const std::string& id) {
  std::vector<std::string> targets;
  uint64_t next = 0;
  for (const auto& e : (*manager.Find(id))->Read(&next, 1000, absl::ZeroDuration()).events) {
    const v1::Event event = session::WithSeq(e);
    if (event.has_exchange()) targets.push_back(event.exchange().request().target());
  }
  return targets;
}

TEST(PipelineCaptureTest, ConnectionsOfAnEndedCaptureNeverReachALaterSession) {
  HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("loading the probes"));
  PipelineOptions options;
  options.capture.exclude_self = false;  // this test is its own traffic
  options.resolve_containers = false;
  options.idle_timeout = absl::Seconds(1);
  auto pipeline = Pipeline::Create(options);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  session::SessionManager manager(session::SessionManagerOptions(), pipeline->get());
  (*pipeline)->SetSessions(&manager);
  v1::StartCaptureRequest request;
  request.mutable_filter()->add_pids(getpid());

  auto listener = Listen(AF_INET);
  ASSERT_TRUE(listener.ok());
  const auto first = manager.Start(request);
  ASSERT_TRUE(first.ok()) << first.status();
  auto stale = Connect(*listener);
  ASSERT_TRUE(stale.ok());
  // A request that is never answered: pending in the engine when the capture ends.
  ASSERT_TRUE(
      Transfer(stale->client.get(), stale->server.get(), "GET /stale HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(manager.Stop(first->id()).ok());  // the last session: probes detach

  const auto second = manager.Start(request);
  ASSERT_TRUE(second.ok()) << second.status();
  // Past the idle timeout, a fresh exchange makes the pipeline do its housekeeping (idle
  // eviction runs on events); stopping the session is the flush barrier.
  absl::SleepFor(absl::Milliseconds(1300));
  for (const std::string target : {"/fresh1", "/fresh2"}) {
    auto fresh = Connect(*listener);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE(Transfer(fresh->client.get(), fresh->server.get(),
                         "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(Transfer(fresh->server.get(), fresh->client.get(),
                         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    absl::SleepFor(absl::Milliseconds(600));
  }
  ASSERT_TRUE(manager.Stop(second->id()).ok());
  const std::vector<std::string> targets = Targets(manager, second->id());
  // Both sides of the fresh exchanges, nothing of the earlier capture.
  EXPECT_EQ(targets, (std::vector<std::string>{"/fresh1", "/fresh1", "/fresh2", "/fresh2"}));
}

}  // namespace
}  // namespace httptrace::pipeline
