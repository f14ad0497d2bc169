#include "agent/pipeline/pipeline.h"

#include <utility>

#include "common/log.h"

namespace httptrace::pipeline {

Pipeline::Pipeline(const PipelineOptions& options)
    : options_(options), node_([&] {
        NodeInfo info = ReadNodeInfo();
        if (!options.node_name.empty()) info.node = options.node_name;
        return info;
      }()) {
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
  tracker_ = std::make_unique<ExchangeTracker>(
      ExchangeTrackerOptions{.engine = options.engine,
                             .max_connections = options.max_connections,
                             .idle_timeout = options.idle_timeout,
                             .loss_report_period = options.loss_report_period},
      node_, containers_.get(), pods_.get(), options.memory_budget);
  queue_ = std::make_unique<EventQueue>(options.queue, tracker_.get(), options.memory_budget);
}

Pipeline::~Pipeline() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(const PipelineOptions& options) {
  std::unique_ptr<Pipeline> pipeline(new Pipeline(options));
  absl::StatusOr<std::unique_ptr<capture::Capture>> capture =
      capture::Capture::Create(options.capture, pipeline->queue_.get());
  if (!capture.ok()) return capture.status();
  pipeline->capture_ = *std::move(capture);
  Pipeline* raw = pipeline.get();
  pipeline->filters_ = std::make_unique<KernelFilterControl>(
      pipeline->capture_.get(), pipeline->containers_.get(), pipeline->pods_.get(),
      options.container_refresh_period, [raw] {
        // Detached: nothing feeds the queue; the worker owns the connections.
        raw->queue_->RunOnWorker([raw] { raw->tracker_->ForgetConnections(); });
      });
  const capture::ProbeInfo info = pipeline->capture_->probe_info();
  HT_LOG(INFO) << "probes loaded (" << capture::AttachModeName(info.mode) << ": " << info.detail
               << "); kernel " << pipeline->node_.kernel_release;
  return pipeline;
}

std::unique_ptr<Pipeline> Pipeline::CreateForTest(const PipelineOptions& options) {
  return std::unique_ptr<Pipeline>(new Pipeline(options));
}

absl::Status Pipeline::SetOwnApiPorts(const std::vector<uint16_t>& ports) {
  if (capture_ == nullptr) return absl::OkStatus();
  return capture_->SetOwnApiPorts(ports);
}

void Pipeline::Shutdown() {
  filters_.reset();
  if (capture_ != nullptr) capture_->Detach();
  queue_->OnPollDone();  // tests feed the queue themselves: hand on what they fed
  queue_->RunOnWorker([this] { tracker_->ForgetConnections(); });
}

absl::Status Pipeline::ApplyFilters(const std::vector<v1::Filter>& active_filters,
                                    uint32_t body_limit_bytes) {
  if (filters_ == nullptr) return absl::OkStatus();
  return filters_->Apply(active_filters, body_limit_bytes);
}

void Pipeline::Flush() {
  if (capture_ != nullptr) {
    if (!capture_->Flush()) {
      HT_LOG(WARNING) << "flush: the poll thread did not drain the ring buffer in time";
    }
  } else {
    queue_->OnFlush();  // tests feed the queue from this thread
  }
  queue_->RunOnWorker([this] { tracker_->OnFlush(); });
}

std::vector<std::string> Pipeline::Notes() {
  return capture_ != nullptr ? capture_->TlsNotes() : std::vector<std::string>{};
}

void Pipeline::SyncForTest() {
  queue_->OnPollDone();
  queue_->RunOnWorker([] {});
}

void Pipeline::FillStatus(v1::GetStatusResponse* response) {
  v1::KernelStatus* kernel = response->mutable_kernel();
  kernel->set_release(node_.kernel_release);
  kernel->set_btf(node_.btf);
  kernel->set_tracefs(FindTracefsMount());
  auto& counters = *response->mutable_counters();
  if (capture_ != nullptr) {
    const capture::ProbeInfo info = capture_->probe_info();
    v1::ProbeStatus* probes = response->mutable_probes();
    probes->set_attached(capture_->attached());
    probes->set_mode(info.mode == capture::AttachMode::kRawTracepoints
                         ? v1::ATTACH_MODE_RAW_TRACEPOINTS
                         : v1::ATTACH_MODE_TRACEPOINTS);
    for (const std::string& program : info.programs) probes->add_programs(program);
    probes->set_detail(info.detail);
    for (const auto& [name, value] : capture_->Counters()) counters[name] = value;
  }
  if (containers_ != nullptr) {
    for (const auto& [name, value] : containers_->Counters()) counters[name] = value;
  }
  for (const auto& [name, value] : queue_->Counters()) counters[name] = value;
  for (const auto& [name, value] : tracker_->CounterSnapshot()) counters[name] = value;
}

}  // namespace httptrace::pipeline
