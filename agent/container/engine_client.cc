#include "agent/container/engine_client.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/unique_fd.h"
#include "nlohmann/json.hpp"

namespace httptrace::container {
namespace {

// Inspect bodies are a few KiB; anything far larger is not what we asked for.
constexpr size_t kMaxResponseBytes = 4 << 20;

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline, const std::string& path) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError(absl::StrCat("timed out talking to ", path));
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) return Errno("poll", path);
  }
}

absl::StatusOr<std::string> Dechunk(absl::string_view body) {
  std::string out;
  while (true) {
    const size_t eol = body.find("\r\n");
    if (eol == absl::string_view::npos) return absl::DataLossError("truncated chunk size");
    absl::string_view size_text = body.substr(0, eol);
    size_text = size_text.substr(0, size_text.find(';'));  // chunk extensions
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_text), &size)) {
      return absl::DataLossError("bad chunk size");
    }
    body.remove_prefix(eol + 2);
    if (size == 0) return out;  // trailers, if any, do not matter here
    if (body.size() < size + 2) return absl::DataLossError("truncated chunk");
    out.append(body.data(), size);
    body.remove_prefix(size + 2);
  }
}

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<HttpResponse> ParseHttpResponse(absl::string_view raw) {
  const size_t header_end = raw.find("\r\n\r\n");
  if (header_end == absl::string_view::npos) {
    return absl::DataLossError("response ended inside its headers");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(raw.substr(0, header_end), absl::ByString("\r\n"));
  // "HTTP/1.1 200 OK"
  std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  HttpResponse response;
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: ", lines[0].substr(0, 40)));
  }
  bool chunked = false;
  std::optional<uint64_t> content_length;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    const absl::string_view name = lines[i].substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      chunked = absl::StrContains(absl::AsciiStrToLower(value), "chunked");
    } else if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) return absl::DataLossError("bad Content-Length");
      content_length = n;
    }
  }
  absl::string_view body = raw.substr(header_end + 4);
  if (chunked) {
    absl::StatusOr<std::string> dechunked = Dechunk(body);
    if (!dechunked.ok()) return dechunked.status();
    response.body = *std::move(dechunked);
  } else if (content_length.has_value()) {
    if (body.size() < *content_length) return absl::DataLossError("truncated body");
    response.body = std::string(body.substr(0, *content_length));
  } else {
    response.body = std::string(body);
  }
  return response;
}

absl::StatusOr<EngineContainer> ParseDockerContainer(absl::string_view text,
                                                     absl::string_view what) {
  const nlohmann::json json =
      nlohmann::json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::DataLossError(absl::StrCat(what, ": not a JSON object"));
  }
  EngineContainer container;
  // The API answers "Id"; config.v2.json stores "ID".
  container.id = StringAt(json, "Id");
  if (container.id.empty()) container.id = StringAt(json, "ID");
  if (container.id.empty()) return absl::DataLossError(absl::StrCat(what, ": no Id"));
  container.name = StringAt(json, "Name");
  // Docker's names are "/name" (Podman's compat API too).
  if (absl::StartsWith(container.name, "/")) container.name.erase(0, 1);
  auto config = json.find("Config");
  if (config != json.end() && config->is_object()) {
    auto labels = config->find("Labels");
    if (labels != config->end() && labels->is_object()) {
      container.pod_name = StringAt(*labels, "io.kubernetes.pod.name");
      container.pod_namespace = StringAt(*labels, "io.kubernetes.pod.namespace");
      container.pod_uid = StringAt(*labels, "io.kubernetes.pod.uid");
    }
  }
  return container;
}

absl::StatusOr<EngineContainer> ParseInspectBody(absl::string_view body) {
  return ParseDockerContainer(body, "container inspect");
}

EngineClient::EngineClient(std::string socket_path, absl::Duration timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

absl::StatusOr<HttpResponse> EngineClient::Get(absl::string_view target) const {
  const absl::Time deadline = absl::Now() + timeout_;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", socket_path_));
  }
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Errno("socket for", socket_path_);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno == EAGAIN || errno == EINPROGRESS) {
      if (absl::Status s = WaitFor(fd.get(), POLLOUT, deadline, socket_path_); !s.ok()) return s;
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        errno = error;
        return absl::UnavailableError(
            absl::StrCat("connect ", socket_path_, ": ", strerror(error)));
      }
    } else {
      return absl::UnavailableError(absl::StrCat("connect ", socket_path_, ": ", strerror(errno)));
    }
  }
  const std::string request = absl::StrCat("GET ", target,
                                           " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: "
                                           "httptrace-agent\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    if (absl::Status s = WaitFor(fd.get(), POLLOUT, deadline, socket_path_); !s.ok()) return s;
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Errno("send to", socket_path_);
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[16384];
  while (true) {
    if (absl::Status s = WaitFor(fd.get(), POLLIN, deadline, socket_path_); !s.ok()) return s;
    const ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Errno("recv from", socket_path_);
    }
    if (n == 0) break;
    raw.append(buffer, static_cast<size_t>(n));
    if (raw.size() > kMaxResponseBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("response from ", socket_path_, " larger than ", kMaxResponseBytes));
    }
  }
  return ParseHttpResponse(raw);
}

absl::Status EngineClient::Ping() const {
  absl::StatusOr<HttpResponse> response = Get("/_ping");
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::UnavailableError(
        absl::StrCat(socket_path_, " answered /_ping with HTTP ", response->status));
  }
  return absl::OkStatus();
}

absl::StatusOr<EngineContainer> EngineClient::Inspect(absl::string_view id_or_name) const {
  // Ids and names are [a-zA-Z0-9][a-zA-Z0-9_.-]*: nothing to escape, but refuse anything else.
  if (id_or_name.empty()) return absl::InvalidArgumentError("empty container id or name");
  for (char c : id_or_name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat("not a container id or name: ", id_or_name));
    }
  }
  absl::StatusOr<HttpResponse> response = Get(absl::StrCat("/containers/", id_or_name, "/json"));
  if (!response.ok()) return response.status();
  if (response->status == 404) {
    return absl::NotFoundError(absl::StrCat(socket_path_, ": no container ", id_or_name));
  }
  if (response->status != 200) {
    return absl::UnknownError(
        absl::StrCat(socket_path_, ": HTTP ", response->status, " for container ", id_or_name));
  }
  return ParseInspectBody(response->body);
}

}  // namespace httptrace::container
