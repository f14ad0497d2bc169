// Start-line recognition for resynchronisation; see message_start.h.

#include "agent/protocols/http1/message_start.h"

#include <array>
#include <cstring>

#include "agent/protocols/http1/http1_methods.h"

namespace httptrace::protocols::http1 {
namespace {

enum class Match { kNo, kPartial, kYes };

// methods.txt: the kernel classifier (bpf/) accepts the same list.
constexpr const char* kMethods[] = {
#define HT_METHOD_NAME(name) name,
    HT_HTTP1_METHODS(HT_METHOD_NAME)
#undef HT_METHOD_NAME
};

struct FirstByteTable {
  std::array<bool, 256> request{};
  FirstByteTable() {
    for (const char* m : kMethods) request[static_cast<unsigned char>(m[0])] = true;
  }
};

const FirstByteTable& Table() {
  static const FirstByteTable table;
  return table;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Matches "HTTP/d.d" at data[i..]; advances i. Any digits, as libhttp-parser takes them: peers
// send HTTP/1.0 and 1.1, and llhttp also reads request lines of 0.9 and 2.0.
Match MatchVersion(absl::string_view data, size_t& i) {
  static constexpr absl::string_view kPrefix = "HTTP/d.d";
  for (size_t k = 0; k < kPrefix.size(); ++k, ++i) {
    if (i >= data.size()) return Match::kPartial;
    if (kPrefix[k] == 'd' ? !IsDigit(data[i]) : data[i] != kPrefix[k]) return Match::kNo;
  }
  return Match::kYes;
}

// Matches an optional CR then LF at data[i..].
Match MatchLineEnd(absl::string_view data, size_t i) {
  if (i >= data.size()) return Match::kPartial;
  if (data[i] == '\r') {
    ++i;
    if (i >= data.size()) return Match::kPartial;
  }
  return data[i] == '\n' ? Match::kYes : Match::kNo;
}

Match MatchRequestLine(absl::string_view data, size_t max_line) {
  // Method: one of the known names followed by SP.
  size_t i = 0;
  while (i < data.size() && data[i] != ' ') {
    char c = data[i];
    if (!((c >= 'A' && c <= 'Z') || c == '-') || i >= HT_HTTP1_METHOD_MAX_LEN) {
      return Match::kNo;
    }
    ++i;
  }
  absl::string_view method = data.substr(0, i);
  bool prefix_of_known = false;
  bool known = false;
  for (const char* m : kMethods) {
    size_t len = std::strlen(m);
    if (len >= method.size() && absl::string_view(m, method.size()) == method) {
      prefix_of_known = true;
      if (len == method.size()) known = true;
    }
  }
  if (i >= data.size()) return prefix_of_known ? Match::kPartial : Match::kNo;
  if (!known) return Match::kNo;
  ++i;  // SP
  // Target: visible characters up to SP.
  size_t target_start = i;
  while (i < data.size() && data[i] != ' ') {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c <= 0x20 || c == 0x7f || i > max_line) return Match::kNo;
    ++i;
  }
  if (i >= data.size()) return Match::kPartial;
  if (i == target_start) return Match::kNo;
  ++i;  // SP
  Match version = MatchVersion(data, i);
  if (version != Match::kYes) return version;
  return MatchLineEnd(data, i);
}

Match MatchStatusLine(absl::string_view data, size_t max_line) {
  size_t i = 0;
  Match version = MatchVersion(data, i);
  if (version != Match::kYes) return version;
  if (i >= data.size()) return Match::kPartial;
  if (data[i++] != ' ') return Match::kNo;
  for (int k = 0; k < 3; ++k, ++i) {
    if (i >= data.size()) return Match::kPartial;
    if (!IsDigit(data[i])) return Match::kNo;
  }
  if (i >= data.size()) return Match::kPartial;
  if (data[i] == ' ') {
    // Reason phrase: anything but CR/LF and other controls except HTAB.
    ++i;
    while (i < data.size() && data[i] != '\r' && data[i] != '\n') {
      unsigned char c = static_cast<unsigned char>(data[i]);
      if ((c < 0x20 && c != '\t') || c == 0x7f || i > max_line) return Match::kNo;
      ++i;
    }
  }
  return MatchLineEnd(data, i);
}

}  // namespace

StartScan FindMessageStart(absl::string_view data, bool want_request, bool want_response,
                           size_t max_line) {
  const FirstByteTable& table = Table();
  StartScan scan;
  for (size_t i = 0; i < data.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    bool maybe_response = want_response && c == 'H';
    bool maybe_request = want_request && table.request[c];
    if (!maybe_response && !maybe_request) continue;
    absl::string_view rest = data.substr(i);
    Match m = Match::kNo;
    if (maybe_response) {
      m = MatchStatusLine(rest, max_line);
      if (m == Match::kYes) {
        scan.found = true;
        scan.offset = i;
        scan.kind = StartKind::kResponse;
        return scan;
      }
    }
    if (maybe_request) {
      Match r = MatchRequestLine(rest, max_line);
      if (r == Match::kYes) {
        scan.found = true;
        scan.offset = i;
        scan.kind = StartKind::kRequest;
        return scan;
      }
      if (r == Match::kPartial) m = Match::kPartial;
    }
    // A candidate that runs to the end of the data: nothing after it can be complete (no LF
    // follows), so keep from here unless the line is already too long to be a start line.
    if (m == Match::kPartial) {
      if (data.size() - i > max_line) continue;
      scan.keep_from = i;
      return scan;
    }
  }
  scan.keep_from = data.size();
  return scan;
}

}  // namespace httptrace::protocols::http1
