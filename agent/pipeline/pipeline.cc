#include "agent/pipeline/pipeline.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/pipeline/exchange_converter.h"
#include "common/log.h"

namespace httptrace::pipeline {

// What the pipeline hangs on a conntrack entry: the HTTP engine and what exchanges say about the
// connection and its process.
struct Pipeline::HttpState final : conntrack::ConnectionAttachment {
  ConnectionContext context;
  // The container as first looked up; its name may become known later (the engine is asked in
  // the background), so exchanges published before that are completed then.
  std::optional<container::ContainerInfo> container;
  std::unique_ptr<http::HttpConnection> engine;
};

namespace {

http::Direction ToHttp(capture::Direction d) {
  return d == capture::Direction::kEgress ? http::Direction::kEgress : http::Direction::kIngress;
}

http::RoleHint ToHint(capture::Role role) {
  switch (role) {
    case capture::Role::kClient:
      return http::RoleHint::kClient;
    case capture::Role::kServer:
      return http::RoleHint::kServer;
    default:
      return http::RoleHint::kUnknown;
  }
}

constexpr uint64_t kHousekeepingPeriodNs = 1'000'000'000;

v1::Container ToProtoContainer(const container::ContainerInfo& info) {
  v1::Container out;
  out.set_id(info.id);
  out.set_name(info.name);
  out.set_runtime(info.runtime);
  out.set_pod_namespace(info.pod_namespace);
  out.set_pod_name(info.pod_name);
  out.set_pod_uid(info.pod_uid);
  return out;
}

uint64_t NowNs() { return static_cast<uint64_t>(absl::GetCurrentTimeNanos()); }

}  // namespace

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
  for (const v1::Filter& f : filters) {
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

Pipeline::Pipeline(const PipelineOptions& options)
    : options_(options),
      node_([&] {
        NodeInfo info = ReadNodeInfo();
        if (!options.node_name.empty()) info.node = options.node_name;
        return info;
      }()),
      connections_(
          {.max_connections = options.max_connections, .idle_timeout = options.idle_timeout},
          [this](conntrack::Connection& c, conntrack::EndReason why) { OnConnectionEnd(c, why); }) {
  if (options.resolve_containers) {
    containers_ = std::make_unique<container::ContainerResolver>(options.containers);
    if (options.cri != nullptr) {
      pods_ = std::make_unique<cri::PodFilter>(
          options.cri,
          [resolver = containers_.get()](uint32_t pid) {
            std::optional<container::ContainerInfo> info = resolver->Lookup(pid);
            return info.has_value() ? info->pod_uid : std::string();
          },
          options.containers.proc_root);
    }
  }
}

Pipeline::~Pipeline() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(const PipelineOptions& options) {
  std::unique_ptr<Pipeline> pipeline(new Pipeline(options));
  absl::StatusOr<std::unique_ptr<capture::Capture>> capture =
      capture::Capture::Create(options.capture, pipeline.get());
  if (!capture.ok()) return capture.status();
  pipeline->capture_ = *std::move(capture);
  if (pipeline->containers_ != nullptr) {
    Pipeline* raw = pipeline.get();
    pipeline->container_refresh_ = std::thread([raw] { raw->ContainerFilterLoop(); });
  }
  const capture::ProbeInfo info = pipeline->capture_->probe_info();
  HT_LOG(INFO) << "probes loaded (" << capture::AttachModeName(info.mode) << ": " << info.detail
               << "); kernel " << pipeline->node_.kernel_release;
  return pipeline;
}

std::unique_ptr<Pipeline> Pipeline::CreateForTest(const PipelineOptions& options) {
  return std::unique_ptr<Pipeline>(new Pipeline(options));
}

void Pipeline::Shutdown() {
  if (container_refresh_.joinable()) {
    {
      absl::MutexLock lock(&filter_mu_);
      stop_container_refresh_ = true;
    }
    container_refresh_.join();
  }
  if (capture_ != nullptr) capture_->Detach();
  // The poll thread has stopped: its state is ours now.
  connections_.Clear();
}

Pipeline::HttpState* Pipeline::Attach(conntrack::Connection& connection) {
  if (connection.attachment != nullptr) {
    return static_cast<HttpState*>(connection.attachment.get());
  }
  auto state = std::make_unique<HttpState>();
  ConnectionContext& context = state->context;
  context.connection_id = next_connection_id_++;
  context.pid = connection.pid;
  context.comm = connection.comm;
  context.tls_library = std::string(capture::TlsLibraryName(connection.tls));
  context.node = node_.node;
  if (containers_ != nullptr) {
    // Reads /proc/<pid>/cgroup once per process (cached); never waits for an engine.
    state->container = containers_->Lookup(connection.pid);
    if (state->container) context.container = ToProtoContainer(*state->container);
  }
  if (connection.local.family != 0) {
    context.local_address = connection.local.AddressString();
    context.local_port = connection.local.port;
    context.remote_address = connection.remote.AddressString();
    context.remote_port = connection.remote.port;
  }
  // The engine calls back synchronously from OnData/OnClose on this (the poll) thread.
  HttpState* raw = state.get();
  state->engine = std::make_unique<http::HttpConnection>(
      options_.engine, ToHint(connection.role), [this, raw](http::Exchange&& exchange) {
        if (forgetting_) {
          // From a capture whose sessions have all ended: no session asked for it.
          ++counters_.exchanges_after_capture;
          return;
        }
        ++counters_.exchanges_published;
        if (raw->container && raw->container->name.empty() &&
            containers_->FillKnownNames(*raw->container)) {
          raw->context.container = ToProtoContainer(*raw->container);
        }
        // A container started in a pod moments ago: its runtime has not been asked yet, but its
        // pod is known from the pod filter's listing, so --namespace/--pod match at once.
        if (raw->container && raw->container->pod_namespace.empty() &&
            !raw->container->pod_uid.empty() && pods_ != nullptr) {
          if (std::optional<cri::PodMetadata> pod = pods_->MatchedPod(raw->container->pod_uid)) {
            raw->container->pod_name = pod->pod_name;
            raw->container->pod_namespace = pod->pod_namespace;
            raw->context.container = ToProtoContainer(*raw->container);
          }
        }
        if (sessions_ == nullptr) return;
        // Built once, on its own arena; the sessions share it (agent/session/event.h).
        std::shared_ptr<v1::Event> event = session::NewEvent();
        ToProtoExchange(std::move(exchange), raw->context, event->mutable_exchange());
        sessions_->PublishExchange(std::move(event));
      });
  connection.attachment = std::move(state);
  return raw;
}

void Pipeline::OnConnectionEnd(conntrack::Connection& connection, conntrack::EndReason reason) {
  if (connection.attachment == nullptr) return;
  HttpState* state = static_cast<HttpState*>(connection.attachment.get());
  // Flushes what is pending: close-delimited bodies complete, unanswered requests get a note.
  state->engine->OnClose(connection.last_seen_ns);
  closed_engine_counters_ += state->engine->counters();
  HT_LOG(DEBUG) << "connection " << connection.key.ToString()
                << " ended: " << conntrack::EndReasonName(reason);
}

void Pipeline::OnOpen(const capture::ConnectionOpenEvent& event) {
  conntrack::Connection& connection = connections_.OnOpen(event);
  Attach(connection)->context.tid = event.tid;
  Housekeeping(event.timestamp_ns);
}

void Pipeline::OnData(const capture::DataEvent& event) {
  conntrack::DataResult result = connections_.OnData(event);
  HttpState* state = Attach(*result.conn);
  if (state->context.tid == 0) state->context.tid = event.tid;
  if (state->context.pid != result.conn->pid) {
    // The socket moved to another process (inetd-style servers hand it to a child on fds 0
    // and 1): its exchanges name the process that carries them.
    state->context.pid = result.conn->pid;
    state->context.comm = result.conn->comm;
    state->context.tid = event.tid;
    if (containers_ != nullptr) {
      state->container = containers_->Lookup(state->context.pid);
      state->context.container.reset();
      if (state->container) state->context.container = ToProtoContainer(*state->container);
    }
  }
  // The engine does its own gap accounting from the positions (it knows whether a gap falls
  // inside a body of known length and can keep framing).
  state->engine->OnData(ToHttp(event.direction), event.position, event.data, event.length,
                        event.timestamp_ns, event.size_only);
  Housekeeping(event.timestamp_ns);
}

void Pipeline::OnShutdown(const capture::ConnectionShutdownEvent& event) {
  conntrack::Connection* connection = connections_.OnShutdown(event);
  if (connection != nullptr && connection->attachment != nullptr) {
    // A direction ended: when it carried responses (a server's egress, a client's ingress) the
    // close-delimited response is complete and unanswered requests are final now, not at an
    // idle timeout.
    static_cast<HttpState*>(connection->attachment.get())
        ->engine->OnEndOfStream(ToHttp(event.direction), event.timestamp_ns);
  }
  Housekeeping(event.timestamp_ns);
}

void Pipeline::OnClose(const capture::ConnectionCloseEvent& event) {
  connections_.OnClose(event);
  Housekeeping(event.timestamp_ns);
}

void Pipeline::OnKernelLoss(const capture::KernelLossEvent& event) {
  connections_.OnKernelLoss(event);
  ++counters_.kernel_loss_events;
  counters_.kernel_loss_bytes += event.bytes;
  PendingLoss& pending = pending_losses_[event.conn];
  ++pending.events;
  pending.bytes += event.bytes;
  PublishPendingLoss(event.timestamp_ns);
}

void Pipeline::OnFlush() {
  // A loss just before a stop must reach the session before its end (and so its summary).
  PublishPendingLoss(NowNs(), /*now_or_never=*/true);
}

void Pipeline::PublishPendingLoss(uint64_t now_ns, bool now_or_never) {
  if (pending_losses_.empty() || sessions_ == nullptr) return;
  if (!now_or_never &&
      now_ns - last_loss_report_ns_ <
          static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.loss_report_period))) {
    return;
  }
  for (const auto& [key, pending] : pending_losses_) {
    v1::Loss loss;
    loss.set_reason(v1::LOSS_REASON_KERNEL_BUFFER_FULL);
    loss.set_bytes(pending.bytes);
    // The scope: what is known of the connection, so sessions that cannot match it are spared.
    v1::Exchange scope;
    const conntrack::Connection* connection = connections_.Find(key);
    const HttpState* state = connection == nullptr
                                 ? nullptr
                                 : static_cast<const HttpState*>(connection->attachment.get());
    std::string where = absl::StrCat("connection ", key.ToString());
    if (state != nullptr) {
      const ConnectionContext& context = state->context;
      scope.mutable_process()->set_pid(context.pid);
      scope.mutable_process()->set_comm(context.comm);
      if (context.container) *scope.mutable_process()->mutable_container() = *context.container;
      scope.mutable_connection()->mutable_local()->set_port(context.local_port);
      scope.mutable_connection()->mutable_remote()->set_port(context.remote_port);
      scope.mutable_connection()->set_role(
          connection->role == capture::Role::kClient   ? v1::ROLE_CLIENT
          : connection->role == capture::Role::kServer ? v1::ROLE_SERVER
                                                       : v1::ROLE_UNSPECIFIED);
      where =
          absl::StrCat("pid ", context.pid, " (", context.comm, ") ", context.local_address, ":",
                       context.local_port, " - ", context.remote_address, ":", context.remote_port);
    }
    loss.set_detail(absl::StrCat(
        pending.bytes, " byte(s) in ", pending.events, " kernel event(s) of ", where,
        " dropped: the ring buffer was full. Affected exchanges carry notes; narrow the capture "
        "(--pid, --port) or raise --ring-buffer-mb"));
    // A connection the pipeline does not know (yet) could match any session: tell them all.
    sessions_->PublishLoss(loss, state != nullptr ? &scope : nullptr);
  }
  pending_losses_.clear();
  last_loss_report_ns_ = now_ns;
}

void Pipeline::Housekeeping(uint64_t now_ns) {
  if (now_ns - last_housekeeping_ns_ < kHousekeepingPeriodNs) return;
  last_housekeeping_ns_ = now_ns;
  connections_.EvictIdle(now_ns);
  PublishPendingLoss(now_ns);
  SnapshotCounters();
}

void Pipeline::SnapshotCounters() {
  http::EngineCounters engine = closed_engine_counters_;
  connections_.ForEach([&engine](const conntrack::Connection& connection) {
    if (connection.attachment != nullptr) {
      engine += static_cast<const HttpState*>(connection.attachment.get())->engine->counters();
    }
  });
  absl::flat_hash_map<std::string, uint64_t> snapshot;
  engine.ForEach([&](const char* name, uint64_t value) { snapshot[name] = value; });
  const conntrack::TableCounters& table = connections_.counters();
  snapshot["conntrack.opened"] = table.opened;
  snapshot["conntrack.closed"] = table.closed;
  snapshot["conntrack.evicted_idle"] = table.evicted_idle;
  snapshot["conntrack.evicted_full"] = table.evicted_full;
  snapshot["conntrack.data_without_open"] = table.data_without_open;
  snapshot["conntrack.close_unknown"] = table.close_unknown;
  snapshot["conntrack.gaps"] = table.gaps;
  snapshot["conntrack.gap_bytes"] = table.gap_bytes;
  snapshot["conntrack.overlaps"] = table.overlaps;
  snapshot["conntrack.kernel_lost_bytes"] = table.kernel_lost_bytes;
  snapshot["conntrack.connections"] = connections_.size();
  snapshot["pipeline.kernel_loss_events"] = counters_.kernel_loss_events;
  snapshot["pipeline.kernel_loss_bytes"] = counters_.kernel_loss_bytes;
  snapshot["pipeline.exchanges"] = counters_.exchanges_published;
  snapshot["pipeline.exchanges_after_capture"] = counters_.exchanges_after_capture;
  snapshot["conntrack.shutdowns"] = table.shutdowns;
  snapshot["conntrack.read_eofs"] = table.read_eofs;
  snapshot["conntrack.process_changes"] = table.process_changes;
  absl::MutexLock lock(&snapshot_mu_);
  counter_snapshot_ = std::move(snapshot);
}

absl::Status Pipeline::ApplyFilters(const std::vector<v1::Filter>& active_filters) {
  if (capture_ == nullptr) return absl::OkStatus();
  absl::MutexLock lock(&filter_mu_);
  if (active_filters.empty()) {
    container_selectors_.clear();
    pod_selectors_.clear();
    capture_->Detach();
    // The poll thread has stopped: its state is ours. The kernel forgets these connections at
    // the next attach, so they would never see their close; end them now, while no session
    // is active to receive what they flush, rather than have them publish into a later
    // session when they are evicted.
    ForgetConnections();
    HT_LOG(INFO) << "no active session: probes detached";
    return absl::OkStatus();
  }
  kernel_filter_ = UnionKernelFilter(active_filters);
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
    // outlive them (detached: the poll thread is not running).
    ForgetConnections();
    if (absl::Status s = capture_->Attach(); !s.ok()) return s;
    const capture::ProbeInfo info = capture_->probe_info();
    HT_LOG(INFO) << "probes attached: " << info.programs.size() << " programs ("
                 << capture::AttachModeName(info.mode) << ")";
  }
  return absl::OkStatus();
}

std::vector<std::string> Pipeline::ContainerSelectors(
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

std::vector<Pipeline::PodSelector> Pipeline::PodSelectors(
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

absl::StatusOr<std::vector<uint32_t>> Pipeline::PodMountNamespaces() {
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

void Pipeline::LogContainerFilter(absl::string_view why) {
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

void Pipeline::ContainerFilterLoop() {
  absl::MutexLock lock(&filter_mu_);
  while (!filter_mu_.AwaitWithTimeout(absl::Condition(&stop_container_refresh_),
                                      options_.container_refresh_period)) {
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

void Pipeline::ForgetConnections() {
  if (connections_.size() == 0) return;
  forgetting_ = true;
  connections_.Clear();
  forgetting_ = false;
}

void Pipeline::Flush() {
  if (capture_ != nullptr && !capture_->Flush()) {
    HT_LOG(WARNING) << "flush: the poll thread did not drain the ring buffer in time";
  }
}

void Pipeline::FillStatus(v1::GetStatusResponse* response) {
  v1::KernelStatus* kernel = response->mutable_kernel();
  kernel->set_release(node_.kernel_release);
  kernel->set_btf(node_.btf);
  kernel->set_tracefs(FindTracefsMount());
  if (capture_ != nullptr) {
    const capture::ProbeInfo info = capture_->probe_info();
    v1::ProbeStatus* probes = response->mutable_probes();
    probes->set_attached(capture_->attached());
    probes->set_mode(info.mode == capture::AttachMode::kRawTracepoints
                         ? v1::ATTACH_MODE_RAW_TRACEPOINTS
                         : v1::ATTACH_MODE_TRACEPOINTS);
    for (const std::string& program : info.programs) probes->add_programs(program);
    probes->set_detail(info.detail);
    for (const auto& [name, value] : capture_->Counters()) {
      (*response->mutable_counters())[name] = value;
    }
  }
  if (containers_ != nullptr) {
    for (const auto& [name, value] : containers_->Counters()) {
      (*response->mutable_counters())[name] = value;
    }
  }
  absl::MutexLock lock(&snapshot_mu_);
  for (const auto& [name, value] : counter_snapshot_) {
    (*response->mutable_counters())[name] = value;
  }
}

}  // namespace httptrace::pipeline
