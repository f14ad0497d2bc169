#include "common/protowire/raw_message.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protowire {
namespace {

// Hand-encoded wire bytes (the encoder under test is protobuf's own; these check our use).
TEST(DecodeRawMessageTest, RendersLikeProtocDecodeRaw) {
  // 1: 150 (varint), 2: "testing", 3 { 1: 1 }, 4: fixed64, 5: fixed32.
  const std::string bytes = std::string("\x08\x96\x01", 3) + "\x12\x07testing" +
                            std::string("\x1a\x02\x08\x01", 4) +
                            std::string("\x21\x00\x00\x00\x00\x00\x00\xf0\x3f", 9) +
                            std::string("\x2d\x00\x00\x80\x3f", 5);
  absl::StatusOr<std::string> text = DecodeRawMessage(bytes);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "1: 150\n2: \"testing\"\n3 {\n  1: 1\n}\n4: 0x3ff0000000000000\n5: 0x3f800000\n");
}

TEST(DecodeRawMessageTest, BinaryStringsAreEscaped) {
  const std::string bytes = std::string("\x0a\x03\xff\x00\x01", 5);
  absl::StatusOr<std::string> text = DecodeRawMessage(bytes);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "1: \"\\377\\000\\001\"\n");
}

TEST(DecodeRawMessageTest, CutMessageShowsFieldsBeforeTheCut) {
  const std::string bytes = std::string("\x08\x01", 2) + "\x12\x10only-part";
  absl::StatusOr<std::string> text = DecodeRawMessage(bytes);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "1: 1\n# 11 bytes not decoded\n");
}

TEST(DecodeRawMessageTest, NotAMessageIsAnError) {
  EXPECT_FALSE(DecodeRawMessage("\xff\xff\xff").ok());
  absl::StatusOr<std::string> empty = DecodeRawMessage("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(DecodeRawMessageTest, OutputIsBounded) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes += std::string("\x08\x96\x01", 3);
  RawDecodeOptions options;
  options.max_output_bytes = 100;
  absl::StatusOr<std::string> text = DecodeRawMessage(bytes, options);
  ASSERT_TRUE(text.ok());
  EXPECT_LT(text->size(), 160u);
  EXPECT_THAT(*text, ::testing::HasSubstr("more bytes of text not shown"));
}

}  // namespace
}  // namespace httptrace::protowire
