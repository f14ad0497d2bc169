#include "agent/protocols/grpc/message_reader.h"

#include <algorithm>

namespace httptrace::protocols::grpc {

MessageReader::Message* MessageReader::current() {
  return current_kept_ && !messages_.empty() ? &messages_.back() : nullptr;
}

void MessageReader::Feed(absl::string_view data) {
  while (!data.empty()) {
    if (framing_lost_) {
      unread_bytes_ += data.size();
      return;
    }
    if (remaining_ == 0) {
      const size_t n = std::min(data.size(), size_t{5} - prefix_.size());
      prefix_.append(data.data(), n);
      data.remove_prefix(n);
      if (prefix_.size() < 5) return;
      const uint8_t flag = static_cast<uint8_t>(prefix_[0]);
      if (flag > 1) {
        // Not gRPC framing (or we lost our place): stop rather than invent messages.
        framing_lost_ = true;
        unread_bytes_ += prefix_.size();
        prefix_.clear();
        continue;
      }
      const uint64_t size = (static_cast<uint64_t>(static_cast<uint8_t>(prefix_[1])) << 24) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(prefix_[2])) << 16) |
                            (static_cast<uint64_t>(static_cast<uint8_t>(prefix_[3])) << 8) |
                            static_cast<uint64_t>(static_cast<uint8_t>(prefix_[4]));
      prefix_.clear();
      ++count_;
      current_kept_ = messages_.size() < max_kept_messages_;
      if (current_kept_) {
        Message m;
        m.size = size;
        m.compressed = flag == 1;
        m.complete = size == 0;
        messages_.push_back(std::move(m));
      }
      remaining_ = size;
      continue;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), remaining_));
    if (Message* m = current()) {
      const size_t keep = std::min(n, max_kept_bytes_ - kept_bytes_);
      m->data.append(data.data(), keep);
      kept_bytes_ += keep;
    }
    remaining_ -= n;
    data.remove_prefix(n);
    if (remaining_ == 0) {
      if (Message* m = current()) m->complete = true;
    }
  }
}

void MessageReader::OnMissing(uint64_t bytes) {
  if (framing_lost_) {
    unread_bytes_ += bytes;
    return;
  }
  if (remaining_ == 0 || bytes > remaining_) {
    // The gap covers a prefix: where the next message starts is unknown.
    if (remaining_ > 0) {
      if (Message* m = current()) m->missing_bytes += remaining_;
      bytes -= remaining_;
      remaining_ = 0;
    }
    framing_lost_ = true;
    unread_bytes_ += bytes + prefix_.size();
    prefix_.clear();
    return;
  }
  if (Message* m = current()) m->missing_bytes += bytes;
  remaining_ -= bytes;
  if (remaining_ == 0) {
    if (Message* m = current()) m->complete = true;
  }
}

}  // namespace httptrace::protocols::grpc
