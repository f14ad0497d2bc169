#include "cli/agent_client.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

using ::testing::Contains;

TEST(ResolveAgentsDnsTest, ResolvesEveryAddressOfTheName) {
  auto addresses = ResolveAgentsDns("localhost:7443");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, Contains("127.0.0.1:7443"));
}

TEST(ResolveAgentsDnsTest, NumericAddressesResolveToThemselvesIpv6Bracketed) {
  auto v4 = ResolveAgentsDns("127.0.0.2:1");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(*v4, std::vector<std::string>{"127.0.0.2:1"});
  auto v6 = ResolveAgentsDns("[::1]:7443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(*v6, std::vector<std::string>{"[::1]:7443"});
}

TEST(ResolveAgentsDnsTest, RejectsMissingPortAndUnknownNames) {
  EXPECT_EQ(ResolveAgentsDns("localhost").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveAgentsDns("localhost:").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveAgentsDns("no-such-host.invalid:1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AgentDirectoryTest, AddressesThenEveryResolvedAddressOnceWithTheNameToCheck) {
  // A resolver whose answers change between calls, as DNS does when nodes join.
  std::vector<std::vector<std::string>> answers = {{"127.0.0.2:7443"},
                                                   {"127.0.0.2:7443", "127.0.0.3:7443"}};
  size_t calls = 0;
  AgentDirectory directory(
      {"127.0.0.1:7443", "127.0.0.2:7443"}, {"httptrace.httptrace.svc:7443"}, ClientTls{},
      [&](absl::string_view name_port) -> absl::StatusOr<std::vector<std::string>> {
        EXPECT_EQ(name_port, "httptrace.httptrace.svc:7443");
        return answers[std::min(calls++, answers.size() - 1)];
      });
  EXPECT_TRUE(directory.has_dns_names());
  auto first = directory.Resolve();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].address, "127.0.0.1:7443");
  EXPECT_EQ((*first)[0].server_name, "");
  EXPECT_EQ((*first)[1].address, "127.0.0.2:7443");  // given and resolved: once
  auto second = directory.Resolve();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 3u);
  EXPECT_EQ((*second)[2].address, "127.0.0.3:7443");
  EXPECT_EQ((*second)[2].server_name, "httptrace.httptrace.svc");
}

TEST(AgentDirectoryTest, ResolverErrorsAndTheServerNameOverride) {
  ClientTls tls;
  tls.server_name = "agents.example";
  AgentDirectory failing({}, {"x:1"}, tls, [](absl::string_view) {
    return absl::StatusOr<std::vector<std::string>>(absl::NotFoundError("x: no such host"));
  });
  EXPECT_EQ(failing.Resolve().status().code(), absl::StatusCode::kNotFound);
  AgentDirectory named({}, {"[::1]:7443"}, tls, ResolveAgentsDns);
  auto resolved = named.Resolve();
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ((*resolved)[0].address, "[::1]:7443");
  EXPECT_EQ((*resolved)[0].server_name, "agents.example");
}

}  // namespace
}  // namespace httptrace::cli
