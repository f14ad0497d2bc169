// Exchanges as OpenTelemetry spans and resources (OTLP), following the stable HTTP semantic
// conventions: one span per exchange, kind SERVER or CLIENT from the role, start = the request's
// first byte, end = the response's last byte. A request that carries a W3C `traceparent` joins
// that trace (its trace id, the header's parent-id as parent); no header is ever injected.
//
//   SpanBuilder builder(SpanOptions{.redact_query = true});
//   builder.Fill(exchange, request.add_resource_spans()...);   // see BuildTraceRequest
//
// service.name rule (ServiceName): the name the process gave itself for OpenTelemetry
// (OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES: process_service_names.h),
// else its container's name (for a Kubernetes pod: its container's name as the runtime reports
// it), else the process's executable name (kernel comm). Pod labels are not read.
//
// gRPC exchanges (Exchange.grpc, from the HTTP/2 engine) also follow the RPC semantic
// conventions: rpc.system "grpc", rpc.service, rpc.method, rpc.grpc.status_code, span name
// "{service}/{method}", and the error status from grpc-status (server: UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS; client: any but OK).

#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/export/process_service_names.h"
#include "agent/session/event.h"
#include "agent/session/redaction.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "proto/httptrace.pb.h"

namespace httptrace::otlp {

namespace otel_common = opentelemetry::proto::common::v1;
namespace otel_resource = opentelemetry::proto::resource::v1;
namespace otel_trace = opentelemetry::proto::trace::v1;
namespace otel_collector_trace = opentelemetry::proto::collector::trace::v1;

// The instrumentation scope of everything httptrace exports.
inline constexpr absl::string_view kScopeName = "httptrace";

// A W3C traceparent header's ids (raw bytes: 16 and 8).
struct TraceParent {
  std::string trace_id;
  std::string parent_span_id;
};
// Version 00 as the W3C spec writes it, and later versions' first four fields; nullopt for
// anything malformed, all-zero ids, or version ff.
std::optional<TraceParent> ParseTraceParent(absl::string_view value);

struct SpanOptions {
  // Values of secret query parameters (agent/session/redaction.h's list, which holds the
  // semantic conventions' AWSAccessKeyId, Signature, sig and X-Goog-Signature, plus the
  // session's redact_params) become "REDACTED", the conventions' marker, in url.query/url.full.
  // The session has already replaced them by "[REDACTED]" before the exporter reads it; this
  // keeps the attributes as the conventions want them. Off when the session keeps secrets
  // (no_redact).
  bool redact_query = true;
  std::vector<std::string> redact_params;
  // Where processes' own service names come from (not owned; null: not asked).
  ProcessServiceNames* service_names = nullptr;
};

// The resource's service.name (see the rule above); `names` null: the process is not asked.
std::string ServiceName(const v1::Exchange& exchange, ProcessServiceNames* names = nullptr);
// Identifies the resource an exchange belongs to (process and container).
std::string ResourceKey(const v1::Exchange& exchange);
// service.name, host.name, process.*, container.*, k8s.* of the exchange.
void FillResource(const v1::Exchange& exchange, otel_resource::Resource* resource,
                  ProcessServiceNames* names = nullptr);

// "GET" for the methods the conventions know, else "_OTHER" (the original goes to
// http.request.method_original).
absl::string_view NormalizedMethod(absl::string_view method);
// url.query with the values of `secret_params` replaced by "REDACTED" (null: as sent).
std::string QueryOf(absl::string_view target, const session::SecretNames* secret_params);

class SpanBuilder {
 public:
  explicit SpanBuilder(SpanOptions options, uint64_t seed = std::random_device{}());

  // One span for `exchange`.
  void Fill(const v1::Exchange& exchange, otel_trace::Span* span);

  // A TraceService request with one span per exchange event in `events` (other events are
  // skipped), grouped by resource.
  void BuildRequest(const std::vector<session::EventPtr>& events,
                    otel_collector_trace::ExportTraceServiceRequest* request);

 private:
  std::string RandomId(size_t bytes);

  const SpanOptions options_;
  const session::SecretNames secret_params_;
  std::mt19937_64 random_;
};

// Helpers shared with the metrics (duration_histograms.cc).
void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, absl::string_view value);
void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, int64_t value);
void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, bool value);
// A string literal would otherwise convert to bool before string_view.
inline void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                         absl::string_view key, const char* value) {
  AddAttribute(attributes, key, absl::string_view(value));
}
// "1.1" for "HTTP/1.1".
std::string ProtocolVersion(absl::string_view http_version);
uint64_t UnixNanos(const google::protobuf::Timestamp& t);
// Whether the exchange counts as failed for its role (server: 5xx; client: 4xx and 5xx; no
// response: failed; gRPC: by grpc-status, see above), and the error.type to report then.
std::optional<std::string> ErrorType(const v1::Exchange& exchange);

}  // namespace httptrace::otlp
