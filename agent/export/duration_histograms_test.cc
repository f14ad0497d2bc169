#include "agent/export/duration_histograms.h"

#include <map>

#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

v1::Exchange Exchange(v1::Role role, const std::string& target, uint32_t status, int64_t latency_ms,
                      uint32_t pid = 7) {
  v1::Exchange x;
  x.mutable_process()->set_pid(pid);
  x.mutable_process()->set_comm("app");
  x.mutable_connection()->set_role(role);
  x.mutable_connection()->mutable_remote()->set_address("127.0.0.1");
  x.mutable_connection()->mutable_remote()->set_port(80);
  x.mutable_request()->set_method("GET");
  x.mutable_request()->set_target(target);
  x.mutable_request()->set_version("HTTP/1.1");
  x.mutable_response()->set_status(status);
  x.mutable_latency()->set_seconds(latency_ms / 1000);
  x.mutable_latency()->set_nanos(static_cast<int32_t>(latency_ms % 1000) * 1000000);
  return x;
}

const otel_metrics::Metric* FindMetric(
    const otel_collector_metrics::ExportMetricsServiceRequest& request, const std::string& name) {
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        if (m.name() == name) return &m;
      }
    }
  }
  return nullptr;
}

TEST(DurationHistogramsTest, CountsIntoTheDefaultBucketsCumulatively) {
  DurationHistograms histograms(100, absl::FromUnixSeconds(1000));
  histograms.Record(Exchange(v1::ROLE_SERVER, "/users/1", 200, 3));    // bucket 0 (<= 5 ms)
  histograms.Record(Exchange(v1::ROLE_SERVER, "/users/2", 200, 5));    // bucket 0: bounds inclusive
  histograms.Record(Exchange(v1::ROLE_SERVER, "/users/3", 200, 300));  // bucket 7 (<= 500 ms)
  histograms.Record(Exchange(v1::ROLE_SERVER, "/users/3", 200, 20000));  // the +Inf bucket
  otel_collector_metrics::ExportMetricsServiceRequest request;
  histograms.Fill(absl::FromUnixSeconds(1015), &request);
  const otel_metrics::Metric* metric = FindMetric(request, "http.server.request.duration");
  ASSERT_NE(metric, nullptr);
  EXPECT_EQ(metric->unit(), "s");
  EXPECT_EQ(metric->histogram().aggregation_temporality(),
            otel_metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(metric->histogram().data_points_size(), 1);  // one route: /users/{id}
  const auto& point = metric->histogram().data_points(0);
  EXPECT_EQ(point.count(), 4u);
  EXPECT_DOUBLE_EQ(point.sum(), 0.003 + 0.005 + 0.3 + 20);
  EXPECT_DOUBLE_EQ(point.min(), 0.003);
  EXPECT_DOUBLE_EQ(point.max(), 20);
  ASSERT_EQ(point.explicit_bounds_size(), 14);
  ASSERT_EQ(point.bucket_counts_size(), 15);
  EXPECT_EQ(point.bucket_counts(0), 2u);
  EXPECT_EQ(point.bucket_counts(7), 1u);
  EXPECT_EQ(point.bucket_counts(14), 1u);
  EXPECT_EQ(point.start_time_unix_nano(), 1000'000000000ull);
  std::map<std::string, std::string> attributes;
  for (const auto& kv : point.attributes()) {
    attributes[kv.key()] = kv.value().has_int_value() ? std::to_string(kv.value().int_value())
                                                      : kv.value().string_value();
  }
  EXPECT_EQ(attributes, (std::map<std::string, std::string>{
                            {"http.request.method", "GET"},
                            {"http.route", "/users/{id}"},
                            {"http.response.status_code", "200"},
                            {"network.protocol.version", "1.1"},
                            {"url.scheme", "http"},
                        }));
  EXPECT_EQ(point.time_unix_nano(), 1015'000000000ull);
  EXPECT_EQ(FindMetric(request, "http.client.request.duration"), nullptr);

  // Cumulative: the next export still counts the earlier measurements.
  histograms.Record(Exchange(v1::ROLE_SERVER, "/users/4", 200, 1));
  otel_collector_metrics::ExportMetricsServiceRequest next;
  histograms.Fill(absl::FromUnixSeconds(1030), &next);
  EXPECT_EQ(FindMetric(next, "http.server.request.duration")->histogram().data_points(0).count(),
            5u);
}

TEST(DurationHistogramsTest, SeriesBeyondTheLimitGoToOneCountedOverflowSeries) {
  DurationHistograms histograms(2, absl::FromUnixSeconds(0));
  histograms.Record(Exchange(v1::ROLE_CLIENT, "/a", 200, 1));
  histograms.Record(Exchange(v1::ROLE_CLIENT, "/b", 200, 1));
  histograms.Record(Exchange(v1::ROLE_CLIENT, "/c", 200, 1));
  histograms.Record(Exchange(v1::ROLE_CLIENT, "/d", 500, 1));
  histograms.Record(Exchange(v1::ROLE_CLIENT, "/a", 200, 1));  // an existing series still counts
  EXPECT_EQ(histograms.overflow(), 2u);
  otel_collector_metrics::ExportMetricsServiceRequest request;
  histograms.Fill(absl::FromUnixSeconds(1), &request);
  uint64_t total = 0, overflow = 0;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        EXPECT_EQ(m.name(), "http.client.request.duration");
        for (const auto& p : m.histogram().data_points()) {
          total += p.count();
          for (const auto& kv : p.attributes()) {
            if (kv.key() == "otel.metric.overflow" && kv.value().bool_value())
              overflow += p.count();
          }
        }
      }
    }
  }
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(overflow, 2u);
}

TEST(DurationHistogramsTest, ExchangesWithoutAResponseOrRoleHaveNoDuration) {
  DurationHistograms histograms(10, absl::FromUnixSeconds(0));
  v1::Exchange no_response = Exchange(v1::ROLE_SERVER, "/", 200, 1);
  no_response.clear_response();
  histograms.Record(no_response);
  histograms.Record(Exchange(v1::ROLE_UNSPECIFIED, "/", 200, 1));
  otel_collector_metrics::ExportMetricsServiceRequest request;
  histograms.Fill(absl::FromUnixSeconds(1), &request);
  EXPECT_EQ(request.resource_metrics_size(), 0);
}

}  // namespace
}  // namespace httptrace::otlp
