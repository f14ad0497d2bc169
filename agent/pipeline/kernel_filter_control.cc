#include "agent/pipeline/kernel_filter_control.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

namespace httptrace::pipeline {

absl::StatusOr<capture::AttachMode> ParseAttachMode(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "auto") return capture::AttachMode::kAuto;
  if (lower == "tracepoints") return capture::AttachMode::kTracepoints;
  if (lower == "raw-tracepoints" || lower == "raw_tracepoints") {
    return capture::AttachMode::kRawTracepoints;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--attach-mode ", text, ": want auto, tracepoints or raw-tracepoints"));
}

capture::KernelFilter UnionKernelFilter(const std::vector<v1::Filter>& filters) {
  capture::KernelFilter kernel;
  bool all_restrict_pids = !filters.empty();
  bool all_restrict_ports = !filters.empty();
  kernel.tls = false;  // the TLS uprobes only when some session wants TLS exchanges
  for (const v1::Filter& f : filters) {
    kernel.tls |= f.tls() != v1::TLS_PLAIN;
    all_restrict_pids &= f.pids_size() > 0;
    all_restrict_ports &= f.ports_size() + f.local_ports_size() + f.remote_ports_size() > 0;
  }
  if (all_restrict_pids) {
    for (const v1::Filter& f : filters) {
      kernel.tgids.insert(kernel.tgids.end(), f.pids().begin(), f.pids().end());
    }
  }
  if (all_restrict_ports) {
    // The kernel matches a port on either side; the sessions check which side exactly.
    for (const v1::Filter& f : filters) {
      for (const auto* list : {&f.ports(), &f.local_ports(), &f.remote_ports()}) {
        for (uint32_t port : *list) kernel.ports.push_back(static_cast<uint16_t>(port));
      }
    }
  }
  for (auto* list : {&kernel.tgids}) {
    std::sort(list->begin(), list->end());
    list->erase(std::unique(list->begin(), list->end()), list->end());
  }
  std::sort(kernel.ports.begin(), kernel.ports.end());
  kernel.ports.erase(std::unique(kernel.ports.begin(), kernel.ports.end()), kernel.ports.end());
  return kernel;
}

KernelFilterControl::KernelFilterControl(capture::Capture* capture,
                                         container::ContainerResolver* containers,
                                         cri::PodFilter* pods,
                                         absl::Duration container_refresh_period,
                                         std::function<void()> forget_connections)
    : capture_(capture),
      containers_(containers),
      pods_(pods),
      refresh_period_(container_refresh_period),
      forget_connections_(std::move(forget_connections)) {
  if (capture_ != nullptr && containers_ != nullptr) {
    refresh_ = std::thread([this] { RefreshLoop(); });
  }
}

KernelFilterControl::~KernelFilterControl() {
  if (refresh_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    refresh_.join();
  }
}

uint32_t Http1MessageCopyLimit(uint32_t body_limit_bytes) {
  const uint64_t limit = uint64_t{body_limit_bytes} + kHttp1HeaderAllowance;
  return static_cast<uint32_t>(std::min<uint64_t>(limit, UINT32_MAX));
}

absl::Status KernelFilterControl::Apply(const std::vector<v1::Filter>& active_filters,
                                        uint32_t body_limit_bytes) {
  if (capture_ == nullptr) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (active_filters.empty()) {
    container_selectors_.clear();
    pod_selectors_.clear();
    capture_->Detach();
    // The kernel forgets these connections at the next attach, so they would never see their
    // close; end them now, while no session is active to receive what they flush, rather than
    // have them publish into a later session when they are evicted.
    forget_connections_();
    HT_LOG(INFO) << "no active session: probes detached";
    return absl::OkStatus();
  }
  kernel_filter_ = UnionKernelFilter(active_filters);
  // The probes' per-message copy limit stays OFF (0) for now: they restart its count only at a
  // syscall whose first bytes begin a message, so messages pipelined inside one write after the
  // limit (1000 requests in one writev) went uncopied and uncounted (servers_matrix_test and
  // stress_short_test, "pipelined 1000"). It is applied again once the probes count the message
  // starts in what they leave uncopied (bpf/README.md, "Copy only what some session wants").
  kernel_filter_.http1_message_limit =
      kApplyHttp1MessageLimit ? Http1MessageCopyLimit(body_limit_bytes) : 0;
  container_selectors_ = ContainerSelectors(active_filters);
  if (!container_selectors_.empty()) {
    absl::StatusOr<std::vector<uint32_t>> namespaces =
        containers_->MountNamespacesOf(container_selectors_);
    if (!namespaces.ok()) return namespaces.status();
    kernel_filter_.mount_namespaces = *std::move(namespaces);
    LogContainerFilter("");
  }
  pod_selectors_ =
      container_selectors_.empty() ? PodSelectors(active_filters) : std::vector<PodSelector>{};
  if (!pod_selectors_.empty()) {
    absl::StatusOr<std::vector<uint32_t>> namespaces = PodMountNamespaces();
    if (!namespaces.ok()) return namespaces.status();
    kernel_filter_.mount_namespaces = *std::move(namespaces);
    HT_LOG(INFO) << "pod filter: " << kernel_filter_.mount_namespaces.size()
                 << " mount namespace(s) in the kernel filter"
                 << (kernel_filter_.mount_namespaces.empty() ? " (none running: user space only)"
                                                             : "");
  }
  if (absl::Status s = capture_->SetFilter(kernel_filter_); !s.ok()) return s;
  if (!capture_->attached()) {
    if (containers_ != nullptr) {
      // Containers started since the agent did: have their names asked for now, and give the
      // engine a moment, so the first exchanges already carry them.
      containers_->Prewarm();
      containers_->WaitForNames(absl::Milliseconds(500));
    }
    // Capture::Attach clears the kernel's connection tables: the user-space table must not
    // outlive them.
    forget_connections_();
    if (absl::Status s = capture_->Attach(); !s.ok()) return s;
    const capture::ProbeInfo info = capture_->probe_info();
    HT_LOG(INFO) << "probes attached: " << info.programs.size() << " programs ("
                 << capture::AttachModeName(info.mode) << ")";
  }
  return absl::OkStatus();
}

std::vector<std::string> KernelFilterControl::ContainerSelectors(
    const std::vector<v1::Filter>& filters) const {
  // Like pids and ports: restricted in the kernel only when every session restricts it.
  std::vector<std::string> selectors;
  if (containers_ == nullptr || filters.empty()) return selectors;
  for (const v1::Filter& f : filters) {
    if (f.containers_size() == 0) return {};
    selectors.insert(selectors.end(), f.containers().begin(), f.containers().end());
  }
  std::sort(selectors.begin(), selectors.end());
  selectors.erase(std::unique(selectors.begin(), selectors.end()), selectors.end());
  return selectors;
}

std::vector<KernelFilterControl::PodSelector> KernelFilterControl::PodSelectors(
    const std::vector<v1::Filter>& filters) const {
  // Like containers: restricted in the kernel only when every session restricts it.
  std::vector<PodSelector> selectors;
  if (pods_ == nullptr) return selectors;
  for (const v1::Filter& f : filters) {
    if (f.pod_namespaces_size() == 0 && f.pods_size() == 0) return {};
    selectors.emplace_back(
        std::vector<std::string>(f.pod_namespaces().begin(), f.pod_namespaces().end()),
        std::vector<std::string>(f.pods().begin(), f.pods().end()));
  }
  return selectors;
}

absl::StatusOr<std::vector<uint32_t>> KernelFilterControl::PodMountNamespaces() {
  std::vector<uint32_t> out;
  for (const auto& [namespaces, pods] : pod_selectors_) {
    absl::StatusOr<std::vector<uint32_t>> some = pods_->MountNamespacesOf(namespaces, pods);
    if (!some.ok()) return some.status();
    out.insert(out.end(), some->begin(), some->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void KernelFilterControl::LogContainerFilter(absl::string_view why) {
  const std::string selectors = absl::StrJoin(container_selectors_, ", ");
  if (kernel_filter_.mount_namespaces.empty()) {
    // No running container matches: leave the kernel unrestricted rather than drop everything;
    // the sessions still apply their exact container filter.
    HT_LOG(INFO) << why << "no running container matches " << selectors
                 << ": container filter applied in user space only";
  } else {
    HT_LOG(INFO) << why << "container filter " << selectors << ": "
                 << kernel_filter_.mount_namespaces.size()
                 << " mount namespace(s) in the kernel filter";
  }
}

void KernelFilterControl::RefreshLoop() {
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), refresh_period_)) {
    if ((container_selectors_.empty() && pod_selectors_.empty()) || !capture_->attached()) {
      continue;
    }
    // Containers (or pods) that started, restarted or stopped since the filter was set: their
    // mount namespaces change, and the kernel must follow.
    absl::StatusOr<std::vector<uint32_t>> namespaces =
        container_selectors_.empty() ? PodMountNamespaces()
                                     : containers_->MountNamespacesOf(container_selectors_);
    if (!namespaces.ok()) {
      HT_LOG_EVERY_N_SEC(WARNING, 60) << "container filter refresh: " << namespaces.status();
      continue;
    }
    if (*namespaces == kernel_filter_.mount_namespaces) continue;
    kernel_filter_.mount_namespaces = *std::move(namespaces);
    if (absl::Status s = capture_->SetFilter(kernel_filter_); !s.ok()) {
      HT_LOG_EVERY_N_SEC(WARNING, 60) << "container filter refresh: " << s;
      continue;
    }
    if (container_selectors_.empty()) {
      HT_LOG(INFO) << "pods changed: pod filter has " << kernel_filter_.mount_namespaces.size()
                   << " mount namespace(s) in the kernel filter";
    } else {
      LogContainerFilter("containers changed: ");
    }
  }
}

}  // namespace httptrace::pipeline
