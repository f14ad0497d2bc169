#include "common/protowire/raw_message.h"

#include <cstdio>
#include <random>
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

// What protoc itself prints for `bytes` (protoc is the build's proto compiler, always here).
std::string ProtocDecodeRaw(const std::string& bytes) {
  const std::string dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string in = dir + "/raw_message_input.bin";
  FILE* f = fopen(in.c_str(), "wb");
  fwrite(bytes.data(), 1, bytes.size(), f);
  fclose(f);
  FILE* p = popen(("/usr/bin/protoc --decode_raw < " + in + " 2>/dev/null").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// A random well-formed message: varints, fixed32/64, strings (text and binary), nested messages.
std::string RandomMessage(std::mt19937& rng, int depth) {
  std::string out;
  const int fields = std::uniform_int_distribution<int>(1, 6)(rng);
  for (int i = 0; i < fields; ++i) {
    const uint32_t number = std::uniform_int_distribution<uint32_t>(1, 300)(rng);
    const int kind = std::uniform_int_distribution<int>(0, depth > 0 ? 4 : 3)(rng);
    const auto varint = [&](uint64_t v) {
      while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
      }
      out.push_back(static_cast<char>(v));
    };
    const uint32_t wire_type[] = {0, 1, 2, 5, 2};
    varint((number << 3) | wire_type[kind]);
    switch (kind) {
      case 0:
        varint(std::uniform_int_distribution<uint64_t>()(rng) >> (rng() % 64));
        break;
      case 1:
        for (int b = 0; b < 8; ++b) out.push_back(static_cast<char>(rng()));
        break;
      case 2: {
        std::string s;
        const int len = std::uniform_int_distribution<int>(0, 20)(rng);
        for (int b = 0; b < len; ++b) {
          s.push_back(static_cast<char>(rng() % 2 ? 'a' + rng() % 26 : rng()));
        }
        varint(s.size());
        out += s;
        break;
      }
      case 3:
        for (int b = 0; b < 4; ++b) out.push_back(static_cast<char>(rng()));
        break;
      case 4: {
        const std::string nested = RandomMessage(rng, depth - 1);
        varint(nested.size());
        out += nested;
        break;
      }
    }
  }
  return out;
}

TEST(DecodeRawMessageTest, SameTextAsProtocDecodeRaw) {
  std::mt19937 rng(11);
  for (int i = 0; i < 40; ++i) {
    const std::string bytes = RandomMessage(rng, 3);
    absl::StatusOr<std::string> text = DecodeRawMessage(bytes);
    ASSERT_TRUE(text.ok()) << i;
    EXPECT_EQ(*text, ProtocDecodeRaw(bytes)) << "message " << i;
  }
}

}  // namespace
}  // namespace httptrace::protowire
