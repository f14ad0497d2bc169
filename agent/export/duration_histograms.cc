#include "agent/export/duration_histograms.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/export/span_builder.h"
#include "common/route.h"
#include "common/version.h"

namespace httptrace::otlp {
namespace {

double Seconds(const google::protobuf::Duration& d) {
  return static_cast<double>(d.seconds()) + static_cast<double>(d.nanos()) / 1e9;
}

uint64_t Nanos(absl::Time t) { return static_cast<uint64_t>(absl::ToUnixNanos(t)); }

// The key that identifies the exchange's series within its resource (cheap: built for every
// exchange).
std::string SeriesKey(const v1::Exchange& x, bool server) {
  const std::optional<std::string> error = ErrorType(x);
  std::string key = absl::StrCat(server ? "s|" : "c|", NormalizedMethod(x.request().method()), "|",
                                 RouteOf(x.request().target()), "|", x.response().status(), "|",
                                 x.request().version(), "|", x.connection().has_tls() ? "s" : "",
                                 "|", error.value_or(""));
  if (!server) {
    absl::StrAppend(&key, "|", x.connection().remote().address(), "|",
                    x.connection().remote().port());
  }
  return key;
}

// The series' attributes (built once per series).
void SeriesAttributes(const v1::Exchange& x, bool server,
                      google::protobuf::RepeatedPtrField<otel_common::KeyValue>* out) {
  AddAttribute(out, "http.request.method", NormalizedMethod(x.request().method()));
  AddAttribute(out, "http.route", RouteOf(x.request().target()));
  AddAttribute(out, "http.response.status_code", static_cast<int64_t>(x.response().status()));
  AddAttribute(out, "network.protocol.version", ProtocolVersion(x.request().version()));
  if (server) {
    AddAttribute(out, "url.scheme", x.connection().has_tls() ? "https" : "http");
  } else {
    AddAttribute(out, "server.address", x.connection().remote().address());
    AddAttribute(out, "server.port", static_cast<int64_t>(x.connection().remote().port()));
  }
  if (std::optional<std::string> error = ErrorType(x)) AddAttribute(out, "error.type", *error);
}

void AddMeasurement(double seconds, otel_metrics::HistogramDataPoint* point) {
  if (point->bucket_counts_size() == 0) {
    point->mutable_bucket_counts()->Resize(kDurationBuckets.size() + 1, 0);
    for (double bound : kDurationBuckets) point->add_explicit_bounds(bound);
    point->set_min(seconds);
    point->set_max(seconds);
  }
  // Buckets are (previous bound, bound]: upper bounds inclusive, as OTLP defines them.
  const size_t bucket =
      std::lower_bound(kDurationBuckets.begin(), kDurationBuckets.end(), seconds) -
      kDurationBuckets.begin();
  point->set_bucket_counts(bucket, point->bucket_counts(bucket) + 1);
  point->set_count(point->count() + 1);
  point->set_sum(point->sum() + seconds);
  point->set_min(std::min(point->min(), seconds));
  point->set_max(std::max(point->max(), seconds));
}

}  // namespace

void DurationHistograms::Record(const v1::Exchange& x) {
  const v1::Role role = x.connection().role();
  if (!x.has_response() || !x.has_latency() || role == v1::ROLE_UNSPECIFIED) return;
  const bool server = role == v1::ROLE_SERVER;
  const double seconds = Seconds(x.latency());
  const std::string resource_key = ResourceKey(x);
  std::string key = absl::StrCat(resource_key, "#", SeriesKey(x, server));

  absl::MutexLock lock(&mu_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= max_series_) {
      ++overflow_;
      key = server ? "overflow/server" : "overflow/client";
      it = series_.find(key);
      if (it == series_.end()) {
        Series overflow{server, "overflow", {}};
        AddAttribute(overflow.point.mutable_attributes(), "otel.metric.overflow", true);
        overflow.point.set_start_time_unix_nano(Nanos(start_));
        it = series_.emplace(key, std::move(overflow)).first;
        if (!resources_.contains("overflow")) {
          // Measurements of many resources: the overflow series has a resource of its own.
          auto& resource = resources_["overflow"];
          AddAttribute(resource.mutable_attributes(), "service.name", "httptrace-overflow");
          if (!x.node().empty()) AddAttribute(resource.mutable_attributes(), "host.name", x.node());
        }
      }
    } else {
      Series series{server, resource_key, {}};
      SeriesAttributes(x, server, series.point.mutable_attributes());
      series.point.set_start_time_unix_nano(Nanos(start_));
      it = series_.emplace(std::move(key), std::move(series)).first;
      if (!resources_.contains(resource_key)) {
        FillResource(x, &resources_[resource_key], names_);
      }
    }
  }
  AddMeasurement(seconds, &it->second.point);
}

void DurationHistograms::Fill(absl::Time now,
                              otel_collector_metrics::ExportMetricsServiceRequest* request) const {
  absl::MutexLock lock(&mu_);
  if (series_.empty()) return;
  // resource key -> (server histogram, client histogram), in a stable order.
  std::map<std::string, std::pair<otel_metrics::Metric*, otel_metrics::Metric*>> metrics;
  for (const auto& [key, series] : series_) {
    auto [it, inserted] = metrics.try_emplace(series.resource_key, nullptr, nullptr);
    if (inserted) {
      otel_metrics::ResourceMetrics* resource_metrics = request->add_resource_metrics();
      *resource_metrics->mutable_resource() = resources_.at(series.resource_key);
      otel_metrics::ScopeMetrics* scope = resource_metrics->add_scope_metrics();
      scope->mutable_scope()->set_name(std::string(kScopeName));
      scope->mutable_scope()->set_version(std::string(kVersion));
      // Both histograms' Metric objects, filled only when used.
      it->second.first = scope->add_metrics();
      it->second.second = scope->add_metrics();
    }
    otel_metrics::Metric*& metric = series.server ? it->second.first : it->second.second;
    if (!metric->has_histogram()) {
      metric->set_name(series.server ? "http.server.request.duration"
                                     : "http.client.request.duration");
      metric->set_description(series.server ? "Duration of HTTP server requests."
                                            : "Duration of HTTP client requests.");
      metric->set_unit("s");
      metric->mutable_histogram()->set_aggregation_temporality(
          otel_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
    }
    otel_metrics::HistogramDataPoint* point = metric->mutable_histogram()->add_data_points();
    *point = series.point;
    point->set_time_unix_nano(Nanos(now));
  }
  // Drop the Metric objects that stayed empty (a resource with server series only, ...).
  for (otel_metrics::ResourceMetrics& resource_metrics : *request->mutable_resource_metrics()) {
    for (otel_metrics::ScopeMetrics& scope : *resource_metrics.mutable_scope_metrics()) {
      auto* list = scope.mutable_metrics();
      list->erase(std::remove_if(list->begin(), list->end(),
                                 [](const otel_metrics::Metric& m) { return !m.has_histogram(); }),
                  list->end());
    }
  }
}

uint64_t DurationHistograms::overflow() const {
  absl::MutexLock lock(&mu_);
  return overflow_;
}

size_t DurationHistograms::series() const {
  absl::MutexLock lock(&mu_);
  return series_.size();
}

}  // namespace httptrace::otlp
