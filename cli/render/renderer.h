// Turns a session's events into the bytes of a trace file. One renderer per output format;
// `Make` picks one by name ("text", "jsonl").

#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::render {

struct RenderOptions {
  // Time zone for human-readable times (the text format); JSON always uses UTC.
  absl::TimeZone time_zone = absl::LocalTimeZone();
  // Show each exchange's node (set when several agents are read at once).
  bool show_node = false;
  // Node label for events that carry none (losses, session ends) when show_node is set.
  std::string node;
};

class Renderer {
 public:
  virtual ~Renderer() = default;
  // Text written once at the top of a new (empty) output file; may be empty.
  virtual std::string FileHeader() const = 0;
  // The rendering of one event, ending with a newline (empty for events the format skips).
  virtual std::string Render(const v1::Event& event) const = 0;
};

// INVALID_ARGUMENT for an unknown format, naming the ones that exist.
absl::StatusOr<std::unique_ptr<Renderer>> MakeRenderer(absl::string_view format,
                                                       const RenderOptions& options);

}  // namespace httptrace::render
