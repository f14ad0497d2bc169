// Pod metadata of a container from the node's container runtime over CRI (runtime.v1
// RuntimeService on containerd's or CRI-O's unix socket): pod name, namespace, UID and container
// name for a container id. Answers are cached; calls have short deadlines, and a runtime that is
// slow or gone is not asked again for a while, so a caller never waits on it for long. When the
// runtime cannot answer, the pod UID from the container's cgroup path is the fallback.
//
//   auto cri = CriClient::Create({.endpoint = "unix:///run/containerd/containerd.sock"});
//   PodMetadata pod = (*cri)->Lookup(container_id, pod_uid_from_cgroup);

#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/cri/api.grpc.pb.h"

namespace httptrace::cri {

// Well-known runtime sockets, in the order the agent tries them when none is given.
inline constexpr char kContainerdEndpoint[] = "unix:///run/containerd/containerd.sock";
inline constexpr char kCrioEndpoint[] = "unix:///var/run/crio/crio.sock";

struct PodMetadata {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string container_name;  // empty for a pod sandbox (the pause container)
  // True when the runtime answered; false when only the cgroup fallback is known.
  bool from_runtime = false;

  bool operator==(const PodMetadata&) const = default;
};

struct CriClientOptions {
  std::string endpoint = kContainerdEndpoint;  // unix:///path or /path
  // Deadline of one CRI call. Runtimes answer status calls in well under a millisecond.
  absl::Duration call_timeout = absl::Milliseconds(250);
  // After a failed call (slow, gone, unknown id), that id is not asked again for this long, and
  // after a slow or gone runtime no id is.
  absl::Duration retry_after = absl::Seconds(10);
  // Answers remembered; past this the cache is cleared (a container's metadata never changes,
  // so an answer is only ever dropped for room).
  size_t max_entries = 4096;
  // Deadline of listing the node's pods (PodUidsOf).
  absl::Duration list_timeout = absl::Seconds(2);
};

class CriClient {
 public:
  // INVALID_ARGUMENT for an endpoint that is not a unix socket. Does not connect: the runtime may
  // start after the agent.
  static absl::StatusOr<std::unique_ptr<CriClient>> Create(const CriClientOptions& options);
  // For tests: a client on an existing channel.
  CriClient(const CriClientOptions& options, std::shared_ptr<grpc::ChannelInterface> channel);

  // The pod metadata of `container_id` (full id), from the cache or the runtime; when the
  // runtime cannot tell, {pod_uid = cgroup_pod_uid, from_runtime = false}. Thread-safe; blocks
  // at most about two call timeouts (container, then sandbox), and not at all while the runtime
  // is known to be down.
  PodMetadata Lookup(const std::string& container_id, const std::string& cgroup_pod_uid);

  // One uncached query: ContainerStatus, then PodSandboxStatus when the id is a sandbox's.
  // NOT_FOUND when the runtime knows neither, DEADLINE_EXCEEDED for a slow runtime, UNAVAILABLE
  // for one that is gone.
  absl::StatusOr<PodMetadata> Query(const std::string& container_id);

  // "containerd 1.7.2 (CRI v1)": asked once at start, so a wrong or missing socket is reported
  // before the first capture. Errors as Query's.
  absl::StatusOr<std::string> Version();

  // UIDs of the ready pods whose namespace is one of `namespaces` and whose name is one of `pods`
  // (an empty list matches any), sorted. For the --namespace and --pod filters: the processes
  // whose cgroup path names one of these UIDs are the pods' processes, and their mount
  // namespaces go into the in-kernel filter. Errors as Query's; no match is an empty list.
  absl::StatusOr<std::vector<std::string>> PodUidsOf(const std::vector<std::string>& namespaces,
                                                     const std::vector<std::string>& pods);
  // The same pods with their names and namespaces (container_name empty), sorted by UID.
  absl::StatusOr<std::vector<PodMetadata>> PodsOf(const std::vector<std::string>& namespaces,
                                                  const std::vector<std::string>& pods);

  // "cri.lookups", "cri.cache_hits", "cri.errors.deadline", "cri.errors.unavailable",
  // "cri.errors.not_found", "cri.errors.other", "cri.fallbacks".
  std::map<std::string, uint64_t> Counters() const;
  const std::string& endpoint() const { return options_.endpoint; }

 private:
  struct Entry {
    PodMetadata metadata;
    absl::Time retry_at = absl::InfiniteFuture();  // for failures: when to ask again
  };

  const CriClientOptions options_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  absl::Time runtime_down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::map<std::string, uint64_t> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace httptrace::cri
