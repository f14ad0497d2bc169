// cri_driver: the kubelet's part in the end-to-end tests. Creates, starts, stops and removes pod
// sandboxes and containers on a real CRI runtime (containerd started by the test), over the
// agent's own runtime.v1 API definition (api.proto), and reads a container back the way the agent
// does (CriClient::Query). One call per run; ids on stdout, errors on stderr.
//
//   cri_driver --endpoint unix:///tmp/x/containerd.sock run-pod   --pod web-7d9 --namespace shop
//              --uid UID --cgroup-parent /kubepods/burstable/podUID --log-dir DIR
//   cri_driver ... create --pod-id ID (same pod flags) --name web --image IMG [--attempt 1]
//              [--env K=V]... -- COMMAND ARGS...
//   cri_driver ... start|stop|remove ID        cri_driver ... stop-pod|remove-pod ID
//   cri_driver ... inspect ID                  (prints: container pod namespace uid)
//
// Pods get the node's network namespace (no CNI) and a kubepods cgroup parent, as a hostNetwork
// pod under a cgroupfs kubelet does; containers carry the io.kubernetes.* labels the kubelet sets.

#include <grpcpp/grpcpp.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/cri/api.grpc.pb.h"
#include "agent/cri/cri_client.h"

ABSL_FLAG(std::string, endpoint, "", "The runtime's CRI socket, unix:///path.");
ABSL_FLAG(std::string, pod, "", "Pod name.");
ABSL_FLAG(std::string, namespace, "", "Pod namespace.");
ABSL_FLAG(std::string, uid, "", "Pod UID.");
ABSL_FLAG(std::string, cgroup_parent, "", "The pod's cgroup (cgroupfs syntax).");
ABSL_FLAG(std::string, log_dir, "", "The pod's log directory (containers log to NAME.log).");
ABSL_FLAG(std::string, pod_id, "", "Sandbox id, for create.");
ABSL_FLAG(std::string, name, "", "Container name, for create.");
ABSL_FLAG(std::string, image, "", "Container image, for create.");
ABSL_FLAG(int32_t, attempt, 0, "Container attempt (restart count), for create.");
ABSL_FLAG(std::vector<std::string>, env, {}, "K=V environment of the container (comma-separated).");
ABSL_FLAG(int32_t, timeout_s, 60, "Deadline of the call.");

namespace {

namespace v1 = runtime::v1;

int Fail(const std::string& what, const grpc::Status& status) {
  std::cerr << "cri_driver: " << what << ": " << status.error_message() << " (code "
            << status.error_code() << ")\n";
  return 1;
}

void Deadline(grpc::ClientContext& context) {
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_timeout_s))));
}

v1::PodSandboxConfig SandboxConfig() {
  v1::PodSandboxConfig config;
  v1::PodSandboxMetadata* meta = config.mutable_metadata();
  meta->set_name(absl::GetFlag(FLAGS_pod));
  meta->set_namespace_(absl::GetFlag(FLAGS_namespace));
  meta->set_uid(absl::GetFlag(FLAGS_uid));
  config.set_log_directory(absl::GetFlag(FLAGS_log_dir));
  (*config.mutable_labels())["io.kubernetes.pod.name"] = absl::GetFlag(FLAGS_pod);
  (*config.mutable_labels())["io.kubernetes.pod.namespace"] = absl::GetFlag(FLAGS_namespace);
  (*config.mutable_labels())["io.kubernetes.pod.uid"] = absl::GetFlag(FLAGS_uid);
  config.mutable_linux()->set_cgroup_parent(absl::GetFlag(FLAGS_cgroup_parent));
  // hostNetwork: no CNI is configured, and the tests' traffic stays on the node's loopback.
  config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
      v1::NODE);
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2 || absl::GetFlag(FLAGS_endpoint).empty()) {
    std::cerr << "usage: cri_driver --endpoint unix:///path VERB [ARGS] (see the source)\n";
    return 2;
  }
  const std::string verb = args[1];
  const std::string target = args.size() > 2 ? args[2] : "";
  // The agent's client for what the agent does itself (and its channel settings for the rest).
  auto client = httptrace::cri::CriClient::Create(
      {.endpoint = absl::GetFlag(FLAGS_endpoint), .call_timeout = absl::Seconds(5)});
  if (!client.ok()) {
    std::cerr << "cri_driver: " << client.status() << "\n";
    return 2;
  }
  auto stub = v1::RuntimeService::NewStub(
      grpc::CreateChannel((*client)->endpoint(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  Deadline(context);

  if (verb == "version") {
    absl::StatusOr<std::string> version = (*client)->Version();
    if (!version.ok()) {
      std::cerr << "cri_driver: " << version.status() << "\n";
      return 1;
    }
    std::cout << *version << "\n";
    return 0;
  }
  if (verb == "inspect") {
    absl::StatusOr<httptrace::cri::PodMetadata> pod = (*client)->Query(target);
    if (!pod.ok()) {
      std::cerr << "cri_driver: " << pod.status() << "\n";
      return 1;
    }
    std::cout << pod->container_name << " " << pod->pod_name << " " << pod->pod_namespace << " "
              << pod->pod_uid << "\n";
    return 0;
  }
  if (verb == "run-pod") {
    v1::RunPodSandboxRequest request;
    *request.mutable_config() = SandboxConfig();
    v1::RunPodSandboxResponse response;
    grpc::Status status = stub->RunPodSandbox(&context, request, &response);
    if (!status.ok()) return Fail("RunPodSandbox", status);
    std::cout << response.pod_sandbox_id() << "\n";
    return 0;
  }
  if (verb == "create") {
    v1::CreateContainerRequest request;
    request.set_pod_sandbox_id(absl::GetFlag(FLAGS_pod_id));
    *request.mutable_sandbox_config() = SandboxConfig();
    v1::ContainerConfig* config = request.mutable_config();
    const std::string name = absl::GetFlag(FLAGS_name);
    config->mutable_metadata()->set_name(name);
    config->mutable_metadata()->set_attempt(static_cast<uint32_t>(absl::GetFlag(FLAGS_attempt)));
    config->mutable_image()->set_image(absl::GetFlag(FLAGS_image));
    for (size_t i = 2; i < args.size(); ++i) config->add_command(args[i]);
    for (const std::string& kv : absl::GetFlag(FLAGS_env)) {
      std::pair<std::string, std::string> split = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      v1::KeyValue* env = config->add_envs();
      env->set_key(split.first);
      env->set_value(split.second);
    }
    (*config->mutable_labels())["io.kubernetes.container.name"] = name;
    (*config->mutable_labels())["io.kubernetes.pod.name"] = absl::GetFlag(FLAGS_pod);
    (*config->mutable_labels())["io.kubernetes.pod.namespace"] = absl::GetFlag(FLAGS_namespace);
    (*config->mutable_labels())["io.kubernetes.pod.uid"] = absl::GetFlag(FLAGS_uid);
    config->set_log_path(absl::StrCat(name, ".", absl::GetFlag(FLAGS_attempt), ".log"));
    config->mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
        v1::NODE);
    v1::CreateContainerResponse response;
    grpc::Status status = stub->CreateContainer(&context, request, &response);
    if (!status.ok()) return Fail("CreateContainer", status);
    std::cout << response.container_id() << "\n";
    return 0;
  }
  if (target.empty()) {
    std::cerr << "cri_driver: " << verb << " needs an id\n";
    return 2;
  }
  grpc::Status status;
  if (verb == "start") {
    v1::StartContainerRequest request;
    request.set_container_id(target);
    v1::StartContainerResponse response;
    status = stub->StartContainer(&context, request, &response);
  } else if (verb == "stop") {
    v1::StopContainerRequest request;
    request.set_container_id(target);
    request.set_timeout(1);
    v1::StopContainerResponse response;
    status = stub->StopContainer(&context, request, &response);
  } else if (verb == "remove") {
    v1::RemoveContainerRequest request;
    request.set_container_id(target);
    v1::RemoveContainerResponse response;
    status = stub->RemoveContainer(&context, request, &response);
  } else if (verb == "stop-pod") {
    v1::StopPodSandboxRequest request;
    request.set_pod_sandbox_id(target);
    v1::StopPodSandboxResponse response;
    status = stub->StopPodSandbox(&context, request, &response);
  } else if (verb == "remove-pod") {
    v1::RemovePodSandboxRequest request;
    request.set_pod_sandbox_id(target);
    v1::RemovePodSandboxResponse response;
    status = stub->RemovePodSandbox(&context, request, &response);
  } else {
    std::cerr << "cri_driver: unknown verb " << verb << "\n";
    return 2;
  }
  if (!status.ok()) return Fail(verb, status);
  return 0;
}
