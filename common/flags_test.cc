#include "common/flags.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace httptrace
