// libFuzzer target for the ctl's wire reader (EventBatchReader): the input is one EventBatch
// message as an agent, or whatever answers on its address, might send it, handed over the way
// gRPC hands it to the ctl (a ByteBuffer of slices). Checks that a batch either reads or is
// refused with DATA_LOSS and a message, leaving the caller's events as they were; that where
// the slices end changes nothing; and that every event read is a whole, serializable message.
//
// Run: bazel test //cli/wire:event_batch_reader_fuzz_test (30 s), or by hand (see BUILD.bazel).
// Input format: [u8 slice size, 0: one slice][the batch's bytes].

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "cli/wire/event_batch_reader.h"
#include "common/testing/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"

namespace {

namespace wire = httptrace::cli::wire;
using Events = std::vector<std::shared_ptr<const httptrace::v1::Event>>;

constexpr absl::string_view kPrefix = "corrupt event stream from the agent: ";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // protobuf logs each string field that is not UTF-8; the reader's status says it instead.
  static auto* silence = new google::protobuf::LogSilencer;
  (void)silence;
  if (size < 1) return 0;
  const size_t slice_size = data[0] == 0 ? size : data[0];
  const absl::string_view batch(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The batch in slices of `slice_size`, as gRPC may receive it.
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < batch.size(); at += slice_size) {
    const absl::string_view part = batch.substr(at, slice_size);
    slices.emplace_back(part.data(), part.size());
  }
  const grpc::ByteBuffer buffer(slices.data(), slices.size());

  static wire::EventBatchReader sliced_reader;  // reused, as the ctl reuses one per stream
  Events sliced(1);                             // something the caller already held
  const absl::Status sliced_status = sliced_reader.Read(buffer, &sliced);

  wire::EventBatchReader whole_reader;
  Events whole;
  const absl::Status whole_status = whole_reader.Read({batch}, &whole);

  // Where the slices end changes nothing.
  FUZZ_CHECK(sliced_status == whole_status);
  if (!whole_status.ok()) {
    FUZZ_CHECK(whole_status.code() == absl::StatusCode::kDataLoss);
    FUZZ_CHECK(absl::StartsWith(whole_status.message(), kPrefix));
    FUZZ_CHECK(whole_status.message().size() > kPrefix.size());
    FUZZ_CHECK(whole.empty());
    FUZZ_CHECK(sliced.size() == 1 && sliced[0] == nullptr);
    return 0;
  }
  FUZZ_CHECK(sliced.size() == whole.size() + 1);
  for (size_t i = 0; i < whole.size(); ++i) {
    FUZZ_CHECK(whole[i] != nullptr && sliced[i + 1] != nullptr);
    const std::string bytes = whole[i]->SerializeAsString();
    FUZZ_CHECK(bytes == sliced[i + 1]->SerializeAsString());
    // An event read is a whole message: it survives a round trip.
    httptrace::v1::Event again;
    FUZZ_CHECK(again.ParseFromString(bytes));
  }
  return 0;
}
