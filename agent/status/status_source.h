// What GetStatus reports beyond the sessions: the kernel, the probes and every counter of the
// data path. The capture pipeline implements it; the gRPC service reads it. Declared here, below
// both, so neither layer depends on the other.

#pragma once

#include "proto/httptrace.pb.h"

namespace httptrace::status {

class AgentStatusSource {
 public:
  virtual ~AgentStatusSource() = default;
  // Fills kernel, probes and counters (the service fills version, node, sessions). Any thread.
  virtual void FillStatus(v1::GetStatusResponse* response) = 0;
};

}  // namespace httptrace::status
