// Google Benchmark of the ctl's renderers: the CPU one exchange costs to render, per format, for
// the exchange the load benchmarks use (nginx serving 48 bytes of JSON to wrk, both ends traced).
//   bazel run -c opt //cli/render:renderer_benchmark
// The figure that matters is "CPU" per iteration: µs of ctl CPU per exchange, before the write.
// BM_Render is the renderer alone; BM_ParseAndRender adds parsing the event from the bytes the
// agent sent; BM_Parse is the parse alone. BM_ReadBatch reads a whole gRPC message of 256 such
// exchanges as the ctl receives it, by the ctl's old path (gRPC parses an EventBatch, a
// std::string per event, then each is parsed again) and its new one (cli/wire's
// EventBatchReader, straight from the slices); its us_per_exchange counter is the figure to
// compare, with and without rendering.

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "benchmark/benchmark.h"
#include "cli/render/example_events.h"
#include "cli/render/renderer.h"
#include "cli/wire/event_batch_reader.h"
#include "google/protobuf/arena.h"

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

// One StreamEventBatches message as the ctl receives it: 256 exchanges (the agent's batches
// under load hold up to a few hundred), in slices of 16 KiB, the HTTP/2 DATA frame size gRPC
// uses by default (each frame's payload arrives as its own slice or slices).
constexpr int kBatchExchanges = 256;

grpc::ByteBuffer ReceivedBatch() {
  std::string wire;
  {
    v1::EventBatch batch;
    v1::Event event = NginxExchange();
    for (int i = 0; i < kBatchExchanges; ++i) {
      event.set_seq(i + 1);
      event.SerializeToString(batch.add_events());
    }
    wire = batch.SerializeAsString();
  }
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < wire.size(); at += 16 << 10) {
    const absl::string_view part = absl::string_view(wire).substr(at, 16 << 10);
    slices.emplace_back(part.data(), part.size());
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

using Events = std::vector<std::shared_ptr<const v1::Event>>;

// The ctl's path before cli/wire (cli/agent_client.cc's EventStream::Next until then): gRPC's
// protobuf deserializer fills a v1::EventBatch, then each event is parsed onto a batch arena.
bool ReadBatchOld(grpc::ByteBuffer* buffer, v1::EventBatch* batch, Events* events) {
  if (!grpc::SerializationTraits<v1::EventBatch>::Deserialize(buffer, batch).ok()) return false;
  size_t bytes = 0;
  for (const std::string& serialized : batch->events()) bytes += serialized.size();
  google::protobuf::ArenaOptions options;
  options.start_block_size = std::clamp<size_t>(bytes, 4096, 256 << 10);
  options.max_block_size = 256 << 10;
  auto arena = std::make_shared<google::protobuf::Arena>(options);
  for (const std::string& serialized : batch->events()) {
    v1::Event* event = google::protobuf::Arena::CreateMessage<v1::Event>(arena.get());
    if (!event->ParseFromString(serialized)) return false;
    events->emplace_back(arena, event);
  }
  return true;
}

// path: "old" or "new"; format: a renderer, or "" to read only.
void BM_ReadBatch(benchmark::State& state, const char* path, const char* format) {
  const bool old_path = absl::string_view(path) == "old";
  std::unique_ptr<Renderer> renderer;
  if (*format != '\0') {
    RenderOptions options;
    options.time_zone = absl::LocalTimeZone();
    auto made = MakeRenderer(format, options);
    if (!made.ok()) {
      state.SkipWithError("no renderer");
      return;
    }
    renderer = std::move(*made);
  }
  const grpc::ByteBuffer received = ReceivedBatch();
  v1::EventBatch batch;  // the old path's, reused as the old EventStream reused it
  cli::wire::EventBatchReader reader;
  Events events;
  std::string out;
  for (auto _ : state) {
    grpc::ByteBuffer buffer(received);  // gRPC hands each message over once: a fresh reference
    events.clear();
    const bool ok =
        old_path ? ReadBatchOld(&buffer, &batch, &events) : reader.Read(buffer, &events).ok();
    if (!ok || events.size() != kBatchExchanges) {
      state.SkipWithError("read");
      return;
    }
    if (renderer != nullptr) {
      out.clear();
      for (const auto& event : events) renderer->Render(*event, "", &out);
      benchmark::DoNotOptimize(out.data());
    }
  }
  // Seconds per (exchanges / 1e6): microseconds of CPU per exchange.
  state.counters["us_per_exchange"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBatchExchanges / 1e6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(BM_ReadBatch, old, "old", "")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ReadBatch, new, "new", "")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ReadBatch, old_jsonl, "old", "jsonl")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ReadBatch, new_jsonl, "new", "jsonl")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ReadBatch, old_text, "old", "text")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ReadBatch, new_text, "new", "text")->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace httptrace::render
