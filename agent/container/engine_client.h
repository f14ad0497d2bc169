// A small client of a container engine's Docker-compatible API over its unix socket (Docker's
// /var/run/docker.sock, Podman's `podman system service` socket): container names and Kubernetes
// labels for ids found in cgroups.
//
// Each call opens one connection, sends one HTTP/1.1 request and reads to the end, all within the
// timeout; calls block, so the resolver makes them on its own thread (or, for filters, on a gRPC
// thread where a short wait is fine). Thread-safe: a client holds no connection state.

#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace httptrace::container {

// What an engine says about one container.
struct EngineContainer {
  std::string id;    // full id
  std::string name;  // without Docker's leading '/'
  // From the io.kubernetes.pod.* labels (dockershim, cri-dockerd); empty elsewhere.
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
};

struct HttpResponse {
  int status = 0;
  std::string body;  // de-chunked
};

class EngineClient {
 public:
  EngineClient(std::string socket_path, absl::Duration timeout);

  const std::string& socket_path() const { return socket_path_; }

  // GET /containers/<id-or-name>/json. NotFound when the engine does not know the container;
  // Unavailable when nothing listens on the socket; DeadlineExceeded past the timeout.
  absl::StatusOr<EngineContainer> Inspect(absl::string_view id_or_name) const;

  // GET /_ping: whether an engine answers on the socket.
  absl::Status Ping() const;

  // One request: "GET <target> HTTP/1.1" with Connection: close.
  absl::StatusOr<HttpResponse> Get(absl::string_view target) const;

 private:
  std::string socket_path_;
  absl::Duration timeout_;
};

// Exposed for tests.
// A whole HTTP/1.x response as read to EOF: status line, headers, and a body framed by
// Content-Length, chunked transfer coding, or the end of the connection.
absl::StatusOr<HttpResponse> ParseHttpResponse(absl::string_view raw);
// The body of GET /containers/<id>/json.
absl::StatusOr<EngineContainer> ParseInspectBody(absl::string_view body);
// Docker's container JSON, as the engine API's inspect answers it ("Id") and as
// /var/lib/docker/containers/ID/config.v2.json stores it ("ID"): id, name without the leading
// "/", Kubernetes pod labels. `what` names the source in errors.
absl::StatusOr<EngineContainer> ParseDockerContainer(absl::string_view text,
                                                     absl::string_view what);

}  // namespace httptrace::container
