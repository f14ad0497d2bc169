#include "common/protowire/raw_message.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/wire_format.h>

#include "absl/strings/str_cat.h"

namespace httptrace::protowire {

absl::StatusOr<std::string> DecodeRawMessage(absl::string_view bytes,
                                             const RawDecodeOptions& options) {
  google::protobuf::UnknownFieldSet fields;
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  // Field by field, so a message cut by the body limit still shows what came before the cut.
  size_t decoded = 0;
  while (true) {
    const uint32_t tag = input.ReadTag();
    if (tag == 0) break;  // end of input (or an invalid tag 0)
    // Into a scratch set: a field that fails half-way is added before it fails.
    google::protobuf::UnknownFieldSet field;
    if (!google::protobuf::internal::WireFormat::SkipField(&input, tag, &field)) break;
    fields.MergeFrom(field);
    decoded = static_cast<size_t>(input.CurrentPosition());
  }
  if (decoded == 0 && !bytes.empty()) {
    return absl::InvalidArgumentError("not a protobuf message: no field decodes");
  }
  std::string text;
  // Nested length-delimited fields print as messages when they parse as one, as protoc does.
  google::protobuf::TextFormat::Printer printer;
  printer.PrintUnknownFieldsToString(fields, &text);
  if (decoded < bytes.size()) {
    absl::StrAppend(&text, "# ", bytes.size() - decoded, " bytes not decoded\n");
  }
  if (text.size() > options.max_output_bytes) {
    const size_t cut = text.size() - options.max_output_bytes;
    text.resize(options.max_output_bytes);
    absl::StrAppend(&text, "\n# ", cut, " more bytes of text not shown\n");
  }
  return text;
}

}  // namespace httptrace::protowire
