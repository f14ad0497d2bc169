#include "agent/auth/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "google/protobuf/util/json_util.h"

namespace httptrace::auth {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const Options& options) {
  if (options.capacity == 0) return absl::InvalidArgumentError("the audit ring needs room");
  UniqueFd file;
  std::string destination = "stderr";
  if (!options.path.empty()) {
    file.reset(::open(options.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!file) {
      return absl::ErrnoToStatus(errno, absl::StrCat("--audit-log: cannot open ", options.path));
    }
    destination = options.path;
  }
  return std::unique_ptr<AuditLog>(
      new AuditLog(options.capacity, std::move(file), std::move(destination)));
}

AuditLog::AuditLog(size_t capacity, UniqueFd file, std::string destination)
    : capacity_(capacity), file_(std::move(file)), destination_(std::move(destination)) {}

void AuditLog::Record(v1::AuditRecord record) {
  std::string line = AuditJsonLine(record);
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  // One write per line, under the lock: lines from concurrent calls never interleave.
  const int fd = file_ ? file_.get() : STDERR_FILENO;
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    // The ring still holds the record; say once in a while that the log is incomplete.
    ++write_failures_;
    HT_LOG_EVERY_N_SEC(ERROR, 10) << "audit log " << destination_ << ": write failed ("
                                  << write_failures_
                                  << " record(s) so far): " << std::strerror(errno);
  }
  if (ring_.size() == capacity_) {
    ring_.pop_front();
    ++dropped_;
  }
  ring_.push_back(std::move(record));
}

void AuditLog::Fill(v1::GetStatusResponse* response) const {
  absl::MutexLock lock(&mu_);
  for (const v1::AuditRecord& record : ring_) *response->add_audit() = record;
  response->set_audit_dropped(dropped_);
}

uint64_t AuditLog::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

v1::CallerIdentity ToProto(const CallerIdentity& identity) {
  v1::CallerIdentity caller;
  caller.set_transport(TransportName(identity.transport));
  if (identity.transport == CallerIdentity::Transport::kUnix) {
    caller.set_uid(identity.uid);
    caller.set_gid(identity.gid);
    caller.set_pid(identity.pid);
    caller.set_comm(identity.comm);
  }
  if (identity.transport == CallerIdentity::Transport::kTls) {
    caller.set_subject(identity.subject);
    for (const std::string& san : identity.sans) caller.add_sans(san);
  }
  caller.set_peer(identity.peer);
  return caller;
}

namespace {

nlohmann::ordered_json ProtoJson(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &text, print).ok()) return {};
  return nlohmann::ordered_json::parse(text, nullptr, false);
}

std::string RequestJson(const v1::Filter& filter, const v1::CaptureOptions& options,
                        const std::string* endpoint, std::vector<std::string> header_names) {
  nlohmann::ordered_json json;
  json["filter"] = ProtoJson(filter);
  json["options"] = ProtoJson(options);
  if (endpoint != nullptr) {
    json["export"] = {{"endpoint", *endpoint}, {"header_names", std::move(header_names)}};
  }
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::string AuditRequestJson(const v1::StartCaptureRequest& request) {
  std::vector<std::string> names;
  for (const auto& [name, value] : request.export_options().headers()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return RequestJson(request.filter(), request.options(),
                     request.has_export_options() ? &request.export_options().endpoint() : nullptr,
                     std::move(names));
}

std::string AuditRequestJson(const v1::SessionInfo& session) {
  const v1::ExportStatus& status = session.export_status();
  return RequestJson(session.filter(), session.options(),
                     session.has_export_status() ? &status.endpoint() : nullptr,
                     {status.header_names().begin(), status.header_names().end()});
}

std::string AuditJsonLine(const v1::AuditRecord& record) {
  nlohmann::ordered_json audit;
  audit["time"] = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%E3SZ",
      absl::FromUnixSeconds(record.time().seconds()) + absl::Nanoseconds(record.time().nanos()),
      absl::UTCTimeZone());
  audit["call"] = record.call();
  audit["verb"] = record.verb();
  const v1::CallerIdentity& caller = record.caller();
  audit["transport"] = caller.transport();
  if (caller.transport() == "unix") {
    audit["uid"] = caller.uid();
    audit["gid"] = caller.gid();
    audit["pid"] = caller.pid();
    audit["comm"] = caller.comm();
  } else if (caller.transport() == "mtls") {
    audit["subject"] = caller.subject();
    audit["sans"] = std::vector<std::string>(caller.sans().begin(), caller.sans().end());
  }
  audit["peer"] = caller.peer();
  audit["session"] = record.session_id();
  // The request as JSON, not as a string in a string: a log pipeline can query its fields.
  // Invalid JSON (never expected) stays a string rather than losing the record.
  nlohmann::ordered_json request = nlohmann::ordered_json::parse(
      record.request_json().empty() ? "{}" : record.request_json(), nullptr, false);
  audit["request"] =
      request.is_discarded() ? nlohmann::ordered_json(record.request_json()) : request;
  audit["code"] = record.code();
  audit["message"] = record.message();
  audit["rule"] = record.rule();
  nlohmann::ordered_json line;
  line["audit"] = std::move(audit);
  // Comm and messages may hold any bytes: replace invalid UTF-8 instead of throwing.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace httptrace::auth
