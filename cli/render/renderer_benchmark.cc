// Google Benchmark of the ctl's renderers: the CPU one exchange costs to render, per format, for
// the exchange the load benchmarks use (nginx serving 48 bytes of JSON to wrk, both ends traced).
//   bazel run -c opt //cli/render:renderer_benchmark
// The figure that matters is "CPU" per iteration: µs of ctl CPU per exchange, before the write.
// BM_Render is the renderer alone; BM_ParseAndRender adds parsing the event from the bytes the
// agent sent; BM_Parse is the parse alone.

#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "cli/render/example_events.h"
#include "cli/render/renderer.h"

namespace httptrace::render {
namespace {

void AddHeader(google::protobuf::RepeatedPtrField<v1::Header>* headers, const char* name,
               const char* value) {
  v1::Header* h = headers->Add();
  h->set_name(name);
  h->set_value(value);
}

// What nginx answers wrk with, as the agent reports it on the server side.
v1::Event NginxExchange() {
  v1::Event event = UsersExchange();
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_latency()->set_nanos(87000);
  x->mutable_connection()->set_id(77);
  v1::HttpRequest* req = x->mutable_request();
  req->mutable_headers(0)->set_value("127.0.0.1:8080");
  req->set_target("/api/users?page=2&sort=name");
  AddHeader(req->mutable_headers(), "User-Agent", "wrk/4.2.0 (Linux; x86_64)");
  AddHeader(req->mutable_headers(), "Accept", "application/json");
  AddHeader(req->mutable_headers(), "Authorization", "[REDACTED]");
  v1::HttpResponse* resp = x->mutable_response();
  resp->clear_headers();
  AddHeader(resp->mutable_headers(), "Server", "nginx/1.22.1");
  AddHeader(resp->mutable_headers(), "Date", "Fri, 27 Nov 2026 17:31:45 GMT");
  AddHeader(resp->mutable_headers(), "Content-Type", "application/json");
  AddHeader(resp->mutable_headers(), "Content-Length", "48");
  AddHeader(resp->mutable_headers(), "Connection", "keep-alive");
  AddHeader(resp->mutable_headers(), "ETag", "\"6564a1b2-30\"");
  resp->mutable_body()->set_data("{\"users\":[{\"id\":1,\"name\":\"Zoë Müller\"}],\"n\":1}\n");
  resp->mutable_body()->set_size(48);
  resp->mutable_end_time()->set_seconds(1795800705);
  resp->mutable_end_time()->set_nanos(123543789);
  return event;
}

void BM_Render(benchmark::State& state, const char* format) {
  RenderOptions options;
  options.time_zone = absl::LocalTimeZone();
  auto renderer = MakeRenderer(format, options);
  if (!renderer.ok()) {
    state.SkipWithError("no renderer");
    return;
  }
  v1::Event event = NginxExchange();
  size_t bytes = 0;
  uint64_t seq = 1;
  std::string out;  // the output file's batch, reused as the ctl reuses it
  for (auto _ : state) {
    event.set_seq(seq++);
    out.clear();
    (*renderer)->Render(event, "", &out);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

// The ctl's whole CPU per exchange short of gRPC and write(2): parse the event from the bytes the
// agent sent (one element of an EventBatch), render it into the batch.
void BM_ParseAndRender(benchmark::State& state, const char* format) {
  auto renderer = MakeRenderer(format, RenderOptions{});
  const std::string wire = NginxExchange().SerializeAsString();
  v1::Event event;
  std::string out;
  for (auto _ : state) {
    if (!event.ParseFromString(wire)) state.SkipWithError("parse");
    out.clear();
    (*renderer)->Render(event, "", &out);
    benchmark::DoNotOptimize(out.data());
  }
}

BENCHMARK_CAPTURE(BM_Render, jsonl, "jsonl")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ParseAndRender, jsonl, "jsonl")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ParseAndRender, text, "text")->Unit(benchmark::kMicrosecond);

// The parse alone (protobuf's share of the figures above).
void BM_Parse(benchmark::State& state) {
  const std::string wire = NginxExchange().SerializeAsString();
  for (auto _ : state) {
    v1::Event event;
    if (!event.ParseFromString(wire)) state.SkipWithError("parse");
    benchmark::DoNotOptimize(&event);
  }
}
BENCHMARK(BM_Parse)->Unit(benchmark::kMicrosecond);

// The parse into an arena (the ctl parses each batch into one, cli/agent_client.cc), here with
// its first block reused: no malloc or free per string and sub-message. The gap to BM_Parse is
// what the allocator costs; what remains is protobuf's own parsing.
void BM_ParseOnArena(benchmark::State& state) {
  const std::string wire = NginxExchange().SerializeAsString();
  std::vector<char> block(64 * 1024);
  google::protobuf::ArenaOptions options;
  options.initial_block = block.data();
  options.initial_block_size = block.size();
  for (auto _ : state) {
    google::protobuf::Arena arena(options);
    auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(&arena);
    if (!event->ParseFromString(wire)) state.SkipWithError("parse");
    benchmark::DoNotOptimize(event);
  }
}
BENCHMARK(BM_ParseOnArena)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Render, text, "text")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Render, har, "har")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace httptrace::render
