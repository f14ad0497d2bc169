#include "agent/export/retry_policy.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

grpc::Status WithRetryInfo(grpc::StatusCode code, int64_t seconds) {
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(seconds);
  google::rpc::Status details;
  details.set_code(code);
  details.add_details()->PackFrom(retry);
  return grpc::Status(code, "busy", details.SerializeAsString());
}

TEST(RetryPolicyTest, RetryableCodesAreTheOtlpSpecs) {
  for (grpc::StatusCode code : {grpc::StatusCode::CANCELLED, grpc::StatusCode::DEADLINE_EXCEEDED,
                                grpc::StatusCode::ABORTED, grpc::StatusCode::OUT_OF_RANGE,
                                grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DATA_LOSS}) {
    EXPECT_TRUE(ClassifyExportFailure(grpc::Status(code, "")).retryable) << code;
  }
  for (grpc::StatusCode code : {grpc::StatusCode::UNKNOWN, grpc::StatusCode::INVALID_ARGUMENT,
                                grpc::StatusCode::NOT_FOUND, grpc::StatusCode::PERMISSION_DENIED,
                                grpc::StatusCode::UNAUTHENTICATED, grpc::StatusCode::UNIMPLEMENTED,
                                grpc::StatusCode::INTERNAL, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    EXPECT_FALSE(ClassifyExportFailure(grpc::Status(code, "")).retryable) << code;
  }
}

TEST(RetryPolicyTest, RetryInfoGivesTheDelayAndMakesResourceExhaustedRetryable) {
  RetryDecision exhausted =
      ClassifyExportFailure(WithRetryInfo(grpc::StatusCode::RESOURCE_EXHAUSTED, 3));
  EXPECT_TRUE(exhausted.retryable);
  EXPECT_EQ(exhausted.server_delay, absl::Seconds(3));
  RetryDecision unavailable =
      ClassifyExportFailure(WithRetryInfo(grpc::StatusCode::UNAVAILABLE, 2));
  EXPECT_TRUE(unavailable.retryable);
  EXPECT_EQ(unavailable.server_delay, absl::Seconds(2));
  EXPECT_FALSE(ClassifyExportFailure(grpc::Status(grpc::StatusCode::UNAVAILABLE, "x"))
                   .server_delay.has_value());
}

TEST(RetryPolicyTest, BackoffDoublesUpToTheCapWithJitter) {
  const absl::Duration initial = absl::Milliseconds(500), max = absl::Seconds(8);
  EXPECT_EQ(Backoff(0, initial, max, 0.5), absl::Milliseconds(500));
  EXPECT_EQ(Backoff(1, initial, max, 0.5), absl::Seconds(1));
  EXPECT_EQ(Backoff(3, initial, max, 0.5), absl::Seconds(4));
  EXPECT_EQ(Backoff(10, initial, max, 0.5), absl::Seconds(8));
  EXPECT_EQ(Backoff(0, initial, max, 0.0), absl::Milliseconds(400));
  EXPECT_LT(Backoff(0, initial, max, 0.999), absl::Milliseconds(600));
}

}  // namespace
}  // namespace httptrace::otlp
