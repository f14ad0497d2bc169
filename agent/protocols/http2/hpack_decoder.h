// HPACK (RFC 7541) header block decoder for one direction of an HTTP/2 connection, built for a
// tracer that may join a connection mid-way: "exact or explicit, never invented".
//
// From the connection's start the decoder is exact. After MarkUnsynchronized() (a late join, or
// a header block that was lost or could not be decoded) the entries inserted before that point
// are unknown: dynamic-table indices count from the newest entry, so every reference to an entry
// inserted since is still decoded exactly, and a reference to an older one yields a placeholder
// (HpackHeader::name_known / value_known false, name kUnknownHeaderName) instead of a guess.
// Once the encoder must have evicted every unknown entry (a table size update to 0, or an
// insertion that evicts known entries), the decoder is exact again.
//
//   HpackDecoder decoder;
//   std::vector<HpackHeader> headers;
//   absl::Status s = decoder.Decode(block, &headers);

#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace httptrace::protocols::http2 {

// Name given to a header whose name was in a dynamic-table entry inserted before the capture.
inline constexpr absl::string_view kUnknownHeaderName = "(indexed before capture)";

struct HpackHeader {
  std::string name;
  std::string value;
  bool name_known = true;   // false: name is kUnknownHeaderName, a placeholder
  bool value_known = true;  // false: value is empty, a placeholder
  bool never_indexed = false;
  // For tests and diagnostics: which insertion into this decoder's dynamic table (1-based,
  // counted since it was created) the name and the value were first read from; 0 for static
  // and literal ones. A name copied into a new entry keeps the serial of where it came from.
  uint64_t name_serial = 0;
  uint64_t value_serial = 0;
};

class HpackDecoder {
 public:
  // RFC 7540 SETTINGS_HEADER_TABLE_SIZE default.
  static constexpr size_t kDefaultTableCapacity = 4096;

  // `max_kept_table_bytes` bounds the memory of the dynamic table copy (HPACK entry sizes, 32
  // bytes of overhead each): an encoder allowed a larger table than this loses its oldest
  // entries here first, and references to them become placeholders.
  explicit HpackDecoder(size_t max_kept_table_bytes = 64 * 1024)
      : max_kept_table_bytes_(max_kept_table_bytes) {}

  // Decodes one complete header block (HEADERS or PUSH_PROMISE fragment plus CONTINUATIONs),
  // appending to `out`. On an error (malformed block) the headers decoded so far are in `out`
  // and the decoder marks itself unsynchronized: the rest of the block may have changed the
  // table.
  absl::Status Decode(absl::string_view block, std::vector<HpackHeader>* out);

  // Entries the encoder inserted so far are unknown from now on (late join, lost block): the
  // known ones are forgotten too, since unseen insertions shifted their indices.
  void MarkUnsynchronized();

  // The SETTINGS_HEADER_TABLE_SIZE this direction's receiver announced: the encoder's table is
  // never larger. While the capacity is unknown (joined mid-way) the decoder keeps only this
  // much of the newest entries (kDefaultTableCapacity until announced), so a joined
  // connection costs what a real peer's table does; references beyond become placeholders.
  void SetMaxCapacity(size_t max_capacity) { max_capacity_ = max_capacity; }

  // No unknown entry can be referenced: every index is decoded exactly.
  bool synchronized() const { return !older_entries_unknown_; }
  // The encoder's table capacity is known (from the start, or a size update since the join).
  bool capacity_known() const { return capacity_known_; }
  size_t capacity() const { return capacity_; }
  // Entries known and their HPACK size (what the encoder's table holds of them).
  size_t known_entries() const { return entries_.size(); }
  size_t table_size() const { return table_size_; }
  // Bytes held (entry strings plus overhead), for memory accounting.
  size_t HeldBytes() const { return held_bytes_; }
  // Placeholders produced so far (references to unknown entries).
  uint64_t placeholders() const { return placeholders_; }
  // Entries inserted since this decoder was created (the serial of the newest).
  uint64_t insertions() const { return insertions_; }

 private:
  struct Entry {
    std::string name;
    std::string value;
    bool name_known = true;
    bool value_known = true;
    uint64_t name_serial = 0;  // see HpackHeader
    uint64_t value_serial = 0;
    // HPACK size; a lower bound (the name's length unknown) when !name_known.
    size_t size() const { return (name_known ? name.size() : 0) + value.size() + 32; }
  };

  absl::Status DecodeOne(absl::string_view& in, std::vector<HpackHeader>* out);
  // Looks up index (1-based, static then dynamic). False when out of range.
  bool Lookup(uint64_t index, HpackHeader* header);
  void Insert(Entry entry);
  void SetCapacity(size_t capacity);
  void EvictOldest();

  const size_t max_kept_table_bytes_;
  std::deque<Entry> entries_;  // newest first
  size_t table_size_ = 0;      // HPACK size of entries_
  size_t held_bytes_ = 0;
  size_t capacity_ = kDefaultTableCapacity;
  size_t max_capacity_ = kDefaultTableCapacity;
  bool capacity_known_ = true;
  bool older_entries_unknown_ = false;
  uint64_t placeholders_ = 0;
  uint64_t insertions_ = 0;
  size_t unknown_size_entries_ = 0;  // entries with !name_known
};

}  // namespace httptrace::protocols::http2
