// The HPACK Huffman code (RFC 7541 Appendix B): decoding for the HTTP/2 header decoder, encoding
// for tests. The code is canonical, so decoding walks one bit at a time through per-length
// tables (headers are small; this is not the body path).

#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace httptrace::protocols::http2 {

// Appends the decoded bytes of `encoded` to `out`. False on an invalid string: the EOS symbol,
// padding longer than 7 bits, or padding that is not all ones.
bool HuffmanDecode(absl::string_view encoded, std::string* out);

// The Huffman encoding of `plain` (padding with ones).
std::string HuffmanEncode(absl::string_view plain);

}  // namespace httptrace::protocols::http2
