// The text format: the seed's human-readable trace, one block per exchange, with the process
// name, role, addresses, container, latency and time to first byte added, notes for anything
// incomplete, and loss markers inline where the loss happened.

#pragma once

#include "cli/render/renderer.h"
#include "cli/render/text_util.h"

namespace httptrace::render {

class TextRenderer final : public Renderer {
 public:
  explicit TextRenderer(RenderOptions options)
      : options_(std::move(options)), times_("%Y-%m-%d %H:%M:%S", options_.time_zone) {}
  void Begin(std::string* out) override;
  void Render(const v1::Event& event, absl::string_view node, std::string* out) override;

 private:
  RenderOptions options_;
  SecondsFormatter times_;
};

// Appends `text` for a terminal: control characters (other than tab) and bytes that are not
// UTF-8 are shown as \xNN, so a hostile peer cannot rewrite the terminal or forge trace lines.
void AppendPrintable(std::string* out, absl::string_view text);

}  // namespace httptrace::render
