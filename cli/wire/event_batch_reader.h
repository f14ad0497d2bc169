// The ctl's reader of the event wire format: one EventBatch message, as gRPC received it (a list
// of slices), parsed straight into v1::Event objects on one arena per batch. No EventBatch
// object and no std::string per event: an event that lies within one slice is parsed where it
// lies, and only one that spans slices is first gathered into a buffer the reader reuses.
//
// The bytes come from another process (an agent, or whatever answers on its address), so every
// length is checked before it is used; a batch that does not parse gives DATA_LOSS with where and
// why, e.g. "event 17 of a batch: field 2 (exchange): length 4294967000 runs past the message's
// end (812 bytes)". The fuzz target event_batch_reader_fuzzer.cc holds it to that.
//
//   EventBatchReader reader;
//   std::vector<std::shared_ptr<const v1::Event>> events;
//   absl::Status s = reader.Read(byte_buffer, &events);  // events share the batch's arena

#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/httptrace.pb.h"

namespace httptrace::cli::wire {

class EventBatchReader {
 public:
  // Appends the batch's events to *events, in order, all on one new arena that they share (it
  // lives as long as the last of them). On error *events holds what it held before, and the
  // status is DATA_LOSS with a message that says where the batch is corrupt.
  absl::Status Read(const grpc::ByteBuffer& batch,
                    std::vector<std::shared_ptr<const v1::Event>>* events);
  // The same for a batch given as consecutive chunks (gRPC's slices; tests and the fuzzer).
  absl::Status Read(absl::Span<const absl::string_view> chunks,
                    std::vector<std::shared_ptr<const v1::Event>>* events);

 private:
  std::vector<grpc::Slice> slices_;        // the current batch's, reused
  std::vector<absl::string_view> chunks_;  // views of slices_
  std::string spanning_;                   // an event that spans slices, gathered here (reused)
};

// Why `bytes` do not parse as a `descriptor` message, as "field 2 (exchange): field 5
// (request): length 70 runs past the message's end (64 bytes)"; the wire-level walk behind
// EventBatchReader's errors, run only once protobuf's parser has refused the bytes.
std::string DescribeParseFailure(absl::string_view bytes,
                                 const google::protobuf::Descriptor& descriptor);

}  // namespace httptrace::cli::wire
