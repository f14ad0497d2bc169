// A CRI runtime for unit tests: a real gRPC server on a unix socket serving runtime.v1
// RuntimeService's ContainerStatus and PodSandboxStatus from tables the test fills, answering
// after a configurable delay (a slow runtime) and countable (to see what the client cached).
// Kept only for what a real runtime cannot be made to do on cue: answer slowly, vanish between
// calls, count the calls it got. Real answers are tested against containerd itself
// (test/e2e/pod_e2e_test.py).

#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/cri/api.grpc.pb.h"

namespace httptrace::cri {

class FakeRuntime final : public runtime::v1::RuntimeService::Service {
 public:
  // Serves on `socket_path` until destroyed or Stop() is called.
  static absl::StatusOr<std::unique_ptr<FakeRuntime>> Start(const std::string& socket_path);
  ~FakeRuntime() override;

  // A container as the kubelet creates it: metadata name and the io.kubernetes.* labels.
  void AddContainer(const std::string& id, const std::string& name, const std::string& pod,
                    const std::string& pod_namespace, const std::string& pod_uid);
  void AddSandbox(const std::string& id, const std::string& pod, const std::string& pod_namespace,
                  const std::string& pod_uid, bool ready = true);
  // Every call waits this long before answering.
  void SetDelay(absl::Duration delay);
  void Stop();
  int calls() const { return calls_.load(); }

  grpc::Status ContainerStatus(grpc::ServerContext* context,
                               const runtime::v1::ContainerStatusRequest* request,
                               runtime::v1::ContainerStatusResponse* response) override;
  // Says it is containerd 1.7.2.
  grpc::Status Version(grpc::ServerContext* context, const runtime::v1::VersionRequest* request,
                       runtime::v1::VersionResponse* response) override;
  // Honours the state filter, as containerd and CRI-O do.
  grpc::Status ListPodSandbox(grpc::ServerContext* context,
                              const runtime::v1::ListPodSandboxRequest* request,
                              runtime::v1::ListPodSandboxResponse* response) override;
  grpc::Status PodSandboxStatus(grpc::ServerContext* context,
                                const runtime::v1::PodSandboxStatusRequest* request,
                                runtime::v1::PodSandboxStatusResponse* response) override;

 private:
  FakeRuntime() = default;
  void Wait(grpc::ServerContext* context);

  std::unique_ptr<grpc::Server> server_;
  std::atomic<int> calls_{0};
  absl::Mutex mu_;
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::flat_hash_map<std::string, runtime::v1::ContainerStatus> containers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, runtime::v1::PodSandboxStatus> sandboxes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, bool> ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace httptrace::cri
