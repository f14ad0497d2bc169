#include "agent/export/span_builder.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/route.h"
#include "common/version.h"

namespace httptrace::otlp {
namespace {

constexpr std::array<absl::string_view, 9> kKnownMethods = {
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"};

// The OpenTelemetry semantic conventions' marker for a redacted url.query value.
constexpr absl::string_view kOtelRedacted = "REDACTED";

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); });
}

const v1::Header* FindHeader(const google::protobuf::RepeatedPtrField<v1::Header>& headers,
                             absl::string_view name) {
  for (const v1::Header& header : headers) {
    if (absl::EqualsIgnoreCase(header.name(), name)) return &header;
  }
  return nullptr;
}

// "host" and "port" of a Host header ("example.com:8080", "[::1]:80", "example.com").
std::pair<std::string, std::optional<uint32_t>> SplitHost(absl::string_view host) {
  host = absl::StripAsciiWhitespace(host);
  size_t colon = absl::string_view::npos;
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    if (close != absl::string_view::npos && close + 1 < host.size() && host[close + 1] == ':') {
      colon = close + 1;
    }
    if (close != absl::string_view::npos) {
      uint32_t port = 0;
      if (colon != absl::string_view::npos && absl::SimpleAtoi(host.substr(colon + 1), &port)) {
        return {std::string(host.substr(1, close - 1)), port};
      }
      return {std::string(host.substr(1, close - 1)), std::nullopt};
    }
  } else {
    colon = host.rfind(':');
  }
  uint32_t port = 0;
  if (colon != absl::string_view::npos && absl::SimpleAtoi(host.substr(colon + 1), &port) &&
      port <= 65535) {
    return {std::string(host.substr(0, colon)), port};
  }
  return {std::string(host), std::nullopt};
}

std::string HostForUrl(absl::string_view address) {
  return absl::StrContains(address, ':') ? absl::StrCat("[", address, "]") : std::string(address);
}

absl::string_view PathOf(absl::string_view target) {
  return target.substr(0, target.find_first_of("?#"));
}

void SetStatus(const v1::Exchange& exchange, otel_trace::Span* span) {
  if (!ErrorType(exchange).has_value()) return;
  span->mutable_status()->set_code(otel_trace::Status::STATUS_CODE_ERROR);
  if (exchange.has_grpc() && !exchange.grpc().status_message().empty()) {
    span->mutable_status()->set_message(exchange.grpc().status_message());
    return;
  }
  // The semantic conventions leave the description empty for HTTP status codes; an exchange
  // without a response says why in its notes.
  if (!exchange.has_response() && exchange.notes_size() > 0) {
    span->mutable_status()->set_message(exchange.notes(0));
  }
}

}  // namespace

void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, absl::string_view value) {
  otel_common::KeyValue* kv = attributes->Add();
  kv->set_key(std::string(key));
  // A peer's bytes need not be UTF-8; OTLP strings must be.
  std::string text(value);
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    std::string valid;
    valid.reserve(text.size());
    for (unsigned char c : text) valid.push_back(c < 0x80 ? static_cast<char>(c) : '?');
    text = std::move(valid);
  }
  kv->mutable_value()->set_string_value(std::move(text));
}

void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, int64_t value) {
  otel_common::KeyValue* kv = attributes->Add();
  kv->set_key(std::string(key));
  kv->mutable_value()->set_int_value(value);
}

void AddAttribute(google::protobuf::RepeatedPtrField<otel_common::KeyValue>* attributes,
                  absl::string_view key, bool value) {
  otel_common::KeyValue* kv = attributes->Add();
  kv->set_key(std::string(key));
  kv->mutable_value()->set_bool_value(value);
}

std::string ProtocolVersion(absl::string_view http_version) {
  if (absl::ConsumePrefix(&http_version, "HTTP/")) {
    if (http_version == "2.0") return "2";
    return std::string(http_version);
  }
  return std::string(http_version);
}

uint64_t UnixNanos(const google::protobuf::Timestamp& t) {
  return static_cast<uint64_t>(t.seconds()) * 1'000'000'000ull + static_cast<uint64_t>(t.nanos());
}

// gRPC status codes a server reports as its own failure (the RPC semantic conventions); a client
// counts every code but OK.
bool GrpcServerError(uint32_t code) {
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

std::optional<std::string> ErrorType(const v1::Exchange& exchange) {
  if (exchange.has_grpc() && exchange.grpc().has_status_code()) {
    const uint32_t code = exchange.grpc().status_code();
    const bool client = exchange.connection().role() == v1::ROLE_CLIENT;
    if (client ? code != 0 : GrpcServerError(code)) return absl::StrCat(code);
    return std::nullopt;
  }
  if (!exchange.has_response()) return std::string("no_response");
  const uint32_t status = exchange.response().status();
  const bool client = exchange.connection().role() == v1::ROLE_CLIENT;
  if (status >= 500 || (client && status >= 400)) return absl::StrCat(status);
  return std::nullopt;
}

std::optional<TraceParent> ParseTraceParent(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-" fields.
  if (value.size() < 55) return std::nullopt;
  const absl::string_view version = value.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff") return std::nullopt;
  if (version == "00" && value.size() != 55) return std::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  if (value.size() > 55 && value[55] != '-') return std::nullopt;
  const absl::string_view trace_id = value.substr(3, 32);
  const absl::string_view parent_id = value.substr(36, 16);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(value.substr(53, 2))) {
    return std::nullopt;
  }
  if (trace_id == std::string(32, '0') || parent_id == std::string(16, '0')) return std::nullopt;
  return TraceParent{absl::HexStringToBytes(trace_id), absl::HexStringToBytes(parent_id)};
}

std::string ServiceName(const v1::Exchange& exchange, ProcessServiceNames* names) {
  if (names != nullptr) {
    std::string own = names->Lookup(exchange.process().pid(), exchange.process().comm());
    if (!own.empty()) return own;
  }
  const v1::Container& container = exchange.process().container();
  if (!container.name().empty()) return container.name();
  if (!exchange.process().comm().empty()) return exchange.process().comm();
  return "unknown_service";
}

std::string ResourceKey(const v1::Exchange& exchange) {
  const v1::Process& process = exchange.process();
  return absl::StrCat(process.pid(), "/", process.comm(), "/", process.container().id(), "/",
                      process.container().name(), "/", process.container().pod_name(), "/",
                      exchange.node());
}

void FillResource(const v1::Exchange& exchange, otel_resource::Resource* resource,
                  ProcessServiceNames* names) {
  auto* attributes = resource->mutable_attributes();
  const v1::Process& process = exchange.process();
  const v1::Container& container = process.container();
  AddAttribute(attributes, "service.name", ServiceName(exchange, names));
  if (!exchange.node().empty()) AddAttribute(attributes, "host.name", exchange.node());
  AddAttribute(attributes, "process.pid", static_cast<int64_t>(process.pid()));
  if (!process.comm().empty()) AddAttribute(attributes, "process.executable.name", process.comm());
  if (!container.id().empty()) AddAttribute(attributes, "container.id", container.id());
  if (!container.name().empty()) AddAttribute(attributes, "container.name", container.name());
  if (!container.runtime().empty()) {
    AddAttribute(attributes, "container.runtime", container.runtime());
  }
  if (!container.pod_name().empty()) {
    AddAttribute(attributes, "k8s.namespace.name", container.pod_namespace());
    AddAttribute(attributes, "k8s.pod.name", container.pod_name());
    if (!container.pod_uid().empty()) AddAttribute(attributes, "k8s.pod.uid", container.pod_uid());
    if (!exchange.node().empty()) AddAttribute(attributes, "k8s.node.name", exchange.node());
  }
}

absl::string_view NormalizedMethod(absl::string_view method) {
  for (absl::string_view known : kKnownMethods) {
    if (method == known) return known;
  }
  return "_OTHER";
}

std::string QueryOf(absl::string_view target, const session::SecretNames* secret_params) {
  const size_t question = target.find('?');
  if (question == absl::string_view::npos) return "";
  absl::string_view query = target.substr(question + 1);
  query = query.substr(0, query.find('#'));
  if (secret_params == nullptr) return std::string(query);
  std::string redacted;
  session::RedactPairs(query, *secret_params, kOtelRedacted, &redacted);
  return redacted;
}

SpanBuilder::SpanBuilder(SpanOptions options, uint64_t seed)
    : options_(std::move(options)),
      secret_params_(session::DefaultSecretParams(), session::DefaultSecretSuffixes(),
                     options_.redact_params),
      random_(seed) {}

std::string SpanBuilder::RandomId(size_t bytes) {
  std::string id(bytes, '\0');
  do {
    for (size_t i = 0; i < bytes; i += 8) {
      const uint64_t r = random_();
      for (size_t j = 0; j < 8 && i + j < bytes; ++j) id[i + j] = static_cast<char>(r >> (8 * j));
    }
  } while (id == std::string(bytes, '\0'));  // all-zero ids are invalid
  return id;
}

void SpanBuilder::Fill(const v1::Exchange& x, otel_trace::Span* span) {
  const v1::HttpRequest& request = x.request();
  const v1::Connection& connection = x.connection();
  const bool client = connection.role() == v1::ROLE_CLIENT;
  const bool server = connection.role() == v1::ROLE_SERVER;
  auto* attributes = span->mutable_attributes();

  // Trace context: join the trace the request carries.
  const v1::Header* traceparent = FindHeader(request.headers(), "traceparent");
  std::optional<TraceParent> parent =
      traceparent != nullptr ? ParseTraceParent(traceparent->value()) : std::nullopt;
  if (parent.has_value()) {
    span->set_trace_id(parent->trace_id);
    span->set_parent_span_id(parent->parent_span_id);
    if (const v1::Header* state = FindHeader(request.headers(), "tracestate")) {
      span->set_trace_state(state->value());
    }
  } else {
    span->set_trace_id(RandomId(16));
  }
  span->set_span_id(RandomId(8));
  span->set_kind(server   ? otel_trace::Span::SPAN_KIND_SERVER
                 : client ? otel_trace::Span::SPAN_KIND_CLIENT
                          : otel_trace::Span::SPAN_KIND_UNSPECIFIED);

  // Times: request's first byte to response's last byte.
  const uint64_t start = UnixNanos(x.start_time());
  uint64_t end = start;
  if (x.has_response() && x.response().has_end_time()) {
    end = UnixNanos(x.response().end_time());
  } else if (x.has_latency()) {
    end = start + static_cast<uint64_t>(x.latency().seconds()) * 1'000'000'000ull +
          static_cast<uint64_t>(x.latency().nanos());
  } else if (request.has_end_time()) {
    end = UnixNanos(request.end_time());
  }
  span->set_start_time_unix_nano(start);
  span->set_end_time_unix_nano(std::max(start, end));

  const std::string route = RouteOf(request.target());
  const absl::string_view method = NormalizedMethod(request.method());
  span->set_name(x.has_request() ? absl::StrCat(method == "_OTHER" ? "HTTP" : method, " ", route)
                                 : "HTTP");

  if (x.has_request()) {
    AddAttribute(attributes, "http.request.method", method);
    if (method == "_OTHER") {
      AddAttribute(attributes, "http.request.method_original", request.method());
    }
  }
  const std::string scheme = connection.has_tls() ? "https" : "http";
  const std::string query =
      QueryOf(request.target(), options_.redact_query ? &secret_params_ : nullptr);
  // HTTP/2 carries the host in the :authority pseudo-header.
  const v1::Header* host = FindHeader(request.headers(), "host");
  if (host == nullptr) host = FindHeader(request.headers(), ":authority");
  if (server) {
    AddAttribute(attributes, "url.path", PathOf(request.target()));
    if (!query.empty()) AddAttribute(attributes, "url.query", query);
    AddAttribute(attributes, "url.scheme", scheme);
    AddAttribute(attributes, "http.route", route);
    if (host != nullptr) {
      auto [address, port] = SplitHost(host->value());
      AddAttribute(attributes, "server.address", address);
      AddAttribute(attributes, "server.port",
                   static_cast<int64_t>(port.value_or(connection.local().port())));
    } else {
      AddAttribute(attributes, "server.address", connection.local().address());
      AddAttribute(attributes, "server.port", static_cast<int64_t>(connection.local().port()));
    }
    AddAttribute(attributes, "client.address", connection.remote().address());
    AddAttribute(attributes, "client.port", static_cast<int64_t>(connection.remote().port()));
    if (const v1::Header* agent = FindHeader(request.headers(), "user-agent")) {
      AddAttribute(attributes, "user_agent.original", agent->value());
    }
  } else {
    const std::string authority = host != nullptr
                                      ? std::string(absl::StripAsciiWhitespace(host->value()))
                                      : absl::StrCat(HostForUrl(connection.remote().address()), ":",
                                                     connection.remote().port());
    AddAttribute(attributes, "url.full",
                 absl::StrCat(scheme, "://", authority, PathOf(request.target()),
                              query.empty() ? "" : "?", query));
    AddAttribute(attributes, "http.route", route);
    const std::string address =
        host != nullptr ? SplitHost(host->value()).first : connection.remote().address();
    AddAttribute(attributes, "server.address", address);
    AddAttribute(attributes, "server.port", static_cast<int64_t>(connection.remote().port()));
  }
  AddAttribute(attributes, "network.peer.address", connection.remote().address());
  AddAttribute(attributes, "network.peer.port", static_cast<int64_t>(connection.remote().port()));
  if (!request.version().empty()) {
    AddAttribute(attributes, "network.protocol.version", ProtocolVersion(request.version()));
  }
  if (x.has_request() && request.has_body()) {
    const v1::Body& body = request.body();
    AddAttribute(attributes, "http.request.body.size",
                 static_cast<int64_t>(body.encoded_size() > 0 ? body.encoded_size() : body.size()));
  }
  if (x.has_response()) {
    AddAttribute(attributes, "http.response.status_code",
                 static_cast<int64_t>(x.response().status()));
    if (x.response().has_body()) {
      const v1::Body& body = x.response().body();
      AddAttribute(
          attributes, "http.response.body.size",
          static_cast<int64_t>(body.encoded_size() > 0 ? body.encoded_size() : body.size()));
    }
  }
  if (std::optional<std::string> error = ErrorType(x)) {
    AddAttribute(attributes, "error.type", *error);
  }
  if (x.has_grpc()) {
    // The RPC semantic conventions, beside the HTTP/2 exchange's own attributes; the error
    // status follows grpc-status (ErrorType), not HTTP's status.
    const v1::Grpc& grpc = x.grpc();
    AddAttribute(attributes, "rpc.system", "grpc");
    if (!grpc.service().empty()) AddAttribute(attributes, "rpc.service", grpc.service());
    if (!grpc.method().empty()) AddAttribute(attributes, "rpc.method", grpc.method());
    if (grpc.has_status_code()) {
      AddAttribute(attributes, "rpc.grpc.status_code", static_cast<int64_t>(grpc.status_code()));
    }
    if (!grpc.service().empty() && !grpc.method().empty()) {
      span->set_name(absl::StrCat(grpc.service(), "/", grpc.method()));
    }
  }
  SetStatus(x, span);
}

void SpanBuilder::BuildRequest(const std::vector<session::EventPtr>& events,
                               otel_collector_trace::ExportTraceServiceRequest* request) {
  absl::flat_hash_map<std::string, otel_trace::ScopeSpans*> by_resource;
  v1::Event parsed;  // reused: its fields keep their memory from one event to the next
  for (const session::EventPtr& event : events) {
    if (event->kind != v1::Event::kExchange) continue;
    if (!parsed.ParseFromString(event->bytes)) continue;  // serialized by the agent: cannot fail
    const v1::Exchange& exchange = parsed.exchange();
    auto [it, inserted] = by_resource.try_emplace(ResourceKey(exchange), nullptr);
    if (inserted) {
      otel_trace::ResourceSpans* resource_spans = request->add_resource_spans();
      FillResource(exchange, resource_spans->mutable_resource(), options_.service_names);
      it->second = resource_spans->add_scope_spans();
      it->second->mutable_scope()->set_name(std::string(kScopeName));
      it->second->mutable_scope()->set_version(std::string(kVersion));
    }
    Fill(exchange, it->second->add_spans());
  }
}

}  // namespace httptrace::otlp
