// httptracectl's commands across several agents (one per node): `start` starts one session per
// agent and streams them all into one trace merged by time, each exchange labelled with its node;
// an agent that fails is reported and the others go on. `stop`, `list` and `status` ask every
// agent. Used when more than one agent address is given (--agent repeated, or --agents-dns).

#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/ctl.h"

namespace httptrace::cli {

struct AgentChannel {
  std::string address;  // for messages: as given, or as resolved from --agents-dns
  std::shared_ptr<grpc::ChannelInterface> channel;
};

struct MultiOptions {
  // How long an event waits for older events of slower agents before it is written.
  absl::Duration merge_window = absl::Seconds(1);
  // Deadline of the calls that start, stop and ask an agent.
  absl::Duration call_timeout = absl::Seconds(30);
};

class MultiCtl {
 public:
  MultiCtl(std::vector<AgentChannel> agents, MultiOptions options);

  // Prints "started session ID on NODE (ADDRESS)" per agent on stderr, then "started N session(s)
  // on N agent(s)" once every agent answered. With `detach`, prints "ADDRESS SESSION" lines.
  // Exit 1 when any agent failed (after the others finished), 2 for a rejected request.
  int Start(const v1::StartCaptureRequest& request, const StreamOptions& options, bool detach);
  // Stops the session on every agent that knows it (session ids are per agent).
  int Stop(const std::string& session_id);
  int List();
  int Status();

 private:
  std::vector<AgentChannel> agents_;
  MultiOptions options_;
};

}  // namespace httptrace::cli
