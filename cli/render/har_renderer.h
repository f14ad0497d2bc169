// The HAR 1.2 format (http://www.softwareishard.com/blog/har-12-spec/): one JSON document per
// capture that browser devtools, Charles, Fiddler and HAR analyzers open. Each exchange is an
// entry with its timings (send: request first to last byte; wait: request end to response
// start; receive: response first to last byte), headers, cookies, query string, post data and
// content (base64 for binary bodies); what HAR has no field for (pid, role, container, node,
// notes) is in the entry's `_httptrace` object. Losses and session ends, which are not
// exchanges, are collected into `log._httptrace` when the document is closed.
//
// The document is opened by Begin and closed by End; the ctl calls End however the capture
// ends (Ctrl-C, --duration, a broken stream), so a cut capture is still one valid document.

#pragma once

#include <string>
#include <vector>

#include "cli/render/renderer.h"
#include "cli/render/text_util.h"

namespace httptrace::render {

class HarRenderer final : public Renderer {
 public:
  explicit HarRenderer(RenderOptions options)
      : options_(std::move(options)), times_("%Y-%m-%dT%H:%M:%S", absl::UTCTimeZone()) {}
  void Begin(std::string* out) override;
  void Render(const v1::Event& event, absl::string_view node, std::string* out) override;
  // One entry: the client's view (what a browser would have shown), the server's process,
  // latency and notes under `_httptrace.server`, both linked by `_httptrace.pair`.
  void RenderPair(const v1::Event& client, const v1::Event& server, absl::string_view pair_id,
                  absl::string_view node, std::string* out) override;
  void End(std::string* out) override;
  bool appends() const override { return false; }

 private:
  // The body as `"text"` (base64 under `encoding_key` when not UTF-8) and a truncation comment.
  void AppendBodyText(std::string* out, const v1::Body& body, absl::string_view encoding_key);
  void AppendEntry(const v1::Exchange& x, uint64_t seq, absl::string_view node, std::string* out,
                   const v1::Exchange* server = nullptr, uint64_t server_seq = 0,
                   absl::string_view pair_id = {});

  RenderOptions options_;
  SecondsFormatter times_;
  uint64_t entries_ = 0;
  std::vector<std::string> losses_;    // JSON objects, for log._httptrace.losses
  std::vector<std::string> sessions_;  // JSON objects, for log._httptrace.sessions
  std::string scratch_;
};

}  // namespace httptrace::render
