// Attach-mode resolution and the errors for a kernel without BTF or a tracefs that is missing
// and may not be mounted. Kernel-free except where it reads this machine's /sys (root only).

#include "agent/capture/probe_environment.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/testing/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::capture {
namespace {

using ::testing::HasSubstr;

std::string TempDir() { return httptrace::test_support::MakeScratchDir("probe_environment"); }

TEST(ProbeEnvironmentTest, MissingBtfIsAFailedPreconditionNamingTheConfig) {
  const absl::Status s = CheckKernelSupport("/nonexistent/btf/vmlinux");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("CONFIG_DEBUG_INFO_BTF"));
}

TEST(ProbeEnvironmentTest, FindsTracefsWithSyscallEvents) {
  const std::string dir = TempDir() + "/fake_tracefs";
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/events").c_str(), 0755);
  mkdir((dir + "/events/syscalls").c_str(), 0755);
  std::ofstream(dir + "/events/syscalls/sys_enter_write");
  auto found = FindOrMountTracefs(false, {"/nonexistent/tracing", dir});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, dir);
}

TEST(ProbeEnvironmentTest, MissingTracefsWithoutMountPermissionIsAClearError) {
  auto found = FindOrMountTracefs(false, {"/nonexistent/a", "/nonexistent/b"});
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(found.status().message(), HasSubstr("not mounted"));
  EXPECT_THAT(found.status().message(), HasSubstr("/nonexistent/a"));
}

TEST(ProbeEnvironmentTest, TracefsThatCannotBeMountedNamesTheTargetAndErrno) {
  auto found = FindOrMountTracefs(true, {"/nonexistent/tracing"});
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), HasSubstr("mounting it on /nonexistent/tracing failed"));
}

TEST(ProbeEnvironmentTest, TracefsWithoutSyscallEventsIsReported) {
  const std::string dir = TempDir() + "/tracefs_no_syscalls";
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/events").c_str(), 0755);
  auto found = FindOrMountTracefs(true, {dir});
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(found.status().message(), HasSubstr("CONFIG_FTRACE_SYSCALLS"));
}

TEST(ProbeEnvironmentTest, RawTracepointsNeedNoTracefs) {
  auto mode = ResolveAttachMode(AttachMode::kRawTracepoints, false);
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(mode->mode, AttachMode::kRawTracepoints);
  EXPECT_EQ(AttachModeName(mode->mode), "raw_tracepoints");
}

TEST(ProbeEnvironmentTest, AutoPicksRawTracepointsOnX86) {
  auto mode = ResolveAttachMode(AttachMode::kAuto, false);
  ASSERT_TRUE(mode.ok()) << mode.status();
#if defined(__x86_64__)
  EXPECT_EQ(mode->mode, AttachMode::kRawTracepoints) << mode->detail;
#else
  EXPECT_EQ(mode->mode, AttachMode::kTracepoints) << mode->detail;
#endif
}

TEST(ProbeEnvironmentTest, TracepointsResolveWhereTracefsIsOrCanBeMounted) {
  HT_SKIP_UNLESS_CAPABLE(httptrace::test_support::RootAbsentReason("mounting tracefs"));
  auto mode = ResolveAttachMode(AttachMode::kTracepoints, true);
  ASSERT_TRUE(mode.ok()) << mode.status();
  EXPECT_EQ(mode->mode, AttachMode::kTracepoints) << mode->detail;
  EXPECT_TRUE(CheckKernelSupport().ok());
}

}  // namespace
}  // namespace httptrace::capture
