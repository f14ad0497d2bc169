#include "agent/container/container_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace httptrace::container {
namespace {

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsFullId(absl::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isxdigit(static_cast<unsigned char>(c)) && !absl::ascii_isupper(c);
         });
}

bool IsIdPrefix(absl::string_view s) {
  return s.size() >= 4 && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isxdigit(static_cast<unsigned char>(c)) && !absl::ascii_isupper(c);
         });
}

// What a failed open or stat of an engine's file means for the operator. The stores are owned by
// root (rootful) or by the user (rootless, under a 0700 home): an agent running as root without
// CAP_DAC_READ_SEARCH (or CAP_DAC_OVERRIDE) cannot read another user's files.
std::string Explain(int err, const std::string& path) {
  std::string out = absl::StrCat(path, ": ", std::strerror(err));
  if (err == EACCES || err == EPERM) {
    absl::StrAppend(&out, " (reading another user's files needs CAP_DAC_READ_SEARCH)");
  }
  return out;
}

// Reads a whole file of at most `limit` bytes.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, Explain(errno, path));
  std::string contents;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, Explain(errno, path));
    }
    if (n == 0) return contents;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": larger than ", limit, " bytes, not read"));
    }
  }
}

// Paths matching `pattern`; directories glob could not search (permission) go to `errors`.
std::vector<std::string> Glob(const std::string& pattern, std::vector<std::string>& errors) {
  static thread_local std::vector<std::string>* glob_errors = nullptr;
  glob_errors = &errors;
  glob_t result{};
  const int rc = ::glob(
      pattern.c_str(), GLOB_NOSORT,
      +[](const char* path, int err) -> int {
        if (err == EACCES || err == EPERM) glob_errors->push_back(Explain(err, path));
        return 0;  // go on with what can be read
      },
      &result);
  std::vector<std::string> paths;
  if (rc == 0) paths.assign(result.gl_pathv, result.gl_pathv + result.gl_pathc);
  ::globfree(&result);
  glob_errors = nullptr;
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

absl::StatusOr<std::vector<EngineContainer>> ParseContainersJson(absl::string_view text) {
  const nlohmann::json json =
      nlohmann::json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array()) {
    return absl::DataLossError("containers.json: not a JSON array");
  }
  std::vector<EngineContainer> out;
  out.reserve(json.size());
  for (const nlohmann::json& item : json) {
    EngineContainer container;
    container.id = StringAt(item, "id");
    if (container.id.empty()) continue;
    auto names = item.find("names");
    if (names != item.end() && names->is_array() && !names->empty() && names->front().is_string()) {
      container.name = names->front().get<std::string>();
    }
    out.push_back(std::move(container));
  }
  return out;
}

absl::StatusOr<EngineContainer> ParseDockerConfig(absl::string_view text) {
  return ParseDockerContainer(text, "config.v2.json");
}

ContainerStore::ContainerStore(StoreOptions options) : options_(std::move(options)) {}

void ContainerStore::ReadContainersJson(Store& store, std::vector<std::string>& errors) {
  absl::StatusOr<std::string> text = ReadFile(store.path, options_.max_file_bytes);
  absl::StatusOr<std::vector<EngineContainer>> containers =
      text.ok() ? ParseContainersJson(*text) : text.status();
  ++reads_;
  if (containers.ok() && containers->size() > options_.max_containers) {
    containers = absl::ResourceExhaustedError(absl::StrCat(
        store.path, ": more than ", options_.max_containers, " containers, not taken in"));
  }
  if (!containers.ok()) {
    ++errors_;
    store.error = std::string(containers.status().message());
    errors.push_back(store.error);
    store.containers.clear();
    return;
  }
  store.error.clear();
  store.containers = *std::move(containers);
}

void ContainerStore::ReadDockerDir(Store& store, std::vector<std::string>& errors) {
  DIR* dir = ::opendir(store.path.c_str());
  if (dir == nullptr) {
    ++errors_;
    store.error = Explain(errno, store.path);
    errors.push_back(store.error);
    store.containers.clear();
    return;
  }
  store.error.clear();
  std::map<std::string, std::pair<FileStamp, EngineContainer>> configs;
  while (const dirent* entry = ::readdir(dir)) {
    if (!IsFullId(entry->d_name)) continue;
    if (configs.size() >= options_.max_containers) {
      ++errors_;
      errors.push_back(absl::StrCat(store.path, ": more than ", options_.max_containers,
                                    " containers, the rest not taken in"));
      break;
    }
    const std::string path = absl::StrCat(store.path, "/", entry->d_name, "/config.v2.json");
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;  // being created or removed
    const FileStamp stamp{st.st_ino, st.st_size,
                          int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
    auto old = store.docker_configs.find(entry->d_name);
    if (old != store.docker_configs.end() && old->second.first == stamp) {
      configs.insert(*old);
      continue;
    }
    absl::StatusOr<std::string> text = ReadFile(path, options_.max_file_bytes);
    absl::StatusOr<EngineContainer> container =
        text.ok() ? ParseDockerConfig(*text) : text.status();
    ++reads_;
    if (!container.ok()) {
      ++errors_;
      errors.push_back(absl::StrCat(path, ": ", container.status().message()));
      continue;
    }
    configs[entry->d_name] = {stamp, *std::move(container)};
  }
  ::closedir(dir);
  store.docker_configs = std::move(configs);
  store.containers.clear();
  for (const auto& [id, item] : store.docker_configs) store.containers.push_back(item.second);
}

void ContainerStore::Refresh(std::vector<std::string>& errors) {
  std::map<std::string, Store> seen;
  for (const std::string& root : options_.roots) {
    std::vector<std::pair<std::string, bool>> candidates;  // path, docker
    // volatile-containers.json: containers/storage's records of containers it keeps off disk
    // (transient stores, volatile containers), under the run root (/run/containers/storage).
    for (const char* file : {"containers.json", "volatile-containers.json"}) {
      for (const std::string& path : Glob(absl::StrCat(root, "/*-containers/", file), errors)) {
        candidates.emplace_back(path, false);
      }
    }
    for (const std::string& path : Glob(root + "/containers", errors)) {
      candidates.emplace_back(path, true);
    }
    if (candidates.empty()) {
      // Nothing matched: absent (quietly) or unreadable (said). Only the root itself is checked
      // here; unreadable directories inside a pattern were reported by Glob.
      if (root.find_first_of("*?[") == std::string::npos && ::access(root.c_str(), F_OK) == 0 &&
          ::access(root.c_str(), R_OK | X_OK) != 0) {
        errors.push_back(Explain(errno, root));
      }
      continue;
    }
    for (auto& [path, docker] : candidates) {
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) errors.push_back(Explain(errno, path));
        continue;
      }
      const FileStamp stamp{st.st_ino, st.st_size,
                            int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
      Store store;
      if (auto old = stores_.find(path); old != stores_.end()) store = std::move(old->second);
      store.path = path;
      store.docker = docker;
      // Docker's directory changes its mtime when containers come and go, not when one is
      // renamed: a name not found there reads the directory again anyway (see Find).
      if (store.stamp != stamp) {
        store.stamp = stamp;
        if (docker) {
          ReadDockerDir(store, errors);
        } else {
          ReadContainersJson(store, errors);
        }
      }
      seen[path] = std::move(store);
    }
  }
  stores_ = std::move(seen);
}

absl::StatusOr<EngineContainer> ContainerStore::Find(absl::string_view id_or_name) {
  if (id_or_name.empty()) return absl::InvalidArgumentError("empty container id or name");
  absl::MutexLock lock(&mu_);
  std::vector<std::string> errors;
  Refresh(errors);
  auto search = [&]() -> const EngineContainer* {
    const EngineContainer* by_prefix = nullptr;
    int prefix_matches = 0;
    for (const auto& [path, store] : stores_) {
      for (const EngineContainer& c : store.containers) {
        if (c.id == id_or_name || c.name == id_or_name) return &c;
        if (IsIdPrefix(id_or_name) && absl::StartsWith(c.id, id_or_name)) {
          by_prefix = &c;
          ++prefix_matches;
        }
      }
    }
    return prefix_matches == 1 ? by_prefix : nullptr;
  };
  if (const EngineContainer* c = search()) return *c;
  // A Docker container renamed since its directory was read: read the configs again.
  bool docker = false;
  for (auto& [path, store] : stores_) {
    if (store.docker) {
      ReadDockerDir(store, errors);
      docker = true;
    }
  }
  if (docker) {
    if (const EngineContainer* c = search()) return *c;
  }
  if (absl::Status s = SomeStoreRead(errors); !s.ok()) return s;
  return absl::NotFoundError(absl::StrCat("no container store knows ", id_or_name));
}

absl::Status ContainerStore::SomeStoreRead(std::vector<std::string>& errors) const {
  bool any_read = false;
  for (const auto& [path, store] : stores_) {
    if (store.error.empty()) {
      any_read = true;
    } else if (std::find(errors.begin(), errors.end(), store.error) == errors.end()) {
      errors.push_back(store.error);  // read before and unchanged since: still unreadable
    }
  }
  if (any_read) return absl::OkStatus();
  return absl::UnavailableError(errors.empty() ? absl::StrCat("no container store under ",
                                                              absl::StrJoin(options_.roots, ", "))
                                               : absl::StrJoin(errors, "; "));
}

absl::StatusOr<std::string> ContainerStore::Describe() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> errors;
  Refresh(errors);
  if (absl::Status s = SomeStoreRead(errors); !s.ok()) return s;
  std::vector<std::string> parts;
  for (const auto& [path, store] : stores_) {
    if (!store.error.empty()) continue;
    parts.push_back(absl::StrCat(store.docker ? "Docker's " : "containers/storage's ", path));
  }
  std::string out = absl::StrJoin(parts, ", ");
  if (!errors.empty()) absl::StrAppend(&out, " (not readable: ", absl::StrJoin(errors, "; "), ")");
  return out;
}

std::map<std::string, uint64_t> ContainerStore::Counters() const {
  absl::MutexLock lock(&mu_);
  return {{"container.store_reads", reads_}, {"container.store_errors", errors_}};
}

}  // namespace httptrace::container
