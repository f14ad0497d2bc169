// The RED metrics of an export session: `http.server.request.duration` and
// `http.client.request.duration` histograms (seconds, the semantic conventions' default buckets)
// by resource, method, route, status code, scheme and protocol version (client: and server
// address and port), with cumulative temporality. Series are bounded: past `max_series`, a
// measurement goes to one overflow series per histogram (attribute "otel.metric.overflow": true,
// as OpenTelemetry's SDKs do) and is counted. Thread-safe: the exporter records on one thread and
// exports on another.
//
//   DurationHistograms histograms(1000, absl::Now());
//   histograms.Record(exchange);                 // exchanges with a response and a latency
//   histograms.Fill(absl::Now(), &request);      // every series, cumulative since its start

#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/export/process_service_names.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/metrics/v1/metrics.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "proto/httptrace.pb.h"

namespace httptrace::otlp {

namespace otel_metrics = opentelemetry::proto::metrics::v1;
namespace otel_collector_metrics = opentelemetry::proto::collector::metrics::v1;

// The HTTP semantic conventions' explicit bucket boundaries for request durations (seconds).
inline constexpr std::array<double, 14> kDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};

class DurationHistograms {
 public:
  // `names` (not owned; null: not asked) gives processes' own service names (span_builder.h).
  DurationHistograms(size_t max_series, absl::Time start, ProcessServiceNames* names = nullptr)
      : max_series_(max_series), start_(start), names_(names) {}

  // Counts `exchange` (server or client role, with a response and a latency; others are
  // skipped: there is no duration to record).
  void Record(const v1::Exchange& exchange) ABSL_LOCKS_EXCLUDED(mu_);

  // Appends every series, cumulative from its start to `now`. Empty when nothing was recorded.
  void Fill(absl::Time now, otel_collector_metrics::ExportMetricsServiceRequest* request) const
      ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t overflow() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t series() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Series {
    bool server = true;
    std::string resource_key;
    otel_metrics::HistogramDataPoint point;  // attributes, start time, counts, sum, min, max
  };

  const size_t max_series_;
  const absl::Time start_;
  ProcessServiceNames* const names_;
  mutable absl::Mutex mu_;
  // Series by resource key + attributes; the overflow series by "overflow/<role>".
  absl::flat_hash_map<std::string, Series> series_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, opentelemetry::proto::resource::v1::Resource> resources_
      ABSL_GUARDED_BY(mu_);
  uint64_t overflow_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace httptrace::otlp
