#include "agent/container/engine_client.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "agent/container/fake_engine.h"
#include "common/testing/test_support.h"
#include "gtest/gtest.h"

namespace httptrace::container {
namespace {

constexpr char kId[] = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";

// A directory for the engine's unix socket, removed with everything in it when the test ends.
class ShortTempDir {
 public:
  ShortTempDir() : path_(httptrace::test_support::MakeSocketDir("engine")) {}
  ~ShortTempDir() { std::filesystem::remove_all(path_); }
  std::string operator+(const char* file) const { return path_ + file; }

 private:
  std::string path_;
};

TEST(ParseHttpResponseTest, ContentLengthBody) {
  auto r = ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello-extra");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
}

TEST(ParseHttpResponseTest, ChunkedBodyWithExtensionsAndTrailers) {
  auto r = ParseHttpResponse(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n4;x=y\r\nabcd\r\nA\r\n0123456789\r\n"
      "0\r\nX-Trailer: 1\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "abcd0123456789");
}

TEST(ParseHttpResponseTest, BodyToEndOfConnection) {
  auto r = ParseHttpResponse("HTTP/1.0 404 Not Found\r\n\r\n{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "{}");
}

TEST(ParseHttpResponseTest, RejectsTruncatedAndForeignResponses) {
  EXPECT_FALSE(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").ok());
  EXPECT_FALSE(
      ParseHttpResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").ok());
  EXPECT_FALSE(ParseHttpResponse("HTTP/1.1 200 OK\r\nContent-").ok());
  EXPECT_FALSE(ParseHttpResponse("SSH-2.0-OpenSSH\r\n\r\n").ok());
}

TEST(ParseInspectBodyTest, DockerInspectWithKubernetesLabels) {
  auto c = ParseInspectBody(std::string(R"({"Id":")") + kId +
                            R"(","Name":"/k8s_web_web-7d4_shop_5c8a_0","State":{"Pid":42},
      "Config":{"Labels":{"io.kubernetes.pod.name":"web-7d4","io.kubernetes.pod.namespace":"shop",
      "io.kubernetes.pod.uid":"5c8a1d2e-3f4b-4c5d-8e9f-0a1b2c3d4e5f"}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, kId);
  EXPECT_EQ(c->name, "k8s_web_web-7d4_shop_5c8a_0");
  EXPECT_EQ(c->pod_name, "web-7d4");
  EXPECT_EQ(c->pod_namespace, "shop");
  EXPECT_EQ(c->pod_uid, "5c8a1d2e-3f4b-4c5d-8e9f-0a1b2c3d4e5f");
}

TEST(ParseInspectBodyTest, PodmanInspectWithNullLabels) {
  auto c = ParseInspectBody(std::string(R"({"Id":")") + kId +
                            R"(","Name":"web","Config":{"Labels":null}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "web");
  EXPECT_EQ(c->pod_name, "");
}

TEST(ParseInspectBodyTest, RejectsWhatIsNotAContainer) {
  EXPECT_FALSE(ParseInspectBody("not json").ok());
  EXPECT_FALSE(ParseInspectBody("[1,2]").ok());
  EXPECT_FALSE(ParseInspectBody(R"({"Name":"/x"})").ok());
  EXPECT_FALSE(ParseInspectBody(R"({"Id":7})").ok());
}

TEST(EngineClientTest, InspectsByIdAndByNameOverUnixSocket) {
  const ShortTempDir dir;
  FakeEngine engine(dir + "/docker.sock");
  engine.SetContainer(kId, "web", std::string(R"({"Id":")") + kId + R"(","Name":"/web"})");
  EngineClient client(engine.socket_path(), absl::Seconds(2));
  EXPECT_TRUE(client.Ping().ok());
  for (const char* key : {kId, "web"}) {
    auto c = client.Inspect(key);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->id, kId);
    EXPECT_EQ(c->name, "web");
  }
  EXPECT_TRUE(absl::IsNotFound(client.Inspect("other").status()));
}

TEST(EngineClientTest, RefusesSelectorsThatAreNotIdsOrNames) {
  EngineClient client("/nonexistent/engine.sock", absl::Seconds(1));
  EXPECT_TRUE(absl::IsInvalidArgument(client.Inspect("../../info").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(client.Inspect("a b").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(client.Inspect("").status()));
}

TEST(EngineClientTest, AbsentSocketIsUnavailable) {
  EngineClient client("/nonexistent/engine.sock", absl::Seconds(1));
  const absl::Status status = client.Inspect(kId).status();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_NE(status.message().find("/nonexistent/engine.sock"), std::string::npos);
}

TEST(EngineClientTest, SilentEngineTimesOut) {
  const ShortTempDir dir;
  FakeEngine engine(dir + "/podman.sock");
  engine.SetSilent(true);
  EngineClient client(engine.socket_path(), absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  const absl::Status status = client.Inspect(kId).status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

}  // namespace
}  // namespace httptrace::container
