#include "cli/render/text_renderer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"
#include "common/protowire/raw_message.h"

namespace httptrace::render {
namespace {

constexpr absl::string_view kHeaderIndent = "     ";
// Body lines beyond this are elided in the text format (the jsonl format keeps everything).
constexpr size_t kMaxBodyLines = 200;

// What a terminal shows as it is: printable ASCII and tab; other controls are escaped.
constexpr PlainBytes kTerminalPlain = MakePlainBytes("", "\t");
static_assert(PrintableIsPlainBut(kTerminalPlain, '\x7f', '\x7f'));

void AppendEscaped(std::string* out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char escape[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
  out->append(escape, sizeof(escape));
}

void AppendHeaders(std::string* out, const google::protobuf::RepeatedPtrField<v1::Header>& headers,
                   absl::string_view label = "") {
  for (const v1::Header& header : headers) {
    absl::StrAppend(out, kHeaderIndent, label);
    AppendPrintable(out, header.name());
    out->append(": ");
    AppendPrintable(out, header.value());
    out->push_back('\n');
  }
}

void AppendBody(std::string* out, const v1::Body& body) {
  if (body.size() == 0 && body.data().empty()) return;
  std::string suffix;
  if (body.truncated()) {
    suffix = absl::StrCat(" … [", body.data().size(), " of ", body.size(), " bytes shown]");
  }
  if (!body.decoded_from().empty()) {
    absl::StrAppend(&suffix, " [", body.decoded_from(), "-decoded; ", body.encoded_size(),
                    " bytes on the wire]");
  }
  if (!IsValidUtf8(body.data())) {
    absl::StrAppend(out, kHeaderIndent, "Body: [binary, ", body.size(), " bytes]", suffix, "\n");
    return;
  }
  if (body.data().empty()) {
    absl::StrAppend(out, kHeaderIndent, "Body: [", body.size(), " bytes not captured]", suffix,
                    "\n");
    return;
  }
  absl::string_view rest = body.data();
  if (absl::EndsWith(rest, "\n")) rest.remove_suffix(1);
  absl::StrAppend(out, kHeaderIndent, "Body: ");
  for (size_t i = 0;; ++i) {
    const size_t newline = rest.find('\n');
    absl::string_view line = rest.substr(0, newline);
    if (i == kMaxBodyLines) {
      size_t more = 1;
      for (char c : rest) more += c == '\n';
      absl::StrAppend(out, kHeaderIndent, "      … ", more, " more lines\n");
      break;
    }
    if (i > 0) absl::StrAppend(out, kHeaderIndent, "      ");
    AppendPrintable(out, absl::StripSuffix(line, "\r"));
    out->push_back('\n');
    if (newline == absl::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  if (!suffix.empty()) absl::StrAppend(out, kHeaderIndent, "     ", suffix, "\n");
}

// Each kept message of one direction of a gRPC call, decoded without a schema (what
// `protoc --decode_raw` shows) when it is not compressed.
void AppendGrpcMessages(std::string* out, absl::string_view direction,
                        const v1::GrpcMessages& messages) {
  constexpr int kMaxLines = 40;
  int index = 0;
  for (const v1::GrpcMessage& m : messages.messages()) {
    absl::StrAppend(out, kHeaderIndent, direction, " message ", ++index, ": ", m.size(), " bytes",
                    m.compressed() ? ", compressed" : "", m.complete() ? "" : ", incomplete",
                    m.data().size() < m.size() ? absl::StrCat(", ", m.data().size(), " shown") : "",
                    "\n");
    // A compressed message is shown when the agent decompressed it (decoded_from).
    if ((m.compressed() && m.decoded_from().empty()) || m.data().empty()) continue;
    absl::StatusOr<std::string> text = protowire::DecodeRawMessage(m.data());
    if (!text.ok()) {
      absl::StrAppend(out, kHeaderIndent, "  [not a protobuf message]\n");
      continue;
    }
    absl::string_view rest = *text;
    for (int line = 0; !rest.empty(); ++line) {
      const size_t newline = rest.find('\n');
      if (line == kMaxLines) {
        absl::StrAppend(out, kHeaderIndent, "  …\n");
        break;
      }
      absl::StrAppend(out, kHeaderIndent, "  ");
      AppendPrintable(out, rest.substr(0, newline));
      out->push_back('\n');
      if (newline == absl::string_view::npos) break;
      rest.remove_prefix(newline + 1);
    }
  }
  if (messages.count() > static_cast<uint64_t>(messages.messages_size())) {
    absl::StrAppend(out, kHeaderIndent, direction, " messages: ", messages.count(), " in all, ",
                    messages.messages_size(), " kept\n");
  }
  if (messages.framing_lost()) {
    absl::StrAppend(out, kHeaderIndent, direction, " messages: framing lost (bytes missing)\n");
  }
}

// "  gRPC pkg.Service/Method → OK (0)" and the messages of both directions.
void AppendGrpc(std::string* out, const v1::Grpc& grpc) {
  out->append("  gRPC ");
  AppendPrintable(out, grpc.service());
  out->push_back('/');
  AppendPrintable(out, grpc.method());
  if (grpc.has_status_code()) {
    const absl::string_view name = GrpcStatusName(grpc.status_code());
    absl::StrAppend(out, " → ", name.empty() ? "(unknown code)" : name, " (", grpc.status_code(),
                    ")");
    if (!grpc.status_message().empty()) {
      out->append(": ");
      AppendPrintable(out, grpc.status_message());
    }
  } else {
    out->append(" → (no status seen)");
  }
  out->push_back('\n');
  AppendGrpcMessages(out, "request", grpc.request());
  AppendGrpcMessages(out, "response", grpc.response());
}

}  // namespace

void AppendPrintable(std::string* out, absl::string_view text) {
  AppendEscapedRuns(out, text, kTerminalPlain, '\x7f', '\x7f', AppendEscaped,
                    [](std::string* o, absl::string_view bytes) {
                      for (const char b : bytes) AppendEscaped(o, static_cast<unsigned char>(b));
                    });
}

void TextRenderer::Begin(std::string* out) {
  out->append("httptrace HTTP trace\n====================\n\n");
}

void TextRenderer::AppendProcess(std::string* out, const v1::Exchange& x) {
  absl::StrAppend(out, "PID ", x.process().pid(), " (");
  AppendPrintable(out, x.process().comm());
  out->push_back(')');
}

void TextRenderer::AppendContainer(std::string* out, const v1::Exchange& x) {
  if (x.process().has_container()) {
    const v1::Container& c = x.process().container();
    const absl::string_view short_id = absl::string_view(c.id()).substr(0, 12);
    if (!c.pod_name().empty()) {
      out->append(" pod ");
      AppendPrintable(out, c.pod_namespace());
      out->push_back('/');
      AppendPrintable(out, c.pod_name());
    }
    out->append(" container ");
    if (c.name().empty()) {
      AppendPrintable(out, short_id);
    } else {
      AppendPrintable(out, c.name());
      out->append(" (");
      AppendPrintable(out, short_id);
      out->push_back(')');
    }
  }
}

void TextRenderer::AppendTimings(std::string* out, const v1::Exchange& x) {
  if (x.has_latency()) {
    const int64_t us = ToMicros(x.latency());
    const bool slow = absl::Microseconds(us) >= options_.slow;
    out->append(" latency ");
    if (slow) out->append(palette_.bold_red);
    AppendDuration(out, us);
    if (slow) out->append(palette_.reset);
  }
  if (x.has_response()) {
    const int64_t ttfb = MicrosBetween(x.start_time(), x.response().start_time());
    if (ttfb >= 0) {
      out->append(" ttfb ");
      AppendDuration(out, ttfb);
    }
  }
}

void TextRenderer::AppendTls(std::string* out, const v1::Exchange& x) {
  if (!x.connection().has_tls()) return;
  out->append(" https (");
  AppendPrintable(out, x.connection().tls().library());
  out->push_back(')');
}

void TextRenderer::AppendNode(std::string* out, const v1::Exchange& x,
                              absl::string_view source_node) {
  const absl::string_view node = x.node().empty() ? source_node : x.node();
  if (options_.show_node && !node.empty()) {
    out->append(" node ");
    AppendPrintable(out, node);
  }
}

void TextRenderer::AppendMessages(std::string* out, const v1::Exchange& request_side,
                                  const v1::Exchange& response_side) {
  if (request_side.has_request()) {
    const v1::HttpRequest& req = request_side.request();
    out->append(request_side.connection().has_tls() ? "  → HTTPS " : "  → HTTP ");
    out->append(palette_.bold);
    AppendPrintable(out, req.method());
    out->push_back(' ');
    AppendPrintable(out, req.target());
    out->append(palette_.reset);
    if (!req.version().empty()) {
      out->push_back(' ');
      AppendPrintable(out, req.version());
    }
    out->push_back('\n');
    AppendHeaders(out, req.headers());
    AppendBody(out, req.body());
    AppendHeaders(out, req.trailers(), "(trailer) ");
  } else {
    out->append("  → (request not captured)\n");
  }
  if (response_side.has_response()) {
    const v1::HttpResponse& resp = response_side.response();
    out->append("  ← Response ");
    out->append(palette_.Status(resp.status()));
    absl::StrAppend(out, resp.status(), " ");
    AppendPrintable(out, resp.reason());
    if (*palette_.Status(resp.status()) != 0) out->append(palette_.reset);
    out->push_back('\n');
    AppendHeaders(out, resp.headers());
    AppendBody(out, resp.body());
    AppendHeaders(out, resp.trailers(), "(trailer) ");
  }
}

void TextRenderer::AppendNotes(std::string* out, const v1::Exchange& x, absl::string_view who) {
  for (const std::string& note : x.notes()) {
    out->append("  ! ");
    out->append(who.data(), who.size());
    AppendPrintable(out, note);
    out->push_back('\n');
  }
}

void TextRenderer::RenderPair(const v1::Event& client_event, const v1::Event& server_event,
                              absl::string_view pair_id, absl::string_view source_node,
                              std::string* out) {
  const v1::Exchange& client = client_event.exchange();
  const v1::Exchange& server = server_event.exchange();
  out->push_back('[');
  times_.Append(out, client.start_time(), 3);
  out->append("] ");
  AppendEndpoint(out, client.connection().local());
  out->append(" → ");
  AppendEndpoint(out, client.connection().remote());
  // Each end reads its plaintext at its own TLS library: both are named when they differ.
  const std::string& client_tls = client.connection().tls().library();
  const std::string& server_tls = server.connection().tls().library();
  if (client.connection().has_tls() && server.connection().has_tls() && client_tls != server_tls) {
    out->append(" https (client ");
    AppendPrintable(out, client_tls);
    out->append(", server ");
    AppendPrintable(out, server_tls);
    out->push_back(')');
  } else {
    AppendTls(out, client.connection().has_tls() ? client : server);
  }
  AppendNode(out, client, source_node);
  if (client.stream_id() != 0) absl::StrAppend(out, " stream ", client.stream_id());
  out->append(" both ends traced\n  client ");
  AppendProcess(out, client);
  AppendContainer(out, client);
  AppendTimings(out, client);
  out->append("\n  server ");
  AppendProcess(out, server);
  AppendContainer(out, server);
  AppendTimings(out, server);
  if (client.has_latency() && server.has_latency()) {
    const int64_t difference = ToMicros(client.latency()) - ToMicros(server.latency());
    if (difference >= 0) {
      out->append(" (");
      AppendDuration(out, difference);
      out->append(" less: network and queueing)");
    }
  }
  out->push_back('\n');
  // The same bytes crossed the connection; each message as the end that sent it saw it whole,
  // else as the other end saw it.
  const v1::Exchange& request_side = client.has_request() ? client : server;
  const v1::Exchange& response_side = server.has_response() ? server : client;
  AppendMessages(out, request_side, response_side);
  if (response_side.has_grpc()) {
    AppendGrpc(out, response_side.grpc());
  } else if (request_side.has_grpc()) {
    AppendGrpc(out, request_side.grpc());
  }
  AppendNotes(out, client, "client: ");
  AppendNotes(out, server, "server: ");
  out->push_back('\n');
}

void TextRenderer::Render(const v1::Event& event, absl::string_view source_node, std::string* out) {
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const v1::Exchange& x = event.exchange();
      const v1::Connection& conn = x.connection();
      out->push_back('[');
      times_.Append(out, x.start_time(), 3);
      out->append("] ");
      AppendProcess(out, x);
      absl::StrAppend(out, " ", RoleName(conn.role()), " ");
      AppendEndpoint(out, conn.local());
      out->append(conn.role() == v1::ROLE_CLIENT ? " → " : " ← ");
      AppendEndpoint(out, conn.remote());
      AppendTls(out, x);
      AppendNode(out, x, source_node);
      AppendContainer(out, x);
      AppendTimings(out, x);
      if (x.stream_id() != 0) absl::StrAppend(out, " stream ", x.stream_id());
      out->push_back('\n');
      AppendMessages(out, x, x);
      if (x.has_grpc()) AppendGrpc(out, x.grpc());
      AppendNotes(out, x, "");
      break;
    }
    case v1::Event::kLoss: {
      const v1::Loss& loss = event.loss();
      out->append(palette_.bold_red);
      absl::StrAppend(out, "!! LOSS (", LossReasonName(loss.reason()), "):");
      if (loss.exchanges() > 0) absl::StrAppend(out, " ", loss.exchanges(), " exchange(s)");
      if (loss.bytes() > 0) absl::StrAppend(out, " ", loss.bytes(), " byte(s)");
      if (loss.events() > 0) absl::StrAppend(out, " ", loss.events(), " event(s)");
      out->append(" lost");
      out->append(palette_.reset);
      if (!loss.detail().empty()) {
        out->append(" — ");
        AppendPrintable(out, loss.detail());
      }
      out->push_back('\n');
      break;
    }
    case v1::Event::kEnd: {
      const v1::SessionEnd& end = event.end();
      absl::StrAppend(out, "-- session ended (", EndReasonName(end.reason()),
                      "): ", end.counters().exchanges(), " exchange(s), ",
                      LostSummary(end.counters()), "\n");
      return;
    }
    default:
      return;
  }
  out->push_back('\n');
}

}  // namespace httptrace::render
