// Header redaction and small helpers for Exchange.

#include "agent/protocols/common/exchange.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace httptrace::protocols {
namespace {

void AppendHeaders(std::string& out, absl::string_view label, const std::vector<Header>& headers) {
  for (const Header& h : headers) {
    absl::StrAppend(&out, "  ", label, " ", h.name, ": ", h.value, "\n");
  }
}

void AppendBody(std::string& out, absl::string_view label, const Body& body) {
  absl::StrAppend(&out, "  ", label, " size=", body.size, " encoded=", body.encoded_size,
                  " missing=", body.missing_bytes, body.truncated ? " truncated" : "",
                  body.decoded_from.empty() ? "" : " decoded_from=", body.decoded_from, " data=\"",
                  absl::CHexEscape(body.data), "\"\n");
}

}  // namespace

absl::string_view FindHeader(const std::vector<Header>& headers, absl::string_view name) {
  for (const Header& h : headers) {
    if (absl::EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

std::string DebugString(const Exchange& e) {
  std::string out;
  absl::StrAppend(&out, "exchange start=", e.start_time_ns, " end=", e.end_time_ns,
                  " req_end=", e.request_end_time_ns, " resp_start=", e.response_start_time_ns,
                  " requests_on=", e.request_direction == Direction::kEgress ? "egress" : "ingress",
                  e.complete ? " complete" : " incomplete", "\n");
  if (e.has_request) {
    absl::StrAppend(&out, "  request ", e.request.method, " ", e.request.target, " ",
                    e.request.version, e.request_complete ? "" : " (incomplete)", "\n");
    AppendHeaders(out, "req-header", e.request.headers);
    AppendHeaders(out, "req-trailer", e.request.trailers);
    AppendBody(out, "req-body", e.request.body);
  }
  if (e.has_response) {
    absl::StrAppend(&out, "  response ", e.response.version, " ", e.response.status, " ",
                    e.response.reason, e.response_complete ? "" : " (incomplete)", "\n");
    AppendHeaders(out, "resp-header", e.response.headers);
    AppendHeaders(out, "resp-trailer", e.response.trailers);
    AppendBody(out, "resp-body", e.response.body);
  }
  if (e.stream_id != 0) absl::StrAppend(&out, "  stream ", e.stream_id, "\n");
  if (e.grpc) {
    const GrpcCall& g = *e.grpc;
    absl::StrAppend(&out, "  grpc ", g.service, "/", g.method,
                    " status=", g.status_code ? absl::StrCat(*g.status_code) : "none", " message='",
                    g.status_message, "'", g.trailers_only ? " trailers-only" : "", "\n");
    for (const GrpcMessages* m : {&g.request, &g.response}) {
      absl::StrAppend(&out, "  grpc-", m == &g.request ? "request" : "response",
                      " messages=", m->count, m->framing_lost ? " framing-lost" : "", "\n");
      for (const GrpcMessage& msg : m->messages) {
        absl::StrAppend(&out, "    size=", msg.size, msg.compressed ? " compressed" : "",
                        msg.decoded_from.empty() ? "" : " decoded_from=", msg.decoded_from,
                        msg.complete ? "" : " (incomplete)",
                        msg.missing_bytes ? absl::StrCat(" missing=", msg.missing_bytes) : "",
                        " kept=", msg.data.size(), "\n");
      }
    }
  }
  for (const std::string& note : e.notes) absl::StrAppend(&out, "  note: ", note, "\n");
  return out;
}

}  // namespace httptrace::protocols
