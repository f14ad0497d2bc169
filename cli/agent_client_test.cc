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

}  // namespace
}  // namespace httptrace::cli
