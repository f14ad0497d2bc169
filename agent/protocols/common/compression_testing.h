// Test helper shared by the protocol engines' tests: gzip or zlib-wrapped deflate compression of
// test bodies (the engines decode Content-Encoding for display).

#pragma once

#include <string>

namespace httptrace::protocols::testing {

// `data` compressed whole, as gzip (`gzip`) or zlib-wrapped deflate.
std::string Compress(const std::string& data, bool gzip);

}  // namespace httptrace::protocols::testing
