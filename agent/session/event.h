// Events as sessions hold and readers send them. An exchange is built once, on its own protobuf
// arena (a few block allocations instead of one per header and string object), and shared
// unmodified by every session that keeps it whole and by every reader; only a session that must
// trim a body or redact a header makes its own variant. A session's sequence number therefore
// lives beside the event, not in it: the shared event's `seq` is 0, and a reader writes the
// sequence number in front of the event's bytes when it serializes (AppendSerialized).
//
//   std::shared_ptr<v1::Event> event = NewEvent();   // fill event->mutable_exchange(), then
//   manager.PublishExchange(std::move(event));      // share it: const from here on

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proto/httptrace.pb.h"

namespace httptrace::session {

using EventPtr = std::shared_ptr<const v1::Event>;

// An empty event on an arena of its own, freed with the last reference.
std::shared_ptr<v1::Event> NewEvent();

// One event of a session's stream: its sequence number there, and the (shared) event.
struct SequencedEvent {
  uint64_t seq = 0;
  EventPtr event;
};

// What holding `event` costs: the blocks of its arena (or its heap objects), and at least its
// serialized size. The memory budget charges this, not the wire size alone: a small exchange
// held 2-6 KiB of arena for 400 serialized bytes (test/stress: 4096 queued events, 1.7 MB
// charged, 27 MB of RSS).
uint64_t HeldBytes(const v1::Event& event);

// The event as one message with its seq set: a copy (StreamEvents, tests).
v1::Event WithSeq(const SequencedEvent& sequenced);

// Appends the serialized v1::Event with seq = sequenced.seq to *out: field 1 first, then the
// shared event's own fields (whose seq is 0, so not serialized). Parses like WithSeq's.
void AppendSerialized(const SequencedEvent& sequenced, std::string* out);

}  // namespace httptrace::session
