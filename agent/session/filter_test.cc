#include "agent/session/filter.h"

#include <string>

#include "gtest/gtest.h"

namespace httptrace::session {
namespace {

v1::Exchange SampleExchange() {
  v1::Exchange exchange;
  exchange.mutable_process()->set_pid(100);
  exchange.mutable_process()->set_comm("nginx");
  exchange.mutable_process()->mutable_container()->set_id(
      "4f2a9c0e11aa00000000000000000000000000000000000000000000000000ff");
  exchange.mutable_process()->mutable_container()->set_name("web");
  exchange.mutable_process()->mutable_container()->set_pod_namespace("shop");
  exchange.mutable_process()->mutable_container()->set_pod_name("web-7d9");
  exchange.mutable_connection()->mutable_local()->set_port(8080);
  exchange.mutable_connection()->mutable_remote()->set_port(51234);
  exchange.mutable_connection()->set_role(v1::ROLE_SERVER);
  exchange.mutable_request()->set_method("POST");
  exchange.mutable_request()->set_target("/api/users?id=1");
  return exchange;
}

v1::Filter F(void (*build)(v1::Filter&)) {
  v1::Filter filter;
  build(filter);
  return filter;
}

TEST(MatchesFilter, EachFieldSelectsAndRejects) {
  const v1::Exchange exchange = SampleExchange();
  const struct {
    const char* name;
    v1::Filter filter;
    bool matches;
  } cases[] = {
      {"empty matches all", v1::Filter(), true},
      {"pid hit", F([](v1::Filter& f) { f.add_pids(7), f.add_pids(100); }), true},
      {"pid miss", F([](v1::Filter& f) { f.add_pids(7); }), false},
      {"comm hit", F([](v1::Filter& f) { f.add_process_names("nginx"); }), true},
      {"comm miss", F([](v1::Filter& f) { f.add_process_names("curl"); }), false},
      {"container id prefix", F([](v1::Filter& f) { f.add_containers("4f2a9c"); }), true},
      {"container name", F([](v1::Filter& f) { f.add_containers("web"); }), true},
      {"container miss", F([](v1::Filter& f) { f.add_containers("db"); }), false},
      {"namespace", F([](v1::Filter& f) { f.add_pod_namespaces("shop"); }), true},
      {"namespace miss", F([](v1::Filter& f) { f.add_pod_namespaces("kube-system"); }), false},
      {"pod", F([](v1::Filter& f) { f.add_pods("web-7d9"); }), true},
      {"local port", F([](v1::Filter& f) { f.add_local_ports(8080); }), true},
      {"local port is not remote", F([](v1::Filter& f) { f.add_local_ports(51234); }), false},
      {"remote port", F([](v1::Filter& f) { f.add_remote_ports(51234); }), true},
      {"either port", F([](v1::Filter& f) { f.add_ports(51234); }), true},
      {"either port miss", F([](v1::Filter& f) { f.add_ports(80); }), false},
      {"method", F([](v1::Filter& f) { f.add_methods("GET"), f.add_methods("POST"); }), true},
      {"method is case-sensitive", F([](v1::Filter& f) { f.add_methods("post"); }), false},
      {"path prefix", F([](v1::Filter& f) { f.set_path_prefix("/api/"); }), true},
      {"path prefix miss", F([](v1::Filter& f) { f.set_path_prefix("/admin"); }), false},
      {"role server", F([](v1::Filter& f) { f.set_role(v1::ROLE_SERVER); }), true},
      {"role client", F([](v1::Filter& f) { f.set_role(v1::ROLE_CLIENT); }), false},
      {"fields AND together", F([](v1::Filter& f) {
         f.add_pids(100);
         f.add_methods("GET");
       }),
       false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MatchesFilter(c.filter, exchange), c.matches) << c.name;
  }
}

TEST(MatchesFilter, TlsSelectsHttpsOrPlaintext) {
  v1::Exchange plain = SampleExchange();
  v1::Exchange https = SampleExchange();
  https.mutable_connection()->mutable_tls()->set_library("openssl");
  v1::Filter only, pure, both;
  only.set_tls(v1::TLS_ONLY);
  pure.set_tls(v1::TLS_PLAIN);
  EXPECT_TRUE(MatchesFilter(both, plain));
  EXPECT_TRUE(MatchesFilter(both, https));
  EXPECT_TRUE(MatchesFilter(only, https));
  EXPECT_FALSE(MatchesFilter(only, plain));
  EXPECT_TRUE(MatchesFilter(pure, plain));
  EXPECT_FALSE(MatchesFilter(pure, https));
  // The connection scope does not know yet: never excluded there.
  EXPECT_TRUE(MayMatchConnection(only, plain));
  v1::Filter bad;
  bad.set_tls(static_cast<v1::TlsSelection>(7));
  EXPECT_FALSE(ValidateFilter(bad).ok());
}

TEST(MatchesFilter, ProtocolsSelectHttp1Http2AndGrpc) {
  v1::Exchange http1;
  http1.mutable_request()->set_version("HTTP/1.1");
  v1::Exchange http2;
  http2.mutable_request()->set_version("HTTP/2");
  http2.set_stream_id(3);
  v1::Exchange grpc = http2;
  grpc.mutable_grpc()->set_service("helloworld.Greeter");
  const struct {
    std::vector<std::string> protocols;
    bool http1, http2, grpc;
  } cases[] = {
      {{}, true, true, true},
      {{"http1"}, true, false, false},
      {{"http2"}, false, true, true},
      {{"grpc"}, false, false, true},
      {{"http1", "grpc"}, true, false, true},
  };
  for (const auto& c : cases) {
    v1::Filter filter;
    for (const std::string& p : c.protocols) filter.add_protocols(p);
    EXPECT_EQ(MatchesFilter(filter, http1), c.http1) << filter.ShortDebugString();
    EXPECT_EQ(MatchesFilter(filter, http2), c.http2) << filter.ShortDebugString();
    EXPECT_EQ(MatchesFilter(filter, grpc), c.grpc) << filter.ShortDebugString();
    // The connection scope of a loss does not say its protocol: never excluded by it.
    EXPECT_TRUE(MayMatchConnection(filter, v1::Exchange()));
  }
  v1::Filter bad;
  bad.add_protocols("h2");
  EXPECT_FALSE(ValidateFilter(bad).ok());
}

TEST(MatchesFilter, ContainerFilterNeverMatchesHostProcesses) {
  v1::Exchange exchange = SampleExchange();
  exchange.mutable_process()->clear_container();
  v1::Filter filter;
  filter.add_containers("web");
  EXPECT_FALSE(MatchesFilter(filter, exchange));
}

v1::StatusRange Range(uint32_t min, uint32_t max) {
  v1::StatusRange range;
  range.set_min(min);
  range.set_max(max);
  return range;
}

TEST(MatchesFilter, StatusHostLatencyAndConnection) {
  v1::Exchange exchange = SampleExchange();
  exchange.mutable_response()->set_status(503);
  exchange.mutable_latency()->set_nanos(250'000'000);
  exchange.mutable_connection()->set_id(42);
  v1::Header* host = exchange.mutable_request()->add_headers();
  host->set_name("HOST");
  host->set_value("API.Example.com:8080");
  const struct {
    const char* name;
    v1::Filter filter;
    bool matches;
  } cases[] = {
      {"5xx", F([](v1::Filter& f) { *f.add_statuses() = Range(500, 599); }), true},
      {"4xx or 503", F([](v1::Filter& f) {
         *f.add_statuses() = Range(400, 499), *f.add_statuses() = Range(503, 503);
       }),
       true},
      {"404", F([](v1::Filter& f) { *f.add_statuses() = Range(404, 404); }), false},
      {"host, any case, port dropped", F([](v1::Filter& f) { f.add_hosts("api.example.com"); }),
       true},
      {"host wildcard", F([](v1::Filter& f) { f.add_hosts("*.example.com"); }), true},
      {"host miss", F([](v1::Filter& f) { f.add_hosts("example.com"); }), false},
      {"min latency below",
       F([](v1::Filter& f) { f.mutable_min_latency()->set_nanos(200'000'000); }), true},
      {"min latency equal",
       F([](v1::Filter& f) { f.mutable_min_latency()->set_nanos(250'000'000); }), true},
      {"min latency above", F([](v1::Filter& f) { f.mutable_min_latency()->set_seconds(1); }),
       false},
      {"connection", F([](v1::Filter& f) { f.add_connection_ids(7), f.add_connection_ids(42); }),
       true},
      {"connection miss", F([](v1::Filter& f) { f.add_connection_ids(7); }), false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MatchesFilter(c.filter, exchange), c.matches) << c.name;
  }
  // No response, no latency: status and latency filters cannot match.
  exchange.clear_response();
  exchange.clear_latency();
  EXPECT_FALSE(
      MatchesFilter(F([](v1::Filter& f) { *f.add_statuses() = Range(100, 599); }), exchange));
  EXPECT_FALSE(
      MatchesFilter(F([](v1::Filter& f) { f.mutable_min_latency()->set_nanos(1); }), exchange));
  // An absolute-form target names the host when there is no Host header.
  exchange.mutable_request()->clear_headers();
  exchange.mutable_request()->set_target("http://proxy.test:3128/x");
  EXPECT_TRUE(MatchesFilter(F([](v1::Filter& f) { f.add_hosts("proxy.test"); }), exchange));
}

TEST(MayMatchConnection, UnknownRequestAndRoleNeverExcludeButKnownFieldsDo) {
  v1::Exchange scope;
  scope.mutable_process()->set_pid(100);
  scope.mutable_connection()->mutable_local()->set_port(8080);
  v1::Filter method_and_role = F([](v1::Filter& f) {
    f.add_methods("POST");
    f.set_path_prefix("/api");
    f.set_role(v1::ROLE_CLIENT);
  });
  EXPECT_TRUE(MayMatchConnection(method_and_role, scope));
  EXPECT_TRUE(MayMatchConnection(F([](v1::Filter& f) {
                                   *f.add_statuses() = Range(500, 599);
                                   f.add_hosts("x.test");
                                   f.mutable_min_latency()->set_seconds(1);
                                 }),
                                 scope));
  EXPECT_FALSE(MayMatchConnection(F([](v1::Filter& f) { f.add_connection_ids(99); }), scope));
  EXPECT_FALSE(MayMatchConnection(F([](v1::Filter& f) { f.add_pids(7); }), scope));
  EXPECT_FALSE(MayMatchConnection(F([](v1::Filter& f) { f.add_ports(9090); }), scope));
  scope.mutable_connection()->set_role(v1::ROLE_SERVER);
  EXPECT_FALSE(MayMatchConnection(method_and_role, scope));
}

TEST(ValidateFilter, RejectsBadValuesWithTheFieldNamed) {
  const struct {
    v1::Filter filter;
    const char* message_part;
  } cases[] = {
      {F([](v1::Filter& f) { f.add_ports(70000); }), "ports: 70000 is not a port"},
      {F([](v1::Filter& f) { f.add_local_ports(0); }), "local_ports: 0"},
      {F([](v1::Filter& f) { f.add_pids(0); }), "pids: 0"},
      {F([](v1::Filter& f) { f.add_process_names("a-very-long-process-name"); }), "15 bytes"},
      {F([](v1::Filter& f) { f.add_containers("ab1"); }), "too short"},
      {F([](v1::Filter& f) { f.add_methods("GE T"); }), "not an HTTP method"},
      {F([](v1::Filter& f) { f.set_path_prefix("api"); }), "must start with /"},
      {F([](v1::Filter& f) { f.set_role(static_cast<v1::Role>(9)); }), "role"},
      {F([](v1::Filter& f) { *f.add_statuses() = Range(600, 699); }), "statuses: 600-699"},
      {F([](v1::Filter& f) { f.add_hosts("a b"); }), "hosts: \"a b\""},
      {F([](v1::Filter& f) { f.add_connection_ids(0); }), "connection_ids: 0"},
  };
  for (const auto& c : cases) {
    const absl::Status status = ValidateFilter(c.filter);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message_part;
    EXPECT_NE(status.message().find(c.message_part), std::string::npos) << status;
  }
  EXPECT_TRUE(ValidateFilter(F([](v1::Filter& f) {
                f.add_ports(8080);
                f.add_containers("web");
                f.set_path_prefix("/");
              })).ok());
}

}  // namespace
}  // namespace httptrace::session
