#include "agent/cri/pod_filter.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "agent/cri/fake_runtime.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::cri {
namespace {

// A fake /proc: PID/ns/mnt files stand for mount namespaces (a file's inode number is what the
// filter reads), two processes sharing one namespace share one file through a hard link.
class PodFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = httptrace::test_support::MakeSocketDir("pod_filter_test");
    proc_ = dir_ + "/proc";
    mkdir(proc_.c_str(), 0755);
    auto runtime = FakeRuntime::Start(dir_ + "/runtime.sock");
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    runtime_ = *std::move(runtime);
    runtime_->AddSandbox(std::string(64, 'a'), "shop-1", "shop", "uid-shop-1");
    runtime_->AddSandbox(std::string(64, 'b'), "shop-2", "shop", "uid-shop-2");
    runtime_->AddSandbox(std::string(64, 'c'), "dns", "kube-system", "uid-dns");
    CriClientOptions options;
    options.endpoint = "unix://" + dir_ + "/runtime.sock";
    cri_ = *CriClient::Create(options);
  }
  void TearDown() override {
    runtime_.reset();
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }

  // Process `pid` in pod `uid` (empty: on the host) with mount namespace file `ns` (a file name
  // under dir_; created on first use).
  ino_t AddProcess(uint32_t pid, const std::string& uid, const std::string& ns) {
    const std::string pid_dir = proc_ + "/" + std::to_string(pid);
    mkdir(pid_dir.c_str(), 0755);
    mkdir((pid_dir + "/ns").c_str(), 0755);
    const std::string ns_file = dir_ + "/" + ns;
    if (access(ns_file.c_str(), F_OK) != 0) std::ofstream(ns_file).put('x');
    EXPECT_EQ(link(ns_file.c_str(), (pid_dir + "/ns/mnt").c_str()), 0) << strerror(errno);
    uids_[pid] = uid;
    struct stat st;
    stat(ns_file.c_str(), &st);
    return st.st_ino;
  }

  PodFilter Filter() {
    return PodFilter(
        cri_.get(), [this](uint32_t pid) { return uids_[pid]; }, proc_);
  }

  std::string dir_, proc_;
  std::unique_ptr<FakeRuntime> runtime_;
  std::unique_ptr<CriClient> cri_;
  std::map<uint32_t, std::string> uids_;
};

TEST_F(PodFilterTest, MountNamespacesOfEveryProcessOfTheNamedPods) {
  const ino_t shop1 = AddProcess(100, "uid-shop-1", "ns-shop-1");
  AddProcess(101, "uid-shop-1", "ns-shop-1");  // a second process of the same container
  const ino_t shop2 = AddProcess(200, "uid-shop-2", "ns-shop-2");
  const ino_t dns = AddProcess(300, "uid-dns", "ns-dns");
  AddProcess(1, "", "ns-host");
  std::vector<uint32_t> want = {static_cast<uint32_t>(shop1), static_cast<uint32_t>(shop2)};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(*Filter().MountNamespacesOf({"shop"}, {}), want);
  EXPECT_EQ(*Filter().MountNamespacesOf({}, {"dns"}),
            std::vector<uint32_t>{static_cast<uint32_t>(dns)});
  EXPECT_EQ(*Filter().MountNamespacesOf({"shop"}, {"shop-2"}),
            std::vector<uint32_t>{static_cast<uint32_t>(shop2)});
}

TEST_F(PodFilterTest, MatchedPodsAreKnownByUidWithoutAskingTheRuntimeAgain) {
  AddProcess(100, "uid-shop-1", "ns-shop-1");
  PodFilter filter = Filter();
  EXPECT_FALSE(filter.MatchedPod("uid-shop-1").has_value()) << "nothing matched yet";
  ASSERT_TRUE(filter.MountNamespacesOf({"shop"}, {}).ok());
  const int calls = runtime_->calls();
  std::optional<PodMetadata> pod = filter.MatchedPod("uid-shop-2");  // matched, no process yet
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->pod_name, "shop-2");
  EXPECT_EQ(pod->pod_namespace, "shop");
  EXPECT_FALSE(filter.MatchedPod("uid-dns").has_value()) << "not selected by the filter";
  EXPECT_EQ(runtime_->calls(), calls);
}

TEST_F(PodFilterTest, NoMatchingPodOrProcessIsAnEmptyList) {
  AddProcess(100, "uid-shop-1", "ns-shop-1");
  EXPECT_TRUE(Filter().MountNamespacesOf({"nowhere"}, {})->empty());
  EXPECT_TRUE(Filter().MountNamespacesOf({}, {"dns"})->empty()) << "pod without processes";
}

TEST_F(PodFilterTest, TheRuntimesErrorsAndAnEmptySelectorAreErrors) {
  EXPECT_EQ(Filter().MountNamespacesOf({}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  runtime_->Stop();
  EXPECT_EQ(Filter().MountNamespacesOf({"shop"}, {}).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace httptrace::cri
