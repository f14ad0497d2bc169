// Throughput of the HTTP/2 engine on one core, on conversations between two real libnghttp2
// peers recorded once in memory: many small requests on one connection (HPACK's dynamic table
// in use, the common case), unary gRPC calls, and a large response body. Each iteration feeds
// the whole conversation to a fresh connection; items are exchanges.
// Run: bazel run -c opt //agent/protocols/http2:http2_connection_benchmark

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/protocols/http2/http2_connection.h"
#include "agent/protocols/http2/nghttp2_peers_testing.h"

namespace httptrace::protocols::http2 {
namespace {

using testing::Chunk;
using testing::Fields;
using testing::GrpcFrame;
using testing::Nghttp2Peers;

std::vector<Chunk> SmallRequests(int n, int concurrent) {
  Nghttp2Peers peers;
  for (int done = 0; done < n; done += concurrent) {
    std::vector<int32_t> ids;
    for (int i = 0; i < concurrent; ++i) {
      ids.push_back(peers.Request({{":method", "GET"},
                                   {":scheme", "http"},
                                   {":path", absl::StrCat("/api/v1/items?id=", done + i)},
                                   {":authority", "service.internal:8080"},
                                   {"user-agent", "h2load nghttp2/1.52.0"},
                                   {"accept", "application/json"}}));
    }
    peers.Pump();
    for (int32_t id : ids) {
      peers.Respond(id,
                    {{":status", "200"},
                     {"server", "nghttpd nghttp2/1.52.0"},
                     {"content-type", "application/json"}},
                    "{\"id\":42,\"name\":\"widget\",\"price\":9.99,\"ok\":true}");
    }
    peers.Pump();
  }
  return peers.chunks();
}

std::vector<Chunk> GrpcUnaryCalls(int n) {
  Nghttp2Peers peers;
  for (int i = 0; i < n; ++i) {
    const int32_t id = peers.Request({{":method", "POST"},
                                      {":scheme", "http"},
                                      {":path", "/helloworld.Greeter/SayHello"},
                                      {":authority", "localhost:50051"},
                                      {"content-type", "application/grpc"},
                                      {"te", "trailers"}},
                                     GrpcFrame(absl::StrCat("\x0a\x05world", i)));
    peers.Pump();
    peers.Respond(id, {{":status", "200"}, {"content-type", "application/grpc"}},
                  GrpcFrame("\x0a\x0bhello world"), {{"grpc-status", "0"}});
    peers.Pump();
  }
  return peers.chunks();
}

std::vector<Chunk> LargeBody(size_t bytes) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/big"}, {":authority", "x"}});
  peers.Pump();
  peers.Respond(id, {{":status", "200"}}, std::string(bytes, 'b'));
  peers.Pump();
  return peers.chunks();
}

void Feed(benchmark::State& state, const std::vector<Chunk>& chunks, uint64_t expected) {
  uint64_t bytes = 0;
  for (const Chunk& c : chunks) bytes += c.bytes.size();
  for (auto _ : state) {
    uint64_t exchanges = 0;
    Http2Connection conn(EngineOptions{}, RoleHint::kClient, [&](Exchange&& e) {
      ++exchanges;
      benchmark::DoNotOptimize(e);
    });
    uint64_t position[2] = {0, 0};
    uint64_t ts = 0;
    for (const Chunk& c : chunks) {
      const int d = static_cast<int>(c.direction);
      conn.OnData(c.direction, position[d], c.bytes, c.bytes.size(), ++ts, false);
      position[d] += c.bytes.size();
    }
    conn.OnClose(++ts);
    if (exchanges != expected) state.SkipWithError("exchanges lost");
  }
  state.SetItemsProcessed(state.iterations() * expected);
  state.SetBytesProcessed(state.iterations() * bytes);
}

void BM_SmallRequestsOneAtATime(benchmark::State& state) {
  static const std::vector<Chunk> chunks = SmallRequests(1000, 1);
  Feed(state, chunks, 1000);
}
BENCHMARK(BM_SmallRequestsOneAtATime);

void BM_SmallRequestsTenConcurrent(benchmark::State& state) {
  static const std::vector<Chunk> chunks = SmallRequests(1000, 10);
  Feed(state, chunks, 1000);
}
BENCHMARK(BM_SmallRequestsTenConcurrent);

void BM_GrpcUnaryCalls(benchmark::State& state) {
  static const std::vector<Chunk> chunks = GrpcUnaryCalls(1000);
  Feed(state, chunks, 1000);
}
BENCHMARK(BM_GrpcUnaryCalls);

void BM_LargeBody4MiB(benchmark::State& state) {
  static const std::vector<Chunk> chunks = LargeBody(4 << 20);
  Feed(state, chunks, 1);
}
BENCHMARK(BM_LargeBody4MiB);

}  // namespace
}  // namespace httptrace::protocols::http2
