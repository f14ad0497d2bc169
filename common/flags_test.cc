#include "common/flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, test_count, 1, "A number for the test.");
ABSL_FLAG(bool, test_verbose, false, "A switch for the test.");
ABSL_FLAG(std::vector<std::string>, test_list, {}, "A list for the test.");

namespace httptrace {
namespace {

std::vector<std::string> Normalize(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return NormalizeFlagNames(static_cast<int>(argv.size()), argv.data());
}

TEST(NormalizeFlagNames, DashesInFlagNamesBecomeUnderscores) {
  EXPECT_THAT(
      Normalize({"ctl", "--tls-cert=/a-b.pem", "--body-limit", "10", "-no-redact"}),
      testing::ElementsAre("ctl", "--tls_cert=/a-b.pem", "--body_limit", "10", "-no_redact"));
}

TEST(NormalizeFlagNames, PositionalArgumentsAndValuesAfterTerminatorStayAsTyped) {
  EXPECT_THAT(
      Normalize({"my-prog", "start", "--path-prefix=/x-y", "--", "--not-a-flag", "-"}),
      testing::ElementsAre("my-prog", "start", "--path_prefix=/x-y", "--", "--not-a-flag", "-"));
}

TEST(TryParseFlags, SetsFlagsInEveryFormAndKeepsPositionalOrder) {
  const auto positional = TryParseFlags(
      {"prog", "start", "--test_count", "5", "--test_verbose", "--test_list=a,b", "x"}, "u");
  ASSERT_TRUE(positional.ok()) << positional.status();
  EXPECT_THAT(*positional, testing::ElementsAre("prog", "start", "x"));
  EXPECT_EQ(absl::GetFlag(FLAGS_test_count), 5);
  EXPECT_TRUE(absl::GetFlag(FLAGS_test_verbose));
  EXPECT_THAT(absl::GetFlag(FLAGS_test_list), testing::ElementsAre("a", "b"));
  ASSERT_TRUE(TryParseFlags({"prog", "--notest_verbose"}, "u").ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_verbose));
  // Repeating a list flag accumulates; a new parse starts the list afresh.
  ASSERT_TRUE(TryParseFlags({"prog", "--test_list", "a", "--test_list=b,c"}, "u").ok());
  EXPECT_THAT(absl::GetFlag(FLAGS_test_list), testing::ElementsAre("a", "b", "c"));
  EXPECT_FALSE(absl::GetFlag(FLAGS_test_verbose));
}

TEST(TryParseFlags, UsageErrorsNameTheFlagInDashedForm) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"prog", "--bogus-flag"}, "unknown flag --bogus-flag"},
      {{"prog", "--test_count=abc"}, "--test-count=abc"},
      {{"prog", "--test_count"}, "--test-count needs a value"},
      {{"prog", "--notest_verbose=1"}, "takes no value"},
  };
  for (const auto& c : cases) {
    const auto result = TryParseFlags(c.args, "u");
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(result.status().message().find(c.message), std::string::npos) << result.status();
  }
}

TEST(TryParseFlags, HelpListsOwnFlagsDashedWithTheirText) {
  const auto result = TryParseFlags({"prog", "--help"}, "Usage: prog");
  ASSERT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string help(result.status().message());
  EXPECT_THAT(help, testing::StartsWith("Usage: prog"));
  EXPECT_THAT(help, testing::HasSubstr("--test-count=VALUE\n      A number for the test."));
  EXPECT_THAT(help, testing::Not(testing::HasSubstr("--flagfile")));
}

}  // namespace
}  // namespace httptrace
