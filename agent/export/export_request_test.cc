#include "agent/export/export_request.h"

#include <fstream>

#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

TEST(ExportRequestTest, FlagsBecomeAFilteredExportSessionWithoutBodies) {
  ExportFlags flags;
  flags.endpoint = "collector:4317";
  flags.ports = {"8080", "9090"};
  flags.namespaces = {"shop"};
  flags.pods = {"web-1"};
  flags.containers = {"abcd"};
  flags.pids = {"42"};
  flags.headers = {"X-Team=checkout"};
  flags.headers_env = "authorization=Bearer%20abc, x-env = prod";
  flags.metrics_interval = absl::Seconds(30);
  flags.max_queue_spans = 100;
  absl::StatusOr<v1::StartCaptureRequest> request = ExportRequestFromFlags(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->filter().ports_size(), 2);
  EXPECT_EQ(request->filter().pod_namespaces(0), "shop");
  EXPECT_EQ(request->filter().pods(0), "web-1");
  EXPECT_EQ(request->filter().containers(0), "abcd");
  EXPECT_EQ(request->filter().pids(0), 42u);
  EXPECT_EQ(request->options().body_limit_bytes(), 0u);
  const v1::ExportOptions& e = request->export_options();
  EXPECT_EQ(e.endpoint(), "collector:4317");
  EXPECT_EQ(e.headers().at("authorization"), "Bearer abc");
  EXPECT_EQ(e.headers().at("x-env"), "prod");
  EXPECT_EQ(e.headers().at("x-team"), "checkout");
  EXPECT_EQ(e.metrics_interval().seconds(), 30);
  EXPECT_EQ(e.max_queue_spans(), 100u);
}

TEST(ExportRequestTest, MistakesNameTheFlag) {
  ExportFlags flags;
  flags.endpoint = "collector:4317";
  flags.ports = {"80000"};
  EXPECT_NE(ExportRequestFromFlags(flags).status().message().find("--otlp-port"),
            std::string::npos);
  flags.ports.clear();
  flags.ca_file = "/nonexistent/ca.crt";
  EXPECT_NE(ExportRequestFromFlags(flags).status().message().find("--otlp-ca-file"),
            std::string::npos);
  flags.ca_file.clear();
  flags.headers = {"no-separator"};
  EXPECT_NE(ExportRequestFromFlags(flags).status().message().find("--otlp-header"),
            std::string::npos);
  flags.headers.clear();
  flags.endpoint = "collector:0";
  EXPECT_EQ(ExportRequestFromFlags(flags).status().code(), absl::StatusCode::kInvalidArgument);
  flags.endpoint = "collector:4317";
  flags.metrics_interval = absl::Milliseconds(10);
  EXPECT_EQ(ExportRequestFromFlags(flags).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExportRequestTest, CertificateFilesAreReadIntoTheRequest) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/ca.crt";
  std::ofstream(path) << "-----BEGIN CERTIFICATE-----\n";
  ExportFlags flags;
  flags.endpoint = "otlps://collector:4317";
  flags.ca_file = path;
  absl::StatusOr<v1::StartCaptureRequest> request = ExportRequestFromFlags(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->export_options().tls_ca_pem(), "-----BEGIN CERTIFICATE-----\n");
}

}  // namespace
}  // namespace httptrace::otlp
