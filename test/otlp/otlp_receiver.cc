// A small OTLP/gRPC receiver for tests: serves OpenTelemetry's TraceService and MetricsService
// (built from the same official protos as the agent's exporter) and records every request it
// receives as one JSON line: {"service": "trace"|"metrics", "headers": {...}, "request": {...}}
// (the request in protobuf's JSON mapping, proto field names, bytes as base64).
//
//   otlp_receiver --listen 127.0.0.1:0 --out received.jsonl --port-file port
//
// --refuse-first N answers the first N Export calls with UNAVAILABLE carrying a RetryInfo of
// --retry-delay-ms (recorded as {"service": ..., "refused": true, "items": n}): how a collector
// asks an exporter to back off. SIGTERM/SIGINT stop it.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "common/termination_signals.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "nlohmann/json.hpp"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "host:port to serve on (port 0: any free port).");
ABSL_FLAG(std::string, out, "-", "File the received requests are appended to, one JSON line each.");
ABSL_FLAG(std::string, port_file, "", "Where to write the port served on, once serving.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls-cert.");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA: require client certificates it signed (mTLS).");
ABSL_FLAG(int32_t, refuse_first, 0, "Answer the first N Export calls with UNAVAILABLE.");
ABSL_FLAG(int32_t, retry_delay_ms, 200, "RetryInfo.retry_delay sent with a refusal.");
ABSL_FLAG(bool, count_only, false,
          "Record nothing, only count; print the totals on stderr at exit (benchmarks: a "
          "collector that costs the machine as little as possible).");

namespace {

namespace collector_trace = opentelemetry::proto::collector::trace::v1;
namespace collector_metrics = opentelemetry::proto::collector::metrics::v1;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "otlp_receiver: cannot read " << path << "\n";
    exit(2);
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Appends records to the output; shared by both services.
class Recorder {
 public:
  explicit Recorder(const std::string& path) {
    if (path != "-") {
      file_ = fopen(path.c_str(), "a");
      if (file_ == nullptr) {
        std::cerr << "otlp_receiver: cannot open " << path << "\n";
        exit(2);
      }
    }
  }

  // Whether this call is refused (the first --refuse-first calls are).
  bool Refuse() { return refused_.fetch_add(1) < absl::GetFlag(FLAGS_refuse_first); }

  void Record(const char* service, const grpc::ServerContext& context,
              const google::protobuf::Message& request, bool refused, size_t items) {
    if (absl::GetFlag(FLAGS_count_only)) {
      if (refused) return;
      if (std::string_view(service) == "trace") {
        spans_ += items;
        ++calls_;
      } else {
        ++metric_calls_;
      }
      return;
    }
    nlohmann::json record = {{"service", service}, {"headers", nlohmann::json::object()}};
    for (const auto& [key, value] : context.client_metadata()) {
      const std::string name(key.data(), key.size());
      if (name.rfind("grpc-", 0) == 0 || name == "user-agent" || name.ends_with("-bin")) continue;
      record["headers"][name] = std::string(value.data(), value.size());
    }
    if (refused) {
      record["refused"] = true;
      record["items"] = items;
    } else {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(request, &json, options);
      record["request"] = nlohmann::json::parse(json);
    }
    const std::string line = record.dump() + "\n";
    absl::MutexLock lock(&mu_);
    FILE* out = file_ != nullptr ? file_ : stdout;
    fwrite(line.data(), 1, line.size(), out);
    fflush(out);
  }

  std::string Totals() const {
    return "otlp_receiver: received " + std::to_string(spans_.load()) + " span(s) in " +
           std::to_string(calls_.load()) + " call(s), " + std::to_string(metric_calls_.load()) +
           " metrics export(s)\n";
  }

  // UNAVAILABLE with a google.rpc.RetryInfo in the status details, as collectors send it.
  static grpc::Status Unavailable() {
    google::rpc::RetryInfo retry;
    const int64_t ms = absl::GetFlag(FLAGS_retry_delay_ms);
    retry.mutable_retry_delay()->set_seconds(ms / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
    google::rpc::Status status;
    status.set_code(grpc::StatusCode::UNAVAILABLE);
    status.set_message("receiver refusing on purpose (--refuse-first)");
    status.add_details()->PackFrom(retry);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, status.message(),
                        status.SerializeAsString());
  }

 private:
  absl::Mutex mu_;
  FILE* file_ = nullptr;
  std::atomic<int32_t> refused_{0};
  std::atomic<uint64_t> spans_{0}, calls_{0}, metric_calls_{0};
};

class TraceService final : public collector_trace::TraceService::Service {
 public:
  explicit TraceService(Recorder* recorder) : recorder_(recorder) {}
  grpc::Status Export(grpc::ServerContext* context,
                      const collector_trace::ExportTraceServiceRequest* request,
                      collector_trace::ExportTraceServiceResponse*) override {
    size_t spans = 0;
    for (const auto& resource : request->resource_spans()) {
      for (const auto& scope : resource.scope_spans()) spans += scope.spans_size();
    }
    const bool refuse = recorder_->Refuse();
    recorder_->Record("trace", *context, *request, refuse, spans);
    return refuse ? Recorder::Unavailable() : grpc::Status::OK;
  }

 private:
  Recorder* recorder_;
};

class MetricsService final : public collector_metrics::MetricsService::Service {
 public:
  explicit MetricsService(Recorder* recorder) : recorder_(recorder) {}
  grpc::Status Export(grpc::ServerContext* context,
                      const collector_metrics::ExportMetricsServiceRequest* request,
                      collector_metrics::ExportMetricsServiceResponse*) override {
    size_t points = 0;
    for (const auto& resource : request->resource_metrics()) {
      for (const auto& scope : resource.scope_metrics()) points += scope.metrics_size();
    }
    const bool refuse = recorder_->Refuse();
    recorder_->Record("metrics", *context, *request, refuse, points);
    return refuse ? Recorder::Unavailable() : grpc::Status::OK;
  }

 private:
  Recorder* recorder_;
};

}  // namespace

int main(int argc, char** argv) {
  const sigset_t signals = httptrace::BlockTerminationSignals();
  httptrace::ParseFlags(argc, argv, "otlp_receiver: records the OTLP/gRPC requests it receives.");
  Recorder recorder(absl::GetFlag(FLAGS_out));
  TraceService traces(&recorder);
  MetricsService metrics(&recorder);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    grpc::SslServerCredentialsOptions options(
        absl::GetFlag(FLAGS_tls_client_ca).empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    if (!absl::GetFlag(FLAGS_tls_client_ca).empty()) {
      options.pem_root_certs = ReadFile(absl::GetFlag(FLAGS_tls_client_ca));
    }
    options.pem_key_cert_pairs.push_back(
        {ReadFile(absl::GetFlag(FLAGS_tls_key)), ReadFile(absl::GetFlag(FLAGS_tls_cert))});
    credentials = grpc::SslServerCredentials(options);
  }
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials, &port);
  builder.RegisterService(&traces);
  builder.RegisterService(&metrics);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "otlp_receiver: cannot serve on " << absl::GetFlag(FLAGS_listen) << "\n";
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    // Written whole under another name, then renamed: a reader never sees half a number.
    const std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << port << "\n";
    rename(tmp.c_str(), absl::GetFlag(FLAGS_port_file).c_str());
  }
  std::cerr << "otlp_receiver: serving on port " << port << "\n";
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  std::cerr << recorder.Totals();
  return 0;
}
