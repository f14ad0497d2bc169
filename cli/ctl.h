// httptracectl's commands over one or many agents: start, attach, stop, list, status, top. One
// agent is the N=1 case of the fan-out: every command runs the same code for one agent as for
// a Kubernetes cluster's worth, started at once, merged by time (a window only when there are
// several), with one summary, one hint per failure and one deadline (--timeout) per call.
//
// Each command returns the process exit code (0 success, 1 runtime failure, 2 usage) and writes
// messages for people on stderr; data (traces, tables) goes to stdout or the output file.

#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "cli/agent_client.h"
#include "cli/render/renderer.h"
#include "proto/httptrace.grpc.pb.h"

namespace httptrace::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct CtlOptions {
  // Deadline of each call that starts, stops or asks an agent (not of the event streams).
  absl::Duration timeout = absl::Seconds(30);
  // How long to wait for the sessions' last events after asking the agents to stop.
  absl::Duration drain_timeout = absl::Seconds(30);
  // Several agents: how long an event waits for older events of slower agents.
  absl::Duration merge_window = absl::Seconds(1);
  // With --agents-dns: how often a running capture resolves the names again for new agents.
  absl::Duration dns_refresh = absl::Seconds(30);
};

struct StreamOptions {
  std::string format = "text";
  std::string output_path;                         // empty or "-": standard output
  absl::Duration duration = absl::ZeroDuration();  // zero: until Ctrl-C or the sessions end
  render::RenderOptions render;
  // Show an exchange seen from both ends once (cli/pairer.h); false: one record per side.
  bool pair = true;
};

struct TopOptions {
  absl::Duration duration = absl::ZeroDuration();  // zero: until Ctrl-C
  absl::Duration interval = absl::Seconds(1);      // refresh period
  std::string sort = "rate";                       // a column of the table
  size_t rows = 0;                                 // 0: as many as the terminal shows
  // Print the table once at the end instead of refreshing the screen; set also when stdout is
  // not a terminal (then a plain table every interval, for logs and pipes).
  bool once = false;
  // "table", or "jsonl": one JSON object per refresh (EndpointTable::RenderJson), never a
  // screen, for scripts.
  std::string format = "table";
  // Count an exchange seen from both ends once; false: a row per end (--role both-sides).
  bool pair = true;
  bool color = false;                      // error rates, slow percentiles and losses
  absl::Duration slow = absl::Seconds(1);  // percentiles at least this are marked
};

struct StatusOptions {
  bool counters = false;        // every counter and TLS library, not only the headline
  bool audit = false;           // the agent's recent audit records
  std::string format = "text";  // or "json"
  // The pause between the two answers the rate and "losing now" are measured over.
  absl::Duration sample = absl::Seconds(1);
};

class Ctl {
 public:
  Ctl(AgentDirectory directory, CtlOptions options);
  ~Ctl();

  // Starts one session per agent and streams them into the output until Ctrl-C, --duration or
  // the sessions' end; then stops them, drains their last events and prints a summary. Prints
  // "started session ID on NODE (ADDRESS)" per agent on stderr, and with several agents
  // "started N session(s) on N of M agent(s)" once every agent answered (scripts wait for it).
  // With `detach`: prints the session id (one agent) or "ADDRESS SESSION" lines and returns.
  int Start(const v1::StartCaptureRequest& request, const StreamOptions& options, bool detach);
  // Streams an existing session (one agent: session ids are per agent) until it ends or Ctrl-C.
  int Attach(const std::string& session_id, int64_t from_seq, const StreamOptions& options);
  // Stops the session on the agent that has it.
  int Stop(const std::string& session_id);
  int List();
  // "is it working?" first (cli/status_report.h), then the details; exit 1 when an agent is
  // unreachable or NOT healthy (degraded, losing data now, still exits 0).
  int Status(const StatusOptions& options);
  // A live table of endpoints (method + route), refreshed every interval, across agents.
  int Top(const v1::StartCaptureRequest& request, const TopOptions& options);

 private:
  struct Capture;
  class Sink;
  class FileSink;
  class TopSink;
  struct Agent;

  enum class OnInterrupt { kStopSessions, kDetach };
  absl::StatusOr<std::vector<std::unique_ptr<Agent>>> Connect();
  // Starts a session on each agent at once; false when none started (`*exit_code` set).
  bool StartSessions(const v1::StartCaptureRequest& request,
                     std::vector<std::unique_ptr<Agent>>& agents, int* exit_code);
  bool StartOne(const v1::StartCaptureRequest& request, Agent& agent);
  int Stream(Capture& capture, Sink& sink, absl::Duration duration, OnInterrupt on_interrupt,
             const v1::StartCaptureRequest* request);
  void JoinNewAgents(Capture& capture, const v1::StartCaptureRequest& request);
  int Summarize(Capture& capture, bool interrupted, OnInterrupt on_interrupt);

  AgentDirectory directory_;
  CtlOptions options_;
};

}  // namespace httptrace::cli
