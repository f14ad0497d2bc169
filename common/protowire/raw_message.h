// Schema-less rendering of a protobuf message, as `protoc --decode_raw` prints it: field
// numbers, wire types, nested messages where the bytes parse as one, strings otherwise. Built
// on protobuf's own wire parser (UnknownFieldSet + TextFormat), so it reads what protoc reads.
// No agent dependency: the agent renders gRPC messages with it, the ctl can too.
//
//   absl::StatusOr<std::string> text = DecodeRawMessage(bytes);
//   // "1: 150\n2: \"testing\"\n3 {\n  1: 1\n}\n"

#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace httptrace::protowire {

struct RawDecodeOptions {
  // Longest rendering returned; beyond it the text ends with a line saying how much was cut.
  size_t max_output_bytes = 64 * 1024;
};

// Renders `bytes` (a whole message, or a prefix of one: the body limit may have cut it). A
// prefix that stops mid-field renders the fields before it and ends with
// "# N bytes not decoded". An error when not even one field parses: not a protobuf message.
absl::StatusOr<std::string> DecodeRawMessage(absl::string_view bytes,
                                             const RawDecodeOptions& options = {});

}  // namespace httptrace::protowire
