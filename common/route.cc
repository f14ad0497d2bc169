#include "common/route.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace httptrace {
namespace {

bool IsUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !absl::ascii_isxdigit(s[i])) return false;
  }
  return true;
}

// A segment that names one object rather than a kind of them.
absl::string_view IdPlaceholder(absl::string_view segment) {
  if (segment.empty()) return {};
  if (std::all_of(segment.begin(), segment.end(), absl::ascii_isdigit)) return "{id}";
  if (IsUuid(segment)) return "{uuid}";
  // Long hex strings (hashes, object ids) with at least one digit: "a3f9c0e1d2b4".
  if (segment.size() >= 12 && std::all_of(segment.begin(), segment.end(), absl::ascii_isxdigit) &&
      std::any_of(segment.begin(), segment.end(), absl::ascii_isdigit)) {
    return "{hex}";
  }
  return {};
}

}  // namespace

std::string RouteOf(absl::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty() || target[0] != '/') return std::string(target.empty() ? "/" : target);
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(target.substr(1), '/')) {
    const absl::string_view id = IdPlaceholder(segment);
    segments.emplace_back(id.empty() ? segment : id);
  }
  return absl::StrCat("/", absl::StrJoin(segments, "/"));
}

}  // namespace httptrace
