#include "agent/export/export_request.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/export/otlp_exporter.h"
#include "common/percent_decode.h"

namespace httptrace::otlp {
namespace {

absl::Status AddNumbers(const std::vector<std::string>& values, absl::string_view flag,
                        uint32_t max, google::protobuf::RepeatedField<uint32_t>* out) {
  for (const std::string& value : values) {
    uint32_t number = 0;
    if (!absl::SimpleAtoi(value, &number) || number == 0 || number > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " ", value, ": want a number from 1 to ", max));
    }
    out->Add(number);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out.set_seconds(nanos / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  return out;
}

}  // namespace

absl::StatusOr<v1::StartCaptureRequest> ExportRequestFromFlags(const ExportFlags& flags) {
  v1::StartCaptureRequest request;
  v1::Filter* filter = request.mutable_filter();
  if (absl::Status s = AddNumbers(flags.ports, "otlp-port", 65535, filter->mutable_ports());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddNumbers(flags.pids, "otlp-pid", 0x7fffffff, filter->mutable_pids());
      !s.ok()) {
    return s;
  }
  for (const std::string& c : flags.containers) filter->add_containers(c);
  for (const std::string& n : flags.namespaces) filter->add_pod_namespaces(n);
  for (const std::string& p : flags.pods) filter->add_pods(p);
  // Spans and histograms carry body sizes, never body bytes: keep none (the pipeline then copies
  // none for this session). Readers that attach see exchanges without bodies.
  request.mutable_options()->set_body_limit_bytes(0);
  // The exporter reads as fast as exchanges come; what the session keeps after that is only for
  // a person who attaches. A small queue keeps that from holding the memory budget.
  request.mutable_options()->set_queue_capacity(1024);

  v1::ExportOptions* options = request.mutable_export_options();
  options->set_endpoint(flags.endpoint);
  for (absl::string_view item : absl::StrSplit(flags.headers_env, ',', absl::SkipWhitespace())) {
    if (absl::Status s = ParseHeaderInto(PercentDecode(item), options); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("OTEL_EXPORTER_OTLP_HEADERS: ", s.message()));
    }
  }
  for (const std::string& header : flags.headers) {
    if (absl::Status s = ParseHeaderInto(header, options); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--otlp-header: ", s.message()));
    }
  }
  if (!flags.ca_file.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(flags.ca_file, "otlp-ca-file");
    if (!pem.ok()) return pem.status();
    options->set_tls_ca_pem(*pem);
  }
  if (!flags.cert_file.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(flags.cert_file, "otlp-cert-file");
    if (!pem.ok()) return pem.status();
    options->set_tls_cert_pem(*pem);
  }
  if (!flags.key_file.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(flags.key_file, "otlp-key-file");
    if (!pem.ok()) return pem.status();
    options->set_tls_key_pem(*pem);
  }
  *options->mutable_metrics_interval() = ToProto(flags.metrics_interval);
  *options->mutable_batch_delay() = ToProto(flags.batch_delay);
  *options->mutable_max_retry_time() = ToProto(flags.max_retry_time);
  options->set_max_queue_spans(flags.max_queue_spans);
  options->set_max_batch_spans(flags.max_batch_spans);
  options->set_max_metric_series(flags.max_metric_series);
  // The same checks the agent makes when the session starts, said in terms of flags now.
  if (absl::StatusOr<ExporterConfig> config = ParseExportOptions(*options); !config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--otlp-*: ", config.status().message()));
  }
  return request;
}

}  // namespace httptrace::otlp
