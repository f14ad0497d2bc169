// The text format: the seed's human-readable trace, one block per exchange, with the process
// name, role, addresses, container, latency and time to first byte added, notes for anything
// incomplete, and loss markers inline where the loss happened. An exchange seen from both ends
// is one block with both views. Times carry the zone's offset; colours only when asked.

#pragma once

#include "cli/render/renderer.h"
#include "cli/render/text_util.h"

namespace httptrace::render {

class TextRenderer final : public Renderer {
 public:
  explicit TextRenderer(RenderOptions options)
      : options_(std::move(options)),
        times_("%Y-%m-%d %H:%M:%S", options_.time_zone, " %Ez"),
        palette_(Palette::For(options_.color)) {}
  void Begin(std::string* out) override;
  void Render(const v1::Event& event, absl::string_view node, std::string* out) override;
  // One block: the connection, a line per end (process, container, latency and ttfb it saw,
  // the difference: network and queueing), the request and response once, each end's notes.
  void RenderPair(const v1::Event& client, const v1::Event& server, absl::string_view pair_id,
                  absl::string_view node, std::string* out) override;

 private:
  void AppendProcess(std::string* out, const v1::Exchange& x);
  void AppendContainer(std::string* out, const v1::Exchange& x);
  void AppendTimings(std::string* out, const v1::Exchange& x);
  void AppendTls(std::string* out, const v1::Exchange& x);
  void AppendNode(std::string* out, const v1::Exchange& x, absl::string_view source_node);
  void AppendMessages(std::string* out, const v1::Exchange& request_side,
                      const v1::Exchange& response_side);
  void AppendNotes(std::string* out, const v1::Exchange& x, absl::string_view who);

  RenderOptions options_;
  SecondsFormatter times_;
  Palette palette_;
};

// Appends `text` for a terminal: control characters (other than tab) and bytes that are not
// UTF-8 are shown as \xNN, so a hostile peer cannot rewrite the terminal or forge trace lines.
void AppendPrintable(std::string* out, absl::string_view text);

}  // namespace httptrace::render
