// JSON strings for the jsonl and HAR renderers: escaping that copies runs of safe bytes at once
// (per-character appends were the ctl's hottest code), and bytes that are not UTF-8 replaced by
// U+FFFD one ill-formed sequence at a time, so the rest of the value keeps its characters.

#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace httptrace::render {

// Appends `text` as a quoted JSON string.
void AppendJsonString(std::string* out, absl::string_view text);

}  // namespace httptrace::render
