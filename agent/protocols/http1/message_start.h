// Finds where an HTTP/1.x message starts in arbitrary bytes: a request line ("GET /x HTTP/1.1")
// or a status line ("HTTP/1.1 200 OK"). The engine uses it to tell which direction carries
// requests and to resynchronise after a gap, a parse error or a capture that began mid-stream.

#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace httptrace::protocols::http1 {

enum class StartKind : uint8_t { kRequest, kResponse };

struct StartScan {
  bool found = false;
  size_t offset = 0;  // found: where the start line begins.
  StartKind kind = StartKind::kRequest;
  // Not found: bytes before this offset can never begin a message and may be discarded; a start
  // line that continues past the end of the data may begin here.
  size_t keep_from = 0;
};

// Scans `data` for the first complete, well-formed start line of the wanted kinds (ending in LF
// within `max_line` bytes). Request methods are those of methods.txt (http1_methods.h).
StartScan FindMessageStart(absl::string_view data, bool want_request, bool want_response,
                           size_t max_line);

}  // namespace httptrace::protocols::http1
