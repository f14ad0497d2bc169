// zlib-based bounded inflate; see body_decoder.h.

#include "agent/protocols/common/body_decoder.h"

#include <zlib.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace httptrace::protocols {
namespace {

// window_bits: 16+15 gzip, 15 zlib-wrapped deflate, -15 raw deflate.
absl::StatusOr<DecodedBody> Inflate(absl::string_view encoded, int window_bits, size_t max_keep,
                                    uint64_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, window_bits) != Z_OK) return absl::InternalError("inflateInit2 failed");
  DecodedBody out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(encoded.data()));
  zs.avail_in = static_cast<uInt>(encoded.size());
  unsigned char buffer[16384];
  absl::Status status;
  while (true) {
    zs.next_out = buffer;
    zs.avail_out = sizeof(buffer);
    int rc = inflate(&zs, Z_NO_FLUSH);
    size_t produced = sizeof(buffer) - zs.avail_out;
    if (out.data.size() < max_keep) {
      out.data.append(reinterpret_cast<const char*>(buffer),
                      std::min(produced, max_keep - out.data.size()));
    }
    out.decoded_size += produced;
    if (rc == Z_STREAM_END) {
      out.stream_end = true;
      break;
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && produced < sizeof(buffer))) {
      break;  // Input exhausted: a prefix of the stream.
    }
    if (rc != Z_OK) {
      status = absl::DataLossError(absl::StrCat("inflate: ", zs.msg ? zs.msg : "invalid data"));
      break;
    }
    if (out.decoded_size >= max_output) {
      out.output_capped = true;
      break;
    }
  }
  inflateEnd(&zs);
  if (!status.ok()) {
    if (out.decoded_size == 0) return status;
    out.data_error = true;
  }
  return out;
}

}  // namespace

ContentCoding ParseContentCoding(absl::string_view value) {
  value = absl::StripAsciiWhitespace(value);
  if (absl::EqualsIgnoreCase(value, "gzip") || absl::EqualsIgnoreCase(value, "x-gzip")) {
    return ContentCoding::kGzip;
  }
  if (absl::EqualsIgnoreCase(value, "deflate")) return ContentCoding::kDeflate;
  return ContentCoding::kIdentity;
}

absl::string_view ContentCodingName(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::kGzip:
      return "gzip";
    case ContentCoding::kDeflate:
      return "deflate";
    case ContentCoding::kIdentity:
      break;
  }
  return "identity";
}

absl::StatusOr<DecodedBody> DecodeBody(absl::string_view encoded, ContentCoding coding,
                                       size_t max_keep, uint64_t max_output) {
  switch (coding) {
    case ContentCoding::kGzip:
      return Inflate(encoded, 16 + MAX_WBITS, max_keep, max_output);
    case ContentCoding::kDeflate: {
      // "deflate" is meant to be zlib-wrapped, but many servers send raw deflate.
      absl::StatusOr<DecodedBody> wrapped = Inflate(encoded, MAX_WBITS, max_keep, max_output);
      if (wrapped.ok()) return wrapped;
      return Inflate(encoded, -MAX_WBITS, max_keep, max_output);
    }
    case ContentCoding::kIdentity:
      break;
  }
  return absl::InvalidArgumentError("not a compressed coding");
}

}  // namespace httptrace::protocols
