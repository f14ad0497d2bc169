#include "agent/container/container_store.h"

#include <linux/capability.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace httptrace::container {
namespace {

const std::string kWebId = std::string(63, 'a') + "1";
const std::string kDbId = std::string(63, 'b') + "2";

// What podman 4.3 (containers/storage) wrote on this machine for `podman run --name ht-probe-json`.
constexpr char kPodmanContainersJson[] =
    R"([{"id":"34c75584fd676125bdffc8b5804e05306d6f2a852193b97a77267d4da65b1312",)"
    R"("names":["ht-probe-json"],"image":"",)"
    R"("layer":"d835ed2b8bc17e4edd592df9481dcbc9c9275745590a2fd06a0f5e6019e2e046",)"
    R"("metadata":"{\"image-name\":\"\",\"image-id\":\"\",\"name\":\"ht-probe-json\",)"
    R"(\"created-at\":1796173127}","created":"2026-12-02T00:58:47.920049087Z",)"
    R"("flags":{"MountLabel":"","ProcessLabel":""}}])";

std::string ContainersJson(const std::vector<std::pair<std::string, std::string>>& containers) {
  std::string out = "[";
  for (const auto& [id, name] : containers) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, R"({"id":")", id, R"(","names":[")", name, R"("],"layer":"x"})");
  }
  return out + "]";
}

std::string DockerConfig(const std::string& id, const std::string& name) {
  return absl::StrCat(R"({"ID":")", id, R"(","Name":"/)", name,
                      R"(","Config":{"Labels":{"io.kubernetes.pod.name":"shop-1",)",
                      R"("io.kubernetes.pod.namespace":"prod","io.kubernetes.pod.uid":"u-1"}}})");
}

class ContainerStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ht-store-XXXXXX";
    root_ = ::mkdtemp(name);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Writes like containers/storage does: a new file renamed over the old one.
  void WriteAtomically(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path + ".tmp") << text;
    std::filesystem::rename(path + ".tmp", path);
  }
  std::string Podman() const { return root_ + "/containers/storage"; }
  std::string PodmanJson() const { return Podman() + "/overlay-containers/containers.json"; }
  std::string Docker() const { return root_ + "/docker"; }
  void AddDocker(const std::string& id, const std::string& name) {
    WriteAtomically(absl::StrCat(Docker(), "/containers/", id, "/config.v2.json"),
                    DockerConfig(id, name));
  }

  std::string root_;
};

TEST(ParseContainersJsonTest, ReadsIdAndFirstNameOfWhatPodmanWrites) {
  auto containers = ParseContainersJson(kPodmanContainersJson);
  ASSERT_TRUE(containers.ok()) << containers.status();
  ASSERT_EQ(containers->size(), 1u);
  EXPECT_EQ((*containers)[0].id,
            "34c75584fd676125bdffc8b5804e05306d6f2a852193b97a77267d4da65b1312");
  EXPECT_EQ((*containers)[0].name, "ht-probe-json");
  EXPECT_FALSE(ParseContainersJson("{}").ok());
  EXPECT_FALSE(ParseContainersJson("[{\"id\":").ok());
  auto empty = ParseContainersJson("[]");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ParseDockerConfigTest, ReadsIdNameWithoutSlashAndKubernetesLabels) {
  auto c = ParseDockerConfig(DockerConfig(kWebId, "web"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, kWebId);
  EXPECT_EQ(c->name, "web");
  EXPECT_EQ(c->pod_name, "shop-1");
  EXPECT_EQ(c->pod_namespace, "prod");
  EXPECT_EQ(c->pod_uid, "u-1");
  EXPECT_FALSE(ParseDockerConfig(R"({"Name":"/x"})").ok());
}

TEST_F(ContainerStoreTest, FindsPodmanContainersByIdPrefixAndName) {
  WriteAtomically(PodmanJson(), ContainersJson({{kWebId, "web"}, {kDbId, "db"}}));
  ContainerStore store({.roots = {Podman()}});
  for (const std::string& key : {kWebId, std::string("web"), kWebId.substr(0, 12)}) {
    auto c = store.Find(key);
    ASSERT_TRUE(c.ok()) << key << ": " << c.status();
    EXPECT_EQ(c->id, kWebId);
    EXPECT_EQ(c->name, "web");
  }
  EXPECT_EQ(store.Find("db")->id, kDbId);
  EXPECT_TRUE(absl::IsNotFound(store.Find("cache").status()));
  // "aaaa" is a prefix of web only; "a" is too short to be one.
  EXPECT_TRUE(store.Find("aaaa").ok());
  EXPECT_TRUE(absl::IsNotFound(store.Find("a").status()));
}

TEST_F(ContainerStoreTest, AContainerAddedLaterIsFoundAndTheFileIsReadOnlyWhenItChanges) {
  WriteAtomically(PodmanJson(), ContainersJson({{kWebId, "web"}}));
  ContainerStore store({.roots = {Podman()}});
  ASSERT_TRUE(store.Find("web").ok());
  const uint64_t reads = store.Counters()["container.store_reads"];
  EXPECT_TRUE(store.Find(kWebId).ok());
  EXPECT_TRUE(absl::IsNotFound(store.Find("db").status()));
  EXPECT_EQ(store.Counters()["container.store_reads"], reads) << "unchanged file read again";

  WriteAtomically(PodmanJson(), ContainersJson({{kWebId, "web"}, {kDbId, "db"}}));
  auto db = store.Find("db");
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(db->id, kDbId);
  EXPECT_EQ(store.Counters()["container.store_reads"], reads + 1);

  // Removed: forgotten with the next change.
  WriteAtomically(PodmanJson(), ContainersJson({{kDbId, "db"}}));
  EXPECT_TRUE(absl::IsNotFound(store.Find("web").status()));
}

TEST_F(ContainerStoreTest, VolatileContainersUnderTheRunRootAreFoundToo) {
  const std::string run_root = root_ + "/run/containers/storage";
  WriteAtomically(run_root + "/overlay-containers/volatile-containers.json",
                  ContainersJson({{kDbId, "db"}}));
  WriteAtomically(PodmanJson(), ContainersJson({{kWebId, "web"}}));
  ContainerStore store({.roots = {Podman(), run_root}});
  EXPECT_EQ(store.Find("db")->id, kDbId);
  EXPECT_EQ(store.Find("web")->id, kWebId);
}

TEST_F(ContainerStoreTest, FindsDockerContainersWithLabelsAndFollowsARename) {
  AddDocker(kWebId, "web");
  ContainerStore store({.roots = {Docker()}});
  auto c = store.Find("web");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, kWebId);
  EXPECT_EQ(c->pod_namespace, "prod");
  EXPECT_TRUE(store.Find(kWebId.substr(0, 8)).ok());

  AddDocker(kDbId, "db");  // a new directory: the containers/ directory's mtime changes
  EXPECT_EQ(store.Find("db")->id, kDbId);
  // `docker rename web web2` rewrites config.v2.json only.
  AddDocker(kWebId, "web2");
  auto renamed = store.Find("web2");
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->id, kWebId);
}

TEST_F(ContainerStoreTest, RootlessStoresAreFoundThroughAGlobAndAbsentRootsAreUnavailable) {
  const std::string home = root_ + "/home";
  WriteAtomically(home +
                      "/alice/.local/share/containers/storage/overlay-containers/"
                      "containers.json",
                  ContainersJson({{kWebId, "alice-web"}}));
  WriteAtomically(home + "/bob/.local/share/containers/storage/vfs-containers/containers.json",
                  ContainersJson({{kDbId, "bob-db"}}));
  ContainerStore store({.roots = {home + "/*/.local/share/containers/storage"}});
  EXPECT_EQ(store.Find("alice-web")->id, kWebId);
  EXPECT_EQ(store.Find("bob-db")->id, kDbId);
  auto described = store.Describe();
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_NE(described->find("alice/.local/share/containers/storage/overlay-containers/"
                            "containers.json"),
            std::string::npos)
      << *described;

  ContainerStore none({.roots = {root_ + "/nothing-here", Podman()}});
  auto status = none.Find("web").status();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_TRUE(absl::IsUnavailable(none.Describe().status()));
}

TEST_F(ContainerStoreTest, AFileTooLargeIsNotReadAndSaysSo) {
  WriteAtomically(PodmanJson(), ContainersJson({{kWebId, "web"}}));
  ContainerStore store({.roots = {Podman()}, .max_file_bytes = 16});
  auto status = store.Find("web").status();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_NE(status.message().find("larger than 16 bytes"), std::string::npos) << status;
  // Not read again while the file stays as it is, and still said.
  status = store.Find("web").status();
  EXPECT_NE(status.message().find("larger than 16 bytes"), std::string::npos) << status;
  EXPECT_EQ(store.Counters()["container.store_errors"], 1u);
}

// Effective capabilities are per thread: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH on this
// one, as an agent run with the chart's capabilities (which lack both) would be.
class DacCapabilitiesDropped {
 public:
  DacCapabilitiesDropped() {
    ok_ = ::syscall(SYS_capget, &header_, saved_) == 0;
    __user_cap_data_struct lowered[2] = {saved_[0], saved_[1]};
    lowered[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    ok_ = ok_ && ::syscall(SYS_capset, &header_, lowered) == 0;
  }
  ~DacCapabilitiesDropped() {
    if (ok_) ::syscall(SYS_capset, &header_, saved_);
  }
  bool ok() const { return ok_; }

 private:
  __user_cap_header_struct header_{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct saved_[2] = {};
  bool ok_ = false;
};

TEST_F(ContainerStoreTest, AnotherUsersStoreUnreadableWithoutDacCapabilitiesNamesTheCapability) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test reads files as root without DAC caps";
  const std::string home = root_ + "/home/carol";
  const std::string storage = home + "/.local/share/containers/storage";
  WriteAtomically(storage + "/overlay-containers/containers.json",
                  ContainersJson({{kWebId, "carol-web"}}));
  // A rootless user's home: theirs and 0700.
  for (const std::string& dir : {home, storage}) {
    ASSERT_EQ(::chown(dir.c_str(), 12345, 12345), 0);
    ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
  }
  ContainerStore store({.roots = {root_ + "/home/*/.local/share/containers/storage", storage}});
  {
    DacCapabilitiesDropped dropped;
    ASSERT_TRUE(dropped.ok()) << "capset failed";
    auto status = store.Find("carol-web").status();
    EXPECT_TRUE(absl::IsUnavailable(status)) << status;
    EXPECT_NE(status.message().find("CAP_DAC_READ_SEARCH"), std::string::npos) << status;
  }
  EXPECT_EQ(store.Find("carol-web")->id, kWebId) << "readable again with the capabilities";
}

}  // namespace
}  // namespace httptrace::container
