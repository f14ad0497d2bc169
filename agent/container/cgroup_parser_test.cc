#include "agent/container/cgroup_parser.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace httptrace::container {
namespace {

constexpr char kId[] = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
constexpr char kUid[] = "5c8a1d2e-3f4b-4c5d-8e9f-0a1b2c3d4e5f";
constexpr char kUidUnderscores[] = "5c8a1d2e_3f4b_4c5d_8e9f_0a1b2c3d4e5f";

struct PathCase {
  std::string name;
  std::string path;
  std::optional<CgroupIdentity> want;
};

std::string Id() { return kId; }

void PrintTo(const PathCase& c, std::ostream* os) { *os << c.name << " " << c.path; }

class ParseCgroupPathTest : public testing::TestWithParam<PathCase> {};

TEST_P(ParseCgroupPathTest, FindsContainerIdentity) {
  const PathCase& c = GetParam();
  std::optional<CgroupIdentity> got = ParseCgroupPath(c.path);
  ASSERT_EQ(got.has_value(), c.want.has_value()) << c.path;
  if (got.has_value()) {
    EXPECT_EQ(got->id, c.want->id) << c.path;
    EXPECT_EQ(got->runtime, c.want->runtime) << c.path;
    EXPECT_EQ(got->pod_uid, c.want->pod_uid) << c.path;
  }
}

INSTANTIATE_TEST_SUITE_P(
    RealWorldPaths, ParseCgroupPathTest,
    testing::Values(
        // Processes on the host.
        PathCase{"Root", "/", std::nullopt},
        PathCase{"UserSession", "/user.slice/user-1000.slice/session-2.scope", std::nullopt},
        PathCase{"SystemService", "/system.slice/ssh.service", std::nullopt},
        PathCase{"DockerDaemon", "/system.slice/docker.service", std::nullopt},
        PathCase{"ShortHexIsNotAContainer", "/process_api/039dce8803fca2cd4a81034446945685",
                 std::nullopt},
        PathCase{"UppercaseHexIsNotAnId", "/docker/" + std::string(64, 'A'), std::nullopt},
        // Docker.
        PathCase{"DockerCgroupfsV1", "/docker/" + Id(), CgroupIdentity{kId, "docker", ""}},
        PathCase{"DockerSystemdV2", "/system.slice/docker-" + Id() + ".scope",
                 CgroupIdentity{kId, "docker", ""}},
        PathCase{"DockerSeenFromPrivateCgroupns", "/../docker-" + Id() + ".scope",
                 CgroupIdentity{kId, "docker", ""}},
        PathCase{"DockerInDocker", "/docker/" + std::string(64, 'a') + "/docker/" + Id(),
                 CgroupIdentity{kId, "docker", ""}},
        PathCase{"GithubActionsJob", "/actions_job/" + Id(), CgroupIdentity{kId, "docker", ""}},
        // Podman.
        PathCase{"PodmanSystemd", "/machine.slice/libpod-" + Id() + ".scope",
                 CgroupIdentity{kId, "podman", ""}},
        PathCase{"PodmanSystemdInnerContainerCgroup",
                 "/machine.slice/libpod-" + Id() + ".scope/container",
                 CgroupIdentity{kId, "podman", ""}},
        PathCase{"PodmanCgroupfs", "/libpod_parent/libpod-" + Id(),
                 CgroupIdentity{kId, "podman", ""}},
        PathCase{
            "PodmanRootless",
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + Id() + ".scope",
            CgroupIdentity{kId, "podman", ""}},
        PathCase{"PodmanPodSystemd",
                 "/machine.slice/machine-libpod_pod_" + std::string(64, 'b') + ".slice/libpod-" +
                     Id() + ".scope",
                 CgroupIdentity{kId, "podman", ""}},
        PathCase{"PodmanPodCgroupfs", "/libpod_parent/" + std::string(64, 'b') + "/" + Id(),
                 CgroupIdentity{kId, "unknown", ""}},
        PathCase{"PodmanConmonIsNotTheContainer", "/libpod_parent/libpod-conmon-" + Id(),
                 std::nullopt},
        PathCase{"PodmanConmonScope", "/machine.slice/libpod-conmon-" + Id() + ".scope",
                 std::nullopt},
        // containerd.
        PathCase{"KubepodsCgroupfsBurstable",
                 "/kubepods/burstable/pod" + std::string(kUid) + "/" + Id(),
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KubepodsCgroupfsGuaranteed", "/kubepods/pod" + std::string(kUid) + "/" + Id(),
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KubepodsSystemdBurstable",
                 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                     std::string(kUidUnderscores) + ".slice/cri-containerd-" + Id() + ".scope",
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KubepodsSystemdBestEffort",
                 "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                     std::string(kUidUnderscores) + ".slice/cri-containerd-" + Id() + ".scope",
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KubepodsSystemdGuaranteed",
                 "/kubepods.slice/kubepods-pod" + std::string(kUidUnderscores) +
                     ".slice/cri-containerd-" + Id() + ".scope",
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KindNodeNested",
                 "/system.slice/docker-" + std::string(64, 'c') +
                     ".scope/kubelet.slice/kubelet-kubepods.slice/"
                     "kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" +
                     std::string(kUidUnderscores) + ".slice/cri-containerd-" + Id() + ".scope",
                 CgroupIdentity{kId, "containerd", kUid}},
        PathCase{"KubepodsPauseLevelIsNotAContainer", "/kubepods/burstable/pod" + std::string(kUid),
                 std::nullopt},
        PathCase{"Nerdctl", "/system.slice/nerdctl-" + Id() + ".scope",
                 CgroupIdentity{kId, "containerd", ""}},
        PathCase{"ContainerdNamespaceCgroupfs", "/default/" + Id(),
                 CgroupIdentity{kId, "unknown", ""}},
        // CRI-O.
        PathCase{"CrioSystemd",
                 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                     std::string(kUidUnderscores) + ".slice/crio-" + Id() + ".scope",
                 CgroupIdentity{kId, "cri-o", kUid}},
        PathCase{"CrioCgroupfs", "/kubepods/besteffort/pod" + std::string(kUid) + "/crio-" + Id(),
                 CgroupIdentity{kId, "cri-o", kUid}},
        PathCase{"CrioConmonIsNotTheContainer",
                 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                     std::string(kUidUnderscores) + ".slice/crio-conmon-" + Id() + ".scope",
                 std::nullopt}),
    [](const testing::TestParamInfo<PathCase>& info) { return info.param.name; });

TEST(ParseProcCgroupTest, HostProcessOnCgroupV2HasNoContainer) {
  EXPECT_EQ(ParseProcCgroup("0::/user.slice/user-0.slice/session-1.scope\n"), std::nullopt);
}

TEST(ParseProcCgroupTest, CgroupV2Container) {
  const std::string file = "0::/system.slice/docker-" + Id() + ".scope\n";
  EXPECT_EQ(ParseProcCgroup(file), (CgroupIdentity{kId, "docker", ""}));
}

TEST(ParseProcCgroupTest, CgroupV1ContainerInEveryController) {
  const std::string file = "12:pids:/docker/" + Id() + "\n11:memory:/docker/" + Id() +
                           "\n3:cpu,cpuacct:/docker/" + Id() + "\n1:name=systemd:/docker/" + Id() +
                           "\n";
  EXPECT_EQ(ParseProcCgroup(file), (CgroupIdentity{kId, "docker", ""}));
}

TEST(ParseProcCgroupTest, HybridLayoutWithContainerOnlyInV1Hierarchies) {
  // This project's build machines: v1 controllers plus an empty unified hierarchy, where runc
  // with podman's cgroupfs manager leaves the unified path at the root.
  const std::string file = "9:name=systemd:/libpod_parent/libpod-" + Id() +
                           "\n8:pids:/libpod_parent/libpod-" + Id() +
                           "\n4:memory:/libpod_parent/libpod-" + Id() +
                           "\n1:cpu:/libpod_parent/libpod-" + Id() + "\n0::/\n";
  EXPECT_EQ(ParseProcCgroup(file), (CgroupIdentity{kId, "podman", ""}));
}

TEST(ParseProcCgroupTest, UnifiedLineWinsOverV1Lines) {
  const std::string other(64, 'e');
  const std::string file =
      "4:memory:/docker/" + other + "\n0::/system.slice/docker-" + Id() + ".scope\n";
  EXPECT_EQ(ParseProcCgroup(file)->id, kId);
}

TEST(ParseProcCgroupTest, ThisMachinesHybridHostLinesHaveNoContainer) {
  EXPECT_EQ(ParseProcCgroup("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/"
                            "039dce8803fca2cd4a81034446945685\n1:cpu:/\n0::/\n"),
            std::nullopt);
}

TEST(ParseProcCgroupTest, MalformedLinesAreSkipped) {
  const std::string file = "garbage\n5\n:\n0::/docker/" + Id() + "\n";
  EXPECT_EQ(ParseProcCgroup(file)->id, kId);
  EXPECT_EQ(ParseProcCgroup(""), std::nullopt);
}

TEST(ParseProcCgroupTest, RealProcSelfCgroupParses) {
  std::ifstream in("/proc/self/cgroup");
  ASSERT_TRUE(in.good()) << "cannot read /proc/self/cgroup";
  std::stringstream contents;
  contents << in.rdbuf();
  ASSERT_FALSE(contents.str().empty());
  std::optional<CgroupIdentity> identity = ParseProcCgroup(contents.str());
  // The test runs on the host or inside a container; either way a found id must be well formed.
  if (identity.has_value()) {
    EXPECT_EQ(identity->id.size(), 64u);
    EXPECT_FALSE(identity->runtime.empty());
    EXPECT_NE(contents.str().find(identity->id), std::string::npos);
  } else {
    EXPECT_EQ(contents.str().find("/docker/"), std::string::npos);
    EXPECT_EQ(contents.str().find("libpod-"), std::string::npos);
  }
}

}  // namespace
}  // namespace httptrace::container
