// Which container a process belongs to, for every exchange the agent records; and the mount
// namespaces of the containers a capture filter names, for the in-kernel filter.
//
// Ids, runtimes and pod UIDs come from /proc/<pid>/cgroup (no engine needed). Names, and pod names
// and namespaces for containers with Kubernetes labels, come from the engines' own records on the
// node (containers/storage's containers.json, Docker's config.v2.json: see container_store.h),
// else a Docker-compatible engine API, else the CRI runtime; asked on a background thread: Lookup
// never waits for an engine, and a name appears in exchanges once it is known. Without any source
// of names the resolver says so once in the log and keeps giving ids.
//
//   ContainerResolver resolver(ResolverOptions{});
//   if (std::optional<ContainerInfo> c = resolver.Lookup(pid)) ... c->id, c->name ...

#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/container/cgroup_parser.h"
#include "agent/container/container_store.h"
#include "agent/container/engine_client.h"

namespace httptrace::container {

struct ContainerInfo {
  std::string id;       // full id (64 hex digits)
  std::string name;     // empty until the engine has told it (or when no engine is reachable)
  std::string runtime;  // "docker", "podman", "containerd", "cri-o", "unknown"
  std::string pod_uid;
  std::string pod_namespace;
  std::string pod_name;

  bool operator==(const ContainerInfo&) const = default;
};

struct ResolverOptions {
  // Engine storage roots read for names before any API is asked (glob patterns allowed; absent
  // ones are skipped quietly): podman's rootful and rootless containers/storage, Docker's root.
  std::vector<std::string> store_roots = {
      "/var/lib/containers/storage", "/run/containers/storage", "/var/lib/docker",
      "/home/*/.local/share/containers/storage", "/root/.local/share/containers/storage"};
  // Docker-compatible engine API sockets, asked in this order (the runtime's own first). Paths
  // that do not exist are skipped quietly; an empty list turns name look-ups off.
  std::vector<std::string> engine_sockets = {"/var/run/docker.sock", "/run/podman/podman.sock"};
  absl::Duration engine_timeout = absl::Seconds(1);
  // Asked after the engines for a container none of them knows: the Kubernetes runtime over CRI
  // (containerd and CRI-O serve no Docker-compatible API), giving names and pod names and
  // namespaces. Empty: not asked. Called on the resolver's thread only, never from Lookup.
  std::function<absl::StatusOr<EngineContainer>(const std::string& id)> cri_inspect;
  // After no engine knew an id, or none was reachable, wait this long before asking again.
  absl::Duration engine_retry = absl::Seconds(30);
  // Processes remembered; past this the oldest answers are dropped (and read again when needed).
  size_t max_processes = 16384;
  // Containers whose engine answers are remembered; past this the answers are dropped (and asked
  // for again when the container is seen again).
  size_t max_containers = 4096;
  // A process's cgroup answer is read again after this long (processes can be moved).
  absl::Duration cache_ttl = absl::Minutes(2);
  // Where /proc is (tests use a fake tree). With --pid=host in a container, /proc is the host's.
  std::string proc_root = "/proc";
};

class ContainerResolver {
 public:
  explicit ContainerResolver(ResolverOptions options);
  ~ContainerResolver();
  ContainerResolver(const ContainerResolver&) = delete;
  ContainerResolver& operator=(const ContainerResolver&) = delete;

  // The container of process `pid` (a thread group id), or std::nullopt for processes on the
  // host and processes that are gone before they were ever seen. Reads /proc/<pid>/stat on every
  // call (to tell a reused pid from the process cached under it) and /proc/<pid>/cgroup once per
  // process; never waits for an engine. Thread-safe.
  std::optional<ContainerInfo> Lookup(uint32_t pid);

  // The container of the process `pid` whose syscall ran in mount namespace `mount_namespace`
  // (the probes read it there; 0 when unknown: then as Lookup(pid)). The namespace decides: a
  // process that has exited before user space looked (a server's child forked for one
  // connection, a CGI, a short job) is attributed to the container whose other processes the
  // resolver saw in that namespace (every Lookup and Prewarm learns the namespace of the process
  // it reads), and when none was seen, /proc is searched once for a live process in it (at most
  // once a second per namespace). A namespace no container's process is in is the host's.
  std::optional<ContainerInfo> Lookup(uint32_t pid, uint32_t mount_namespace);

  // Fills the engine-given fields (name, pod name and namespace) of `info` when the engine has
  // told them since `info` was looked up. No I/O: a hash look-up under the lock. Returns whether
  // `info` now has a name.
  bool FillKnownNames(ContainerInfo& info) const;

  // Mount-namespace inode numbers of every running process of the containers that match one of
  // `id_prefixes_or_names` (an id prefix of at least 4 hex digits, or an exact name), sorted and
  // unique. Scans /proc; asks the engines (blocking, within their timeout) for names it does not
  // know yet. No match is not an error: the list is then empty. InvalidArgument for an empty
  // selector; an error when /proc cannot be read.
  absl::StatusOr<std::vector<uint32_t>> MountNamespacesOf(
      const std::vector<std::string>& id_prefixes_or_names);

  // Looks up every process in /proc, so the names of running containers are asked for before
  // their first connection. Done once on the resolver's thread at start; callers may repeat it
  // (the agent does when a capture starts). Takes a few milliseconds per thousand processes.
  void Prewarm();

  // Waits until every queued name look-up has been tried, or the timeout passes. For tests and
  // for callers that want names before they go on. Returns whether the queue drained.
  bool WaitForNames(absl::Duration timeout);

  // Counters for the agent's status, by name ("container.lookups", ...).
  std::map<std::string, uint64_t> Counters() const;

 private:
  struct ProcessEntry {
    uint64_t start_time = 0;  // clock ticks after boot, /proc/<pid>/stat field 22
    std::optional<CgroupIdentity> identity;
    std::optional<uint32_t> mount_namespace;  // as read with the identity
    absl::Time read_at;
  };
  struct NamespaceEntry {
    std::optional<CgroupIdentity> identity;  // nullopt: the host's (no container's)
    absl::Time read_at;
  };
  struct NameEntry {
    std::optional<EngineContainer> engine;  // set once an engine answered
    bool queued = false;
    absl::Time next_try = absl::InfinitePast();
  };

  ContainerInfo ToInfo(const CgroupIdentity& identity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The namespace's entry when fresh; sets *found.
  // Lookup(pid), also giving the mount namespace the process was in when read (nullopt when it
  // is gone or its namespace was unreadable).
  std::optional<ContainerInfo> LookupProcess(uint32_t pid,
                                             std::optional<uint32_t>* mount_namespace);
  std::optional<ContainerInfo> FromNamespace(uint32_t mount_namespace, absl::Time now, bool* found)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberNamespace(uint32_t mount_namespace, const std::optional<CgroupIdentity>& identity,
                         absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RequestName(const CgroupIdentity& identity, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Asks the stores, then the engines (blocking). NotFound when every reachable source said so;
  // Unavailable when none was reachable.
  absl::StatusOr<EngineContainer> AskEngines(const std::string& id_or_name,
                                             const std::string& runtime);
  void NameLoop();
  // Whether names are asked for at all: some store, engine socket or the CRI runtime is configured.
  bool AsksNames() const {
    return store_.configured() || !engines_.empty() || options_.cri_inspect != nullptr;
  }
  // Pings the engines once and logs whether any answers.
  // `at_startup`: finding no engine is logged as one calm line (a host without containers),
  // not a warning; a container whose name cannot be found later warns.
  void ProbeEngines(bool at_startup = false);
  // "" when other processes' mount namespaces are readable; else the first refusal.
  std::string UnreadableNamespaces() const;
  void NoteEngineReachability(bool any_reachable, const std::string& detail,
                              bool at_startup = false);

  const ResolverOptions options_;
  ContainerStore store_;
  std::vector<EngineClient> engines_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, ProcessEntry> processes_ ABSL_GUARDED_BY(mu_);
  // Mount namespace (inode number) -> the container its processes are in, as last read.
  absl::flat_hash_map<uint32_t, NamespaceEntry> namespaces_ ABSL_GUARDED_BY(mu_);
  // When /proc was last searched for a process in a namespace not known (bounds the searches).
  absl::flat_hash_map<uint32_t, absl::Time> namespace_searches_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, NameEntry> names_ ABSL_GUARDED_BY(mu_);      // by full id
  std::deque<std::pair<std::string, std::string>> queue_ ABSL_GUARDED_BY(mu_);  // id, runtime
  bool lookup_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time engines_down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Engine reachability as last logged: unknown, reachable, unreachable.
  int engine_state_logged_ ABSL_GUARDED_BY(mu_) = 0;

  struct Stats {
    uint64_t lookups = 0;
    uint64_t cache_hits = 0;
    uint64_t cgroup_reads = 0;
    uint64_t cache_evictions = 0;
    uint64_t engine_requests = 0;
    uint64_t engine_failures = 0;
    uint64_t names_resolved = 0;
    uint64_t name_evictions = 0;
    uint64_t namespace_hits = 0;      // attributed by the probes' mount namespace
    uint64_t namespace_searches = 0;  // /proc searched for a namespace's live process
    uint64_t namespace_unknown = 0;   // a namespace no process was found in: host assumed
  };
  Stats stats_ ABSL_GUARDED_BY(mu_);

  std::thread name_thread_;
};

// Exposed for tests: field 22 (starttime) of a /proc/<pid>/stat line.
std::optional<uint64_t> ParseStartTime(absl::string_view stat);
// "mnt:[4026531840]" -> 4026531840.
std::optional<uint32_t> ParseNamespaceLink(absl::string_view link);

}  // namespace httptrace::container
