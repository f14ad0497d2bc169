#include "agent/cri/cri_client.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "agent/cri/fake_runtime.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::cri {
namespace {

const std::string kId(64, 'a');
const std::string kSandboxId(64, 'b');
const std::string kUnknownId(64, 'c');
constexpr char kUid[] = "0d9e6c2f-5b1a-4f7e-9c39-4f1f7e1f2a10";
constexpr char kCgroupUid[] = "11111111-2222-3333-4444-555555555555";

class CriClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = httptrace::test_support::MakeSocketDir("cri_client_test");
    socket_ = dir_ + "/runtime.sock";
  }
  void TearDown() override {
    runtime_.reset();
    unlink(socket_.c_str());
    rmdir(dir_.c_str());
  }

  void StartRuntime() {
    auto runtime = FakeRuntime::Start(socket_);
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    runtime_ = *std::move(runtime);
    runtime_->AddContainer(kId, "web", "shop-7d9f", "prod", kUid);
    runtime_->AddSandbox(kSandboxId, "shop-7d9f", "prod", kUid);
  }

  std::unique_ptr<CriClient> Client(absl::Duration timeout = absl::Milliseconds(250)) {
    CriClientOptions options;
    options.endpoint = "unix://" + socket_;
    options.call_timeout = timeout;
    options.retry_after = absl::Seconds(30);
    auto client = CriClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  std::string dir_, socket_;
  std::unique_ptr<FakeRuntime> runtime_;
};

TEST_F(CriClientTest, ContainerStatusGivesPodNameNamespaceUidAndContainerName) {
  StartRuntime();
  auto client = Client();
  PodMetadata pod = client->Lookup(kId, kCgroupUid);
  EXPECT_EQ(pod, (PodMetadata{"shop-7d9f", "prod", kUid, "web", true}));
}

TEST_F(CriClientTest, ASandboxIdIsAnsweredByPodSandboxStatus) {
  StartRuntime();
  auto pod = Client()->Query(kSandboxId);
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(*pod, (PodMetadata{"shop-7d9f", "prod", kUid, "", true}));
}

TEST_F(CriClientTest, AnswersAreCachedSoTheRuntimeIsAskedOnce) {
  StartRuntime();
  auto client = Client();
  client->Lookup(kId, "");
  const int calls = runtime_->calls();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client->Lookup(kId, "").pod_name, "shop-7d9f");
  EXPECT_EQ(runtime_->calls(), calls);
  EXPECT_EQ(client->Counters()["cri.cache_hits"], 5u);
}

TEST_F(CriClientTest, AnUnknownIdFallsBackToTheCgroupPodUidAndIsNotAskedAgainAtOnce) {
  StartRuntime();
  auto client = Client();
  EXPECT_EQ(client->Lookup(kUnknownId, kCgroupUid), (PodMetadata{"", "", kCgroupUid, "", false}));
  const int calls = runtime_->calls();
  EXPECT_EQ(calls, 2) << "ContainerStatus, then PodSandboxStatus";
  client->Lookup(kUnknownId, kCgroupUid);
  EXPECT_EQ(runtime_->calls(), calls);
  EXPECT_EQ(client->Counters()["cri.errors.not_found"], 1u);
  // Known containers are still answered: the runtime is up.
  EXPECT_EQ(client->Lookup(kId, "").pod_name, "shop-7d9f");
}

TEST_F(CriClientTest, ASlowRuntimeHitsTheDeadlineAndIsLeftAloneForAWhile) {
  StartRuntime();
  runtime_->SetDelay(absl::Seconds(5));
  auto client = Client(absl::Milliseconds(100));
  absl::Time start = absl::Now();
  EXPECT_EQ(client->Lookup(kId, kCgroupUid), (PodMetadata{"", "", kCgroupUid, "", false}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(client->Counters()["cri.errors.deadline"], 1u);
  // Further look-ups, of any id, do not wait on the slow runtime.
  start = absl::Now();
  EXPECT_FALSE(client->Lookup(kSandboxId, kCgroupUid).from_runtime);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(runtime_->calls(), 1);
}

TEST_F(CriClientTest, ARuntimeThatIsGoneGivesTheFallbackQuickly) {
  auto client = Client();  // nothing listens on the socket
  const absl::Time start = absl::Now();
  EXPECT_EQ(client->Lookup(kId, kCgroupUid), (PodMetadata{"", "", kCgroupUid, "", false}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(client->Counters()["cri.errors.unavailable"], 1u);
  EXPECT_EQ(client->Query(kId).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(CriClientTest, ARuntimeThatGoesAwayAfterAnsweringKeepsItsCachedAnswers) {
  StartRuntime();
  auto client = Client();
  EXPECT_TRUE(client->Lookup(kId, "").from_runtime);
  runtime_->Stop();
  EXPECT_EQ(client->Lookup(kId, "").pod_name, "shop-7d9f");
  EXPECT_FALSE(client->Lookup(kSandboxId, kCgroupUid).from_runtime);
  auto query = client->Query(kSandboxId);
  EXPECT_EQ(query.status().code(), absl::StatusCode::kUnavailable) << query.status();
}

TEST_F(CriClientTest, PodUidsOfSelectsReadyPodsByNamespaceAndName) {
  StartRuntime();
  runtime_->AddSandbox(std::string(64, 'd'), "shop-other", "prod", "uid-2");
  runtime_->AddSandbox(std::string(64, 'e'), "shop-7d9f", "staging", "uid-3");
  runtime_->AddSandbox(std::string(64, 'f'), "gone-pod", "prod", "uid-4", /*ready=*/false);
  auto client = Client();
  using V = std::vector<std::string>;
  EXPECT_EQ(*client->PodUidsOf({"prod"}, {}), (V{kUid, "uid-2"}));
  EXPECT_EQ(*client->PodUidsOf({}, {"shop-7d9f"}), (V{kUid, "uid-3"}));
  EXPECT_EQ(*client->PodUidsOf({"staging"}, {"shop-7d9f"}), (V{"uid-3"}));
  EXPECT_EQ(*client->PodUidsOf({"prod"}, {"gone-pod"}), V{}) << "not ready";
  EXPECT_EQ(*client->PodUidsOf({"kube-system"}, {}), V{});
  runtime_->Stop();
  EXPECT_EQ(client->PodUidsOf({"prod"}, {}).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(CriClientTest, PodUidsOfOnASlowRuntimeHitsItsDeadline) {
  StartRuntime();
  runtime_->SetDelay(absl::Seconds(5));
  CriClientOptions options;
  options.endpoint = "unix://" + socket_;
  options.list_timeout = absl::Milliseconds(100);
  auto client = CriClient::Create(options);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->PodUidsOf({"prod"}, {}).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(CriClientTest, VersionNamesTheRuntimeOrSaysWhyNot) {
  EXPECT_EQ(Client()->Version().status().code(), absl::StatusCode::kUnavailable);
  StartRuntime();
  auto version = Client()->Version();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, "containerd 1.7.2 (CRI v1)");
}

TEST(CriClientCreateTest, OnlyUnixSocketsAreAccepted) {
  EXPECT_EQ(CriClient::Create({.endpoint = "tcp://127.0.0.1:1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto client = CriClient::Create({.endpoint = "/run/containerd/containerd.sock"});
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->endpoint(), "unix:///run/containerd/containerd.sock");
}

}  // namespace
}  // namespace httptrace::cri
