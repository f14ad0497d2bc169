// The text format: the seed's human-readable trace, one block per exchange, with the process
// name, role, addresses, container and latency added, notes for anything incomplete, and loss
// markers inline where the loss happened.

#pragma once

#include "cli/render/renderer.h"

namespace httptrace::render {

class TextRenderer final : public Renderer {
 public:
  explicit TextRenderer(RenderOptions options) : options_(std::move(options)) {}
  std::string FileHeader() const override;
  std::string Render(const v1::Event& event) const override;

 private:
  RenderOptions options_;
};

}  // namespace httptrace::render
