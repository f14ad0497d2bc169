// What `httptracectl top` shows: exchanges grouped by endpoint (method and route, ids in paths
// collapsed: /users/42 -> /users/{id}), per endpoint the requests, requests per second over the
// last few seconds, the share of 4xx/5xx answers, latency percentiles and body bytes.
//
// Bounded: at most kMaxEndpoints endpoints (the rest are counted in one "(other)" row) and the
// kLatencySamples latest latencies per endpoint for the percentiles. Not thread-safe.

#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::cli {

class EndpointTable {
 public:
  static constexpr size_t kMaxEndpoints = 1000;
  static constexpr size_t kLatencySamples = 4096;
  // Requests per second are counted over this many of the last whole seconds.
  static constexpr int kRateSeconds = 10;

  struct Row {
    std::string method;
    std::string route;
    uint64_t requests = 0;
    uint64_t errors = 0;  // answered 4xx or 5xx
    double rate = 0;      // requests per second, over the last kRateSeconds (or since start)
    int64_t p50_us = -1, p90_us = -1, p99_us = -1;  // -1: no latency known yet
    uint64_t bytes = 0;                             // request and response bodies
  };
  struct Format {
    std::string sort = "rate";
    size_t rows = 0;  // 0: all
  };

  explicit EndpointTable(absl::Time start = absl::Now()) : start_(start) {}

  void Add(const v1::Exchange& exchange, absl::Time now);
  void AddLoss(uint64_t exchanges) { lost_ += exchanges; }

  // Rows sorted by `sort` (one of SortKeys()), largest first ("route" sorts by name).
  std::vector<Row> Rows(absl::Time now, absl::string_view sort) const;
  // A header line and the table.
  std::string Render(absl::Time now, const Format& format) const;

  // "/users/{id}" for "/users/42?x=1" (common/route.h: the exporter's http.route too).
  static std::string Route(absl::string_view target);
  static const std::vector<std::string>& SortKeys();
  static absl::Status CheckSortKey(absl::string_view sort);

 private:
  struct Stats {
    std::string method, route;
    uint64_t requests = 0, errors = 0, bytes = 0;
    std::deque<int64_t> latencies_us;  // the latest kLatencySamples
    // Requests per whole second, for the last kRateSeconds seconds: (second, count).
    std::deque<std::pair<int64_t, uint64_t>> per_second;
  };

  absl::Time start_;
  absl::flat_hash_map<std::string, Stats> endpoints_;
  uint64_t exchanges_ = 0, lost_ = 0;
};

}  // namespace httptrace::cli
