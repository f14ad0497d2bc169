#include "cli/request_builder.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::cli {
namespace {

absl::Status AddNumbers(const std::vector<std::string>& values, absl::string_view flag,
                        uint32_t max, google::protobuf::RepeatedField<uint32_t>* out) {
  for (const std::string& value : values) {
    uint32_t number;
    if (!absl::SimpleAtoi(value, &number) || number == 0 || number > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " ", value, ": want a number from 1 to ", max));
    }
    out->Add(number);
  }
  return absl::OkStatus();
}

// "5xx" → 500-599, "404" → 404-404.
absl::Status AddStatuses(const std::vector<std::string>& values,
                         google::protobuf::RepeatedPtrField<v1::StatusRange>* out) {
  for (const std::string& value : values) {
    v1::StatusRange range;
    uint32_t code = 0;
    if (value.size() == 3 && value[0] >= '1' && value[0] <= '5' &&
        absl::AsciiStrToLower(value.substr(1)) == "xx") {
      range.set_min(static_cast<uint32_t>(value[0] - '0') * 100);
      range.set_max(range.min() + 99);
    } else if (absl::SimpleAtoi(value, &code) && code >= 100 && code <= 599) {
      range.set_min(code);
      range.set_max(code);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--status ", value, ": want a class (1xx, 2xx, 3xx, 4xx, 5xx) or a code (100 to 599)"));
    }
    *out->Add() = range;
  }
  return absl::OkStatus();
}

absl::Status ReadPem(const std::string& path, absl::string_view flag, std::string* out) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::ostringstream content;
  content << in.rdbuf();
  *out = content.str();
  return absl::OkStatus();
}

google::protobuf::Duration ToProto(absl::Duration d) {
  return google::protobuf::util::TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

}  // namespace

absl::StatusOr<v1::StartCaptureRequest> BuildStartRequest(const RequestFlags& flags) {
  v1::StartCaptureRequest request;
  v1::Filter* filter = request.mutable_filter();
  if (absl::Status s = AddNumbers(flags.pids, "pid", 0x3fffffff, filter->mutable_pids()); !s.ok()) {
    return s;
  }
  if (absl::Status s = AddNumbers(flags.ports, "port", 65535, filter->mutable_ports()); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          AddNumbers(flags.local_ports, "local-port", 65535, filter->mutable_local_ports());
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          AddNumbers(flags.remote_ports, "remote-port", 65535, filter->mutable_remote_ports());
      !s.ok()) {
    return s;
  }
  for (const auto& comm : flags.comms) filter->add_process_names(comm);
  for (const auto& container : flags.containers) filter->add_containers(container);
  for (const auto& ns : flags.namespaces) filter->add_pod_namespaces(ns);
  for (const auto& pod : flags.pods) filter->add_pods(pod);
  for (const auto& method : flags.methods) {
    const std::string upper = absl::AsciiStrToUpper(method);
    const auto& known = KnownMethods();
    if (std::find(known.begin(), known.end(), upper) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--method ", method,
                       ": not an HTTP method, so it would never match (want GET, HEAD, POST, PUT, "
                       "DELETE, PATCH, OPTIONS, CONNECT, TRACE or another registered method)"));
    }
    filter->add_methods(upper);
  }
  if (absl::Status s = AddStatuses(flags.statuses, filter->mutable_statuses()); !s.ok()) return s;
  for (const auto& host : flags.hosts) {
    std::string name = absl::AsciiStrToLower(host);
    // "api.example.com:8080" → "api.example.com": hosts are matched without their port.
    if (std::count(name.begin(), name.end(), ':') == 1) name = name.substr(0, name.find(':'));
    const absl::string_view bare =
        absl::StartsWith(name, "*.") ? absl::string_view(name).substr(2) : absl::string_view(name);
    if (bare.empty() || !std::all_of(bare.begin(), bare.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
                 c == '[' || c == ']';
        })) {
      return absl::InvalidArgumentError(
          absl::StrCat("--host ", host,
                       ": want a host name or address (api.example.com, "
                       "*.example.com, 127.0.0.1)"));
    }
    filter->add_hosts(name);
  }
  for (const auto& connection : flags.connections) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(connection, &id) || id == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--connection ", connection,
          ": want a connection id (jsonl's connection_id, HAR's connection), a number from 1"));
    }
    filter->add_connection_ids(id);
  }
  if (flags.min_latency < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--min-latency: negative");
  }
  if (flags.min_latency > absl::ZeroDuration()) {
    *filter->mutable_min_latency() = ToProto(flags.min_latency);
  }
  for (const auto& protocol : flags.protocols) filter->add_protocols(protocol);
  filter->set_path_prefix(flags.path_prefix);
  if (flags.role == "client") {
    filter->set_role(v1::ROLE_CLIENT);
  } else if (flags.role == "server") {
    filter->set_role(v1::ROLE_SERVER);
  } else if (flags.role != "both" && flags.role != "both-sides" && !flags.role.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--role ", flags.role, ": want client, server, both or both-sides"));
  }
  if (flags.tls == "only") {
    filter->set_tls(v1::TLS_ONLY);
  } else if (flags.tls == "plain") {
    filter->set_tls(v1::TLS_PLAIN);
  } else if (flags.tls != "both" && !flags.tls.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls ", flags.tls, ": want only, plain or both"));
  }

  v1::CaptureOptions* options = request.mutable_options();
  if (flags.body_limit >= 0) {
    if (flags.body_limit > (1 << 30)) {
      return absl::InvalidArgumentError("--body-limit: at most 1073741824 bytes");
    }
    options->set_body_limit_bytes(static_cast<uint32_t>(flags.body_limit));
  }
  if (flags.no_redact && !flags.redact.empty()) {
    return absl::InvalidArgumentError("--redact and --no-redact exclude each other");
  }
  if (flags.no_redact && !(flags.redact_params.empty() && flags.redact_body_fields.empty())) {
    return absl::InvalidArgumentError(
        "--redact-param/--redact-body-field and --no-redact exclude each other");
  }
  for (const auto& header : flags.redact) options->add_redact_headers(header);
  for (const auto& name : flags.redact_params) {
    if (name.empty()) return absl::InvalidArgumentError("--redact-param: a name, not empty");
    options->add_redact_params(name);
  }
  for (const auto& name : flags.redact_body_fields) {
    if (name.empty()) return absl::InvalidArgumentError("--redact-body-field: a name, not empty");
    options->add_redact_body_fields(name);
  }
  options->set_no_redact(flags.no_redact);
  if (flags.max_exchanges < 0) return absl::InvalidArgumentError("--max-exchanges: negative");
  options->set_max_exchanges(static_cast<uint64_t>(flags.max_exchanges));
  if (flags.queue < 0 || flags.queue > (1 << 20)) {
    return absl::InvalidArgumentError("--queue: from 1 to 1048576 events");
  }
  options->set_queue_capacity(static_cast<uint32_t>(flags.queue));
  if (flags.idle_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--idle-timeout: negative");
  }
  if (flags.idle_timeout > absl::ZeroDuration()) {
    *options->mutable_idle_timeout() = ToProto(flags.idle_timeout);
  }
  if (flags.max_duration > absl::ZeroDuration()) {
    *options->mutable_max_duration() = ToProto(flags.max_duration);
  }
  if (flags.export_endpoint.empty()) {
    if (!flags.export_headers.empty() || !flags.export_ca.empty() || !flags.export_cert.empty() ||
        !flags.export_key.empty()) {
      return absl::InvalidArgumentError("--export-* options need --export otlp://HOST:PORT");
    }
    return request;
  }
  v1::ExportOptions* export_options = request.mutable_export_options();
  export_options->set_endpoint(flags.export_endpoint);
  for (const std::string& header : flags.export_headers) {
    const size_t split = header.find_first_of("=:");
    if (split == std::string::npos || split == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--export-header ", header, ": want name=value"));
    }
    (*export_options->mutable_headers())[absl::AsciiStrToLower(
        absl::StripAsciiWhitespace(header.substr(0, split)))] =
        std::string(absl::StripAsciiWhitespace(header.substr(split + 1)));
  }
  std::string pem;
  if (absl::Status s = ReadPem(flags.export_ca, "export-ca", &pem); !s.ok()) return s;
  export_options->set_tls_ca_pem(pem);
  pem.clear();
  if (absl::Status s = ReadPem(flags.export_cert, "export-cert", &pem); !s.ok()) return s;
  export_options->set_tls_cert_pem(pem);
  pem.clear();
  if (absl::Status s = ReadPem(flags.export_key, "export-key", &pem); !s.ok()) return s;
  export_options->set_tls_key_pem(pem);
  if (flags.export_metrics_interval > absl::ZeroDuration()) {
    *export_options->mutable_metrics_interval() = ToProto(flags.export_metrics_interval);
  }
  return request;
}

const std::vector<std::string>& KnownMethods() {
  static const auto* methods = new std::vector<std::string>{"GET",
                                                            "HEAD",
                                                            "POST",
                                                            "PUT",
                                                            "DELETE",
                                                            "CONNECT",
                                                            "OPTIONS",
                                                            "TRACE",
                                                            "PATCH",
                                                            "ACL",
                                                            "BASELINE-CONTROL",
                                                            "BIND",
                                                            "CHECKIN",
                                                            "CHECKOUT",
                                                            "COPY",
                                                            "LABEL",
                                                            "LINK",
                                                            "LOCK",
                                                            "MERGE",
                                                            "MKACTIVITY",
                                                            "MKCALENDAR",
                                                            "MKCOL",
                                                            "MKREDIRECTREF",
                                                            "MKWORKSPACE",
                                                            "MOVE",
                                                            "ORDERPATCH",
                                                            "PRI",
                                                            "PROPFIND",
                                                            "PROPPATCH",
                                                            "PURGE",
                                                            "QUERY",
                                                            "REBIND",
                                                            "REPORT",
                                                            "SEARCH",
                                                            "UNBIND",
                                                            "UNCHECKOUT",
                                                            "UNLINK",
                                                            "UNLOCK",
                                                            "UPDATE",
                                                            "UPDATEREDIRECTREF",
                                                            "VERSION-CONTROL"};
  return *methods;
}

}  // namespace httptrace::cli
