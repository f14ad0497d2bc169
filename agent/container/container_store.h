// Container names from the records the engines themselves keep on the node, for hosts where no
// engine API answers: podman is daemonless (its API socket exists only while someone runs
// `podman system service`), and Docker's socket is often not mounted where its files are.
//
//  - containers/storage (podman, buildah, CRI-O): <root>/<driver>-containers/containers.json, a
//    JSON array of {"id", "names": [...]}; rootful under /var/lib/containers/storage, rootless
//    under ~/.local/share/containers/storage; volatile-containers.json (same format) under the
//    run root /run/containers/storage for containers kept off disk.
//  - Docker: <root>/containers/<id>/config.v2.json, {"ID", "Name": "/name", "Config": {"Labels"}}.
//
// Roots may be glob patterns (/home/*/.local/share/containers/storage). Files are read again when
// their stat (inode, size, mtime) changes: one stat per store and call, no watcher thread. Calls
// read files, so they belong on the resolver's name thread, never on the event path.
//
//   ContainerStore store({"/var/lib/containers/storage", "/var/lib/docker"});
//   absl::StatusOr<EngineContainer> c = store.Find("web");  // by full id, id prefix or name

#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/container/engine_client.h"

namespace httptrace::container {

struct StoreOptions {
  // Engine storage roots (glob patterns allowed); each is recognized by what it holds.
  std::vector<std::string> roots;
  // A containers.json or config.v2.json larger than this is not read (counted, reported): a few
  // hundred bytes per container, so 64 MiB is far beyond any real node.
  size_t max_file_bytes = 64 << 20;
  // Containers remembered per store; past this a store's file is not taken in (reported).
  size_t max_containers = 65536;
};

class ContainerStore {
 public:
  explicit ContainerStore(StoreOptions options);
  ContainerStore(const ContainerStore&) = delete;
  ContainerStore& operator=(const ContainerStore&) = delete;

  // The container with this full id, id prefix (at least 4 hex digits, unique) or name.
  // NotFound when the readable stores do not know it; Unavailable (saying why for each root)
  // when no store could be read at all. Thread-safe.
  absl::StatusOr<EngineContainer> Find(absl::string_view id_or_name);

  // Where names come from now ("containers/storage at /var/lib/containers/storage/overlay-
  // containers/containers.json, ..."), or Unavailable with each root's reason.
  absl::StatusOr<std::string> Describe();

  bool configured() const { return !options_.roots.empty(); }

  // "container.store_reads", "container.store_errors".
  std::map<std::string, uint64_t> Counters() const;

 private:
  struct FileStamp {
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = -1;
    bool operator==(const FileStamp&) const = default;
  };
  // One containers.json, or one Docker containers/ directory.
  struct Store {
    std::string path;
    bool docker = false;
    FileStamp stamp;
    std::vector<EngineContainer> containers;
    std::string error;  // why the last read failed (read again once the file changes)
    // Docker: each config.v2.json's stamp, so only changed ones are read again.
    std::map<std::string, std::pair<FileStamp, EngineContainer>> docker_configs;
  };

  // Expands the roots, stats every store, re-reads those that changed. Failures go to `errors`.
  void Refresh(std::vector<std::string>& errors) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadContainersJson(Store& store, std::vector<std::string>& errors)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadDockerDir(Store& store, std::vector<std::string>& errors)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // OK when some store was read; else Unavailable with every reason (`errors` and each store's).
  absl::Status SomeStoreRead(std::vector<std::string>& errors) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Store> stores_ ABSL_GUARDED_BY(mu_);  // by path
  uint64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
};

// Exposed for tests: the two file formats.
absl::StatusOr<std::vector<EngineContainer>> ParseContainersJson(absl::string_view json);
absl::StatusOr<EngineContainer> ParseDockerConfig(absl::string_view json);

}  // namespace httptrace::container
