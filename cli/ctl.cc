#include "cli/ctl.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "cli/interrupt.h"
#include "cli/output_file.h"
#include "cli/render/text_util.h"
#include "google/protobuf/util/time_util.h"

namespace httptrace::cli {
namespace {

void Say(const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); }

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FilterSummary(const v1::Filter& f) {
  std::vector<std::string> parts;
  auto add_list = [&](absl::string_view name, const auto& values) {
    if (values.empty()) return;
    parts.push_back(absl::StrCat(name, "=", absl::StrJoin(values, ",")));
  };
  add_list("pid", f.pids());
  add_list("comm", f.process_names());
  add_list("container", f.containers());
  add_list("namespace", f.pod_namespaces());
  add_list("pod", f.pods());
  add_list("port", f.ports());
  add_list("local-port", f.local_ports());
  add_list("remote-port", f.remote_ports());
  add_list("method", f.methods());
  if (!f.path_prefix().empty()) parts.push_back(absl::StrCat("path-prefix=", f.path_prefix()));
  if (f.role() != v1::ROLE_UNSPECIFIED) {
    parts.push_back(absl::StrCat("role=", render::RoleName(f.role())));
  }
  return parts.empty() ? "all" : absl::StrJoin(parts, " ");
}

}  // namespace

Ctl::Ctl(std::string agent_address, std::unique_ptr<v1::HttpTrace::StubInterface> stub)
    : agent_(std::move(agent_address)), stub_(std::move(stub)) {}

void Ctl::Fail(const std::string& what, const grpc::Status& status) {
  std::string hint;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint = absl::StrCat(" (is httptrace-agent running and listening on ", agent_,
                        "? set --agent or HTTPTRACE_AGENT)");
  }
  Say(absl::StrCat("httptracectl: ", what, ": ", status.error_message(), hint));
}

int Ctl::Start(const v1::StartCaptureRequest& request, const StreamOptions& options, bool detach) {
  // Check the output before starting the session: a bad path must not leave a session running.
  if (!detach) {
    absl::StatusOr<OutputFile> output = OutputFile::Open(options.output_path);
    if (!output.ok()) {
      Say(absl::StrCat("httptracectl: ", output.status().message()));
      return kExitFailure;
    }
  }
  v1::StartCaptureResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  if (grpc::Status status = stub_->StartCapture(&context, request, &response); !status.ok()) {
    Fail("cannot start capture", status);
    return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? kExitUsage : kExitFailure;
  }
  const std::string& id = response.session().id();
  // Scripts wait for this exact line: the probes are attached when it appears.
  Say(absl::StrCat("started session ", id));
  if (detach) {
    std::printf("%s\n", id.c_str());
    std::fflush(stdout);
    return kExitOk;
  }
  return Stream(id, /*from_seq=*/-1, options, OnInterrupt::kStopSession);
}

int Ctl::Attach(const std::string& session_id, int64_t from_seq, const StreamOptions& options) {
  return Stream(session_id, from_seq, options, OnInterrupt::kDetach);
}

bool Ctl::StopSession(const std::string& session_id, v1::SessionInfo* info) {
  v1::StopCaptureRequest request;
  request.set_session_id(session_id);
  v1::StopCaptureResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  grpc::Status status = stub_->StopCapture(&context, request, &response);
  if (!status.ok()) {
    Fail(absl::StrCat("cannot stop session ", session_id), status);
    return false;
  }
  if (info != nullptr) *info = response.session();
  return true;
}

int Ctl::Stream(const std::string& session_id, int64_t from_seq, const StreamOptions& options,
                OnInterrupt on_interrupt) {
  absl::StatusOr<std::unique_ptr<render::Renderer>> renderer =
      render::MakeRenderer(options.format, options.render);
  if (!renderer.ok()) {
    Say(absl::StrCat("httptracectl: ", renderer.status().message()));
    return kExitUsage;
  }
  absl::StatusOr<OutputFile> output = OutputFile::Open(options.output_path);
  if (!output.ok()) {
    Say(absl::StrCat("httptracectl: ", output.status().message()));
    return kExitFailure;
  }
  if (output->was_empty()) {
    std::string header;
    (*renderer)->Begin(&header);
    if (absl::Status s = output->Write(header); !s.ok()) {
      Say(absl::StrCat("httptracectl: ", s.message()));
      return kExitFailure;
    }
  }

  v1::StreamEventsRequest request;
  request.set_session_id(session_id);
  if (from_seq >= 0) request.set_from_seq(static_cast<uint64_t>(from_seq));
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderInterface<v1::Event>> reader =
      stub_->StreamEvents(&context, request);

  std::atomic<uint64_t> exchanges{0}, lost{0}, last_seq{0};
  std::atomic<bool> interrupted{false};
  absl::Notification done;
  const bool live_status =
      isatty(STDERR_FILENO) && options.output_path != "" && options.output_path != "-";
  std::thread watcher([&] {
    const absl::Time deadline = options.duration > absl::ZeroDuration()
                                    ? absl::Now() + options.duration
                                    : absl::InfiniteFuture();
    auto status_line = [&] {
      if (!live_status) return;
      std::fprintf(stderr, "\r\033[K%s: %llu exchange(s), %llu lost", session_id.c_str(),
                   static_cast<unsigned long long>(exchanges.load()),
                   static_cast<unsigned long long>(lost.load()));
    };
    if (!WaitForInterrupt(deadline, done, status_line)) return;
    interrupted = true;
    if (live_status) std::fputs("\r\033[K", stderr);
    if (on_interrupt == OnInterrupt::kDetach) {
      context.TryCancel();
      return;
    }
    // Stop the session and let the stream deliver everything up to SessionEnd; a second
    // interrupt or the drain timeout gives up waiting.
    if (!StopSession(session_id, nullptr)) {
      context.TryCancel();
      return;
    }
    if (WaitForInterrupt(absl::Now() + options.drain_timeout, done, [] {})) {
      Say("httptracectl: gave up waiting for the session's last events");
      context.TryCancel();
    }
  });

  v1::Event event;
  const v1::SessionEnd* end = nullptr;
  v1::SessionEnd end_storage;
  absl::Status write_status;
  while (reader->Read(&event)) {
    if (event.seq() > 0) last_seq = event.seq();
    if (event.has_exchange()) ++exchanges;
    if (event.has_loss()) lost += event.loss().exchanges();
    std::string rendered;
    (*renderer)->Render(event, "", &rendered);
    write_status = output->Write(rendered, event.seq());
    if (!write_status.ok()) {
      context.TryCancel();
      break;
    }
    if (event.has_end()) {
      end_storage = event.end();
      end = &end_storage;
    }
  }
  const grpc::Status status = reader->Finish();
  done.Notify();
  watcher.join();
  if (live_status) std::fputs("\r\033[K", stderr);
  if (write_status.ok()) write_status = output->Flush();

  if (!write_status.ok()) {
    // Only what surely reached the file counts: resume right after it.
    Say(absl::StrCat("httptracectl: ", write_status.message(),
                     "; the session keeps running: ", "resume with: httptracectl attach ",
                     session_id, " --from-seq ", output->durable_mark() + 1, " -o FILE"));
    return kExitFailure;
  }
  if (end != nullptr) {
    Say(absl::StrCat("session ", session_id, " ended (", render::EndReasonName(end->reason()),
                     "): ", end->counters().exchanges(), " exchange(s), ",
                     render::LostSummary(end->counters()),
                     end->detail().empty() ? "" : absl::StrCat(" — ", end->detail())));
    if (end->reason() == v1::END_REASON_AGENT_SHUTDOWN || end->reason() == v1::END_REASON_ERROR) {
      Say(absl::StrCat("httptracectl: the agent at ", agent_,
                       " ended the session: ", end->detail()));
      return kExitFailure;
    }
    return kExitOk;
  }
  if (interrupted && on_interrupt == OnInterrupt::kDetach) {
    Say(absl::StrCat("detached from session ", session_id, " after ", exchanges.load(),
                     " exchange(s); resume with: httptracectl attach ", session_id, " --from-seq ",
                     last_seq.load() + 1));
    return kExitOk;
  }
  if (!status.ok()) {
    Fail(absl::StrCat("lost the stream of session ", session_id, " from ", agent_), status);
  } else {
    Say(absl::StrCat("httptracectl: the stream of session ", session_id,
                     " ended without a session end"));
  }
  return kExitFailure;
}

int Ctl::Stop(const std::string& session_id) {
  v1::SessionInfo info;
  if (!StopSession(session_id, &info)) return kExitFailure;
  Say(absl::StrCat("session ", session_id, " ended (", render::EndReasonName(info.end_reason()),
                   "): ", info.counters().exchanges(), " exchange(s), ",
                   render::LostSummary(info.counters())));
  return kExitOk;
}

int Ctl::List() {
  v1::ListSessionsResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  if (grpc::Status status = stub_->ListSessions(&context, {}, &response); !status.ok()) {
    Fail("cannot list sessions", status);
    return kExitFailure;
  }
  std::printf("%-10s %-7s %-20s %10s %8s %7s  %s\n", "SESSION", "STATE", "STARTED", "EXCHANGES",
              "LOST", "READERS", "FILTER");
  for (const v1::SessionInfo& s : response.sessions()) {
    std::printf("%-10s %-7s %-20s %10llu %8llu %7u  %s\n", s.id().c_str(),
                s.state() == v1::SESSION_STATE_ACTIVE ? "active" : "ended",
                absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(s.started_at()), absl::LocalTimeZone())
                    .c_str(),
                static_cast<unsigned long long>(s.counters().exchanges()),
                static_cast<unsigned long long>(s.counters().exchanges_lost()), s.readers(),
                FilterSummary(s.filter()).c_str());
  }
  return kExitOk;
}

int Ctl::Status() {
  v1::GetStatusResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  if (grpc::Status status = stub_->GetStatus(&context, {}, &response); !status.ok()) {
    Fail("cannot get the agent's status", status);
    return kExitFailure;
  }
  std::printf(
      "agent:    %s (version %s) on node %s, up since %s\n", agent_.c_str(),
      response.version().c_str(), response.node().c_str(),
      absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(response.started_at()), absl::LocalTimeZone())
          .c_str());
  std::printf(
      "kernel:   %s, BTF %s, tracefs %s\n", response.kernel().release().c_str(),
      response.kernel().btf() ? "yes" : "no",
      response.kernel().tracefs().empty() ? "not mounted" : response.kernel().tracefs().c_str());
  const v1::ProbeStatus& probes = response.probes();
  std::string probe_text = "not attached (no active session)";
  if (probes.attached()) {
    probe_text = probes.mode() == v1::ATTACH_MODE_RAW_TRACEPOINTS
                     ? "attached via raw tracepoints"
                     : "attached via syscall tracepoints";
    absl::StrAppend(&probe_text, ", ", probes.programs_size(), " programs");
  }
  if (!probes.detail().empty()) absl::StrAppend(&probe_text, " (", probes.detail(), ")");
  std::printf("probes:   %s\n", probe_text.c_str());
  std::printf("sessions: %d\n", response.sessions_size());
  for (const v1::SessionInfo& s : response.sessions()) {
    std::printf("  %s %s: %llu exchange(s), %llu lost, filter %s\n", s.id().c_str(),
                s.state() == v1::SESSION_STATE_ACTIVE ? "active" : "ended",
                static_cast<unsigned long long>(s.counters().exchanges()),
                static_cast<unsigned long long>(s.counters().exchanges_lost()),
                FilterSummary(s.filter()).c_str());
  }
  std::vector<std::pair<std::string, uint64_t>> counters(response.counters().begin(),
                                                         response.counters().end());
  std::sort(counters.begin(), counters.end());
  std::printf("counters:\n");
  for (const auto& [name, value] : counters) {
    std::printf("  %-44s %llu\n", name.c_str(), static_cast<unsigned long long>(value));
  }
  return kExitOk;
}

}  // namespace httptrace::cli
