// The in-kernel side of the --namespace and --pod filters: the mount namespaces of every running
// process of the pods a filter names, the same currency as the --container filter's. Pods are
// named by the runtime (CriClient::PodsOf: namespace and name to pod UID); processes are
// matched to pods by the pod UID of their cgroup path, which the caller's container resolver
// knows (injected here, so this stays independent of how cgroup paths are parsed).
//
//   PodFilter pods(&cri, [&](uint32_t pid) { return resolver.PodUidOf(pid); });
//   auto mount_namespaces = pods.MountNamespacesOf({"shop"}, {});

#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/cri/cri_client.h"

namespace httptrace::cri {

class PodFilter {
 public:
  // `pod_uid_of_pid`: the pod UID of a process (dashed form), empty when it is in no pod.
  PodFilter(CriClient* cri, std::function<std::string(uint32_t pid)> pod_uid_of_pid,
            std::string proc_root = "/proc");

  // Mount-namespace inode numbers of the processes of the ready pods in `namespaces` named
  // `pods` (an empty list matches any), sorted and unique. No matching pod or process is not an
  // error (the list is empty: the kernel then records nothing for this filter until the pods
  // exist, and the caller looks again). Errors: the runtime's (see CriClient::PodsOf), and
  // INVALID_ARGUMENT when both lists are empty.
  absl::StatusOr<std::vector<uint32_t>> MountNamespacesOf(
      const std::vector<std::string>& namespaces, const std::vector<std::string>& pods);

  // The name and namespace of a pod MountNamespacesOf has matched, by UID: known for every
  // process of the pod from its cgroup path alone, before the runtime has been asked about the
  // process's container, so the sessions' exact pod filters match its first exchanges. No I/O.
  std::optional<PodMetadata> MatchedPod(const std::string& pod_uid) const;

 private:
  CriClient* cri_;
  mutable absl::Mutex mu_;
  // Pods matched by the last calls, by UID; bounded by the node's pods (cleared past 4096).
  absl::flat_hash_map<std::string, PodMetadata> matched_ ABSL_GUARDED_BY(mu_);
  std::function<std::string(uint32_t)> pod_uid_of_pid_;
  std::string proc_root_;
};

}  // namespace httptrace::cri
