#include "agent/protocols/http2/hpack_decoder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/protocols/http2/huffman.h"

namespace httptrace::protocols::http2 {
namespace {

struct StaticEntry {
  absl::string_view name;
  absl::string_view value;
};

// RFC 7541 Appendix A.
constexpr StaticEntry kStaticTable[] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
constexpr uint64_t kStaticEntries = sizeof(kStaticTable) / sizeof(kStaticTable[0]);
static_assert(kStaticEntries == 61);

// RFC 7541 5.1: an integer with an N-bit prefix. Bounded to 2^32 (no legitimate value is larger).
bool ReadInteger(absl::string_view& in, int prefix_bits, uint64_t* value) {
  if (in.empty()) return false;
  const uint8_t mask = static_cast<uint8_t>((1u << prefix_bits) - 1);
  uint64_t v = static_cast<uint8_t>(in[0]) & mask;
  in.remove_prefix(1);
  if (v < mask) {
    *value = v;
    return true;
  }
  int shift = 0;
  while (!in.empty()) {
    const uint8_t b = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    v += static_cast<uint64_t>(b & 0x7f) << shift;
    if (v > (1ull << 32)) return false;
    if ((b & 0x80) == 0) {
      *value = v;
      return true;
    }
    shift += 7;
    if (shift > 28) return false;
  }
  return false;
}

absl::Status ReadString(absl::string_view& in, std::string* out) {
  if (in.empty()) return absl::InvalidArgumentError("hpack: string length missing");
  const bool huffman = (static_cast<uint8_t>(in[0]) & 0x80) != 0;
  uint64_t length = 0;
  if (!ReadInteger(in, 7, &length)) return absl::InvalidArgumentError("hpack: bad string length");
  if (length > in.size()) return absl::InvalidArgumentError("hpack: string beyond the block");
  const absl::string_view raw = in.substr(0, length);
  in.remove_prefix(length);
  out->clear();
  if (!huffman) {
    out->assign(raw.data(), raw.size());
    return absl::OkStatus();
  }
  if (!HuffmanDecode(raw, out)) return absl::InvalidArgumentError("hpack: bad Huffman string");
  return absl::OkStatus();
}

}  // namespace

absl::Status HpackDecoder::Decode(absl::string_view block, std::vector<HpackHeader>* out) {
  while (!block.empty()) {
    absl::Status status = DecodeOne(block, out);
    if (!status.ok()) {
      MarkUnsynchronized();
      return status;
    }
  }
  return absl::OkStatus();
}

void HpackDecoder::MarkUnsynchronized() {
  // Entries inserted while we were not looking shift every index we know: forget them all, and
  // the capacity too (a lost block may have carried a size update).
  while (!entries_.empty()) EvictOldest();
  older_entries_unknown_ = true;
  capacity_known_ = false;
}

absl::Status HpackDecoder::DecodeOne(absl::string_view& in, std::vector<HpackHeader>* out) {
  const uint8_t first = static_cast<uint8_t>(in[0]);
  if (first & 0x80) {  // 6.1 indexed header field
    uint64_t index = 0;
    if (!ReadInteger(in, 7, &index) || index == 0) {
      return absl::InvalidArgumentError("hpack: bad index");
    }
    HpackHeader header;
    if (!Lookup(index, &header)) {
      return absl::InvalidArgumentError(absl::StrCat("hpack: index ", index, " out of range"));
    }
    out->push_back(std::move(header));
    return absl::OkStatus();
  }
  if ((first & 0xe0) == 0x20) {  // 6.3 dynamic table size update
    uint64_t size = 0;
    if (!ReadInteger(in, 5, &size)) return absl::InvalidArgumentError("hpack: bad size update");
    SetCapacity(size);
    return absl::OkStatus();
  }
  // 6.2 literal: with incremental indexing (01), without indexing (0000), never indexed (0001).
  const bool indexing = (first & 0xc0) == 0x40;
  const int prefix = indexing ? 6 : 4;
  HpackHeader header;
  header.never_indexed = !indexing && (first & 0xf0) == 0x10;
  uint64_t name_index = 0;
  if (!ReadInteger(in, prefix, &name_index)) {
    return absl::InvalidArgumentError("hpack: bad name index");
  }
  if (name_index == 0) {
    absl::Status s = ReadString(in, &header.name);
    if (!s.ok()) return s;
  } else {
    HpackHeader named;
    if (!Lookup(name_index, &named)) {
      return absl::InvalidArgumentError(absl::StrCat("hpack: index ", name_index, " out of range"));
    }
    header.name = std::move(named.name);
    header.name_known = named.name_known;
    header.name_serial = named.name_serial;
  }
  absl::Status s = ReadString(in, &header.value);
  if (!s.ok()) return s;
  if (indexing) {
    Insert(Entry{header.name, header.value, header.name_known, header.value_known,
                 header.name_serial});
  }
  out->push_back(std::move(header));
  return absl::OkStatus();
}

bool HpackDecoder::Lookup(uint64_t index, HpackHeader* header) {
  if (index <= kStaticEntries) {
    const StaticEntry& e = kStaticTable[index - 1];
    header->name.assign(e.name.data(), e.name.size());
    header->value.assign(e.value.data(), e.value.size());
    return true;
  }
  const uint64_t d = index - kStaticEntries - 1;
  if (d < entries_.size()) {
    const Entry& e = entries_[d];
    header->name = e.name;
    header->value = e.value;
    header->name_known = e.name_known;
    header->value_known = e.value_known;
    header->name_serial = e.name_serial;
    header->value_serial = e.value_serial;
    if (!e.name_known || !e.value_known) ++placeholders_;
    return true;
  }
  if (!older_entries_unknown_) return false;
  // An entry the encoder inserted before we could see it: say so, never guess.
  header->name.assign(kUnknownHeaderName.data(), kUnknownHeaderName.size());
  header->value.clear();
  header->name_known = false;
  header->value_known = false;
  ++placeholders_;
  return true;
}

void HpackDecoder::Insert(Entry entry) {
  entry.value_serial = ++insertions_;
  if (entry.name_serial == 0) entry.name_serial = entry.value_serial;
  // An entry whose name came from an unknown entry has an unknown size: entry.size() is then a
  // lower bound, and evictions can no longer be worked out exactly.
  const size_t size = entry.size();
  if (capacity_known_) {
    if (size > capacity_) {
      // RFC 7541 4.4: an entry larger than the table empties it (and is not inserted).
      // Everything, including what we never saw, is gone.
      while (!entries_.empty()) EvictOldest();
      older_entries_unknown_ = false;
      return;
    }
    // The encoder evicts the oldest entries first: if even our known ones must go, every
    // unknown (older) entry is gone already. With entries of unknown size we cannot tell which
    // ones went; keeping one the encoder dropped is harmless (it is never referenced again and
    // indices count from the newest), dropping one it kept is not.
    if (table_size_ + size > capacity_ && unknown_size_entries_ == 0 && entry.name_known) {
      older_entries_unknown_ = false;
      while (table_size_ + size > capacity_) EvictOldest();
    }
  }
  held_bytes_ += entry.name.size() + entry.value.size() + sizeof(Entry);
  table_size_ += size;
  if (!entry.name_known) ++unknown_size_entries_;
  entries_.push_front(std::move(entry));
  // Our own bounds: entries dropped here may still be in the encoder's table (placeholders
  // from now on, never errors).
  const size_t bound =
      capacity_known_ ? max_kept_table_bytes_ : std::min(max_kept_table_bytes_, max_capacity_);
  while (table_size_ > bound && !entries_.empty()) {
    EvictOldest();
    older_entries_unknown_ = true;
  }
}

void HpackDecoder::SetCapacity(size_t capacity) {
  capacity_ = capacity;
  capacity_known_ = true;
  if (capacity_ == 0) {
    while (!entries_.empty()) EvictOldest();
    older_entries_unknown_ = false;
    return;
  }
  if (unknown_size_entries_ > 0) return;  // see Insert: cannot tell what the encoder evicted
  if (table_size_ > capacity_) older_entries_unknown_ = false;
  while (table_size_ > capacity_) EvictOldest();
}

void HpackDecoder::EvictOldest() {
  const Entry& e = entries_.back();
  if (!e.name_known) --unknown_size_entries_;
  table_size_ -= e.size();
  held_bytes_ -= e.name.size() + e.value.size() + sizeof(Entry);
  entries_.pop_back();
}

}  // namespace httptrace::protocols::http2
