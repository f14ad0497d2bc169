#include "agent/cri/cri_client.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace httptrace::cri {
namespace {

// Labels the kubelet puts on every container it creates through CRI.
constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";

absl::Status ToStatus(const grpc::Status& status, absl::string_view call) {
  // gRPC and absl status codes share their numbers.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("CRI ", call, ": ", status.error_message()));
}

std::string Label(const google::protobuf::Map<std::string, std::string>& labels,
                  const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CriClient>> CriClient::Create(const CriClientOptions& options) {
  std::string target = options.endpoint;
  if (absl::StartsWith(target, "/")) target = "unix://" + target;
  if (!absl::StartsWith(target, "unix:///")) {
    return absl::InvalidArgumentError(
        absl::StrCat("CRI endpoint \"", options.endpoint, "\": want unix:///path (e.g. ",
                     kContainerdEndpoint, " or ", kCrioEndpoint, ")"));
  }
  grpc::ChannelArguments args;
  // Keep reconnection attempts short: a runtime that restarts should be reachable again soon.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  CriClientOptions resolved = options;
  resolved.endpoint = target;
  return std::make_unique<CriClient>(resolved, std::move(channel));
}

CriClient::CriClient(const CriClientOptions& options,
                     std::shared_ptr<grpc::ChannelInterface> channel)
    : options_(options), stub_(runtime::v1::RuntimeService::NewStub(std::move(channel))) {}

absl::StatusOr<PodMetadata> CriClient::Query(const std::string& container_id) {
  {
    runtime::v1::ContainerStatusRequest request;
    request.set_container_id(container_id);
    runtime::v1::ContainerStatusResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    grpc::Status status = stub_->ContainerStatus(&context, request, &response);
    if (status.ok()) {
      const auto& labels = response.status().labels();
      PodMetadata out;
      out.pod_name = Label(labels, kPodNameLabel);
      out.pod_namespace = Label(labels, kPodNamespaceLabel);
      out.pod_uid = Label(labels, kPodUidLabel);
      out.container_name = response.status().metadata().name();
      if (out.container_name.empty()) out.container_name = Label(labels, kContainerNameLabel);
      out.from_runtime = true;
      return out;
    }
    if (status.error_code() != grpc::StatusCode::NOT_FOUND) {
      return ToStatus(status, "ContainerStatus");
    }
  }
  // Not a container: the id may be a pod sandbox's (the pause process holds the pod's network
  // namespace, and some runtimes report its cgroup for the pod).
  runtime::v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(container_id);
  runtime::v1::PodSandboxStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  grpc::Status status = stub_->PodSandboxStatus(&context, request, &response);
  if (!status.ok()) return ToStatus(status, "PodSandboxStatus");
  const runtime::v1::PodSandboxMetadata& meta = response.status().metadata();
  PodMetadata out;
  out.pod_name = meta.name();
  out.pod_namespace = meta.namespace_();
  out.pod_uid = meta.uid();
  out.from_runtime = true;
  return out;
}

absl::StatusOr<std::string> CriClient::Version() {
  runtime::v1::VersionRequest request;
  request.set_version("v1");
  runtime::v1::VersionResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.list_timeout));
  grpc::Status status = stub_->Version(&context, request, &response);
  if (!status.ok()) return ToStatus(status, "Version");
  return absl::StrCat(response.runtime_name(), " ", response.runtime_version(), " (CRI ",
                      response.runtime_api_version(), ")");
}

absl::StatusOr<std::vector<std::string>> CriClient::PodUidsOf(
    const std::vector<std::string>& namespaces, const std::vector<std::string>& pods) {
  absl::StatusOr<std::vector<PodMetadata>> matching = PodsOf(namespaces, pods);
  if (!matching.ok()) return matching.status();
  std::vector<std::string> uids;
  for (const PodMetadata& pod : *matching) uids.push_back(pod.pod_uid);
  return uids;
}

absl::StatusOr<std::vector<PodMetadata>> CriClient::PodsOf(
    const std::vector<std::string>& namespaces, const std::vector<std::string>& pods) {
  runtime::v1::ListPodSandboxRequest request;
  request.mutable_filter()->mutable_state()->set_state(runtime::v1::SANDBOX_READY);
  runtime::v1::ListPodSandboxResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.list_timeout));
  grpc::Status status = stub_->ListPodSandbox(&context, request, &response);
  if (!status.ok()) return ToStatus(status, "ListPodSandbox");
  auto matches = [](const std::vector<std::string>& wanted, const std::string& value) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), value) != wanted.end();
  };
  std::vector<PodMetadata> out;
  for (const runtime::v1::PodSandbox& pod : response.items()) {
    // Runtimes that ignore the state filter still say the state.
    if (pod.state() != runtime::v1::SANDBOX_READY) continue;
    const runtime::v1::PodSandboxMetadata& meta = pod.metadata();
    if (matches(namespaces, meta.namespace_()) && matches(pods, meta.name()) &&
        !meta.uid().empty()) {
      out.push_back(PodMetadata{meta.name(), meta.namespace_(), meta.uid(), "", true});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const PodMetadata& a, const PodMetadata& b) { return a.pod_uid < b.pod_uid; });
  out.erase(std::unique(
                out.begin(), out.end(),
                [](const PodMetadata& a, const PodMetadata& b) { return a.pod_uid == b.pod_uid; }),
            out.end());
  return out;
}

PodMetadata CriClient::Lookup(const std::string& container_id, const std::string& cgroup_pod_uid) {
  PodMetadata fallback;
  fallback.pod_uid = cgroup_pod_uid;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    ++counters_["cri.lookups"];
    if (auto it = cache_.find(container_id); it != cache_.end()) {
      if (it->second.metadata.from_runtime) {
        ++counters_["cri.cache_hits"];
        return it->second.metadata;
      }
      if (now < it->second.retry_at) {
        ++counters_["cri.fallbacks"];
        return fallback;
      }
    }
    if (now < runtime_down_until_) {
      ++counters_["cri.fallbacks"];
      return fallback;
    }
  }
  absl::StatusOr<PodMetadata> answer = Query(container_id);
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= options_.max_entries) cache_.clear();
  if (answer.ok()) {
    if (answer->pod_uid.empty()) answer->pod_uid = cgroup_pod_uid;
    cache_[container_id] = Entry{*answer};
    return *answer;
  }
  switch (answer.status().code()) {
    case absl::StatusCode::kDeadlineExceeded:
      ++counters_["cri.errors.deadline"];
      runtime_down_until_ = now + options_.retry_after;
      break;
    case absl::StatusCode::kUnavailable:
      ++counters_["cri.errors.unavailable"];
      runtime_down_until_ = now + options_.retry_after;
      break;
    case absl::StatusCode::kNotFound:
      ++counters_["cri.errors.not_found"];
      break;
    default:
      ++counters_["cri.errors.other"];
  }
  ++counters_["cri.fallbacks"];
  cache_[container_id] = Entry{fallback, now + options_.retry_after};
  return fallback;
}

std::map<std::string, uint64_t> CriClient::Counters() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, uint64_t> out = {{"cri.lookups", 0},          {"cri.cache_hits", 0},
                                         {"cri.errors.deadline", 0},  {"cri.errors.unavailable", 0},
                                         {"cri.errors.not_found", 0}, {"cri.errors.other", 0},
                                         {"cri.fallbacks", 0}};
  for (const auto& [name, value] : counters_) out[name] = value;
  return out;
}

}  // namespace httptrace::cri
