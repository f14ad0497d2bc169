// A fake container engine for tests: serves the Docker-compatible API's GET requests on a unix
// socket from a table of canned answers (chunked, as Podman answers), 404 for the rest.
//
//   FakeEngine engine("/tmp/x/docker.sock");
//   engine.SetContainer(id, R"({"Id":"...","Name":"/web"})");

#pragma once

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/unique_fd.h"

namespace httptrace::container {

class FakeEngine {
 public:
  // Listens on `socket_path` (replacing a stale file) until destroyed.
  explicit FakeEngine(std::string socket_path);
  ~FakeEngine();

  // GET /containers/<id>/json and /containers/<name>/json answer `inspect_json`.
  void SetContainer(const std::string& id, const std::string& name, const std::string& json);
  // When set, requests are read but never answered (for timeouts).
  void SetSilent(bool silent) { silent_ = silent; }
  int requests() const { return requests_.load(); }
  const std::string& socket_path() const { return socket_path_; }

 private:
  void Serve();

  const std::string socket_path_;
  UniqueFd listener_;
  UniqueFd wake_read_, wake_write_;
  std::atomic<bool> silent_{false};
  std::atomic<int> requests_{0};
  absl::Mutex mu_;
  std::map<std::string, std::string> answers_ ABSL_GUARDED_BY(mu_);  // by request target
  std::thread thread_;
};

}  // namespace httptrace::container
