// ContainerResolver against a real podman: a container started here is found by its cgroup, gets
// its name from podman's own containers.json with no API service running, and from `podman
// system service` over the Docker-compatible API when only that is given; its mount namespace is
// what a filter by name or id prefix yields. Skips (saying why) only where podman cannot run.

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/container/container_resolver.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::container {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CommandResult Shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string Trimmed(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

class PodmanResolverTest : public testing::Test {
 protected:
  void SetUp() override {
    // The project's podman settings (runc, no ulimits, cgroupfs): see deploy/container/.
    const char* srcdir = ::getenv("TEST_SRCDIR");
    const char* workspace = ::getenv("TEST_WORKSPACE");
    if (srcdir != nullptr && workspace != nullptr) {
      const std::string conf =
          absl::StrCat(srcdir, "/", workspace, "/deploy/container/containers.conf");
      if (std::filesystem::exists(conf)) ::setenv("CONTAINERS_CONF", conf.c_str(), 1);
    }
    HT_SKIP_UNLESS_CAPABLE(Shell("command -v podman").exit_code != 0
                               ? "podman is not installed here (scripts/setup.sh installs it)"
                               : "");
    HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("resolving containers"));
    CommandResult info = Shell("podman info --format '{{.Host.OCIRuntime.Name}}'");
    HT_SKIP_UNLESS_CAPABLE(info.exit_code != 0 ? "podman cannot run here: " + info.output : "");

    dir_ = httptrace::test_support::MakeSocketDir("podman");
    // A rootfs with just `sleep`: no image, no registry, nothing to build.
    const std::string rootfs = dir_ + "/rootfs";
    ASSERT_EQ(Shell(absl::StrCat("mkdir -p ", rootfs, "/bin ", rootfs, "/lib64 ", rootfs,
                                 "/lib/x86_64-linux-gnu && cp /bin/sleep ", rootfs,
                                 "/bin/ && cp /lib/x86_64-linux-gnu/libc.so.6 ", rootfs,
                                 "/lib/x86_64-linux-gnu/ && cp /lib64/ld-linux-x86-64.so.2 ",
                                 rootfs, "/lib64/"))
                  .exit_code,
              0);
    container_ = absl::StrCat("httptrace-resolver-test-", ::getpid());
    CommandResult run = Shell(absl::StrCat("podman run -d --network host --name ", container_,
                                           " --rootfs ", rootfs, " /bin/sleep 120"));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    id_ = Trimmed(Shell("podman inspect -f '{{.Id}}' " + container_).output);
    CommandResult pid = Shell("podman inspect -f '{{.State.Pid}}' " + container_);
    ASSERT_EQ(pid.exit_code, 0) << pid.output;
    pid_ = static_cast<uint32_t>(std::stoul(Trimmed(pid.output)));
    ASSERT_EQ(id_.size(), 64u) << id_;

    socket_ = dir_ + "/podman.sock";
    service_ = ::fork();
    ASSERT_GE(service_, 0);
    if (service_ == 0) {
      ::execlp("podman", "podman", "system", "service", "--time=0", ("unix://" + socket_).c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 100 && !std::filesystem::exists(socket_); ++i) ::usleep(50'000);
    ASSERT_TRUE(std::filesystem::exists(socket_)) << "podman system service did not start";
  }

  void StopService() {
    if (service_ > 0) {
      ::kill(service_, SIGTERM);
      ::waitpid(service_, nullptr, 0);
      service_ = -1;
    }
  }

  void TearDown() override {
    StopService();
    if (!container_.empty()) Shell("podman rm -f -t 0 " + container_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string dir_, container_, id_, socket_;
  uint32_t pid_ = 0;
  pid_t service_ = -1;
};

TEST_F(PodmanResolverTest, NameAndFilterFromContainersJsonWithNoApiServiceRunning) {
  StopService();
  ResolverOptions options;
  options.engine_sockets = {"/run/podman/podman.sock", "/nonexistent/docker.sock"};
  const std::string graph_root =
      Trimmed(Shell("podman info --format '{{.Store.GraphRoot}}'").output);
  options.store_roots = {graph_root};
  ContainerResolver resolver(options);
  ASSERT_TRUE(resolver.Lookup(pid_).has_value());
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(10)));
  EXPECT_EQ(resolver.Lookup(pid_)->name, container_);
  auto inodes = resolver.MountNamespacesOf({container_});
  ASSERT_TRUE(inodes.ok()) << inodes.status();
  EXPECT_EQ(inodes->size(), 1u);
  EXPECT_EQ(resolver.Counters()["container.engine_requests"], 0u);
}

TEST_F(PodmanResolverTest, ContainerProcessGetsIdRuntimeAndNameFromTheApiService) {
  ResolverOptions options;
  options.store_roots.clear();  // the API alone
  options.engine_sockets = {"/nonexistent/docker.sock", socket_};
  options.engine_timeout = absl::Seconds(3);
  ContainerResolver resolver(options);
  std::optional<ContainerInfo> info = resolver.Lookup(pid_);
  ASSERT_TRUE(info.has_value()) << "container process " << pid_ << " not recognized";
  EXPECT_EQ(info->id, id_);
  EXPECT_EQ(info->runtime, "podman");
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(10)));
  EXPECT_EQ(resolver.Lookup(pid_)->name, container_);
  // This test itself runs on the host (or in another container): never this container.
  std::optional<ContainerInfo> self = resolver.Lookup(static_cast<uint32_t>(::getpid()));
  EXPECT_TRUE(!self.has_value() || self->id != id_);
}

TEST_F(PodmanResolverTest, MountNamespaceOfContainerByNameAndByIdPrefix) {
  ResolverOptions options;
  options.store_roots.clear();
  options.engine_sockets = {socket_};
  options.engine_timeout = absl::Seconds(3);
  ContainerResolver resolver(options);
  char link[64] = {};
  ASSERT_GT(::readlink(absl::StrCat("/proc/", pid_, "/ns/mnt").c_str(), link, sizeof(link) - 1), 0);
  std::optional<uint32_t> inode = ParseNamespaceLink(link);
  ASSERT_TRUE(inode.has_value()) << link;

  for (const std::string& selector : {container_, id_.substr(0, 12)}) {
    auto inodes = resolver.MountNamespacesOf({selector});
    ASSERT_TRUE(inodes.ok()) << inodes.status();
    EXPECT_EQ(*inodes, std::vector<uint32_t>{*inode}) << selector;
  }
  auto none = resolver.MountNamespacesOf({"httptrace-no-such-container"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace httptrace::container
