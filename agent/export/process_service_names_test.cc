#include "agent/export/process_service_names.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

using namespace std::string_literals;

TEST(ProcessServiceNamesTest, OtelServiceNameThenResourceAttributes) {
  EXPECT_EQ(ServiceNameFromEnviron("PATH=/bin\0OTEL_SERVICE_NAME=checkout\0"s), "checkout");
  EXPECT_EQ(ServiceNameFromEnviron(
                "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod,service.name=pay%20api\0"s),
            "pay api");
  // OTEL_SERVICE_NAME wins, wherever it is.
  EXPECT_EQ(
      ServiceNameFromEnviron("OTEL_RESOURCE_ATTRIBUTES=service.name=a\0OTEL_SERVICE_NAME=b\0"s),
      "b");
  EXPECT_EQ(ServiceNameFromEnviron("HOME=/root\0SERVICE_NAME=x\0"s), "");
  EXPECT_EQ(ServiceNameFromEnviron(""), "");
}

TEST(ProcessServiceNamesTest, AsksOncePerProcessAndProgram) {
  int reads = 0;
  ProcessServiceNames names([&reads](uint32_t pid) -> std::optional<std::string> {
    ++reads;
    if (pid == 1) return "OTEL_SERVICE_NAME=web\0"s;
    return std::nullopt;  // gone
  });
  EXPECT_EQ(names.Lookup(1, "nginx"), "web");
  EXPECT_EQ(names.Lookup(1, "nginx"), "web");
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(names.Lookup(1, "bash"), "web");  // the pid runs another program: asked again
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(names.Lookup(2, "curl"), "");
}

TEST(ProcessServiceNamesTest, ReadsThisProcessesEnvironment) {
  std::optional<std::string> environ = ProcessServiceNames::ReadProcEnviron(getpid());
  ASSERT_TRUE(environ.has_value());
  EXPECT_NE(environ->find('='), std::string::npos);
}

}  // namespace
}  // namespace httptrace::otlp
