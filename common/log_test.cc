#include "common/log.h"

#include "gtest/gtest.h"

namespace httptrace {
namespace {

TEST(ParseLogLevel, AcceptsKnownNamesInAnyCase) {
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("Warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
}

TEST(ParseLogLevel, RejectsUnknownNameWithAHelpfulMessage) {
  const auto level = ParseLogLevel("verbose");
  ASSERT_FALSE(level.ok());
  EXPECT_NE(level.status().message().find("debug, info, warning or error"), std::string::npos);
}

TEST(LogEnabled, FollowsTheProcessLevel) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
}

TEST(LogMessage, WritesOneLineWithLevelAndLocation) {
  testing::internal::CaptureStderr();
  HT_LOG(WARNING) << "ring buffer " << 3 << " full";
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(" W log_test.cc:"), std::string::npos) << out;
  EXPECT_NE(out.find("] ring buffer 3 full\n"), std::string::npos) << out;
}

TEST(LogEveryNSec, SecondMessageWithinThePeriodIsSuppressed) {
  testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) {
    HT_LOG_EVERY_N_SEC(INFO, 60) << "repeated condition " << i;
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("repeated condition 0"), std::string::npos);
  EXPECT_EQ(out.find("repeated condition 1"), std::string::npos);
}

}  // namespace
}  // namespace httptrace
