#include "cli/render/text_renderer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/render/text_util.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::render {
namespace {

constexpr absl::string_view kHeaderIndent = "     ";
// Body lines beyond this are elided in the text format (the jsonl format keeps everything).
constexpr size_t kMaxBodyLines = 200;

std::string Latency(const google::protobuf::Duration& latency) {
  const int64_t us = google::protobuf::util::TimeUtil::DurationToMicroseconds(latency);
  if (us < 1000) return absl::StrCat(us, " µs");
  if (us < 10'000'000) return absl::StrFormat("%.3f ms", us / 1000.0);
  return absl::StrFormat("%.3f s", us / 1e6);
}

// Printable rendering of header values and text bodies: control characters (other than tab)
// are shown escaped so a hostile peer cannot rewrite the terminal or forge trace lines.
std::string Printable(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\t' || (u >= 0x20 && u != 0x7f)) {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", u);
    }
  }
  return out;
}

void AppendHeaders(std::string* out, const google::protobuf::RepeatedPtrField<v1::Header>& headers,
                   absl::string_view label = "") {
  for (const v1::Header& header : headers) {
    absl::StrAppend(out, kHeaderIndent, label, Printable(header.name()), ": ",
                    Printable(header.value()), "\n");
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
  std::vector<absl::string_view> lines = absl::StrSplit(body.data(), '\n');
  if (lines.size() > 1 && lines.back().empty()) lines.pop_back();
  absl::StrAppend(out, kHeaderIndent, "Body: ");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == kMaxBodyLines) {
      absl::StrAppend(out, kHeaderIndent, "      … ", lines.size() - i, " more lines\n");
      break;
    }
    absl::string_view line = absl::StripSuffix(lines[i], "\r");
    if (i > 0) absl::StrAppend(out, kHeaderIndent, "      ");
    absl::StrAppend(out, Printable(line), "\n");
  }
  if (!suffix.empty()) absl::StrAppend(out, kHeaderIndent, "     ", suffix, "\n");
}

}  // namespace

std::string TextRenderer::FileHeader() const {
  return "httptrace HTTP trace\n====================\n\n";
}

std::string TextRenderer::Render(const v1::Event& event) const {
  std::string out;
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const v1::Exchange& x = event.exchange();
      const absl::Time start = absl::FromUnixSeconds(x.start_time().seconds()) +
                               absl::Nanoseconds(x.start_time().nanos());
      const v1::Connection& conn = x.connection();
      absl::StrAppend(&out, "[", absl::FormatTime("%Y-%m-%d %H:%M:%E3S", start, options_.time_zone),
                      "] PID ", x.process().pid(), " (", Printable(x.process().comm()), ") ",
                      RoleName(conn.role()), " ", EndpointString(conn.local()),
                      conn.role() == v1::ROLE_CLIENT ? " → " : " ← ",
                      EndpointString(conn.remote()));
      const std::string& node = x.node().empty() ? options_.node : x.node();
      if (options_.show_node && !node.empty()) absl::StrAppend(&out, " node ", Printable(node));
      if (x.process().has_container()) {
        const v1::Container& c = x.process().container();
        const std::string short_id = c.id().substr(0, 12);
        if (!c.pod_name().empty()) {
          absl::StrAppend(&out, " pod ", Printable(c.pod_namespace()), "/",
                          Printable(c.pod_name()));
        }
        absl::StrAppend(
            &out, " container ",
            c.name().empty() ? short_id : absl::StrCat(Printable(c.name()), " (", short_id, ")"));
      }
      if (x.has_latency()) absl::StrAppend(&out, " latency ", Latency(x.latency()));
      out.push_back('\n');
      if (x.has_request()) {
        const v1::HttpRequest& req = x.request();
        absl::StrAppend(&out, "  → HTTP ", Printable(req.method()), " ", Printable(req.target()),
                        req.version().empty() ? "" : " ", Printable(req.version()), "\n");
        AppendHeaders(&out, req.headers());
        AppendBody(&out, req.body());
        AppendHeaders(&out, req.trailers(), "(trailer) ");
      } else {
        // A response whose request the capture never saw (the notes say why).
        absl::StrAppend(&out, "  → (request not captured)\n");
      }
      if (x.has_response()) {
        const v1::HttpResponse& resp = x.response();
        absl::StrAppend(&out, "  ← Response ", resp.status(), " ", Printable(resp.reason()), "\n");
        AppendHeaders(&out, resp.headers());
        AppendBody(&out, resp.body());
        AppendHeaders(&out, resp.trailers(), "(trailer) ");
      }
      for (const std::string& note : x.notes()) {
        absl::StrAppend(&out, "  ! ", Printable(note), "\n");
      }
      break;
    }
    case v1::Event::kLoss: {
      const v1::Loss& loss = event.loss();
      absl::StrAppend(&out, "!! LOSS (", LossReasonName(loss.reason()), "):");
      if (loss.exchanges() > 0) absl::StrAppend(&out, " ", loss.exchanges(), " exchange(s)");
      if (loss.bytes() > 0) absl::StrAppend(&out, " ", loss.bytes(), " byte(s)");
      if (loss.events() > 0) absl::StrAppend(&out, " ", loss.events(), " event(s)");
      absl::StrAppend(&out, " lost");
      if (!loss.detail().empty()) absl::StrAppend(&out, " — ", Printable(loss.detail()));
      out.push_back('\n');
      break;
    }
    case v1::Event::kEnd: {
      const v1::SessionEnd& end = event.end();
      absl::StrAppend(&out, "-- session ended (", EndReasonName(end.reason()),
                      "): ", end.counters().exchanges(), " exchange(s), ",
                      LostSummary(end.counters()), "\n");
      return out;
    }
    default:
      return "";
  }
  out.push_back('\n');
  return out;
}

}  // namespace httptrace::render
