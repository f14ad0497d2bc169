// The audit trail: one record per API call that starts, attaches to, stops or exports a session,
// and per refused call. Each record is written at once as one JSON line {"audit": {...}} (to
// stderr with the agent's log, or to --audit-log FILE) and kept in a bounded ring that
// `httptracectl status --audit` shows; the ring counts what it no longer holds.
//
//   AuditLog audit(AuditLog::Options{.capacity = 256});
//   audit.Record(record);                 // any thread
//   audit.Fill(&status_response);         // the ring, oldest first, and the dropped count

#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/auth/caller_identity.h"
#include "common/unique_fd.h"
#include "proto/httptrace.pb.h"

namespace httptrace::auth {

class AuditLog {
 public:
  struct Options {
    size_t capacity = 256;  // records kept for status --audit
    std::string path;       // empty: stderr
  };
  // Opens `path` for appending (created 0600: the records name who traced what).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const Options& options);

  void Record(v1::AuditRecord record) ABSL_LOCKS_EXCLUDED(mu_);
  void Fill(v1::GetStatusResponse* response) const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t dropped() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& destination() const { return destination_; }  // "stderr" or the path

 private:
  AuditLog(size_t capacity, UniqueFd file, std::string destination);

  const size_t capacity_;
  const UniqueFd file_;  // invalid: stderr
  const std::string destination_;
  mutable absl::Mutex mu_;
  std::deque<v1::AuditRecord> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t write_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

// The record's caller field from an identity.
v1::CallerIdentity ToProto(const CallerIdentity& identity);

// What a record says about the session (AuditRecord.request_json): its filter and options, and
// for an export session the collector's endpoint and header names; never header values,
// certificates or keys. From the request (start) or from the session (attach, stop).
std::string AuditRequestJson(const v1::StartCaptureRequest& request);
std::string AuditRequestJson(const v1::SessionInfo& session);

// {"audit":{"time":"2026-12-07T21:00:00.123Z","call":"StartCapture","verb":"start",
//  "transport":"unix","uid":1000,"gid":1000,"pid":4242,"comm":"httptracectl","session":"s-1",
//  "request":{"filter":{...},"options":{...}},"code":"OK","message":"","rule":"team-a"}}
// uid/gid/pid/comm for unix callers, subject/sans for mTLS ones. No trailing newline.
std::string AuditJsonLine(const v1::AuditRecord& record);

}  // namespace httptrace::auth
