#include "cli/request_builder.h"

#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

TEST(BuildStartRequest, FiltersAndOptionsLandInTheirFields) {
  RequestFlags flags;
  flags.pids = {"42", "43"};
  flags.ports = {"8080"};
  flags.methods = {"GET"};
  flags.path_prefix = "/api";
  flags.role = "server";
  flags.body_limit = 0;
  flags.redact = {"X-Token"};
  flags.redact_params = {"ticket", "sso"};
  flags.redact_body_fields = {"ssn"};
  flags.max_exchanges = 10;
  flags.idle_timeout = absl::Seconds(90);
  const auto request = BuildStartRequest(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->filter().pids_size(), 2);
  EXPECT_EQ(request->filter().ports(0), 8080u);
  EXPECT_EQ(request->filter().role(), v1::ROLE_SERVER);
  EXPECT_TRUE(request->options().has_body_limit_bytes());
  EXPECT_EQ(request->options().body_limit_bytes(), 0u);
  EXPECT_EQ(request->options().redact_headers(0), "X-Token");
  EXPECT_EQ(request->options().redact_params_size(), 2);
  EXPECT_EQ(request->options().redact_params(1), "sso");
  EXPECT_EQ(request->options().redact_body_fields(0), "ssn");
  EXPECT_EQ(request->options().max_exchanges(), 10u);
  EXPECT_EQ(request->options().idle_timeout().seconds(), 90);
}

TEST(BuildStartRequest, DefaultsLeaveOptionsUnset) {
  const auto request = BuildStartRequest(RequestFlags());
  ASSERT_TRUE(request.ok());
  EXPECT_FALSE(request->options().has_body_limit_bytes());
  EXPECT_EQ(request->filter().role(), v1::ROLE_UNSPECIFIED);
  EXPECT_EQ(request->filter().tls(), v1::TLS_BOTH);
}

TEST(BuildStartRequest, TlsSelection) {
  RequestFlags flags;
  flags.tls = "only";
  EXPECT_EQ(BuildStartRequest(flags)->filter().tls(), v1::TLS_ONLY);
  flags.tls = "plain";
  EXPECT_EQ(BuildStartRequest(flags)->filter().tls(), v1::TLS_PLAIN);
}

TEST(BuildStartRequest, ExportMakesAnExportSession) {
  RequestFlags flags;
  flags.ports = {"8080"};
  flags.export_endpoint = "otlp://collector:4317";
  flags.export_headers = {"Authorization=Bearer x", "x-team: shop"};
  flags.export_metrics_interval = absl::Seconds(30);
  const auto request = BuildStartRequest(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->filter().ports(0), 8080u);
  const v1::ExportOptions& e = request->export_options();
  EXPECT_EQ(e.endpoint(), "otlp://collector:4317");
  EXPECT_EQ(e.headers().at("authorization"), "Bearer x");
  EXPECT_EQ(e.headers().at("x-team"), "shop");
  EXPECT_EQ(e.metrics_interval().seconds(), 30);
  EXPECT_FALSE(BuildStartRequest(RequestFlags{})->has_export_options());
}

TEST(BuildStartRequest, BadValuesNameTheFlag) {
  const struct {
    void (*edit)(RequestFlags&);
    const char* message;
  } cases[] = {
      {[](RequestFlags& f) { f.ports = {"http"}; }, "--port http"},
      {[](RequestFlags& f) { f.ports = {"65536"}; }, "--port 65536"},
      {[](RequestFlags& f) { f.pids = {"-1"}; }, "--pid -1"},
      {[](RequestFlags& f) { f.role = "proxy"; }, "--role proxy"},
      {[](RequestFlags& f) { f.tls = "yes"; }, "--tls yes"},
      {[](RequestFlags& f) {
         f.no_redact = true;
         f.redact = {"a"};
       },
       "exclude each other"},
      {[](RequestFlags& f) {
         f.no_redact = true;
         f.redact_params = {"ticket"};
       },
       "--redact-param/--redact-body-field and --no-redact exclude each other"},
      {[](RequestFlags& f) {
         f.no_redact = true;
         f.redact_body_fields = {"ssn"};
       },
       "--redact-param/--redact-body-field and --no-redact exclude each other"},
      {[](RequestFlags& f) { f.redact_body_fields = {""}; }, "--redact-body-field: a name"},
      {[](RequestFlags& f) { f.queue = -5; }, "--queue"},
      {[](RequestFlags& f) { f.export_headers = {"a=b"}; }, "need --export"},
      {[](RequestFlags& f) {
         f.export_endpoint = "otlp://c:4317";
         f.export_headers = {"novalue"};
       },
       "--export-header novalue"},
      {[](RequestFlags& f) {
         f.export_endpoint = "otlps://c:4317";
         f.export_ca = "/nonexistent/ca.crt";
       },
       "--export-ca: cannot read /nonexistent/ca.crt"},
  };
  for (const auto& c : cases) {
    RequestFlags flags;
    c.edit(flags);
    const auto request = BuildStartRequest(flags);
    ASSERT_FALSE(request.ok()) << c.message;
    EXPECT_NE(request.status().message().find(c.message), std::string::npos) << request.status();
  }
}

TEST(BuildStartRequest, NewFiltersAndCaseInsensitiveMethods) {
  RequestFlags flags;
  flags.methods = {"get", "Post"};
  flags.statuses = {"5xx", "404", "4XX"};
  flags.hosts = {"API.example.com:8080", "*.test"};
  flags.connections = {"42"};
  flags.min_latency = absl::Milliseconds(250);
  const auto request = BuildStartRequest(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  const v1::Filter& f = request->filter();
  EXPECT_EQ(f.methods(0), "GET");
  EXPECT_EQ(f.methods(1), "POST");
  ASSERT_EQ(f.statuses_size(), 3);
  EXPECT_EQ(f.statuses(0).min(), 500u);
  EXPECT_EQ(f.statuses(0).max(), 599u);
  EXPECT_EQ(f.statuses(1).min(), 404u);
  EXPECT_EQ(f.statuses(1).max(), 404u);
  EXPECT_EQ(f.statuses(2).min(), 400u);
  EXPECT_EQ(f.hosts(0), "api.example.com");
  EXPECT_EQ(f.hosts(1), "*.test");
  EXPECT_EQ(f.connection_ids(0), 42u);
  EXPECT_EQ(f.min_latency().nanos(), 250'000'000);
}

TEST(BuildStartRequest, ValuesThatCanNeverMatchAreRefused) {
  const struct {
    void (*set)(RequestFlags&);
    const char* message;
  } cases[] = {
      {[](RequestFlags& f) { f.methods = {"GETT"}; },
       "--method GETT: not an HTTP method, so it would never match"},
      {[](RequestFlags& f) { f.statuses = {"6xx"}; }, "--status 6xx: want a class"},
      {[](RequestFlags& f) { f.statuses = {"99"}; }, "--status 99: want a class"},
      {[](RequestFlags& f) { f.hosts = {"a b"}; }, "--host a b: want a host name"},
      {[](RequestFlags& f) { f.connections = {"x"}; }, "--connection x: want a connection id"},
  };
  for (const auto& c : cases) {
    RequestFlags flags;
    c.set(flags);
    const auto request = BuildStartRequest(flags);
    ASSERT_FALSE(request.ok()) << c.message;
    EXPECT_EQ(request.status().message().find(c.message), 0u) << request.status();
  }
}

}  // namespace
}  // namespace httptrace::cli
