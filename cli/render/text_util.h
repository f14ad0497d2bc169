// Small text helpers the renderers share: UTF-8 sequences, endpoints, times without a time-zone
// lookup per event, and display names of enum values.

#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/httptrace.pb.h"

namespace httptrace::render {

// The UTF-8 sequence at the start of `bytes` (which is not empty and starts with a byte >= 0x80):
// its length when it is well-formed (no overlongs, no surrogates, nothing past U+10FFFF), else
// minus the length of its maximal ill-formed subpart (Unicode 15, §3.9 "U+FFFD substitution of
// maximal subparts"), so a caller that replaces each such subpart with one U+FFFD does what
// browsers and Python do.
int Utf8Sequence(absl::string_view bytes);

// Bytes a format copies as they are (`plain[c]`): everything else is an ASCII byte to escape or
// the start of a multi-byte UTF-8 sequence.
using PlainBytes = std::array<bool, 256>;

// The first position from `i` on where an 8-byte word of `data` (ending by `n`) holds a byte
// outside printable ASCII (0x20..0x7e) or equal to `a` or `b`; the words before it are skipped
// whole (SWAR: a handful of integer operations per 8 bytes). Inexact at the stop (the caller
// goes on byte by byte from there), never past a byte that is not plain.
inline size_t SkipPrintableWords(const char* data, size_t i, size_t n, char a, char b) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const uint64_t repeat_a = kOnes * static_cast<unsigned char>(a);
  const uint64_t repeat_b = kOnes * static_cast<unsigned char>(b);
  while (i + 8 <= n) {
    uint64_t w;
    __builtin_memcpy(&w, data + i, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;
    const uint64_t above_tilde = ((w + kOnes * (0x7f - 0x7e)) | w) & kHigh;  // 0x7f and up
    if (below_space | above_tilde | has_zero(w ^ repeat_a) | has_zero(w ^ repeat_b)) break;
    i += 8;
  }
  return i;
}

// Whether every printable ASCII byte but `a` and `b` is plain: SkipPrintableWords(a, b) may then
// skip over runs of `plain` bytes.
constexpr bool PrintableIsPlainBut(const PlainBytes& plain, char a, char b) {
  for (int c = 0x20; c < 0x7f; ++c) {
    if (c != a && c != b && !plain[c]) return false;
  }
  return true;
}

// Appends `text` to `out`, copying runs of plain bytes at once (per-byte appends were the ctl's
// hottest code; then the per-byte scan was: words of printable bytes are skipped 8 at a time):
// `escape(out, c)` for each other ASCII byte, valid multi-byte UTF-8 sequences as they are, and
// `invalid(out, bytes)` for each ill-formed sequence (its maximal subpart). `a` and `b` are the
// printable bytes that are not plain (PrintableIsPlainBut(plain, a, b) must hold; repeat one
// when there is only one, use 0x7f when there is none).
template <typename Escape, typename Invalid>
void AppendEscapedRuns(std::string* out, absl::string_view text, const PlainBytes& plain, char a,
                       char b, Escape escape, Invalid invalid) {
  const char* data = text.data();
  const size_t n = text.size();
  size_t run = 0;  // start of the bytes not yet appended
  size_t i = 0;
  while (true) {
    i = SkipPrintableWords(data, i, n, a, b);
    while (i < n && plain[static_cast<unsigned char>(data[i])]) ++i;
    if (i == n) break;
    const unsigned char c = static_cast<unsigned char>(data[i]);
    if (c >= 0x80) {
      const int length = Utf8Sequence(text.substr(i));
      if (length > 0) {
        i += static_cast<size_t>(length);
        continue;
      }
      out->append(data + run, i - run);
      invalid(out, text.substr(i, static_cast<size_t>(-length)));
      i += static_cast<size_t>(-length);
    } else {
      out->append(data + run, i - run);
      escape(out, c);
      ++i;
    }
    run = i;
  }
  out->append(data + run, n - run);
}

// Plain bytes: printable ASCII (0x20..0x7e) but `except`, plus `also`.
constexpr PlainBytes MakePlainBytes(absl::string_view except, absl::string_view also = {}) {
  PlainBytes plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[c] = true;
  for (char c : except) plain[static_cast<unsigned char>(c)] = false;
  for (char c : also) plain[static_cast<unsigned char>(c)] = true;
  return plain;
}

// True when `bytes` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view bytes);

// "127.0.0.1:8080", "[::1]:8080".
void AppendEndpoint(std::string* out, const v1::Endpoint& endpoint);
std::string EndpointString(const v1::Endpoint& endpoint);

absl::Time ToTime(const google::protobuf::Timestamp& ts);
int64_t ToMicros(const google::protobuf::Duration& d);
// Microseconds from `from` to `to`; -1 when either is unset or `to` is earlier.
int64_t MicrosBetween(const google::protobuf::Timestamp& from,
                      const google::protobuf::Timestamp& to);

// Formats times to `format` (seconds resolution) in one zone, then appends the fraction. The
// zone's rules are looked up once per distinct second, not per event: a trace's events come in
// runs within the same second, and the lookup was the costliest part of a text line.
class SecondsFormatter {
 public:
  // `suffix_format` follows the fraction (" %Ez": the zone's offset, "+01:00").
  SecondsFormatter(std::string format, absl::TimeZone zone, std::string suffix_format = "")
      : format_(std::move(format)), suffix_format_(std::move(suffix_format)), zone_(zone) {}
  // Appends the time formatted to whole seconds, then "." and `fraction_digits` (3 or 6) digits,
  // then the suffix.
  void Append(std::string* out, const google::protobuf::Timestamp& ts, int fraction_digits);

 private:
  std::string format_;
  std::string suffix_format_;
  absl::TimeZone zone_;
  int64_t cached_second_ = INT64_MIN;
  std::string cached_;
  std::string cached_suffix_;
};

// ANSI colours for a terminal; every sequence is empty when colour is off, so renderers append
// them unconditionally.
struct Palette {
  static Palette For(bool color);
  // 2xx green, 3xx cyan, 4xx yellow, 5xx red; nothing for other codes.
  const char* Status(uint32_t code) const;
  const char *green = "", *cyan = "", *yellow = "", *red = "", *bold_red = "", *dim = "",
             *bold = "", *reset = "";
};

// What the renderers call slow (coloured) when RenderOptions sets no other threshold.
inline constexpr absl::Duration kDefaultSlow = absl::Seconds(1);

// "532 µs", "1.204 ms", "12.500 s".
void AppendDuration(std::string* out, int64_t us);

// "3 lost" or, when the kernel dropped bytes it could not attribute to exchanges,
// "3 lost, 40960 bytes lost in the kernel": exchanges that vanished whole are only known as bytes.
std::string LostSummary(const v1::SessionCounters& counters);
// "client", "server" or "unknown".
absl::string_view RoleName(v1::Role role);
// "kernel_buffer_full", "slow_reader", ... (the enum name without its prefix, lower case).
std::string LossReasonName(v1::LossReason reason);
// "stopped", "max_duration", ...
std::string EndReasonName(v1::EndReason reason);

}  // namespace httptrace::render
