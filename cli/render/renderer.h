// Turns a session's events into the bytes of a trace file. One renderer per output format;
// `MakeRenderer` picks one by name ("text", "line", "jsonl", "har").
//
// Renderers append to a caller's buffer (the output file's batch), so an event costs no string
// of its own. A renderer keeps state across events (HAR's entry separators, time caches): use
// one per output, from one thread.

#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::render {

struct RenderOptions {
  // Time zone for human-readable times (the text format); JSON and HAR always use UTC.
  absl::TimeZone time_zone = absl::LocalTimeZone();
  // Show each exchange's node (set when several agents are read at once).
  bool show_node = false;
  // httptracectl's version, for HAR's "creator".
  std::string version;
  // ANSI colours (text, line): status classes, slow exchanges, losses. The ctl sets it only for
  // a terminal (--color auto, NO_COLOR) or --color always.
  bool color = false;
  // Exchanges at least this slow are marked (in colour).
  absl::Duration slow = absl::Seconds(1);
};

class Renderer {
 public:
  virtual ~Renderer() = default;
  // Appended once at the top of a new output: a title (text), the document's opening (HAR).
  virtual void Begin(std::string* out) {}
  // Appends the rendering of one event (nothing for events the format skips). `node` labels
  // the agent the event came from, for events that carry no node of their own.
  virtual void Render(const v1::Event& event, absl::string_view node, std::string* out) = 0;
  // Appends one exchange seen from both ends (cli/pairer.h): `client` and `server` are the two
  // processes' records of it, `pair_id` names the pair. Formats that show an exchange once
  // override this; the default keeps one record per side.
  virtual void RenderPair(const v1::Event& client, const v1::Event& server,
                          absl::string_view pair_id, absl::string_view node, std::string* out) {
    Render(client, node, out);
    Render(server, node, out);
  }
  // Appended once when the capture ends, however it ended (Ctrl-C, a broken stream): HAR closes
  // its document here, so a cut capture is still a valid file.
  virtual void End(std::string* out) {}
  // False for formats that are one document per file (HAR): the output must be new or empty,
  // and Begin is written to it even when it is standard output.
  virtual bool appends() const { return true; }
};

// The formats MakeRenderer knows, for --help and completion.
const std::vector<std::string>& FormatNames();

// INVALID_ARGUMENT for an unknown format, naming the ones that exist.
absl::StatusOr<std::unique_ptr<Renderer>> MakeRenderer(absl::string_view format,
                                                       const RenderOptions& options);

}  // namespace httptrace::render
