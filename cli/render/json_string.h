// JSON strings (and the container object) for the jsonl and HAR renderers: escaping that copies
// runs of safe bytes at once (per-character appends were the ctl's hottest code), and bytes that
// are not UTF-8 replaced by U+FFFD one ill-formed sequence at a time, so the rest of the value
// keeps its characters.

#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "proto/httptrace.pb.h"

namespace httptrace::render {

// Appends `text` as a quoted JSON string.
void AppendJsonString(std::string* out, absl::string_view text);

// Appends the exchange's process and connection, as jsonl has them at its top level and HAR in
// `_httptrace`: `,"pid":…,"tid":…,"comm":…,"role":…,"local":…,"remote":…,"connection_id":…`
// and, for processes in containers, `,"container":{"id":…,"name":…,"pod":…,"namespace":…}`.
void AppendProcessAndConnection(std::string* out, const v1::Exchange& exchange);

}  // namespace httptrace::render
