// CPU per exchange of an export session's own work, off the pipeline's path: the reader thread's
// histogram update and the send thread's span building and serialization (what a batch costs
// before gRPC). Not run in CI; compare before and after a change on an idle machine:
//   bazel run -c opt //agent/export:export_benchmark

#include <benchmark/benchmark.h>

#include "agent/export/duration_histograms.h"
#include "agent/export/span_builder.h"

namespace httptrace::otlp {
namespace {

v1::Event Exchange(uint32_t i) {
  v1::Event event;
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_start_time()->set_seconds(1700000000);
  x->mutable_latency()->set_nanos(250000);
  x->set_node("node-1");
  x->mutable_process()->set_pid(1000 + i % 8);
  x->mutable_process()->set_comm("nginx");
  v1::Connection* c = x->mutable_connection();
  c->set_role(v1::ROLE_SERVER);
  c->mutable_local()->set_address("127.0.0.1");
  c->mutable_local()->set_port(8080);
  c->mutable_remote()->set_address("127.0.0.1");
  c->mutable_remote()->set_port(40000 + i % 1000);
  v1::HttpRequest* r = x->mutable_request();
  r->set_method("GET");
  r->set_target("/api/users/" + std::to_string(i % 100) + "?page=2");
  r->set_version("HTTP/1.1");
  for (const auto& [name, value] : {std::pair{"Host", "localhost:8080"},
                                    std::pair{"User-Agent", "wrk"}, std::pair{"Accept", "*/*"}}) {
    v1::Header* h = r->add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  x->mutable_response()->set_status(200);
  x->mutable_response()->mutable_body()->set_size(48);
  return event;
}

void BM_BuildAndSerializeBatch(benchmark::State& state) {
  std::vector<session::EventPtr> batch;
  for (uint32_t i = 0; i < 512; ++i) batch.push_back(session::Serialize(Exchange(i)));
  SpanBuilder builder(SpanOptions{}, 1);
  std::string wire;
  for (auto _ : state) {
    otel_collector_trace::ExportTraceServiceRequest request;
    builder.BuildRequest(batch, &request);
    wire.clear();
    request.SerializeToString(&wire);
    benchmark::DoNotOptimize(wire);
  }
  state.SetItemsProcessed(state.iterations() * batch.size());
}
BENCHMARK(BM_BuildAndSerializeBatch);

void BM_RecordDuration(benchmark::State& state) {
  DurationHistograms histograms(1000, absl::Now());
  std::vector<v1::Event> events;
  for (uint32_t i = 0; i < 1024; ++i) events.push_back(Exchange(i));
  size_t i = 0;
  for (auto _ : state) histograms.Record(events[i++ % events.size()].exchange());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordDuration);

}  // namespace
}  // namespace httptrace::otlp
