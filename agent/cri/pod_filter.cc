#include "agent/cri/pod_filter.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace httptrace::cri {

PodFilter::PodFilter(CriClient* cri, std::function<std::string(uint32_t pid)> pod_uid_of_pid,
                     std::string proc_root)
    : cri_(cri), pod_uid_of_pid_(std::move(pod_uid_of_pid)), proc_root_(std::move(proc_root)) {}

absl::StatusOr<std::vector<uint32_t>> PodFilter::MountNamespacesOf(
    const std::vector<std::string>& namespaces, const std::vector<std::string>& pods) {
  if (namespaces.empty() && pods.empty()) {
    return absl::InvalidArgumentError("a pod filter needs a namespace or a pod name");
  }
  absl::StatusOr<std::vector<PodMetadata>> matching = cri_->PodsOf(namespaces, pods);
  if (!matching.ok()) return matching.status();
  std::vector<uint32_t> out;
  if (matching->empty()) return out;
  absl::flat_hash_set<std::string> wanted;
  {
    absl::MutexLock lock(&mu_);
    if (matched_.size() > 4096) matched_.clear();
    for (const PodMetadata& pod : *matching) {
      wanted.insert(pod.pod_uid);
      matched_[pod.pod_uid] = pod;
    }
  }

  DIR* dir = opendir(proc_root_.c_str());
  if (dir == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot list ", proc_root_));
  }
  while (const dirent* entry = readdir(dir)) {
    uint32_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid == 0) continue;
    if (!wanted.contains(pod_uid_of_pid_(pid))) continue;
    // A process that exits between the listing and here is simply not counted.
    struct stat st;
    const std::string path = absl::StrCat(proc_root_, "/", pid, "/ns/mnt");
    if (stat(path.c_str(), &st) == 0) {
      out.push_back(static_cast<uint32_t>(st.st_ino));
    } else if (errno == EACCES || errno == EPERM) {
      // The kernel's ptrace access check (see ContainerResolver::MountNamespacesOf).
      const int err = errno;
      closedir(dir);
      return absl::PermissionDeniedError(
          absl::StrCat("pod filter: cannot read ", path, ": ", strerror(err),
                       "; reading other processes' namespaces needs CAP_SYS_PTRACE"));
    }
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace httptrace::cri

namespace httptrace::cri {

std::optional<PodMetadata> PodFilter::MatchedPod(const std::string& pod_uid) const {
  absl::MutexLock lock(&mu_);
  auto it = matched_.find(pod_uid);
  if (it == matched_.end()) return std::nullopt;
  return it->second;
}

}  // namespace httptrace::cri
