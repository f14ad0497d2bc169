// Bounded decoding of Content-Encoding gzip/deflate bodies for display. The output kept and the
// work done are both capped, so a small hostile body cannot make the agent inflate gigabytes.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httptrace::protocols {

enum class ContentCoding : uint8_t { kIdentity, kGzip, kDeflate };

// Parses a Content-Encoding value; anything but a single gzip/x-gzip/deflate is kIdentity.
ContentCoding ParseContentCoding(absl::string_view value);
absl::string_view ContentCodingName(ContentCoding coding);

struct DecodedBody {
  std::string data;            // At most max_keep bytes of decoded output.
  uint64_t decoded_size = 0;   // Decoded bytes produced (stops growing at max_output).
  bool stream_end = false;     // The compressed stream ended properly within the input.
  bool output_capped = false;  // Stopped at max_output: decoded_size is a lower bound.
  bool data_error = false;     // Invalid data after some output was produced.
};

// Inflates `encoded` (possibly only a prefix of the body). Returns an error only when the data
// is not valid gzip/deflate at all; a stream that is merely cut short decodes its prefix.
absl::StatusOr<DecodedBody> DecodeBody(absl::string_view encoded, ContentCoding coding,
                                       size_t max_keep, uint64_t max_output);

}  // namespace httptrace::protocols
