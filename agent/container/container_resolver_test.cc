#include "agent/container/container_resolver.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/container/fake_engine.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::container {
namespace {

const std::string kWebId(64, 'a');
const std::string kDbId = "b" + std::string(63, '0');
constexpr char kUid[] = "5c8a1d2e-3f4b-4c5d-8e9f-0a1b2c3d4e5f";

// A fake /proc (and engine socket) in a test directory; removed when the test ends.
class FakeProc {
 public:
  FakeProc() : root_(httptrace::test_support::MakeSocketDir("resolver")) {}
  ~FakeProc() { std::filesystem::remove_all(root_); }

  const std::string& root() const { return root_; }
  std::string proc() const { return root_ + "/proc"; }

  void AddProcess(uint32_t pid, uint64_t start_time, const std::string& cgroup_path,
                  uint32_t mnt_inode = 4026531840u) {
    const std::string dir = absl::StrCat(proc(), "/", pid);
    std::filesystem::create_directories(dir + "/ns");
    std::ofstream(dir + "/stat") << pid
                                 << " (my (odd) comm) S 1 1 1 0 -1 4194560 100 0 0 0 1 1 0 0 "
                                 << "20 0 1 0 " << start_time << " 1000 100\n";
    std::ofstream(dir + "/cgroup")
        << "9:name=systemd:" << cgroup_path << "\n4:memory:" << cgroup_path << "\n0::/\n";
    std::filesystem::remove(dir + "/ns/mnt");
    std::filesystem::create_symlink(absl::StrCat("mnt:[", mnt_inode, "]"), dir + "/ns/mnt");
  }
  void RemoveProcess(uint32_t pid) { std::filesystem::remove_all(absl::StrCat(proc(), "/", pid)); }

 private:
  std::string root_;
};

ResolverOptions OptionsFor(const FakeProc& proc, std::vector<std::string> sockets) {
  ResolverOptions options;
  options.proc_root = proc.proc();
  options.engine_sockets = std::move(sockets);
  options.store_roots.clear();  // not this machine's podman or Docker
  options.engine_timeout = absl::Milliseconds(300);
  return options;
}

std::string InspectJson(const std::string& id, const std::string& name) {
  return absl::StrCat(R"({"Id":")", id, R"(","Name":"/)", name, R"(","Config":{"Labels":{}}})");
}

TEST(ParseStartTimeTest, CountsFieldsFromTheLastParenthesis) {
  EXPECT_EQ(ParseStartTime("42 (a) b) c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 987654 1 2"),
            987654u);
  EXPECT_EQ(ParseStartTime("42 (x) S 1"), std::nullopt);
  EXPECT_EQ(ParseStartTime("garbage"), std::nullopt);
}

TEST(ParseNamespaceLinkTest, ReadsTheInode) {
  EXPECT_EQ(ParseNamespaceLink("mnt:[4026531840]"), 4026531840u);
  EXPECT_EQ(ParseNamespaceLink("net:[4026531840]"), std::nullopt);
  EXPECT_EQ(ParseNamespaceLink("mnt:[x]"), std::nullopt);
}

TEST(ContainerResolverTest, HostProcessHasNoContainer) {
  FakeProc proc;
  proc.AddProcess(100, 5, "/user.slice/session-1.scope");
  ContainerResolver resolver(OptionsFor(proc, {}));
  EXPECT_EQ(resolver.Lookup(100), std::nullopt);
  EXPECT_EQ(resolver.Lookup(999), std::nullopt);  // no such process
}

// Issue 25: busybox httpd forks a child per connection, which has exited when user space looks
// at its pid. The probes' mount namespace attributes its exchange to its container.
TEST(ContainerResolverTest, ExitedProcessIsAttributedByItsMountNamespace) {
  FakeProc proc;
  constexpr uint32_t kWebNamespace = 4026532100u, kHostNamespace = 4026531840u;
  proc.AddProcess(100, 5, "/user.slice/session-1.scope", kHostNamespace);
  proc.AddProcess(300, 9, "/libpod_parent/libpod-" + kWebId, kWebNamespace);  // the parent
  ContainerResolver resolver(OptionsFor(proc, {}));
  // The child (pid 301) is gone: before any look-up of the parent, /proc is searched for a
  // process in its namespace.
  std::optional<ContainerInfo> child = resolver.Lookup(301, kWebNamespace);
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->id, kWebId);
  // The next child of the same container: known, no search.
  const uint64_t searches = resolver.Counters()["container.namespace_searches"];
  ASSERT_TRUE(resolver.Lookup(302, kWebNamespace).has_value());
  EXPECT_EQ(resolver.Lookup(302, kWebNamespace)->id, kWebId);
  EXPECT_EQ(resolver.Counters()["container.namespace_searches"], searches);
  // The pid of an exited child reused by a host process: the namespace still decides.
  proc.AddProcess(303, 50, "/user.slice/session-1.scope", kHostNamespace);
  EXPECT_EQ(resolver.Lookup(303, kWebNamespace)->id, kWebId);
  // Host processes (and the host namespace) have no container.
  EXPECT_EQ(resolver.Lookup(100, kHostNamespace), std::nullopt);
  EXPECT_EQ(resolver.Lookup(104, kHostNamespace), std::nullopt);  // exited host process
  // A namespace no live process is in: searched (once a second at most), host assumed.
  EXPECT_EQ(resolver.Lookup(400, 4026532999u), std::nullopt);
  EXPECT_EQ(resolver.Lookup(401, 4026532999u), std::nullopt);
  EXPECT_EQ(resolver.Counters()["container.namespace_unknown"], 1u);
}

TEST(ContainerResolverTest, AReusedNamespaceNumberNamesTheContainerNowInIt) {
  // The kernel reuses mount-namespace inode numbers: a container restarted in its pod often
  // gets its predecessor's (seen with containerd). The live process decides, and its exited
  // children follow it.
  FakeProc proc;
  constexpr uint32_t kReused = 4026532100u;
  proc.AddProcess(300, 9, "/libpod_parent/libpod-" + kWebId, kReused);
  ContainerResolver resolver(OptionsFor(proc, {}));
  EXPECT_EQ(resolver.Lookup(300, kReused)->id, kWebId);
  proc.RemoveProcess(300);
  proc.AddProcess(310, 20, "/libpod_parent/libpod-" + kDbId, kReused);
  EXPECT_EQ(resolver.Lookup(310, kReused)->id, kDbId);
  EXPECT_EQ(resolver.Lookup(311, kReused)->id, kDbId) << "an exited child of the new container";
}

TEST(ContainerResolverTest, PrewarmLearnsTheNamespacesOfRunningContainers) {
  FakeProc proc;
  constexpr uint32_t kDbNamespace = 4026532200u;
  proc.AddProcess(500, 5, "/libpod_parent/libpod-" + kDbId, kDbNamespace);
  ContainerResolver resolver(OptionsFor(proc, {}));
  resolver.Prewarm();
  proc.RemoveProcess(500);  // the container's only process exits after the capture started
  std::optional<ContainerInfo> info = resolver.Lookup(501, kDbNamespace);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->id, kDbId);
  EXPECT_EQ(resolver.Counters()["container.namespace_searches"], 0u);
}

TEST(ContainerResolverTest, ContainerIdRuntimeAndPodUidWithoutAnEngine) {
  FakeProc proc;
  proc.AddProcess(200, 7, absl::StrCat("/kubepods/burstable/pod", kUid, "/", kWebId));
  ContainerResolver resolver(OptionsFor(proc, {proc.root() + "/absent.sock"}));
  std::optional<ContainerInfo> info = resolver.Lookup(200);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->id, kWebId);
  EXPECT_EQ(info->runtime, "containerd");
  EXPECT_EQ(info->pod_uid, kUid);
  EXPECT_EQ(info->name, "");
  EXPECT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  EXPECT_EQ(resolver.Lookup(200)->name, "");  // still works, ids only
}

TEST(ContainerResolverTest, NameArrivesFromTheEngineInTheBackground) {
  FakeProc proc;
  FakeEngine engine(proc.root() + "/podman.sock");
  engine.SetContainer(kWebId, "web", InspectJson(kWebId, "web"));
  proc.AddProcess(300, 9, "/libpod_parent/libpod-" + kWebId);
  ContainerResolver resolver(
      OptionsFor(proc, {proc.root() + "/absent.sock", engine.socket_path()}));
  ASSERT_EQ(resolver.Lookup(300)->runtime, "podman");
  ContainerInfo before = *resolver.Lookup(300);
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  EXPECT_EQ(resolver.Lookup(300)->name, "web");
  // What a connection looked up before the name was known gets it without I/O.
  if (before.name.empty()) {
    EXPECT_TRUE(resolver.FillKnownNames(before));
    EXPECT_EQ(before.name, "web");
  }
  const int requests = engine.requests();
  resolver.Lookup(300);
  EXPECT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  EXPECT_EQ(engine.requests(), requests) << "a known name is not asked for again";
}

TEST(ContainerResolverTest, AnEngineAbsentAtStartIsAskedForTheFirstContainer) {
  // The start-up probe finds nothing (a host without containers, quietly); the first container
  // that appears is still asked about at once, not after the retry interval: that look-up is
  // the one that names it, or warns that no source of names is readable.
  FakeProc proc;
  proc.AddProcess(100, 5, "/user.slice/session-1.scope");  // a host process, seen by Prewarm
  const std::string socket = proc.root() + "/podman.sock";
  ContainerResolver resolver(OptionsFor(proc, {socket}));
  // Prewarm runs after the start-up probe: its first look-up says the probe is done.
  for (int i = 0; i < 500 && resolver.Counters()["container.lookups"] == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(resolver.Counters()["container.lookups"], 0u) << "the start-up probe never ran";
  FakeEngine engine(socket);
  engine.SetContainer(kWebId, "web", InspectJson(kWebId, "web"));
  proc.AddProcess(300, 9, "/libpod_parent/libpod-" + kWebId);
  ASSERT_EQ(resolver.Lookup(300)->runtime, "podman");
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  EXPECT_EQ(resolver.Lookup(300)->name, "web");
}

TEST(ContainerResolverTest, KubernetesNamesComeFromTheCriRuntimeWhenNoEngineKnowsTheContainer) {
  FakeProc proc;
  proc.AddProcess(200, 7, absl::StrCat("/kubepods/burstable/pod", kUid, "/", kWebId));
  ResolverOptions options = OptionsFor(proc, {proc.root() + "/absent.sock"});
  options.cri_inspect = [](const std::string& id) -> absl::StatusOr<EngineContainer> {
    if (id != kWebId) return absl::NotFoundError("unknown container");
    return EngineContainer{kWebId, "web", "shop-7d9f", "prod", kUid};
  };
  ContainerResolver resolver(options);
  resolver.Lookup(200);
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  const ContainerInfo info = *resolver.Lookup(200);
  EXPECT_EQ(info.name, "web");
  EXPECT_EQ(info.pod_name, "shop-7d9f");
  EXPECT_EQ(info.pod_namespace, "prod");
  EXPECT_EQ(info.pod_uid, kUid);
}

TEST(ContainerResolverTest, APodsContainerAsksTheCriRuntimeBeforeTheStoreThatAlsoKeepsIt) {
  // CRI-O keeps its containers in containers/storage, under names that are not the pod's.
  FakeProc proc;
  proc.AddProcess(210, 7, absl::StrCat("/kubepods/burstable/pod", kUid, "/crio-", kWebId));
  const std::string store = proc.root() + "/storage";
  std::filesystem::create_directories(store + "/overlay-containers");
  std::ofstream(store + "/overlay-containers/containers.json")
      << R"([{"id":")" << kWebId << R"(","names":["k8s_web_shop-7d9f_prod_0"]}])";
  ResolverOptions options = OptionsFor(proc, {});
  options.store_roots = {store};
  options.cri_inspect = [](const std::string& id) -> absl::StatusOr<EngineContainer> {
    if (id != kWebId) return absl::NotFoundError("unknown container");
    return EngineContainer{kWebId, "web", "shop-7d9f", "prod", kUid};
  };
  ContainerResolver resolver(options);
  resolver.Lookup(210);
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  const ContainerInfo info = *resolver.Lookup(210);
  EXPECT_EQ(info.name, "web");
  EXPECT_EQ(info.pod_namespace, "prod");
}

TEST(ContainerResolverTest, PodmanNamesComeFromItsStoreWithoutAnyEngineApi) {
  FakeProc proc;
  proc.AddProcess(220, 7, "/machine.slice/libpod-" + kWebId + ".scope");
  const std::string store = proc.root() + "/storage";
  std::filesystem::create_directories(store + "/overlay-containers");
  std::ofstream(store + "/overlay-containers/containers.json")
      << R"([{"id":")" << kWebId << R"(","names":["web"]}])";
  ResolverOptions options = OptionsFor(proc, {proc.root() + "/absent.sock"});
  options.store_roots = {store};
  ContainerResolver resolver(options);
  resolver.Lookup(220);
  ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
  EXPECT_EQ(resolver.Lookup(220)->name, "web");
  EXPECT_EQ(resolver.Counters()["container.engine_requests"], 0u);
}

TEST(ContainerResolverTest, NamesOfRunningContainersAreLearntAtStart) {
  FakeProc proc;
  FakeEngine engine(proc.root() + "/docker.sock");
  engine.SetContainer(kWebId, "web", InspectJson(kWebId, "web"));
  proc.AddProcess(310, 9, "/docker/" + kWebId);
  ContainerResolver resolver(OptionsFor(proc, {engine.socket_path()}));
  // The start-up scan runs on the resolver's thread; wait until it has queued and asked.
  for (int i = 0; i < 250 && resolver.Counters().at("container.names_resolved") == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(resolver.Counters().at("container.names_resolved"), 1u);
  EXPECT_EQ(resolver.Lookup(310)->name, "web") << "known before the first look-up by a caller";
}

TEST(ContainerResolverTest, LookupNeverWaitsForASilentEngine) {
  FakeProc proc;
  FakeEngine engine(proc.root() + "/docker.sock");
  engine.SetSilent(true);
  proc.AddProcess(400, 3, "/docker/" + kWebId);
  ResolverOptions options = OptionsFor(proc, {engine.socket_path()});
  options.engine_timeout = absl::Seconds(2);
  ContainerResolver resolver(options);
  for (int i = 0; i < 3; ++i) {
    const absl::Time start = absl::Now();
    std::optional<ContainerInfo> info = resolver.Lookup(400);
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(100));
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->id, kWebId);
  }
}

TEST(ContainerResolverTest, ReadsCgroupOncePerProcessAndTellsReusedPidsApart) {
  FakeProc proc;
  proc.AddProcess(500, 11, "/docker/" + kWebId);
  ContainerResolver resolver(OptionsFor(proc, {}));
  EXPECT_EQ(resolver.Lookup(500)->id, kWebId);
  // Same process (same start time): the cached answer stands, the file is not read again.
  proc.AddProcess(500, 11, "/docker/" + kDbId);
  EXPECT_EQ(resolver.Lookup(500)->id, kWebId);
  EXPECT_EQ(resolver.Counters().at("container.cgroup_reads"), 1u);
  // The pid now belongs to a new process (another start time): read again.
  proc.AddProcess(500, 12, "/docker/" + kDbId);
  EXPECT_EQ(resolver.Lookup(500)->id, kDbId);
  // Host process under a reused pid.
  proc.AddProcess(500, 13, "/");
  EXPECT_EQ(resolver.Lookup(500), std::nullopt);
}

TEST(ContainerResolverTest, ExitedProcessKeepsItsCachedAnswer) {
  FakeProc proc;
  proc.AddProcess(600, 5, "/docker/" + kWebId);
  ContainerResolver resolver(OptionsFor(proc, {}));
  ASSERT_TRUE(resolver.Lookup(600).has_value());
  proc.RemoveProcess(600);
  std::optional<ContainerInfo> info = resolver.Lookup(600);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->id, kWebId);
}

TEST(ContainerResolverTest, CacheStaysWithinItsBound) {
  FakeProc proc;
  ResolverOptions options = OptionsFor(proc, {});
  options.max_processes = 4;
  ContainerResolver resolver(options);
  for (uint32_t pid = 1000; pid < 1020; ++pid) {
    proc.AddProcess(pid, pid, "/docker/" + kWebId);
    ASSERT_EQ(resolver.Lookup(pid)->id, kWebId);
  }
  EXPECT_LE(resolver.Counters().at("container.processes_cached"), 4u);
  EXPECT_GT(resolver.Counters().at("container.cache_evictions"), 0u);
}

TEST(ContainerResolverTest, RememberedEngineAnswersStayWithinTheirBound) {
  FakeProc proc;
  FakeEngine engine(proc.root() + "/docker.sock");
  ResolverOptions options = OptionsFor(proc, {engine.socket_path()});
  options.max_containers = 3;
  ContainerResolver resolver(options);
  for (int i = 0; i < 10; ++i) {
    const std::string id = absl::StrCat(std::string(63, 'c'), i);
    engine.SetContainer(id, absl::StrCat("c", i), InspectJson(id, absl::StrCat("c", i)));
    proc.AddProcess(2000 + i, 1, "/docker/" + id);
    ASSERT_TRUE(resolver.Lookup(2000 + i).has_value());
    ASSERT_TRUE(resolver.WaitForNames(absl::Seconds(5)));
    EXPECT_EQ(resolver.Lookup(2000 + i)->name, absl::StrCat("c", i));
  }
  EXPECT_GT(resolver.Counters().at("container.name_evictions"), 0u);
}

TEST(ContainerResolverTest, MountNamespacesByIdPrefixAndByName) {
  FakeProc proc;
  FakeEngine engine(proc.root() + "/docker.sock");
  engine.SetContainer(kWebId, "web", InspectJson(kWebId, "web"));
  engine.SetContainer(kDbId, "db", InspectJson(kDbId, "db"));
  proc.AddProcess(1, 1, "/", 4026531840u);  // the host
  proc.AddProcess(700, 2, "/docker/" + kWebId, 4026532001u);
  proc.AddProcess(701, 3, "/docker/" + kWebId, 4026532001u);  // same container
  proc.AddProcess(702, 4, "/system.slice/docker-" + kWebId + ".scope", 4026532002u);
  proc.AddProcess(800, 5, "/docker/" + kDbId, 4026532100u);
  ContainerResolver resolver(OptionsFor(proc, {engine.socket_path()}));

  auto by_prefix = resolver.MountNamespacesOf({"aaaa"});
  ASSERT_TRUE(by_prefix.ok()) << by_prefix.status();
  EXPECT_EQ(*by_prefix, (std::vector<uint32_t>{4026532001u, 4026532002u}));

  // The resolver has never seen the name "db": the engine maps it to the id.
  auto by_name = resolver.MountNamespacesOf({"db"});
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(*by_name, (std::vector<uint32_t>{4026532100u}));

  auto both = resolver.MountNamespacesOf({"web", kDbId.substr(0, 12)});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(*both, (std::vector<uint32_t>{4026532001u, 4026532002u, 4026532100u}));

  auto none = resolver.MountNamespacesOf({"nosuchcontainer"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // Too short to be an id prefix, and not a name.
  auto short_prefix = resolver.MountNamespacesOf({"aa"});
  ASSERT_TRUE(short_prefix.ok());
  EXPECT_TRUE(short_prefix->empty());

  EXPECT_TRUE(absl::IsInvalidArgument(resolver.MountNamespacesOf({""}).status()));
}

TEST(ContainerResolverTest, MountNamespacesByIdWithoutAnEngine) {
  FakeProc proc;
  proc.AddProcess(700, 2, "/docker/" + kWebId, 4026532001u);
  proc.AddProcess(800, 5, "/docker/" + kDbId, 4026532100u);
  ContainerResolver resolver(OptionsFor(proc, {proc.root() + "/absent.sock"}));
  auto inodes = resolver.MountNamespacesOf({kDbId});
  ASSERT_TRUE(inodes.ok()) << inodes.status();
  EXPECT_EQ(*inodes, (std::vector<uint32_t>{4026532100u}));
}

TEST(ContainerResolverTest, UnreadableProcIsAnError) {
  ResolverOptions options;
  options.proc_root = "/nonexistent/proc";
  options.engine_sockets = {};
  ContainerResolver resolver(options);
  EXPECT_FALSE(resolver.MountNamespacesOf({"web"}).ok());
}

TEST(ContainerResolverTest, RealProcOfThisMachine) {
  ResolverOptions options;
  options.engine_sockets = {};
  ContainerResolver resolver(options);
  std::ifstream in("/proc/self/cgroup");
  std::stringstream contents;
  contents << in.rdbuf();
  std::optional<CgroupIdentity> expected = ParseProcCgroup(contents.str());
  std::optional<ContainerInfo> info = resolver.Lookup(static_cast<uint32_t>(::getpid()));
  ASSERT_EQ(info.has_value(), expected.has_value());
  if (info.has_value()) {
    EXPECT_EQ(info->id, expected->id);
  }
  auto inodes = resolver.MountNamespacesOf({"no-container-has-this-name"});
  ASSERT_TRUE(inodes.ok()) << inodes.status();
  EXPECT_TRUE(inodes->empty());
}

}  // namespace
}  // namespace httptrace::container
