// The exporter against a real gRPC TraceService on loopback (in-process): batches, RetryInfo
// honoured, a bounded queue when nothing answers, and every undelivered span an EXPORT_FAILED
// loss of the session.

#include "agent/export/otlp_exporter.h"

#include <grpcpp/grpcpp.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace httptrace::otlp {
namespace {

namespace collector_trace = opentelemetry::proto::collector::trace::v1;

// Records when each Export call came and how many spans it carried; refuses the first
// `refuse` calls with UNAVAILABLE and a RetryInfo of `retry_delay`.
class RecordingTraceService final : public collector_trace::TraceService::Service {
 public:
  RecordingTraceService(int refuse, absl::Duration retry_delay)
      : refuse_(refuse), retry_delay_(retry_delay) {}

  grpc::Status Export(grpc::ServerContext*, const collector_trace::ExportTraceServiceRequest* req,
                      collector_trace::ExportTraceServiceResponse*) override {
    size_t spans = 0;
    for (const auto& rs : req->resource_spans()) {
      for (const auto& ss : rs.scope_spans()) spans += ss.spans_size();
    }
    absl::MutexLock lock(&mu_);
    calls_.push_back({absl::Now(), spans});
    if (static_cast<int>(calls_.size()) <= refuse_) {
      google::rpc::RetryInfo retry;
      retry.mutable_retry_delay()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(retry_delay_)));
      google::rpc::Status details;
      details.set_code(grpc::StatusCode::UNAVAILABLE);
      details.add_details()->PackFrom(retry);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "busy", details.SerializeAsString());
    }
    accepted_ += spans;
    return grpc::Status::OK;
  }

  struct Call {
    absl::Time at;
    size_t spans;
  };
  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  size_t accepted() {
    absl::MutexLock lock(&mu_);
    return accepted_;
  }

 private:
  const int refuse_;
  const absl::Duration retry_delay_;
  absl::Mutex mu_;
  std::vector<Call> calls_;
  size_t accepted_ = 0;
};

v1::Event ExchangeEvent(uint32_t pid) {
  v1::Event event;
  v1::Exchange* x = event.mutable_exchange();
  x->mutable_process()->set_pid(pid);
  x->mutable_connection()->set_role(v1::ROLE_SERVER);
  x->mutable_request()->set_method("GET");
  x->mutable_request()->set_target("/");
  x->mutable_response()->set_status(200);
  x->mutable_latency()->set_nanos(1000);
  return event;
}

v1::CaptureOptions Options() {
  v1::CaptureOptions options;
  options.set_body_limit_bytes(0);
  options.set_queue_capacity(4096);
  options.mutable_idle_timeout()->set_seconds(600);
  return options;
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return done();
}

v1::ExportStatus StatusOf(const session::Session& session) {
  return session.Info().export_status();
}

TEST(OtlpExporterTest, BatchesBySizeAndHonoursRetryInfo) {
  RecordingTraceService service(/*refuse=*/1, absl::Milliseconds(400));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  session::MemoryBudget budget(64 << 20);
  session::Session session("s1", {}, Options(), absl::Now(), &budget);
  v1::ExportOptions options;
  options.set_endpoint(absl::StrCat("otlp://127.0.0.1:", port));
  options.set_max_batch_spans(5);
  options.mutable_batch_delay()->set_seconds(30);  // only full batches go before the end
  auto exporter = OtlpExporter::Create(&session, options, &budget);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  session.AttachSink(*std::move(exporter));

  for (uint32_t i = 0; i < 10; ++i)
    session.OfferExchange(session::PublishedEvent(ExchangeEvent(100 + i)));
  ASSERT_TRUE(WaitFor([&] { return StatusOf(session).spans_sent() == 10; }));
  const std::vector<RecordingTraceService::Call> calls = service.calls();
  ASSERT_EQ(calls.size(), 3u);  // refused, its retry, the second batch
  EXPECT_EQ(calls[0].spans, 5u);
  EXPECT_EQ(calls[1].spans, 5u);
  EXPECT_EQ(calls[2].spans, 5u);
  // The retry waited what the server asked for, not the exporter's own first backoff.
  EXPECT_GE(calls[1].at - calls[0].at, absl::Milliseconds(400));
  const v1::ExportStatus status = StatusOf(session);
  EXPECT_EQ(status.spans_retried(), 5u);
  EXPECT_EQ(status.spans_dropped(), 0u);
  EXPECT_EQ(service.accepted(), 10u);
  session.End(v1::END_REASON_STOPPED, "", absl::Now());
}

TEST(OtlpExporterTest, NothingAnsweringKeepsTheQueueBoundedAndCountsEveryDrop) {
  // A port nothing listens on: reserve one, then close it.
  int port = 0;
  {
    RecordingTraceService unused(0, absl::ZeroDuration());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&unused);
    builder.BuildAndStart()->Shutdown();
  }
  session::MemoryBudget budget(64 << 20);
  session::Session session("s2", {}, Options(), absl::Now(), &budget);
  v1::ExportOptions options;
  options.set_endpoint(absl::StrCat("127.0.0.1:", port));
  options.set_max_queue_spans(6);
  options.set_max_batch_spans(3);
  options.mutable_batch_delay()->set_nanos(10'000'000);
  options.mutable_max_retry_time()->set_seconds(1);
  auto exporter = OtlpExporter::Create(&session, options, &budget);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  session.AttachSink(*std::move(exporter));

  for (uint32_t i = 0; i < 40; ++i)
    session.OfferExchange(session::PublishedEvent(ExchangeEvent(1)));
  // Every span is dropped in the end: the queue refuses what does not fit, and what was
  // queued gives up after max_retry_time.
  ASSERT_TRUE(WaitFor([&] { return StatusOf(session).spans_dropped() == 40; }))
      << StatusOf(session).DebugString();
  const v1::ExportStatus status = StatusOf(session);
  EXPECT_EQ(status.spans_sent(), 0u);
  EXPECT_EQ(status.spans_queued(), 0u);
  EXPECT_GT(status.spans_retried(), 0u);
  EXPECT_NE(status.last_error().find("UNAVAILABLE"), std::string::npos) << status.last_error();
  // The session counts them lost, and its stream says why.
  EXPECT_EQ(session.Info().counters().exchanges_lost(), 40u);
  uint64_t next = 0, reported = 0;
  for (const auto& e : session.Read(&next, 10000, absl::ZeroDuration()).events) {
    const v1::Event event = session::WithSeq(e);
    if (event.has_loss()) {
      EXPECT_EQ(event.loss().reason(), v1::LOSS_REASON_EXPORT_FAILED);
      reported += event.loss().exchanges();
    }
  }
  EXPECT_EQ(reported, 40u);
  session.End(v1::END_REASON_STOPPED, "", absl::Now());
}

TEST(OtlpExporterTest, BadOptionsSayWhatToFix) {
  session::Session session("s3", {}, Options(), absl::Now(), nullptr);
  v1::ExportOptions options;
  options.set_endpoint("ftp://collector:4317");
  EXPECT_EQ(OtlpExporter::Create(&session, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.set_endpoint("otlp://collector:99999");
  EXPECT_EQ(OtlpExporter::Create(&session, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.set_endpoint("otlp://collector:4317");
  options.set_tls_ca_pem("pem");
  EXPECT_EQ(OtlpExporter::Create(&session, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.set_endpoint("otlps://collector:4317");
  options.set_tls_cert_pem("cert");  // without its key
  EXPECT_EQ(OtlpExporter::Create(&session, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.clear_tls_cert_pem();
  (*options.mutable_headers())["Bad Name"] = "x";
  EXPECT_EQ(OtlpExporter::Create(&session, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::ExportOptions fine;
  fine.set_endpoint("collector");
  absl::StatusOr<ExporterConfig> config = ParseExportOptions(fine);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->target, "collector:4317");
  EXPECT_FALSE(config->tls);
}

}  // namespace
}  // namespace httptrace::otlp
