#include "common/testing/test_support.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>

#include "gtest/gtest-spi.h"

namespace httptrace::test_support {
namespace {

TEST(MakeScratchDirTest, MakesDistinctEmptyDirectoriesUnderTestTmpdir) {
  const std::string a = MakeScratchDir("alpha");
  const std::string b = MakeScratchDir("alpha");
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::filesystem::is_directory(a));
  EXPECT_TRUE(std::filesystem::is_empty(a));
  const char* tmpdir = ::getenv("TEST_TMPDIR");
  ASSERT_NE(tmpdir, nullptr) << "run under bazel test";
  EXPECT_EQ(a.rfind(tmpdir, 0), 0u) << a;
  EXPECT_NE(a.find("alpha."), std::string::npos) << a;
}

TEST(MakeSocketDirTest, LeavesRoomForASocketNameInSunPath) {
  const std::string dir = MakeSocketDir("a-rather-long-socket-dir-prefix");
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_LT(dir.size() + 32, sizeof(sockaddr_un::sun_path)) << dir;
  std::filesystem::remove(dir);
}

void SkipUnless(const std::string& reason) { HT_SKIP_UNLESS_CAPABLE(reason); }

TEST(SkipRuleTest, AMissingCapabilityFailsWhereCapabilitiesAreRequired) {
  ::setenv("HTTPTRACE_REQUIRE_CAPABILITIES", "1", 1);
  EXPECT_TRUE(CapabilitiesRequired());
  EXPECT_FATAL_FAILURE(SkipUnless("no frobnicator here"), "no frobnicator here");
  ::unsetenv("HTTPTRACE_REQUIRE_CAPABILITIES");
  EXPECT_FALSE(CapabilitiesRequired());
}

TEST(SkipRuleTest, NoReasonRunsTheTest) {
  ::setenv("HTTPTRACE_REQUIRE_CAPABILITIES", "1", 1);
  bool ran_on = false;
  [&] {
    HT_SKIP_UNLESS_CAPABLE(std::string());
    ran_on = true;
  }();
  ::unsetenv("HTTPTRACE_REQUIRE_CAPABILITIES");
  EXPECT_TRUE(ran_on);
  EXPECT_FALSE(::testing::Test::IsSkipped());
}

TEST(RootAbsentReasonTest, IsEmptyOnlyForRoot) {
  EXPECT_EQ(RootAbsentReason("x").empty(), ::geteuid() == 0);
}

}  // namespace
}  // namespace httptrace::test_support
