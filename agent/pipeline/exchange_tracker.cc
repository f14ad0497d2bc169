#include "agent/pipeline/exchange_tracker.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/pipeline/exchange_converter.h"
#include "agent/session/event.h"
#include "common/log.h"

namespace httptrace::pipeline {

// What the tracker hangs on a conntrack entry: the protocol engine and what exchanges say about
// the connection and its process.
struct ExchangeTracker::ConnectionState final : conntrack::ConnectionAttachment {
  ConnectionContext context;
  // The container as first looked up; its name may become known later (the engine is asked in
  // the background), so exchanges published before that are completed then.
  std::optional<container::ContainerInfo> container;
  // Made on the connection's first data (Engine()); null until then.
  std::unique_ptr<protocols::ProtocolEngine> engine;
  capture::Role role = capture::Role::kUnknown;
  // The engine's loss counters as last turned into losses.
  protocols::LossCounters accounted;
  // Bytes this connection lost in the kernel or the queue: the gaps they leave are theirs.
  uint64_t explained_gap_bytes = 0;
  // What the engine holds, as charged to the memory budget.
  uint64_t charged = 0;
  // HTTP message starts lost per direction (kernel and queue losses), and the exchanges reported
  // lost for them so far: a request and its response lost are one exchange, also when their
  // losses are reported apart.
  uint64_t lost_starts[2] = {};
  uint64_t lost_exchanges_reported = 0;
};

namespace {

protocols::Direction ToEngine(capture::Direction d) {
  return d == capture::Direction::kEgress ? protocols::Direction::kEgress
                                          : protocols::Direction::kIngress;
}

protocols::RoleHint ToHint(capture::Role role) {
  switch (role) {
    case capture::Role::kClient:
      return protocols::RoleHint::kClient;
    case capture::Role::kServer:
      return protocols::RoleHint::kServer;
    default:
      return protocols::RoleHint::kUnknown;
  }
}

constexpr uint64_t kHousekeepingPeriodNs = 1'000'000'000;

v1::Container ToProtoContainer(const container::ContainerInfo& info) {
  v1::Container out;
  out.set_id(info.id);
  out.set_name(info.name);
  out.set_runtime(info.runtime);
  out.set_pod_namespace(info.pod_namespace);
  out.set_pod_name(info.pod_name);
  out.set_pod_uid(info.pod_uid);
  return out;
}

uint64_t NowNs() { return static_cast<uint64_t>(absl::GetCurrentTimeNanos()); }

// The engine counters that mean a loss, compared after every engine call (a few loads).
bool LossCountersChanged(const protocols::LossCounters& now,
                         const protocols::LossCounters& before) {
  return now.messages_dropped_gap != before.messages_dropped_gap ||
         now.parse_errors != before.parse_errors ||
         now.buffer_overflow_bytes != before.buffer_overflow_bytes;
}

}  // namespace

ExchangeTracker::ExchangeTracker(const ExchangeTrackerOptions& options, const NodeInfo& node,
                                 container::ContainerResolver* containers, cri::PodFilter* pods,
                                 session::MemoryBudget* budget)
    : options_(options),
      node_(node),
      containers_(containers),
      pods_(pods),
      budget_(budget),
      connections_(
          {.max_connections = options.max_connections, .idle_timeout = options.idle_timeout},
          [this](conntrack::Connection& c, conntrack::EndReason why) { OnConnectionEnd(c, why); }) {
  if (const char* drop = std::getenv("HTTPTRACE_TEST_DROP_EXCHANGE"); drop != nullptr) {
    drop_exchange_for_testing_ = std::strtoull(drop, nullptr, 10);
    HT_LOG(WARNING) << "HTTPTRACE_TEST_DROP_EXCHANGE=" << drop << ": exchange number "
                    << drop_exchange_for_testing_
                    << " will be dropped uncounted (the conservation test's fault)";
  }
}

ExchangeTracker::~ExchangeTracker() { ForgetConnections(); }

ExchangeTracker::ConnectionState* ExchangeTracker::Attach(conntrack::Connection& connection) {
  if (connection.attachment != nullptr) {
    return static_cast<ConnectionState*>(connection.attachment.get());
  }
  auto state = std::make_unique<ConnectionState>();
  ConnectionContext& context = state->context;
  context.connection_id = next_connection_id_++;
  context.pid = connection.pid;
  context.comm = connection.comm;
  context.tls_library = std::string(capture::TlsLibraryName(connection.tls));
  context.node = node_.node;
  state->role = connection.role;
  if (containers_ != nullptr) {
    // By the mount namespace the probes read at the syscall: the process may have exited
    // already (a child forked for this one connection). Reads /proc only for a namespace not
    // seen before; never waits for an engine.
    state->container = containers_->Lookup(connection.pid, connection.mount_namespace);
    if (state->container) context.container = ToProtoContainer(*state->container);
  }
  if (connection.local.family != 0) {
    context.local_address = connection.local.AddressString();
    context.local_port = connection.local.port;
    context.remote_address = connection.remote.AddressString();
    context.remote_port = connection.remote.port;
  }
  ConnectionState* raw = state.get();
  connection.attachment = std::move(state);
  return raw;
}

protocols::ProtocolEngine& ExchangeTracker::Engine(ConnectionState& state,
                                                   const capture::DataEvent& event) {
  if (state.engine == nullptr) {
    // The engine calls back synchronously from OnData/OnClose, on this thread.
    state.engine = protocols::MakeEngine(event.protocol, options_.engine, ToHint(state.role),
                                         [this, &state](protocols::Exchange&& exchange) {
                                           PublishExchange(state, std::move(exchange));
                                         });
  }
  return *state.engine;
}

void ExchangeTracker::PublishExchange(ConnectionState& state, protocols::Exchange&& exchange) {
  if (forgetting_) {
    // From a capture whose sessions have all ended: no session asked for it.
    ++counters_.exchanges_after_capture;
    return;
  }
  if (drop_exchange_for_testing_ > 0 && --drop_exchange_for_testing_ == 0) {
    // HTTPTRACE_TEST_DROP_EXCHANGE: the conservation test proves it notices one exchange gone.
    return;
  }
  ++counters_.exchanges_published;
  if (state.container && state.container->name.empty() &&
      containers_->FillKnownNames(*state.container)) {
    state.context.container = ToProtoContainer(*state.container);
  }
  // A container started in a pod moments ago: its runtime has not been asked yet, but its pod
  // is known from the pod filter's listing, so --namespace/--pod match at once.
  if (state.container && state.container->pod_namespace.empty() &&
      !state.container->pod_uid.empty() && pods_ != nullptr) {
    if (std::optional<cri::PodMetadata> pod = pods_->MatchedPod(state.container->pod_uid)) {
      state.container->pod_name = pod->pod_name;
      state.container->pod_namespace = pod->pod_namespace;
      state.context.container = ToProtoContainer(*state.container);
    }
  }
  if (sessions_ == nullptr) return;
  // No session keeps more than this of a body: cut it now rather than copy it per session.
  const uint32_t body_limit = sessions_->body_limit_wanted();
  for (protocols::Body* body : {&exchange.request.body, &exchange.response.body}) {
    if (body->data.size() > body_limit) {
      body->data.resize(body_limit);
      body->data.shrink_to_fit();  // held in session queues: its room, not only its size
      body->truncated = true;
    }
  }
  if (exchange.grpc) {
    for (protocols::GrpcMessages* messages : {&exchange.grpc->request, &exchange.grpc->response}) {
      uint64_t left = body_limit;
      for (protocols::GrpcMessage& message : messages->messages) {
        if (message.data.size() > left) {
          message.data.resize(left);
          message.data.shrink_to_fit();
        }
        left -= message.data.size();
      }
    }
  }
  // Built on the publish arena, reset once the sessions have serialized what they keep
  // (event.h): its first block is reused, so a small exchange costs no block allocation.
  v1::Event* event = google::protobuf::Arena::CreateMessage<v1::Event>(&publish_arena_);
  ToProtoExchange(std::move(exchange), state.context, event->mutable_exchange());
  sessions_->PublishExchange(*event);
  publish_arena_.Reset();
}

void ExchangeTracker::OnConnectionEnd(conntrack::Connection& connection,
                                      conntrack::EndReason reason) {
  if (connection.attachment == nullptr) return;
  ConnectionState* state = static_cast<ConnectionState*>(connection.attachment.get());
  // Flushes what is pending: close-delimited bodies complete, unanswered requests get a note.
  // (No engine: the connection had no data, so nothing is pending or held.)
  if (state->engine != nullptr) {
    state->engine->OnClose(connection.last_seen_ns);
    CheckConservation(connection, *state);
  }
  // The state goes with the connection: what it held is released.
  if (budget_ != nullptr) budget_->Release(state->charged);
  engine_held_bytes_ -= state->charged;
  state->charged = 0;
  if (!forgetting_) {
    AccountEngineLosses(connection.key, *state);
    if (reason == conntrack::EndReason::kEvicted) {
      PendingLoss& pending =
          pending_losses_[{connection.key, v1::LOSS_REASON_CONNECTION_TABLE_FULL}];
      if (!pending.described) Describe(connection, pending);
      ++pending.events;
    }
  }
  if (state->engine != nullptr) closed_engine_counters_.Add(*state->engine);
  HT_LOG(DEBUG) << "connection " << connection.key.ToString()
                << " ended: " << conntrack::EndReasonName(reason);
}

void ExchangeTracker::CheckConservation(const conntrack::Connection& connection,
                                        ConnectionState& state) {
  // Every exchange the engine began (a message start it saw, a placeholder for one lost) must
  // have been emitted by its close. One that was not would vanish: it is a loss, counted and
  // named, and a defect to fix.
  const std::optional<protocols::ExchangeBalance> balance = state.engine->balance();
  if (!balance.has_value() || (balance->balanced() && balance->held == 0)) return;
  const uint64_t missing =
      balance->started > balance->emitted ? balance->started - balance->emitted : 0;
  ++counters_.conservation_violations;
  HT_LOG(WARNING) << "conservation: connection " << connection.key.ToString() << " (pid "
                  << state.context.pid << " " << state.context.comm << ", "
                  << state.context.local_address << ":" << state.context.local_port << " - "
                  << state.context.remote_address << ":" << state.context.remote_port
                  << "): its engine began " << balance->started << " exchange(s), emitted "
                  << balance->emitted << ", holds " << balance->held;
  if (missing == 0 || forgetting_) return;
  PendingLoss& pending = Pending(connection.key, v1::LOSS_REASON_UNACCOUNTED);
  ++pending.events;
  pending.exchanges += missing;
}

void ExchangeTracker::Recharge(ConnectionState& state) {
  if (state.engine == nullptr) return;
  const uint64_t held = state.engine->HeldBytes();
  if (held == state.charged) return;
  if (budget_ != nullptr) {
    if (held > state.charged) {
      budget_->ForceCharge(held - state.charged);
    } else {
      budget_->Release(state.charged - held);
    }
  }
  engine_held_bytes_ += held;
  engine_held_bytes_ -= state.charged;
  state.charged = held;
}

void ExchangeTracker::AccountEngineLosses(const capture::ConnectionKey& key,
                                          ConnectionState& state) {
  if (state.engine == nullptr) return;
  const protocols::LossCounters now = state.engine->losses();
  protocols::LossCounters& before = state.accounted;
  if (!LossCountersChanged(now, before)) return;
  if (now.messages_dropped_gap != before.messages_dropped_gap) {
    // Gaps a kernel or queue loss explains are reported as that loss (with its exchanges).
    const uint64_t gap_bytes = now.gap_bytes - before.gap_bytes;
    const uint64_t explained = std::min(gap_bytes, state.explained_gap_bytes);
    state.explained_gap_bytes -= explained;
    if (gap_bytes > explained) {
      PendingLoss& pending = Pending(key, v1::LOSS_REASON_STREAM_GAP);
      ++pending.events;
      pending.bytes += gap_bytes - explained;
      pending.messages_cut += now.messages_dropped_gap - before.messages_dropped_gap;
    }
  }
  if (now.parse_errors != before.parse_errors) {
    PendingLoss& pending = Pending(key, v1::LOSS_REASON_PARSE_ERROR);
    pending.events += now.parse_errors - before.parse_errors;
    pending.messages_cut += now.messages_dropped_parse_error - before.messages_dropped_parse_error;
  }
  if (now.buffer_overflow_bytes != before.buffer_overflow_bytes) {
    PendingLoss& pending = Pending(key, v1::LOSS_REASON_LIMIT);
    ++pending.events;
    pending.bytes += now.buffer_overflow_bytes - before.buffer_overflow_bytes;
  }
  before = now;
}

void ExchangeTracker::OnOpen(const capture::ConnectionOpenEvent& event) {
  conntrack::Connection& connection = connections_.OnOpen(event);
  Attach(connection)->context.tid = event.tid;
  Housekeeping(event.timestamp_ns);
}

void ExchangeTracker::OnData(const capture::DataEvent& event) {
  conntrack::DataResult result = connections_.OnData(event);
  ConnectionState* state = Attach(*result.conn);
  if (state->context.tid == 0) state->context.tid = event.tid;
  if (event.tls != capture::TlsLibrary::kNone && state->context.tls_library.empty()) {
    state->context.tls_library = std::string(capture::TlsLibraryName(event.tls));
  }
  if (state->context.pid != result.conn->pid) {
    // The socket moved to another process (inetd-style servers hand it to a child on fds 0
    // and 1): its exchanges name the process that carries them.
    state->context.pid = result.conn->pid;
    state->context.comm = result.conn->comm;
    state->context.tid = event.tid;
    if (containers_ != nullptr) {
      state->container = containers_->Lookup(state->context.pid, result.conn->mount_namespace);
      state->context.container.reset();
      if (state->container) state->context.container = ToProtoContainer(*state->container);
    }
  }
  // The engine does its own gap accounting from the positions (it knows whether a gap falls
  // inside a body of known length and can keep framing). A tail the probes did not copy (the
  // sessions' per-message limit, a capture limit) truncates; an unreadable one is lost.
  const bool not_copied =
      !event.size_only && !event.read_failed && event.length > event.data.size();
  Engine(*state, event)
      .OnData(ToEngine(event.direction), event.position, event.data, event.length,
              event.timestamp_ns, event.size_only, not_copied);
  Recharge(*state);
  AccountEngineLosses(event.conn, *state);
  Housekeeping(event.timestamp_ns);
}

void ExchangeTracker::OnShutdown(const capture::ConnectionShutdownEvent& event) {
  conntrack::Connection* connection = connections_.OnShutdown(event);
  if (connection != nullptr && connection->attachment != nullptr) {
    // A direction ended: when it carried responses (a server's egress, a client's ingress) the
    // close-delimited response is complete and unanswered requests are final now, not at an
    // idle timeout.
    ConnectionState* state = static_cast<ConnectionState*>(connection->attachment.get());
    if (state->engine != nullptr) {
      state->engine->OnEndOfStream(ToEngine(event.direction), event.timestamp_ns);
    }
    Recharge(*state);
    AccountEngineLosses(event.conn, *state);
  }
  Housekeeping(event.timestamp_ns);
}

void ExchangeTracker::OnClose(const capture::ConnectionCloseEvent& event) {
  connections_.OnClose(event);
  Housekeeping(event.timestamp_ns);
}

void ExchangeTracker::OnKernelLoss(const capture::KernelLossEvent& event) {
  connections_.OnKernelLoss(event);
  const bool in_queue = event.cause == capture::LossCause::kAgentQueueFull;
  if (in_queue) {
    ++counters_.queue_loss_events;
    counters_.queue_loss_bytes += event.bytes;
  } else {
    ++counters_.kernel_loss_events;
    counters_.kernel_loss_bytes += event.bytes;
  }
  if (conntrack::Connection* connection = connections_.Find(event.conn);
      connection != nullptr && connection->attachment != nullptr) {
    static_cast<ConnectionState*>(connection->attachment.get())->explained_gap_bytes += event.bytes;
  }
  PendingLoss& pending =
      Pending(event.conn, in_queue ? v1::LOSS_REASON_LIMIT : v1::LOSS_REASON_KERNEL_BUFFER_FULL);
  ++pending.events;
  pending.bytes += event.bytes;
  pending.from_queue |= in_queue;
  if (conntrack::Connection* connection = connections_.Find(event.conn);
      connection != nullptr && connection->attachment != nullptr) {
    ConnectionState& state = *static_cast<ConnectionState*>(connection->attachment.get());
    state.lost_starts[static_cast<int>(event.direction)] += event.message_starts;
    const uint64_t lost = std::max(state.lost_starts[0], state.lost_starts[1]);
    pending.exchanges += lost - state.lost_exchanges_reported;
    state.lost_exchanges_reported = lost;
  } else {
    pending.message_starts[static_cast<int>(event.direction)] += event.message_starts;
  }
  PublishPendingLosses(event.timestamp_ns);
}

void ExchangeTracker::OnNotTraced(const capture::ConnectionOpenEvent& event) {
  ++counters_.connections_not_traced;
  if (sessions_ == nullptr) return;
  // The scope sessions filter on, as for a loss (Describe).
  v1::Exchange scope;
  scope.mutable_process()->set_pid(event.pid);
  scope.mutable_process()->set_comm(std::string(event.comm));
  if (containers_ != nullptr) {
    if (std::optional<container::ContainerInfo> info = containers_->Lookup(event.pid)) {
      *scope.mutable_process()->mutable_container() = ToProtoContainer(*info);
    }
  }
  scope.mutable_connection()->mutable_local()->set_port(event.local.port);
  scope.mutable_connection()->mutable_remote()->set_port(event.remote.port);
  scope.mutable_connection()->set_role(event.role == capture::Role::kClient ? v1::ROLE_CLIENT
                                       : event.role == capture::Role::kServer
                                           ? v1::ROLE_SERVER
                                           : v1::ROLE_UNSPECIFIED);
  // Named by the service's port: the local one of a server, the remote one of a client (and of
  // a connection found mid-stream, whose role is unknown).
  const uint16_t port = event.role == capture::Role::kServer ? event.local.port : event.remote.port;
  sessions_->PublishNotTraced(scope, port);
}

void ExchangeTracker::OnFlush() {
  // A loss just before a stop must reach the session before its end (and so its summary).
  PublishPendingLosses(NowNs(), /*now_or_never=*/true);
  SnapshotCounters();
}

ExchangeTracker::PendingLoss& ExchangeTracker::Pending(const capture::ConnectionKey& key,
                                                       v1::LossReason reason) {
  PendingLoss& pending = pending_losses_[{key, reason}];
  if (!pending.described) {
    if (const conntrack::Connection* connection = connections_.Find(key);
        connection != nullptr && connection->attachment != nullptr) {
      Describe(*connection, pending);
    }
  }
  return pending;
}

void ExchangeTracker::Describe(const conntrack::Connection& connection,
                               PendingLoss& pending) const {
  const ConnectionState& state = *static_cast<const ConnectionState*>(connection.attachment.get());
  const ConnectionContext& context = state.context;
  pending.described = true;
  // The scope: what is known of the connection, so sessions that cannot match it are spared.
  v1::Exchange& scope = pending.scope;
  scope.mutable_process()->set_pid(context.pid);
  scope.mutable_process()->set_comm(context.comm);
  if (context.container) *scope.mutable_process()->mutable_container() = *context.container;
  scope.mutable_connection()->mutable_local()->set_port(context.local_port);
  scope.mutable_connection()->mutable_remote()->set_port(context.remote_port);
  scope.mutable_connection()->set_role(connection.role == capture::Role::kClient ? v1::ROLE_CLIENT
                                       : connection.role == capture::Role::kServer
                                           ? v1::ROLE_SERVER
                                           : v1::ROLE_UNSPECIFIED);
  pending.where =
      absl::StrCat("pid ", context.pid, " (", context.comm, ") ", context.local_address, ":",
                   context.local_port, " - ", context.remote_address, ":", context.remote_port);
}

v1::Loss ExchangeTracker::MakeLoss(const LossKey& key, PendingLoss& pending) {
  const auto& [conn, reason] = key;
  if (!pending.described) {
    if (const conntrack::Connection* connection = connections_.Find(conn);
        connection != nullptr && connection->attachment != nullptr) {
      Describe(*connection, pending);
    }
  }
  const std::string where =
      pending.described ? pending.where : absl::StrCat("connection ", conn.ToString());
  // Exchanges lost or left incomplete, from the messages whose starts were dropped: a request
  // lost is an exchange lost (or shown without its request), a response lost an exchange shown
  // without it; a request and its response lost together are one: the larger count.
  const uint64_t exchanges =
      pending.exchanges + std::max(pending.message_starts[0], pending.message_starts[1]);
  v1::Loss loss;
  loss.set_reason(reason);
  loss.set_bytes(pending.bytes);
  switch (reason) {
    case v1::LOSS_REASON_KERNEL_BUFFER_FULL:
      loss.set_exchanges(exchanges);
      loss.set_detail(absl::StrCat(
          pending.bytes, " byte(s) in ", pending.events, " kernel event(s) of ", where,
          " dropped: the ring buffer was full; ", exchanges,
          " exchange(s) lost or left incomplete (counted from the HTTP messages the dropped "
          "syscalls began). "
          "Affected exchanges carry notes; narrow the capture (--pid, --port) or raise "
          "--ring-buffer-mb"));
      break;
    case v1::LOSS_REASON_LIMIT:
      if (pending.from_queue) {
        loss.set_exchanges(exchanges);
        loss.set_detail(absl::StrCat(
            pending.bytes, " byte(s) of ", where,
            " dropped before parsing: the agent's memory budget or its queue was full; ", exchanges,
            " exchange(s) lost (counted from the HTTP message starts in the dropped data). "
            "Raise --memory-budget-mb or narrow the capture"));
      } else {
        loss.set_detail(absl::StrCat(
            pending.bytes, " byte(s) of ", where,
            " dropped: the connection's buffer limit was reached (a message too large to "
            "reassemble); affected exchanges carry notes"));
      }
      break;
    case v1::LOSS_REASON_STREAM_GAP:
      loss.set_detail(absl::StrCat(
          pending.bytes, " byte(s) missing from the streams of ", where, " cut ",
          pending.messages_cut,
          " message(s) (a capture limit or memory the probes could not read, not a full ring "
          "buffer); their exchanges carry notes"));
      break;
    case v1::LOSS_REASON_PARSE_ERROR:
      loss.set_detail(absl::StrCat(pending.events, " parse error(s) on ", where, ": ",
                                   pending.messages_cut,
                                   " message(s) cut (their exchanges carry notes); the bytes "
                                   "up to the next message start were skipped"));
      break;
    case v1::LOSS_REASON_UNACCOUNTED:
      loss.set_exchanges(exchanges);
      loss.set_detail(absl::StrCat(
          exchanges, " exchange(s) of ", where,
          " were begun by the protocol engine and never emitted: a defect of the agent, "
          "counted here instead of vanishing (pipeline.conservation_violations)"));
      break;
    case v1::LOSS_REASON_CONNECTION_TABLE_FULL:
      loss.set_detail(absl::StrCat(
          where, " was ended to make room: the connection table (", options_.max_connections,
          ") was full. Its pending exchanges were emitted with notes; later bytes on it start a "
          "new connection. Raise --max-connections or narrow the capture"));
      break;
    default:
      break;
  }
  return loss;
}

void ExchangeTracker::PublishPendingLosses(uint64_t now_ns, bool now_or_never) {
  if (pending_losses_.empty() || sessions_ == nullptr) return;
  if (!now_or_never &&
      now_ns - last_loss_report_ns_ <
          static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.loss_report_period))) {
    return;
  }
  for (auto& [key, pending] : pending_losses_) {
    const v1::Loss loss = MakeLoss(key, pending);
    counters_.lost_exchanges += loss.exchanges();
    // A connection the tracker does not know (yet) could match any session: tell them all.
    sessions_->PublishLoss(loss, pending.described ? &pending.scope : nullptr);
  }
  pending_losses_.clear();
  last_loss_report_ns_ = now_ns;
}

void ExchangeTracker::Housekeeping(uint64_t now_ns) {
  if (now_ns - last_housekeeping_ns_ < kHousekeepingPeriodNs) return;
  last_housekeeping_ns_ = now_ns;
  connections_.EvictIdle(now_ns);
  PublishPendingLosses(now_ns);
  SnapshotCounters();
}

void ExchangeTracker::ForgetConnections() {
  if (connections_.size() == 0) return;
  forgetting_ = true;
  connections_.Clear();
  forgetting_ = false;
  // Status right after the last session shows the engines these connections had.
  SnapshotCounters();
}

void ExchangeTracker::SnapshotCounters() {
  protocols::EngineCounterTotals engines = closed_engine_counters_;
  connections_.ForEach([&engines](const conntrack::Connection& connection) {
    if (connection.attachment == nullptr) return;
    const auto& state = *static_cast<const ConnectionState*>(connection.attachment.get());
    if (state.engine != nullptr) engines.Add(*state.engine);
  });
  absl::flat_hash_map<std::string, uint64_t> snapshot;
  engines.ForEach([&](const char* name, uint64_t value) { snapshot[name] = value; });
  const conntrack::TableCounters& table = connections_.counters();
  snapshot["conntrack.opened"] = table.opened;
  snapshot["conntrack.closed"] = table.closed;
  snapshot["conntrack.evicted_idle"] = table.evicted_idle;
  snapshot["conntrack.evicted_full"] = table.evicted_full;
  snapshot["conntrack.data_without_open"] = table.data_without_open;
  snapshot["conntrack.close_unknown"] = table.close_unknown;
  snapshot["conntrack.gaps"] = table.gaps;
  snapshot["conntrack.gap_bytes"] = table.gap_bytes;
  snapshot["conntrack.overlaps"] = table.overlaps;
  snapshot["conntrack.kernel_lost_bytes"] = table.kernel_lost_bytes;
  snapshot["conntrack.connections"] = connections_.size();
  snapshot["conntrack.shutdowns"] = table.shutdowns;
  snapshot["conntrack.read_eofs"] = table.read_eofs;
  snapshot["conntrack.process_changes"] = table.process_changes;
  snapshot["pipeline.kernel_loss_events"] = counters_.kernel_loss_events;
  snapshot["pipeline.kernel_loss_bytes"] = counters_.kernel_loss_bytes;
  snapshot["pipeline.queue_loss_events"] = counters_.queue_loss_events;
  snapshot["pipeline.queue_loss_bytes"] = counters_.queue_loss_bytes;
  snapshot["pipeline.lost_exchanges"] = counters_.lost_exchanges;
  snapshot["pipeline.exchanges"] = counters_.exchanges_published;
  snapshot["pipeline.engine_held_bytes"] = engine_held_bytes_;
  snapshot["pipeline.exchanges_after_capture"] = counters_.exchanges_after_capture;
  snapshot["pipeline.conservation_violations"] = counters_.conservation_violations;
  snapshot["pipeline.connections_not_traced"] = counters_.connections_not_traced;
  absl::MutexLock lock(&snapshot_mu_);
  counter_snapshot_ = std::move(snapshot);
}

absl::flat_hash_map<std::string, uint64_t> ExchangeTracker::CounterSnapshot() const {
  absl::MutexLock lock(&snapshot_mu_);
  return counter_snapshot_;
}

}  // namespace httptrace::pipeline
