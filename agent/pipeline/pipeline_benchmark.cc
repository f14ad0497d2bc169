// What the pipeline costs per exchange, from the poll thread's hand-off to an event in a
// session: the real queue, worker, connection table, HTTP engine, exchange conversion and
// session manager, fed with the data events the probes make of nginx serving a 48-byte JSON
// body over keep-alive connections (one request and one response event per exchange). A reader
// thread drains the session as a streaming client would.
//
//   bazel run //agent/pipeline:pipeline_benchmark -- --exchanges=200000 --connections=20
//
// Prints CPU µs per exchange of the feeding thread (what the poll thread pays), the worker (the
// rest of the process but the reader) and the reader, from per-thread and process CPU clocks
// in one run; and the agent's memory budget peak.

#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "agent/pipeline/pipeline.h"
#include "common/allocator.h"
#include "common/testing/cpu_clock.h"

ABSL_FLAG(int, exchanges, 200000, "exchanges to feed");
ABSL_FLAG(int, connections, 20, "keep-alive connections they are spread over");
ABSL_FLAG(int, body_bytes, 48, "response body size (the bench's workloads: 48 and 65536)");

namespace httptrace::pipeline {
namespace {

class NoProbes : public session::CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>&, uint32_t) override {
    return absl::OkStatus();
  }
  void Flush() override {}
};

using test_support::ProcessCpuSeconds;
using test_support::ThreadCpuSeconds;

int Run() {
  const int exchanges = absl::GetFlag(FLAGS_exchanges);
  const int connections = absl::GetFlag(FLAGS_connections);
  session::MemoryBudget budget(64 << 20);
  NoProbes control;
  session::SessionManager sessions({.memory_budget = &budget}, &control);
  PipelineOptions options;
  options.memory_budget = &budget;
  options.resolve_containers = false;
  options.node_name = "bench";
  auto pipeline = Pipeline::CreateForTest(options);
  pipeline->SetSessions(&sessions);
  v1::StartCaptureRequest start;
  // The default session queue (4096 events), as httptracectl start has it.
  auto session = sessions.Start(start);
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().ToString().c_str());
    return 1;
  }
  const std::string id = session->id();

  const std::string request =
      "GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
      "Connection: keep-alive\r\n\r\n";
  std::string body = "{\"users\":[{\"id\":1,\"name\":\"ada\"}],\"total\":1,\"ok\":1}";
  body.resize(absl::GetFlag(FLAGS_body_bytes), ' ');
  const std::string response = absl::StrCat(
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 06:00:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: ",
      body.size(), "\r\nConnection: keep-alive\r\nETag: \"6569a1b0-30\"\r\n\r\n", body);

  std::atomic<bool> done{false};
  std::atomic<uint64_t> read{0};
  double reader_cpu = 0;
  std::thread reader([&] {
    uint64_t next = 0;
    std::shared_ptr<session::Session> s = *sessions.Find(id);
    while (true) {
      // As the gRPC handler reads: a batch of up to 256, lingering 2 ms for it to fill.
      auto batch = s->Read(&next, 256, absl::Milliseconds(2), 256);
      read.fetch_add(batch.events.size());
      if (batch.events.empty() && done.load()) break;
    }
    reader_cpu = ThreadCpuSeconds();
  });

  capture::CaptureSink& sink = pipeline->sink();
  for (int c = 0; c < connections; ++c) {
    capture::ConnectionOpenEvent open;
    open.conn = {static_cast<uint64_t>(c + 1)};
    open.role = capture::Role::kServer;
    open.local.family = AF_INET;
    open.local.port = 8080;
    open.remote.family = AF_INET;
    open.remote.port = static_cast<uint16_t>(40000 + c);
    open.pid = 100;
    open.tid = 100;
    open.comm = "nginx";
    sink.OnOpen(open);
  }
  const double feed_cpu0 = ThreadCpuSeconds();
  const double process_cpu0 = ProcessCpuSeconds();
  uint64_t ts = 1'000'000'000;
  for (int i = 0; i < exchanges; ++i) {
    const uint64_t round = static_cast<uint64_t>(i / connections);
    capture::DataEvent in;
    in.conn = {static_cast<uint64_t>(i % connections + 1)};
    in.direction = capture::Direction::kIngress;
    in.position = round * request.size();
    in.data = request;
    in.length = request.size();
    in.timestamp_ns = ts += 20'000;
    in.pid = in.tid = 100;
    in.comm = "nginx";
    sink.OnData(in);
    // The response as the probes cut it: events of at most 16 KiB.
    constexpr size_t kChunk = 16384;
    for (size_t at = 0; at < response.size(); at += kChunk) {
      capture::DataEvent out = in;
      out.direction = capture::Direction::kEgress;
      out.position = round * response.size() + at;
      out.data = absl::string_view(response).substr(at, kChunk);
      out.length = out.data.size();
      out.timestamp_ns = ts += 30'000;
      sink.OnData(out);
    }
    // The poll thread ends a batch per poll: every 64 exchanges here (128 events). Then and
    // again the feeder waits for the worker, as the kernel's pace would make it: a feeder
    // faster than the worker only fills the queue until it drops (counted).
    if (i % 64 == 63) sink.OnPollDone();
    if ((i + 1) % std::max<int>(1, (8 << 20) / response.size()) == 0) pipeline->SyncForTest();
  }
  sink.OnPollDone();
  const double feed_cpu = ThreadCpuSeconds() - feed_cpu0;
  pipeline->SyncForTest();
  done.store(true);
  reader.join();
  const double process_cpu = ProcessCpuSeconds() - process_cpu0;
  const double worker_cpu = process_cpu - feed_cpu - reader_cpu;
  const double per = 1e6 / exchanges;
  v1::GetStatusResponse status;
  pipeline->FillStatus(&status);
  const uint64_t dropped = status.counters().at("queue.dropped_events");
  if (getenv("BENCH_COUNTERS") != nullptr) {
    for (const auto& [name, value] : status.counters()) {
      if (value != 0) std::printf("  %s %llu\n", name.c_str(), (unsigned long long)value);
    }
    std::printf("%s\n", sessions.Find(id).value()->Info().DebugString().c_str());
  }
  std::printf(
      "exchanges %d (read %llu) over %d connections\n"
      "CPU us/exchange: feed (poll thread) %.3f  worker %.3f  reader %.3f  total %.3f\n"
      "memory budget peak %.1f MiB, refused %llu bytes; queue dropped %llu events\n",
      exchanges, static_cast<unsigned long long>(read.load()), connections, feed_cpu * per,
      worker_cpu * per, reader_cpu * per, process_cpu * per, budget.peak() / 1048576.0,
      static_cast<unsigned long long>(budget.refused_bytes()),
      static_cast<unsigned long long>(dropped));
  return read.load() == static_cast<uint64_t>(exchanges) ? 0 : 1;
}

}  // namespace
}  // namespace httptrace::pipeline

int main(int argc, char** argv) {
  httptrace::TuneAllocator();  // as the agent does
  absl::ParseCommandLine(argc, argv);
  return httptrace::pipeline::Run();
}
