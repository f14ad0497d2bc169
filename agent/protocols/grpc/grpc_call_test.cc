#include "agent/protocols/grpc/grpc_call.h"

#include "common/grpc_status.h"
#include "gtest/gtest.h"

namespace httptrace::protocols::grpc {
namespace {

TEST(GrpcCallTest, ContentTypes) {
  EXPECT_TRUE(IsGrpcContentType("application/grpc"));
  EXPECT_TRUE(IsGrpcContentType("application/grpc+proto"));
  EXPECT_TRUE(IsGrpcContentType("application/grpc; charset=utf-8"));
  EXPECT_TRUE(IsGrpcContentType("Application/GRPC-web"));
  EXPECT_FALSE(IsGrpcContentType("application/grpcx"));
  EXPECT_FALSE(IsGrpcContentType("application/json"));
}

TEST(GrpcCallTest, Paths) {
  std::string service, method;
  ASSERT_TRUE(ParseGrpcPath("/helloworld.Greeter/SayHello", &service, &method));
  EXPECT_EQ(service, "helloworld.Greeter");
  EXPECT_EQ(method, "SayHello");
  EXPECT_FALSE(ParseGrpcPath("/index.html", &service, &method));
  EXPECT_FALSE(ParseGrpcPath("/a/b/c", &service, &method));
  EXPECT_FALSE(ParseGrpcPath("//m", &service, &method));
}

TEST(GrpcCallTest, StatusAndMessage) {
  EXPECT_EQ(ParseGrpcStatus("0"), 0u);
  EXPECT_EQ(ParseGrpcStatus("14"), 14u);
  EXPECT_EQ(ParseGrpcStatus("x"), std::nullopt);
  EXPECT_EQ(::httptrace::GrpcStatusName(5), "NOT_FOUND");
  EXPECT_EQ(::httptrace::GrpcStatusName(16), "UNAUTHENTICATED");
  EXPECT_EQ(::httptrace::GrpcStatusName(99), "");
}

}  // namespace
}  // namespace httptrace::protocols::grpc
