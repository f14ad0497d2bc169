#include "agent/protocols/grpc/message_reader.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace httptrace::protocols::grpc {
namespace {

std::string Prefixed(absl::string_view payload, bool compressed = false) {
  const uint32_t n = payload.size();
  return std::string{static_cast<char>(compressed ? 1 : 0), static_cast<char>(n >> 24),
                     static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n)} +
         std::string(payload);
}

TEST(MessageReaderTest, MessagesAcrossAnySplit) {
  const std::string stream =
      Prefixed("first") + Prefixed("") + Prefixed(std::string(3000, 'x'), true) + Prefixed("z");
  std::mt19937 rng(3);
  for (int round = 0; round < 100; ++round) {
    MessageReader reader(1 << 20, 100);
    size_t at = 0;
    while (at < stream.size()) {
      const size_t n = round == 0 ? 1 : std::uniform_int_distribution<size_t>(1, 700)(rng);
      reader.Feed(absl::string_view(stream).substr(at, n));
      at += n;
    }
    reader.Finish();
    ASSERT_EQ(reader.count(), 4u);
    ASSERT_EQ(reader.messages().size(), 4u);
    EXPECT_EQ(reader.messages()[0].data, "first");
    EXPECT_TRUE(reader.messages()[1].complete);
    EXPECT_EQ(reader.messages()[1].size, 0u);
    EXPECT_TRUE(reader.messages()[2].compressed);
    EXPECT_EQ(reader.messages()[2].size, 3000u);
    EXPECT_EQ(reader.messages()[3].data, "z");
    EXPECT_FALSE(reader.ends_mid_message());
    EXPECT_FALSE(reader.framing_lost());
  }
}

TEST(MessageReaderTest, BudgetKeepsPrefixesButCountsAll) {
  MessageReader reader(/*max_kept_bytes=*/10, /*max_kept_messages=*/2);
  reader.Feed(Prefixed("0123456789abcdef") + Prefixed("more") + Prefixed("again"));
  EXPECT_EQ(reader.count(), 3u);
  ASSERT_EQ(reader.messages().size(), 2u);
  EXPECT_EQ(reader.messages()[0].data, "0123456789");
  EXPECT_EQ(reader.messages()[0].size, 16u);
  EXPECT_TRUE(reader.messages()[0].complete);
  EXPECT_EQ(reader.messages()[1].data, "");
  EXPECT_EQ(reader.messages()[1].size, 4u);
}

TEST(MessageReaderTest, GapInsidePayloadKeepsFramingGapInPrefixLosesIt) {
  MessageReader reader(1 << 20, 100);
  const std::string s = Prefixed("abcdefgh") + Prefixed("next");
  reader.Feed(s.substr(0, 7));  // prefix + "ab"
  reader.OnMissing(3);          // "cde"
  reader.Feed(s.substr(10));
  ASSERT_EQ(reader.count(), 2u);
  EXPECT_EQ(reader.messages()[0].data, "abfgh");
  EXPECT_EQ(reader.messages()[0].missing_bytes, 3u);
  EXPECT_TRUE(reader.messages()[0].complete);
  EXPECT_EQ(reader.messages()[1].data, "next");

  MessageReader lost(1 << 20, 100);
  lost.Feed(s.substr(0, 2));
  lost.OnMissing(4);
  lost.Feed(s.substr(6));
  EXPECT_TRUE(lost.framing_lost());
  EXPECT_EQ(lost.count(), 0u);
  EXPECT_EQ(lost.unread_bytes(), 2u + 4u + (s.size() - 6));
}

TEST(MessageReaderTest, InvalidFlagStopsReading) {
  MessageReader reader(1 << 20, 100);
  reader.Feed("\x07garbage that is not grpc");
  EXPECT_TRUE(reader.framing_lost());
  EXPECT_EQ(reader.count(), 0u);
}

TEST(MessageReaderTest, CutShortAtFinish) {
  MessageReader reader(1 << 20, 100);
  reader.Feed(Prefixed("abcdef").substr(0, 8));
  reader.Finish();
  EXPECT_TRUE(reader.ends_mid_message());
  ASSERT_EQ(reader.messages().size(), 1u);
  EXPECT_FALSE(reader.messages()[0].complete);
}

}  // namespace
}  // namespace httptrace::protocols::grpc
