// httptrace-agent: loads the probes, turns captured bytes into HTTP exchanges and serves the
// httptrace.v1 gRPC API to httptracectl.
//
// Start-up failures (no BTF, no privileges, verifier rejection, a listen address in use) end the
// program with a message that says what to do; failures at run time are counted and survived.

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "agent/auth/audit_log.h"
#include "agent/auth/policy.h"
#include "agent/container/container_resolver.h"
#include "agent/container/engine_client.h"
#include "agent/cri/cri_client.h"
#include "agent/export/export_request.h"
#include "agent/export/otlp_exporter.h"
#include "agent/pipeline/pipeline.h"
#include "agent/service/api_server.h"
#include "agent/service/http_trace_service.h"
#include "agent/session/session_manager.h"
#include "common/allocator.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/process_exit.h"
#include "common/termination_signals.h"
#include "common/version.h"

ABSL_FLAG(std::vector<std::string>, listen, {"unix:///run/httptrace/agent.sock"},
          "Where to serve the API: unix:///path or tcp://host:port (repeatable). TCP needs "
          "--tls-cert and --tls-key unless --insecure-tcp is given.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TCP listeners.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for TCP listeners.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, TCP clients must present a certificate it signed (mTLS).");
ABSL_FLAG(std::string, socket_group, "",
          "Group whose members may use the unix socket without root: the socket becomes "
          "root:GROUP 0660 and the directory the agent makes for it root:GROUP 0750.");
ABSL_FLAG(bool, insecure_tcp, false,
          "Allow TCP listeners without TLS. Anyone who reaches the port can read all traffic.");
ABSL_FLAG(int32_t, max_sessions, 16, "Capture sessions that may run at once.");
ABSL_FLAG(std::string, attach_mode, "auto",
          "How probes attach: auto, tracepoints (needs tracefs) or raw-tracepoints.");
ABSL_FLAG(bool, mount_tracefs, true, "Mount tracefs on /sys/kernel/tracing when it is missing.");
ABSL_FLAG(bool, tls_uprobes, true,
          "Read HTTPS as plaintext at the TLS libraries (uprobes on OpenSSL, BoringSSL, GnuTLS "
          "and Go crypto/tls, attached only while a session is active).");
ABSL_FLAG(int32_t, ring_buffer_mb, 16, "Size of the kernel-to-agent ring buffer (power of two).");
ABSL_FLAG(int32_t, max_connections, 65536, "Connections tracked at once (kernel and agent).");
ABSL_FLAG(int32_t, memory_budget_mb, 64,
          "Memory for the events all sessions hold for their readers; past it new exchanges are "
          "dropped and counted (LIMIT losses). 0: unlimited.");
ABSL_FLAG(int32_t, max_body_kb, 64,
          "Body KiB the HTTP engine keeps per message (the true size is always counted); a "
          "session's --body-limit above it gets this much, marked truncated. 1-16384.");
ABSL_FLAG(std::string, node_name, "",
          "Name of this node in exchanges (default: $NODE_NAME, else the host name).");
ABSL_FLAG(std::string, cri_endpoint, "",
          "Container runtime's CRI socket (unix:///run/containerd/containerd.sock, "
          "unix:///var/run/crio/crio.sock), asked for pod names, namespaces and container names. "
          "Empty: not asked (pod UIDs still come from cgroup paths).");
ABSL_FLAG(std::vector<std::string>, container_engine_socket,
          httptrace::container::ResolverOptions().engine_sockets,
          "Docker-compatible engine API sockets asked for container names (comma-separated; in a "
          "container, mount the host's socket read-only). Container ids come from cgroups "
          "without them.");
ABSL_FLAG(std::vector<std::string>, container_store,
          httptrace::container::ResolverOptions().store_roots,
          "Engine storage roots read for container names, no engine API needed (comma-separated, "
          "globs allowed): containers/storage's (podman, rootful and rootless) "
          "<root>/*-containers/containers.json, Docker's <root>/containers/*/config.v2.json. In a "
          "container, mount them read-only at the same paths.");
ABSL_FLAG(bool, resolve_containers, true,
          "Attribute connections to containers and pods (ids from /proc/<pid>/cgroup).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, audit_log, "",
          "Append the audit trail (one JSON line {\"audit\": {...}} per call that starts, "
          "attaches to, stops or exports a session, and per refused call) to this file "
          "(created 0600) instead of stderr.");
ABSL_FLAG(std::string, policy, "",
          "Access policy (JSON): which callers (unix users and groups, certificate subjects and "
          "SANs) may do what (status, list, capture, export), in which namespaces, pods or "
          "containers, with HTTPS plaintext and bodies or not (docs/agent.md). Without it, "
          "whoever can open the socket (or holds a client certificate) may do everything.");
ABSL_FLAG(bool, check_policy, false,
          "Read --policy, say what it holds and exit: 0 when it is valid, 2 with the error "
          "otherwise (check a policy before rolling it out).");
ABSL_FLAG(int32_t, audit_records, 256,
          "Audit records kept in memory for `httptracectl status --audit` (older ones are "
          "counted as dropped; the log has them all).");

// The agent's own export session (a DaemonSet's exchanges to a collector, nobody streaming).
ABSL_FLAG(std::string, otlp_endpoint, "",
          "Export every matching exchange as OpenTelemetry spans and metrics (OTLP/gRPC) to this "
          "collector from start-up: host:port or otlp://host:port (plaintext), otlps://host:port "
          "(TLS). The export session is listed like any other.");
ABSL_FLAG(std::vector<std::string>, otlp_port, {},
          "Export only exchanges on this port, either side (repeatable; as httptracectl --port).");
ABSL_FLAG(std::vector<std::string>, otlp_pid, {}, "Export only this process (repeatable).");
ABSL_FLAG(std::vector<std::string>, otlp_container, {},
          "Export only this container, by id prefix or name (repeatable).");
ABSL_FLAG(std::vector<std::string>, otlp_namespace, {},
          "Export only pods of this namespace (repeatable).");
ABSL_FLAG(std::vector<std::string>, otlp_pod, {}, "Export only this pod (repeatable).");
ABSL_FLAG(absl::Duration, otlp_metrics_interval, absl::Seconds(15),
          "How often the duration histograms are exported.");
ABSL_FLAG(std::vector<std::string>, otlp_header, {},
          "gRPC metadata for the collector, name=value (repeatable; also read from "
          "OTEL_EXPORTER_OTLP_HEADERS, e.g. from a Kubernetes Secret).");
ABSL_FLAG(std::string, otlp_ca_file, "", "PEM CA the collector's certificate must chain to.");
ABSL_FLAG(std::string, otlp_cert_file, "",
          "PEM client certificate for a collector that wants mTLS.");
ABSL_FLAG(std::string, otlp_key_file, "", "PEM private key of --otlp-cert-file.");
ABSL_FLAG(int32_t, otlp_queue_spans, 2048,
          "Spans waiting to be sent, at most; beyond, new ones are dropped and counted.");
ABSL_FLAG(int32_t, otlp_batch_spans, 512, "Spans per export call, at most.");
ABSL_FLAG(absl::Duration, otlp_batch_delay, absl::Seconds(1),
          "A batch is sent when full or when its oldest span waited this long.");
ABSL_FLAG(absl::Duration, otlp_max_retry_time, absl::Seconds(60),
          "A batch the collector did not take within this long (retrying) is dropped and counted.");
ABSL_FLAG(int32_t, otlp_max_series, 1000,
          "Histogram series per export session, at most (then one overflow series).");

namespace {

int Fail(const absl::Status& status, absl::string_view what) {
  HT_LOG(ERROR) << what << ": " << status.message();
  return 1;
}

// The agent, from flags to the orderly end after SIGTERM; returns the exit code.
int RunAgent(int argc, char** argv) {
  httptrace::TuneAllocator();
  // SIGTERM/SIGINT/SIGHUP are taken by sigwait below; block them before any thread exists.
  const sigset_t signals = httptrace::BlockTerminationSignals();
  // Debian's abseil is built without NDEBUG, which turns on mutex deadlock detection: a graph
  // update on every lock, measured at 1-1.5% of the agent's CPU under load. Lock order is fixed
  // by design (see session_manager.h); tests build the same code and would hang, not pass.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // A client that disconnects mid-write must not kill the agent.
  signal(SIGPIPE, SIG_IGN);

  httptrace::ParseFlags(
      argc, argv,
      "httptrace-agent: traces plaintext HTTP/1.x on this node and serves the httptrace.v1 API.\n"
      "Usage: httptrace-agent [--listen ADDR]... [--tls-cert F --tls-key F [--tls-client-ca F]]");
  auto level = httptrace::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    HT_LOG(ERROR) << "--log-level: " << level.status().message();
    return 2;
  }
  httptrace::SetLogLevel(*level);
  if (absl::GetFlag(FLAGS_max_sessions) < 1) {
    HT_LOG(ERROR) << "--max-sessions must be at least 1";
    return 2;
  }
  if (absl::GetFlag(FLAGS_memory_budget_mb) < 0 || absl::GetFlag(FLAGS_memory_budget_mb) > 65536) {
    HT_LOG(ERROR) << "--memory-budget-mb must be 0 (unlimited) to 65536";
    return 2;
  }

  if (absl::GetFlag(FLAGS_audit_records) < 1) {
    HT_LOG(ERROR) << "--audit-records must be at least 1";
    return 2;
  }
  auto audit = httptrace::auth::AuditLog::Open(
      {.capacity = static_cast<size_t>(absl::GetFlag(FLAGS_audit_records)),
       .path = absl::GetFlag(FLAGS_audit_log)});
  if (!audit.ok()) {
    HT_LOG(ERROR) << audit.status().message();
    return 2;
  }

  std::optional<httptrace::auth::Policy> policy;
  if (!absl::GetFlag(FLAGS_policy).empty()) {
    auto loaded = httptrace::auth::Policy::Load(absl::GetFlag(FLAGS_policy));
    if (!loaded.ok()) {
      HT_LOG(ERROR) << loaded.status().message();
      return 2;
    }
    policy = *std::move(loaded);
    if (absl::GetFlag(FLAGS_check_policy)) {
      std::printf("%s: valid\n", policy->Summary().c_str());
      return 0;
    }
    HT_LOG(INFO) << "access policy " << policy->Summary()
                 << "; callers no rule matches are refused";
  } else if (absl::GetFlag(FLAGS_check_policy)) {
    HT_LOG(ERROR) << "--check-policy needs --policy FILE";
    return 2;
  } else {
    HT_LOG(INFO) << "no access policy (--policy): every caller who can open the API may start, "
                    "attach to, stop and export any capture";
  }

  // The CRI client connects lazily: the runtime may start after the agent.
  std::unique_ptr<httptrace::cri::CriClient> cri;
  if (!absl::GetFlag(FLAGS_cri_endpoint).empty()) {
    auto client =
        httptrace::cri::CriClient::Create({.endpoint = absl::GetFlag(FLAGS_cri_endpoint)});
    if (!client.ok()) {
      HT_LOG(ERROR) << "--cri-endpoint: " << client.status().message();
      return 2;
    }
    cri = *std::move(client);
    // Said once at start: a wrong socket path is the usual mistake in a DaemonSet's values.
    if (absl::StatusOr<std::string> version = cri->Version(); version.ok()) {
      HT_LOG(INFO) << "container runtime at " << cri->endpoint() << ": " << *version;
    } else {
      HT_LOG(WARNING) << "container runtime at " << cri->endpoint()
                      << " does not answer (pods will be known by UID only until it does): "
                      << version.status().message();
    }
  }

  httptrace::pipeline::PipelineOptions pipeline_options;
  auto mode = httptrace::pipeline::ParseAttachMode(absl::GetFlag(FLAGS_attach_mode));
  if (!mode.ok()) {
    HT_LOG(ERROR) << mode.status().message();
    return 2;
  }
  pipeline_options.capture.attach_mode = *mode;
  pipeline_options.capture.mount_tracefs = absl::GetFlag(FLAGS_mount_tracefs);
  pipeline_options.capture.tls = absl::GetFlag(FLAGS_tls_uprobes);
  pipeline_options.capture.ring_buffer_bytes =
      static_cast<uint32_t>(absl::GetFlag(FLAGS_ring_buffer_mb)) << 20;
  pipeline_options.capture.max_connections =
      static_cast<uint32_t>(absl::GetFlag(FLAGS_max_connections));
  pipeline_options.max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  if (absl::GetFlag(FLAGS_max_body_kb) < 1 || absl::GetFlag(FLAGS_max_body_kb) > 16384) {
    HT_LOG(ERROR) << "--max-body-kb must be from 1 to 16384";
    return 2;
  }
  pipeline_options.engine.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_body_kb))
                                           << 10;
  pipeline_options.node_name = absl::GetFlag(FLAGS_node_name);
  pipeline_options.resolve_containers = absl::GetFlag(FLAGS_resolve_containers);
  pipeline_options.cri = cri.get();
  if (cri != nullptr) {
    // Asked on the container resolver's thread for containers no Docker-compatible engine knows.
    pipeline_options.containers.cri_inspect =
        [client = cri.get()](
            const std::string& id) -> absl::StatusOr<httptrace::container::EngineContainer> {
      absl::StatusOr<httptrace::cri::PodMetadata> pod = client->Query(id);
      if (!pod.ok()) return pod.status();
      return httptrace::container::EngineContainer{id, pod->container_name, pod->pod_name,
                                                   pod->pod_namespace, pod->pod_uid};
    };
  }
  pipeline_options.containers.store_roots.clear();
  for (const std::string& root : absl::GetFlag(FLAGS_container_store)) {
    if (!root.empty()) pipeline_options.containers.store_roots.push_back(root);
  }
  pipeline_options.containers.engine_sockets.clear();
  for (const std::string& socket : absl::GetFlag(FLAGS_container_engine_socket)) {
    if (!socket.empty()) pipeline_options.containers.engine_sockets.push_back(socket);
  }

  // One budget for everything the agent holds for its readers: queued events and session queues.
  httptrace::session::MemoryBudget memory_budget(
      static_cast<uint64_t>(absl::GetFlag(FLAGS_memory_budget_mb)) << 20);
  pipeline_options.memory_budget = &memory_budget;
  auto pipeline = httptrace::pipeline::Pipeline::Create(pipeline_options);
  if (!pipeline.ok()) return Fail(pipeline.status(), "cannot load the capture probes");

  httptrace::session::SessionManagerOptions session_options;
  session_options.max_sessions = static_cast<size_t>(absl::GetFlag(FLAGS_max_sessions));
  session_options.memory_budget = &memory_budget;
  session_options.sink_factory = [&memory_budget](httptrace::session::Session* session,
                                                  const httptrace::v1::ExportOptions& options)
      -> absl::StatusOr<std::unique_ptr<httptrace::session::SessionSink>> {
    auto exporter = httptrace::otlp::OtlpExporter::Create(session, options, &memory_budget);
    if (!exporter.ok()) return exporter.status();
    return std::unique_ptr<httptrace::session::SessionSink>(*std::move(exporter));
  };
  // Checked before anything loads, so a typo in a DaemonSet's flags fails fast and clearly.
  std::optional<httptrace::v1::StartCaptureRequest> export_request;
  if (!absl::GetFlag(FLAGS_otlp_endpoint).empty()) {
    httptrace::otlp::ExportFlags flags;
    flags.endpoint = absl::GetFlag(FLAGS_otlp_endpoint);
    flags.ports = absl::GetFlag(FLAGS_otlp_port);
    flags.pids = absl::GetFlag(FLAGS_otlp_pid);
    flags.containers = absl::GetFlag(FLAGS_otlp_container);
    flags.namespaces = absl::GetFlag(FLAGS_otlp_namespace);
    flags.pods = absl::GetFlag(FLAGS_otlp_pod);
    flags.headers = absl::GetFlag(FLAGS_otlp_header);
    if (const char* env = getenv("OTEL_EXPORTER_OTLP_HEADERS")) flags.headers_env = env;
    flags.ca_file = absl::GetFlag(FLAGS_otlp_ca_file);
    flags.cert_file = absl::GetFlag(FLAGS_otlp_cert_file);
    flags.key_file = absl::GetFlag(FLAGS_otlp_key_file);
    flags.metrics_interval = absl::GetFlag(FLAGS_otlp_metrics_interval);
    flags.batch_delay = absl::GetFlag(FLAGS_otlp_batch_delay);
    flags.max_retry_time = absl::GetFlag(FLAGS_otlp_max_retry_time);
    flags.max_queue_spans =
        static_cast<uint32_t>(std::max(0, absl::GetFlag(FLAGS_otlp_queue_spans)));
    flags.max_batch_spans =
        static_cast<uint32_t>(std::max(0, absl::GetFlag(FLAGS_otlp_batch_spans)));
    flags.max_metric_series =
        static_cast<uint32_t>(std::max(0, absl::GetFlag(FLAGS_otlp_max_series)));
    auto request = httptrace::otlp::ExportRequestFromFlags(flags);
    if (!request.ok()) {
      HT_LOG(ERROR) << request.status().message();
      return 2;
    }
    export_request = *std::move(request);
  } else if (!absl::GetFlag(FLAGS_otlp_port).empty() || !absl::GetFlag(FLAGS_otlp_pid).empty() ||
             !absl::GetFlag(FLAGS_otlp_container).empty() ||
             !absl::GetFlag(FLAGS_otlp_namespace).empty() ||
             !absl::GetFlag(FLAGS_otlp_pod).empty()) {
    HT_LOG(ERROR) << "--otlp-port/-pid/-container/-namespace/-pod need --otlp-endpoint";
    return 2;
  }
  httptrace::session::SessionManager sessions(session_options, pipeline->get());
  (*pipeline)->SetSessions(&sessions);
  sessions.StartReaper(absl::Milliseconds(250));

  httptrace::service::UnixPeerRegistry unix_peers;
  httptrace::service::HttpTraceService service(
      {httptrace::kVersion, (*pipeline)->node_name()}, &sessions, pipeline->get(),
      {.peers = &unix_peers, .audit = audit->get(), .policy = policy ? &*policy : nullptr});
  httptrace::service::TlsFiles tls{absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                                   absl::GetFlag(FLAGS_tls_client_ca),
                                   absl::GetFlag(FLAGS_insecure_tcp)};
  auto server = httptrace::service::ApiServer::Start(
      absl::GetFlag(FLAGS_listen), tls, &service, {absl::GetFlag(FLAGS_socket_group), &unix_peers});
  if (!server.ok()) return Fail(server.status(), "cannot serve the API");
  // A ctl talking HTTP/2 to a TCP listener is not this process: keep it out of the trace, or
  // the events it streams would be traced and streamed again.
  std::vector<uint16_t> api_ports;
  for (int port : (*server)->bound_ports()) {
    if (port > 0) api_ports.push_back(static_cast<uint16_t>(port));
  }
  if (absl::Status s = (*pipeline)->SetOwnApiPorts(api_ports); !s.ok()) {
    return Fail(s, "cannot keep the API's clients out of the trace");
  }
  if (export_request.has_value()) {
    auto session = sessions.Start(*export_request);
    if (!session.ok()) return Fail(session.status(), "cannot start the OTLP export session");
    HT_LOG(INFO) << "exporting to " << absl::GetFlag(FLAGS_otlp_endpoint) << " (session "
                 << session->id() << ")";
  }
  HT_LOG(INFO) << "audit trail: " << (*audit)->destination() << " (one JSON line per session "
               << "call and per refused call)";
  HT_LOG(INFO) << "httptrace-agent " << httptrace::kVersion << " serving on "
               << absl::StrJoin(absl::GetFlag(FLAGS_listen), ", ") << "; probes attach when a "
               << "capture starts";

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  HT_LOG(INFO) << "received SIG" << sigabbrev_np(signal_number)
               << ": ending sessions and detaching probes";
  // Sessions end first so streaming clients receive their SessionEnd, then the server stops.
  sessions.Shutdown();
  (*server)->Shutdown(absl::Seconds(5));
  (*pipeline)->Shutdown();
  HT_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // RunAgent's locals (sessions, server, probes, audit log) are gone when it returns; see
  // process_exit.h for why static teardown is skipped.
  httptrace::ExitSkippingStaticTeardown(RunAgent(argc, argv));
}
