#include "cli/render/har_renderer.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/render/json_string.h"
#include "common/percent_decode.h"

namespace httptrace::render {
namespace {

using Headers = google::protobuf::RepeatedPtrField<v1::Header>;

absl::string_view FindHeader(const Headers& headers, absl::string_view name) {
  for (const v1::Header& h : headers) {
    if (absl::EqualsIgnoreCase(h.name(), name)) return h.value();
  }
  return {};
}

// HAR times are milliseconds, fractions allowed.
void AppendMillis(std::string* out, int64_t us) { absl::StrAppendFormat(out, "%.3f", us / 1000.0); }

// Bytes a URI may not carry as they are (RFC 3986): percent-encoded. '%' is kept, so targets
// that are already encoded stay as sent.
void AppendUriSafe(std::string* out, absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    const bool safe = c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '>' && c != '\\' &&
                      c != '^' && c != '`' && c != '{' && c != '|' && c != '}';
    if (safe) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xf]);
    }
  }
}

void AppendNameValue(std::string* out, absl::string_view name, absl::string_view value) {
  out->append("{\"name\":");
  AppendJsonString(out, name);
  out->append(",\"value\":");
  AppendJsonString(out, value);
  out->push_back('}');
}

// `a=1&b=x+y` (a query string or a form body) as HAR name/value objects, decoded, comma-separated.
void AppendFormFields(std::string* out, absl::string_view text) {
  bool first = true;
  for (absl::string_view pair : absl::StrSplit(text, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    if (!first) out->push_back(',');
    first = false;
    AppendNameValue(out, FormDecode(pair.substr(0, eq)),
                    eq == absl::string_view::npos ? "" : FormDecode(pair.substr(eq + 1)));
  }
}

void AppendHeaders(std::string* out, const Headers& headers, const Headers& trailers) {
  out->append(",\"headers\":[");
  bool first = true;
  for (const Headers* list : {&headers, &trailers}) {
    for (const v1::Header& h : *list) {
      if (!first) out->push_back(',');
      first = false;
      AppendNameValue(out, h.name(), h.value());
    }
  }
  out->push_back(']');
}

void AppendRequestCookies(std::string* out, const Headers& headers) {
  out->append(",\"cookies\":[");
  bool first = true;
  for (const v1::Header& h : headers) {
    if (!absl::EqualsIgnoreCase(h.name(), "Cookie") || h.redacted()) continue;
    for (absl::string_view pair : absl::StrSplit(h.value(), ';', absl::SkipWhitespace())) {
      pair = absl::StripAsciiWhitespace(pair);
      const size_t eq = pair.find('=');
      if (eq == absl::string_view::npos) continue;
      if (!first) out->push_back(',');
      first = false;
      AppendNameValue(out, pair.substr(0, eq), pair.substr(eq + 1));
    }
  }
  out->push_back(']');
}

void AppendResponseCookies(std::string* out, const Headers& headers) {
  out->append(",\"cookies\":[");
  bool first = true;
  for (const v1::Header& h : headers) {
    if (!absl::EqualsIgnoreCase(h.name(), "Set-Cookie") || h.redacted()) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(h.value(), ';');
    const absl::string_view pair = absl::StripAsciiWhitespace(parts[0]);
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos) continue;
    if (!first) out->push_back(',');
    first = false;
    out->append("{\"name\":");
    AppendJsonString(out, pair.substr(0, eq));
    out->append(",\"value\":");
    AppendJsonString(out, pair.substr(eq + 1));
    for (size_t i = 1; i < parts.size(); ++i) {
      const absl::string_view attribute = absl::StripAsciiWhitespace(parts[i]);
      const size_t aeq = attribute.find('=');
      const absl::string_view key = attribute.substr(0, aeq);
      const absl::string_view value =
          aeq == absl::string_view::npos ? absl::string_view() : attribute.substr(aeq + 1);
      if (absl::EqualsIgnoreCase(key, "Path")) {
        out->append(",\"path\":");
        AppendJsonString(out, value);
      } else if (absl::EqualsIgnoreCase(key, "Domain")) {
        out->append(",\"domain\":");
        AppendJsonString(out, value);
      } else if (absl::EqualsIgnoreCase(key, "HttpOnly")) {
        out->append(",\"httpOnly\":true");
      } else if (absl::EqualsIgnoreCase(key, "Secure")) {
        out->append(",\"secure\":true");
      }
    }
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendQueryString(std::string* out, absl::string_view target) {
  out->append(",\"queryString\":[");
  const size_t question = target.find('?');
  if (question != absl::string_view::npos) {
    absl::string_view query = target.substr(question + 1);
    query = query.substr(0, query.find('#'));
    AppendFormFields(out, query);
  }
  out->push_back(']');
}

// HAR's postData.params: the fields of a form body (application/x-www-form-urlencoded), decoded,
// beside its text. Fields the agent redacted show their value as "[REDACTED]". A body cut short
// by the limit gives the fields it kept (the last one possibly cut too; the comment says so).
void AppendPostParams(std::string* out, absl::string_view mime, const v1::Body& body) {
  const absl::string_view media = absl::StripAsciiWhitespace(mime.substr(0, mime.find(';')));
  if (!absl::EqualsIgnoreCase(media, "application/x-www-form-urlencoded")) return;
  out->append(",\"params\":[");
  AppendFormFields(out, body.data());
  out->push_back(']');
}

// The server's side of the connection: the local end when the traced process is the server.
const v1::Endpoint& ServerEndpoint(const v1::Exchange& x) {
  return x.connection().role() == v1::ROLE_SERVER ? x.connection().local()
                                                  : x.connection().remote();
}

void AppendUrl(std::string* out, const v1::Exchange& x) {
  const v1::HttpRequest& req = x.request();
  const absl::string_view target = req.target();
  out->append(",\"url\":\"");
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    AppendUriSafe(out, target);  // absolute form (a request to a proxy)
  } else {
    out->append("http://");
    absl::string_view host = FindHeader(req.headers(), "Host");
    if (req.method() == "CONNECT") host = target;  // authority form
    if (host.empty()) {
      AppendEndpoint(out, ServerEndpoint(x));
    } else {
      AppendUriSafe(out, host);
    }
    if (absl::StartsWith(target, "/")) {
      AppendUriSafe(out, target);
    } else {
      out->push_back('/');  // CONNECT, "*" (OPTIONS), or no request seen
    }
  }
  out->push_back('"');
}

}  // namespace

void HarRenderer::Begin(std::string* out) {
  out->append("{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"httptracectl\",\"version\":");
  AppendJsonString(out, options_.version.empty() ? "unknown" : options_.version);
  out->append("},\"entries\":[\n");
}

void HarRenderer::Render(const v1::Event& event, absl::string_view node, std::string* out) {
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const absl::string_view exchange_node =
          event.exchange().node().empty() ? node : absl::string_view(event.exchange().node());
      if (entries_++ > 0) out->append(",\n");
      AppendEntry(event.exchange(), event.seq(), exchange_node, out);
      return;
    }
    case v1::Event::kLoss: {
      const v1::Loss& loss = event.loss();
      std::string json = absl::StrCat("{\"seq\":", event.seq(), ",\"node\":");
      AppendJsonString(&json, node);
      absl::StrAppend(&json, ",\"reason\":\"", LossReasonName(loss.reason()),
                      "\",\"exchanges\":", loss.exchanges(), ",\"bytes\":", loss.bytes(),
                      ",\"events\":", loss.events(), ",\"detail\":");
      AppendJsonString(&json, loss.detail());
      json.push_back('}');
      losses_.push_back(std::move(json));
      return;
    }
    case v1::Event::kEnd: {
      const v1::SessionEnd& end = event.end();
      std::string json = "{\"node\":";
      AppendJsonString(&json, node);
      absl::StrAppend(&json, ",\"reason\":\"", EndReasonName(end.reason()),
                      "\",\"exchanges\":", end.counters().exchanges(),
                      ",\"exchanges_lost\":", end.counters().exchanges_lost(),
                      ",\"bytes_lost\":", end.counters().bytes_lost(), ",\"detail\":");
      AppendJsonString(&json, end.detail());
      json.push_back('}');
      sessions_.push_back(std::move(json));
      return;
    }
    default:
      return;
  }
}

void HarRenderer::AppendBodyText(std::string* out, const v1::Body& body,
                                 absl::string_view encoding_key) {
  if (!body.data().empty()) {
    out->append(",\"text\":");
    if (IsValidUtf8(body.data())) {
      AppendJsonString(out, body.data());
    } else {
      absl::Base64Escape(body.data(), &scratch_);
      AppendJsonString(out, scratch_);
      absl::StrAppend(out, ",\"", encoding_key, "\":\"base64\"");
    }
  }
  if (body.truncated()) {
    absl::StrAppend(out, ",\"comment\":\"", body.data().size(), " of ", body.size(),
                    " bytes kept\"");
  }
}

void HarRenderer::AppendEntry(const v1::Exchange& x, uint64_t seq, absl::string_view node,
                              std::string* out, const v1::Exchange* server, uint64_t server_seq,
                              absl::string_view pair_id) {
  const v1::HttpRequest& req = x.request();
  const v1::HttpResponse& resp = x.response();
  // Timings from the four instants the agent saw; a phase whose ends were not both seen is 0.
  const auto phase = [](const google::protobuf::Timestamp& a,
                        const google::protobuf::Timestamp& b) {
    return std::max<int64_t>(0, MicrosBetween(a, b));
  };
  const int64_t send = x.has_request() ? phase(x.start_time(), req.end_time()) : 0;
  int64_t wait = 0, receive = 0;
  if (x.has_response()) {
    wait = phase(req.has_end_time() ? req.end_time() : x.start_time(), resp.start_time());
    receive = phase(resp.start_time(), resp.end_time());
    if (!resp.has_start_time() && x.has_latency()) wait = ToMicros(x.latency());
  }

  out->append("{\"startedDateTime\":\"");
  times_.Append(out, x.start_time(), 6);
  out->append("Z\",\"time\":");
  AppendMillis(out, send + wait + receive);

  // request
  out->append(",\"request\":{\"method\":");
  AppendJsonString(out, x.has_request() ? req.method() : "");
  AppendUrl(out, x);
  out->append(",\"httpVersion\":");
  AppendJsonString(out, req.version());
  AppendRequestCookies(out, req.headers());
  AppendHeaders(out, req.headers(), req.trailers());
  AppendQueryString(out, req.target());
  const v1::Body& req_body = req.body();
  if (req_body.size() > 0 || !req_body.data().empty()) {
    out->append(",\"postData\":{\"mimeType\":");
    const absl::string_view post_mime = FindHeader(req.headers(), "Content-Type");
    AppendJsonString(out, post_mime);
    AppendPostParams(out, post_mime, req_body);
    // HAR 1.2 has no encoding for post data; binary text is base64 and `_encoding` says so.
    AppendBodyText(out, req_body, "_encoding");
    out->push_back('}');
  }
  absl::StrAppend(out, ",\"headersSize\":-1,\"bodySize\":",
                  x.has_request() ? static_cast<int64_t>(req_body.decoded_from().empty()
                                                             ? req_body.size()
                                                             : req_body.encoded_size())
                                  : -1,
                  "}");

  // response
  if (x.has_response()) {
    absl::StrAppend(out, ",\"response\":{\"status\":", resp.status(), ",\"statusText\":");
    AppendJsonString(out, resp.reason());
    out->append(",\"httpVersion\":");
    AppendJsonString(out, resp.version());
    AppendResponseCookies(out, resp.headers());
    AppendHeaders(out, resp.headers(), resp.trailers());
    const v1::Body& body = resp.body();
    const absl::string_view mime = FindHeader(resp.headers(), "Content-Type");
    absl::StrAppend(out, ",\"content\":{\"size\":", body.size());
    if (!body.decoded_from().empty()) {
      absl::StrAppend(
          out, ",\"compression\":",
          static_cast<int64_t>(body.size()) - static_cast<int64_t>(body.encoded_size()));
    }
    out->append(",\"mimeType\":");
    AppendJsonString(out, mime.empty() ? "x-unknown" : mime);
    AppendBodyText(out, body, "encoding");
    out->append("},\"redirectURL\":");
    AppendJsonString(out, FindHeader(resp.headers(), "Location"));
    absl::StrAppend(out, ",\"headersSize\":-1,\"bodySize\":",
                    body.decoded_from().empty() ? body.size() : body.encoded_size(), "}");
  } else {
    // HAR requires a response; status 0 is how browsers record one that never came.
    out->append(
        ",\"response\":{\"status\":0,\"statusText\":\"\",\"httpVersion\":\"\",\"cookies\":[],"
        "\"headers\":[],\"content\":{\"size\":0,\"mimeType\":\"x-unknown\"},\"redirectURL\":\"\","
        "\"headersSize\":-1,\"bodySize\":-1,\"comment\":\"response not captured\"}");
  }

  out->append(",\"cache\":{},\"timings\":{\"blocked\":-1,\"dns\":-1,\"connect\":-1,\"send\":");
  AppendMillis(out, send);
  out->append(",\"wait\":");
  AppendMillis(out, wait);
  out->append(",\"receive\":");
  AppendMillis(out, receive);
  out->append(",\"ssl\":-1},\"serverIPAddress\":");
  AppendJsonString(out, ServerEndpoint(x).address());
  absl::StrAppend(out, ",\"connection\":\"", x.connection().id(), "\"");
  if (!x.has_request()) out->append(",\"comment\":\"request not captured\"");

  // What HAR has no field for.
  absl::StrAppend(out, ",\"_httptrace\":{\"seq\":", seq, ",\"node\":");
  AppendJsonString(out, node);
  AppendProcessAndConnection(out, x);
  absl::StrAppend(out, ",\"complete\":", x.complete() ? "true" : "false", ",\"notes\":[");
  for (int i = 0; i < x.notes_size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, x.notes(i));
  }
  out->push_back(']');
  if (server != nullptr) {
    // The same exchange as the server saw it: one entry, both ends.
    out->append(",\"pair\":");
    AppendJsonString(out, pair_id);
    absl::StrAppend(out, ",\"server\":{\"seq\":", server_seq);
    AppendProcessAndConnection(out, *server);
    out->append(",\"latency_ms\":");
    if (server->has_latency()) {
      AppendMillis(out, ToMicros(server->latency()));
    } else {
      out->append("null");
    }
    absl::StrAppend(out, ",\"complete\":", server->complete() ? "true" : "false", ",\"notes\":[");
    for (int i = 0; i < server->notes_size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(out, server->notes(i));
    }
    out->append("]}");
  }
  out->append("}}");
}

void HarRenderer::RenderPair(const v1::Event& client, const v1::Event& server,
                             absl::string_view pair_id, absl::string_view node, std::string* out) {
  const absl::string_view exchange_node =
      client.exchange().node().empty() ? node : absl::string_view(client.exchange().node());
  if (entries_++ > 0) out->append(",\n");
  AppendEntry(client.exchange(), client.seq(), exchange_node, out, &server.exchange(), server.seq(),
              pair_id);
}

void HarRenderer::End(std::string* out) {
  out->append("\n],\"_httptrace\":{\"losses\":[");
  for (size_t i = 0; i < losses_.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(losses_[i]);
  }
  out->append("],\"sessions\":[");
  for (size_t i = 0; i < sessions_.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(sessions_[i]);
  }
  out->append("]}}}\n");
}

}  // namespace httptrace::render
