// The engine's side of the HTTP/1.x differential test (differential_test.py): reads cases as JSON
// lines {"name", "requests": base64, "responses": base64} on stdin, feeds each case's request
// stream and response stream to one Http1Connection (the traced process as the client: requests
// written, then responses read; each stream whole, then the close) and prints what it made of
// them, one JSON line per case:
//   {"name", "exchanges": [{"request": MSG | null, "response": MSG | null,
//                            "request_complete", "response_complete", "notes": [...]}],
//    "counters": {"parse_errors", ...}}
//   MSG = {"method"|"status", "target"|"reason", "version": "1.1", "headers": [[k, v]...],
//          "trailers": [[k, v]...], "body": base64}
// Limits are raised so that only parsing, not the engine's memory bounds, decides; bodies are
// not decoded (Content-Encoding), as llhttp does not.

#include <iostream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "agent/protocols/http1/http1_connection.h"
#include "nlohmann/json.hpp"

namespace {

using httptrace::protocols::Direction;
using httptrace::protocols::EngineOptions;
using httptrace::protocols::Exchange;
using httptrace::protocols::Header;
using httptrace::protocols::RoleHint;
using httptrace::protocols::http1::Http1Connection;
using nlohmann::json;

// Bytes as Latin-1 text (each byte one code point), as Node hands llhttp's tokens to JavaScript:
// both sides then print the same JSON for any byte.
std::string Latin1(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const unsigned char c : bytes) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xc0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
    }
  }
  return out;
}

json Pairs(const std::vector<Header>& headers) {
  json out = json::array();
  for (const Header& h : headers) out.push_back({Latin1(h.name), Latin1(h.value)});
  return out;
}

std::string Version(const std::string& v) { return absl::StartsWith(v, "HTTP/") ? v.substr(5) : v; }

json Dump(const Exchange& e) {
  json x;
  if (e.has_request) {
    x["request"] = {
        {"method", Latin1(e.request.method)},    {"target", Latin1(e.request.target)},
        {"version", Version(e.request.version)}, {"headers", Pairs(e.request.headers)},
        {"trailers", Pairs(e.request.trailers)}, {"body", absl::Base64Escape(e.request.body.data)},
        {"body_size", e.request.body.size}};
  } else {
    x["request"] = nullptr;
  }
  if (e.has_response) {
    x["response"] = {{"status", e.response.status},
                     {"reason", Latin1(e.response.reason)},
                     {"version", Version(e.response.version)},
                     {"headers", Pairs(e.response.headers)},
                     {"trailers", Pairs(e.response.trailers)},
                     {"body", absl::Base64Escape(e.response.body.data)},
                     {"body_size", e.response.body.size}};
  } else {
    x["response"] = nullptr;
  }
  x["request_complete"] = e.request_complete;
  x["response_complete"] = e.response_complete;
  x["notes"] = e.notes;
  return x;
}

}  // namespace

int main() {
  EngineOptions options;
  options.max_header_block_bytes = 1 << 20;
  options.max_headers = 1 << 16;
  options.max_body_bytes = 64 << 20;
  options.max_pending_requests = 1 << 16;
  options.max_buffered_bytes = 256 << 20;
  options.decode_content_encoding = false;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const json c = json::parse(line);
    std::string requests, responses;
    if (!absl::Base64Unescape(c.value("requests", ""), &requests) ||
        !absl::Base64Unescape(c.value("responses", ""), &responses)) {
      std::cerr << "engine_dump: bad base64 in case " << c.value("name", "?") << "\n";
      return 2;
    }
    json exchanges = json::array();
    Http1Connection conn(options, RoleHint::kClient,
                         [&](Exchange&& e) { exchanges.push_back(Dump(e)); });
    if (!requests.empty()) {
      conn.OnData(Direction::kEgress, 0, requests, requests.size(), 10);
    }
    if (!responses.empty()) {
      conn.OnData(Direction::kIngress, 0, responses, responses.size(), 20);
    }
    conn.OnClose(30);
    json counters;
    conn.counters().ForEach([&](const char* name, uint64_t v) { counters[name] = v; });
    std::cout << json{{"name", c.value("name", "")},
                      {"exchanges", exchanges},
                      {"counters", counters}}
                     .dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
  }
  return 0;
}
