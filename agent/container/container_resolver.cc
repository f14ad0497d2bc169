#include "agent/container/container_resolver.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace httptrace::container {
namespace {

// /proc/<pid>/cgroup is a few hundred bytes even with every v1 controller and a deep path.
constexpr size_t kMaxProcFile = 64 * 1024;

// Reads a small /proc file in one go. std::nullopt when it cannot be opened (process gone).
std::optional<std::string> ReadProcFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string contents;
  char buffer[4096];
  while (contents.size() < kMaxProcFile) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

bool IsHexPrefix(absl::string_view s) {
  if (s.size() < 4 || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c)) && !absl::ascii_isupper(c);
  });
}

enum EngineState { kUnknown = 0, kReachable = 1, kUnreachable = 2 };

// The runtime hint of a container in a Kubernetes pod (its cgroup path names a pod UID).
constexpr char kKubernetesRuntimeHint[] = "kubernetes";

absl::StatusOr<std::vector<uint32_t>> ListPids(const std::string& proc_root) {
  DIR* dir = ::opendir(proc_root.c_str());
  if (dir == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat("cannot list ", proc_root));
  std::vector<uint32_t> pids;
  while (const dirent* entry = ::readdir(dir)) {
    uint32_t pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  ::closedir(dir);
  return pids;
}

}  // namespace

std::optional<uint64_t> ParseStartTime(absl::string_view stat) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field 22 is fields[19].
  uint64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) return std::nullopt;
  return start;
}

std::optional<uint32_t> ParseNamespaceLink(absl::string_view link) {
  if (!absl::ConsumePrefix(&link, "mnt:[") || !absl::ConsumeSuffix(&link, "]")) {
    return std::nullopt;
  }
  uint32_t inode = 0;
  if (!absl::SimpleAtoi(link, &inode)) return std::nullopt;
  return inode;
}

ContainerResolver::ContainerResolver(ResolverOptions options)
    : options_(std::move(options)), store_(StoreOptions{.roots = options_.store_roots}) {
  for (const std::string& socket : options_.engine_sockets) {
    engines_.emplace_back(socket, options_.engine_timeout);
  }
  if (AsksNames()) name_thread_ = std::thread([this] { NameLoop(); });
}

ContainerResolver::~ContainerResolver() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (name_thread_.joinable()) name_thread_.join();
}

namespace {

void ApplyEngineAnswer(const EngineContainer& engine, ContainerInfo& info) {
  info.name = engine.name;
  info.pod_name = engine.pod_name;
  info.pod_namespace = engine.pod_namespace;
  if (info.pod_uid.empty()) info.pod_uid = engine.pod_uid;
}

}  // namespace

ContainerInfo ContainerResolver::ToInfo(const CgroupIdentity& identity) {
  ContainerInfo info;
  info.id = identity.id;
  info.runtime = identity.runtime;
  info.pod_uid = identity.pod_uid;
  auto it = names_.find(identity.id);
  if (it != names_.end() && it->second.engine.has_value()) {
    ApplyEngineAnswer(*it->second.engine, info);
  }
  return info;
}

void ContainerResolver::RequestName(const CgroupIdentity& identity, absl::Time now) {
  if (!AsksNames()) return;
  if (names_.size() >= options_.max_containers && !names_.contains(identity.id)) {
    // Containers come and go on a busy node: forget what is not in flight; a container seen
    // again is asked for again.
    const size_t before = names_.size();
    absl::erase_if(names_, [](const auto& item) { return !item.second.queued; });
    stats_.name_evictions += before - names_.size();
  }
  NameEntry& entry = names_[identity.id];
  if (entry.engine.has_value() || entry.queued || now < entry.next_try) return;
  entry.queued = true;
  queue_.emplace_back(identity.id,
                      identity.pod_uid.empty() ? identity.runtime : kKubernetesRuntimeHint);
}

bool ContainerResolver::FillKnownNames(ContainerInfo& info) const {
  absl::MutexLock lock(&mu_);
  auto it = names_.find(info.id);
  if (it != names_.end() && it->second.engine.has_value()) {
    ApplyEngineAnswer(*it->second.engine, info);
  }
  return !info.name.empty();
}

std::optional<ContainerInfo> ContainerResolver::Lookup(uint32_t pid) {
  std::optional<uint32_t> mount_namespace;
  return LookupProcess(pid, &mount_namespace);
}

std::optional<ContainerInfo> ContainerResolver::LookupProcess(
    uint32_t pid, std::optional<uint32_t>* process_namespace) {
  process_namespace->reset();
  const std::string dir = absl::StrCat(options_.proc_root, "/", pid);
  // A process that is gone (short-lived clients) keeps the answer cached for its pid.
  uint64_t start_time = 0;
  bool alive = false;
  if (const std::optional<std::string> stat = ReadProcFile(dir + "/stat")) {
    if (const std::optional<uint64_t> start = ParseStartTime(*stat)) {
      start_time = *start;
      alive = true;
    }
  }
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    ++stats_.lookups;
    auto it = processes_.find(pid);
    if (it != processes_.end()) {
      const ProcessEntry& entry = it->second;
      if (!alive || (start_time == entry.start_time && now - entry.read_at < options_.cache_ttl)) {
        ++stats_.cache_hits;
        if (alive) *process_namespace = entry.mount_namespace;
        if (!entry.identity.has_value()) return std::nullopt;
        RequestName(*entry.identity, now);
        return ToInfo(*entry.identity);
      }
    }
  }
  if (!alive) return std::nullopt;
  const std::optional<std::string> cgroup = ReadProcFile(dir + "/cgroup");
  if (!cgroup.has_value()) return std::nullopt;
  std::optional<CgroupIdentity> identity = ParseProcCgroup(*cgroup);
  // Its mount namespace, for the connections of processes of the same container that exit
  // before they are looked up (Lookup(pid, mount_namespace)).
  std::optional<uint32_t> mount_namespace;
  char link[64];
  const ssize_t n = ::readlink((dir + "/ns/mnt").c_str(), link, sizeof(link) - 1);
  if (n > 0) mount_namespace = ParseNamespaceLink(absl::string_view(link, n));

  absl::MutexLock lock(&mu_);
  ++stats_.cgroup_reads;
  if (mount_namespace.has_value()) RememberNamespace(*mount_namespace, identity, now);
  if (processes_.size() >= options_.max_processes && !processes_.contains(pid)) {
    // Drop answers older than the TTL (mostly processes that have exited); if every entry is
    // fresh, start over: the next look-ups read /proc again, nothing is lost.
    const size_t before = processes_.size();
    absl::erase_if(processes_, [&](const auto& item) {
      return now - item.second.read_at >= options_.cache_ttl;
    });
    if (processes_.size() >= options_.max_processes) processes_.clear();
    stats_.cache_evictions += before - processes_.size();
  }
  processes_[pid] = ProcessEntry{start_time, identity, mount_namespace, now};
  *process_namespace = mount_namespace;
  if (!identity.has_value()) return std::nullopt;
  RequestName(*identity, now);
  return ToInfo(*identity);
}

std::optional<ContainerInfo> ContainerResolver::FromNamespace(uint32_t mount_namespace,
                                                              absl::Time now, bool* found) {
  *found = false;
  auto it = namespaces_.find(mount_namespace);
  if (it == namespaces_.end() || now - it->second.read_at >= options_.cache_ttl) {
    return std::nullopt;
  }
  *found = true;
  ++stats_.namespace_hits;
  if (!it->second.identity.has_value()) return std::nullopt;
  RequestName(*it->second.identity, now);
  return ToInfo(*it->second.identity);
}

void ContainerResolver::RememberNamespace(uint32_t mount_namespace,
                                          const std::optional<CgroupIdentity>& identity,
                                          absl::Time now) {
  if (namespaces_.size() >= options_.max_processes && !namespaces_.contains(mount_namespace)) {
    absl::erase_if(namespaces_, [&](const auto& item) {
      return now - item.second.read_at >= options_.cache_ttl;
    });
    if (namespaces_.size() >= options_.max_processes) namespaces_.clear();
  }
  namespaces_[mount_namespace] = NamespaceEntry{identity, now};
}

std::optional<ContainerInfo> ContainerResolver::Lookup(uint32_t pid, uint32_t mount_namespace) {
  if (mount_namespace == 0) return Lookup(pid);
  // The process itself first, while it lives in that namespace: the kernel reuses a namespace's
  // inode number (a container restarted in its pod often gets its predecessor's, seen with
  // containerd), so what was remembered for the number may be another container's, while the
  // process's own cgroup is never stale. Reading it also learns the namespace.
  std::optional<uint32_t> process_namespace;
  std::optional<ContainerInfo> info = LookupProcess(pid, &process_namespace);
  if (process_namespace == mount_namespace) return info;
  absl::Time now = absl::Now();
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    std::optional<ContainerInfo> learned = FromNamespace(mount_namespace, now, &found);
    if (found) return learned;
    // Gone, or its pid names another process now: another process in the same namespace
    // tells the container. Searched at most once a second per namespace.
    auto [search, first] = namespace_searches_.try_emplace(mount_namespace, now);
    if (!first && now - search->second < absl::Seconds(1)) return info;
    search->second = now;
    if (namespace_searches_.size() > options_.max_processes) namespace_searches_.clear();
    ++stats_.namespace_searches;
  }
  absl::StatusOr<std::vector<uint32_t>> pids = ListPids(options_.proc_root);
  if (pids.ok()) {
    char link[64];
    for (uint32_t other : *pids) {
      const std::string path = absl::StrCat(options_.proc_root, "/", other, "/ns/mnt");
      const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
      if (n <= 0 || ParseNamespaceLink(absl::string_view(link, n)) != mount_namespace) continue;
      std::optional<ContainerInfo> container = Lookup(other);
      now = absl::Now();
      absl::MutexLock lock(&mu_);
      // Lookup(other) remembered the namespace when it read the process; a cached answer did
      // not: remember it here.
      if (!namespaces_.contains(mount_namespace)) {
        auto cached = processes_.find(other);
        if (cached != processes_.end()) {
          RememberNamespace(mount_namespace, cached->second.identity, now);
        }
      }
      return container;
    }
  }
  absl::MutexLock lock(&mu_);
  ++stats_.namespace_unknown;
  return info;
}

absl::StatusOr<EngineContainer> ContainerResolver::AskEngines(const std::string& id_or_name,
                                                              const std::string& runtime) {
  // The runtime's own engine first: a podman container is not worth a question to Docker.
  std::vector<const EngineClient*> order;
  for (const EngineClient& engine : engines_) {
    if (!runtime.empty() && absl::StrContains(engine.socket_path(), runtime)) {
      order.insert(order.begin(), &engine);
    } else {
      order.push_back(&engine);
    }
  }
  std::string answered;  // the first source that answered at all
  std::vector<std::string> failures;
  // A Kubernetes container: the CRI runtime first, for its pod's name and namespace. (CRI-O
  // keeps its containers in containers/storage too, under names that are not the pod's.)
  const bool cri_first = runtime == kKubernetesRuntimeHint && options_.cri_inspect;
  if (cri_first) {
    absl::StatusOr<EngineContainer> container = options_.cri_inspect(id_or_name);
    if (container.ok()) {
      NoteEngineReachability(true, "the CRI runtime");
      return container;
    }
    if (absl::IsNotFound(container.status())) {
      answered = "the CRI runtime";
    } else {
      failures.push_back(std::string(container.status().message()));
    }
  }
  if (store_.configured()) {
    // The engines' own files first: no daemon needed, and a stat when nothing changed.
    absl::StatusOr<EngineContainer> container = store_.Find(id_or_name);
    if (container.ok()) {
      NoteEngineReachability(true, "the engines' container stores");
      return container;
    }
    if (absl::IsNotFound(container.status())) {
      if (answered.empty()) answered = "the engines' container stores";
    } else {
      failures.push_back(std::string(container.status().message()));
    }
  }
  for (const EngineClient* engine : order) {
    if (::access(engine->socket_path().c_str(), F_OK) != 0) {
      failures.push_back(absl::StrCat(engine->socket_path(), ": absent"));
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      ++stats_.engine_requests;
    }
    absl::StatusOr<EngineContainer> container = engine->Inspect(id_or_name);
    if (container.ok() || absl::IsNotFound(container.status())) {
      if (answered.empty()) answered = engine->socket_path();
      if (container.ok()) {
        NoteEngineReachability(true, answered);
        return container;
      }
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      ++stats_.engine_failures;
    }
    failures.push_back(std::string(container.status().message()));
  }
  if (options_.cri_inspect && !cri_first) {
    absl::StatusOr<EngineContainer> container = options_.cri_inspect(id_or_name);
    if (container.ok()) {
      NoteEngineReachability(true, "the CRI runtime");
      return container;
    }
    if (absl::IsNotFound(container.status())) {
      if (answered.empty()) answered = "the CRI runtime";
    } else {
      failures.push_back(std::string(container.status().message()));
    }
  }
  if (!answered.empty()) {
    NoteEngineReachability(true, answered);
    return absl::NotFoundError(absl::StrCat("no container engine knows ", id_or_name));
  }
  const std::string detail = absl::StrJoin(failures, "; ");
  NoteEngineReachability(false, detail);
  return absl::UnavailableError(absl::StrCat("no container engine reachable (", detail, ")"));
}

void ContainerResolver::ProbeEngines(bool at_startup) {
  std::vector<std::string> failures;
  if (store_.configured()) {
    absl::StatusOr<std::string> stores = store_.Describe();
    if (stores.ok()) {
      NoteEngineReachability(true, *stores);
      return;
    }
    failures.push_back(std::string(stores.status().message()));
  }
  for (const EngineClient& engine : engines_) {
    if (::access(engine.socket_path().c_str(), F_OK) != 0) {
      failures.push_back(absl::StrCat(engine.socket_path(), ": absent"));
      continue;
    }
    absl::Status status = engine.Ping();
    if (status.ok()) {
      NoteEngineReachability(true, engine.socket_path());
      return;
    }
    failures.push_back(std::string(status.message()));
  }
  if (options_.cri_inspect) {
    // The Kubernetes runtime answers over CRI (the agent checked it at start): names come from
    // there, so the missing Docker-compatible engines do not stop look-ups.
    NoteEngineReachability(true, "the CRI runtime");
    return;
  }
  NoteEngineReachability(false, absl::StrJoin(failures, "; "), at_startup);
}

void ContainerResolver::NoteEngineReachability(bool any_reachable, const std::string& detail,
                                               bool at_startup) {
  absl::MutexLock lock(&mu_);
  const int state = any_reachable ? kReachable : kUnreachable;
  // The start-up probe does not hold back the first container's look-up: that one decides
  // whether a name is missing, and says so (a host without containers stays quiet).
  if (!any_reachable && !at_startup) engines_down_until_ = absl::Now() + options_.engine_retry;
  if (state == engine_state_logged_) return;
  if (!any_reachable && at_startup) {
    // A host without containers: nothing to act on. The warning waits for a container whose
    // name cannot be found (the state stays unlogged).
    HT_LOG(INFO) << "no container runtime found (" << detail
                 << "): exchanges of host processes carry no container; container names are "
                    "looked up if containers appear";
    return;
  }
  engine_state_logged_ = state;
  if (!any_reachable) {
    HT_LOG(WARNING) << "no source of container names is readable (" << detail
                    << "): exchanges carry container ids but no names. Mount the engine's "
                       "storage (e.g. /var/lib/containers/storage/overlay-containers, "
                       "/var/lib/docker/containers) or its API socket read-only into the agent "
                       "(--container-store, --container-engine-socket)";
  } else {
    HT_LOG(INFO) << "container names from " << detail;
  }
}

std::string ContainerResolver::UnreadableNamespaces() const {
  // PID 1 alone does not tell: a machine's own supervisor may refuse even root (seen here)
  // while every other process's namespace is readable. A few other processes decide.
  char link[64];
  std::string first_refusal;
  int tried = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(options_.proc_root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    if (name == std::to_string(::getpid())) continue;
    const std::string ns = entry.path().string() + "/ns/mnt";
    if (::readlink(ns.c_str(), link, sizeof(link)) >= 0) return "";
    if (errno == EACCES || errno == EPERM) {
      if (first_refusal.empty()) first_refusal = absl::StrCat(ns, ": ", strerror(errno));
    }
    if (++tried == 16) break;
  }
  return first_refusal;
}

void ContainerResolver::NameLoop() {
  // Say at start-up, not at the first container, whether names will be available and whether
  // container filters can work; and learn the names of the containers already running.
  if (const std::string refused = UnreadableNamespaces(); !refused.empty()) {
    HT_LOG(WARNING) << "cannot read other processes' namespaces (" << refused
                    << "): --container, --namespace and --pod captures will fail; reading "
                       "them needs CAP_SYS_PTRACE";
  }
  ProbeEngines(/*at_startup=*/true);
  Prewarm();
  while (true) {
    std::string id, runtime;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ContainerResolver* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->queue_.empty();
          },
          this));
      if (stopping_) return;
      std::tie(id, runtime) = queue_.front();
      queue_.pop_front();
      lookup_in_flight_ = true;
      if (absl::Now() < engines_down_until_) {
        // Nothing answered a moment ago: do not knock on every socket for every new id.
        NameEntry& entry = names_[id];
        entry.queued = false;
        entry.next_try = engines_down_until_;
        lookup_in_flight_ = false;
        continue;
      }
    }
    absl::StatusOr<EngineContainer> container = AskEngines(id, runtime);
    absl::MutexLock lock(&mu_);
    NameEntry& entry = names_[id];
    entry.queued = false;
    lookup_in_flight_ = false;
    if (container.ok()) {
      entry.engine = *std::move(container);
      ++stats_.names_resolved;
    } else {
      entry.next_try = absl::Now() + options_.engine_retry;
      HT_LOG(DEBUG) << "no name for container " << id.substr(0, 12) << ": "
                    << container.status().message();
    }
  }
}

void ContainerResolver::Prewarm() {
  absl::StatusOr<std::vector<uint32_t>> pids = ListPids(options_.proc_root);
  if (!pids.ok()) {
    HT_LOG(WARNING) << "container attribution: " << pids.status().message();
    return;
  }
  for (uint32_t pid : *pids) Lookup(pid);
}

bool ContainerResolver::WaitForNames(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      absl::Condition(
          +[](ContainerResolver* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->queue_.empty() && !self->lookup_in_flight_;
          },
          this),
      timeout);
}

absl::StatusOr<std::vector<uint32_t>> ContainerResolver::MountNamespacesOf(
    const std::vector<std::string>& id_prefixes_or_names) {
  std::vector<std::string> prefixes;
  absl::flat_hash_set<std::string> names;
  absl::flat_hash_set<std::string> ids;  // full ids the engines gave for names
  for (const std::string& selector : id_prefixes_or_names) {
    if (selector.empty()) return absl::InvalidArgumentError("empty container id or name");
    if (IsHexPrefix(selector)) prefixes.push_back(selector);
    names.insert(selector);
  }
  // Names the resolver has not learnt yet (a container whose processes it never looked up):
  // the engines map them to ids. Hex-only selectors may be names too, so ask for them as well.
  for (const std::string& name : names) {
    bool known = false;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, entry] : names_) {
        if (entry.engine.has_value() && entry.engine->name == name) {
          ids.insert(id);
          known = true;
        }
      }
      if (known || !AsksNames() || absl::Now() < engines_down_until_) continue;
    }
    if (IsHexPrefix(name) && name.size() == 64) continue;  // a full id needs no engine
    absl::StatusOr<EngineContainer> container = AskEngines(name, "");
    if (container.ok()) {
      if (container->name == name || absl::StartsWith(container->id, name)) {
        ids.insert(container->id);
      }
      absl::MutexLock lock(&mu_);
      NameEntry& entry = names_[container->id];
      if (!entry.engine.has_value()) ++stats_.names_resolved;
      entry.engine = *std::move(container);
    }
  }

  absl::StatusOr<std::vector<uint32_t>> pids = ListPids(options_.proc_root);
  if (!pids.ok()) return pids.status();
  std::vector<uint32_t> inodes;
  for (uint32_t pid : *pids) {
    std::optional<ContainerInfo> info = Lookup(pid);
    if (!info.has_value()) continue;
    bool match = ids.contains(info->id) || (!info->name.empty() && names.contains(info->name));
    for (const std::string& prefix : prefixes) match |= absl::StartsWith(info->id, prefix);
    if (!match) continue;
    char link[64];
    const std::string path = absl::StrCat(options_.proc_root, "/", pid, "/ns/mnt");
    const ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    if (n < 0 && (errno == EACCES || errno == EPERM)) {
      // The kernel's ptrace access check: a process whose capabilities are not a subset of the
      // agent's (any container's) needs CAP_SYS_PTRACE. A filter missing it would miss traffic.
      return absl::PermissionDeniedError(absl::StrCat(
          "container filter: cannot read ", path, " (container ", info->id.substr(0, 12),
          "): ", strerror(errno), "; reading other processes' namespaces needs CAP_SYS_PTRACE"));
    }
    if (n <= 0) continue;  // exited meanwhile
    if (std::optional<uint32_t> inode = ParseNamespaceLink(absl::string_view(link, n))) {
      inodes.push_back(*inode);
    }
  }
  std::sort(inodes.begin(), inodes.end());
  inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
  return inodes;
}

std::map<std::string, uint64_t> ContainerResolver::Counters() const {
  std::map<std::string, uint64_t> store = store_.Counters();
  absl::MutexLock lock(&mu_);
  std::map<std::string, uint64_t> out = {
      {"container.lookups", stats_.lookups},
      {"container.cache_hits", stats_.cache_hits},
      {"container.cgroup_reads", stats_.cgroup_reads},
      {"container.cache_evictions", stats_.cache_evictions},
      {"container.engine_requests", stats_.engine_requests},
      {"container.engine_failures", stats_.engine_failures},
      {"container.names_resolved", stats_.names_resolved},
      {"container.name_evictions", stats_.name_evictions},
      {"container.processes_cached", processes_.size()},
      {"container.namespace_hits", stats_.namespace_hits},
      {"container.namespace_searches", stats_.namespace_searches},
      {"container.namespace_unknown", stats_.namespace_unknown},
      {"container.namespaces_known", namespaces_.size()},
  };
  out.insert(store.begin(), store.end());
  return out;
}

}  // namespace httptrace::container
