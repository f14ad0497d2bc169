// What streaming a session costs per event, from publish to a client that parsed it: the real
// session manager and service on a real gRPC channel over a unix socket, in one process. The
// publisher builds nginx-like exchanges (6 request and response headers, a 48-byte JSON body)
// and publishes them as the pipeline does; a client thread reads the whole session.
//
//   bazel run -c opt //agent/service:stream_benchmark -- --events=200000 --mode=batches
//   bazel run -c opt //agent/service:stream_benchmark -- --mode=events   # one message per event
//
// Prints CPU µs per event of the publisher, the agent's gRPC side (everything but publisher and
// client) and the client, measured with per-thread CPU clocks in one run.

#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "agent/service/api_server.h"
#include "agent/service/http_trace_service.h"
#include "common/testing/cpu_clock.h"

ABSL_FLAG(int, events, 200000, "exchanges to publish and stream");
ABSL_FLAG(std::string, mode, "batches", "batches (StreamEventBatches) or events (StreamEvents)");

namespace httptrace::service {
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

void AddHeader(google::protobuf::RepeatedPtrField<v1::Header>* headers, const char* name,
               const char* value) {
  v1::Header* header = headers->Add();
  header->set_name(name);
  header->set_value(value);
}

v1::Exchange NginxLikeExchange(int i) {
  v1::Exchange x;
  x.mutable_start_time()->set_seconds(1'800'000'000 + i / 1000);
  x.mutable_latency()->set_nanos(120'000);
  x.mutable_process()->set_pid(4213);
  x.mutable_process()->set_tid(4213);
  x.mutable_process()->set_comm("nginx");
  x.mutable_connection()->mutable_local()->set_address("127.0.0.1");
  x.mutable_connection()->mutable_local()->set_port(8080);
  x.mutable_connection()->mutable_remote()->set_address("127.0.0.1");
  x.mutable_connection()->mutable_remote()->set_port(40000 + i % 20);
  x.mutable_connection()->set_role(v1::ROLE_SERVER);
  x.mutable_connection()->set_id(i % 20);
  v1::HttpRequest* rq = x.mutable_request();
  rq->set_method("GET");
  rq->set_target("/json");
  rq->set_version("HTTP/1.1");
  AddHeader(rq->mutable_headers(), "Host", "127.0.0.1:8080");
  AddHeader(rq->mutable_headers(), "User-Agent", "wrk/4.2.0");
  AddHeader(rq->mutable_headers(), "Accept", "*/*");
  v1::HttpResponse* rs = x.mutable_response();
  rs->set_version("HTTP/1.1");
  rs->set_status(200);
  rs->set_reason("OK");
  AddHeader(rs->mutable_headers(), "Server", "nginx/1.22.1");
  AddHeader(rs->mutable_headers(), "Date", "Wed, 02 Dec 2026 01:20:00 GMT");
  AddHeader(rs->mutable_headers(), "Content-Type", "application/json");
  AddHeader(rs->mutable_headers(), "Content-Length", "48");
  AddHeader(rs->mutable_headers(), "Connection", "keep-alive");
  rs->mutable_body()->set_data(R"({"id":1,"name":"Alice","email":"alice@x.example"})");
  rs->mutable_body()->set_size(48);
  rs->mutable_body()->set_encoded_size(48);
  x.set_complete(true);
  x.set_node("node-a");
  return x;
}

int Run() {
  const int events = absl::GetFlag(FLAGS_events);
  const bool batches = absl::GetFlag(FLAGS_mode) == "batches";
  char dir_template[] = "/tmp/ht-stream-bench.XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string address = "unix://" + dir + "/agent.sock";

  NoProbes control;
  session::SessionManagerOptions options;
  options.defaults.max_queue_capacity = 1 << 20;
  // The publisher outruns the client (no back-pressure here): with the default budget the
  // session refused events (LIMIT losses) and the per-event figures mixed delivered and refused
  // ones. Unlimited, every event is delivered and the figures are per delivered event.
  options.memory_budget_bytes = 0;
  session::SessionManager manager(options, &control);
  HttpTraceService service({"bench", "node-a"}, &manager, nullptr);
  auto server = ApiServer::Start({address}, TlsFiles(), &service);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  v1::StartCaptureRequest start;
  start.mutable_options()->set_queue_capacity(1 << 20);
  const std::string id = manager.Start(start)->id();

  auto stub =
      v1::HttpTrace::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  double client_cpu = 0;
  uint64_t received = 0, messages = 0;
  std::thread client([&] {
    pthread_setname_np(pthread_self(), "bench-client");
    const double cpu0 = ThreadCpuSeconds();
    grpc::ClientContext context;
    v1::StreamEventsRequest request;
    request.set_session_id(id);
    if (batches) {
      auto reader = stub->StreamEventBatches(&context, request);
      v1::EventBatch batch;
      v1::Event event;
      while (reader->Read(&batch)) {
        ++messages;
        for (const std::string& bytes : batch.events()) {
          if (event.ParseFromString(bytes)) ++received;
        }
      }
      reader->Finish();
    } else {
      auto reader = stub->StreamEvents(&context, request);
      v1::Event event;
      while (reader->Read(&event)) {
        ++messages;
        ++received;
      }
      reader->Finish();
    }
    client_cpu = ThreadCpuSeconds() - cpu0;
  });

  const double process0 = ProcessCpuSeconds();
  const double publish0 = ThreadCpuSeconds();
  const v1::Exchange templ = NginxLikeExchange(0);
  for (int i = 0; i < events; ++i) {
    v1::Exchange x = templ;  // built anew each time, as the pipeline builds each exchange
    x.mutable_connection()->mutable_remote()->set_port(40000 + i % 20);
    manager.PublishExchange(std::move(x));
  }
  const double publish_cpu = ThreadCpuSeconds() - publish0;
  manager.Stop(id);
  client.join();
  const double total = ProcessCpuSeconds() - process0;
  const double agent_grpc = total - publish_cpu - client_cpu;
  std::printf(
      "mode=%s events=%d received=%llu messages=%llu\n"
      "cpu us/event: publish %.2f  agent-grpc %.2f  client %.2f  total %.2f\n",
      batches ? "batches" : "events", events, static_cast<unsigned long long>(received),
      static_cast<unsigned long long>(messages), publish_cpu / events * 1e6,
      agent_grpc / events * 1e6, client_cpu / events * 1e6, total / events * 1e6);
  server->reset();
  std::filesystem::remove_all(dir);
  return received == static_cast<uint64_t>(events) + 1 ? 0 : 2;
}

}  // namespace
}  // namespace httptrace::service

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return httptrace::service::Run();
}
