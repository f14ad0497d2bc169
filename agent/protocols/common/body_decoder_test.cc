// Tests of bounded gzip/deflate decoding: whole bodies, prefixes, bad data, and a compression
// bomb that must not be inflated beyond the work bound.

#include "agent/protocols/common/body_decoder.h"

#include "agent/protocols/common/compression_testing.h"
#include "gtest/gtest.h"

namespace httptrace::protocols {
namespace {

using ::httptrace::protocols::testing::Compress;

TEST(ContentCodingTest, ParsesNames) {
  EXPECT_EQ(ParseContentCoding(" GZIP "), ContentCoding::kGzip);
  EXPECT_EQ(ParseContentCoding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(ParseContentCoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(ParseContentCoding("br"), ContentCoding::kIdentity);
  EXPECT_EQ(ParseContentCoding("gzip, br"), ContentCoding::kIdentity);
}

TEST(DecodeBodyTest, DecodesWholeGzip) {
  std::string text = "hello, compressed world";
  auto r = DecodeBody(Compress(text, true), ContentCoding::kGzip, 1024, 1 << 20);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->data, text);
  EXPECT_EQ(r->decoded_size, text.size());
  EXPECT_TRUE(r->stream_end);
}

TEST(DecodeBodyTest, DecodesZlibAndRawDeflate) {
  std::string text(500, 'q');
  auto zlib = DecodeBody(Compress(text, false), ContentCoding::kDeflate, 1024, 1 << 20);
  ASSERT_TRUE(zlib.ok());
  EXPECT_EQ(zlib->data, text);
  std::string wrapped = Compress(text, false);
  // Raw deflate: strip the 2-byte zlib header and 4-byte Adler-32 trailer.
  std::string raw = wrapped.substr(2, wrapped.size() - 6);
  auto r = DecodeBody(raw, ContentCoding::kDeflate, 1024, 1 << 20);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, text);
}

TEST(DecodeBodyTest, PrefixDecodesWhatItCan) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += std::to_string(i * 7919 % 10007);
  std::string gz = Compress(text, true);
  auto r = DecodeBody(gz.substr(0, gz.size() / 2), ContentCoding::kGzip, 1 << 20, 1 << 20);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->stream_end);
  EXPECT_GT(r->data.size(), 0u);
  EXPECT_EQ(text.compare(0, r->data.size(), r->data), 0);
}

TEST(DecodeBodyTest, InvalidDataIsAnError) {
  EXPECT_FALSE(DecodeBody("definitely not gzip", ContentCoding::kGzip, 1024, 1024).ok());
}

TEST(DecodeBodyTest, BombIsBoundedInKeptBytesAndWork) {
  std::string zeros(64 << 20, '\0');  // 64 MiB of zeros compresses to ~64 KiB
  std::string gz = Compress(zeros, true);
  auto r = DecodeBody(gz, ContentCoding::kGzip, 4096, 1 << 20);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data.size(), 4096u);
  EXPECT_TRUE(r->output_capped);
  EXPECT_LE(r->decoded_size, (1u << 20) + 16384u);
}

}  // namespace
}  // namespace httptrace::protocols
