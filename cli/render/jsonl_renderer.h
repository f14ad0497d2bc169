// The jsonl format: one JSON object per event, one per line. The shape is documented in the
// docs/formats.md ("JSON lines") and is a contract: keys are only ever added.

#pragma once

#include "cli/render/renderer.h"
#include "cli/render/text_util.h"

namespace httptrace::render {

class JsonlRenderer final : public Renderer {
 public:
  explicit JsonlRenderer(RenderOptions options)
      : options_(std::move(options)), times_("%Y-%m-%dT%H:%M:%S", absl::UTCTimeZone()) {}
  void Render(const v1::Event& event, absl::string_view node, std::string* out) override;
  // Both records, one per side as always, each with "pair": the same id.
  void RenderPair(const v1::Event& client, const v1::Event& server, absl::string_view pair_id,
                  absl::string_view node, std::string* out) override;

 private:
  void AppendBody(std::string* out, const v1::Body& body);
  // "grpc": service, method, status, and each direction's messages (HTTP/2 gRPC calls).
  void AppendGrpc(std::string* out, const v1::Grpc& grpc);

  RenderOptions options_;
  SecondsFormatter times_;
  std::string scratch_;  // base64 of binary bodies and gRPC messages
  std::string pair_id_;  // set while a pair's records are rendered
};

}  // namespace httptrace::render
