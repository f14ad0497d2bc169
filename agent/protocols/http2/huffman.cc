#include "agent/protocols/http2/huffman.h"

#include <array>
#include <cstdint>

namespace httptrace::protocols::http2 {
namespace {

struct Code {
  uint32_t bits;
  uint8_t length;
};

constexpr Code kCodes[257] = {
#include "agent/protocols/http2/huffman_table.inc"
};

constexpr int kMaxLength = 30;

// Canonical decoding tables: for each length, the first code of that length, how many codes
// have it, and where their symbols start in the symbols sorted by (length, symbol).
struct DecodeTables {
  std::array<uint32_t, kMaxLength + 1> first_code{};
  std::array<uint16_t, kMaxLength + 1> count{};
  std::array<uint16_t, kMaxLength + 1> offset{};
  std::array<uint16_t, 257> symbols{};

  DecodeTables() {
    for (const Code& c : kCodes) ++count[c.length];
    uint16_t next = 0;
    for (int len = 1; len <= kMaxLength; ++len) {
      offset[len] = next;
      next += count[len];
    }
    std::array<uint16_t, kMaxLength + 1> fill = offset;
    for (int len = 1; len <= kMaxLength; ++len) {
      for (uint16_t sym = 0; sym < 257; ++sym) {
        if (kCodes[sym].length == len) symbols[fill[len]++] = sym;
      }
    }
    for (int len = 1; len <= kMaxLength; ++len) {
      // The first code of a length is the code of its first symbol (canonical code).
      first_code[len] = count[len] > 0 ? kCodes[symbols[offset[len]]].bits : 0;
    }
  }
};

const DecodeTables& Tables() {
  static const DecodeTables* tables = new DecodeTables();
  return *tables;
}

}  // namespace

bool HuffmanDecode(absl::string_view encoded, std::string* out) {
  const DecodeTables& t = Tables();
  uint32_t code = 0;
  int length = 0;
  bool all_ones = true;  // the bits of the symbol being read so far are all 1 (padding)
  for (unsigned char byte : encoded) {
    for (int bit = 7; bit >= 0; --bit) {
      const uint32_t b = (byte >> bit) & 1u;
      code = (code << 1) | b;
      all_ones = all_ones && b == 1;
      ++length;
      if (length > kMaxLength) return false;
      if (t.count[length] > 0 && code >= t.first_code[length] &&
          code - t.first_code[length] < t.count[length]) {
        const uint16_t sym = t.symbols[t.offset[length] + (code - t.first_code[length])];
        if (sym == 256) return false;  // EOS must not appear in a string
        out->push_back(static_cast<char>(sym));
        code = 0;
        length = 0;
        all_ones = true;
      }
    }
  }
  // What is left is padding: at most 7 bits, all ones (a prefix of EOS).
  return length <= 7 && all_ones;
}

std::string HuffmanEncode(absl::string_view plain) {
  std::string out;
  uint64_t acc = 0;
  int bits = 0;
  for (unsigned char c : plain) {
    const Code& code = kCodes[c];
    acc = (acc << code.length) | code.bits;
    bits += code.length;
    while (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0) {
    out.push_back(static_cast<char>(((acc << (8 - bits)) | ((1u << (8 - bits)) - 1)) & 0xff));
  }
  return out;
}

}  // namespace httptrace::protocols::http2
