#include "cli/ctl.h"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "cli/agent_error.h"
#include "cli/endpoint_table.h"
#include "cli/event_merger.h"
#include "cli/interrupt.h"
#include "cli/output_file.h"
#include "cli/pairer.h"
#include "cli/render/text_util.h"
#include "cli/status_report.h"
#include "google/protobuf/util/json_util.h"

namespace httptrace::cli {
namespace {

// Events the merger holds at most: beyond it the oldest go out early (a merge window shrinks
// under load), and an agent's reader waits while the output loop catches up, so the ctl's
// memory stays bounded (about this many events held plus one batch being written) and a ctl
// that cannot keep up shows as the agent's slow_reader loss, never as unbounded growth.
constexpr size_t kMaxHeldEvents = 8192;
// The output loop wakes at least this often (top's refresh, the end of a merge window).
constexpr absl::Duration kMaxWait = absl::Milliseconds(100);

void Say(const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); }

size_t TerminalRows() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0 || size.ws_row == 0) return 24;
  return size.ws_row;
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// "export otlp://c:4317: 120 sent, 8 retried, 3 dropped, 0 queued (last error: ...)".
std::string ExportSummary(const v1::ExportStatus& e) {
  std::string text = absl::StrCat("export ", e.endpoint(), ": ", e.spans_sent(), " sent, ",
                                  e.spans_retried(), " retried, ", e.spans_dropped(), " dropped, ",
                                  e.spans_queued(), " queued; metrics ", e.metric_exports(),
                                  " exported, ", e.metric_exports_failed(), " failed");
  if (e.metric_overflow() > 0) absl::StrAppend(&text, ", ", e.metric_overflow(), " overflowed");
  if (!e.last_error().empty()) absl::StrAppend(&text, " (last error: ", e.last_error(), ")");
  return text;
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
  std::vector<std::string> statuses;
  for (const v1::StatusRange& r : f.statuses()) {
    statuses.push_back(r.min() == r.max() ? absl::StrCat(r.min())
                       : r.max() == r.min() + 99 && r.min() % 100 == 0
                           ? absl::StrCat(r.min() / 100, "xx")
                           : absl::StrCat(r.min(), "-", r.max()));
  }
  add_list("status", statuses);
  add_list("host", f.hosts());
  if (f.has_min_latency()) {
    parts.push_back(absl::StrCat("min-latency=",
                                 absl::FormatDuration(absl::Seconds(f.min_latency().seconds()) +
                                                      absl::Nanoseconds(f.min_latency().nanos()))));
  }
  add_list("connection", f.connection_ids());
  if (f.protocols_size() > 0) {
    parts.push_back(absl::StrCat("protocol=", absl::StrJoin(f.protocols(), ",")));
  }
  if (f.role() != v1::ROLE_UNSPECIFIED) {
    parts.push_back(absl::StrCat("role=", render::RoleName(f.role())));
  }
  if (f.tls() == v1::TLS_ONLY) parts.push_back("tls=only");
  if (f.tls() == v1::TLS_PLAIN) parts.push_back("tls=plain");
  return parts.empty() ? "all" : absl::StrJoin(parts, " ");
}

std::string LocalTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", render::ToTime(ts), absl::LocalTimeZone());
}

// Runs fn(i) for every i < n at once, one thread each: agents answer in parallel, so one slow
// or unreachable agent costs the command one --timeout, not one per agent.
template <typename Fn>
void ForEachAtOnce(size_t n, Fn fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back([&fn, i] { fn(i); });
  for (std::thread& t : threads) t.join();
}

// One unary call to every agent at once, each with its own deadline: (*results)[i] and
// (*responses)[i] answer agents[i]. `call(stub, context, response)` returns the call's status.
template <typename Agents, typename Response, typename Call>
void AskEvery(const Agents& agents, absl::Duration timeout, Call call,
              std::vector<grpc::Status>* results, std::vector<Response>* responses) {
  results->assign(agents.size(), grpc::Status());
  responses->assign(agents.size(), Response());
  ForEachAtOnce(agents.size(), [&](size_t i) {
    grpc::ClientContext context;
    SetDeadline(context, timeout);
    (*results)[i] = call(*agents[i]->stub, &context, &(*responses)[i]);
  });
}

grpc::Status GetStatus(v1::HttpTrace::StubInterface& stub, grpc::ClientContext* context,
                       v1::GetStatusResponse* response) {
  return stub.GetStatus(context, {}, response);
}

}  // namespace

// One agent, and its part of a capture.
struct Ctl::Agent {
  AgentSpec spec;
  std::shared_ptr<grpc::Channel> channel;  // the event stream's; the stub's for the other calls
  std::unique_ptr<v1::HttpTrace::StubInterface> stub;
  std::string node;  // the agent's node name, once it said
  std::string session;
  std::string error;  // why the session could not be started
  bool invalid_request = false;
  std::unique_ptr<EventStream> stream;
  std::thread reader;
  size_t source = 0;  // in the capture's merger
  // Written by the reader thread under Capture::mu.
  bool finished = false;
  bool has_end = false;
  v1::SessionEnd end;
  // Written by the output loop only: the last sequence number handed to the sink, and the
  // sequence numbers of the batches the output has not yet confirmed as written, by mark.
  uint64_t last_seq = 0;
  uint64_t durable_seq = 0;
  uint64_t pairs = 0;  // exchanges seen from both ends, each shown once (two records each)
  std::deque<std::pair<uint64_t, uint64_t>> pending;

  const std::string& address() const { return spec.address; }
  std::string Label() const {
    return node.empty() || node == spec.address ? spec.address
                                                : absl::StrCat(node, " (", spec.address, ")");
  }
  const std::string& NodeOrAddress() const { return node.empty() ? spec.address : node; }
};

// The sessions being streamed: the agents' readers push into the merger, the output loop pops.
struct Ctl::Capture {
  Capture(absl::Duration window, size_t agents_total)
      // The merge releases its oldest beyond half the bound, so readers rarely wait on it.
      : merger(0, window, kMaxHeldEvents / 2), agents_total(agents_total) {}

  absl::Mutex mu;
  absl::CondVar cv;  // signalled on every event and every stream's end
  std::vector<std::unique_ptr<Agent>> agents ABSL_GUARDED_BY(mu);
  EventMerger merger ABSL_GUARDED_BY(mu);
  size_t finished ABSL_GUARDED_BY(mu) = 0;
  bool closing ABSL_GUARDED_BY(mu) = false;  // the output loop is done: nobody may join
  // Agents asked, including those that failed to start; grows when agents join (watcher thread).
  std::atomic<size_t> agents_total;
  std::atomic<size_t> failed_starts{0};
  std::set<std::string> tried;  // addresses a session was started on (DNS refresh only)

  std::atomic<uint64_t> exchanges{0}, lost{0};
  std::atomic<bool> cancelling{false};  // streams end on purpose: not a failure to report

  std::vector<Agent*> Snapshot() {
    absl::MutexLock lock(&mu);
    std::vector<Agent*> out;
    for (auto& a : agents) out.push_back(a.get());
    return out;
  }
  bool several() {
    absl::MutexLock lock(&mu);
    return agents.size() > 1 || agents_total > 1;
  }

  // Adds a started agent and starts reading its stream; false (and nothing added) when the
  // capture is already closing.
  bool Add(std::unique_ptr<Agent> agent, int64_t from_seq) {
    Agent* a = agent.get();
    {
      absl::MutexLock lock(&mu);
      if (closing) return false;
      a->source = merger.AddSource();
      a->stream = std::make_unique<EventStream>(a->channel, a->session, from_seq);
      agents.push_back(std::move(agent));
    }
    a->reader = std::thread([this, a] { Read(a); });
    return true;
  }

  void Read(Agent* a) {
    std::vector<EventPtr> events;
    bool has_end = false;
    while (a->stream->Next(&events)) {
      const absl::Time now = absl::Now();
      // Once per message of the stream, not per event; waits while the merger is full.
      absl::MutexLock lock(&mu, absl::Condition(this, &Capture::HasRoom));
      for (EventPtr& event : events) {
        if (event->has_exchange()) ++exchanges;
        if (event->has_loss()) lost += event->loss().exchanges();
        if (event->has_end()) {
          a->end = event->end();
          a->has_end = has_end = true;
        }
        merger.Push(a->source, std::move(event), now);
      }
      cv.Signal();
    }
    const grpc::Status status = a->stream->Finish();
    if (!has_end && !cancelling) {
      // Said at once, so the user knows mid-capture that this agent's trace stopped.
      Say(absl::StrCat("httptracectl: agent ", a->Label(), " failed: lost the stream of session ",
                       a->session, ": ", DescribeAgentError(status, a->address()),
                       several() ? "; the other agents go on" : ""));
    }
    absl::MutexLock lock(&mu);
    a->finished = true;
    ++finished;
    cv.Signal();
  }

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return merger.held() < kMaxHeldEvents || closing;
  }

  void CancelAll() {
    cancelling = true;
    for (Agent* a : Snapshot()) a->stream->Cancel();
  }
};

// Where a capture's events go.
class Ctl::Sink {
 public:
  virtual ~Sink() = default;
  // A batch of events in merge order, `agents[i]` the agent of `batch[i]`.
  virtual absl::Status Write(const std::vector<EventMerger::Item>& batch,
                             const std::vector<Agent*>& agents) = 0;
  // Called by the output loop at least every kMaxWait.
  virtual void Tick(absl::Time now) {}
  virtual absl::Time NextTick() const { return absl::InfiniteFuture(); }
  // An output failure found without a Write (a background flush hit a full disk).
  virtual absl::Status Health() const { return absl::OkStatus(); }
  // Once, however the capture ended.
  virtual absl::Status Finish() = 0;
  // The sequence number to resume `agent`'s session from: after what surely reached the output.
  virtual uint64_t ResumeSeq(Agent& agent) { return agent.last_seq + 1; }
  virtual bool live_status() const { return false; }
};

// Renders events into the trace file (or standard output).
class Ctl::FileSink final : public Sink {
 public:
  static absl::StatusOr<std::unique_ptr<FileSink>> Open(const StreamOptions& options,
                                                        bool several) {
    render::RenderOptions render = options.render;
    render.show_node = several;
    absl::StatusOr<std::unique_ptr<render::Renderer>> renderer =
        render::MakeRenderer(options.format, render);
    if (!renderer.ok()) return renderer.status();
    absl::StatusOr<OutputFile> output = OutputFile::Open(options.output_path);
    if (!output.ok()) return output.status();
    Pairer::Options pairing;
    pairing.enabled = options.pair;
    auto sink = absl::WrapUnique(new FileSink(*std::move(renderer), *std::move(output), pairing));
    const bool is_file = !options.output_path.empty() && options.output_path != "-";
    if (!sink->renderer_->appends() && is_file && !sink->output_.was_empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("--format ", options.format, " writes one document per file and ",
                       options.output_path, " is not empty: give a new file"));
    }
    if (sink->output_.was_empty() || !sink->renderer_->appends()) {
      std::string header;
      sink->renderer_->Begin(&header);
      if (absl::Status s = sink->output_.Write(header); !s.ok()) return s;
    }
    sink->live_status_ = is_file && isatty(STDERR_FILENO);
    return sink;
  }

  absl::Status Write(const std::vector<EventMerger::Item>& batch,
                     const std::vector<Agent*>& agents) override {
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < batch.size(); ++i) {
      agents_[batch[i].source] = agents[i];
      pairer_.Push(batch[i].source, batch[i].event, now);
    }
    ready_.clear();
    pairer_.PopReady(now, &ready_);
    return WriteReady();
  }

  // Exchanges whose window for a partner ended go out.
  void Tick(absl::Time now) override {
    ready_.clear();
    pairer_.PopReady(now, &ready_);
    if (ready_.empty()) return;
    if (absl::Status s = WriteReady(); !s.ok() && tick_status_.ok()) tick_status_ = s;
  }
  absl::Time NextTick() const override { return pairer_.NextDeadline(); }

  absl::Status Finish() override {
    ready_.clear();
    pairer_.PopAll(&ready_);
    absl::Status status = WriteReady();
    buffer_.clear();
    renderer_->End(&buffer_);
    if (status.ok()) status = output_.Write(buffer_);
    if (status.ok()) status = output_.Flush();
    return status;
  }

  uint64_t ResumeSeq(Agent& agent) override {
    Settle(agent, output_.durable_mark());
    return agent.durable_seq + 1;
  }
  bool live_status() const override { return live_status_; }
  absl::Status Health() const override {
    return tick_status_.ok() ? output_.status() : tick_status_;
  }

 private:
  FileSink(std::unique_ptr<render::Renderer> renderer, OutputFile output, Pairer::Options pairing)
      : renderer_(std::move(renderer)), output_(std::move(output)), pairer_(pairing) {}

  // Renders what the pairer released. A pair counts as its earlier record's sequence number
  // for resuming: its later record may then come again, but nothing before it is skipped.
  absl::Status WriteReady() {
    if (ready_.empty()) return absl::OkStatus();
    buffer_.clear();
    const uint64_t mark = ++marks_;
    for (const Pairer::Item& item : ready_) {
      Agent& agent = *agents_[item.source];
      const v1::Event& event = *item.event;
      uint64_t seq = event.seq();
      if (item.partner != nullptr) {
        renderer_->RenderPair(event, *item.partner, item.pair_id, agent.NodeOrAddress(), &buffer_);
        seq = std::min(seq, item.partner->seq());
        ++agent.pairs;
      } else {
        renderer_->Render(event, agent.NodeOrAddress(), &buffer_);
      }
      if (seq > 0) {
        agent.last_seq = seq;
        if (agent.pending.empty() || agent.pending.back().first != mark) {
          agent.pending.emplace_back(mark, agent.last_seq);
        } else {
          agent.pending.back().second = agent.last_seq;
        }
      }
    }
    ready_.clear();
    absl::Status status = output_.Write(buffer_, mark);
    const uint64_t durable = output_.durable_mark();
    for (auto& [source, agent] : agents_) Settle(*agent, durable);
    return status;
  }

  static void Settle(Agent& agent, uint64_t durable_mark) {
    while (!agent.pending.empty() && agent.pending.front().first <= durable_mark) {
      agent.durable_seq = agent.pending.front().second;
      agent.pending.pop_front();
    }
  }

  std::unique_ptr<render::Renderer> renderer_;
  OutputFile output_;
  Pairer pairer_;
  std::vector<Pairer::Item> ready_;
  absl::flat_hash_map<size_t, Agent*> agents_;  // by merger source
  absl::Status tick_status_;                    // a write from Tick that failed
  std::string buffer_;  // one batch's rendering: one copy into the output, no string per event
  uint64_t marks_ = 0;
  bool live_status_ = false;
};

// top's keyboard on a terminal: keys arrive one by one, unechoed, without Enter; the terminal's
// settings come back when top ends (Ctrl-C still interrupts: signals stay on).
class RawKeyboard {
 public:
  RawKeyboard() {
    if (tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawKeyboard() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawKeyboard(const RawKeyboard&) = delete;
  RawKeyboard& operator=(const RawKeyboard&) = delete;

  // The keys typed since the last call; never waits.
  std::string Read() {
    std::string keys;
    if (!active_) return keys;
    char buffer[32];
    pollfd fd{STDIN_FILENO, POLLIN, 0};
    while (poll(&fd, 1, 0) > 0 && (fd.revents & POLLIN) != 0) {
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
      if (n <= 0) break;
      keys.append(buffer, static_cast<size_t>(n));
    }
    return keys;
  }

 private:
  termios saved_{};
  bool active_ = false;
};

// Aggregates exchanges into the endpoint table and shows it. An exchange seen from both ends
// counts once (the server's record: the service's own latency), unless --role both-sides.
class Ctl::TopSink final : public Sink {
 public:
  explicit TopSink(const TopOptions& options)
      : options_(options),
        screen_(!options.once && options.format != "jsonl" && isatty(STDOUT_FILENO)),
        pairer_(Pairing(options)),
        table_(absl::Now(), /*by_role=*/!options.pair) {
    next_ = absl::Now() + options_.interval;
    if (screen_ && isatty(STDIN_FILENO)) keyboard_ = std::make_unique<RawKeyboard>();
    const auto& keys = EndpointTable::SortKeys();
    sort_index_ =
        static_cast<size_t>(std::find(keys.begin(), keys.end(), options_.sort) - keys.begin()) %
        keys.size();
  }

  absl::Status Write(const std::vector<EventMerger::Item>& batch,
                     const std::vector<Agent*>&) override {
    const absl::Time now = absl::Now();
    for (const EventMerger::Item& item : batch) pairer_.Push(item.source, item.event, now);
    Drain(now, /*all=*/false);
    return absl::OkStatus();
  }

  void Tick(absl::Time now) override {
    Drain(now, /*all=*/false);
    const bool key = keyboard_ != nullptr && HandleKeys(keyboard_->Read());
    if (now < next_ && !key) return;
    if (now >= next_) next_ = now + options_.interval;
    if (options_.once || (paused_ && !key)) return;
    Show(now);
  }
  absl::Time NextTick() const override { return std::min(next_, pairer_.NextDeadline()); }

  absl::Status Finish() override {
    Drain(absl::Now(), /*all=*/true);
    if (options_.once || !screen_) Show(absl::Now());
    return absl::OkStatus();
  }

 private:
  static Pairer::Options Pairing(const TopOptions& options) {
    Pairer::Options pairing;
    pairing.enabled = options.pair;
    return pairing;
  }

  void Drain(absl::Time now, bool all) {
    ready_.clear();
    if (all) {
      pairer_.PopAll(&ready_);
    } else {
      pairer_.PopReady(now, &ready_);
    }
    for (const Pairer::Item& item : ready_) {
      const v1::Event& event = *item.event;
      if (item.partner != nullptr) {
        table_.Add(item.partner->exchange(), now, EndpointTable::Seen::kBothEnds);
      } else if (event.has_exchange()) {
        table_.Add(event.exchange(), now);
      } else if (event.has_loss()) {
        table_.AddLoss(event.loss().exchanges());
      }
    }
    ready_.clear();
  }

  // q quits (as Ctrl-C does), s and S change the sort column, p pauses the display (counting
  // goes on). True when the screen must be drawn again.
  bool HandleKeys(const std::string& keys) {
    bool redraw = false;
    const size_t n = EndpointTable::SortKeys().size();
    for (const char key : keys) {
      switch (key) {
        case 'q':
        case 'Q':
          kill(getpid(), SIGINT);  // the capture's watcher ends it like Ctrl-C
          break;
        case 's':
          sort_index_ = (sort_index_ + 1) % n;
          redraw = true;
          break;
        case 'S':
          sort_index_ = (sort_index_ + n - 1) % n;
          redraw = true;
          break;
        case 'p':
        case ' ':
          paused_ = !paused_;
          redraw = true;
          break;
        default:
          break;
      }
    }
    return redraw;
  }

  void Show(absl::Time now) {
    EndpointTable::Format format;
    format.sort = EndpointTable::SortKeys()[sort_index_];
    format.rows = options_.rows;
    format.color = options_.color;
    format.slow = options_.slow;
    if (options_.format == "jsonl") {
      const std::string out = table_.RenderJson(now, format);
      std::fwrite(out.data(), 1, out.size(), stdout);
      std::fflush(stdout);
      return;
    }
    if (screen_) {
      if (format.rows == 0) format.rows = TerminalRows() > 7 ? TerminalRows() - 6 : 10;
      if (keyboard_ != nullptr) {
        format.footer = absl::StrCat("q quit  s/S sort (", format.sort, ")  p pause",
                                     paused_ ? "  -- PAUSED: p resumes --" : "");
      }
      // Home and clear: the table replaces the last one, like top(1).
      std::string out = "\033[H\033[2J";
      out.append(table_.Render(now, format));
      std::fwrite(out.data(), 1, out.size(), stdout);
    } else {
      const std::string out = table_.Render(now, format) + "\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    std::fflush(stdout);
  }

  TopOptions options_;
  bool screen_;
  absl::Time next_;
  Pairer pairer_;
  std::vector<Pairer::Item> ready_;
  EndpointTable table_;
  std::unique_ptr<RawKeyboard> keyboard_;
  size_t sort_index_ = 0;
  bool paused_ = false;
};

Ctl::Ctl(AgentDirectory directory, CtlOptions options)
    : directory_(std::move(directory)), options_(options) {}
Ctl::~Ctl() = default;

absl::StatusOr<std::vector<std::unique_ptr<Ctl::Agent>>> Ctl::Connect() {
  absl::StatusOr<std::vector<AgentSpec>> specs = directory_.Resolve();
  if (!specs.ok()) return specs.status();
  std::vector<std::unique_ptr<Agent>> agents;
  for (AgentSpec& spec : *specs) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = directory_.Dial(spec);
    if (!channel.ok()) return channel.status();
    auto agent = std::make_unique<Agent>();
    agent->spec = std::move(spec);
    agent->channel = *channel;
    agent->stub = v1::HttpTrace::NewStub(agent->channel);
    agents.push_back(std::move(agent));
  }
  return agents;
}

namespace {
int ConnectFailure(const absl::Status& status) {
  Say(absl::StrCat("httptracectl: ", status.message()));
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}
}  // namespace

bool Ctl::StartOne(const v1::StartCaptureRequest& request, Agent& agent) {
  v1::GetStatusResponse status;
  grpc::ClientContext status_context;
  SetDeadline(status_context, options_.timeout);
  if (grpc::Status s = agent.stub->GetStatus(&status_context, {}, &status); !s.ok()) {
    agent.error = absl::StrCat("cannot reach the agent: ", DescribeAgentError(s, agent.address()));
    return false;
  }
  agent.node = status.node();
  v1::StartCaptureResponse response;
  grpc::ClientContext context;
  SetDeadline(context, options_.timeout);
  if (grpc::Status s = agent.stub->StartCapture(&context, request, &response); !s.ok()) {
    agent.error = absl::StrCat("cannot start capture: ", DescribeAgentError(s, agent.address()));
    agent.invalid_request = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT;
    return false;
  }
  agent.session = response.session().id();
  return true;
}

bool Ctl::StartSessions(const v1::StartCaptureRequest& request,
                        std::vector<std::unique_ptr<Agent>>& agents, int* exit_code) {
  // Attaching probes takes each agent a moment: start every session at once.
  ForEachAtOnce(agents.size(), [&](size_t i) { StartOne(request, *agents[i]); });
  const size_t asked = agents.size();
  bool any_invalid = false;
  std::vector<std::unique_ptr<Agent>> started;
  for (auto& agent : agents) {
    if (agent->session.empty()) {
      Say(absl::StrCat("httptracectl: agent ", agent->Label(), ": ", agent->error));
      any_invalid = any_invalid || agent->invalid_request;
    } else {
      started.push_back(std::move(agent));
    }
  }
  agents = std::move(started);
  // A request one agent rejects as invalid is invalid everywhere: a usage error.
  if (agents.empty()) {
    *exit_code = any_invalid ? kExitUsage : kExitFailure;
    return false;
  }
  // Scripts wait for these lines: the probes are attached when they appear.
  for (auto& agent : agents) {
    Say(absl::StrCat("started session ", agent->session, " on ", agent->Label()));
  }
  if (asked > 1) {
    Say(absl::StrCat("started ", agents.size(), " session(s) on ", agents.size(), " of ", asked,
                     " agent(s)"));
  }
  *exit_code = agents.size() == asked ? kExitOk : kExitFailure;
  return true;
}

int Ctl::Start(const v1::StartCaptureRequest& request, const StreamOptions& options, bool detach) {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  const size_t asked = agents->size();
  // Open the output before starting sessions: a bad path must not leave sessions running.
  std::unique_ptr<FileSink> sink;
  if (!detach) {
    auto opened = FileSink::Open(options, asked > 1 || directory_.has_dns_names());
    if (!opened.ok()) {
      Say(absl::StrCat("httptracectl: ", opened.status().message()));
      return opened.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                          : kExitFailure;
    }
    sink = *std::move(opened);
  }
  int exit_code = kExitOk;
  if (!StartSessions(request, *agents, &exit_code)) return exit_code;
  if (detach) {
    for (auto& agent : *agents) {
      if (asked == 1) {
        std::printf("%s\n", agent->session.c_str());
      } else {
        std::printf("%s %s\n", agent->address().c_str(), agent->session.c_str());
      }
    }
    std::fflush(stdout);
    return exit_code;
  }
  Capture capture(asked > 1 ? options_.merge_window : absl::ZeroDuration(), asked);
  capture.failed_starts = asked - agents->size();
  for (auto& agent : *agents) {
    capture.tried.insert(agent->address());
    capture.Add(std::move(agent), -1);
  }
  return Stream(capture, *sink, options.duration, OnInterrupt::kStopSessions, &request);
}

int Ctl::Attach(const std::string& session_id, int64_t from_seq, const StreamOptions& options) {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  if (agents->size() != 1) {
    Say("httptracectl: attach reads one agent's session: give one --agent");
    return kExitUsage;
  }
  auto sink = FileSink::Open(options, /*several=*/false);
  if (!sink.ok()) {
    Say(absl::StrCat("httptracectl: ", sink.status().message()));
    return sink.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  Capture capture(absl::ZeroDuration(), 1);
  (*agents)[0]->session = session_id;
  capture.Add(std::move((*agents)[0]), from_seq);
  return Stream(capture, **sink, options.duration, OnInterrupt::kDetach, nullptr);
}

int Ctl::Top(const v1::StartCaptureRequest& request, const TopOptions& options) {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  const size_t asked = agents->size();
  int exit_code = kExitOk;
  if (!StartSessions(request, *agents, &exit_code)) return exit_code;
  TopSink sink(options);
  // top aggregates; the order across agents does not matter, so nothing waits for a window.
  Capture capture(absl::ZeroDuration(), asked);
  capture.failed_starts = asked - agents->size();
  for (auto& agent : *agents) {
    capture.tried.insert(agent->address());
    capture.Add(std::move(agent), -1);
  }
  return Stream(capture, sink, options.duration, OnInterrupt::kStopSessions, &request);
}

void Ctl::JoinNewAgents(Capture& capture, const v1::StartCaptureRequest& request) {
  absl::StatusOr<std::vector<AgentSpec>> specs = directory_.Resolve();
  if (!specs.ok()) {
    Say(absl::StrCat("httptracectl: ", specs.status().message(), " (keeping the agents known)"));
    return;
  }
  for (AgentSpec& spec : *specs) {
    if (capture.tried.count(spec.address) > 0) continue;
    capture.tried.insert(spec.address);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = directory_.Dial(spec);
    if (!channel.ok()) continue;
    auto agent = std::make_unique<Agent>();
    agent->spec = std::move(spec);
    agent->channel = *channel;
    agent->stub = v1::HttpTrace::NewStub(agent->channel);
    ++capture.agents_total;
    if (!StartOne(request, *agent)) {
      Say(absl::StrCat("httptracectl: agent ", agent->Label(), " joined: ", agent->error));
      ++capture.failed_starts;
      continue;
    }
    const std::string line =
        absl::StrCat("started session ", agent->session, " on ", agent->Label(), " (joined)");
    const std::string session = agent->session;
    if (!capture.Add(std::move(agent), -1)) {
      // The capture ended meanwhile: the session just started must not be left running.
      v1::StopCaptureRequest stop;
      stop.set_session_id(session);
      v1::StopCaptureResponse response;
      grpc::ClientContext context;
      SetDeadline(context, options_.timeout);
      (void)v1::HttpTrace::NewStub(*channel)->StopCapture(&context, stop, &response);
      return;
    }
    Say(line);
  }
}

int Ctl::Stream(Capture& capture, Sink& sink, absl::Duration duration, OnInterrupt on_interrupt,
                const v1::StartCaptureRequest* request) {
  std::atomic<bool> interrupted{false};
  absl::Notification all_done;
  const bool live_status = sink.live_status();
  std::thread watcher([&] {
    const absl::Time deadline =
        duration > absl::ZeroDuration() ? absl::Now() + duration : absl::InfiniteFuture();
    absl::Time next_refresh = absl::Now() + options_.dns_refresh;
    auto tick = [&] {
      if (live_status) {
        std::fprintf(stderr, "\r\033[K%llu exchange(s), %llu lost",
                     static_cast<unsigned long long>(capture.exchanges.load()),
                     static_cast<unsigned long long>(capture.lost.load()));
      }
      if (request != nullptr && directory_.has_dns_names() && absl::Now() >= next_refresh) {
        JoinNewAgents(capture, *request);
        next_refresh = absl::Now() + options_.dns_refresh;
      }
    };
    if (!WaitForInterrupt(deadline, all_done, tick)) return;
    interrupted = true;
    if (live_status) std::fputs("\r\033[K", stderr);
    if (on_interrupt == OnInterrupt::kDetach) {
      capture.CancelAll();
      return;
    }
    // Stop every session still streaming; each stream then drains up to its SessionEnd. A
    // second interrupt or the drain timeout gives up waiting.
    std::vector<Agent*> agents = capture.Snapshot();
    ForEachAtOnce(agents.size(), [&](size_t i) {
      Agent& agent = *agents[i];
      {
        absl::MutexLock lock(&capture.mu);
        if (agent.finished) return;
      }
      v1::StopCaptureRequest stop;
      stop.set_session_id(agent.session);
      v1::StopCaptureResponse response;
      grpc::ClientContext context;
      SetDeadline(context, options_.timeout);
      if (grpc::Status s = agent.stub->StopCapture(&context, stop, &response); !s.ok()) {
        Say(absl::StrCat("httptracectl: agent ", agent.Label(), ": cannot stop session ",
                         agent.session, ": ", DescribeAgentError(s, agent.address())));
        agent.stream->Cancel();
      }
    });
    if (WaitForInterrupt(absl::Now() + options_.drain_timeout, all_done, [] {})) {
      Say("httptracectl: gave up waiting for the sessions' last events");
      capture.CancelAll();
    }
  });

  // The output loop: whatever the merger releases goes to the sink in one batch.
  absl::Status write_status;
  std::vector<EventMerger::Item> ready;
  std::vector<Agent*> sources;
  while (true) {
    ready.clear();
    sources.clear();
    bool done = false;
    {
      absl::MutexLock lock(&capture.mu);
      while (true) {
        done = capture.finished == capture.agents.size();
        if (done) {
          capture.merger.PopAll(&ready);
          capture.closing = true;
          break;
        }
        capture.merger.PopReady(absl::Now(), &ready);
        if (!ready.empty()) break;
        const absl::Time wake =
            std::min({capture.merger.NextDeadline(), absl::Now() + kMaxWait, sink.NextTick()});
        if (capture.cv.WaitWithDeadline(&capture.mu, wake)) break;  // timed out: tick
      }
      for (const EventMerger::Item& item : ready) {
        sources.push_back(capture.agents[item.source].get());
      }
    }
    if (!ready.empty()) write_status = sink.Write(ready, sources);
    sink.Tick(absl::Now());
    // Else the last exchanges before a quiet spell sit in a buffer that cannot be written, and
    // the ctl waits forever without saying so (found by test/stress: one exchange to /dev/full).
    if (write_status.ok()) write_status = sink.Health();
    if (done || !write_status.ok()) break;
  }
  if (!write_status.ok()) {
    {
      absl::MutexLock lock(&capture.mu);
      capture.closing = true;
    }
    capture.CancelAll();
  }
  for (Agent* agent : capture.Snapshot()) agent->reader.join();
  all_done.Notify();
  watcher.join();
  if (live_status) std::fputs("\r\033[K", stderr);
  // Closing the output (HAR's end of document) happens however the capture ended.
  const absl::Status finish_status = sink.Finish();
  if (write_status.ok()) write_status = finish_status;

  std::vector<Agent*> agents = capture.Snapshot();
  if (!write_status.ok()) {
    Say(absl::StrCat("httptracectl: ", write_status.message(), "; the session(s) keep running"));
    for (Agent* agent : agents) {
      Say(absl::StrCat("  resume with: httptracectl --agent ", agent->address(), " attach ",
                       agent->session, " --from-seq ", sink.ResumeSeq(*agent), " -o FILE"));
    }
    return kExitFailure;
  }
  bool any_failed = capture.failed_starts > 0;
  for (Agent* agent : agents) {
    if (!agent->has_end) {
      if (interrupted && on_interrupt == OnInterrupt::kDetach) {
        Say(absl::StrCat("detached from session ", agent->session,
                         "; resume with: httptracectl --agent ", agent->address(), " attach ",
                         agent->session, " --from-seq ", sink.ResumeSeq(*agent)));
      } else {
        any_failed = true;  // reported when its stream broke
      }
      continue;
    }
    const v1::SessionEnd& end = agent->end;
    // The agent counts records; a reader of the trace counts exchanges shown.
    const std::string pairs =
        agent->pairs == 0
            ? ""
            : absl::StrCat(" (", agent->pairs, " seen from both ends, each shown once)");
    Say(absl::StrCat("session ", agent->session, " on ", agent->NodeOrAddress(), " ended (",
                     render::EndReasonName(end.reason()), "): ", end.counters().exchanges(),
                     " exchange(s)", pairs, ", ", render::LostSummary(end.counters()),
                     end.detail().empty() ? "" : absl::StrCat(" — ", end.detail())));
    for (const std::string& note : end.notes()) Say(absl::StrCat("  note: ", note));
    if (end.reason() == v1::END_REASON_AGENT_SHUTDOWN || end.reason() == v1::END_REASON_ERROR) {
      Say(absl::StrCat("httptracectl: agent ", agent->Label(),
                       " ended the session: ", end.detail()));
      any_failed = true;
    }
  }
  return any_failed ? kExitFailure : kExitOk;
}

int Ctl::Stop(const std::string& session_id) {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  v1::StopCaptureRequest request;
  request.set_session_id(session_id);
  std::vector<grpc::Status> results;
  std::vector<v1::StopCaptureResponse> responses;
  AskEvery(
      *agents, options_.timeout,
      [&](v1::HttpTrace::StubInterface& stub, grpc::ClientContext* context,
          v1::StopCaptureResponse* response) {
        return stub.StopCapture(context, request, response);
      },
      &results, &responses);
  bool any_failed = false;
  int stopped = 0;
  std::string not_found;
  for (size_t i = 0; i < agents->size(); ++i) {
    const Agent& agent = *(*agents)[i];
    if (results[i].error_code() == grpc::StatusCode::NOT_FOUND) {  // session ids are per agent
      not_found = results[i].error_message();
      continue;
    }
    if (!results[i].ok()) {
      Say(absl::StrCat("httptracectl: agent ", agent.Label(), ": cannot stop session ", session_id,
                       ": ", DescribeAgentError(results[i], agent.address())));
      any_failed = true;
      continue;
    }
    ++stopped;
    const v1::SessionInfo& info = responses[i].session();
    Say(absl::StrCat("session ", session_id, " on ", agent.address(), " ended (",
                     render::EndReasonName(info.end_reason()), "): ", info.counters().exchanges(),
                     " exchange(s), ", render::LostSummary(info.counters())));
  }
  if (stopped == 0 && !any_failed) {
    Say(absl::StrCat("httptracectl: no session ", session_id, " on ",
                     agents->size() == 1 ? "the agent" : "any agent", " (", not_found, ")"));
    return kExitFailure;
  }
  return any_failed ? kExitFailure : kExitOk;
}

int Ctl::List() {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  std::vector<grpc::Status> results, status_results;
  std::vector<v1::ListSessionsResponse> responses;
  std::vector<v1::GetStatusResponse> statuses;
  AskEvery(
      *agents, options_.timeout,
      [](v1::HttpTrace::StubInterface& stub, grpc::ClientContext* context,
         v1::ListSessionsResponse* response) { return stub.ListSessions(context, {}, response); },
      &results, &responses);
  // The node names, for the table's first column.
  AskEvery(*agents, options_.timeout, GetStatus, &status_results, &statuses);
  for (size_t i = 0; i < agents->size(); ++i) {
    if (status_results[i].ok()) (*agents)[i]->node = statuses[i].node();
  }
  int rc = kExitOk;
  std::printf("%-16s %-10s %-7s %-20s %10s %8s %7s  %s\n", "NODE", "SESSION", "STATE", "STARTED",
              "EXCHANGES", "LOST", "READERS", "FILTER");
  for (size_t i = 0; i < agents->size(); ++i) {
    const Agent& agent = *(*agents)[i];
    if (!results[i].ok()) {
      Say(absl::StrCat("httptracectl: agent ", agent.Label(), ": cannot list sessions: ",
                       DescribeAgentError(results[i], agent.address())));
      rc = kExitFailure;
      continue;
    }
    for (const v1::SessionInfo& s : responses[i].sessions()) {
      std::printf("%-16s %-10s %-7s %-20s %10llu %8llu %7u  %s\n", agent.NodeOrAddress().c_str(),
                  s.id().c_str(), s.state() == v1::SESSION_STATE_ACTIVE ? "active" : "ended",
                  LocalTime(s.started_at()).c_str(),
                  static_cast<unsigned long long>(s.counters().exchanges()),
                  static_cast<unsigned long long>(s.counters().exchanges_lost()), s.readers(),
                  FilterSummary(s.filter()).c_str());
      for (const std::string& note : s.notes()) std::printf("    note: %s\n", note.c_str());
      if (s.has_export_status()) std::printf("    %s\n", ExportSummary(s.export_status()).c_str());
    }
  }
  return rc;
}

int Ctl::Status(const StatusOptions& options) {
  auto agents = Connect();
  if (!agents.ok()) return ConnectFailure(agents.status());
  // Two answers a moment apart: the rate now, and whether losses are growing now.
  std::vector<grpc::Status> first_results, results;
  std::vector<v1::GetStatusResponse> first, responses;
  AskEvery(*agents, options_.timeout, GetStatus, &first_results, &first);
  const absl::Time first_at = absl::Now();
  absl::SleepFor(options.sample);
  AskEvery(
      *agents, options_.timeout,
      [&](v1::HttpTrace::StubInterface& stub, grpc::ClientContext* context,
          v1::GetStatusResponse* response) {
        v1::GetStatusRequest request;
        request.set_include_audit(options.audit);
        return stub.GetStatus(context, request, response);
      },
      &results, &responses);
  const absl::Duration between = absl::Now() - first_at;
  int rc = kExitOk;
  bool first_agent = true;
  std::string json = "{\"agents\":[";
  for (size_t i = 0; i < agents->size(); ++i) {
    const Agent& agent = *(*agents)[i];
    if (!results[i].ok()) {
      Say(absl::StrCat("httptracectl: agent ", agent.address(), ": cannot get the agent's status: ",
                       DescribeAgentError(results[i], agent.address())));
      rc = kExitFailure;
      continue;
    }
    const v1::GetStatusResponse& response = responses[i];
    const Health health = Assess(response, first_results[i].ok() ? &first[i] : nullptr, between);
    if (health.state == Health::State::kUnhealthy) rc = kExitFailure;
    if (options.format == "json") {
      std::string status_json;
      google::protobuf::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(response, &status_json, print);
      if (!first_agent) json.push_back(',');
      absl::StrAppend(
          &json, "{\"address\":\"", absl::CHexEscape(agent.address()), "\",\"health\":\"",
          health.word, "\",\"why\":\"", absl::CHexEscape(health.why),
          "\",\"exchanges_per_second\":", absl::StrFormat("%.3f", health.exchanges_per_second),
          ",\"lost_since_start\":", health.lost_since_start, ",\"status\":", status_json, "}");
      first_agent = false;
      continue;
    }
    if (!first_agent) std::printf("\n");
    first_agent = false;
    std::printf("%s (%s): %s%s\n", response.node().c_str(), agent.address().c_str(),
                health.word.c_str(), health.why.empty() ? "" : (": " + health.why).c_str());
    for (const std::string& line : health.lines) std::printf("  %s\n", line.c_str());
    std::printf(
        "details:\n  agent version %s on node %s, up since %s; kernel %s, BTF %s, "
        "tracefs %s\n",
        response.version().c_str(), response.node().c_str(),
        LocalTime(response.started_at()).c_str(), response.kernel().release().c_str(),
        response.kernel().btf() ? "yes" : "no",
        response.kernel().tracefs().empty() ? "not mounted" : response.kernel().tracefs().c_str());
    const v1::ProbeStatus& probes = response.probes();
    if (!probes.detail().empty()) std::printf("  probes: %s\n", probes.detail().c_str());
    for (const v1::SessionInfo& s : response.sessions()) {
      std::printf("  session %s %s: %llu exchange(s), %llu lost, filter %s\n", s.id().c_str(),
                  s.state() == v1::SESSION_STATE_ACTIVE ? "active" : "ended",
                  static_cast<unsigned long long>(s.counters().exchanges()),
                  static_cast<unsigned long long>(s.counters().exchanges_lost()),
                  FilterSummary(s.filter()).c_str());
      if (s.has_export_status()) std::printf("    %s\n", ExportSummary(s.export_status()).c_str());
    }
    if (!response.policy().empty()) std::printf("  access policy: %s\n", response.policy().c_str());
    if (options.audit) {
      std::printf("audit:\n");
      for (const std::string& line : AuditLines(response, absl::LocalTimeZone())) {
        std::printf("  %s\n", line.c_str());
      }
    }
    if (!options.counters) {
      std::printf("  (httptracectl status --counters: TLS libraries and every counter)\n");
      continue;
    }
    // The agent lists the TLS libraries it probes (or could not) after its programs.
    for (const std::string& p : probes.programs()) {
      if (absl::StartsWith(p, "tls ")) std::printf("  %s\n", p.c_str());
    }
    std::vector<std::pair<std::string, uint64_t>> counters(response.counters().begin(),
                                                           response.counters().end());
    std::sort(counters.begin(), counters.end());
    std::printf("counters:\n");
    for (const auto& [name, value] : counters) {
      std::printf("  %-44s %llu\n", name.c_str(), static_cast<unsigned long long>(value));
    }
  }
  if (options.format == "json") std::printf("%s]}\n", json.c_str());
  return rc;
}

}  // namespace httptrace::cli
