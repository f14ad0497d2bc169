#include "agent/protocols/common/body_finalizer.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/protocols/common/body_decoder.h"

namespace httptrace::protocols {

void FinalizeBody(Body& body, absl::string_view content_encoding, absl::string_view label,
                  const EngineOptions& options, BodyCounters counters,
                  std::vector<std::string>& notes) {
  body.encoded_size = body.size;
  if (body.missing_bytes > 0) {
    body.truncated = true;
    // Bytes sent from a file were never in the sender's memory: not capturable, not lost.
    if (body.file_bytes > 0) {
      notes.push_back(
          absl::StrCat(label, " body: ", body.file_bytes, " bytes sent from a file, not captured"));
    }
    if (const uint64_t lost = body.missing_bytes - body.file_bytes - body.not_copied_bytes;
        lost > 0) {
      notes.push_back(
          absl::StrCat(label, " body: ", lost, " of ", body.size, " bytes not captured"));
    }
  }
  if (body.data.size() < body.size) body.truncated = true;
  if (!options.decode_content_encoding || body.data.empty()) return;
  const ContentCoding coding = ParseContentCoding(content_encoding);
  if (coding == ContentCoding::kIdentity) return;
  // What was kept of the encoded body (the body limit, bytes never captured): the decoded data
  // replaces it below, so its size is taken now.
  const uint64_t encoded_kept = body.data.size();
  const bool whole = encoded_kept == body.size;
  absl::StatusOr<DecodedBody> decoded =
      DecodeBody(body.data, coding, options.max_body_bytes, options.max_decode_output_bytes);
  if (!decoded.ok()) {
    ++counters.decode_errors;
    notes.push_back(
        absl::StrCat(label, " body: not valid ", ContentCodingName(coding), " data; kept as sent"));
    return;
  }
  ++counters.bodies_decoded;
  body.decoded_from = std::string(ContentCodingName(coding));
  body.data = std::move(decoded->data);
  if (whole && decoded->stream_end && !decoded->output_capped && !decoded->data_error) {
    body.size = decoded->decoded_size;
    body.truncated = body.data.size() < body.size;
    return;
  }
  body.truncated = true;
  if (decoded->data_error) {
    ++counters.decode_errors;
    notes.push_back(absl::StrCat(label, " body: ", ContentCodingName(coding),
                                 " data invalid after ", decoded->decoded_size, " decoded bytes"));
  } else if (decoded->output_capped) {
    notes.push_back(absl::StrCat(label, " body: decoding stopped after ", decoded->decoded_size,
                                 " bytes; size is the encoded size"));
  } else {
    notes.push_back(absl::StrCat(label, " body: decoded from the first ", encoded_kept, " of ",
                                 body.encoded_size,
                                 " encoded bytes only; size is the encoded size"));
  }
}

}  // namespace httptrace::protocols
