// libFuzzer target for the API's request validation: the input is a StartCaptureRequest as a
// client would send it (protobuf wire bytes: any field, any size, repeated fields of any length,
// unknown fields), then a v1::Exchange and a resume point. Runs what StartCapture runs
// (SessionManager::Start: ValidateFilter, the options' checks, the kernel filter union) against
// a recording CaptureControl, publishes the exchange, resumes a reader, and stops the session.
// Checks that a request is accepted only when its filter validates, that the union handed to the
// kernel never holds more values than the limit allows, and that nothing it accepts breaks
// matching, queueing or resuming.
//
// Run: bazel test //agent/session:start_capture_fuzz_test (30 s), or by hand (see BUILD.bazel).
// Input format: [u16 little-endian request size][request][u16 exchange size][exchange][u64 seq].

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/session/filter.h"
#include "agent/session/session_manager.h"
#include "common/testing/fuzz_check.h"
#include "proto/httptrace.pb.h"

namespace {

namespace session = httptrace::session;
namespace v1 = httptrace::v1;

class RecordingControl final : public session::CaptureControl {
 public:
  absl::Status ApplyFilters(const std::vector<v1::Filter>& filters, uint32_t) override {
    for (const v1::Filter& f : filters) {
      // ValidateFilter's bound: nothing larger reaches the kernel's maps.
      FUZZ_CHECK(f.pids_size() <= 256 && f.ports_size() <= 256 && f.local_ports_size() <= 256 &&
                 f.remote_ports_size() <= 256 && f.containers_size() <= 256);
    }
    applied = filters.size();
    return absl::OkStatus();
  }
  void Flush() override {}
  size_t applied = 0;
};

absl::string_view Take(const uint8_t*& data, size_t& size) {
  if (size < 2) return {};
  size_t n = data[0] | (static_cast<size_t>(data[1]) << 8);
  data += 2, size -= 2;
  n = std::min(n, size);
  absl::string_view out(reinterpret_cast<const char*>(data), n);
  data += n, size -= n;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view request_bytes = Take(data, size);
  const absl::string_view exchange_bytes = Take(data, size);
  uint64_t from_seq = 0;
  std::memcpy(&from_seq, data, std::min<size_t>(size, sizeof(from_seq)));

  v1::StartCaptureRequest request;
  if (!request.ParseFromArray(request_bytes.data(), static_cast<int>(request_bytes.size()))) {
    return 0;  // gRPC refuses what does not parse before the service sees it
  }
  v1::Exchange exchange;
  if (!exchange.ParseFromArray(exchange_bytes.data(), static_cast<int>(exchange_bytes.size()))) {
    exchange.Clear();
  }
  const bool valid = session::ValidateFilter(request.filter()).ok();
  (void)session::MatchesFilter(request.filter(), exchange);
  (void)session::MayMatchConnection(request.filter(), exchange);

  RecordingControl control;
  session::SessionManagerOptions options;
  options.max_sessions = 2;
  options.memory_budget_bytes = 1 << 20;
  session::SessionManager manager(options, &control);
  absl::StatusOr<v1::SessionInfo> started = manager.Start(request);
  FUZZ_CHECK(!started.ok() || valid);
  if (!started.ok()) {
    FUZZ_CHECK(!started.status().message().empty());  // the client is told why
    return 0;
  }
  FUZZ_CHECK(control.applied == 1);
  FUZZ_CHECK(!started->id().empty());
  manager.PublishExchange(exchange);
  v1::Loss loss;
  loss.set_exchanges(1);
  manager.PublishLoss(loss, &exchange);
  absl::StatusOr<std::shared_ptr<session::Session>> found = manager.Find(started->id());
  FUZZ_CHECK(found.ok());
  const absl::Status resume = (*found)->CheckResumePoint(from_seq);
  if (resume.ok()) {
    uint64_t next = from_seq;
    session::Session::ReadResult read = (*found)->Read(&next, 16, absl::ZeroDuration());
    FUZZ_CHECK(read.events.size() <= 16);
  }
  absl::StatusOr<v1::SessionInfo> stopped = manager.Stop(started->id());
  FUZZ_CHECK(stopped.ok());
  FUZZ_CHECK(manager.memory_budget().used() <= manager.memory_budget().limit() ||
             manager.memory_budget().limit() == 0);
  return 0;
}
