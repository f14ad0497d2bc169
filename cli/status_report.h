// `httptracectl status`: the answer to "is it working?" first, then the details.
//
// Assess reads two GetStatus answers taken a moment apart (for the current rate) and says
// healthy, degraded (losing exchanges right now) or NOT healthy (sessions run but the probes
// are not attached), with one line each on the probes, the sessions, the traffic and the losses
// since the agent started, by reason. The counters themselves are for `status --counters`.

#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::cli {

struct Health {
  enum class State { kHealthy, kDegraded, kUnhealthy };
  State state = State::kHealthy;
  std::string word;                // "healthy", "degraded", "NOT healthy"
  std::string why;                 // empty when healthy
  std::vector<std::string> lines;  // "probes:   ...", "sessions: ...", ...
  double exchanges_per_second = 0;
  uint64_t lost_since_start = 0;
};

// `earlier`: the same agent's answer `between` before `now` (null: no rate).
Health Assess(const v1::GetStatusResponse& now, const v1::GetStatusResponse* earlier,
              absl::Duration between);

// `status --audit`: one line per audit record the agent keeps, oldest first, in `zone`:
//   "2026-12-07 21:00:00  start   OK                 uid 1000 gid 1000 pid 4242 (httptracectl)
//    session 4f1c0a01  rule team-a  filter namespace team-a"
// then how many older records the agent no longer holds (they are in its audit log).
std::vector<std::string> AuditLines(const v1::GetStatusResponse& status, absl::TimeZone zone);

// The reasons losses are counted under, each with the agent counters that count it (one place:
// the headline and the docs use this list).
struct LossCounter {
  const char* reason;  // as in a trace's "!! LOSS (reason)"
  std::vector<const char*> counters;
  const char* unit;  // what the counters count
};
const std::vector<LossCounter>& LossCounters();

}  // namespace httptrace::cli
