#include "agent/container/fake_engine.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace httptrace::container {

FakeEngine::FakeEngine(std::string socket_path) : socket_path_(std::move(socket_path)) {
  ::unlink(socket_path_.c_str());
  listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path_.c_str(), sizeof(address.sun_path) - 1);
  if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_.get(), 16) != 0) {
    std::perror(("fake engine: bind/listen " + socket_path_).c_str());
    std::abort();
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) std::abort();
  wake_read_.reset(pipe_fds[0]);
  wake_write_.reset(pipe_fds[1]);
  thread_ = std::thread([this] { Serve(); });
}

FakeEngine::~FakeEngine() {
  (void)!::write(wake_write_.get(), "x", 1);
  thread_.join();
  ::unlink(socket_path_.c_str());
}

void FakeEngine::SetContainer(const std::string& id, const std::string& name,
                              const std::string& json) {
  absl::MutexLock lock(&mu_);
  answers_[absl::StrCat("/containers/", id, "/json")] = json;
  if (!name.empty()) answers_[absl::StrCat("/containers/", name, "/json")] = json;
}

void FakeEngine::Serve() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::read(client.get(), buffer, sizeof(buffer));
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    ++requests_;
    if (silent_) {
      // Hold the connection until the test ends or the client gives up.
      pollfd wait[2] = {{client.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
      ::poll(wait, 2, 5000);
      if (wait[1].revents != 0) return;
      continue;
    }
    // "GET <target> HTTP/1.1"
    const size_t start = request.find(' ') + 1;
    const std::string target = request.substr(start, request.find(' ', start) - start);
    std::string status = "404 Not Found";
    std::string body = R"({"message":"no such container","response":404})";
    {
      absl::MutexLock lock(&mu_);
      auto it = answers_.find(target);
      if (it != answers_.end()) {
        status = "200 OK";
        body = it->second;
      } else if (target == "/_ping") {
        status = "200 OK";
        body = "OK";
      }
    }
    // Chunked in two pieces, as Podman's service answers.
    const size_t half = body.size() / 2;
    const std::string response =
        absl::StrCat("HTTP/1.1 ", status,
                     "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                     absl::Hex(half), "\r\n", body.substr(0, half), "\r\n",
                     absl::Hex(body.size() - half), "\r\n", body.substr(half), "\r\n0\r\n\r\n");
    (void)!::write(client.get(), response.data(), response.size());
  }
}

}  // namespace httptrace::container
