#include "cli/multi_ctl.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "cli/event_merger.h"
#include "cli/interrupt.h"
#include "cli/output_file.h"
#include "cli/render/text_util.h"

namespace httptrace::cli {
namespace {

// Events held at most while waiting for slower agents; beyond it the oldest go out early.
constexpr size_t kMaxHeldEvents = 65536;

void Say(const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); }

std::string Describe(const grpc::Status& status) {
  std::string text = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    absl::StrAppend(&text, " (is the agent running and reachable?)");
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    absl::StrAppend(&text, " (no answer in time)");
  }
  return text;
}

// One agent's part of a multi-agent capture.
struct AgentRun {
  std::string address;
  std::unique_ptr<v1::HttpTrace::StubInterface> stub;
  std::string node;     // the agent's node name; the address until the agent said
  std::string session;  // empty when the session could not be started
  std::string start_error;
  bool invalid_request = false;
  std::unique_ptr<render::Renderer> renderer;
  grpc::ClientContext stream_context;
  // Written by the agent's reader thread under the capture's mutex.
  bool finished = false;
  bool has_end = false;
  v1::SessionEnd end;
  grpc::Status status;
  // Written by the output loop only.
  uint64_t written_seq = 0;

  std::string Label() const {
    return node == address ? address : absl::StrCat(node, " (", address, ")");
  }
};

}  // namespace

MultiCtl::MultiCtl(std::vector<AgentChannel> agents, MultiOptions options)
    : agents_(std::move(agents)), options_(options) {}

int MultiCtl::Start(const v1::StartCaptureRequest& request, const StreamOptions& options,
                    bool detach) {
  std::optional<OutputFile> output;
  std::vector<std::unique_ptr<AgentRun>> runs;
  for (const AgentChannel& agent : agents_) {
    auto run = std::make_unique<AgentRun>();
    run->address = agent.address;
    run->node = agent.address;
    run->stub = v1::HttpTrace::NewStub(agent.channel);
    if (!detach) {
      render::RenderOptions render = options.render;
      render.show_node = true;
      auto renderer = render::MakeRenderer(options.format, render);
      if (!renderer.ok()) {
        Say(absl::StrCat("httptracectl: ", renderer.status().message()));
        return kExitUsage;
      }
      run->renderer = *std::move(renderer);
    }
    runs.push_back(std::move(run));
  }
  // Check the output before starting sessions: a bad path must not leave sessions running.
  if (!detach) {
    absl::StatusOr<OutputFile> opened = OutputFile::Open(options.output_path);
    if (!opened.ok()) {
      Say(absl::StrCat("httptracectl: ", opened.status().message()));
      return kExitFailure;
    }
    output.emplace(*std::move(opened));
  }

  // Start every session at once: attaching probes takes each agent a moment.
  {
    std::vector<std::thread> starters;
    for (auto& run_ptr : runs) {
      starters.emplace_back([&, run = run_ptr.get()] {
        v1::GetStatusResponse status;
        grpc::ClientContext status_context;
        status_context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
        if (grpc::Status s = run->stub->GetStatus(&status_context, {}, &status); !s.ok()) {
          run->start_error = absl::StrCat("cannot reach the agent: ", Describe(s));
          return;
        }
        if (!status.node().empty()) run->node = status.node();
        v1::StartCaptureResponse response;
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
        if (grpc::Status s = run->stub->StartCapture(&context, request, &response); !s.ok()) {
          run->start_error = absl::StrCat("cannot start capture: ", Describe(s));
          run->invalid_request = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
          return;
        }
        run->session = response.session().id();
      });
    }
    for (std::thread& t : starters) t.join();
  }
  bool any_failed = false;
  bool any_invalid = false;
  std::vector<AgentRun*> started;
  for (auto& run : runs) {
    if (run->session.empty()) {
      Say(absl::StrCat("httptracectl: agent ", run->Label(), ": ", run->start_error));
      any_failed = true;
      any_invalid = any_invalid || run->invalid_request;
      continue;
    }
    if (run->renderer != nullptr) {
      render::RenderOptions render = options.render;
      render.show_node = true;
      run->renderer = *render::MakeRenderer(options.format, render);
    }
    started.push_back(run.get());
  }
  // A request one agent rejects as invalid is invalid everywhere: a usage error.
  if (started.empty()) return any_invalid ? kExitUsage : kExitFailure;
  for (AgentRun* run : started) {
    Say(absl::StrCat("started session ", run->session, " on ", run->Label()));
  }
  // Scripts wait for this line: every agent that could start has its probes attached.
  Say(absl::StrCat("started ", started.size(), " session(s) on ", started.size(), " of ",
                   runs.size(), " agent(s)"));
  if (detach) {
    for (AgentRun* run : started)
      std::printf("%s %s\n", run->address.c_str(), run->session.c_str());
    std::fflush(stdout);
    return any_failed ? kExitFailure : kExitOk;
  }

  if (output->was_empty()) {
    std::string header;
    started.front()->renderer->Begin(&header);
    if (absl::Status s = output->Write(header); !s.ok()) {
      Say(absl::StrCat("httptracectl: ", s.message()));
      for (AgentRun* run : started) run->stream_context.TryCancel();
      return kExitFailure;
    }
  }

  absl::Mutex mu;
  absl::CondVar cv;  // signalled on every event and every stream's end
  EventMerger merger(started.size(), options_.merge_window, kMaxHeldEvents);
  size_t finished = 0;
  absl::Notification all_done;
  std::atomic<bool> gave_up{false};

  std::vector<std::thread> readers;
  for (size_t i = 0; i < started.size(); ++i) {
    readers.emplace_back([&, i, run = started[i]] {
      v1::StreamEventsRequest stream_request;
      stream_request.set_session_id(run->session);
      auto reader = run->stub->StreamEvents(&run->stream_context, stream_request);
      v1::Event event;
      bool has_end = false;
      while (reader->Read(&event)) {
        absl::MutexLock lock(&mu);
        if (event.has_end()) {
          run->end = event.end();
          run->has_end = has_end = true;
        }
        merger.Push(i, std::move(event), absl::Now());
        cv.Signal();
      }
      grpc::Status status = reader->Finish();
      if (!has_end && !gave_up) {
        // Said at once, so the user knows mid-capture that this node's trace stopped.
        Say(absl::StrCat("httptracectl: agent ", run->Label(),
                         " failed: lost the stream of session ", run->session, ": ",
                         Describe(status), "; the other agents go on"));
      }
      absl::MutexLock lock(&mu);
      run->status = std::move(status);
      run->finished = true;
      ++finished;
      cv.Signal();
    });
  }

  std::atomic<bool> interrupted{false};
  std::thread watcher([&] {
    const absl::Time deadline = options.duration > absl::ZeroDuration()
                                    ? absl::Now() + options.duration
                                    : absl::InfiniteFuture();
    if (!WaitForInterrupt(deadline, all_done, [] {})) return;
    interrupted = true;
    // Stop every session still streaming; each stream then drains up to its SessionEnd.
    std::vector<std::thread> stoppers;
    for (AgentRun* run : started) {
      {
        absl::MutexLock lock(&mu);
        if (run->finished) continue;
      }
      stoppers.emplace_back([&, run] {
        v1::StopCaptureRequest stop;
        stop.set_session_id(run->session);
        v1::StopCaptureResponse response;
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
        if (grpc::Status s = run->stub->StopCapture(&context, stop, &response); !s.ok()) {
          Say(absl::StrCat("httptracectl: agent ", run->Label(), ": cannot stop session ",
                           run->session, ": ", Describe(s)));
          run->stream_context.TryCancel();
        }
      });
    }
    for (std::thread& t : stoppers) t.join();
    if (WaitForInterrupt(absl::Now() + options.drain_timeout, all_done, [] {})) {
      Say("httptracectl: gave up waiting for the sessions' last events");
      gave_up = true;
      for (AgentRun* run : started) run->stream_context.TryCancel();
    }
  });

  absl::Status write_status;
  std::vector<EventMerger::Item> ready;
  mu.Lock();
  while (true) {
    const bool all_finished = finished == started.size();
    ready.clear();
    if (all_finished) {
      merger.PopAll(&ready);
    } else {
      merger.PopReady(absl::Now(), &ready);
    }
    if (!ready.empty()) {
      mu.Unlock();
      for (const EventMerger::Item& item : ready) {
        std::string rendered;
        started[item.source]->renderer->Render(item.event, started[item.source]->node, &rendered);
        write_status = output->Write(rendered);
        if (!write_status.ok()) break;
      }
      // One write(2) per batch; the resume points advance only once the batch is in the file.
      if (write_status.ok()) write_status = output->Flush();
      if (write_status.ok()) {
        for (const EventMerger::Item& item : ready) {
          if (item.event.seq() > 0) started[item.source]->written_seq = item.event.seq();
        }
      }
      mu.Lock();
      if (!write_status.ok()) break;
    }
    if (all_finished && merger.held() == 0) break;
    const absl::Time wake = std::min(merger.NextDeadline(), absl::Now() + absl::Milliseconds(100));
    cv.WaitWithDeadline(&mu, wake);
  }
  mu.Unlock();
  if (!write_status.ok()) {
    for (AgentRun* run : started) run->stream_context.TryCancel();
  }
  for (std::thread& t : readers) t.join();
  all_done.Notify();
  watcher.join();

  if (!write_status.ok()) {
    Say(absl::StrCat("httptracectl: ", write_status.message(), "; the sessions keep running"));
    for (AgentRun* run : started) {
      Say(absl::StrCat("  resume with: httptracectl --agent ", run->address, " attach ",
                       run->session, " --from-seq ", run->written_seq + 1, " -o FILE"));
    }
    return kExitFailure;
  }
  for (AgentRun* run : started) {
    if (!run->has_end) {
      any_failed = true;
      continue;  // reported when its stream broke
    }
    const v1::SessionEnd& end = run->end;
    Say(absl::StrCat("session ", run->session, " on ", run->node, " ended (",
                     render::EndReasonName(end.reason()), "): ", end.counters().exchanges(),
                     " exchange(s), ", render::LostSummary(end.counters()),
                     end.detail().empty() ? "" : absl::StrCat(" — ", end.detail())));
    if (end.reason() == v1::END_REASON_AGENT_SHUTDOWN || end.reason() == v1::END_REASON_ERROR) {
      Say(absl::StrCat("httptracectl: agent ", run->Label(), " ended the session: ", end.detail()));
      any_failed = true;
    }
  }
  return any_failed ? kExitFailure : kExitOk;
}

int MultiCtl::Stop(const std::string& session_id) {
  bool any_failed = false;
  int stopped = 0;
  for (const AgentChannel& agent : agents_) {
    auto stub = v1::HttpTrace::NewStub(agent.channel);
    v1::StopCaptureRequest request;
    request.set_session_id(session_id);
    v1::StopCaptureResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    grpc::Status status = stub->StopCapture(&context, request, &response);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;  // another agent's id
    if (!status.ok()) {
      Say(absl::StrCat("httptracectl: agent ", agent.address, ": cannot stop session ", session_id,
                       ": ", Describe(status)));
      any_failed = true;
      continue;
    }
    ++stopped;
    const v1::SessionInfo& info = response.session();
    Say(absl::StrCat("session ", session_id, " on ", agent.address, " ended (",
                     render::EndReasonName(info.end_reason()), "): ", info.counters().exchanges(),
                     " exchange(s), ", render::LostSummary(info.counters())));
  }
  if (stopped == 0 && !any_failed) {
    Say(absl::StrCat("httptracectl: no agent has a session ", session_id));
    return kExitFailure;
  }
  return any_failed ? kExitFailure : kExitOk;
}

int MultiCtl::List() {
  int rc = kExitOk;
  for (size_t i = 0; i < agents_.size(); ++i) {
    std::printf("%s== %s ==\n", i == 0 ? "" : "\n", agents_[i].address.c_str());
    std::fflush(stdout);
    Ctl ctl(agents_[i].address, v1::HttpTrace::NewStub(agents_[i].channel));
    if (ctl.List() != kExitOk) rc = kExitFailure;
    std::fflush(stdout);
  }
  return rc;
}

int MultiCtl::Status() {
  int rc = kExitOk;
  for (size_t i = 0; i < agents_.size(); ++i) {
    if (i > 0) std::printf("\n");
    std::fflush(stdout);
    Ctl ctl(agents_[i].address, v1::HttpTrace::NewStub(agents_[i].channel));
    if (ctl.Status() != kExitOk) rc = kExitFailure;
    std::fflush(stdout);
  }
  return rc;
}

}  // namespace httptrace::cli
