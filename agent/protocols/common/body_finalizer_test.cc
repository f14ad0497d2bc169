// The body's end as every engine does it: notes for what was not captured, and decoding with
// notes that give the encoded bytes the decoded data came from.

#include "agent/protocols/common/body_finalizer.h"

#include <string>
#include <vector>

#include "agent/protocols/common/compression_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protocols {
namespace {

using ::httptrace::protocols::testing::Compress;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Random-looking text compresses poorly, so a prefix of its gzip stream is a real prefix.
std::string Text(size_t size) {
  std::string text;
  uint32_t x = 12345;
  while (text.size() < size) {
    x = x * 1103515245u + 12345u;
    text.push_back(static_cast<char>('a' + (x >> 16) % 26));
  }
  return text;
}

struct Finalized {
  Body body;
  std::vector<std::string> notes;
  uint64_t decoded = 0, errors = 0;
};

Finalized Finalize(Body body, absl::string_view coding, EngineOptions options = {}) {
  Finalized f{std::move(body)};
  FinalizeBody(f.body, coding, "response", options, {f.decoded, f.errors}, f.notes);
  return f;
}

TEST(FinalizeBodyTest, AWholeGzipBodyIsDecodedToItsTrueSize) {
  const std::string text = Text(3000);
  const std::string encoded = Compress(text, true);
  Finalized f = Finalize({.data = encoded, .size = encoded.size()}, "gzip");
  EXPECT_EQ(f.body.data, text);
  EXPECT_EQ(f.body.size, text.size());
  EXPECT_EQ(f.body.encoded_size, encoded.size());
  EXPECT_EQ(f.body.decoded_from, "gzip");
  EXPECT_FALSE(f.body.truncated);
  EXPECT_THAT(f.notes, IsEmpty());
  EXPECT_EQ(f.decoded, 1u);
}

TEST(FinalizeBodyTest, ABodyCutAtTheLimitSaysHowManyEncodedBytesItWasDecodedFrom) {
  // The engine kept the first 1000 encoded bytes of a longer body (max_body_bytes): the note
  // gives those 1000 — not the size of what they decoded to.
  const std::string encoded = Compress(Text(20000), true);
  ASSERT_GT(encoded.size(), 2000u);
  Finalized f = Finalize({.data = encoded.substr(0, 1000), .size = encoded.size()}, "gzip");
  EXPECT_TRUE(f.body.truncated);
  EXPECT_EQ(f.body.size, encoded.size()) << "the size stays the encoded size";
  ASSERT_GT(f.body.data.size(), 1000u) << "1000 gzip bytes of random letters decode to more";
  EXPECT_THAT(f.notes, ElementsAre("response body: decoded from the first 1000 of " +
                                   std::to_string(encoded.size()) +
                                   " encoded bytes only; size is the encoded size"));
}

TEST(FinalizeBodyTest, BytesNeverCapturedAreNotedApartFromBytesSentFromAFile) {
  Finalized f = Finalize({.data = "abc", .size = 100, .missing_bytes = 97, .file_bytes = 90}, "");
  EXPECT_TRUE(f.body.truncated);
  EXPECT_THAT(f.notes, ElementsAre("response body: 90 bytes sent from a file, not captured",
                                   "response body: 7 of 100 bytes not captured"));
}

TEST(FinalizeBodyTest, DataThatIsNotGzipIsKeptAsSentAndCounted) {
  Finalized f = Finalize({.data = "plain text", .size = 10}, "gzip");
  EXPECT_EQ(f.body.data, "plain text");
  EXPECT_EQ(f.body.decoded_from, "");
  EXPECT_EQ(f.errors, 1u);
  EXPECT_THAT(f.notes, ElementsAre("response body: not valid gzip data; kept as sent"));
}

TEST(FinalizeBodyTest, DecodingIsOffWhenTheOptionSaysSo) {
  const std::string encoded = Compress("hello", true);
  EngineOptions options;
  options.decode_content_encoding = false;
  Finalized f = Finalize({.data = encoded, .size = encoded.size()}, "gzip", options);
  EXPECT_EQ(f.body.data, encoded);
  EXPECT_EQ(f.decoded, 0u);
}

}  // namespace
}  // namespace httptrace::protocols
