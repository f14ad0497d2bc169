#include "agent/session/event.h"

#include "common/log.h"

namespace httptrace::session {

EventPtr Serialize(const v1::Event& event) {
  auto out = std::make_shared<SerializedEvent>();
  out->kind = event.kind_case();
  event.SerializeToString(&out->bytes);
  return out;
}

uint64_t HeldBytes(const SerializedEvent& event) {
  // The control block of make_shared and the string's heap buffer (none when it fits inline).
  return sizeof(SerializedEvent) + 2 * sizeof(void*) + event.bytes.capacity();
}

v1::Event WithSeq(const SequencedEvent& sequenced) {
  v1::Event out;
  if (!out.ParseFromString(sequenced.event->bytes)) {
    HT_LOG(ERROR) << "a held event does not parse (" << sequenced.event->bytes.size() << " bytes)";
  }
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
  out->append(sequenced.event->bytes);
}

}  // namespace httptrace::session
