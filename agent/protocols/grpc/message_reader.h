// gRPC's length-prefixed messages (1 byte compressed flag, 4 bytes big-endian length, payload)
// read from one direction of a stream's DATA, however the frames split them. Keeps message bytes
// up to a budget, always counts messages and sizes, and keeps framing across bytes never seen
// when they fall inside a message payload.
//
//   MessageReader reader(/*max_kept_bytes=*/64 * 1024, /*max_kept_messages=*/256);
//   reader.Feed(data);  reader.OnMissing(n);  reader.Finish();
//   for (const MessageReader::Message& m : reader.messages()) ...

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace httptrace::protocols::grpc {

class MessageReader {
 public:
  struct Message {
    uint64_t size = 0;           // payload length from the prefix
    bool compressed = false;     // the prefix's compressed flag (grpc-encoding applies)
    std::string data;            // payload bytes kept (a prefix: budget, or bytes never seen)
    uint64_t missing_bytes = 0;  // payload bytes never seen
    bool complete = false;       // the whole payload went by (seen or missing)
  };

  MessageReader(size_t max_kept_bytes, size_t max_kept_messages)
      : max_kept_bytes_(max_kept_bytes), max_kept_messages_(max_kept_messages) {}

  void Feed(absl::string_view data);
  // `bytes` of the stream were never seen.
  void OnMissing(uint64_t bytes);
  // The direction ended: a message cut short stays !complete.
  void Finish() { finished_ = true; }

  // Messages in order, the first max_kept_messages of them.
  const std::vector<Message>& messages() const { return messages_; }
  std::vector<Message> TakeMessages() { return std::move(messages_); }
  // Messages whose prefix was read (kept or not).
  uint64_t count() const { return count_; }
  // Bytes after which framing was lost (a gap in a prefix, or an invalid flag byte): not read.
  bool framing_lost() const { return framing_lost_; }
  uint64_t unread_bytes() const { return unread_bytes_; }
  // Bytes ended in the middle of a message (after Finish).
  bool ends_mid_message() const { return finished_ && (prefix_.size() > 0 || remaining_ > 0); }
  size_t HeldBytes() const { return kept_bytes_ + messages_.capacity() * sizeof(Message); }

 private:
  Message* current();

  const size_t max_kept_bytes_;
  const size_t max_kept_messages_;
  std::vector<Message> messages_;
  std::string prefix_;      // partial 5-byte prefix
  uint64_t remaining_ = 0;  // payload bytes left in the current message
  bool current_kept_ = false;
  uint64_t count_ = 0;
  size_t kept_bytes_ = 0;
  bool framing_lost_ = false;
  uint64_t unread_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace httptrace::protocols::grpc
