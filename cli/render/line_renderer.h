// The line format: one line per exchange, like an access log, to skim a thousand requests:
//
//   2026-12-07 17:20:01.123 +00:00 curl[4213] → python3[4200] 127.0.0.1:8080 GET /users 200 1.204
//   ms (server 912 µs) ↑0 B ↓76 B
//
// time (the zone's offset), who → whom (a traced process as comm[pid], an end not traced as its
// address; the server's address always), method and target, status, the latency (a pair: the
// client's, then the server's), request and response body sizes, then containers, node and
// notes when there are any. Losses and the session's end are one line each, as in text.

#pragma once

#include "cli/render/renderer.h"
#include "cli/render/text_util.h"

namespace httptrace::render {

class LineRenderer final : public Renderer {
 public:
  explicit LineRenderer(RenderOptions options)
      : options_(std::move(options)),
        times_("%Y-%m-%d %H:%M:%S", options_.time_zone, " %Ez"),
        palette_(Palette::For(options_.color)) {}
  void Render(const v1::Event& event, absl::string_view node, std::string* out) override;
  void RenderPair(const v1::Event& client, const v1::Event& server, absl::string_view pair_id,
                  absl::string_view node, std::string* out) override;

 private:
  // `client`/`server`: the records of the ends that were traced (one of them may be null).
  void AppendLine(std::string* out, const v1::Exchange* client, const v1::Exchange* server,
                  absl::string_view source_node);
  void AppendLatency(std::string* out, const v1::Exchange& x);

  RenderOptions options_;
  SecondsFormatter times_;
  Palette palette_;
};

}  // namespace httptrace::render
