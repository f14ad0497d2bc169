#include "agent/export/span_builder.h"

#include <map>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Attributes as strings ("200" for ints), for comparison.
std::map<std::string, std::string> Attributes(
    const google::protobuf::RepeatedPtrField<otel_common::KeyValue>& kvs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : kvs) {
    if (kv.value().has_int_value()) {
      out[kv.key()] = std::to_string(kv.value().int_value());
    } else if (kv.value().has_bool_value()) {
      out[kv.key()] = kv.value().bool_value() ? "true" : "false";
    } else {
      out[kv.key()] = kv.value().string_value();
    }
  }
  return out;
}

void AddHeader(v1::HttpRequest* request, const std::string& name, const std::string& value) {
  v1::Header* header = request->add_headers();
  header->set_name(name);
  header->set_value(value);
}

v1::Exchange ServerExchange() {
  v1::Exchange x;
  x.mutable_start_time()->set_seconds(1700000000);
  x.mutable_start_time()->set_nanos(100);
  x.mutable_latency()->set_nanos(2500);
  x.set_node("node-1");
  x.mutable_process()->set_pid(42);
  x.mutable_process()->set_comm("api");
  v1::Connection* c = x.mutable_connection();
  c->set_role(v1::ROLE_SERVER);
  c->mutable_local()->set_address("10.0.0.1");
  c->mutable_local()->set_port(8080);
  c->mutable_remote()->set_address("10.0.0.2");
  c->mutable_remote()->set_port(51000);
  v1::HttpRequest* request = x.mutable_request();
  request->set_method("GET");
  request->set_target("/users/42?id=7&sig=abc");
  request->set_version("HTTP/1.1");
  AddHeader(request, "Host", "api.example:8080");
  request->mutable_body()->set_size(0);
  v1::HttpResponse* response = x.mutable_response();
  response->set_status(503);
  response->mutable_body()->set_size(10);
  response->mutable_body()->set_encoded_size(12);
  response->mutable_end_time()->set_seconds(1700000000);
  response->mutable_end_time()->set_nanos(2600);
  return x;
}

TEST(SpanBuilderTest, ServerExchangeFollowsTheHttpSemanticConventions) {
  SpanBuilder builder(SpanOptions{}, /*seed=*/1);
  otel_trace::Span span;
  builder.Fill(ServerExchange(), &span);
  EXPECT_EQ(span.name(), "GET /users/{id}");
  EXPECT_EQ(span.kind(), otel_trace::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(span.start_time_unix_nano(), 1700000000'000000100ull);
  EXPECT_EQ(span.end_time_unix_nano(), 1700000000'000002600ull);
  EXPECT_EQ(span.trace_id().size(), 16u);
  EXPECT_EQ(span.span_id().size(), 8u);
  EXPECT_TRUE(span.parent_span_id().empty());
  EXPECT_EQ(span.status().code(), otel_trace::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(Attributes(span.attributes()), (std::map<std::string, std::string>{
                                               {"http.request.method", "GET"},
                                               {"url.path", "/users/42"},
                                               {"url.query", "id=7&sig=REDACTED"},
                                               {"url.scheme", "http"},
                                               {"http.route", "/users/{id}"},
                                               {"server.address", "api.example"},
                                               {"server.port", "8080"},
                                               {"client.address", "10.0.0.2"},
                                               {"client.port", "51000"},
                                               {"network.peer.address", "10.0.0.2"},
                                               {"network.peer.port", "51000"},
                                               {"network.protocol.version", "1.1"},
                                               {"http.request.body.size", "0"},
                                               {"http.response.status_code", "503"},
                                               {"http.response.body.size", "12"},
                                               {"error.type", "503"},
                                           }));
}

// One list for sessions and spans (agent/session/redaction.h): the session's own additions, the
// defaults beyond the conventions' four, and a value the session already hid.
TEST(SpanBuilderTest, QueryUsesTheSessionsSecretParameterList) {
  v1::Exchange x = ServerExchange();
  x.mutable_request()->set_target(
      "/users/42?id=7&access_token=t1&ticket=t2&code=[REDACTED]&X-Amz-Signature=s&q=ok");
  SpanBuilder builder(SpanOptions{.redact_params = {"ticket"}}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  EXPECT_EQ(Attributes(span.attributes()).at("url.query"),
            "id=7&access_token=REDACTED&ticket=REDACTED&code=REDACTED&X-Amz-Signature=REDACTED&"
            "q=ok");
  x.mutable_connection()->set_role(v1::ROLE_CLIENT);
  otel_trace::Span client;
  builder.Fill(x, &client);
  EXPECT_EQ(Attributes(client.attributes()).at("url.full"),
            "http://api.example:8080/users/42?id=7&access_token=REDACTED&ticket=REDACTED&"
            "code=REDACTED&X-Amz-Signature=REDACTED&q=ok");
}

TEST(SpanBuilderTest, ClientSpanHasUrlFullAndFailsOn4xx) {
  v1::Exchange x = ServerExchange();
  x.mutable_connection()->set_role(v1::ROLE_CLIENT);
  x.mutable_connection()->mutable_tls()->set_library("openssl");
  x.mutable_response()->set_status(404);
  SpanBuilder builder(SpanOptions{.redact_query = false}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  const auto attributes = Attributes(span.attributes());
  EXPECT_EQ(span.kind(), otel_trace::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(attributes.at("url.full"), "https://api.example:8080/users/42?id=7&sig=abc");
  EXPECT_EQ(attributes.at("server.address"), "api.example");
  EXPECT_EQ(attributes.at("server.port"), "51000");  // the port connected to
  EXPECT_EQ(attributes.count("client.address"), 0u);
  EXPECT_EQ(attributes.at("error.type"), "404");
  EXPECT_EQ(span.status().code(), otel_trace::Status::STATUS_CODE_ERROR);
}

TEST(SpanBuilderTest, Server4xxIsNotAnError) {
  v1::Exchange x = ServerExchange();
  x.mutable_response()->set_status(404);
  SpanBuilder builder(SpanOptions{}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  EXPECT_FALSE(span.has_status());
  EXPECT_EQ(Attributes(span.attributes()).count("error.type"), 0u);
}

TEST(SpanBuilderTest, TraceparentJoinsTheCallersTrace) {
  v1::Exchange x = ServerExchange();
  AddHeader(x.mutable_request(), "TraceParent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  AddHeader(x.mutable_request(), "tracestate", "vendor=1");
  SpanBuilder builder(SpanOptions{}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  EXPECT_EQ(absl::BytesToHexString(span.trace_id()), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(absl::BytesToHexString(span.parent_span_id()), "00f067aa0ba902b7");
  EXPECT_EQ(span.trace_state(), "vendor=1");
  EXPECT_NE(absl::BytesToHexString(span.span_id()), "00f067aa0ba902b7");
}

TEST(SpanBuilderTest, ParseTraceParentRejectsWhatTheW3cSpecRejects) {
  EXPECT_TRUE(ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  // A later version may append fields.
  EXPECT_TRUE(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
  for (const char* bad : {
           "",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 with more
           "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",    // misplaced dash
       }) {
    EXPECT_FALSE(ParseTraceParent(bad)) << bad;
  }
}

TEST(SpanBuilderTest, ResourceFollowsTheServiceNameRule) {
  v1::Exchange x = ServerExchange();
  otel_resource::Resource host;
  FillResource(x, &host);
  EXPECT_THAT(
      Attributes(host.attributes()),
      UnorderedElementsAre(Pair("service.name", "api"), Pair("host.name", "node-1"),
                           Pair("process.pid", "42"), Pair("process.executable.name", "api")));
  v1::Container* c = x.mutable_process()->mutable_container();
  c->set_id("abc123");
  c->set_name("checkout");
  c->set_runtime("containerd");
  c->set_pod_namespace("shop");
  c->set_pod_name("checkout-7d4f");
  c->set_pod_uid("uid-1");
  otel_resource::Resource pod;
  FillResource(x, &pod);
  EXPECT_THAT(
      Attributes(pod.attributes()),
      UnorderedElementsAre(
          Pair("service.name", "checkout"), Pair("host.name", "node-1"), Pair("process.pid", "42"),
          Pair("process.executable.name", "api"), Pair("container.id", "abc123"),
          Pair("container.name", "checkout"), Pair("container.runtime", "containerd"),
          Pair("k8s.namespace.name", "shop"), Pair("k8s.pod.name", "checkout-7d4f"),
          Pair("k8s.pod.uid", "uid-1"), Pair("k8s.node.name", "node-1")));
}

TEST(SpanBuilderTest, GrpcExchangeFollowsTheRpcConventions) {
  v1::Exchange x = ServerExchange();
  x.mutable_request()->set_method("POST");
  x.mutable_request()->set_target("/helloworld.Greeter/SayHello");
  x.mutable_request()->set_version("HTTP/2");
  x.mutable_request()->clear_headers();
  AddHeader(x.mutable_request(), ":authority", "greeter:50051");
  x.mutable_response()->set_status(200);
  v1::Grpc* grpc = x.mutable_grpc();
  grpc->set_service("helloworld.Greeter");
  grpc->set_method("SayHello");
  grpc->set_status_code(14);  // UNAVAILABLE: the server's own failure
  grpc->set_status_message("backend down");
  SpanBuilder builder(SpanOptions{}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  EXPECT_EQ(span.name(), "helloworld.Greeter/SayHello");
  const auto attributes = Attributes(span.attributes());
  EXPECT_EQ(attributes.at("rpc.system"), "grpc");
  EXPECT_EQ(attributes.at("rpc.service"), "helloworld.Greeter");
  EXPECT_EQ(attributes.at("rpc.method"), "SayHello");
  EXPECT_EQ(attributes.at("rpc.grpc.status_code"), "14");
  EXPECT_EQ(attributes.at("server.address"), "greeter");
  EXPECT_EQ(attributes.at("network.protocol.version"), "2");
  EXPECT_EQ(span.status().code(), otel_trace::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(span.status().message(), "backend down");

  // NOT_FOUND is the caller's failure: an error on the client's span, not on the server's.
  grpc->set_status_code(5);
  otel_trace::Span server_span;
  builder.Fill(x, &server_span);
  EXPECT_FALSE(server_span.has_status());
  x.mutable_connection()->set_role(v1::ROLE_CLIENT);
  otel_trace::Span client_span;
  builder.Fill(x, &client_span);
  EXPECT_EQ(client_span.status().code(), otel_trace::Status::STATUS_CODE_ERROR);
}

TEST(SpanBuilderTest, UnknownMethodIsOtherWithTheOriginalKept) {
  v1::Exchange x = ServerExchange();
  x.mutable_request()->set_method("PURGE");
  SpanBuilder builder(SpanOptions{}, 1);
  otel_trace::Span span;
  builder.Fill(x, &span);
  EXPECT_EQ(span.name(), "HTTP /users/{id}");
  const auto attributes = Attributes(span.attributes());
  EXPECT_EQ(attributes.at("http.request.method"), "_OTHER");
  EXPECT_EQ(attributes.at("http.request.method_original"), "PURGE");
}

TEST(SpanBuilderTest, RequestGroupsSpansByResource) {
  std::vector<session::EventPtr> events;
  for (uint32_t pid : {1, 2, 1}) {
    v1::Event event;
    *event.mutable_exchange() = ServerExchange();
    event.mutable_exchange()->mutable_process()->set_pid(pid);
    events.push_back(session::Serialize(event));
  }
  v1::Event loss;
  loss.mutable_loss()->set_exchanges(1);
  events.push_back(session::Serialize(loss));  // not a span
  SpanBuilder builder(SpanOptions{}, 1);
  otel_collector_trace::ExportTraceServiceRequest request;
  builder.BuildRequest(events, &request);
  ASSERT_EQ(request.resource_spans_size(), 2);
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(request.resource_spans(1).scope_spans(0).spans_size(), 1);
  EXPECT_EQ(request.resource_spans(0).scope_spans(0).scope().name(), "httptrace");
}

}  // namespace
}  // namespace httptrace::otlp
