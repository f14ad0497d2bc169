#include "agent/session/event.h"

#include <algorithm>

#include "google/protobuf/arena.h"

namespace httptrace::session {
namespace {

// Most exchanges fit in the first block: a few dozen small messages and string objects.
constexpr size_t kFirstBlockBytes = 2048;

struct ArenaEvent {
  ArenaEvent() : arena(Options()) {}
  static google::protobuf::ArenaOptions Options() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = kFirstBlockBytes;
    return options;
  }
  google::protobuf::Arena arena;
};

}  // namespace

std::shared_ptr<v1::Event> NewEvent() {
  auto holder = std::make_shared<ArenaEvent>();
  v1::Event* event = google::protobuf::Arena::CreateMessage<v1::Event>(&holder->arena);
  // Aliasing: the pointer is the event, the ownership the arena's.
  return std::shared_ptr<v1::Event>(std::move(holder), event);
}

uint64_t HeldBytes(const v1::Event& event) {
  const google::protobuf::Arena* arena = event.GetArena();
  const uint64_t memory = arena != nullptr ? arena->SpaceAllocated() : event.SpaceUsedLong();
  return std::max<uint64_t>(memory, event.ByteSizeLong());
}

v1::Event WithSeq(const SequencedEvent& sequenced) {
  v1::Event out = *sequenced.event;
  out.set_seq(sequenced.seq);
  return out;
}

void AppendSerialized(const SequencedEvent& sequenced, std::string* out) {
  // Field 1 (seq), wire type 0 (varint): tag byte 0x08. Zero is proto3's default: omitted.
  if (sequenced.seq != 0) {
    out->push_back('\x08');
    uint64_t v = sequenced.seq;
    while (v >= 0x80) {
      out->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out->push_back(static_cast<char>(v));
  }
  sequenced.event->AppendToString(out);
}

}  // namespace httptrace::session
