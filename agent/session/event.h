// Events as sessions hold and readers send them: serialized once, as wire bytes. An exchange is
// built once into a v1::Event that the publisher reuses (no arena, no message per exchange),
// offered to every session, and serialized at most once for all the sessions that keep it whole
// (PublishedEvent::Shared); only a session that must trim a body or redact makes its own
// variant, from a copy. Holding bytes instead of message objects costs the wire size (a small
// exchange: ~400 bytes, where an arena held 2-6 KiB), and a reader sends them as they are.
//
// A session's sequence number lives beside the bytes, not in them: the serialized event's `seq`
// is 0, and a reader writes the sequence number in front of the bytes (AppendSerialized).
//
//   v1::Event event;                      // the publisher's, reused for every exchange
//   ...fill event.mutable_exchange()...
//   manager.PublishExchange(event);       // sessions filter it; at most one Serialize for all

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proto/httptrace.pb.h"

namespace httptrace::session {

// One serialized v1::Event whose seq is 0, and what kind it is (read without parsing).
struct SerializedEvent {
  v1::Event::KindCase kind = v1::Event::KIND_NOT_SET;
  std::string bytes;
};

using EventPtr = std::shared_ptr<const SerializedEvent>;

// `event` (its seq must be 0) serialized, shared from here on.
EventPtr Serialize(const v1::Event& event);

// One event of a session's stream: its sequence number there, and the (shared) bytes.
struct SequencedEvent {
  uint64_t seq = 0;
  EventPtr event;
};

// An exchange being published: the message every session filters, and its bytes, serialized
// on the first call to Shared() (none when every session skips it or makes its own variant).
// For one publish, on one thread.
class PublishedEvent {
 public:
  explicit PublishedEvent(const v1::Event& event) : event_(event) {}
  const v1::Event& event() const { return event_; }
  const EventPtr& Shared() const {
    if (shared_ == nullptr) shared_ = Serialize(event_);
    return shared_;
  }

 private:
  const v1::Event& event_;
  mutable EventPtr shared_;
};

// What holding `event` costs the memory budget: its bytes' allocation and the holder.
uint64_t HeldBytes(const SerializedEvent& event);

// The event parsed, with its seq set: the OTLP exporter, tests. Bytes that do not parse (they
// were serialized here: a bug) are logged and give what parsed.
v1::Event WithSeq(const SequencedEvent& sequenced);

// Appends the serialized v1::Event with seq = sequenced.seq to *out: field 1 first, then the
// held bytes (whose seq is 0, so not serialized). Parses like WithSeq's.
void AppendSerialized(const SequencedEvent& sequenced, std::string* out);

}  // namespace httptrace::session
