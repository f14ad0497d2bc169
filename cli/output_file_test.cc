#include "cli/output_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gtest/gtest.h"

namespace httptrace::cli {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OutputFile, CreatesWith0640AndAppendsAcrossOpens) {
  const std::string path = testing::TempDir() + "/trace_append.txt";
  std::filesystem::remove(path);
  {
    auto out = OutputFile::Open(path);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(out->was_empty());
    ASSERT_TRUE(out->Write("first\n").ok());
  }  // closing flushes
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  {
    auto out = OutputFile::Open(path);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out->was_empty());
    ASSERT_TRUE(out->Write("second\n").ok());
  }
  EXPECT_EQ(Slurp(path), "first\nsecond\n");
}

TEST(OutputFile, BufferedBytesReachTheFileWithinTheFlushPeriodWithoutAnExplicitFlush) {
  const std::string path = testing::TempDir() + "/trace_live.txt";
  std::filesystem::remove(path);
  auto out = OutputFile::Open(path);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->Write("event 1\n", 1).ok());
  for (int i = 0; i < 100 && Slurp(path).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Slurp(path), "event 1\n");
  EXPECT_EQ(out->durable_mark(), 1u);
}

TEST(OutputFile, FullDiskIsReportedWithTheFileNameAndNothingIsMarkedDurable) {
  // /dev/full fails every write with ENOSPC, as a full disk does.
  auto out = OutputFile::Open("/dev/full");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->Write("data", 7).ok());  // buffered
  const absl::Status status = out->Flush();
  EXPECT_EQ(out->durable_mark(), 0u);
  EXPECT_FALSE(out->Write("more", 8).ok());
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("writing /dev/full"), std::string::npos) << status;
  EXPECT_NE(status.message().find("No space left"), std::string::npos) << status;
}

TEST(OutputFile, FullDiskFoundByTheBackgroundFlushIsReportedWithoutAnotherWrite) {
  // Found by test/stress: the ctl wrote one exchange to /dev/full, the flusher failed, and with
  // no further event to Write nobody learned of it: the ctl waited forever.
  auto out = OutputFile::Open("/dev/full");
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->Write("data", 1).ok());  // buffered
  for (int i = 0; i < 100 && out->status().ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the flusher runs every 200 ms
  }
  EXPECT_NE(out->status().message().find("No space left"), std::string::npos) << out->status();
  EXPECT_EQ(out->durable_mark(), 0u);
}

TEST(OutputFile, UnopenablePathNamesTheProblem) {
  auto out = OutputFile::Open("/nonexistent-dir/trace.txt");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("opening /nonexistent-dir/trace.txt"), std::string::npos);
}

}  // namespace
}  // namespace httptrace::cli
