#include "agent/cri/fake_runtime.h"

#include "absl/strings/str_cat.h"

namespace httptrace::cri {

absl::StatusOr<std::unique_ptr<FakeRuntime>> FakeRuntime::Start(const std::string& socket_path) {
  std::unique_ptr<FakeRuntime> runtime(new FakeRuntime());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(runtime.get());
  runtime->server_ = builder.BuildAndStart();
  if (runtime->server_ == nullptr) {
    return absl::InternalError(absl::StrCat("cannot serve on ", socket_path));
  }
  return runtime;
}

FakeRuntime::~FakeRuntime() { Stop(); }

void FakeRuntime::Stop() {
  if (server_ == nullptr) return;
  // Slow calls still sleeping are cancelled rather than waited for.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
}

void FakeRuntime::AddContainer(const std::string& id, const std::string& name,
                               const std::string& pod, const std::string& pod_namespace,
                               const std::string& pod_uid) {
  runtime::v1::ContainerStatus status;
  status.set_id(id);
  status.mutable_metadata()->set_name(name);
  auto& labels = *status.mutable_labels();
  labels["io.kubernetes.pod.name"] = pod;
  labels["io.kubernetes.pod.namespace"] = pod_namespace;
  labels["io.kubernetes.pod.uid"] = pod_uid;
  labels["io.kubernetes.container.name"] = name;
  absl::MutexLock lock(&mu_);
  containers_[id] = status;
}

void FakeRuntime::AddSandbox(const std::string& id, const std::string& pod,
                             const std::string& pod_namespace, const std::string& pod_uid,
                             bool ready) {
  runtime::v1::PodSandboxStatus status;
  status.set_id(id);
  status.mutable_metadata()->set_name(pod);
  status.mutable_metadata()->set_namespace_(pod_namespace);
  status.mutable_metadata()->set_uid(pod_uid);
  absl::MutexLock lock(&mu_);
  sandboxes_[id] = status;
  ready_[id] = ready;
}

void FakeRuntime::SetDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  delay_ = delay;
}

void FakeRuntime::Wait(grpc::ServerContext* context) {
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    delay = delay_;
  }
  const absl::Time until = absl::Now() + delay;
  while (absl::Now() < until && !context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
}

grpc::Status FakeRuntime::ContainerStatus(grpc::ServerContext* context,
                                          const runtime::v1::ContainerStatusRequest* request,
                                          runtime::v1::ContainerStatusResponse* response) {
  ++calls_;
  Wait(context);
  absl::MutexLock lock(&mu_);
  auto it = containers_.find(request->container_id());
  if (it == containers_.end()) {
    // containerd's answer for an unknown id.
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("an error occurred when try to find container \"",
                                     request->container_id(), "\": not found"));
  }
  *response->mutable_status() = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeRuntime::Version(grpc::ServerContext* context,
                                  const runtime::v1::VersionRequest* request,
                                  runtime::v1::VersionResponse* response) {
  ++calls_;
  Wait(context);
  response->set_version("0.1.0");
  response->set_runtime_name("containerd");
  response->set_runtime_version("1.7.2");
  response->set_runtime_api_version("v1");
  return grpc::Status::OK;
}

grpc::Status FakeRuntime::ListPodSandbox(grpc::ServerContext* context,
                                         const runtime::v1::ListPodSandboxRequest* request,
                                         runtime::v1::ListPodSandboxResponse* response) {
  ++calls_;
  Wait(context);
  absl::MutexLock lock(&mu_);
  for (const auto& [id, status] : sandboxes_) {
    const auto state = ready_[id] ? runtime::v1::SANDBOX_READY : runtime::v1::SANDBOX_NOTREADY;
    if (request->filter().has_state() && request->filter().state().state() != state) continue;
    runtime::v1::PodSandbox* item = response->add_items();
    item->set_id(id);
    *item->mutable_metadata() = status.metadata();
    item->set_state(state);
  }
  return grpc::Status::OK;
}

grpc::Status FakeRuntime::PodSandboxStatus(grpc::ServerContext* context,
                                           const runtime::v1::PodSandboxStatusRequest* request,
                                           runtime::v1::PodSandboxStatusResponse* response) {
  ++calls_;
  Wait(context);
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(request->pod_sandbox_id());
  if (it == sandboxes_.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("an error occurred when try to find sandbox \"",
                                     request->pod_sandbox_id(), "\": not found"));
  }
  *response->mutable_status() = it->second;
  return grpc::Status::OK;
}

}  // namespace httptrace::cri
