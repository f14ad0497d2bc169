// httptracectl's commands: start, attach, stop, list, status. Each returns the process exit code
// (0 success, 1 runtime failure, 2 usage) and writes messages for people on stderr.

#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cli/render/renderer.h"
#include "proto/httptrace.grpc.pb.h"

namespace httptrace::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct StreamOptions {
  std::string format = "text";
  std::string output_path;                         // empty: standard output
  absl::Duration duration = absl::ZeroDuration();  // zero: until Ctrl-C or the session ends
  render::RenderOptions render;
  // How long to wait for the session's last events after asking the agent to stop.
  absl::Duration drain_timeout = absl::Seconds(30);
};

class Ctl {
 public:
  Ctl(std::string agent_address, std::unique_ptr<v1::HttpTrace::StubInterface> stub);

  int Start(const v1::StartCaptureRequest& request, const StreamOptions& options, bool detach);
  int Attach(const std::string& session_id, int64_t from_seq, const StreamOptions& options);
  int Stop(const std::string& session_id);
  int List();
  int Status();

 private:
  enum class OnInterrupt { kStopSession, kDetach };
  // Streams `session_id` into the output until the session ends or the user interrupts.
  int Stream(const std::string& session_id, int64_t from_seq, const StreamOptions& options,
             OnInterrupt on_interrupt);
  bool StopSession(const std::string& session_id, v1::SessionInfo* info);
  void Fail(const std::string& what, const grpc::Status& status);

  const std::string agent_;
  std::unique_ptr<v1::HttpTrace::StubInterface> stub_;
};

}  // namespace httptrace::cli
