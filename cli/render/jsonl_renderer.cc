#include "cli/render/jsonl_renderer.h"

#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/render/text_util.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::render {
namespace {

// Appends `text` as a JSON string. Bytes that are not valid UTF-8 (possible in header values)
// become U+FFFD so every line stays valid JSON.
void AppendJsonString(std::string* out, absl::string_view text) {
  const bool valid = IsValidUtf8(text);
  out->push_back('"');
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          absl::StrAppendFormat(out, "\\u%04x", u);
        } else if (u >= 0x80 && !valid) {
          out->append("\\ufffd");
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string JsonString(absl::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

std::string Rfc3339Micros(const google::protobuf::Timestamp& ts) {
  const absl::Time t = absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

void AppendHeaders(std::string* out, absl::string_view key,
                   const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  absl::StrAppend(out, ",\"", key, "\":[");
  for (int i = 0; i < headers.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, "[", JsonString(headers[i].name()), ",", JsonString(headers[i].value()),
                    "]");
  }
  out->push_back(']');
}

void AppendBody(std::string* out, const v1::Body& body) {
  const bool text = IsValidUtf8(body.data());
  absl::StrAppend(
      out, ",\"body\":", JsonString(text ? body.data() : absl::Base64Escape(body.data())),
      ",\"body_encoding\":\"", text ? "text" : "base64", "\"", ",\"body_size\":", body.size(),
      ",\"body_truncated\":", body.truncated() ? "true" : "false");
  if (!body.decoded_from().empty()) {
    absl::StrAppend(out, ",\"body_decoded_from\":", JsonString(body.decoded_from()),
                    ",\"body_encoded_size\":", body.encoded_size());
  }
}

}  // namespace

std::string JsonlRenderer::Render(const v1::Event& event) const {
  std::string out = absl::StrCat("{\"seq\":", event.seq());
  const std::string& node = event.has_exchange() && !event.exchange().node().empty()
                                ? event.exchange().node()
                                : options_.node;
  if (!node.empty()) absl::StrAppend(&out, ",\"node\":", JsonString(node));
  switch (event.kind_case()) {
    case v1::Event::kExchange: {
      const v1::Exchange& x = event.exchange();
      absl::StrAppend(&out, ",\"time\":\"", Rfc3339Micros(x.start_time()), "\"",
                      ",\"pid\":", x.process().pid(), ",\"tid\":", x.process().tid(),
                      ",\"comm\":", JsonString(x.process().comm()), ",\"role\":\"",
                      RoleName(x.connection().role()), "\"",
                      ",\"local\":", JsonString(EndpointString(x.connection().local())),
                      ",\"remote\":", JsonString(EndpointString(x.connection().remote())),
                      ",\"connection_id\":", x.connection().id());
      if (x.process().has_container()) {
        const v1::Container& c = x.process().container();
        absl::StrAppend(&out, ",\"container\":{\"id\":", JsonString(c.id()),
                        ",\"name\":", JsonString(c.name()), ",\"pod\":", JsonString(c.pod_name()),
                        ",\"namespace\":", JsonString(c.pod_namespace()), "}");
      }
      if (x.has_latency()) {
        absl::StrAppend(&out, ",\"latency_us\":",
                        google::protobuf::util::TimeUtil::DurationToMicroseconds(x.latency()));
      } else {
        out.append(",\"latency_us\":null");
      }
      absl::StrAppend(&out, ",\"complete\":", x.complete() ? "true" : "false", ",\"notes\":[");
      for (int i = 0; i < x.notes_size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendJsonString(&out, x.notes(i));
      }
      const v1::HttpRequest& req = x.request();
      absl::StrAppend(&out, "],\"request\":{\"method\":", JsonString(req.method()),
                      ",\"target\":", JsonString(req.target()),
                      ",\"version\":", JsonString(req.version()));
      AppendHeaders(&out, "headers", req.headers());
      AppendBody(&out, req.body());
      if (req.trailers_size() > 0) AppendHeaders(&out, "trailers", req.trailers());
      out.push_back('}');
      if (x.has_response()) {
        const v1::HttpResponse& resp = x.response();
        absl::StrAppend(&out, ",\"response\":{\"version\":", JsonString(resp.version()),
                        ",\"status\":", resp.status(), ",\"reason\":", JsonString(resp.reason()));
        AppendHeaders(&out, "headers", resp.headers());
        AppendBody(&out, resp.body());
        if (resp.trailers_size() > 0) AppendHeaders(&out, "trailers", resp.trailers());
        out.push_back('}');
      } else {
        out.append(",\"response\":null");
      }
      break;
    }
    case v1::Event::kLoss: {
      const v1::Loss& loss = event.loss();
      absl::StrAppend(&out, ",\"loss\":{\"exchanges\":", loss.exchanges(),
                      ",\"bytes\":", loss.bytes(), ",\"events\":", loss.events(),
                      ",\"reason\":", JsonString(LossReasonName(loss.reason())),
                      ",\"detail\":", JsonString(loss.detail()), "}");
      break;
    }
    case v1::Event::kEnd: {
      const v1::SessionEnd& end = event.end();
      absl::StrAppend(&out, ",\"end\":{\"reason\":", JsonString(EndReasonName(end.reason())),
                      ",\"detail\":", JsonString(end.detail()),
                      ",\"exchanges\":", end.counters().exchanges(),
                      ",\"exchanges_lost\":", end.counters().exchanges_lost(),
                      ",\"bytes_lost\":", end.counters().bytes_lost(), "}");
      break;
    }
    default:
      return "";
  }
  out.append("}\n");
  return out;
}

}  // namespace httptrace::render
