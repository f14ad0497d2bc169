#include "cli/render/line_renderer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/render/text_renderer.h"
#include "common/grpc_status.h"

namespace httptrace::render {
namespace {

void AppendSize(std::string* out, uint64_t bytes) {
  if (bytes < 1024) {
    absl::StrAppend(out, bytes, " B");
  } else if (bytes < 1024 * 1024) {
    absl::StrAppendFormat(out, "%.1f KiB", bytes / 1024.0);
  } else {
    absl::StrAppendFormat(out, "%.1f MiB", bytes / (1024.0 * 1024.0));
  }
}

void AppendProcess(std::string* out, const v1::Exchange& x) {
  AppendPrintable(out, x.process().comm());
  absl::StrAppend(out, "[", x.process().pid(), "]");
}

void AppendContainer(std::string* out, const v1::Exchange& x, absl::string_view who) {
  if (!x.process().has_container()) return;
  const v1::Container& c = x.process().container();
  out->push_back(' ');
  out->append(who.data(), who.size());
  if (!c.pod_name().empty()) {
    out->append("pod ");
    AppendPrintable(out, c.pod_namespace());
    out->push_back('/');
    AppendPrintable(out, c.pod_name());
    out->push_back(' ');
  }
  out->append("container ");
  AppendPrintable(out, c.name().empty() ? absl::string_view(c.id()).substr(0, 12)
                                        : absl::string_view(c.name()));
}

}  // namespace

void LineRenderer::AppendLatency(std::string* out, const v1::Exchange& x) {
  const int64_t us = ToMicros(x.latency());
  const bool slow = absl::Microseconds(us) >= options_.slow;
  if (slow) out->append(palette_.bold_red);
  AppendDuration(out, us);
  if (slow) out->append(palette_.reset);
}

void LineRenderer::AppendLine(std::string* out, const v1::Exchange* client,
                              const v1::Exchange* server, absl::string_view source_node) {
  const v1::Exchange& any = client != nullptr ? *client : *server;
  times_.Append(out, any.start_time(), 3);
  out->push_back(' ');
  if (client != nullptr) {
    AppendProcess(out, *client);
  } else {
    AppendEndpoint(out, server->connection().remote());
  }
  out->append(" → ");
  if (server != nullptr) {
    AppendProcess(out, *server);
    out->push_back(' ');
    AppendEndpoint(out, server->connection().local());
  } else {
    AppendEndpoint(out, client->connection().remote());
  }
  if (any.connection().has_tls()) out->append(" https");
  // The request as its sender saw it, the response as its sender saw it (the same bytes).
  const v1::Exchange& request_side = client != nullptr && client->has_request()
                                         ? *client
                                         : (server != nullptr ? *server : *client);
  const v1::Exchange& response_side = server != nullptr && server->has_response()
                                          ? *server
                                          : (client != nullptr ? *client : *server);
  out->push_back(' ');
  if (request_side.has_request()) {
    out->append(palette_.bold);
    AppendPrintable(out, request_side.request().method());
    out->push_back(' ');
    AppendPrintable(out, request_side.request().target());
    out->append(palette_.reset);
  } else {
    out->append("- -");
  }
  out->push_back(' ');
  if (response_side.has_response()) {
    const uint32_t status = response_side.response().status();
    const char* color = palette_.Status(status);
    out->append(color);
    absl::StrAppend(out, status);
    if (*color != 0) out->append(palette_.reset);
  } else {
    out->push_back('-');
  }
  // gRPC answers errors with HTTP 200: its own status is what says how the call went.
  if (response_side.has_grpc()) {
    const v1::Grpc& grpc = response_side.grpc();
    out->append(" grpc ");
    if (grpc.has_status_code()) {
      const bool failed = grpc.status_code() != 0;
      if (failed) out->append(palette_.Status(500));
      absl::StrAppend(out, GrpcStatusName(grpc.status_code()));
      if (failed && *palette_.Status(500) != 0) out->append(palette_.reset);
    } else {
      out->push_back('?');
    }
  }
  out->push_back(' ');
  const v1::Exchange& timed = client != nullptr && client->has_latency() ? *client : any;
  if (timed.has_latency()) {
    AppendLatency(out, timed);
  } else {
    out->push_back('-');
  }
  if (client != nullptr && server != nullptr && server->has_latency()) {
    out->append(" (server ");
    AppendLatency(out, *server);
    out->push_back(')');
  }
  out->append(" ↑");
  AppendSize(out, request_side.request().body().size());
  out->append(" ↓");
  AppendSize(out, response_side.response().body().size());
  const bool both = client != nullptr && server != nullptr;
  if (client != nullptr) AppendContainer(out, *client, both ? "client " : "");
  if (server != nullptr) AppendContainer(out, *server, both ? "server " : "");
  const absl::string_view node = any.node().empty() ? source_node : any.node();
  if (options_.show_node && !node.empty()) {
    out->append(" node ");
    AppendPrintable(out, node);
  }
  bool first_note = true;
  for (const v1::Exchange* x : {client, server}) {
    if (x == nullptr) continue;
    for (const std::string& note : x->notes()) {
      out->append(first_note ? " ! " : "; ");
      first_note = false;
      AppendPrintable(out, note);
    }
  }
  out->push_back('\n');
}

void LineRenderer::RenderPair(const v1::Event& client, const v1::Event& server,
                              absl::string_view pair_id, absl::string_view node, std::string* out) {
  AppendLine(out, &client.exchange(), &server.exchange(), node);
}

void LineRenderer::Render(const v1::Event& event, absl::string_view node, std::string* out) {
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const v1::Exchange& x = event.exchange();
      if (x.connection().role() == v1::ROLE_CLIENT) {
        AppendLine(out, &x, nullptr, node);
      } else {
        AppendLine(out, nullptr, &x, node);
      }
      return;
    }
    case v1::Event::kLoss:
    case v1::Event::kEnd: {
      // The same lines as the text format, without its blank separator.
      std::string block;
      RenderOptions options = options_;
      TextRenderer(options).Render(event, node, &block);
      if (absl::EndsWith(block, "\n\n")) block.pop_back();
      out->append(block);
      return;
    }
    default:
      return;
  }
}

}  // namespace httptrace::render
