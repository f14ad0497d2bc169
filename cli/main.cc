// httptracectl: starts, streams and stops capture sessions on httptrace agents and renders the
// exchanges as a readable trace (text) or JSON lines (jsonl).

#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/agent_client.h"
#include "cli/ctl.h"
#include "cli/multi_ctl.h"
#include "cli/request_builder.h"
#include "common/flags.h"
#include "common/termination_signals.h"

ABSL_FLAG(std::vector<std::string>, agent, {},
          "Agent address, repeatable: unix:///path, /path, or host:port (TLS). Default: "
          "$HTTPTRACE_AGENT, else unix:///run/httptrace/agent.sock.");
ABSL_FLAG(std::vector<std::string>, agents_dns, {},
          "NAME:PORT whose every address (A and AAAA) is an agent, e.g. the chart's headless "
          "Service httptrace.httptrace.svc:7443 (repeatable). TLS certificates are checked "
          "against NAME unless --tls-server-name says otherwise.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the agents' TLS certificates must carry (default: the host dialled, or the "
          "--agents-dns NAME).");
ABSL_FLAG(absl::Duration, merge_window, absl::Seconds(1),
          "Several agents: how long an exchange waits for older ones from slower agents before "
          "it is written (output is merged by time within this window).");
ABSL_FLAG(std::string, tls_ca, "", "PEM bundle that signs the agents' TLS certificates.");
ABSL_FLAG(std::string, tls_cert, "", "Client certificate (PEM) for agents that require mTLS.");
ABSL_FLAG(std::string, tls_key, "", "Private key (PEM) of --tls-cert.");
ABSL_FLAG(bool, insecure, false, "Talk plaintext to TCP agents (only for agents on loopback).");

ABSL_FLAG(std::string, format, "text", "Output format: text (readable trace) or jsonl.");
ABSL_FLAG(std::string, output, "",
          "Append the trace to this file (created 0640); -o for short. "
          "Default: standard output.");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "start: stop the session after this long (e.g. 30s, 5m). Default: until Ctrl-C.");
ABSL_FLAG(bool, detach, false, "start: print the session id and leave the session running.");
ABSL_FLAG(int64_t, from_seq, -1, "attach: first sequence number to stream (default: oldest held).");

ABSL_FLAG(std::vector<std::string>, pid, {}, "Filter: process ids (repeatable).");
ABSL_FLAG(std::vector<std::string>, comm, {}, "Filter: process names (repeatable).");
ABSL_FLAG(std::vector<std::string>, container, {},
          "Filter: container id prefix or name (repeatable).");
ABSL_FLAG(std::vector<std::string>, namespace, {}, "Filter: pod namespaces (repeatable).");
ABSL_FLAG(std::vector<std::string>, pod, {}, "Filter: pod names (repeatable).");
ABSL_FLAG(std::vector<std::string>, port, {}, "Filter: port on either side (repeatable).");
ABSL_FLAG(std::vector<std::string>, local_port, {},
          "Filter: port on the traced process's side (repeatable).");
ABSL_FLAG(std::vector<std::string>, remote_port, {}, "Filter: port of the peer (repeatable).");
ABSL_FLAG(std::vector<std::string>, method, {}, "Filter: HTTP methods (repeatable).");
ABSL_FLAG(std::string, path_prefix, "", "Filter: request targets starting with this prefix.");
ABSL_FLAG(std::string, role, "both", "Filter: client, server or both.");

ABSL_FLAG(int64_t, body_limit, -1, "Body bytes kept per message (default: the agent's, 4096).");
ABSL_FLAG(std::vector<std::string>, redact, {},
          "Header whose value is hidden (repeatable); replaces the default list "
          "(Authorization, Proxy-Authorization, Cookie, Set-Cookie).");
ABSL_FLAG(bool, no_redact, false, "Show every header value as sent, secrets included.");
ABSL_FLAG(int64_t, max_exchanges, 0, "End the session after this many exchanges (0: no limit).");
ABSL_FLAG(int64_t, queue, 0, "Events the agent holds for this session (default: 4096).");
ABSL_FLAG(absl::Duration, idle_timeout, absl::ZeroDuration(),
          "End a detached session nobody reads after this long (default: 10m).");

namespace {

constexpr char kUsage[] =
    "httptracectl: capture HTTP/1.x traffic through httptrace agents.\n"
    "\n"
    "Usage:\n"
    "  httptracectl [AGENTS] start [FILTERS] [OPTIONS] [--format text|jsonl] [-o FILE]\n"
    "                       [--duration D] [--detach]\n"
    "  httptracectl [--agent ADDR] attach SESSION [--from-seq N] [--format F] [-o FILE]\n"
    "  httptracectl [AGENTS] stop SESSION\n"
    "  httptracectl [AGENTS] list\n"
    "  httptracectl [AGENTS] status\n"
    "AGENTS: --agent ADDR (repeatable) and/or --agents-dns NAME:PORT (every address of NAME)\n"
    "\n"
    "start prints \"started session ID\" on stderr once the probes are attached, streams until\n"
    "Ctrl-C, --duration or the session's end, then stops the session and prints a summary.\n"
    "With several agents (--agent repeated, or --agents-dns), start runs one session per agent\n"
    "and writes one trace merged by time, each exchange labelled with its node; an agent that\n"
    "fails is reported and the others go on. stop, list and status ask every agent.\n"
    "Exit status: 0 success, 1 failure, 2 usage error.";

int Usage(const std::string& message) {
  std::fprintf(stderr, "httptracectl: %s (see --help)\n", message.c_str());
  return httptrace::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Interrupts are handled by a thread that waits for them (cli/ctl.cc); block them everywhere
  // before gRPC starts threads of its own.
  [[maybe_unused]] const sigset_t signals = httptrace::BlockTerminationSignals();

  std::vector<std::string> raw(argv, argv + argc);
  for (std::string& arg : raw) {
    if (arg == "-o") arg = "--output";
    if (arg.rfind("-o=", 0) == 0) arg = "--output=" + arg.substr(3);
  }
  std::vector<char*> pointers;
  for (std::string& arg : raw) pointers.push_back(arg.data());
  const std::vector<std::string> args =
      httptrace::ParseFlags(static_cast<int>(pointers.size()), pointers.data(), kUsage);
  if (args.size() < 2) return Usage("missing command: start, attach, stop, list or status");
  const std::string& command = args[1];
  const std::vector<std::string> operands(args.begin() + 2, args.end());

  std::vector<std::string> agents;
  for (const std::string& address : absl::GetFlag(FLAGS_agent)) {
    if (!address.empty()) agents.push_back(address);
  }
  // Addresses resolved from --agents-dns are checked against the resolved name's certificate.
  std::vector<std::string> server_names(agents.size(), absl::GetFlag(FLAGS_tls_server_name));
  for (const std::string& name_port : absl::GetFlag(FLAGS_agents_dns)) {
    auto resolved = httptrace::cli::ResolveAgentsDns(name_port);
    if (!resolved.ok()) {
      std::fprintf(stderr, "httptracectl: %s\n", std::string(resolved.status().message()).c_str());
      return resolved.status().code() == absl::StatusCode::kInvalidArgument
                 ? httptrace::cli::kExitUsage
                 : httptrace::cli::kExitFailure;
    }
    const std::string name = name_port.substr(0, name_port.rfind(':'));
    for (std::string& address : *resolved) {
      agents.push_back(std::move(address));
      server_names.push_back(absl::GetFlag(FLAGS_tls_server_name).empty()
                                 ? name
                                 : absl::GetFlag(FLAGS_tls_server_name));
    }
  }
  if (agents.empty()) {
    agents = httptrace::cli::ResolveAgentAddresses({});
    server_names.assign(agents.size(), absl::GetFlag(FLAGS_tls_server_name));
  }
  std::vector<httptrace::cli::AgentChannel> channels;
  for (size_t i = 0; i < agents.size(); ++i) {
    httptrace::cli::ClientTls tls{absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert),
                                  absl::GetFlag(FLAGS_tls_key), absl::GetFlag(FLAGS_insecure),
                                  server_names[i]};
    auto channel = httptrace::cli::DialAgent(agents[i], tls);
    if (!channel.ok()) return Usage(std::string(channel.status().message()));
    channels.push_back({agents[i], *std::move(channel)});
  }
  const bool several = channels.size() > 1;
  httptrace::cli::Ctl ctl(agents[0], httptrace::v1::HttpTrace::NewStub(channels[0].channel));
  httptrace::cli::MultiOptions multi_options;
  multi_options.merge_window = absl::GetFlag(FLAGS_merge_window);
  httptrace::cli::MultiCtl multi(channels, multi_options);
  if (multi_options.merge_window < absl::ZeroDuration()) {
    return Usage("--merge-window must not be negative");
  }

  httptrace::cli::StreamOptions stream;
  stream.format = absl::GetFlag(FLAGS_format);
  stream.output_path = absl::GetFlag(FLAGS_output);
  stream.duration = absl::GetFlag(FLAGS_duration);
  if (stream.format != "text" && stream.format != "jsonl") {
    return Usage(absl::StrCat("--format ", stream.format, ": want text or jsonl"));
  }
  if (stream.duration < absl::ZeroDuration()) return Usage("--duration must not be negative");

  if (command == "start") {
    if (!operands.empty()) return Usage(absl::StrCat("start takes no operand: ", operands[0]));
    httptrace::cli::RequestFlags flags;
    flags.pids = absl::GetFlag(FLAGS_pid);
    flags.comms = absl::GetFlag(FLAGS_comm);
    flags.containers = absl::GetFlag(FLAGS_container);
    flags.namespaces = absl::GetFlag(FLAGS_namespace);
    flags.pods = absl::GetFlag(FLAGS_pod);
    flags.ports = absl::GetFlag(FLAGS_port);
    flags.local_ports = absl::GetFlag(FLAGS_local_port);
    flags.remote_ports = absl::GetFlag(FLAGS_remote_port);
    flags.methods = absl::GetFlag(FLAGS_method);
    flags.path_prefix = absl::GetFlag(FLAGS_path_prefix);
    flags.role = absl::GetFlag(FLAGS_role);
    flags.body_limit = absl::GetFlag(FLAGS_body_limit);
    flags.redact = absl::GetFlag(FLAGS_redact);
    flags.no_redact = absl::GetFlag(FLAGS_no_redact);
    flags.max_exchanges = absl::GetFlag(FLAGS_max_exchanges);
    flags.queue = absl::GetFlag(FLAGS_queue);
    flags.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
    flags.max_duration = absl::GetFlag(FLAGS_detach) ? stream.duration : absl::ZeroDuration();
    auto request = httptrace::cli::BuildStartRequest(flags);
    if (!request.ok()) return Usage(std::string(request.status().message()));
    if (several) return multi.Start(*request, stream, absl::GetFlag(FLAGS_detach));
    return ctl.Start(*request, stream, absl::GetFlag(FLAGS_detach));
  }
  if (command == "attach") {
    if (operands.size() != 1) return Usage("attach takes one session id");
    if (several) return Usage("attach reads one agent's session: give one --agent");
    return ctl.Attach(operands[0], absl::GetFlag(FLAGS_from_seq), stream);
  }
  if (command == "stop") {
    if (operands.size() != 1) return Usage("stop takes one session id");
    return several ? multi.Stop(operands[0]) : ctl.Stop(operands[0]);
  }
  if (command == "list") return several ? multi.List() : ctl.List();
  if (command == "status") return several ? multi.Status() : ctl.Status();
  return Usage(absl::StrCat("unknown command \"", command, "\""));
}
