#include "cli/render/renderer.h"

#include "absl/strings/str_cat.h"
#include "cli/render/jsonl_renderer.h"
#include "cli/render/text_renderer.h"

namespace httptrace::render {

absl::StatusOr<std::unique_ptr<Renderer>> MakeRenderer(absl::string_view format,
                                                       const RenderOptions& options) {
  if (format == "text") return std::make_unique<TextRenderer>(options);
  if (format == "jsonl") return std::make_unique<JsonlRenderer>(options);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format \"", format, "\" (want text or jsonl)"));
}

}  // namespace httptrace::render
