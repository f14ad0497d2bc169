// Throughput of the HTTP engine on one core: small keep-alive exchanges (the common case), large
// bodies captured whole or only as a prefix per syscall (what the probes copy), chunked bodies
// and gzip decoding. Run: bazel run -c opt //agent/protocols/http1:http1_connection_benchmark

#include <benchmark/benchmark.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/protocols/http1/http1_connection.h"
#include "agent/protocols/http1/http1_test_util.h"

namespace httptrace::protocols::http1 {
namespace {

const std::string kRequest =
    "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: service.internal:8080\r\n"
    "User-Agent: wrk/4.2\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 28 Nov 2026 00:00:00 GMT\r\n"
    "Content-Type: application/json\r\nContent-Length: 48\r\nConnection: keep-alive\r\n\r\n"
    "{\"id\":42,\"name\":\"widget\",\"price\":9.99,\"ok\":true}";

// One connection, many keep-alive exchanges: one request chunk, one response chunk each.
void BM_SmallKeepAliveExchanges(benchmark::State& state) {
  uint64_t exchanges = 0;
  Http1Connection conn(EngineOptions{}, RoleHint::kClient, [&](Exchange&& e) {
    ++exchanges;
    benchmark::DoNotOptimize(e);
  });
  uint64_t out = 0, in = 0, ts = 0;
  for (auto _ : state) {
    conn.OnData(Direction::kEgress, out, kRequest, kRequest.size(), ++ts);
    out += kRequest.size();
    conn.OnData(Direction::kIngress, in, kResponse, kResponse.size(), ++ts);
    in += kResponse.size();
  }
  if (exchanges + 1 < static_cast<uint64_t>(state.iterations())) state.SkipWithError("lost");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * (kRequest.size() + kResponse.size()));
}
BENCHMARK(BM_SmallKeepAliveExchanges);

// Including the per-connection cost: a fresh connection per exchange, closed after it.
void BM_SmallExchangePerConnection(benchmark::State& state) {
  for (auto _ : state) {
    Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                         [](Exchange&& e) { benchmark::DoNotOptimize(e); });
    conn.OnData(Direction::kEgress, 0, kRequest, kRequest.size(), 1);
    conn.OnData(Direction::kIngress, 0, kResponse, kResponse.size(), 2);
    conn.OnClose(3);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * (kRequest.size() + kResponse.size()));
}
BENCHMARK(BM_SmallExchangePerConnection);

// A large response body in 64 KiB syscalls. Arg 0: bytes captured per syscall (0 = all of it;
// else the probes copied only that prefix, and the engine keeps framing across the rest).
// Arg 1: body bytes kept (the default 64 KiB, or all 4 MiB to measure copying).
void BM_LargeBody(benchmark::State& state) {
  const size_t body_size = 4 << 20;
  const size_t write_size = 64 << 10;
  const size_t captured_per_write = state.range(0);
  EngineOptions options;
  options.max_body_bytes = state.range(1);
  const std::string header = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Length: ", body_size,
                                          "\r\nContent-Type: application/octet-stream\r\n\r\n");
  const std::string block(write_size, 'x');
  const std::string request = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n";
  uint64_t exchanges = 0;
  Http1Connection conn(options, RoleHint::kClient, [&](Exchange&& e) {
    ++exchanges;
    benchmark::DoNotOptimize(e);
  });
  uint64_t out = 0, in = 0, ts = 0;
  for (auto _ : state) {
    conn.OnData(Direction::kEgress, out, request, request.size(), ++ts);
    out += request.size();
    conn.OnData(Direction::kIngress, in, header, header.size(), ++ts);
    in += header.size();
    for (size_t sent = 0; sent < body_size; sent += write_size) {
      absl::string_view captured(block);
      if (captured_per_write > 0) captured = captured.substr(0, captured_per_write);
      conn.OnData(Direction::kIngress, in, captured, write_size, ++ts);
      in += write_size;
    }
  }
  if (exchanges + 1 < static_cast<uint64_t>(state.iterations())) state.SkipWithError("lost");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * (request.size() + header.size() + body_size));
}
BENCHMARK(BM_LargeBody)
    ->Args({0, 64 << 10})
    ->Args({512, 64 << 10})
    ->Args({0, 4 << 20})
    ->ArgNames({"captured", "kept"});

// Chunked response: 64 chunks of 1 KiB in one syscall each.
void BM_ChunkedBody(benchmark::State& state) {
  std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string request = "GET /stream HTTP/1.1\r\nHost: h\r\n\r\n";
  std::vector<std::string> writes = {response};
  for (int i = 0; i < 64; ++i) writes.push_back("400\r\n" + std::string(1024, 'c') + "\r\n");
  writes.push_back("0\r\n\r\n");
  size_t total = request.size();
  for (const auto& w : writes) total += w.size();
  Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                       [](Exchange&& e) { benchmark::DoNotOptimize(e); });
  uint64_t out = 0, in = 0, ts = 0;
  for (auto _ : state) {
    conn.OnData(Direction::kEgress, out, request, request.size(), ++ts);
    out += request.size();
    for (const auto& w : writes) {
      conn.OnData(Direction::kIngress, in, w, w.size(), ++ts);
      in += w.size();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * total);
}
BENCHMARK(BM_ChunkedBody);

// A gzip JSON body of ~8 KiB decoded for display.
void BM_GzipBody(benchmark::State& state) {
  std::string json;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&json, "{\"id\":", i, ",\"name\":\"item\"},");
  const std::string gz = testing::Compress(json, true);
  const std::string response = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n",
                                            "Content-Length: ", gz.size(), "\r\n\r\n", gz);
  Http1Connection conn(EngineOptions{}, RoleHint::kClient,
                       [](Exchange&& e) { benchmark::DoNotOptimize(e); });
  uint64_t out = 0, in = 0, ts = 0;
  for (auto _ : state) {
    conn.OnData(Direction::kEgress, out, kRequest, kRequest.size(), ++ts);
    out += kRequest.size();
    conn.OnData(Direction::kIngress, in, response, response.size(), ++ts);
    in += response.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * (kRequest.size() + response.size()));
}
BENCHMARK(BM_GzipBody);

}  // namespace
}  // namespace httptrace::protocols::http1
