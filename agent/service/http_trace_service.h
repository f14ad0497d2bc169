// The httptrace.v1.HttpTrace gRPC service: a thin layer that checks requests, calls the session
// manager and maps its errors to gRPC codes. Status fields that describe the node and the probes
// come from an AgentStatusSource (the capture pipeline).

#pragma once

#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "agent/auth/audit_log.h"
#include "agent/auth/caller_identity.h"
#include "agent/auth/policy.h"
#include "agent/service/peer_identity.h"
#include "agent/session/event.h"
#include "agent/session/session_manager.h"
#include "agent/status/status_source.h"
#include "proto/httptrace.grpc.pb.h"

namespace httptrace::service {

using status::AgentStatusSource;

struct ServiceInfo {
  std::string version;
  std::string node;
};

// Who is calling, what they may do and what is recorded of it. All optional (not owned; they
// outlive the service): without `peers` unix callers are unidentified, without `audit` nothing
// is recorded, without `policy` every caller may do everything.
struct AccessOptions {
  const UnixPeerRegistry* peers = nullptr;
  auth::AuditLog* audit = nullptr;
  const auth::Policy* policy = nullptr;
};

class HttpTraceService final : public v1::HttpTrace::Service {
 public:
  HttpTraceService(ServiceInfo info, session::SessionManager* sessions,
                   AgentStatusSource* status_source, AccessOptions access = {});

  grpc::Status StartCapture(grpc::ServerContext* context, const v1::StartCaptureRequest* request,
                            v1::StartCaptureResponse* response) override;
  grpc::Status StopCapture(grpc::ServerContext* context, const v1::StopCaptureRequest* request,
                           v1::StopCaptureResponse* response) override;
  grpc::Status StreamEvents(grpc::ServerContext* context, const v1::StreamEventsRequest* request,
                            grpc::ServerWriter<v1::Event>* writer) override;
  grpc::Status StreamEventBatches(grpc::ServerContext* context,
                                  const v1::StreamEventsRequest* request,
                                  grpc::ServerWriter<v1::EventBatch>* writer) override;
  grpc::Status ListSessions(grpc::ServerContext* context, const v1::ListSessionsRequest* request,
                            v1::ListSessionsResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  // Both streams: reads the session from the request's resume point, calls `opened` once it is
  // valid (to send the initial metadata), and hands `send` the events
  // in order, several at a time when `linger` > 0 (up to kMaxBatch, waiting at most `linger`
  // after the first for more), until the SessionEnd event or the client goes away. `send`
  // returns false when the client is gone.
  grpc::Status StreamSession(
      grpc::ServerContext* context, const v1::StreamEventsRequest& request, absl::Duration linger,
      absl::FunctionRef<void()> opened,
      absl::FunctionRef<bool(const std::vector<session::SequencedEvent>&)> send);

  class CallRecord;
  auth::CallerIdentity Identify(const grpc::ServerContext& context) const;
  // With a policy: the rule that lets the caller do `verb` (also named in the record), or
  // PERMISSION_DENIED. Without: null.
  absl::StatusOr<const auth::PolicyRule*> Authorize(CallRecord& call, auth::Verb verb) const;

  const ServiceInfo info_;
  const AccessOptions access_;
  session::SessionManager* const sessions_;
  AgentStatusSource* const status_source_;
  const absl::Time started_at_;
};

}  // namespace httptrace::service
