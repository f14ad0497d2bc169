// An export session's sink: reads the session like any reader (so the session's filter, body
// limit and redaction apply, and the pipeline never waits for it), and sends its exchanges to an
// OpenTelemetry collector over OTLP/gRPC: spans in batches (by size and time) to
// TraceService/Export, duration histograms every metrics interval to MetricsService/Export.
//
// Two threads of its own: "otlp-read" drains the session into a bounded export queue (charged to
// the agent's memory budget) and records the histograms; "otlp-send" sends batches, retrying
// retryable failures with backoff (honouring RetryInfo, retry_policy.h) for up to max_retry_time.
// A span that cannot be queued or sent is dropped, counted (ExportStatus.spans_dropped) and
// reported as an EXPORT_FAILED loss in the session, with the reason. When the session ends, what
// is queued gets one last chance (a few seconds), then the threads end.
//
//   auto exporter = OtlpExporter::Create(session, request.export_options(), &budget);
//   session->AttachSink(*std::move(exporter));

#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/export/duration_histograms.h"
#include "agent/export/span_builder.h"
#include "agent/session/memory_budget.h"
#include "agent/session/session.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "proto/httptrace.pb.h"

namespace httptrace::otlp {

// v1::ExportOptions checked, with the defaults filled in.
struct ExporterConfig {
  std::string endpoint;  // as given, for status
  std::string target;    // host:port for gRPC
  bool tls = false;
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  absl::Duration metrics_interval = absl::Seconds(15);
  absl::Duration batch_delay = absl::Seconds(1);
  absl::Duration max_retry_time = absl::Seconds(60);
  absl::Duration call_timeout = absl::Seconds(10);
  // After the session ended: how long the last batches may still be tried.
  absl::Duration final_flush_time = absl::Seconds(5);
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(8);
  size_t max_queue_spans = 2048;
  size_t max_batch_spans = 512;
  size_t max_metric_series = 1000;
  bool redact_query = true;
};

// INVALID_ARGUMENT with what to fix: endpoint "otlp://host:port" (plaintext), "otlps://host:port"
// (TLS) or "host:port" (plaintext unless TLS material is given); header names; PEM pairs.
absl::StatusOr<ExporterConfig> ParseExportOptions(const v1::ExportOptions& options);

// "name=value" or "name: value" (agent flags, OTEL_EXPORTER_OTLP_HEADERS's comma list).
absl::Status ParseHeaderInto(absl::string_view text, v1::ExportOptions* options);

class OtlpExporter : public session::SessionSink {
 public:
  // `session` and `budget` (null: unaccounted) must outlive the exporter (the session owns it).
  static absl::StatusOr<std::unique_ptr<OtlpExporter>> Create(session::Session* session,
                                                              const v1::ExportOptions& options,
                                                              session::MemoryBudget* budget);
  OtlpExporter(session::Session* session, ExporterConfig config, session::MemoryBudget* budget);
  ~OtlpExporter() override;

  void FillInfo(v1::SessionInfo* info) const override;

 private:
  struct Queued {
    session::EventPtr event;
    uint64_t charged = 0;
    absl::Time queued_at;
  };

  void ReadLoop();
  void SendLoop();
  // Sends one batch, retrying while it is worth it; counts it sent or dropped.
  void SendBatch(std::vector<session::EventPtr> batch, bool session_over);
  void ExportMetrics(absl::Time now);
  // Waits `delay` unless the exporter is told to stop; false when it was.
  bool SleepUnlessStopped(absl::Duration delay) ABSL_LOCKS_EXCLUDED(mu_);
  void Drop(uint64_t spans, std::string reason);
  void SetLastError(std::string error) ABSL_LOCKS_EXCLUDED(error_mu_);
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  session::Session* const session_;
  const ExporterConfig config_;
  session::MemoryBudget* const budget_;
  std::unique_ptr<opentelemetry::proto::collector::trace::v1::TraceService::Stub> traces_;
  std::unique_ptr<opentelemetry::proto::collector::metrics::v1::MetricsService::Stub> metrics_;
  ProcessServiceNames service_names_;  // shared by the two threads (thread-safe)
  DurationHistograms histograms_;
  SpanBuilder spans_;       // send thread only
  std::mt19937_64 jitter_;  // send thread only

  mutable absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // spans of the batch being sent
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool sender_done_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  mutable absl::Mutex error_mu_;
  std::string last_error_ ABSL_GUARDED_BY(error_mu_);

  std::atomic<uint64_t> sent_{0}, retried_{0}, dropped_{0};
  std::atomic<uint64_t> metric_exports_{0}, metric_exports_failed_{0};

  std::thread reader_;
  std::thread sender_;
};

}  // namespace httptrace::otlp
