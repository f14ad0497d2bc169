#include "agent/export/otlp_exporter.h"

#include <pthread.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/export/retry_policy.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/version.h"

namespace httptrace::otlp {
namespace {

namespace collector_trace = opentelemetry::proto::collector::trace::v1;
namespace collector_metrics = opentelemetry::proto::collector::metrics::v1;

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string Describe(const grpc::Status& status) {
  const int code = status.error_code();
  const absl::string_view name = code >= 0 ? GrpcStatusName(static_cast<uint32_t>(code)) : "";
  return absl::StrCat(name.empty() ? "UNKNOWN" : name, ": ", status.error_message());
}

// gRPC metadata keys: lowercase letters, digits, '-', '_', '.'; "-bin" keys carry binary values,
// which a header flag cannot.
bool ValidHeaderName(absl::string_view name) {
  if (name.empty() || absl::EndsWith(name, "-bin") || absl::StartsWith(name, "grpc-")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
  });
}

bool ValidHeaderValue(absl::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

absl::Status ParseHeaderInto(absl::string_view text, v1::ExportOptions* options) {
  const size_t split = text.find_first_of("=:");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("header \"", text, "\": want name=value (e.g. authorization=Bearer ...)"));
  }
  const std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text.substr(0, split)));
  const absl::string_view value = absl::StripAsciiWhitespace(text.substr(split + 1));
  (*options->mutable_headers())[name] = std::string(value);
  return absl::OkStatus();
}

absl::StatusOr<ExporterConfig> ParseExportOptions(const v1::ExportOptions& options) {
  ExporterConfig config;
  config.endpoint = options.endpoint();
  absl::string_view rest = options.endpoint();
  std::optional<bool> tls;
  if (absl::ConsumePrefix(&rest, "otlp://") || absl::ConsumePrefix(&rest, "http://")) {
    tls = false;
  } else if (absl::ConsumePrefix(&rest, "otlps://") || absl::ConsumePrefix(&rest, "https://")) {
    tls = true;
  } else if (absl::StrContains(rest, "://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("export endpoint \"", options.endpoint(),
                     "\": want otlp://host:port (plaintext gRPC) or otlps://host:port (TLS)"));
  }
  absl::ConsumeSuffix(&rest, "/");
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        "export endpoint missing: want otlp://host:port or otlps://host:port");
  }
  // host, host:port, [v6]:port. The collector's OTLP/gRPC port is 4317 by convention.
  const size_t close = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos || (close != absl::string_view::npos && colon < close)) {
    config.target = absl::StrCat(rest, ":4317");
  } else {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("export endpoint \"", options.endpoint(),
                                                     "\": \"", rest.substr(colon + 1),
                                                     "\" is not a port (1-65535)"));
    }
    config.target = std::string(rest);
  }
  const bool tls_material = !options.tls_ca_pem().empty() || !options.tls_cert_pem().empty() ||
                            !options.tls_key_pem().empty();
  if (tls == false && tls_material) {
    return absl::InvalidArgumentError(
        absl::StrCat("export endpoint \"", options.endpoint(),
                     "\" is plaintext (otlp://) but TLS certificates were given: use otlps://"));
  }
  config.tls = tls.value_or(tls_material);
  if (options.tls_cert_pem().empty() != options.tls_key_pem().empty()) {
    return absl::InvalidArgumentError(
        "export mTLS needs both a client certificate and its key (or neither)");
  }
  config.tls_ca_pem = options.tls_ca_pem();
  config.tls_cert_pem = options.tls_cert_pem();
  config.tls_key_pem = options.tls_key_pem();
  for (const auto& [name, value] : options.headers()) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (!ValidHeaderName(lower)) {
      return absl::InvalidArgumentError(
          absl::StrCat("export header \"", name,
                       "\": names are letters, digits, '-', '_' and '.' (not grpc-*, not *-bin)"));
    }
    if (!ValidHeaderValue(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("export header \"", name, "\": the value must be printable ASCII"));
    }
    config.headers.emplace_back(lower, value);
  }
  std::sort(config.headers.begin(), config.headers.end());
  auto positive = [](const google::protobuf::Duration& d, absl::Duration fallback,
                     absl::string_view what) -> absl::StatusOr<absl::Duration> {
    const absl::Duration value = ToDuration(d);
    if (value < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(what, " must not be negative"));
    }
    return value == absl::ZeroDuration() ? fallback : value;
  };
  absl::StatusOr<absl::Duration> interval =
      positive(options.metrics_interval(), config.metrics_interval, "metrics_interval");
  if (!interval.ok()) return interval.status();
  if (*interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("metrics_interval: at least 1s");
  }
  config.metrics_interval = *interval;
  absl::StatusOr<absl::Duration> delay =
      positive(options.batch_delay(), config.batch_delay, "batch_delay");
  if (!delay.ok()) return delay.status();
  config.batch_delay = *delay;
  absl::StatusOr<absl::Duration> retry =
      positive(options.max_retry_time(), config.max_retry_time, "max_retry_time");
  if (!retry.ok()) return retry.status();
  config.max_retry_time = *retry;
  if (options.max_queue_spans() > 0) config.max_queue_spans = options.max_queue_spans();
  if (options.max_batch_spans() > 0) config.max_batch_spans = options.max_batch_spans();
  if (options.max_metric_series() > 0) config.max_metric_series = options.max_metric_series();
  if (config.max_queue_spans > 1'000'000 || config.max_batch_spans > 100'000 ||
      config.max_metric_series > 1'000'000) {
    return absl::InvalidArgumentError(
        "export limits: at most 1000000 queued spans, 100000 per batch, 1000000 series");
  }
  return config;
}

absl::StatusOr<std::unique_ptr<OtlpExporter>> OtlpExporter::Create(session::Session* session,
                                                                   const v1::ExportOptions& options,
                                                                   session::MemoryBudget* budget) {
  absl::StatusOr<ExporterConfig> config = ParseExportOptions(options);
  if (!config.ok()) return config.status();
  // Query secrets stay in clear only where the session keeps header secrets in clear too.
  config->redact_query = !session->options().no_redact();
  return std::make_unique<OtlpExporter>(session, *std::move(config), budget);
}

OtlpExporter::OtlpExporter(session::Session* session, ExporterConfig config,
                           session::MemoryBudget* budget)
    : session_(session),
      config_(std::move(config)),
      budget_(budget),
      histograms_(config_.max_metric_series, absl::Now(), &service_names_),
      spans_(SpanOptions{.redact_query = config_.redact_query,
                         .redact_params = {session->options().redact_params().begin(),
                                           session->options().redact_params().end()},
                         .service_names = &service_names_}),
      jitter_(std::random_device{}()) {
  grpc::ChannelArguments args;
  // Back to the collector soon after it returns: gRPC's default reconnect backoff grows to 2 min.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetUserAgentPrefix(absl::StrCat("httptrace/", kVersion));
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = config_.tls_ca_pem;
    ssl.pem_cert_chain = config_.tls_cert_pem;
    ssl.pem_private_key = config_.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(config_.target, credentials, args);
  traces_ = collector_trace::TraceService::NewStub(channel);
  metrics_ = collector_metrics::MetricsService::NewStub(channel);
  // A reader from the start: an export session has no idle timeout.
  session_->AddReader();
  reader_ = std::thread([this] { ReadLoop(); });
  sender_ = std::thread([this] { SendLoop(); });
}

OtlpExporter::~OtlpExporter() {
  {
    absl::MutexLock lock(&mu_);
    // An ended session's last batches get their chance (bounded by final_flush_time); then stop.
    mu_.AwaitWithTimeout(absl::Condition(&sender_done_),
                         config_.final_flush_time + absl::Seconds(1));
    stop_ = true;
  }
  reader_.join();
  sender_.join();
  absl::MutexLock lock(&mu_);
  for (const Queued& queued : queue_) {
    if (budget_ != nullptr) budget_->Release(queued.charged);
  }
}

void OtlpExporter::ReadLoop() {
  pthread_setname_np(pthread_self(), "otlp-read");
  uint64_t next_seq = 0;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    // Woken for 256 events or after 50 ms, not per exchange: under load one wake-up moves a
    // batch; when idle, a span waits at most 50 ms more.
    session::Session::ReadResult read =
        session_->Read(&next_seq, 1024, absl::Milliseconds(50), /*min_events=*/256);
    uint64_t queue_full = 0, over_budget = 0;
    {
      absl::MutexLock lock(&mu_);
      v1::Event parsed;  // reused; spans are built from the held bytes when sent
      for (const session::SequencedEvent& sequenced : read.events) {
        if (sequenced.event->kind != v1::Event::kExchange) continue;
        if (!parsed.ParseFromString(sequenced.event->bytes)) continue;  // the agent's own bytes
        // Every exchange counts in the histograms, sent as a span or not.
        histograms_.Record(parsed.exchange());
        if (queue_.size() + in_flight_ >= config_.max_queue_spans) {
          ++queue_full;
          continue;
        }
        const uint64_t bytes = budget_ != nullptr ? session::HeldBytes(*sequenced.event) : 0;
        if (budget_ != nullptr && !budget_->TryCharge(bytes)) {
          ++over_budget;
          continue;
        }
        queue_.push_back({sequenced.event, bytes, absl::Now()});
      }
    }
    if (queue_full > 0) {
      Drop(queue_full, absl::StrCat("export queue full (", config_.max_queue_spans,
                                    " spans): the collector at ", config_.endpoint,
                                    " is not keeping up or not reachable"));
    }
    if (over_budget > 0) {
      Drop(over_budget, "the agent's memory budget was spent (raise --memory-budget-mb)");
    }
    if (read.finished) break;
  }
  session_->RemoveReader(absl::Now());
  absl::MutexLock lock(&mu_);
  reader_done_ = true;
}

void OtlpExporter::SendLoop() {
  pthread_setname_np(pthread_self(), "otlp-send");
  absl::Time next_metrics = absl::Now() + config_.metrics_interval;
  for (;;) {
    std::vector<session::EventPtr> batch;
    bool session_over = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, &next_metrics]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const absl::Time now = absl::Now();
        return stop_ || reader_done_ || queue_.size() >= config_.max_batch_spans ||
               now >= next_metrics ||
               (!queue_.empty() && now >= queue_.front().queued_at + config_.batch_delay);
      };
      while (!ready()) {
        absl::Time wake = next_metrics;
        if (!queue_.empty()) wake = std::min(wake, queue_.front().queued_at + config_.batch_delay);
        // Woken early by a full batch or the reader's end; a bounded wait otherwise.
        mu_.AwaitWithDeadline(absl::Condition(
                                  +[](OtlpExporter* e) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return e->stop_ || e->reader_done_ ||
                                           e->queue_.size() >= e->config_.max_batch_spans;
                                  },
                                  this),
                              std::min(wake, absl::Now() + absl::Milliseconds(200)));
      }
      if (stop_) break;
      const absl::Time now = absl::Now();
      const bool batch_due =
          queue_.size() >= config_.max_batch_spans || reader_done_ ||
          (!queue_.empty() && now >= queue_.front().queued_at + config_.batch_delay);
      if (batch_due) {
        while (!queue_.empty() && batch.size() < config_.max_batch_spans) {
          if (budget_ != nullptr) budget_->Release(queue_.front().charged);
          batch.push_back(std::move(queue_.front().event));
          queue_.pop_front();
        }
        in_flight_ = batch.size();
      }
      session_over = reader_done_ && queue_.empty();
    }
    if (!batch.empty()) SendBatch(std::move(batch), session_over);
    {
      absl::MutexLock lock(&mu_);
      in_flight_ = 0;
    }
    if (absl::Now() >= next_metrics || session_over) {
      ExportMetrics(absl::Now());
      next_metrics = absl::Now() + config_.metrics_interval;
    }
    if (session_over) break;
  }
  absl::MutexLock lock(&mu_);
  // Stopped before the queue emptied: what is left was never sent.
  if (!queue_.empty()) {
    dropped_ += queue_.size();
  }
  sender_done_ = true;
}

std::unique_ptr<grpc::ClientContext> OtlpExporter::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + config_.call_timeout));
  for (const auto& [name, value] : config_.headers) context->AddMetadata(name, value);
  return context;
}

void OtlpExporter::SendBatch(std::vector<session::EventPtr> batch, bool session_over) {
  collector_trace::ExportTraceServiceRequest request;
  spans_.BuildRequest(batch, &request);
  const uint64_t count = batch.size();
  batch.clear();  // the request holds what is sent: release the exchanges now
  const absl::Time first_try = absl::Now();
  for (int attempt = 0;; ++attempt) {
    collector_trace::ExportTraceServiceResponse response;
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    const grpc::Status status = traces_->Export(context.get(), request, &response);
    if (status.ok()) {
      sent_ += count;
      SetLastError("");
      return;
    }
    const std::string error = Describe(status);
    SetLastError(error);
    const RetryDecision decision = ClassifyExportFailure(status);
    if (!decision.retryable) {
      Drop(count, absl::StrCat("the collector at ", config_.endpoint, " refused ", count,
                               " span(s): ", error));
      return;
    }
    const absl::Duration wait = decision.server_delay.value_or(
        Backoff(attempt, config_.initial_backoff, config_.max_backoff,
                std::uniform_real_distribution<double>(0, 1)(jitter_)));
    bool over = false;
    {
      absl::MutexLock lock(&mu_);
      over = reader_done_ || session_over;
    }
    const absl::Duration limit = over ? config_.final_flush_time : config_.max_retry_time;
    if (absl::Now() + wait - first_try > limit) {
      Drop(count, absl::StrCat(count, " span(s) not delivered to ", config_.endpoint, " within ",
                               absl::FormatDuration(limit), ": ", error));
      return;
    }
    HT_LOG_EVERY_N_SEC(WARNING, 10) << "OTLP export to " << config_.endpoint << " failed (" << error
                                    << "); retrying in " << absl::FormatDuration(wait);
    if (!SleepUnlessStopped(wait)) {
      Drop(count, "the agent stopped before the collector answered");
      return;
    }
    retried_ += count;
  }
}

void OtlpExporter::ExportMetrics(absl::Time now) {
  collector_metrics::ExportMetricsServiceRequest request;
  histograms_.Fill(now, &request);
  if (request.resource_metrics_size() == 0) return;
  collector_metrics::ExportMetricsServiceResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  // One try: the histograms are cumulative, so the next interval's export carries these counts.
  const grpc::Status status = metrics_->Export(context.get(), request, &response);
  if (status.ok()) {
    ++metric_exports_;
  } else {
    ++metric_exports_failed_;
    SetLastError(Describe(status));
  }
}

bool OtlpExporter::SleepUnlessStopped(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), delay);
  return !stop_;
}

void OtlpExporter::Drop(uint64_t spans, std::string reason) {
  dropped_ += spans;
  HT_LOG_EVERY_N_SEC(WARNING, 10) << "session " << session_->id() << ": " << reason;
  v1::Loss loss;
  loss.set_reason(v1::LOSS_REASON_EXPORT_FAILED);
  loss.set_exchanges(spans);
  loss.set_detail(std::move(reason));
  session_->OfferLoss(loss);
}

void OtlpExporter::SetLastError(std::string error) {
  absl::MutexLock lock(&error_mu_);
  last_error_ = std::move(error);
}

void OtlpExporter::FillInfo(v1::SessionInfo* info) const {
  v1::ExportStatus* status = info->mutable_export_status();
  status->set_endpoint(config_.endpoint);
  for (const auto& [name, value] : config_.headers) status->add_header_names(name);
  status->set_spans_sent(sent_.load());
  status->set_spans_retried(retried_.load());
  status->set_spans_dropped(dropped_.load());
  {
    absl::MutexLock lock(&mu_);
    status->set_spans_queued(queue_.size() + in_flight_);
  }
  status->set_metric_exports(metric_exports_.load());
  status->set_metric_exports_failed(metric_exports_failed_.load());
  status->set_metric_overflow(histograms_.overflow());
  absl::MutexLock lock(&error_mu_);
  status->set_last_error(last_error_);
}

}  // namespace httptrace::otlp
