// httptracectl: starts, streams and stops capture sessions on httptrace agents and renders the
// exchanges as a readable trace (text), JSON lines (jsonl) or HAR; `top` shows a live table of
// endpoints. A git/kubectl-style command line (CLI11): global options (agents, TLS, deadlines)
// before or after the subcommand, each subcommand with its own flags and --help.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/agent_client.h"
#include "cli/completion.h"
#include "cli/ctl.h"
#include "cli/endpoint_table.h"
#include "cli/request_builder.h"
#include "cli/usage.h"
#include "common/process_exit.h"
#include "common/termination_signals.h"
#include "common/version.h"

namespace httptrace::cli {
namespace {

constexpr int64_t kMaxBodyLimit = 1 << 30;
constexpr int64_t kMaxQueue = 1 << 20;

// A duration flag ("30s", "5m", "1h30m") with a range; out of range or malformed is a usage error.
CLI::Option* AddDuration(CLI::App* app, const std::string& name, absl::Duration* out,
                         const std::string& help, absl::Duration min, absl::Duration max) {
  const std::string flag = name.substr(name.rfind(',') + 1);
  return app
      ->add_option_function<std::string>(
          name,
          [out, flag, min, max](const std::string& value) {
            absl::Duration d;
            if (!absl::ParseDuration(value, &d)) {
              throw CLI::ValidationError(flag, value + ": want a duration such as 30s, 5m, 1h");
            }
            if (d < min || d > max) {
              throw CLI::ValidationError(
                  flag, absl::StrCat(value, ": want ", absl::FormatDuration(min), " to ",
                                     absl::FormatDuration(max)));
            }
            *out = d;
          },
          help)
      ->type_name("DURATION");
}

// A repeatable flag: one value per occurrence ("--port 80 --port 443"); commas are not split,
// so values that contain them (paths, container names) arrive whole.
CLI::Option* AddList(CLI::App* app, const std::string& name, std::vector<std::string>* out,
                     const std::string& help) {
  return app->add_option(name, *out, help)->allow_extra_args(false)->type_name("VALUE");
}

struct Globals {
  std::string color = "auto";
  std::vector<std::string> agents;
  std::vector<std::string> agents_dns;
  ClientTls tls;
  CtlOptions ctl;
};

void AddGlobals(CLI::App& app, Globals* g) {
  const std::string group = "Agents (before or after the command)";
  AddList(&app, "--agent", &g->agents,
          "Agent address, repeatable: unix:///path, /path, or host:port (TLS). Default: "
          "$HTTPTRACE_AGENT, else unix:///run/httptrace/agent.sock.")
      ->group(group)
      ->type_name("ADDR");
  AddList(&app, "--agents-dns", &g->agents_dns,
          "NAME:PORT whose every address (A and AAAA) is an agent, e.g. the chart's headless "
          "Service httptrace.httptrace.svc:7443 (repeatable); resolved again every "
          "--dns-refresh during a capture, so agents on nodes that join are picked up.")
      ->group(group)
      ->type_name("NAME:PORT");
  app.add_option("--tls-server-name", g->tls.server_name,
                 "Name the agents' TLS certificates must carry (default: the host dialled, or "
                 "the --agents-dns NAME).")
      ->group(group);
  app.add_option("--tls-ca", g->tls.ca, "PEM bundle that signs the agents' TLS certificates.")
      ->check(CLI::ExistingFile)
      ->group(group);
  app.add_option("--tls-cert", g->tls.cert, "Client certificate (PEM) for agents that want mTLS.")
      ->check(CLI::ExistingFile)
      ->group(group);
  app.add_option("--tls-key", g->tls.key, "Private key (PEM) of --tls-cert.")
      ->check(CLI::ExistingFile)
      ->group(group);
  app.add_flag("--insecure", g->tls.insecure,
               "Talk plaintext to TCP agents (only for agents on loopback).")
      ->group(group);
  AddDuration(&app, "--timeout", &g->ctl.timeout,
              "Deadline of each call that starts, stops or asks an agent (default 30s).",
              absl::Milliseconds(100), absl::Hours(1))
      ->group(group);
  AddDuration(&app, "--merge-window", &g->ctl.merge_window,
              "Several agents: how long an exchange waits for older ones from slower agents "
              "before it is written (output is merged by time within this window; default 1s).",
              absl::ZeroDuration(), absl::Minutes(1))
      ->group(group);
  app.add_option("--color", g->color,
                 "auto (default: colour on a terminal, unless NO_COLOR is set), always or never.")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->group("Output");
  AddDuration(&app, "--dns-refresh", &g->ctl.dns_refresh,
              "How often a capture resolves --agents-dns names again (default 30s).",
              absl::Milliseconds(200), absl::Hours(24))
      ->group(group);
}

void AddFilters(CLI::App* app, RequestFlags* f) {
  const std::string group = "Filters (in the kernel where possible)";
  AddList(app, "-p,--pid", &f->pids, "Process id (repeatable).")->group(group);
  AddList(app, "--comm", &f->comms, "Process name (repeatable).")->group(group);
  AddList(app, "--container", &f->containers, "Container id prefix or name (repeatable).")
      ->group(group);
  AddList(app, "-n,--namespace", &f->namespaces, "Pod namespace (repeatable).")->group(group);
  AddList(app, "--pod", &f->pods, "Pod name (repeatable).")->group(group);
  AddList(app, "--port", &f->ports, "Port on either side (repeatable).")->group(group);
  AddList(app, "--local-port", &f->local_ports, "Port on the traced process's side (repeatable).")
      ->group(group);
  AddList(app, "--remote-port", &f->remote_ports, "Port of the peer (repeatable).")->group(group);
  AddList(app, "--method", &f->methods, "HTTP method, any case (repeatable).")->group(group);
  AddList(app, "--status", &f->statuses,
          "Response status: a class (5xx, 4xx) or a code (404) (repeatable).")
      ->group(group);
  AddList(app, "--host", &f->hosts,
          "Host the request names (Host header), any case, port ignored; *.example.com for "
          "subdomains (repeatable).")
      ->group(group);
  AddDuration(app, "--min-latency", &f->min_latency,
              "Exchanges at least this slow (e.g. 200ms, 1s).", absl::Microseconds(1),
              absl::Hours(24))
      ->group(group);
  AddList(app, "--connection", &f->connections,
          "Connection id (jsonl's connection_id, HAR's connection) (repeatable).")
      ->group(group);
  app->add_option("--path-prefix", f->path_prefix, "Request targets starting with this prefix.")
      ->group(group);
  app->add_option("--role", f->role,
                  "client, server, both (default: both ends, an exchange seen from both shown "
                  "once) or both-sides (both ends, one record per side).")
      ->check(CLI::IsMember({"client", "server", "both", "both-sides"}))
      ->group(group);
  app->add_option("--tls", f->tls,
                  "only (HTTPS read at the TLS library), plain, or both (default both).")
      ->check(CLI::IsMember({"only", "plain", "both"}))
      ->group(group);
  AddList(app, "--protocol", &f->protocols,
          "http1, http2 (gRPC included) or grpc (repeatable; default all).")
      ->check(CLI::IsMember({"http1", "http2", "grpc"}))
      ->group(group);
}

void AddSessionOptions(CLI::App* app, RequestFlags* f) {
  const std::string group = "Session";
  app->add_option("--body-limit", f->body_limit,
                  "Body bytes kept per message (default: the agent's, 4096).")
      ->check(CLI::Range(int64_t{0}, kMaxBodyLimit))
      ->group(group);
  AddList(app, "--redact", &f->redact,
          "Header whose value is hidden (repeatable); replaces the default list "
          "(Authorization, Proxy-Authorization, Cookie, Set-Cookie).")
      ->group(group);
  AddList(app, "--redact-param", &f->redact_params,
          "Query parameter whose value is hidden in targets and URLs (repeatable); adds to the "
          "default list (token, access_token, api_key, password, secret, code, key, sig, "
          "X-Amz-Signature, ...: docs/agent.md).")
      ->type_name("NAME")
      ->group(group);
  AddList(app, "--redact-body-field", &f->redact_body_fields,
          "JSON member or form field whose value is hidden in request and response bodies "
          "(repeatable); adds to the default list (token, password, secret, api_key, ...).")
      ->type_name("NAME")
      ->group(group);
  app->add_flag("--no-redact", f->no_redact,
                "Show everything as sent, secrets included: no header, query parameter or body "
                "field is hidden.")
      ->group(group);
  app->add_option("--max-exchanges", f->max_exchanges,
                  "End the session after this many exchanges (default: no limit).")
      ->check(CLI::Range(int64_t{1}, INT64_MAX))
      ->group(group);
  app->add_option("--queue", f->queue, "Events the agent holds for this session (default: 4096).")
      ->check(CLI::Range(int64_t{1}, kMaxQueue))
      ->group(group);
  AddDuration(app, "--idle-timeout", &f->idle_timeout,
              "End a detached session nobody reads after this long (default: 10m).",
              absl::Seconds(1), absl::Hours(24 * 7))
      ->group(group);
}

void AddExport(CLI::App* app, RequestFlags* f) {
  const std::string group = "Export (OpenTelemetry)";
  app->add_option("--export", f->export_endpoint,
                  "Make this an export session: the agent sends its exchanges as OTLP spans and "
                  "duration histograms to this collector, otlp://HOST:PORT (plaintext gRPC) or "
                  "otlps://HOST:PORT (TLS); usually with --detach.")
      ->type_name("URL")
      ->group(group);
  AddList(app, "--export-header", &f->export_headers,
          "gRPC metadata for the collector, name=value (repeatable), e.g. authorization=...")
      ->group(group);
  app->add_option("--export-ca", f->export_ca, "PEM CA the collector's certificate chains to.")
      ->type_name("FILE")
      ->group(group);
  app->add_option("--export-cert", f->export_cert, "PEM client certificate (mTLS).")
      ->type_name("FILE")
      ->group(group);
  app->add_option("--export-key", f->export_key, "PEM key of --export-cert.")
      ->type_name("FILE")
      ->group(group);
  AddDuration(app, "--export-metrics-interval", &f->export_metrics_interval,
              "How often the histograms are exported (default 15s).", absl::Seconds(1),
              absl::Hours(24))
      ->group(group);
}

void AddOutput(CLI::App* app, StreamOptions* s) {
  const std::string group = "Output";
  app->add_option("--format", s->format,
                  "text (readable trace), line (one line per exchange), jsonl or har (HAR 1.2).")
      ->check(CLI::IsMember(render::FormatNames()))
      ->group(group);
  app->add_option("-o,--output", s->output_path,
                  "Append the trace to this file (created 0640; har: a new or empty file). "
                  "Default: standard output.")
      ->type_name("FILE")
      ->group(group);
  AddDuration(app, "--slow", &s->render.slow,
              "Exchanges at least this slow are marked in colour (default 1s).",
              absl::Microseconds(1), absl::Hours(24))
      ->group(group);
}

// Colour for text, line and top: --color always/never, else a terminal that is not "dumb" and no
// NO_COLOR (https://no-color.org: set and not empty).
bool UseColor(const std::string& mode, bool to_terminal) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::string(term) == "dumb") return false;
  return to_terminal;
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "httptracectl: %s (see httptracectl --help)\n", message.c_str());
  return kExitUsage;
}

// Why no subcommand was found: the first word that is neither a flag nor a flag's value.
std::string MissingCommand(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands({})) commands.push_back(sub->get_name());
  const std::string choices = absl::StrCat("want ", absl::StrJoin(commands, ", "));
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.empty() || arg[0] != '-') {
      return absl::StrCat("unknown command \"", arg, "\" (", choices, ")");
    }
    const CLI::Option* option = app.get_option_no_throw(arg.substr(0, arg.find('=')));
    if (option != nullptr && option->get_type_size() > 0 && arg.find('=') == std::string::npos) {
      ++i;  // the flag's value
    }
  }
  return absl::StrCat("missing command (", choices, ")");
}

int Main(int argc, char** argv) {
  CLI::App app{"httptracectl: capture HTTP/1.x traffic through httptrace agents.", "httptracectl"};
  app.fallthrough();  // global options also after the subcommand
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  httptracectl start --port 8080                  a readable trace until Ctrl-C\n"
      "  httptracectl top --port 8080                    a live table of endpoints\n"
      "Each command has its own --help (httptracectl start --help).\n"
      "start prints \"started session ID on NODE (ADDRESS)\" per agent on stderr once the probes\n"
      "are attached (with several agents then \"started N session(s) on N of M agent(s)\"),\n"
      "streams until Ctrl-C, --duration or the session's end, then stops the sessions and prints\n"
      "a summary. Several agents (--agent repeated, or --agents-dns): one session per agent, one\n"
      "trace merged by time, each exchange labelled with its node; an agent that fails is\n"
      "reported and the others go on.\n"
      "Exit status: 0 success, 1 failure, 2 usage error.\n"
      "Shell completion: source <(httptracectl completion bash)");
  Globals globals;
  AddGlobals(app, &globals);

  RequestFlags request_flags;
  StreamOptions stream;
  stream.render.version = kVersion;
  bool detach = false;
  std::string session_id;
  int64_t from_seq = -1;

  CLI::App* start = app.add_subcommand("start", "Start a capture and stream it (or --detach).");
  AddFilters(start, &request_flags);
  AddSessionOptions(start, &request_flags);
  AddExport(start, &request_flags);
  AddOutput(start, &stream);
  AddDuration(start, "-d,--duration", &stream.duration,
              "Stop after this long (e.g. 30s, 5m). Default: until Ctrl-C.", absl::Milliseconds(1),
              absl::Hours(24 * 365))
      ->group("Output");
  start->add_flag("--detach", detach, "Print the session id and leave the session running.")
      ->group("Output");

  CLI::App* attach = app.add_subcommand("attach", "Stream a running or ended session.");
  attach->add_option("session", session_id, "Session id (from start --detach or list).")
      ->required();
  attach->add_option("--from-seq", from_seq, "First sequence number (default: the oldest held).")
      ->check(CLI::Range(int64_t{1}, INT64_MAX));
  AddOutput(attach, &stream);
  AddDuration(attach, "-d,--duration", &stream.duration, "Detach after this long.",
              absl::Milliseconds(1), absl::Hours(24 * 365));

  CLI::App* stop = app.add_subcommand("stop", "End a session.");
  stop->add_option("session", session_id, "Session id.")->required();
  CLI::App* list = app.add_subcommand("list", "List the agents' sessions.");
  StatusOptions status_options;
  CLI::App* status = app.add_subcommand(
      "status",
      "Is it working? Healthy or not and why, probes, sessions, exchanges/s, losses since start "
      "(exit 1 when NOT healthy or unreachable).");
  status->add_flag("--counters", status_options.counters,
                   "Also every counter and every TLS library probed or not.");
  status->add_flag("--audit", status_options.audit,
                   "Also the agent's recent audit records: who started, attached to, stopped or "
                   "exported which session, and every refused call.");
  status->add_option("--format", status_options.format, "text or json (for scripts).")
      ->check(CLI::IsMember({"text", "json"}));

  TopOptions top_options;
  CLI::App* top = app.add_subcommand(
      "top", "A live table of endpoints: requests/s, errors, latency percentiles, bytes.");
  AddFilters(top, &request_flags);
  top->add_option("--sort", top_options.sort, "Column to sort by (largest first).")
      ->check(CLI::IsMember(EndpointTable::SortKeys()));
  AddDuration(top, "-d,--duration", &top_options.duration, "Stop after this long.",
              absl::Milliseconds(1), absl::Hours(24 * 365));
  AddDuration(top, "--interval", &top_options.interval, "Refresh period (default 1s).",
              absl::Milliseconds(100), absl::Hours(1));
  top->add_option("--rows", top_options.rows, "Endpoints shown (default: what the terminal fits).")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  top->add_option("--format", top_options.format,
                  "table (default), or jsonl: one JSON object per refresh, for scripts.")
      ->check(CLI::IsMember({"table", "jsonl"}));
  AddDuration(top, "--slow", &top_options.slow,
              "Percentiles at least this slow are marked in colour (default 1s).",
              absl::Microseconds(1), absl::Hours(24));
  top->add_flag("--once", top_options.once,
                "Print the table once, at the end (Ctrl-C or --duration), instead of refreshing.");

  CLI::App* version = app.add_subcommand("version", "Print httptracectl's version.");
  std::string shell;
  CLI::App* completion =
      app.add_subcommand("completion", "Print a shell completion script: bash or zsh.");
  completion->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  for (CLI::App* sub : {list, status, version, completion}) sub->fallthrough();

  SetCommandFooter(start, app,
                   {"httptracectl start --port 8080",
                    "httptracectl start --comm nginx --status 5xx --format line -o errors.log"});
  SetCommandFooter(attach, app,
                   {"httptracectl attach 1a2b3c01",
                    "httptracectl attach 1a2b3c01 --from-seq 120 "
                    "--format jsonl -o more.jsonl"});
  SetCommandFooter(stop, app, {"httptracectl stop 1a2b3c01", "httptracectl list"});
  SetCommandFooter(
      list, app, {"httptracectl list", "httptracectl --agent 10.0.0.7:7443 --tls-ca ca.crt list"});
  SetCommandFooter(status, app, {"httptracectl status --counters", "httptracectl status --audit"});
  SetCommandFooter(
      top, app,
      {"httptracectl top --port 8080", "httptracectl top --comm nginx --sort p99 --once -d 30s"});
  SetCommandFooter(version, app, {"httptracectl version", "httptracectl --agent ADDR status"});
  SetCommandFooter(completion, app,
                   {"source <(httptracectl completion bash)",
                    "httptracectl completion zsh > ~/.zfunc/_httptracectl"});

  // Mistakes named in our words before CLI11 words them in its own (cli/usage.h).
  if (const std::string problem = CheckArguments(app, argc, argv); !problem.empty()) {
    return UsageError(problem);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    if (app.get_subcommands().empty()) return UsageError(MissingCommand(app, argc, argv));
    return UsageError(Translate(e));
  } catch (const CLI::ParseError& e) {
    return UsageError(Translate(e));
  }

  if (version->parsed()) {
    std::printf("httptracectl %s\n", kVersion);
    return kExitOk;
  }
  if (completion->parsed()) {
    const FlagValues values = {{"--format", render::FormatNames()},
                               {"--sort", EndpointTable::SortKeys()},
                               {"--role", {"client", "server", "both", "both-sides"}},
                               {"--color", {"auto", "always", "never"}},
                               {"--tls", {"only", "plain", "both"}}};
    const std::string script =
        shell == "bash" ? BashCompletion(app, values) : ZshCompletion(app, values);
    std::fwrite(script.data(), 1, script.size(), stdout);
    return kExitOk;
  }

  const bool to_stdout = stream.output_path.empty() || stream.output_path == "-";
  stream.render.color = (stream.format == "text" || stream.format == "line") &&
                        UseColor(globals.color, to_stdout && isatty(STDOUT_FILENO));
  stream.pair = request_flags.role == "both";
  top_options.pair = request_flags.role == "both";
  top_options.color = UseColor(globals.color, isatty(STDOUT_FILENO));

  Ctl ctl(AgentDirectory(globals.agents, globals.agents_dns, globals.tls), globals.ctl);
  if (start->parsed() || top->parsed()) {
    if (top->parsed()) request_flags.body_limit = 0;  // top reads only status and timings
    if (start->parsed() && detach) request_flags.max_duration = stream.duration;
    // Spans and histograms carry body sizes, never bytes: an export session keeps none unless
    // asked (then the agent copies none for it).
    if (!request_flags.export_endpoint.empty() && request_flags.body_limit < 0) {
      request_flags.body_limit = 0;
    }
    absl::StatusOr<v1::StartCaptureRequest> request = BuildStartRequest(request_flags);
    if (!request.ok()) return UsageError(std::string(request.status().message()));
    if (top->parsed()) return ctl.Top(*request, top_options);
    return ctl.Start(*request, stream, detach);
  }
  if (attach->parsed()) return ctl.Attach(session_id, from_seq, stream);
  if (stop->parsed()) return ctl.Stop(session_id);
  if (list->parsed()) return ctl.List();
  if (status->parsed()) return ctl.Status(status_options);
  return UsageError("missing command");
}

}  // namespace
}  // namespace httptrace::cli

int main(int argc, char** argv) {
  // Interrupts are handled by a thread that waits for them (cli/interrupt.h); block them
  // everywhere before gRPC starts threads of its own.
  [[maybe_unused]] const sigset_t signals = httptrace::BlockTerminationSignals();
  // Main's locals (channels, output file) are gone when it returns; see process_exit.h.
  httptrace::ExitSkippingStaticTeardown(httptrace::cli::Main(argc, argv));
}
