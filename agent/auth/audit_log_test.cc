// The audit record's JSON line (identity fields per transport, the request as JSON, no export
// secrets) and the bounded ring (oldest dropped and counted, every record still written).

#include "agent/auth/audit_log.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::auth {
namespace {

v1::AuditRecord Record(const std::string& session, const char* code = "OK") {
  v1::AuditRecord record;
  record.mutable_time()->set_seconds(1796677200);  // 2026-12-07T21:00:00Z
  record.mutable_time()->set_nanos(123000000);
  record.set_call("StartCapture");
  record.set_verb("start");
  record.set_session_id(session);
  record.set_code(code);
  return record;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AuditJsonLine, UnixCallerHasUidGidPidCommAndTheRequestAsJson) {
  CallerIdentity who;
  who.transport = CallerIdentity::Transport::kUnix;
  who.uid = 1000;
  who.gid = 100;
  who.pid = 4242;
  who.comm = "httptracectl";
  who.peer = "fd:12";
  v1::AuditRecord record = Record("s-1");
  *record.mutable_caller() = ToProto(who);
  v1::StartCaptureRequest request;
  request.mutable_filter()->add_pod_namespaces("team-a");
  request.mutable_options()->set_body_limit_bytes(0);
  record.set_request_json(AuditRequestJson(request));
  const nlohmann::json line = nlohmann::json::parse(AuditJsonLine(record));
  const nlohmann::json& audit = line.at("audit");
  EXPECT_EQ(audit.at("time"), "2026-12-07T21:00:00.123Z");
  EXPECT_EQ(audit.at("transport"), "unix");
  EXPECT_EQ(audit.at("uid"), 1000);
  EXPECT_EQ(audit.at("gid"), 100);
  EXPECT_EQ(audit.at("pid"), 4242);
  EXPECT_EQ(audit.at("comm"), "httptracectl");
  EXPECT_FALSE(audit.contains("subject"));
  EXPECT_EQ(audit.at("session"), "s-1");
  EXPECT_EQ(audit.at("code"), "OK");
  EXPECT_EQ(audit.at("request").at("filter").at("pod_namespaces")[0], "team-a");
  EXPECT_EQ(audit.at("request").at("options").at("body_limit_bytes"), 0);
}

TEST(AuditJsonLine, RootIsUidZeroNotAnAbsentField) {
  CallerIdentity who;
  who.transport = CallerIdentity::Transport::kUnix;
  v1::AuditRecord record = Record("s-1");
  *record.mutable_caller() = ToProto(who);
  const nlohmann::json audit = nlohmann::json::parse(AuditJsonLine(record)).at("audit");
  EXPECT_EQ(audit.at("uid"), 0);
  EXPECT_EQ(audit.at("gid"), 0);
}

TEST(AuditJsonLine, MtlsCallerHasSubjectAndSans) {
  CallerIdentity who;
  who.transport = CallerIdentity::Transport::kTls;
  who.subject = "CN=team-a,O=example";
  who.sans = {"team-a.example.com", "spiffe://example/team-a"};
  who.uid = 7;  // never set for TLS callers; not printed even if it were
  v1::AuditRecord record = Record("", "PERMISSION_DENIED");
  *record.mutable_caller() = ToProto(who);
  const nlohmann::json audit = nlohmann::json::parse(AuditJsonLine(record)).at("audit");
  EXPECT_EQ(audit.at("transport"), "mtls");
  EXPECT_EQ(audit.at("subject"), "CN=team-a,O=example");
  EXPECT_EQ(audit.at("sans"), nlohmann::json({"team-a.example.com", "spiffe://example/team-a"}));
  EXPECT_FALSE(audit.contains("uid"));
  EXPECT_EQ(audit.at("code"), "PERMISSION_DENIED");
}

TEST(AuditRequestJson, ExportNamesEndpointAndHeaderNamesButNoSecrets) {
  v1::StartCaptureRequest request;
  v1::ExportOptions& exports = *request.mutable_export_options();
  exports.set_endpoint("otlps://collector:4317");
  (*exports.mutable_headers())["authorization"] = "Bearer SECRET-TOKEN";
  exports.set_tls_key_pem("-----BEGIN PRIVATE KEY----- SECRET-KEY");
  const std::string json = AuditRequestJson(request);
  EXPECT_EQ(json.find("SECRET"), std::string::npos) << json;
  const nlohmann::json parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed.at("export").at("endpoint"), "otlps://collector:4317");
  EXPECT_EQ(parsed.at("export").at("header_names"), nlohmann::json({"authorization"}));
}

TEST(AuditJsonLine, BytesThatAreNotUtf8DoNotLoseTheRecord) {
  v1::AuditRecord record = Record("s-1");
  record.mutable_caller()->set_transport("unix");
  record.mutable_caller()->set_comm("bad\xff\xfe");
  const nlohmann::json audit = nlohmann::json::parse(AuditJsonLine(record)).at("audit");
  EXPECT_EQ(audit.at("session"), "s-1");
}

TEST(AuditLog, RingKeepsTheNewestCountsTheDroppedAndTheFileHasEveryLine) {
  const std::string path = test_support::MakeScratchDir("audit") + "/audit.jsonl";
  auto log = AuditLog::Open({.capacity = 3, .path = path});
  ASSERT_TRUE(log.ok()) << log.status();
  for (int i = 1; i <= 5; ++i) (*log)->Record(Record("s-" + std::to_string(i)));
  v1::GetStatusResponse status;
  (*log)->Fill(&status);
  ASSERT_EQ(status.audit_size(), 3);
  EXPECT_EQ(status.audit(0).session_id(), "s-3");
  EXPECT_EQ(status.audit(2).session_id(), "s-5");
  EXPECT_EQ(status.audit_dropped(), 2u);
  const std::vector<std::string> lines = Lines(path);
  ASSERT_EQ(lines.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i]).at("audit").at("session"),
              "s-" + std::to_string(i + 1));
  }
}

TEST(AuditLog, AnUnwritablePathIsAClearError) {
  auto log = AuditLog::Open({.capacity = 3, .path = "/nonexistent-dir/audit.jsonl"});
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("--audit-log: cannot open /nonexistent-dir/audit.jsonl"),
            std::string::npos)
      << log.status();
}

}  // namespace
}  // namespace httptrace::auth
