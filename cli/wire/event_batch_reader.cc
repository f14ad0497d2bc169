#include "cli/wire/event_batch_reader.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/common.h"

namespace httptrace::cli::wire {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// protobuf's own limits, so that what the parser refuses is explained in its terms.
constexpr size_t kMaxVarintBytes = 10;
constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;
constexpr int kMaxNesting = 100;  // protobuf's default recursion limit

enum class Varint { kOk, kCutShort, kTooLong };

// Reads a varint of `bytes` at *pos, advancing it.
Varint ReadVarint(absl::string_view bytes, size_t* pos, uint64_t* value) {
  *value = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (*pos >= bytes.size()) return Varint::kCutShort;
    const auto byte = static_cast<uint8_t>(bytes[(*pos)++]);
    *value |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80u) == 0) return Varint::kOk;
  }
  return Varint::kTooLong;
}

std::string VarintFault(Varint result, absl::string_view what, size_t message_size) {
  return result == Varint::kCutShort
             ? absl::StrCat(what, " runs past the message's end (", message_size, " bytes)")
             : absl::StrCat(what, " is longer than ", kMaxVarintBytes, " bytes");
}

std::string FieldName(uint64_t number, const FieldDescriptor* field) {
  return field == nullptr ? absl::StrCat("field ", number)
                          : absl::StrCat("field ", number, " (", field->name(), ")");
}

bool IsVarintType(const FieldDescriptor& field) {
  switch (field.type()) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_BOOL:
    case FieldDescriptor::TYPE_ENUM:
      return true;
    default:
      return false;
  }
}

// The first wire-level fault of `bytes` as a `descriptor` message; empty when there is none.
std::string Describe(absl::string_view bytes, const Descriptor& descriptor, int depth) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t field_start = pos;
    uint64_t tag = 0;
    if (Varint r = ReadVarint(bytes, &pos, &tag); r != Varint::kOk) {
      return VarintFault(r, absl::StrCat("at byte ", field_start, ": a field's tag"), bytes.size());
    }
    const uint64_t number = tag >> 3;
    if (number == 0 || number > kMaxFieldNumber) {
      return absl::StrCat("at byte ", field_start, ": field number ", number, " is not valid");
    }
    const FieldDescriptor* field = descriptor.FindFieldByNumber(static_cast<int>(number));
    const std::string name = FieldName(number, field);
    switch (tag & 7) {
      case 0: {  // varint
        uint64_t value = 0;
        if (Varint r = ReadVarint(bytes, &pos, &value); r != Varint::kOk) {
          return VarintFault(r, absl::StrCat(name, ": its varint"), bytes.size());
        }
        break;
      }
      case 1:    // 64-bit
      case 5: {  // 32-bit
        const size_t width = (tag & 7) == 1 ? 8 : 4;
        if (bytes.size() - pos < width) {
          return absl::StrCat(name, ": its ", width, " bytes run past the message's end (",
                              bytes.size(), " bytes)");
        }
        pos += width;
        break;
      }
      case 2: {  // length-delimited
        uint64_t length = 0;
        if (Varint r = ReadVarint(bytes, &pos, &length); r != Varint::kOk) {
          return VarintFault(r, absl::StrCat(name, ": its length"), bytes.size());
        }
        if (length > bytes.size() - pos) {
          return absl::StrCat(name, ": length ", length, " runs past the message's end (",
                              bytes.size(), " bytes)");
        }
        const absl::string_view value = bytes.substr(pos, length);
        pos += length;
        if (field == nullptr) break;  // unknown fields are kept, not parsed
        if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
          if (depth + 1 >= kMaxNesting) {
            return absl::StrCat(name, ": messages nested more than ", kMaxNesting, " deep");
          }
          std::string inner = Describe(value, *field->message_type(), depth + 1);
          if (!inner.empty()) return absl::StrCat(name, ": ", inner);
        } else if (field->type() == FieldDescriptor::TYPE_STRING &&
                   !google::protobuf::internal::IsStructurallyValidUTF8(
                       value.data(), static_cast<int>(value.size()))) {
          return absl::StrCat(name, ": a string that is not valid UTF-8");
        } else if (field->is_repeated() && IsVarintType(*field)) {  // packed
          for (size_t p = 0; p < value.size();) {
            uint64_t element = 0;
            if (Varint r = ReadVarint(value, &p, &element); r != Varint::kOk) {
              return VarintFault(r, absl::StrCat(name, ": a packed varint"), value.size());
            }
          }
        }
        break;
      }
      case 3:
      case 4:
        return absl::StrCat(name, ": wire type ", tag & 7, " (group) is not used by this API");
      default:
        return absl::StrCat(name, ": wire type ", tag & 7, " is not valid");
    }
  }
  return "";
}

// Reads the chunks of one message in order, as if they were one array.
class ChunkCursor {
 public:
  explicit ChunkCursor(absl::Span<const absl::string_view> chunks) : chunks_(chunks) {
    for (absl::string_view chunk : chunks) total_ += chunk.size();
    SkipEmptyChunks();
  }
  size_t total() const { return total_; }
  size_t position() const { return position_; }
  size_t remaining() const { return total_ - position_; }

  Varint ReadVarint(uint64_t* value) {
    *value = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (remaining() == 0) return Varint::kCutShort;
      const auto byte = static_cast<uint8_t>(chunks_[chunk_][offset_]);
      Advance(1);
      *value |= uint64_t{byte & 0x7fu} << (7 * i);
      if ((byte & 0x80u) == 0) return Varint::kOk;
    }
    return Varint::kTooLong;
  }

  // The next `n` (<= remaining()) bytes: where they lie when one chunk holds them all, else
  // gathered into *gather.
  absl::string_view Take(size_t n, std::string* gather) {
    if (n == 0) return {};
    const absl::string_view chunk = chunks_[chunk_];
    if (chunk.size() - offset_ >= n) {
      const absl::string_view out = chunk.substr(offset_, n);
      Advance(n);
      return out;
    }
    gather->clear();
    gather->reserve(n);
    while (gather->size() < n) {
      const absl::string_view part = chunks_[chunk_].substr(
          offset_, std::min(n - gather->size(), chunks_[chunk_].size() - offset_));
      gather->append(part.data(), part.size());
      Advance(part.size());
    }
    return *gather;
  }

  void Skip(size_t n) { Advance(n); }  // n <= remaining()

 private:
  void Advance(size_t n) {
    position_ += n;
    while (n > 0) {
      const size_t step = std::min(n, chunks_[chunk_].size() - offset_);
      offset_ += step;
      n -= step;
      SkipEmptyChunks();
    }
  }
  void SkipEmptyChunks() {
    while (chunk_ < chunks_.size() && offset_ == chunks_[chunk_].size()) {
      ++chunk_;
      offset_ = 0;
    }
  }

  absl::Span<const absl::string_view> chunks_;
  size_t total_ = 0;
  size_t chunk_ = 0;   // chunks_[chunk_] holds the next byte, unless all are read
  size_t offset_ = 0;  // in chunks_[chunk_]
  size_t position_ = 0;
};

absl::Status Corrupt(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("corrupt event stream from the agent: ", why));
}

}  // namespace

std::string DescribeParseFailure(absl::string_view bytes, const Descriptor& descriptor) {
  std::string fault = Describe(bytes, descriptor, 0);
  if (!fault.empty()) return fault;
  return absl::StrCat("does not parse as ", descriptor.full_name(), " (", bytes.size(),
                      " bytes, every length within bounds)");
}

absl::Status EventBatchReader::Read(const grpc::ByteBuffer& batch,
                                    std::vector<std::shared_ptr<const v1::Event>>* events) {
  slices_.clear();
  chunks_.clear();
  if (grpc::Status s = batch.Dump(&slices_); !s.ok()) {
    return Corrupt(
        absl::StrCat("a batch could not be read from gRPC's buffer: ", s.error_message()));
  }
  for (const grpc::Slice& slice : slices_) {
    chunks_.emplace_back(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  absl::Status status = Read(chunks_, events);
  // The events hold copies: the slices (the received message) can go now.
  chunks_.clear();
  slices_.clear();
  return status;
}

absl::Status EventBatchReader::Read(absl::Span<const absl::string_view> chunks,
                                    std::vector<std::shared_ptr<const v1::Event>>* events) {
  ChunkCursor in(chunks);
  const size_t held = events->size();
  auto fail = [&](absl::string_view why) {
    events->resize(held);
    return Corrupt(why);
  };
  // One arena per batch, its first block about the batch's size (parsed objects take more; the
  // arena grows by blocks of at most 256 KiB, and long strings live on the heap).
  google::protobuf::ArenaOptions options;
  options.start_block_size = std::clamp<size_t>(in.total(), 4096, 256 << 10);
  options.max_block_size = 256 << 10;
  std::shared_ptr<google::protobuf::Arena> arena;
  const std::string batch_name = absl::StrCat("a batch of ", in.total(), " bytes");
  size_t index = 0;  // of the event being read, from 1
  while (in.remaining() > 0) {
    const size_t field_start = in.position();
    uint64_t tag = 0;
    if (Varint r = in.ReadVarint(&tag); r != Varint::kOk) {
      return fail(VarintFault(r, absl::StrCat(batch_name, ": at byte ", field_start, ": a tag"),
                              in.total()));
    }
    const uint64_t number = tag >> 3;
    const uint64_t wire_type = tag & 7;
    if (number == 0 || number > kMaxFieldNumber) {
      return fail(absl::StrCat(batch_name, ": at byte ", field_start, ": field number ", number,
                               " is not valid"));
    }
    if (number == 1) {
      ++index;
      if (wire_type != 2) {
        return fail(absl::StrCat("event ", index, " of ", batch_name,
                                 ": field 1 (events) has wire type ", wire_type,
                                 ", not 2 (length-delimited)"));
      }
      uint64_t length = 0;
      if (Varint r = in.ReadVarint(&length); r != Varint::kOk) {
        return fail(VarintFault(
            r, absl::StrCat("event ", index, " of ", batch_name, ": its length"), in.total()));
      }
      if (length > in.remaining() || length > std::numeric_limits<int>::max()) {
        return fail(absl::StrCat("event ", index, " of ", batch_name, ": length ", length,
                                 " runs past the batch's end (", in.remaining(), " bytes left)"));
      }
      const absl::string_view bytes = in.Take(length, &spanning_);
      if (arena == nullptr) arena = std::make_shared<google::protobuf::Arena>(options);
      auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(arena.get());
      if (!event->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return fail(absl::StrCat("event ", index, " of ", batch_name, ": ",
                                 DescribeParseFailure(bytes, *v1::Event::descriptor())));
      }
      events->emplace_back(arena, event);  // shares the arena's lifetime
      continue;
    }
    // A field a newer agent may send: skipped, if it is well formed.
    const std::string name = absl::StrCat(batch_name, ": field ", number);
    switch (wire_type) {
      case 0: {
        uint64_t value = 0;
        if (Varint r = in.ReadVarint(&value); r != Varint::kOk) {
          return fail(VarintFault(r, absl::StrCat(name, ": its varint"), in.total()));
        }
        break;
      }
      case 1:
      case 5:
      case 2: {
        uint64_t length = wire_type == 1 ? 8 : 4;
        if (wire_type == 2) {
          if (Varint r = in.ReadVarint(&length); r != Varint::kOk) {
            return fail(VarintFault(r, absl::StrCat(name, ": its length"), in.total()));
          }
        }
        if (length > in.remaining()) {
          return fail(absl::StrCat(name, ": length ", length, " runs past the batch's end (",
                                   in.remaining(), " bytes left)"));
        }
        in.Skip(length);
        break;
      }
      default:
        return fail(absl::StrCat(name, ": wire type ", wire_type, " is not valid here"));
    }
  }
  return absl::OkStatus();
}

}  // namespace httptrace::cli::wire
