#include "cli/endpoint_table.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

using ::testing::HasSubstr;

v1::Exchange Exchange(const std::string& method, const std::string& target, uint32_t status,
                      int64_t latency_us, uint64_t body = 0) {
  v1::Exchange x;
  x.mutable_request()->set_method(method);
  x.mutable_request()->set_target(target);
  x.mutable_response()->set_status(status);
  x.mutable_response()->mutable_body()->set_size(body);
  x.mutable_latency()->set_seconds(latency_us / 1'000'000);
  x.mutable_latency()->set_nanos(static_cast<int32_t>(latency_us % 1'000'000) * 1000);
  return x;
}

TEST(EndpointTable, RoutesCollapseIds) {
  EXPECT_EQ(EndpointTable::Route("/users/42"), "/users/{id}");
  EXPECT_EQ(EndpointTable::Route("/users/42/orders/7?x=1#f"), "/users/{id}/orders/{id}");
  EXPECT_EQ(EndpointTable::Route("/o/123e4567-e89b-12d3-a456-426614174000"), "/o/{uuid}");
  EXPECT_EQ(EndpointTable::Route("/blob/a3f9c0e1d2b4c5d6"), "/blob/{hex}");
  EXPECT_EQ(EndpointTable::Route("/users/alice"), "/users/alice");
  EXPECT_EQ(EndpointTable::Route("/deadbeefcafe"), "/deadbeefcafe");  // hex but no digit
  EXPECT_EQ(EndpointTable::Route("/"), "/");
  EXPECT_EQ(EndpointTable::Route("*"), "*");
}

TEST(EndpointTable, RatesErrorsPercentilesAndBytesForAKnownLoad) {
  const absl::Time start = absl::FromUnixSeconds(1000);
  EndpointTable table(start);
  // 100 requests to /users/{id} over 5 s with latencies 1..100 ms, 10 of them 404, and 5
  // requests to /health, 1 of them 503.
  for (int i = 1; i <= 100; ++i) {
    table.Add(
        Exchange("GET", "/users/" + std::to_string(i), i % 10 == 0 ? 404 : 200, i * 1000, 100),
        start + absl::Milliseconds(50 * i - 1));
  }
  for (int i = 0; i < 5; ++i) {
    table.Add(Exchange("GET", "/health", i == 0 ? 503 : 200, 500), start + absl::Seconds(i));
  }
  const std::vector<EndpointTable::Row> rows = table.Rows(start + absl::Seconds(5), "rate");
  ASSERT_EQ(rows.size(), 2u);
  const EndpointTable::Row& users = rows[0];
  EXPECT_EQ(users.route, "/users/{id}");
  EXPECT_EQ(users.requests, 100u);
  EXPECT_EQ(users.errors, 10u);
  EXPECT_DOUBLE_EQ(users.rate, 20.0);  // 100 in the 5 s since the start
  EXPECT_EQ(users.p50_us, 50'000);
  EXPECT_EQ(users.p90_us, 90'000);
  EXPECT_EQ(users.p99_us, 99'000);
  EXPECT_EQ(users.bytes, 10'000u);
  EXPECT_EQ(rows[1].route, "/health");
  EXPECT_DOUBLE_EQ(rows[1].rate, 1.0);
  EXPECT_EQ(rows[1].errors, 1u);

  // Later, the rate counts only the last 10 s: nothing new, so it falls to 0.
  EXPECT_DOUBLE_EQ(table.Rows(start + absl::Seconds(30), "rate")[0].rate, 0.0);
  // Sorting by another column.
  EXPECT_EQ(table.Rows(start + absl::Seconds(5), "route")[0].route, "/health");
  EXPECT_EQ(table.Rows(start + absl::Seconds(5), "p99")[0].route, "/users/{id}");

  EndpointTable::Format format;
  const std::string text = table.Render(start + absl::Seconds(5), format);
  EXPECT_THAT(text, HasSubstr("GET     /users/{id}"));
  EXPECT_THAT(text, HasSubstr("  10.0%"));
  EXPECT_THAT(text, HasSubstr("50.0ms"));
}

TEST(EndpointTable, GrpcCallsAreGroupedByServiceAndMethodAndNonZeroStatusIsAnError) {
  EndpointTable table;
  const absl::Time now = absl::FromUnixSeconds(1000);
  for (uint32_t status : {0u, 0u, 5u, 14u}) {
    v1::Exchange x;
    x.mutable_request()->set_method("POST");
    x.mutable_request()->set_target("/helloworld.Greeter/SayHello");
    x.mutable_response()->set_status(200);
    x.mutable_grpc()->set_service("helloworld.Greeter");
    x.mutable_grpc()->set_method("SayHello");
    x.mutable_grpc()->set_status_code(status);
    table.Add(x, now);
  }
  const std::vector<EndpointTable::Row> rows = table.Rows(now, "requests");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].method, "gRPC");
  EXPECT_EQ(rows[0].route, "helloworld.Greeter/SayHello");
  EXPECT_EQ(rows[0].requests, 4u);
  EXPECT_EQ(rows[0].errors, 2u);
}

TEST(EndpointTable, EndpointsAreBoundedAndPeerTextIsEscaped) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  EndpointTable table(now);
  for (size_t i = 0; i < EndpointTable::kMaxEndpoints + 10; ++i) {
    table.Add(Exchange("GET", "/p" + std::to_string(i) + "x", 200, 10), now);
  }
  table.Add(Exchange("GET", "/evil\x1b[2J", 200, 10), now);
  const auto rows = table.Rows(now, "requests");
  EXPECT_EQ(rows.size(), EndpointTable::kMaxEndpoints + 1);
  EXPECT_EQ(rows[0].route, "(other)");
  EXPECT_EQ(rows[0].requests, 11u);
  EXPECT_TRUE(EndpointTable::CheckSortKey("p99").ok());
  EXPECT_FALSE(EndpointTable::CheckSortKey("latency").ok());
  EndpointTable small(now);
  small.Add(Exchange("GET", "/evil\x1b[2J", 200, 10), now);
  EXPECT_THAT(small.Render(now, {}), HasSubstr("/evil\\x1b[2J"));
}

TEST(EndpointTable, BothEndsCountOnceAndJsonSnapshotsForScripts) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  EndpointTable table(now);
  table.Add(Exchange("GET", "/a", 200, 10), now, EndpointTable::Seen::kBothEnds);
  table.Add(Exchange("GET", "/a", 503, 30), now, EndpointTable::Seen::kBothEnds);
  table.Add(Exchange("GET", "/b", 200, 10), now);
  const auto rows = table.Rows(now, "requests");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].seen, "both ends");
  EXPECT_EQ(rows[0].requests, 2u);
  EXPECT_EQ(rows[1].seen, "server");
  EndpointTable::Format format;
  format.sort = "requests";
  const std::string json = table.RenderJson(now, format);
  EXPECT_THAT(json, HasSubstr("\"exchanges\":3,\"lost\":0,\"sort\":\"requests\""));
  EXPECT_THAT(json, HasSubstr("{\"method\":\"GET\",\"route\":\"/a\",\"seen\":\"both ends\","
                              "\"requests\":2,"));
  EXPECT_THAT(json, HasSubstr("\"errors\":1,\"p50_us\":10,"));
  EXPECT_EQ(json.back(), '\n');
  EXPECT_EQ(json.find('\n'), json.size() - 1);
}

}  // namespace
}  // namespace httptrace::cli
