#include "cli/render/renderer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/render/har_renderer.h"
#include "cli/render/jsonl_renderer.h"
#include "cli/render/line_renderer.h"
#include "cli/render/text_renderer.h"

namespace httptrace::render {

const std::vector<std::string>& FormatNames() {
  static const auto* names = new std::vector<std::string>{"text", "line", "jsonl", "har"};
  return *names;
}

absl::StatusOr<std::unique_ptr<Renderer>> MakeRenderer(absl::string_view format,
                                                       const RenderOptions& options) {
  if (format == "text") return std::make_unique<TextRenderer>(options);
  if (format == "line") return std::make_unique<LineRenderer>(options);
  if (format == "jsonl") return std::make_unique<JsonlRenderer>(options);
  if (format == "har") return std::make_unique<HarRenderer>(options);
  return absl::InvalidArgumentError(absl::StrCat("unknown format \"", format, "\" (want ",
                                                 absl::StrJoin(FormatNames(), ", "), ")"));
}

}  // namespace httptrace::render
