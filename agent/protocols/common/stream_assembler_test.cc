// Tests of positioned-chunk reassembly: in order, early chunks held and released, overlaps
// trimmed, known tails reported as gaps, and a full window turning a hole into a gap.

#include "agent/protocols/common/stream_assembler.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace httptrace::protocols {
namespace {

// Records the delivered stream as text: bytes as is, gaps as "<gap N>".
class Recorder : public StreamAssembler::Sink {
 public:
  void OnBytes(absl::string_view data, uint64_t) override { out.append(data.data(), data.size()); }
  void OnGap(uint64_t bytes, uint64_t) override { absl::StrAppend(&out, "<gap ", bytes, ">"); }
  std::string out;
};

TEST(StreamAssemblerTest, InOrderAndKnownTailGap) {
  StreamAssembler a(4, 1024);
  Recorder r;
  a.Add(0, "abc", 3, 1, r);
  a.Add(3, "de", 5, 1, r);  // the kernel copied 2 of 5 bytes
  a.Add(8, "xyz", 3, 1, r);
  EXPECT_EQ(r.out, "abcde<gap 3>xyz");
  EXPECT_EQ(a.next_position(), 11u);
}

TEST(StreamAssemblerTest, EarlyChunksWaitForTheirTurn) {
  StreamAssembler a(4, 1024);
  Recorder r;
  a.Add(6, "ghi", 3, 1, r);
  a.Add(3, "def", 3, 1, r);
  EXPECT_EQ(r.out, "");
  a.Add(0, "abc", 3, 1, r);
  EXPECT_EQ(r.out, "abcdefghi");
  EXPECT_EQ(a.stats().held_chunks, 2u);
  EXPECT_EQ(a.held_bytes(), 0u);
}

TEST(StreamAssemblerTest, OverlapsAndDuplicatesAreTrimmed) {
  StreamAssembler a(4, 1024);
  Recorder r;
  a.Add(0, "abcd", 4, 1, r);
  a.Add(2, "cdef", 4, 1, r);
  a.Add(0, "ab", 2, 1, r);
  EXPECT_EQ(r.out, "abcdef");
  EXPECT_EQ(a.stats().stale_chunks, 1u);
  EXPECT_EQ(a.stats().overlap_bytes, 2u);
}

TEST(StreamAssemblerTest, FullWindowDeclaresTheHoleAGap) {
  StreamAssembler a(2, 1024);
  Recorder r;
  a.Add(0, "ab", 2, 1, r);
  a.Add(5, "fg", 2, 1, r);
  a.Add(7, "hi", 2, 1, r);
  EXPECT_EQ(r.out, "ab");
  a.Add(9, "jk", 2, 1, r);  // third held chunk: the hole [2, 5) is given up
  EXPECT_EQ(r.out, "ab<gap 3>fghijk");
  EXPECT_EQ(a.stats().window_overflows, 1u);
}

TEST(StreamAssemblerTest, ByteWindowAlsoBounds) {
  StreamAssembler a(100, 4);
  Recorder r;
  a.Add(10, "abcdef", 6, 1, r);  // larger than the byte window: released at once
  EXPECT_EQ(r.out, "<gap 10>abcdef");
}

TEST(StreamAssemblerTest, FlushReleasesHeldChunksWithGaps) {
  StreamAssembler a(8, 1024);
  Recorder r;
  a.Add(0, "a", 1, 1, r);
  a.Add(3, "d", 1, 1, r);
  a.Flush(r);
  EXPECT_EQ(r.out, "a<gap 2>d");
}

TEST(StreamAssemblerTest, UnknownOriginStartsAtFirstChunk) {
  StreamAssembler a(8, 1024, /*origin_zero=*/false);
  Recorder r;
  a.Add(1000, "mid", 3, 1, r);
  EXPECT_EQ(r.out, "mid");
}

}  // namespace
}  // namespace httptrace::protocols
