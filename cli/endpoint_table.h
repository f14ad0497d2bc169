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

  // Which ends of an exchange were traced: counted once either way.
  enum class Seen : uint8_t { kClient = 1, kServer = 2, kBothEnds = 4 };

  struct Row {
    std::string seen;  // "both ends", "client", "server" or "mixed"
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
    bool color = false;
    absl::Duration slow = absl::Seconds(1);  // p50/p90/p99 at least this: shown red
    std::string footer;                      // a last line (top's keys), when not empty
  };

  // `by_role`: a client's and a server's records of one endpoint are separate rows
  // (--role both-sides), else one row whatever end saw it.
  explicit EndpointTable(absl::Time start = absl::Now(), bool by_role = false)
      : start_(start), by_role_(by_role) {}

  // One exchange, counted once: for one seen from both ends, pass the server's record (its
  // latency is the service's own) and Seen::kBothEnds.
  void Add(const v1::Exchange& exchange, absl::Time now, Seen seen);
  void Add(const v1::Exchange& exchange, absl::Time now) {
    Add(exchange, now,
        exchange.connection().role() == v1::ROLE_CLIENT ? Seen::kClient : Seen::kServer);
  }
  void AddLoss(uint64_t exchanges) { lost_ += exchanges; }

  // Rows sorted by `sort` (one of SortKeys()), largest first ("route" sorts by name).
  std::vector<Row> Rows(absl::Time now, absl::string_view sort) const;
  // A header line and the table.
  std::string Render(absl::Time now, const Format& format) const;
  // One JSON object on one line, for scripts: {"time", "exchanges", "lost", "sort",
  // "endpoints": [{"method", "route", "seen", "requests", "rate", "errors", "p50_us", "p90_us",
  // "p99_us", "bytes"}, ...]} (latencies null while unknown; at most format.rows endpoints).
  std::string RenderJson(absl::Time now, const Format& format) const;

  // "/users/{id}" for "/users/42?x=1" (common/route.h: the exporter's http.route too).
  static std::string Route(absl::string_view target);
  static const std::vector<std::string>& SortKeys();
  static absl::Status CheckSortKey(absl::string_view sort);

 private:
  struct Stats {
    std::string method, route;
    uint8_t seen = 0;  // Seen bits
    uint64_t requests = 0, errors = 0, bytes = 0;
    std::deque<int64_t> latencies_us;  // the latest kLatencySamples
    // Requests per whole second, for the last kRateSeconds seconds: (second, count).
    std::deque<std::pair<int64_t, uint64_t>> per_second;
  };

  absl::Time start_;
  bool by_role_;
  absl::flat_hash_map<std::string, Stats> endpoints_;
  uint64_t exchanges_ = 0, lost_ = 0;
};

}  // namespace httptrace::cli
