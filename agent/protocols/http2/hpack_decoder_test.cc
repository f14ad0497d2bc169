// The HPACK decoder against libnghttp2's deflater (the reference encoder): random header lists,
// dynamic-table eviction and size updates, and a late join before every block.

#include "agent/protocols/http2/hpack_decoder.h"

#include <nghttp2/nghttp2.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/protocols/http2/huffman.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace httptrace::protocols::http2 {
namespace {

struct Field {
  std::string name;
  std::string value;
  bool never_index = false;
};
using Block = std::vector<Field>;

// Owns an nghttp2 deflater.
class Deflater {
 public:
  explicit Deflater(size_t max_table) { EXPECT_EQ(nghttp2_hd_deflate_new(&d_, max_table), 0); }
  ~Deflater() { nghttp2_hd_deflate_del(d_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::string Deflate(const Block& block) {
    std::vector<nghttp2_nv> nva;
    for (const Field& f : block) {
      nva.push_back(nghttp2_nv{
          reinterpret_cast<uint8_t*>(const_cast<char*>(f.name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(f.value.data())), f.name.size(),
          f.value.size(),
          static_cast<uint8_t>(f.never_index ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE)});
    }
    std::string out(nghttp2_hd_deflate_bound(d_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(d_, reinterpret_cast<uint8_t*>(out.data()), out.size(),
                                            nva.data(), nva.size());
    EXPECT_GE(n, 0);
    out.resize(n < 0 ? 0 : n);
    return out;
  }
  void ChangeTableSize(size_t size) {
    EXPECT_EQ(nghttp2_hd_deflate_change_table_size(d_, size), 0);
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

// Header lists that exercise every representation: static names and full matches, repeated
// (indexable) fields, fresh random ones (forcing eviction), large values, never-indexed fields.
class BlockGenerator {
 public:
  explicit BlockGenerator(uint32_t seed) : rng_(seed) {}

  Block Next() {
    Block block;
    const bool request = Pick(2) == 0;
    if (request) {
      block.push_back({":method", Pick(3) == 0 ? "POST" : "GET"});
      block.push_back({":scheme", "https"});
      block.push_back({":path", Pick(2) == 0 ? "/" : absl::StrCat("/items/", Pick(50))});
      block.push_back({":authority", absl::StrCat("host", Pick(3), ".example")});
    } else {
      static const char* kStatus[] = {"200", "204", "404", "500", "302"};
      block.push_back({":status", kStatus[Pick(5)]});
    }
    const int extra = Pick(8);
    for (int i = 0; i < extra; ++i) {
      switch (Pick(6)) {
        case 0:
          block.push_back({"user-agent", absl::StrCat("agent/", Pick(4))});
          break;
        case 1:
          block.push_back({absl::StrCat("x-reused-", Pick(6)), absl::StrCat("v", Pick(6))});
          break;
        case 2:
          block.push_back({absl::StrCat("x-fresh-", serial_++), RandomString(Pick(40))});
          break;
        case 3:
          block.push_back({"content-type", Pick(2) == 0 ? "application/grpc" : "text/html"});
          break;
        case 4:
          block.push_back({"authorization", RandomString(20), /*never_index=*/true});
          break;
        default:
          block.push_back({"x-big", RandomString(200 + Pick(600))});
          break;
      }
    }
    return block;
  }

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

 private:
  std::string RandomString(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(Pick(256)));
    return s;
  }

  std::mt19937 rng_;
  uint64_t serial_ = 0;
};

void ExpectExact(const Block& want, const std::vector<HpackHeader>& got, const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(got[i].name_known && got[i].value_known) << where << " header " << i;
    EXPECT_EQ(got[i].name, want[i].name) << where << " header " << i;
    EXPECT_EQ(got[i].value, want[i].value) << where << " header " << i;
  }
}

TEST(HuffmanTest, RoundTripsEveryByteAndRejectsBadPadding) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string decoded;
  ASSERT_TRUE(HuffmanDecode(HuffmanEncode(all), &decoded));
  EXPECT_EQ(decoded, all);
  // RFC 7541 C.4.1: "www.example.com".
  decoded.clear();
  ASSERT_TRUE(
      HuffmanDecode(std::string("\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff", 12), &decoded));
  EXPECT_EQ(decoded, "www.example.com");
  // Padding of zeros, and a full byte of padding, are errors.
  decoded.clear();
  EXPECT_FALSE(
      HuffmanDecode(std::string("\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\x00", 12), &decoded));
  decoded.clear();
  EXPECT_FALSE(HuffmanDecode(std::string("\xff\xff\xff\xff", 4), &decoded));  // EOS
}

TEST(HpackDecoderTest, DecodesRfcExampleC3Exactly) {
  // RFC 7541 C.3: three requests without Huffman, sharing the dynamic table.
  HpackDecoder decoder;
  std::vector<HpackHeader> h;
  ASSERT_TRUE(decoder
                  .Decode(std::string("\x82\x86\x84\x41\x0f\x77\x77\x77\x2e\x65\x78\x61\x6d\x70"
                                      "\x6c\x65\x2e\x63\x6f\x6d",
                                      20),
                          &h)
                  .ok());
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[3].name, ":authority");
  EXPECT_EQ(h[3].value, "www.example.com");
  EXPECT_EQ(decoder.table_size(), 57u);
  h.clear();
  ASSERT_TRUE(
      decoder
          .Decode(std::string("\x82\x86\x84\xbe\x58\x08\x6e\x6f\x2d\x63\x61\x63\x68\x65", 14), &h)
          .ok());
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h[3].value, "www.example.com");
  EXPECT_EQ(h[4].name, "cache-control");
  EXPECT_EQ(h[4].value, "no-cache");
  EXPECT_EQ(decoder.table_size(), 110u);
}

// From the connection's start every block decodes exactly, with the table evicting (small
// tables), growing and shrinking through size updates.
TEST(HpackDecoderTest, RandomListsAgainstNghttp2DeflaterAreExact) {
  for (size_t table : {4096u, 256u, 0u, 65536u}) {
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      BlockGenerator gen(seed * 7919 + table);
      Deflater deflater(65536);
      HpackDecoder decoder;
      if (table != 4096) deflater.ChangeTableSize(table);
      for (int i = 0; i < 300; ++i) {
        if (i == 150) deflater.ChangeTableSize(table == 0 ? 4096 : table / 2);
        const Block block = gen.Next();
        std::vector<HpackHeader> got;
        const std::string where = absl::StrCat("table ", table, " seed ", seed, " block ", i);
        ASSERT_TRUE(decoder.Decode(deflater.Deflate(block), &got).ok()) << where;
        ExpectExact(block, got, where);
        ASSERT_TRUE(decoder.synchronized());
        EXPECT_LE(decoder.table_size(), decoder.capacity()) << where;
      }
    }
  }
}

TEST(HpackDecoderTest, EvictionKeepsTableWithinCapacity) {
  Deflater deflater(65536);
  deflater.ChangeTableSize(128);
  HpackDecoder decoder;
  for (int i = 0; i < 50; ++i) {
    const Block block = {{":status", "200"},
                         {absl::StrCat("x-n-", i), std::string(40, 'a' + i % 26)}};
    std::vector<HpackHeader> got;
    ASSERT_TRUE(decoder.Decode(deflater.Deflate(block), &got).ok());
    ExpectExact(block, got, absl::StrCat("block ", i));
    EXPECT_EQ(decoder.capacity(), 128u);
    EXPECT_LE(decoder.table_size(), 128u);
    // Each entry is 32 + ~8 + 40 bytes: only one fits.
    EXPECT_EQ(decoder.known_entries(), 1u);
  }
}

// Joined before block `join` of a long conversation: every header read from a table entry
// inserted since the join is exact; one from an older entry is an explicit placeholder; no
// header is ever a wrong value. Checked at every join point, against a decoder that saw it all
// (which says which insertion each header came from).
TEST(HpackDecoderTest, LateJoinAtEveryBlockIsExactOrExplicit) {
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    BlockGenerator gen(seed);
    Deflater deflater(65536);
    std::vector<Block> blocks;
    std::vector<std::string> wire;
    const int kBlocks = 120;
    for (int i = 0; i < kBlocks; ++i) {
      if (i == 90) {
        // nghttp2 signals both: a size update to 0 (everything evicted) then to 1024.
        deflater.ChangeTableSize(0);
        deflater.ChangeTableSize(1024);
      }
      blocks.push_back(gen.Next());
      wire.push_back(deflater.Deflate(blocks.back()));
    }
    // The reference: which insertion every header came from, and how many came before a block.
    HpackDecoder reference;
    std::vector<std::vector<HpackHeader>> ref_headers(kBlocks);
    std::vector<uint64_t> insertions_before(kBlocks);
    for (int i = 0; i < kBlocks; ++i) {
      insertions_before[i] = reference.insertions();
      ASSERT_TRUE(reference.Decode(wire[i], &ref_headers[i]).ok());
    }
    uint64_t exact_from_new_entries = 0, placeholders_total = 0;
    for (int join = 0; join < kBlocks; ++join) {
      HpackDecoder joined;
      joined.MarkUnsynchronized();
      for (int i = join; i < kBlocks; ++i) {
        std::vector<HpackHeader> got;
        const std::string where = absl::StrCat("seed ", seed, " join ", join, " block ", i);
        {
          absl::Status st = joined.Decode(wire[i], &got);
          ASSERT_TRUE(st.ok()) << where << " " << st << " known " << joined.known_entries()
                               << " size " << joined.table_size();
        }
        ASSERT_EQ(got.size(), blocks[i].size()) << where;
        for (size_t k = 0; k < got.size(); ++k) {
          const HpackHeader& ref = ref_headers[i][k];
          const auto old = [&](uint64_t serial) {
            return serial != 0 && serial <= insertions_before[join];
          };
          if (got[k].name_known) {
            EXPECT_EQ(got[k].name, blocks[i][k].name) << where << " header " << k;
          } else {
            EXPECT_TRUE(old(ref.name_serial)) << where << " header " << k << " placeholder name";
            EXPECT_EQ(got[k].name, kUnknownHeaderName);
          }
          if (got[k].value_known) {
            EXPECT_EQ(got[k].value, blocks[i][k].value) << where << " header " << k;
          } else {
            EXPECT_TRUE(old(ref.value_serial)) << where << " header " << k << " placeholder value";
            EXPECT_TRUE(got[k].value.empty());
          }
          if (!old(ref.name_serial) && !old(ref.value_serial)) {
            EXPECT_TRUE(got[k].name_known && got[k].value_known) << where << " header " << k;
          }
          if (ref.value_serial > insertions_before[join]) ++exact_from_new_entries;
          if (!got[k].name_known || !got[k].value_known) ++placeholders_total;
        }
      }
      if (join < 90) {
        // The size update to 0 in block 90 evicts everything older: the decoder knows again
        // that it is exact. (Without it, entries named after unknown ones have unknown sizes
        // and the decoder cannot prove the unknown ones gone: it stays explicit, never wrong.)
        EXPECT_TRUE(joined.synchronized()) << "seed " << seed << " join " << join;
      }
    }
    // The test exercised both sides.
    EXPECT_GT(exact_from_new_entries, 100u);
    EXPECT_GT(placeholders_total, 10u);
  }
}

TEST(HpackDecoderTest, ReferenceToOlderEntryAfterJoinIsPlaceholder) {
  Deflater deflater(4096);
  const Block first = {{"x-before", "join"}};
  const Block second = {{"x-after", "join"}};
  const std::string w1 = deflater.Deflate(first);
  const std::string w2 = deflater.Deflate(second);
  const std::string w3 = deflater.Deflate({{"x-before", "join"}, {"x-after", "join"}});
  HpackDecoder joined;
  joined.MarkUnsynchronized();
  std::vector<HpackHeader> h;
  ASSERT_TRUE(joined.Decode(w2, &h).ok());
  h.clear();
  ASSERT_TRUE(joined.Decode(w3, &h).ok());
  ASSERT_EQ(h.size(), 2u);
  EXPECT_FALSE(h[0].name_known);
  EXPECT_FALSE(h[0].value_known);
  EXPECT_EQ(h[0].name, kUnknownHeaderName);
  EXPECT_TRUE(h[1].name_known && h[1].value_known);
  EXPECT_EQ(h[1].name, "x-after");
  EXPECT_EQ(joined.placeholders(), 1u);
  EXPECT_FALSE(joined.synchronized());
}

TEST(HpackDecoderTest, SynchronizedDecoderRejectsIndexOutOfRange) {
  HpackDecoder decoder;
  std::vector<HpackHeader> h;
  EXPECT_FALSE(decoder.Decode(std::string("\xbe", 1), &h).ok());  // index 62, empty table
  EXPECT_FALSE(decoder.synchronized());  // the rest of the block is unknown
}

TEST(HpackDecoderTest, TruncatedAndMalformedBlocksAreErrors) {
  HpackDecoder d1;
  std::vector<HpackHeader> h;
  EXPECT_FALSE(d1.Decode(std::string("\x40\x05"
                                     "ab",
                                     4),
                         &h)
                   .ok());  // string beyond the block
  HpackDecoder d2;
  EXPECT_FALSE(d2.Decode(std::string("\xff\xff\xff\xff\xff\xff\xff", 7), &h).ok());  // integer
  HpackDecoder d3;
  EXPECT_FALSE(d3.Decode(std::string("\x80", 1), &h).ok());  // index 0
}

TEST(HpackDecoderTest, KeptTableIsBoundedAndOverflowBecomesUnknown) {
  Deflater deflater(65536);
  deflater.ChangeTableSize(65536);
  HpackDecoder decoder(/*max_kept_table_bytes=*/1024);
  std::vector<Block> blocks;
  for (int i = 0; i < 40; ++i) {
    Block b = {{absl::StrCat("x-k", i), std::string(100, 'v')}};
    std::vector<HpackHeader> got;
    ASSERT_TRUE(decoder.Decode(deflater.Deflate(b), &got).ok());
    EXPECT_LE(decoder.table_size(), 1024u);
  }
  // x-k0 is still in nghttp2's 64 KiB table but not in ours: a placeholder, not an error.
  std::vector<HpackHeader> got;
  ASSERT_TRUE(decoder.Decode(deflater.Deflate({{"x-k0", std::string(100, 'v')}}), &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].name_known);
}

TEST(HpackDecoderTest, JoinedDecoderKeepsNoMoreThanAPeerTable) {
  Deflater deflater(65536);
  HpackDecoder joined;
  joined.MarkUnsynchronized();
  for (int i = 0; i < 200; ++i) {
    std::vector<HpackHeader> got;
    ASSERT_TRUE(joined.Decode(deflater.Deflate({{absl::StrCat("x-n", i), "value"}}), &got).ok());
    EXPECT_LE(joined.table_size(), HpackDecoder::kDefaultTableCapacity);
  }
  // Announced larger: kept larger.
  HpackDecoder announced;
  announced.MarkUnsynchronized();
  announced.SetMaxCapacity(16384);
  Deflater big(65536);
  big.ChangeTableSize(16384);
  size_t largest = 0;
  for (int i = 0; i < 400; ++i) {
    std::vector<HpackHeader> got;
    ASSERT_TRUE(announced.Decode(big.Deflate({{absl::StrCat("x-n", i), "value"}}), &got).ok());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].name_known);  // literals: always exact
    largest = std::max(largest, announced.table_size());
  }
  EXPECT_GT(largest, HpackDecoder::kDefaultTableCapacity);
  EXPECT_LE(largest, 16384u);
}

}  // namespace
}  // namespace httptrace::protocols::http2
