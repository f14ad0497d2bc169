#include "cli/render/jsonl_renderer.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cli/render/json_string.h"

namespace httptrace::render {
namespace {

void AppendHeaders(std::string* out, absl::string_view key,
                   const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  absl::StrAppend(out, ",\"", key, "\":[");
  for (int i = 0; i < headers.size(); ++i) {
    out->append(i > 0 ? ",[" : "[");
    AppendJsonString(out, headers[i].name());
    out->push_back(',');
    AppendJsonString(out, headers[i].value());
    out->push_back(']');
  }
  out->push_back(']');
}

void AppendMicros(std::string* out, absl::string_view key, int64_t us) {
  if (us < 0) {
    absl::StrAppend(out, ",\"", key, "\":null");
  } else {
    absl::StrAppend(out, ",\"", key, "\":", us);
  }
}

// One direction's gRPC messages: sizes, flags and the bytes kept (base64: they are protobuf).
void AppendGrpcMessages(std::string* out, absl::string_view key, const v1::GrpcMessages& messages,
                        std::string* scratch) {
  absl::StrAppend(out, ",\"", key, "\":{\"count\":", messages.count(),
                  ",\"framing_lost\":", messages.framing_lost() ? "true" : "false",
                  ",\"messages\":[");
  for (int i = 0; i < messages.messages_size(); ++i) {
    const v1::GrpcMessage& m = messages.messages(i);
    absl::Base64Escape(m.data(), scratch);
    absl::StrAppend(out, i > 0 ? "," : "", "{\"size\":", m.size(),
                    ",\"compressed\":", m.compressed() ? "true" : "false",
                    ",\"complete\":", m.complete() ? "true" : "false",
                    ",\"missing_bytes\":", m.missing_bytes(), ",\"data_base64\":\"", *scratch,
                    "\"");
    if (!m.decoded_from().empty()) {
      absl::StrAppend(out, ",\"decoded_from\":\"", m.decoded_from(), "\"");
    }
    out->push_back('}');
  }
  out->append("]}");
}

}  // namespace

void JsonlRenderer::AppendGrpc(std::string* out, const v1::Grpc& grpc) {
  out->append(",\"grpc\":{\"service\":");
  AppendJsonString(out, grpc.service());
  out->append(",\"method\":");
  AppendJsonString(out, grpc.method());
  if (grpc.has_status_code()) {
    absl::StrAppend(out, ",\"status_code\":", grpc.status_code());
  } else {
    out->append(",\"status_code\":null");
  }
  out->append(",\"status_message\":");
  AppendJsonString(out, grpc.status_message());
  if (!grpc.encoding().empty()) {
    out->append(",\"encoding\":");
    AppendJsonString(out, grpc.encoding());
  }
  absl::StrAppend(out, ",\"trailers_only\":", grpc.trailers_only() ? "true" : "false");
  AppendGrpcMessages(out, "request_messages", grpc.request(), &scratch_);
  AppendGrpcMessages(out, "response_messages", grpc.response(), &scratch_);
  out->push_back('}');
}

void JsonlRenderer::AppendBody(std::string* out, const v1::Body& body) {
  const bool text = IsValidUtf8(body.data());
  out->append(",\"body\":");
  if (text) {
    AppendJsonString(out, body.data());
  } else {
    absl::Base64Escape(body.data(), &scratch_);
    out->push_back('"');
    out->append(scratch_);
    out->push_back('"');
  }
  absl::StrAppend(out, ",\"body_encoding\":\"", text ? "text" : "base64",
                  "\",\"body_size\":", body.size(),
                  ",\"body_truncated\":", body.truncated() ? "true" : "false");
  if (!body.decoded_from().empty()) {
    out->append(",\"body_decoded_from\":");
    AppendJsonString(out, body.decoded_from());
    absl::StrAppend(out, ",\"body_encoded_size\":", body.encoded_size());
  }
}

void JsonlRenderer::Render(const v1::Event& event, absl::string_view source_node,
                           std::string* out) {
  const v1::Event::KindCase kind = event.kind_case();
  if (kind != v1::Event::kExchange && kind != v1::Event::kLoss && kind != v1::Event::kEnd) return;
  absl::StrAppend(out, "{\"seq\":", event.seq());
  const absl::string_view node = event.has_exchange() && !event.exchange().node().empty()
                                     ? absl::string_view(event.exchange().node())
                                     : source_node;
  if (!node.empty()) {
    out->append(",\"node\":");
    AppendJsonString(out, node);
  }
  if (!pair_id_.empty() && kind == v1::Event::kExchange) {
    out->append(",\"pair\":");
    AppendJsonString(out, pair_id_);
  }
  switch (kind) {
    case v1::Event::kExchange: {
      const v1::Exchange& x = event.exchange();
      out->append(",\"time\":\"");
      times_.Append(out, x.start_time(), 6);
      out->append("Z\"");
      AppendProcessAndConnection(out, x);
      AppendMicros(out, "latency_us", x.has_latency() ? ToMicros(x.latency()) : -1);
      AppendMicros(
          out, "ttfb_us",
          x.has_response() ? MicrosBetween(x.start_time(), x.response().start_time()) : -1);
      absl::StrAppend(out, ",\"complete\":", x.complete() ? "true" : "false", ",\"notes\":[");
      for (int i = 0; i < x.notes_size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendJsonString(out, x.notes(i));
      }
      const v1::HttpRequest& req = x.request();
      out->append("],\"request\":{\"method\":");
      AppendJsonString(out, req.method());
      out->append(",\"target\":");
      AppendJsonString(out, req.target());
      out->append(",\"version\":");
      AppendJsonString(out, req.version());
      AppendHeaders(out, "headers", req.headers());
      AppendBody(out, req.body());
      if (req.trailers_size() > 0) AppendHeaders(out, "trailers", req.trailers());
      out->push_back('}');
      if (x.has_response()) {
        const v1::HttpResponse& resp = x.response();
        out->append(",\"response\":{\"version\":");
        AppendJsonString(out, resp.version());
        absl::StrAppend(out, ",\"status\":", resp.status(), ",\"reason\":");
        AppendJsonString(out, resp.reason());
        AppendHeaders(out, "headers", resp.headers());
        AppendBody(out, resp.body());
        if (resp.trailers_size() > 0) AppendHeaders(out, "trailers", resp.trailers());
        out->push_back('}');
      } else {
        out->append(",\"response\":null");
      }
      if (x.stream_id() != 0) absl::StrAppend(out, ",\"stream_id\":", x.stream_id());
      if (x.has_grpc()) AppendGrpc(out, x.grpc());
      break;
    }
    case v1::Event::kLoss: {
      const v1::Loss& loss = event.loss();
      absl::StrAppend(out, ",\"loss\":{\"exchanges\":", loss.exchanges(),
                      ",\"bytes\":", loss.bytes(), ",\"events\":", loss.events(), ",\"reason\":\"",
                      LossReasonName(loss.reason()), "\",\"detail\":");
      AppendJsonString(out, loss.detail());
      out->push_back('}');
      break;
    }
    case v1::Event::kEnd: {
      const v1::SessionEnd& end = event.end();
      absl::StrAppend(out, ",\"end\":{\"reason\":\"", EndReasonName(end.reason()),
                      "\",\"detail\":");
      AppendJsonString(out, end.detail());
      absl::StrAppend(out, ",\"exchanges\":", end.counters().exchanges(),
                      ",\"exchanges_lost\":", end.counters().exchanges_lost(),
                      ",\"bytes_lost\":", end.counters().bytes_lost(), "}");
      break;
    }
    default:
      break;
  }
  out->append("}\n");
}

void JsonlRenderer::RenderPair(const v1::Event& client, const v1::Event& server,
                               absl::string_view pair_id, absl::string_view node,
                               std::string* out) {
  pair_id_ = std::string(pair_id);
  Render(client, node, out);
  Render(server, node, out);
  pair_id_.clear();
}

}  // namespace httptrace::render
