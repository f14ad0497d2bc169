// The jsonl format: one JSON object per event, one per line. The shape is documented in the
// README ("JSON lines") and is a contract: keys are only ever added.

#pragma once

#include "cli/render/renderer.h"

namespace httptrace::render {

class JsonlRenderer final : public Renderer {
 public:
  explicit JsonlRenderer(RenderOptions options) : options_(std::move(options)) {}
  std::string FileHeader() const override { return ""; }
  std::string Render(const v1::Event& event) const override;

 private:
  RenderOptions options_;
};

}  // namespace httptrace::render
