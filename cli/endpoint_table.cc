#include "cli/endpoint_table.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/render/json_string.h"
#include "cli/render/text_renderer.h"
#include "common/route.h"

namespace httptrace::cli {
namespace {

int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return -1;
  // Nearest rank: the smallest value with at least p% of the values at or below it.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string Duration(int64_t us) {
  if (us < 0) return "-";
  if (us < 1000) return absl::StrCat(us, "µs");
  if (us < 1'000'000) return absl::StrFormat("%.1fms", us / 1000.0);
  return absl::StrFormat("%.2fs", us / 1e6);
}

std::string Bytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  if (bytes < (1 << 20)) return absl::StrFormat("%.1fK", bytes / 1024.0);
  if (bytes < (1ull << 30)) return absl::StrFormat("%.1fM", bytes / 1048576.0);
  return absl::StrFormat("%.1fG", bytes / 1073741824.0);
}

}  // namespace

std::string EndpointTable::Route(absl::string_view target) { return RouteOf(target); }

const std::vector<std::string>& EndpointTable::SortKeys() {
  static const auto* keys = new std::vector<std::string>{"rate", "requests", "errors", "p50",
                                                         "p90",  "p99",      "bytes",  "route"};
  return *keys;
}

absl::Status EndpointTable::CheckSortKey(absl::string_view sort) {
  const auto& keys = SortKeys();
  if (std::find(keys.begin(), keys.end(), sort) != keys.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--sort ", sort, ": want one of ", absl::StrJoin(keys, ", ")));
}

void EndpointTable::Add(const v1::Exchange& x, absl::Time now, Seen seen) {
  ++exchanges_;
  // A gRPC call is grouped by its service and method (its :path, never templated), shown as
  // method "gRPC".
  const bool grpc = x.has_grpc() && !x.grpc().service().empty();
  const std::string method = grpc ? "gRPC" : x.has_request() ? x.request().method() : "?";
  std::string route = grpc              ? absl::StrCat(x.grpc().service(), "/", x.grpc().method())
                      : x.has_request() ? Route(x.request().target())
                                        : "(request not captured)";
  std::string key = absl::StrCat(method, " ", route);
  if (by_role_) absl::StrAppend(&key, " ", static_cast<int>(seen));
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) {
    if (endpoints_.size() >= kMaxEndpoints) {
      key = "* (other)";
      it = endpoints_.find(key);
    }
    if (it == endpoints_.end()) {
      it = endpoints_.emplace(key, Stats{}).first;
      it->second.method = key == "* (other)" ? "*" : method;
      it->second.route = key == "* (other)" ? "(other)" : std::move(route);
    }
  }
  Stats& stats = it->second;
  stats.seen |= static_cast<uint8_t>(seen);
  ++stats.requests;
  // gRPC answers errors with HTTP 200 and a non-zero grpc-status.
  if ((x.has_response() && x.response().status() >= 400) ||
      (grpc && x.grpc().has_status_code() && x.grpc().status_code() != 0)) {
    ++stats.errors;
  }
  stats.bytes += x.request().body().size() + x.response().body().size();
  if (x.has_latency()) {
    stats.latencies_us.push_back(x.latency().seconds() * 1'000'000 + x.latency().nanos() / 1000);
    if (stats.latencies_us.size() > kLatencySamples) stats.latencies_us.pop_front();
  }
  const int64_t second = absl::ToUnixSeconds(now);
  if (stats.per_second.empty() || stats.per_second.back().first != second) {
    stats.per_second.emplace_back(second, 0);
  }
  ++stats.per_second.back().second;
  while (stats.per_second.front().first <= second - kRateSeconds) stats.per_second.pop_front();
}

std::vector<EndpointTable::Row> EndpointTable::Rows(absl::Time now, absl::string_view sort) const {
  const int64_t second = absl::ToUnixSeconds(now);
  // The rate's window: the last kRateSeconds, or the time since the start when shorter.
  const double window =
      std::clamp(absl::ToDoubleSeconds(now - start_), 1e-3, static_cast<double>(kRateSeconds));
  std::vector<Row> rows;
  rows.reserve(endpoints_.size());
  std::vector<int64_t> sorted;
  for (const auto& [key, stats] : endpoints_) {
    Row row;
    switch (stats.seen) {
      case static_cast<uint8_t>(Seen::kClient):
        row.seen = "client";
        break;
      case static_cast<uint8_t>(Seen::kServer):
        row.seen = "server";
        break;
      case static_cast<uint8_t>(Seen::kBothEnds):
        row.seen = "both ends";
        break;
      default:
        row.seen = "mixed";
    }
    row.method = stats.method;
    row.route = stats.route;
    row.requests = stats.requests;
    row.errors = stats.errors;
    row.bytes = stats.bytes;
    uint64_t recent = 0;
    for (const auto& [s, count] : stats.per_second) {
      if (s > second - kRateSeconds) recent += count;
    }
    row.rate = static_cast<double>(recent) / window;
    sorted.assign(stats.latencies_us.begin(), stats.latencies_us.end());
    std::sort(sorted.begin(), sorted.end());
    row.p50_us = Percentile(sorted, 50);
    row.p90_us = Percentile(sorted, 90);
    row.p99_us = Percentile(sorted, 99);
    rows.push_back(std::move(row));
  }
  auto by = [&](auto field) {
    std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
      const auto fa = field(a), fb = field(b);
      return fa != fb ? fa > fb
                      : std::tie(a.route, a.method, a.seen) < std::tie(b.route, b.method, b.seen);
    });
  };
  if (sort == "requests") {
    by([](const Row& r) { return static_cast<double>(r.requests); });
  } else if (sort == "errors") {
    by([](const Row& r) { return r.requests == 0 ? 0.0 : double(r.errors) / double(r.requests); });
  } else if (sort == "p50") {
    by([](const Row& r) { return static_cast<double>(r.p50_us); });
  } else if (sort == "p90") {
    by([](const Row& r) { return static_cast<double>(r.p90_us); });
  } else if (sort == "p99") {
    by([](const Row& r) { return static_cast<double>(r.p99_us); });
  } else if (sort == "bytes") {
    by([](const Row& r) { return static_cast<double>(r.bytes); });
  } else if (sort == "route") {
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return std::tie(a.route, a.method) < std::tie(b.route, b.method);
    });
  } else {
    by([](const Row& r) { return r.rate; });
  }
  return rows;
}

std::string EndpointTable::Render(absl::Time now, const Format& format) const {
  const std::vector<Row> rows = Rows(now, format.sort);
  const render::Palette palette = render::Palette::For(format.color);
  std::string out = absl::StrFormat("httptracectl top: %u exchange(s), ", exchanges_);
  // Losses stand out: the table is missing what they counted.
  if (lost_ > 0) out.append(palette.bold_red);
  absl::StrAppendFormat(&out, "%u lost", lost_);
  if (lost_ > 0) out.append(palette.reset);
  absl::StrAppendFormat(&out, ", %u endpoint(s), %.0fs, sorted by %s\n", endpoints_.size(),
                        absl::ToDoubleSeconds(now - start_), format.sort);
  absl::StrAppendFormat(&out, "%-7s %-40s %-9s %8s %8s %6s %9s %9s %9s %8s\n", "METHOD", "ROUTE",
                        "SEEN", "REQS", "REQ/S", "ERR%", "P50", "P90", "P99", "BYTES");
  const int64_t slow_us = absl::ToInt64Microseconds(format.slow);
  auto latency = [&](int64_t us) {
    const std::string cell = absl::StrFormat("%9s", Duration(us));
    if (us < slow_us) return cell;
    return absl::StrCat(palette.bold_red, cell, palette.reset);
  };
  size_t shown = 0;
  for (const Row& row : rows) {
    if (format.rows > 0 && shown == format.rows) {
      absl::StrAppend(&out, "... ", rows.size() - shown, " more endpoint(s)\n");
      break;
    }
    ++shown;
    const double error_percent =
        row.requests == 0 ? 0.0 : 100.0 * static_cast<double>(row.errors) / row.requests;
    // Methods and routes come from the peer: shown escaped, like the text trace.
    std::string method, route;
    render::AppendPrintable(&method, row.method);
    render::AppendPrintable(&route, row.route.size() > 40 ? row.route.substr(0, 40) : row.route);
    std::string errors = absl::StrFormat("%5.1f%%", error_percent);
    if (row.errors > 0) errors = absl::StrCat(palette.yellow, errors, palette.reset);
    absl::StrAppendFormat(&out, "%-7s %-40s %-9s %8u %8.1f %s %s %s %s %8s\n", method, route,
                          row.seen, row.requests, row.rate, errors, latency(row.p50_us),
                          latency(row.p90_us), latency(row.p99_us), Bytes(row.bytes));
  }
  if (!format.footer.empty())
    absl::StrAppend(&out, palette.dim, format.footer, palette.reset, "\n");
  return out;
}
std::string EndpointTable::RenderJson(absl::Time now, const Format& format) const {
  const std::vector<Row> rows = Rows(now, format.sort);
  std::string out = "{\"time\":\"";
  out.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()));
  absl::StrAppend(&out, "\",\"exchanges\":", exchanges_, ",\"lost\":", lost_, ",\"sort\":\"",
                  format.sort, "\",\"endpoints\":[");
  auto micros = [](int64_t us) { return us < 0 ? std::string("null") : absl::StrCat(us); };
  size_t shown = 0;
  for (const Row& row : rows) {
    if (format.rows > 0 && shown == format.rows) break;
    if (shown++ > 0) out.push_back(',');
    out.append("{\"method\":");
    render::AppendJsonString(&out, row.method);
    out.append(",\"route\":");
    render::AppendJsonString(&out, row.route);
    absl::StrAppend(&out, ",\"seen\":\"", row.seen, "\",\"requests\":", row.requests,
                    ",\"rate\":", absl::StrFormat("%.3f", row.rate), ",\"errors\":", row.errors,
                    ",\"p50_us\":", micros(row.p50_us), ",\"p90_us\":", micros(row.p90_us),
                    ",\"p99_us\":", micros(row.p99_us), ",\"bytes\":", row.bytes, "}");
  }
  out.append("]}\n");
  return out;
}

}  // namespace httptrace::cli
