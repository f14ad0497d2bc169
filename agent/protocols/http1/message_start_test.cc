// Tests of start-line recognition: what counts as a request or status line, partial lines kept
// for the next chunk, and bytes that can be discarded.

#include "agent/protocols/http1/message_start.h"

#include "gtest/gtest.h"

namespace httptrace::protocols::http1 {
namespace {

constexpr size_t kMaxLine = 8192;

TEST(FindMessageStartTest, FindsRequestLineAfterJunk) {
  StartScan s =
      FindMessageStart("junk\r\nGET /x?y=1 HTTP/1.1\r\nHost: h\r\n", true, false, kMaxLine);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.offset, 6u);
  EXPECT_EQ(s.kind, StartKind::kRequest);
}

TEST(FindMessageStartTest, FindsStatusLineWithAndWithoutReason) {
  StartScan s = FindMessageStart("xxHTTP/1.0 204\r\n", false, true, kMaxLine);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.offset, 2u);
  EXPECT_EQ(s.kind, StartKind::kResponse);
  EXPECT_TRUE(FindMessageStart("HTTP/1.1 404 Not Found\n", false, true, kMaxLine).found);
}

TEST(FindMessageStartTest, RejectsLookalikes) {
  EXPECT_FALSE(FindMessageStart("GETX / HTTP/1.1\r\n", true, true, kMaxLine).found);
  EXPECT_FALSE(FindMessageStart("GET  HTTP/1.1\r\n", true, true, kMaxLine).found);
  EXPECT_FALSE(FindMessageStart("GET / HTTP/x.1\r\n", true, true, kMaxLine).found);
  EXPECT_FALSE(FindMessageStart("GET / HTTP/11\r\n", true, true, kMaxLine).found);
  EXPECT_FALSE(FindMessageStart("HTTP/1.1 20x OK\r\n", true, true, kMaxLine).found);
  EXPECT_FALSE(FindMessageStart("the HTTP/1.1 word\r\n", false, true, kMaxLine).found);
  // A response is not a request.
  EXPECT_FALSE(FindMessageStart("HTTP/1.1 200 OK\r\n", true, false, kMaxLine).found);
}

// As llhttp reads them: request lines of HTTP/0.9 and 2.0 too (any d.d, as libhttp-parser).
TEST(FindMessageStartTest, TakesAnyOneDigitVersion) {
  for (const char* line : {"GET / HTTP/2.0\r\n", "GET / HTTP/0.9\r\n", "HTTP/1.2 200 OK\r\n"}) {
    EXPECT_TRUE(FindMessageStart(line, true, true, kMaxLine).found) << line;
  }
}

// methods.txt: IANA's registry beyond libhttp-parser's list, and empty lines before a start.
TEST(FindMessageStartTest, KnowsEveryListedMethodAfterEmptyLines) {
  for (const char* line : {"QUERY /q HTTP/1.1\r\n", "UPDATEREDIRECTREF /r HTTP/1.1\r\n",
                           "VERSION-CONTROL /v HTTP/1.1\r\n"}) {
    EXPECT_TRUE(FindMessageStart(line, true, false, kMaxLine).found) << line;
  }
  StartScan s = FindMessageStart("\r\n\r\nQUERY /q HTTP/1.1\r\n", true, false, kMaxLine);
  ASSERT_TRUE(s.found);
  EXPECT_EQ(s.offset, 4u);
}

TEST(FindMessageStartTest, KnowsLessCommonMethods) {
  for (const char* line : {"M-SEARCH * HTTP/1.1\r\n", "PROPFIND /d HTTP/1.1\r\n",
                           "PATCH /p HTTP/1.1\r\n", "CONNECT h:443 HTTP/1.1\r\n"}) {
    EXPECT_TRUE(FindMessageStart(line, true, false, kMaxLine).found) << line;
  }
}

TEST(FindMessageStartTest, KeepsAPartialLineForTheNextChunk) {
  StartScan s = FindMessageStart("body bytes... GET /inco", true, false, kMaxLine);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.keep_from, 14u);
  s = FindMessageStart("tail HT", false, true, kMaxLine);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.keep_from, 5u);
  s = FindMessageStart("no start here", true, true, kMaxLine);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.keep_from, 13u);
}

TEST(FindMessageStartTest, OverlongLineIsNotAStart) {
  std::string line = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n";
  EXPECT_FALSE(FindMessageStart(line, true, false, 50).found);
  EXPECT_TRUE(FindMessageStart(line, true, false, 200).found);
}

}  // namespace
}  // namespace httptrace::protocols::http1
