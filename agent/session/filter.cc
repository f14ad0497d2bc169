#include "agent/session/filter.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace httptrace::session {
namespace {

constexpr size_t kMaxValuesPerField = 256;
constexpr size_t kCommMaxLength = 15;  // TASK_COMM_LEN - 1: longer names can never match.
constexpr size_t kMinContainerIdPrefix = 4;

absl::Status CheckPorts(const google::protobuf::RepeatedField<uint32_t>& ports,
                        absl::string_view field) {
  for (uint32_t port : ports) {
    if (port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", port, " is not a port (1-65535)"));
    }
  }
  return absl::OkStatus();
}

bool IsToken(absl::string_view method) {
  // RFC 9110 token characters; methods are tokens, and garbage here is a typo worth reporting.
  return !method.empty() && std::all_of(method.begin(), method.end(), [](char c) {
    return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
  });
}

bool IsHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isxdigit(c); });
}

template <typename T, typename Pred>
bool AnyOrEmpty(const T& values, Pred pred) {
  return values.empty() || std::any_of(values.begin(), values.end(), pred);
}

// The host a request names, lower case, without the port: its Host header, else the
// authority of an absolute-form ("http://h:80/x") or CONNECT ("h:443") target.
std::string RequestHost(const v1::HttpRequest& request) {
  absl::string_view host;
  for (const v1::Header& header : request.headers()) {
    if (absl::EqualsIgnoreCase(header.name(), "host")) {
      host = header.value();
      break;
    }
  }
  if (host.empty()) {
    absl::string_view target = request.target();
    const size_t scheme = target.find("://");
    if (scheme != absl::string_view::npos) target.remove_prefix(scheme + 3);
    host = target.substr(0, target.find('/'));
    if (absl::StartsWith(host, "/")) host = {};
  }
  host = absl::StripAsciiWhitespace(host);
  if (absl::StartsWith(host, "[")) {
    host = host.substr(0, host.find(']') + 1);  // [::1]:8080
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  return absl::AsciiStrToLower(host);
}

bool HostMatches(absl::string_view wanted, absl::string_view host) {
  if (absl::StartsWith(wanted, "*.")) {
    return absl::EndsWithIgnoreCase(host, wanted.substr(1));
  }
  return absl::EqualsIgnoreCase(wanted, host);
}

// "grpc", "http2" or "http1": what the exchange is, most specific first (a gRPC call is also
// HTTP/2: a filter asking for http2 takes it too).
absl::string_view ProtocolOf(const v1::Exchange& exchange) {
  if (exchange.has_grpc()) return "grpc";
  if (exchange.stream_id() != 0 || exchange.request().version() == "HTTP/2" ||
      exchange.response().version() == "HTTP/2") {
    return "http2";
  }
  return "http1";
}

}  // namespace

absl::Status ValidateFilter(const v1::Filter& filter) {
  const std::pair<int, absl::string_view> sizes[] = {
      {filter.pids_size(), "pids"},
      {filter.process_names_size(), "process_names"},
      {filter.containers_size(), "containers"},
      {filter.pod_namespaces_size(), "pod_namespaces"},
      {filter.pods_size(), "pods"},
      {filter.local_ports_size(), "local_ports"},
      {filter.remote_ports_size(), "remote_ports"},
      {filter.ports_size(), "ports"},
      {filter.methods_size(), "methods"},
      {filter.statuses_size(), "statuses"},
      {filter.hosts_size(), "hosts"},
      {filter.connection_ids_size(), "connection_ids"},
      {filter.protocols_size(), "protocols"},
  };
  for (const auto& [size, name] : sizes) {
    if (static_cast<size_t>(size) > kMaxValuesPerField) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": at most ", kMaxValuesPerField, " values, got ", size));
    }
  }
  for (uint32_t pid : filter.pids()) {
    if (pid == 0) return absl::InvalidArgumentError("pids: 0 is not a process id");
  }
  for (const std::string& comm : filter.process_names()) {
    if (comm.empty()) return absl::InvalidArgumentError("process_names: empty name");
    if (comm.size() > kCommMaxLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("process_names: \"", comm, "\" is longer than ", kCommMaxLength,
                       " bytes; the kernel truncates process names, use the first 15 bytes"));
    }
  }
  for (const std::string& container : filter.containers()) {
    if (container.empty()) return absl::InvalidArgumentError("containers: empty id or name");
    if (IsHex(container) && container.size() < kMinContainerIdPrefix) {
      return absl::InvalidArgumentError(absl::StrCat("containers: id prefix \"", container,
                                                     "\" is too short (at least ",
                                                     kMinContainerIdPrefix, " hex digits)"));
    }
  }
  if (absl::Status s = CheckPorts(filter.local_ports(), "local_ports"); !s.ok()) return s;
  if (absl::Status s = CheckPorts(filter.remote_ports(), "remote_ports"); !s.ok()) return s;
  if (absl::Status s = CheckPorts(filter.ports(), "ports"); !s.ok()) return s;
  for (const std::string& method : filter.methods()) {
    if (!IsToken(method)) {
      return absl::InvalidArgumentError(
          absl::StrCat("methods: \"", method, "\" is not an HTTP method token"));
    }
  }
  if (!filter.path_prefix().empty() && filter.path_prefix()[0] != '/' &&
      filter.path_prefix()[0] != '*') {
    return absl::InvalidArgumentError(
        absl::StrCat("path_prefix: \"", filter.path_prefix(), "\" must start with / (e.g. /api/)"));
  }
  for (const v1::StatusRange& range : filter.statuses()) {
    if (range.min() < 100 || range.max() > 599 || range.min() > range.max()) {
      return absl::InvalidArgumentError(absl::StrCat("statuses: ", range.min(), "-", range.max(),
                                                     " is not a range of status codes (100-599)"));
    }
  }
  for (const std::string& host : filter.hosts()) {
    const absl::string_view name =
        absl::StartsWith(host, "*.") ? absl::string_view(host).substr(2) : absl::string_view(host);
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
                 c == '[' || c == ']';
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hosts: \"", host, "\" is not a host name or address (e.g. api.example.com)"));
    }
  }
  if (filter.min_latency().seconds() < 0 || filter.min_latency().nanos() < 0) {
    return absl::InvalidArgumentError("min_latency: negative");
  }
  for (uint64_t id : filter.connection_ids()) {
    if (id == 0) return absl::InvalidArgumentError("connection_ids: 0 is not a connection id");
  }
  for (const std::string& protocol : filter.protocols()) {
    if (protocol != "http1" && protocol != "http2" && protocol != "grpc") {
      return absl::InvalidArgumentError(
          absl::StrCat("protocols: \"", protocol, "\" is not one of http1, http2, grpc"));
    }
  }
  if (!v1::Role_IsValid(filter.role())) {
    return absl::InvalidArgumentError(absl::StrCat("role: unknown value ", filter.role()));
  }
  if (!v1::TlsSelection_IsValid(filter.tls())) {
    return absl::InvalidArgumentError(absl::StrCat("tls: unknown value ", filter.tls()));
  }
  return absl::OkStatus();
}

bool MatchesFilter(const v1::Filter& filter, const v1::Exchange& exchange) {
  const v1::Process& process = exchange.process();
  const v1::Connection& connection = exchange.connection();
  const v1::Container& container = process.container();
  if (!AnyOrEmpty(filter.pids(), [&](uint32_t pid) { return pid == process.pid(); })) {
    return false;
  }
  if (!AnyOrEmpty(filter.process_names(),
                  [&](const std::string& comm) { return comm == process.comm(); })) {
    return false;
  }
  if (!AnyOrEmpty(filter.containers(), [&](const std::string& wanted) {
        if (!process.has_container()) return false;
        return wanted == container.name() ||
               (!container.id().empty() && absl::StartsWith(container.id(), wanted));
      })) {
    return false;
  }
  if (!AnyOrEmpty(filter.pod_namespaces(),
                  [&](const std::string& ns) { return ns == container.pod_namespace(); })) {
    return false;
  }
  if (!AnyOrEmpty(filter.pods(),
                  [&](const std::string& pod) { return pod == container.pod_name(); })) {
    return false;
  }
  const uint32_t local_port = connection.local().port();
  const uint32_t remote_port = connection.remote().port();
  if (!AnyOrEmpty(filter.local_ports(), [&](uint32_t port) { return port == local_port; })) {
    return false;
  }
  if (!AnyOrEmpty(filter.remote_ports(), [&](uint32_t port) { return port == remote_port; })) {
    return false;
  }
  if (!AnyOrEmpty(filter.ports(),
                  [&](uint32_t port) { return port == local_port || port == remote_port; })) {
    return false;
  }
  if (!AnyOrEmpty(filter.methods(), [&](const std::string& method) {
        return method == exchange.request().method();
      })) {
    return false;
  }
  if (!filter.path_prefix().empty() &&
      !absl::StartsWith(exchange.request().target(), filter.path_prefix())) {
    return false;
  }
  const absl::string_view protocol = ProtocolOf(exchange);
  if (!AnyOrEmpty(filter.protocols(), [&](const std::string& wanted) {
        return wanted == protocol || (wanted == "http2" && protocol == "grpc");
      })) {
    return false;
  }
  if (filter.role() != v1::ROLE_UNSPECIFIED && filter.role() != connection.role()) return false;
  if (filter.tls() == v1::TLS_ONLY && !connection.has_tls()) return false;
  if (filter.tls() == v1::TLS_PLAIN && connection.has_tls()) return false;
  if (!AnyOrEmpty(filter.statuses(), [&](const v1::StatusRange& range) {
        return exchange.has_response() && exchange.response().status() >= range.min() &&
               exchange.response().status() <= range.max();
      })) {
    return false;
  }
  if (filter.hosts_size() > 0) {
    const std::string host = RequestHost(exchange.request());
    if (!AnyOrEmpty(filter.hosts(),
                    [&](const std::string& wanted) { return HostMatches(wanted, host); })) {
      return false;
    }
  }
  if (filter.has_min_latency() &&
      (!exchange.has_latency() || exchange.latency().seconds() < filter.min_latency().seconds() ||
       (exchange.latency().seconds() == filter.min_latency().seconds() &&
        exchange.latency().nanos() < filter.min_latency().nanos()))) {
    return false;
  }
  if (!AnyOrEmpty(filter.connection_ids(), [&](uint64_t id) { return id == connection.id(); })) {
    return false;
  }
  return true;
}

bool MayMatchConnection(const v1::Filter& filter, const v1::Exchange& scope) {
  v1::Filter known = filter;
  known.clear_methods();
  known.clear_path_prefix();
  known.clear_protocols();  // the connection scope does not say which protocol it carries
  known.clear_tls();        // the connection scope does not say whether it is TLS
  // Nor what its exchanges answered, named or took.
  known.clear_statuses();
  known.clear_hosts();
  known.clear_min_latency();
  if (scope.connection().role() == v1::ROLE_UNSPECIFIED) known.set_role(v1::ROLE_UNSPECIFIED);
  return MatchesFilter(known, scope);
}

}  // namespace httptrace::session
