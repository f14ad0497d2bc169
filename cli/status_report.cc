#include "cli/status_report.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace httptrace::cli {
namespace {

uint64_t Counter(const v1::GetStatusResponse& r, const char* name) {
  const auto it = r.counters().find(name);
  return it == r.counters().end() ? 0 : it->second;
}

uint64_t Sum(const v1::GetStatusResponse& r, const LossCounter& loss) {
  uint64_t total = 0;
  for (const char* name : loss.counters) total += Counter(r, name);
  return total;
}

uint64_t SessionLosses(const v1::GetStatusResponse& r) {
  uint64_t total = 0;
  for (const v1::SessionInfo& s : r.sessions()) total += s.counters().exchanges_lost();
  return total;
}

}  // namespace

const std::vector<LossCounter>& LossCounters() {
  static const auto* list = new std::vector<LossCounter>{
      {"kernel_buffer_full", {"kernel.ringbuf_full"}, "event(s) the ring buffer refused"},
      {"limit", {"memory.refused_exchanges", "queue.dropped_events"}, "exchange(s) or event(s)"},
      {"stream_gap", {"http.gaps"}, "gap(s)"},
      {"parse_error", {"http.parse_errors"}, "error(s)"},
      {"connection_table_full",
       {"conntrack.evicted_full", "kernel.conn_table_full"},
       "connection(s) ended"},
  };
  return *list;
}

Health Assess(const v1::GetStatusResponse& now, const v1::GetStatusResponse* earlier,
              absl::Duration between) {
  Health health;
  int active = 0, ended = 0;
  for (const v1::SessionInfo& s : now.sessions()) {
    (s.state() == v1::SESSION_STATE_ACTIVE ? active : ended)++;
  }

  // Probes.
  const v1::ProbeStatus& probes = now.probes();
  std::string probe_line;
  if (probes.attached()) {
    int programs = 0;
    for (const std::string& p : probes.programs()) programs += !absl::StartsWith(p, "tls ");
    probe_line =
        absl::StrCat("attached via ",
                     probes.mode() == v1::ATTACH_MODE_RAW_TRACEPOINTS ? "raw tracepoints"
                                                                      : "syscall tracepoints",
                     " (", programs, " programs)");
  } else if (active == 0) {
    probe_line = "ready; they attach while a capture runs (none now)";
  } else {
    probe_line = absl::StrCat("NOT attached although ", active, " session(s) are active",
                              probes.detail().empty() ? "" : absl::StrCat(": ", probes.detail()));
    health.state = Health::State::kUnhealthy;
    health.why = "sessions are active but the probes are not attached";
  }
  int tls_probed = 0, tls_refused = 0;
  for (const std::string& p : probes.programs()) {
    if (!absl::StartsWith(p, "tls ")) continue;
    (absl::StrContains(p, "not probed") ? tls_refused : tls_probed)++;
  }
  if (tls_probed + tls_refused > 0) {
    absl::StrAppend(&probe_line, "; TLS: ", tls_probed, " librar", tls_probed == 1 ? "y" : "ies",
                    " probed");
    if (tls_refused > 0) {
      absl::StrAppend(&probe_line, ", ", tls_refused, " not (status --counters lists them)");
    }
  }
  health.lines.push_back(absl::StrCat("probes:   ", probe_line));
  health.lines.push_back(absl::StrCat("sessions: ", active, " active, ", ended, " ended"));

  // Traffic.
  const uint64_t exchanges = Counter(now, "pipeline.exchanges");
  std::string traffic;
  if (earlier != nullptr && between > absl::ZeroDuration()) {
    const uint64_t before = Counter(*earlier, "pipeline.exchanges");
    health.exchanges_per_second =
        static_cast<double>(exchanges >= before ? exchanges - before : 0) /
        absl::ToDoubleSeconds(between);
    traffic = absl::StrFormat("%.1f exchanges/s now, ", health.exchanges_per_second);
  }
  absl::StrAppend(&traffic, exchanges, " exchange(s) since start");
  health.lines.push_back(absl::StrCat("traffic:  ", traffic));

  // Losses since start, by reason; losing now makes the agent degraded.
  std::vector<std::string> reasons;
  std::vector<std::string> growing;
  for (const LossCounter& loss : LossCounters()) {
    const uint64_t n = Sum(now, loss);
    health.lost_since_start += n;
    if (n > 0) reasons.push_back(absl::StrCat(loss.reason, " ", n, " ", loss.unit));
    if (earlier != nullptr && n > Sum(*earlier, loss)) growing.push_back(loss.reason);
  }
  const uint64_t session_losses = SessionLosses(now);
  if (session_losses > 0) {
    reasons.push_back(absl::StrCat("sessions counted ", session_losses, " exchange(s) lost"));
  }
  if (earlier != nullptr && session_losses > SessionLosses(*earlier)) {
    growing.push_back("sessions");
  }
  health.lines.push_back(absl::StrCat(
      "losses:   ", reasons.empty() ? "none since start" : absl::StrJoin(reasons, ", ")));
  if (!growing.empty() && health.state == Health::State::kHealthy) {
    health.state = Health::State::kDegraded;
    health.why = absl::StrCat("losing data now (", absl::StrJoin(growing, ", "), ")");
  }
  health.word = health.state == Health::State::kHealthy    ? "healthy"
                : health.state == Health::State::kDegraded ? "degraded"
                                                           : "NOT healthy";
  return health;
}

std::vector<std::string> AuditLines(const v1::GetStatusResponse& status, absl::TimeZone zone) {
  std::vector<std::string> lines;
  for (const v1::AuditRecord& record : status.audit()) {
    const v1::CallerIdentity& caller = record.caller();
    std::string who;
    if (caller.transport() == "unix") {
      who = absl::StrCat("uid ", caller.uid(), " gid ", caller.gid(), " pid ", caller.pid(), " (",
                         caller.comm(), ")");
    } else if (caller.transport() == "mtls") {
      who = absl::StrCat("subject ", caller.subject().empty() ? "(none)" : caller.subject());
      if (caller.sans_size() > 0)
        absl::StrAppend(&who, " SANs ", absl::StrJoin(caller.sans(), ","));
    } else {
      who = absl::StrCat(caller.transport(), " ", caller.peer());
    }
    const absl::Time time =
        absl::FromUnixSeconds(record.time().seconds()) + absl::Nanoseconds(record.time().nanos());
    std::string line =
        absl::StrFormat("%s  %-6s %-17s %s", absl::FormatTime("%Y-%m-%d %H:%M:%S", time, zone),
                        record.verb(), record.code(), who);
    if (!record.session_id().empty()) absl::StrAppend(&line, "  session ", record.session_id());
    if (!record.rule().empty()) absl::StrAppend(&line, "  rule ", record.rule());
    if (!record.message().empty()) absl::StrAppend(&line, "  (", record.message(), ")");
    if (!record.request_json().empty()) absl::StrAppend(&line, "  ", record.request_json());
    lines.push_back(std::move(line));
  }
  if (status.audit_dropped() > 0) {
    lines.push_back(absl::StrCat("(", status.audit_dropped(),
                                 " older record(s) no longer kept in memory: the agent's audit log "
                                 "has them)"));
  }
  if (lines.empty()) lines.push_back("(no audit records yet)");
  return lines;
}

}  // namespace httptrace::cli
